"""``lecun89 predict`` and ``lecun89 models``: read a person's own digits.

The shipped models (``lecun89/models/<name>.npz`` beside ``<name>.json``) are
checkpoints trained by the shipped configs on the real USPS digits, made and
checked by ``scripts/ship_models.py``. Each carries the output gap under which
a digit is rejected: the paper's criterion, the threshold that leaves 1% error
on the test set. ``--model`` also takes any run's ``model.npz``; its threshold
comes from the run's ``outputs.npz`` when it is there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from lecun89.errors import UserError
from lecun89.metrics import output_gap

# Chosen by the held-out-writers benchmark on its tuning writers (docs/strangers.md):
# the shipped model with the lowest error on their clean scans.
DEFAULT_MODEL = "reader"
# The order `lecun89 models` lists them and the page offers them.
SHIPPED = ("lecun1989", "modern-usps", "reader")


def models_dir() -> Path:
    return Path(str(resources.files("lecun89") / "models"))


def shipped_models() -> dict[str, Path]:
    """name -> checkpoint path, for the shipped models present in this install."""
    d = models_dir()
    return {n: d / f"{n}.npz" for n in SHIPPED if (d / f"{n}.npz").is_file()}


@dataclass
class Model:
    """A network ready to read digits, with its rejection threshold."""

    name: str
    net: object
    threshold: float | None  # accept a digit when its output gap >= threshold
    info: dict = field(default_factory=dict)

    def describe(self) -> dict:
        r = self.info.get("results", {})
        return {"name": self.name, "description": self.info.get("description", ""),
                "threshold": self.threshold, "test_error": r.get("test_error"),
                "rejection_at_1pct": r.get("rejection_at_1pct"),
                "heldout": heldout_errors().get(self.name),
                "outputs": "logits" if self.net.config.output_activation == "none" else "scaled tanh",
                "layers": [lay.name for lay in self.net.param_layers]}


def heldout_errors() -> dict[str, dict[str, float]]:
    """Shipped model -> {style: error} on the held-out writers (MNIST's test
    digits, read deslanted), from ``models/heldout.json`` (made by
    ``scripts/heldout.py --group report --write-models``); {} without it."""
    p = models_dir() / "heldout.json"
    if not p.is_file():
        return {}
    models = json.loads(p.read_text())["models"]
    return {n: {style: v["deslanted"]["error"] for style, v in styles.items()} for n, styles in models.items()}


def load_model(spec: str | Path | None = None) -> Model:
    """A shipped model by name (default: the paper's), or a ``model.npz`` path."""
    from lecun89.model import load_checkpoint

    spec = str(spec) if spec is not None else DEFAULT_MODEL
    shipped = shipped_models()
    p = Path(spec)
    if spec in shipped and not p.is_file():
        info = json.loads(shipped[spec].with_suffix(".json").read_text())
        return Model(spec, load_checkpoint(shipped[spec]), info["reject_gap"], info)
    if p.is_dir() and (p / "model.npz").is_file():
        p = p / "model.npz"
    if not p.is_file():
        names = ", ".join(shipped) or "none in this install"
        raise UserError(f"--model {spec}: neither a shipped model ({names}) nor a model.npz file", status=2)
    net = load_checkpoint(p)
    return Model(str(p), net, _threshold_from_run(p), {"description": f"checkpoint {p}"})


def _threshold_from_run(model_path: Path) -> float | None:
    """The 1%-error gap threshold from the run's own test outputs, if saved beside it."""
    from lecun89 import rundir
    from lecun89.metrics import TARGET_ERROR, gap_threshold

    out = model_path.parent / rundir.OUTPUTS
    if not out.is_file():
        return None
    try:
        z = rundir.read_npz(out, ("test_outputs", "test_labels"))
        return gap_threshold(z["test_outputs"], z["test_labels"], TARGET_ERROR)
    except Exception:  # an unreadable outputs.npz only costs the rejection
        return None


def analyse(model: Model, x16: np.ndarray, maps: bool = True) -> dict:
    """The network's reading of one digit (16x16 in [-1, 1]): outputs, decision,
    top two and their gap, rejection, and (``maps``) every layer's units."""
    x = np.asarray(x16, dtype=np.float64).reshape(1, 1, 16, 16)
    acts = model.net.activations(x)
    out = acts[model.net.param_layers[-1].name][0]
    order = np.argsort(-out, kind="stable")
    d1, d2 = int(order[0]), int(order[1])
    gap = float(output_gap(out[None])[0])
    r = {
        "model": model.name,
        "digit": d1,
        "outputs": out.tolist(),
        "top2": [[d1, float(out[d1])], [d2, float(out[d2])]],
        "gap": gap,
        "threshold": model.threshold,
        "rejected": bool(model.threshold is not None and gap < model.threshold),
    }
    if maps:
        r["input"] = x[0, 0].tolist()
        r["layers"] = [{"name": k, "shape": list(v.shape[1:]), "values": v[0].tolist()} for k, v in acts.items()]
    return r


def analyse_row(model: Model, digits) -> dict:
    """The network's reading of a row (:func:`lecun89.rows.read_row`'s digits,
    left to right): the digits as a string, rejected when any digit is (as the
    paper's system rejected a zip code), and each digit's reading with its box."""
    per = [{**analyse(model, d.x16, maps=False), "box": list(d.box)} for d in digits]
    return {"model": model.name, "digits": "".join(str(r["digit"]) for r in per),
            "rejected": any(r["rejected"] for r in per), "per_digit": per}


def read_row_file(path: str, deslant: bool = True):
    """An image file of a row of digits -> (its digits, its gray levels); UserError
    naming the file for anything that is not a readable row."""
    from lecun89.digits_in import ink_map, read_gray
    from lecun89.rows import read_row

    if Path(path).suffix.lower() == ".npy":
        raise UserError(f"{path}: --row reads an image of a row of digits, not a 16x16 .npy")
    gray = read_gray(path)
    try:
        return read_row(ink_map(gray), deslant=deslant), gray
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def save_preprocessing(items: list[tuple[str, np.ndarray | None, np.ndarray, dict]], out: Path) -> None:
    """``predict --show``: each original beside the 16x16 input it became, as a PNG.
    ``items``: (file name, gray image or None for a .npy, x16 or a row's list of x16, the analysis)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lecun89.atomic import replacing

    fig = Figure(figsize=(4.4, 2.2 * len(items)))
    FigureCanvasAgg(fig)  # no pyplot: the process's matplotlib backend is left alone
    axes = fig.subplots(len(items), 2, squeeze=False)
    for row, (path, gray, x16, r) in zip(axes, items):
        if gray is not None:
            row[0].imshow(gray, cmap="gray", vmin=0.0, vmax=1.0)
        else:
            row[0].text(0.5, 0.5, ".npy\n(used as is)", ha="center", va="center")
        row[0].set_title(Path(path).name, fontsize=8)
        if "per_digit" in r:  # a row: its digits' 16x16 inputs side by side
            x16 = np.concatenate([np.pad(x, ((0, 0), (0, 1)), constant_values=-1.0) for x in x16], axis=1)
            label = f"{r['digits']}{' (rejected)' if r['rejected'] else ''}"
        else:
            label = f"{r['digit']}{' (rejected)' if r['rejected'] else ''}"
        row[1].imshow(x16, cmap="gray_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
        row[1].set_title(f"16x16: {label}", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    with replacing(out) as fh:
        fig.savefig(fh, dpi=100, format="png")
