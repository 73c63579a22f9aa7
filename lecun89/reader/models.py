"""The shipped models (``lecun89/models/<name>.npz`` beside ``<name>.json``) and
any run's checkpoint, ready to read digits.

The shipped models are checkpoints trained by the shipped configs with seed 0,
made and checked by ``scripts/ship_models.py``: ``lecun1989`` and
``modern-usps`` on the USPS digits, ``reader`` (the default) on USPS and
MNIST's training digits. Each carries the output gap under which a digit is
rejected: the paper's criterion, the threshold that leaves 1% error on the
USPS test set. ``--model`` also takes any run's directory or ``model.npz``: its
config comes from the run's ``config.toml`` and its threshold from the run's
``outputs.npz``, when they are there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from lecun89.errors import UserError

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
    # a picture whose digit score (lecun89.reader.network.digit_score) is under it
    # is not a digit; None: every picture is read as a digit (a model trained without junk)
    none_threshold: float | None = None

    def describe(self) -> dict:
        r = self.info.get("results", {})
        return {"name": self.name, "description": self.info.get("description", ""),
                "threshold": self.threshold, "none_threshold": self.none_threshold,
                "test_error": r.get("test_error"),
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
    """A shipped model by name (default: :data:`DEFAULT_MODEL`), or a run's
    directory or ``model.npz``: then its config (the cost and optimizer it was
    trained with, which the page's backward view and learning step use) comes
    from the run's ``config.toml`` and its threshold from the run's
    ``outputs.npz``, when they are beside it."""
    from lecun89.model import load_checkpoint

    spec = str(spec) if spec is not None else DEFAULT_MODEL
    shipped = shipped_models()
    p = Path(spec)
    if spec in shipped and not p.is_file():
        info = json.loads(shipped[spec].with_suffix(".json").read_text())
        return Model(spec, load_checkpoint(shipped[spec]), info["reject_gap"], info, info.get("none_threshold"))
    if p.is_dir() and (p / "model.npz").is_file():
        p = p / "model.npz"
    if not p.is_file():
        names = ", ".join(shipped) or "none in this install"
        raise UserError(f"--model {spec}: neither a shipped model ({names}) nor a model.npz file", status=2)
    net = load_checkpoint(p)
    info = {"description": f"checkpoint {p}"}
    config = _config_from_run(p)
    if config is not None:
        from lecun89.config import to_dict

        if config["model"] != to_dict(net.config):
            raise UserError(f"--model {spec}: the config.toml beside {p.name} describes another network than "
                            "the checkpoint's; it is not this model's run directory", status=2)
        info["config"] = config
    return Model(str(p), net, _threshold_from_run(p), info)


def _config_from_run(model_path: Path) -> dict | None:
    """The run's config (as a dict, like a shipped model's) from the
    ``config.toml`` beside its ``model.npz``; None without one. A config.toml
    that does not read, or whose model section is not the checkpoint's, is an
    error: reading with the wrong cost would be silently wrong."""
    from lecun89 import rundir
    from lecun89.config import to_dict

    path = model_path.parent / rundir.CONFIG
    if not path.is_file():
        return None
    return to_dict(rundir.read_config(path))


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
    except (UserError, ValueError):  # an unreadable outputs.npz (or unusable outputs) only costs the rejection
        return None
