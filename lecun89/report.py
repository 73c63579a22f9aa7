"""``lecun89 report``: a Markdown report of a finished run, next to the paper's figures.

:func:`report_run` reads a run directory (written by ``lecun89 train``) and
writes, into the run directory or ``out_dir``:

- ``report.md``: headline numbers beside the paper's (and, for the 2022
  replication's configs, that replication's), a one-line comparison, the
  architecture table, learning curves, confusion matrix, rejection curve,
  misclassified test digits, learned kernels and provenance;
- ``report.json``: every number ``report.md`` shows;
- ``report-*.png``: the figures ``report.md`` links.

Nothing is retrained: everything comes from the run directory, except the
digit images of the misclassified-digit grid, which need the data set (the
grid is skipped with a note when it cannot be loaded or its test labels differ
from the run's). The reference figures live in ``lecun89/references.json``,
each with its source. Output is deterministic: the same run directory gives
byte-identical ``report.md``/``report.json`` (and PNGs, which carry no date or
software metadata). Only the files named above are written or replaced.

A sweep's summary (``summary.md``, ``summary.json``, ``summary-test-error.png``)
is written by :mod:`lecun89.sweep_report`; ``lecun89 report SWEEP_DIR`` writes both.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np

from lecun89 import __version__, metrics
from lecun89.errors import UserError

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
FIG_CURVES = "report-curves.png"
FIG_CONFUSION = "report-confusion.png"
FIG_REJECTION = "report-rejection.png"
FIG_MISSES = "report-misclassified.png"
FIG_KERNELS = "report-kernels-{layer}.png"
# Every file name a report may write; a name it does not write this time
# (e.g. the digit grid, now skipped) is removed so no stale figure remains.
OWN_FILES = (REPORT_MD, REPORT_JSON, FIG_CURVES, FIG_CONFUSION, FIG_REJECTION, FIG_MISSES,
             FIG_KERNELS.format(layer="H1"), FIG_KERNELS.format(layer="H2"))

TARGET_ERROR = 0.01          # the paper's rejection criterion: 1% error on the accepted digits
MAX_GRID = 120               # misclassified digits shown at most
DPI = 100
PNG_METADATA = {"Software": None}   # no matplotlib version in the PNG: identical bytes across versions

RESULT_KEYS = ("config_name", "dataset", "passes", "train_error", "test_error", "train_misses", "test_misses",
               "train_size", "test_size")
METRIC_KEYS = ("train_loss", "train_error", "test_loss", "test_error", "train_mse", "test_mse", "lr", "seconds")
HEADLINE_KEYS = ("train_error", "test_error", "train_misses", "test_misses", "train_size", "test_size",
                 "train_mse", "test_mse", "rejection_at_1pct")


# --- reference figures ----------------------------------------------------------

def load_references() -> dict:
    """The parsed ``lecun89/references.json``."""
    text = resources.files("lecun89").joinpath("references.json").read_text(encoding="utf-8")
    return json.loads(text)


def references_for(config_name: str | None, arch: str | None, refs: dict | None = None) -> list[dict]:
    """The reference entries a run is compared with, primary first, each with its ``id``."""
    refs = refs or load_references()
    ids = refs["configs"].get(config_name or "")
    if ids is None:
        ids = refs["arch_default"].get(arch or "", refs["arch_default"]["net1989"])
    return [dict(refs["references"][i], id=i) for i in ids]


# --- reading a run directory ----------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_metrics(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "pass" not in row:
            raise UserError(f"{path}: line {n} is not a per-pass record (no 'pass' key)")
        rows.append(row)
    return rows


def _read_npz(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # BadZipFile, ValueError (pickled objects), OSError, EOFError
        raise UserError(f"{path}: cannot read as .npz of named arrays: {type(exc).__name__}: {exc}") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise UserError(f"{path}: missing array(s) {', '.join(missing)}")
    return arrays


def read_run(run_dir) -> dict:
    """Everything a report needs from a run directory; missing optional files
    give ``None`` (and a note); present but unreadable files raise UserError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory (expected a run directory written by 'lecun89 train')")
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise UserError(f"{results_path}: not found; {run_dir} is not a finished run directory "
                        f"(finish an interrupted run with 'lecun89 train --resume {run_dir}')")
    results = _read_json(results_path)
    missing = [k for k in RESULT_KEYS if k not in results]
    if missing:
        raise UserError(f"{results_path}: missing key(s) {', '.join(missing)}; not a lecun89 results file")
    bad = [k for k in RESULT_KEYS[2:] if isinstance(results[k], bool) or not isinstance(results[k], (int, float))]
    if bad:
        raise UserError(f"{results_path}: {', '.join(bad)} must be numbers")
    run = {"dir": run_dir, "results": results, "notes": [], "config": None, "metrics": None,
           "outputs": None, "model": None, "meta": None}
    notes = run["notes"]

    cfg_path = run_dir / "config.toml"
    if cfg_path.is_file():
        try:
            run["config"] = tomllib.loads(_read_text(cfg_path))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{cfg_path}: not valid TOML ({exc})") from None
    else:
        notes.append("config.toml is missing: the data set is taken from results.json with its default subset.")

    m_path = run_dir / "metrics.jsonl"
    if m_path.is_file():
        run["metrics"] = _read_metrics(m_path)
    else:
        notes.append("metrics.jsonl is missing: no learning curves.")

    o_path = run_dir / "outputs.npz"
    if o_path.is_file():
        out = _read_npz(o_path, ("test_outputs", "test_labels"))
        y, lab = out["test_outputs"], out["test_labels"]
        if y.ndim != 2 or lab.ndim != 1 or len(y) != len(lab) or y.shape[1] < 2:
            raise UserError(f"{o_path}: test_outputs {y.shape} and test_labels {lab.shape} do not match "
                            "(expected (N, 10) and (N,))")
        if lab.dtype.kind not in "iu" or (len(lab) and (lab.min() < 0 or lab.max() >= y.shape[1])):
            raise UserError(f"{o_path}: test_labels must be integers 0-{y.shape[1] - 1}")
        run["outputs"] = {"test_outputs": np.asarray(y, dtype=np.float64), "test_labels": lab.astype(np.int64)}
    else:
        notes.append("outputs.npz is missing: no confusion matrix, rejection curve or misclassified digits; "
                     "the rejection figure is results.json's.")

    model_path = run_dir / "model.npz"
    if model_path.is_file():
        run["model"] = _read_npz(model_path)
    else:
        notes.append("model.npz is missing: no kernel images.")

    meta_path = run_dir / "meta.json"
    if meta_path.is_file():
        run["meta"] = _read_json(meta_path)
    else:
        notes.append("meta.json is missing: provenance is partial.")
    return run


# --- formatting -----------------------------------------------------------------

def _f(x) -> float | None:
    """A JSON-safe float (None for missing or NaN)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def _pct(x, digits: int = 2) -> str:
    return "—" if x is None or x != x else f"{100 * x:.{digits}f}%"


def _int(n) -> str:
    return "—" if n is None else f"{int(n):,}"


def _sci(x) -> str:
    return "—" if x is None else f"{x:.2e}"


def _points(diff: float) -> str:
    pts = 100 * diff
    if abs(pts) < 0.005:
        return "equal to two decimals"
    return f"{abs(pts):.2f} points {'lower' if pts < 0 else 'higher'}"


def _error_cell(err, misses, size) -> str:
    if err is None:
        return "—"
    if misses is not None and size is not None:
        return f"{_pct(err)} ({_int(misses)} of {_int(size)})"
    return _pct(err)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _f(obj)
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def _dump_json(obj) -> str:
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None


# --- matplotlib -----------------------------------------------------------------

@contextmanager
def _mpl():
    """matplotlib's default style (the user's matplotlibrc cannot change the
    figures), bigger fonts; yields the Figure class. Figures are drawn with the
    Agg canvas directly: no pyplot, no GUI backend, no global state."""
    import matplotlib
    import matplotlib.style

    rc = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
          "xtick.labelsize": 11, "ytick.labelsize": 11, "figure.titlesize": 14, "axes.grid": True,
          "grid.alpha": 0.3, "svg.hashsalt": "lecun89"}
    with matplotlib.style.context("default"), matplotlib.rc_context(rc):
        from matplotlib.figure import Figure

        yield Figure


def _save(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    try:
        fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def fig_curves(path: Path, curves: dict, refs: list[dict], loss_name: str, title: str) -> None:
    p = np.asarray(curves["pass"])
    arr = {k: np.array([np.nan if v is None else v for v in curves[k]], dtype=float) for k in METRIC_KEYS}
    marker = "o" if len(p) <= 40 else None
    with _mpl() as Figure:
        fig = Figure(figsize=(12, 4.6), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(p, 100 * arr["train_error"], marker=marker, ms=4, label="train")
        ax1.plot(p, 100 * arr["test_error"], marker=marker, ms=4, label="test")
        for i, ref in enumerate(refs):
            figs = ref["figures"]
            if "test_error" in figs:
                ax1.axhline(100 * figs["test_error"], ls="--", lw=1.2, color=f"C{i + 2}",
                            label=f"test, {ref['short']}: {_pct(figs['test_error'])}")
            if "train_error" in figs:
                ax1.axhline(100 * figs["train_error"], ls=":", lw=1.2, color=f"C{i + 2}",
                            label=f"train, {ref['short']}: {_pct(figs['train_error'])}")
        ax1.set_xlabel("pass over the training set")
        ax1.set_ylabel("error (%)")
        ax1.set_title("Error rate per pass")
        ax1.set_ylim(bottom=0)
        ax1.legend()
        _integer_ticks(ax1)
        ax2.plot(p, arr["train_loss"], marker=marker, ms=4, label="train")
        ax2.plot(p, arr["test_loss"], marker=marker, ms=4, label="test")
        if loss_name == "MSE":
            for i, ref in enumerate(refs):
                figs = ref["figures"]
                for split, ls in (("test", "--"), ("train", ":")):
                    if f"{split}_mse" in figs:
                        ax2.axhline(figs[f"{split}_mse"], ls=ls, lw=1.2, color=f"C{i + 2}",
                                    label=f"{split}, {ref['short']}: {_sci(figs[split + '_mse'])}")
        vals = np.concatenate([arr["train_loss"], arr["test_loss"]])
        vals = vals[np.isfinite(vals)]
        if len(vals) and (vals > 0).all():
            ax2.set_yscale("log")
        ax2.set_xlabel("pass over the training set")
        ax2.set_ylabel(f"loss ({loss_name})")
        ax2.set_title(f"Training loss per pass ({loss_name})")
        ax2.legend()
        _integer_ticks(ax2)
        fig.suptitle(title)
        _save(fig, path)


def fig_confusion(path: Path, cm: np.ndarray, title: str) -> None:
    n = cm.shape[0]
    off = cm.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    vmax = max(1.0, float(np.nanmax(off)) if n > 1 else 1.0)
    off[off == 0] = np.nan  # no error: white
    with _mpl() as Figure:
        fig = Figure(figsize=(7.5, 6.8), layout="constrained")
        ax = fig.subplots()
        ax.grid(False)
        from matplotlib.patches import Rectangle

        im = ax.imshow(off, cmap="Reds", vmin=0, vmax=vmax)
        for t in range(n):  # the diagonal (correct digits) in grey
            ax.add_patch(Rectangle((t - 0.5, t - 0.5), 1, 1, color="#e4e4e4", zorder=0.5))
        for t in range(n):
            for q in range(n):
                v = int(cm[t, q])
                if t == q:
                    ax.text(q, t, str(v), ha="center", va="center", fontsize=10, color="#1f4e99", weight="bold")
                elif v:
                    ax.text(q, t, str(v), ha="center", va="center", fontsize=11,
                            color="white" if v > 0.6 * vmax else "black")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xlabel("predicted digit (most active output)")
        ax.set_ylabel("true digit")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8, label="misclassified digits (off the diagonal)")
        _save(fig, path)


def fig_rejection(path: Path, rejected: np.ndarray, err: np.ndarray, run_rej: float, run_err_at: float | None,
                  refs: list[dict], title: str) -> None:
    ref_pts = [(ref, ref["figures"]["rejection_at_1pct"]) for ref in refs if "rejection_at_1pct" in ref["figures"]]
    xmax = max([0.3, 1.6 * run_rej] + [1.6 * r for _, r in ref_pts])
    xmax = min(1.0, xmax)
    with _mpl() as Figure:
        fig = Figure(figsize=(8.5, 5.5), layout="constrained")
        ax = fig.subplots()
        ax.plot(100 * rejected, 100 * err, lw=2, label="this run (test set)")
        ax.axhline(100 * TARGET_ERROR, color="grey", ls="--", lw=1.2, label=f"{_pct(TARGET_ERROR, 0)} error")
        if run_err_at is not None and run_rej < 1.0:
            ax.plot([100 * run_rej], [100 * run_err_at], "o", ms=10, color="C0", zorder=5,
                    label=f"this run: {_pct(run_rej, 1)} rejected")
            ax.annotate(f"{_pct(run_rej, 1)}", (100 * run_rej, 100 * run_err_at), textcoords="offset points",
                        xytext=(8, 10), fontsize=12, color="C0", weight="bold")
        for i, (ref, r) in enumerate(ref_pts):
            ax.plot([100 * r], [100 * TARGET_ERROR], marker="D", ms=9, ls="none", color=f"C{i + 2}",
                    label=f"{ref['short']}: {_pct(r, 1)} rejected")
        ax.set_xlim(0, 100 * xmax)
        ytop = max(1.5 * 100 * TARGET_ERROR, 1.08 * 100 * float(err[0]) if len(err) else 0)
        ax.set_ylim(0, ytop)
        ax.set_xlabel("test digits rejected (%), smallest gap between the two top outputs first")
        ax.set_ylabel("error on the accepted digits (%)")
        ax.set_title(title)
        ax.legend()
        _save(fig, path)


def _tile_axes(Figure, data_w: float, data_h: float, scale: float, left: float = 0.2, right: float = 0.2,
               top: float = 0.8, bottom: float = 0.1):
    """A figure with one frameless axes of ``data_w x data_h`` data units at ``scale``
    inches per unit; y grows downwards (image rows). Drawing many small images on
    one axes is much faster than one axes per image."""
    w_in, h_in = data_w * scale, data_h * scale
    fig_w, fig_h = w_in + left + right, h_in + top + bottom
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes([left / fig_w, bottom / fig_h, w_in / fig_w, h_in / fig_h])
    ax.set_xlim(0, data_w)
    ax.set_ylim(data_h, 0)
    ax.set_axis_off()
    return fig, ax, fig_w, fig_h


def fig_misclassified(path: Path, images: np.ndarray, true: np.ndarray, pred: np.ndarray, gap: np.ndarray,
                      title: str) -> None:
    k = len(images)
    ncols = min(12, k)
    nrows = math.ceil(k / ncols)
    px, gx, gy = 16, 2.5, 9.0          # digit size, horizontal gap, room for the two-line title (data units)
    with _mpl() as Figure:
        fig, ax, _, fig_h = _tile_axes(Figure, ncols * (px + gx), nrows * (px + gy), 1.1 / (px + gx),
                                       left=0.15, right=0.15, top=0.55, bottom=0.1)
        for j in range(k):
            r, c = divmod(j, ncols)
            x0, y0 = c * (px + gx) + gx / 2, r * (px + gy) + gy
            ax.imshow(images[j].reshape(16, 16), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest",
                      extent=(x0, x0 + px, y0 + px, y0))
            ax.text(x0 + px / 2, y0 - 0.6, f"{true[j]}→{pred[j]}\ngap {gap[j]:.2f}", ha="center", va="bottom",
                    fontsize=11, linespacing=1.1)
        ax.set_xlim(0, ncols * (px + gx))
        ax.set_ylim(nrows * (px + gy), 0)
        fig.suptitle(title, y=1 - 0.1 / fig_h, va="top")
        _save(fig, path)


def fig_kernels(path: Path, w: np.ndarray, layer: str, source: str, table: np.ndarray | None, title: str) -> None:
    """Kernels ``w (O, I, k, k)``: one row of O images when I == 1, else O rows x I columns,
    each titled with the ``source`` map it reads (``table[o, i]``)."""
    o_n, i_n, kh, kw = w.shape
    m = float(np.abs(w).max()) or 1.0
    if i_n == 1:
        ncols = min(12, o_n)
        nrows = math.ceil(o_n / ncols)
        cells = [(o, 0, divmod(o, ncols)) for o in range(o_n)]
    else:
        ncols, nrows = i_n, o_n
        cells = [(o, i, (o, i)) for o in range(o_n) for i in range(i_n)]
    gx, gy = 0.25 * kw, 0.45 * kh       # gaps between kernels; gy leaves room for each title
    left = 0.85 if i_n > 1 else 0.15
    with _mpl() as Figure:
        data_w, data_h = ncols * (kw + gx), nrows * (kh + gy) + 0.1 * kh
        fig, ax, fig_w, fig_h = _tile_axes(Figure, data_w, data_h, 0.85 / kw,
                                           left=left, right=1.2, top=0.6, bottom=0.1)
        im = None
        for o, i, (r, c) in cells:
            x0, y0 = c * (kw + gx) + gx / 2, r * (kh + gy) + gy
            im = ax.imshow(w[o, i], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest",
                           extent=(x0, x0 + kw, y0 + kh, y0))
            ax.add_patch(_rect(x0, y0, kw, kh))
            if i_n == 1:
                label, size = f"map {o}", 11
            else:
                label, size = f"{source} {int(table[o, i]) if table is not None else i}", 9
            ax.text(x0 + kw / 2, y0 - 0.1 * kh, label, ha="center", va="bottom", fontsize=size)
            if i_n > 1 and i == 0:
                ax.text(x0 - 0.15 * kw, y0 + kh / 2, f"{layer} {o}", ha="right", va="center", fontsize=11)
        ax.set_xlim(0, data_w)
        ax.set_ylim(data_h, 0)
        pos = ax.get_position()
        cax = fig.add_axes([1 - 0.95 / fig_w, pos.y0 + 0.1 * pos.height, 0.15 / fig_w, 0.8 * pos.height])
        fig.colorbar(im, cax=cax, label="weight")
        fig.suptitle(title, y=1 - 0.1 / fig_h, va="top")
        _save(fig, path)


def _rect(x0, y0, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle((x0, y0), w, h, fill=False, lw=0.8, ec="black")


# --- the run report -------------------------------------------------------------

def _load_test_images(results: dict, config: dict | None, labels: np.ndarray, data_dir, data=None):
    """``(x_test, None)`` or ``(None, note)`` explaining why the digit grid is skipped;
    ``data``: the run's already loaded data set (a sweep's worker has no data files)."""
    data_cfg = (config or {}).get("data", {}) if isinstance(config, dict) else {}
    name = data_cfg.get("name", results.get("dataset"))
    subset = data_cfg.get("subset", "paper")
    subset_seed = data_cfg.get("subset_seed", 0)
    how = "re-run 'lecun89 report' with --data-dir pointing at the data to get it"
    try:
        from lecun89.data import load_dataset
    except Exception as exc:  # module not there yet, or broken
        return None, f"The digit grid is skipped: the data module is unavailable ({_one_line(exc)})."
    try:
        ds = data if data is not None else load_dataset(name, data_dir, subset=subset, subset_seed=subset_seed)
    except Exception as exc:  # UserError (files absent or bad) or anything else: never fail the report
        return None, f"The digit grid is skipped: the {name} data could not be loaded ({_one_line(exc)}); {how}."
    y = np.asarray(ds.y_test)
    if y.shape != labels.shape or not np.array_equal(y, labels):
        return None, (f"The digit grid is skipped: the test labels of the loaded {name} data "
                      f"({len(y):,} digits) differ from outputs.npz's ({len(labels):,}); "
                      "the images would not be the run's digits.")
    want = results.get("data_checksum")
    have = (getattr(ds, "meta", None) or {}).get("checksum")
    if want and have and want != have:
        return None, (f"The digit grid is skipped: the loaded {name} data has checksum {have[:12]}..., "
                      f"the run's is {want[:12]}... (different preprocessing or files).")
    x = np.asarray(ds.x_test)
    if x.shape[0] != len(labels) or x[0].size != 256:
        return None, f"The digit grid is skipped: the {name} test images have shape {x.shape}, expected (N, 1, 16, 16)."
    return x, None


def _conv_layers(model: dict, arch_rows: list[dict]) -> list[str]:
    """Names of the layers with 4-D (convolution) weights, in network order."""
    order = [r.get("layer") for r in arch_rows]
    names = [k[:-len(".weight")] for k, v in model.items() if k.endswith(".weight") and v.ndim == 4]
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _headline_table(results: dict, rej: float, refs: list[dict]) -> list[str]:
    head = "| | this run | " + " | ".join(r["label"] for r in refs) + " |"
    lines = [head, "|---|" + "---:|" * (1 + len(refs))]

    def row(label, run_cell, ref_cell):
        lines.append(f"| {label} | {run_cell} | " + " | ".join(ref_cell(r["figures"]) for r in refs) + " |")

    for split in ("train", "test"):
        row(f"{split} error (misses)",
            _error_cell(results.get(f"{split}_error"), results.get(f"{split}_misses"), results.get(f"{split}_size")),
            lambda f, s=split: _error_cell(f.get(f"{s}_error"), f.get(f"{s}_misses"), f.get(f"{s}_size")))
    for split in ("train", "test"):
        row(f"{split} MSE (per output unit, ±1 targets)", _sci(_f(results.get(f"{split}_mse"))),
            lambda f, s=split: _sci(f.get(f"{s}_mse")))
    # The paper prints one MSE and does not say how it is normalised; SN2.8, the
    # simulator it was trained in, prints half the per-output MSE. Both beside it.
    for split in ("train", "test"):
        mse = _f(results.get(f"{split}_mse"))
        row(f"{split} half-MSE (SN2.8's printed error: MSE / 2)", _sci(None if mse is None else mse / 2),
            lambda f, s=split: _sci(f.get(f"{s}_mse")))
    row(f"rejected for {_pct(TARGET_ERROR, 0)} test error", _pct(rej, 1),
        lambda f: _pct(f.get("rejection_at_1pct"), 1))
    return lines


def _verdict(results: dict, rej: float, refs: list[dict]) -> str:
    te = results["test_error"]
    dataset = results.get("dataset")
    parts = []
    for k, ref in enumerate(refs):
        figs = ref["figures"]
        if "test_error" not in figs:
            continue
        rv = figs["test_error"]
        if k == 0:
            s = f"Test error {_pct(te)} vs {_pct(rv)} in {ref['short']} ({_points(te - rv)}"
            band = ref.get("test_error_band")
            if band:
                lo, hi = band
                where = "inside" if lo - 1e-12 <= te <= hi + 1e-12 else ("below" if te < lo else "above")
                s += f", {where} the {_pct(lo, 1)}–{_pct(hi, 1)} comparison band"
            s += ")"
        else:
            s = f"vs {_pct(rv)} in {ref['short']}: {_points(te - rv)}"
        if ref.get("dataset") and dataset and ref["dataset"] != dataset:
            s += f" [reference on {ref['dataset']}, this run on {dataset}]"
        if k == 0 and "rejection_at_1pct" in figs:
            s += f"; rejected for 1% error: {_pct(rej, 1)} vs {_pct(figs['rejection_at_1pct'], 1)}"
        parts.append(s)
    if not parts:
        return f"Test error {_pct(te)}; no reference test error to compare with."
    return "; ".join(parts) + "."


def _arch_lines(arch: list[dict], refs: list[dict]) -> list[str]:
    lines = ["| layer | maps x size | units | connections | free parameters |", "|---|---|---:|---:|---:|"]
    for r in arch:
        conns = f"{r['connections']:,}" if r.get("connections") else ""
        params = f"{r['params']:,}" if r.get("params") else ""
        lines.append(f"| {r.get('layer', '')} | {r.get('shape', '')} | {r.get('units', 0):,} | {conns} | {params} |")
    tot = {k: sum(int(r.get(k) or 0) for r in arch) for k in ("units", "connections", "params")}
    lines.append(f"| **total** | | **{tot['units']:,}** | **{tot['connections']:,}** | **{tot['params']:,}** |")
    for ref in refs[:1]:
        figs = ref["figures"]
        have = [(k, w) for k, w in (("units", "units"), ("connections", "connections"), ("params", "free parameters"))
                if k in figs]
        if have:
            same = all(tot[k] == figs[k] for k, _ in have)
            desc = ", ".join(f"{figs[k]:,} {w}" for k, w in have)
            lines += ["", f"{ref['label']}: {desc} ({'the same totals' if same else 'different totals'})."]
    return lines


def _config_line(config: dict | None, results: dict) -> str:
    c = config or {}
    m, t, d = c.get("model", {}), c.get("train", {}), c.get("data", {})
    bits = []
    if m:
        bits.append(f"{m.get('arch', '?')} ({m.get('activation', '?')} units)")
    ds = d.get("name", results.get("dataset"))
    sub = f", subset {d.get('subset')} seed {d.get('subset_seed')}" if ds == "mnist16" and d else ""
    bits.append(f"{ds}{sub}: {_int(results.get('train_size'))} train / {_int(results.get('test_size'))} test digits")
    if t:
        bits.append(f"{t.get('optimizer', '?')}, {t.get('loss', '?')} loss, batch {t.get('batch_size', '?')}, "
                    f"{t.get('passes', results.get('passes'))} passes")
    return " · ".join(bits)


def _provenance(results: dict, meta: dict | None) -> dict:
    meta = meta or {}
    threads = meta.get("threads")
    blas = None
    if isinstance(threads, list):
        blas = ", ".join(f"{t.get('internal_api')} {t.get('version')} ({t.get('num_threads')} thread(s))"
                         for t in threads if isinstance(t, dict)) or None
    return {
        "config_name": results.get("config_name"),
        "config_hash": results.get("config_hash") or meta.get("config_hash"),
        "dataset": results.get("dataset"),
        "data_checksum": results.get("data_checksum") or meta.get("data_checksum"),
        "seed": results.get("seed", meta.get("seed")),
        "passes": results.get("passes"),
        "training_seconds": _f(results.get("seconds")),
        "versions": meta.get("versions"),
        "git_commit": meta.get("git_commit"),
        "start": meta.get("start"),
        "end": meta.get("end"),
        "blas": blas,
        "report_version": __version__,
    }


def _provenance_lines(p: dict) -> list[str]:
    lines = ["| | |", "|---|---|"]
    rows = [("config", f"`{p['config_name']}`"), ("config hash", f"`{p['config_hash']}`" if p["config_hash"] else "—"),
            ("data set", p["dataset"]), ("data checksum (sha256)", f"`{p['data_checksum']}`" if p["data_checksum"] else "—"),
            ("seed", p["seed"]), ("passes", p["passes"]),
            ("training time", "—" if p["training_seconds"] is None else f"{p['training_seconds']:.1f} s")]
    if isinstance(p["versions"], dict):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in p["versions"].items())))
    rows += [("git commit", f"`{p['git_commit']}`" if p["git_commit"] else "—"),
             ("run started / ended", f"{p['start'] or '—'} / {p['end'] or '—'}"),
             ("BLAS", p["blas"] or "—"), ("report written by", f"lecun89 {p['report_version']}")]
    lines += [f"| {k} | {'—' if v is None else v} |" for k, v in rows]
    return lines


def report_run(run_dir, out_dir=None, data_dir=None, data=None) -> Path:
    """Write report.md, report.json and the report-*.png figures of a run; returns report.md's path.
    ``data``: the run's data set, already loaded (else it is loaded from ``data_dir`` for the digit grid)."""
    run = read_run(run_dir)
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from None
    results, config, notes = run["results"], run["config"], list(run["notes"])
    arch_name = ((config or {}).get("model") or {}).get("arch")
    if arch_name is None:
        arch_name = "fc" if any(r.get("layer") == "H1" and "x" not in str(r.get("shape", ""))
                                for r in results.get("architecture", [])) else "net1989"
    refs = references_for(results["config_name"], arch_name)
    name, seed = results["config_name"], results.get("seed")
    who = f"{name}, seed {seed}" if seed is not None else name
    written: list[str] = []
    md: list[str] = []
    rep: dict = {"report_version": __version__, "run": {"config_name": name, "seed": seed,
                 "dataset": results.get("dataset"), "arch": arch_name, "passes": results.get("passes")}}

    # headline numbers (results.json; the rejection figure recomputed from outputs.npz)
    outputs = run["outputs"]
    rej_results = _f(results.get("rejection_at_1pct"))
    rejection: dict = {"target_error": TARGET_ERROR, "results_json": rej_results}
    if outputs is not None:
        y, lab = outputs["test_outputs"], outputs["test_labels"]
        rej_curve, err_curve = metrics.rejection_curve(y, lab)
        rej = metrics.rejection_at(y, lab, TARGET_ERROR)
        ok = np.flatnonzero(np.isclose(rej_curve, rej, rtol=0, atol=1e-12))
        err_at = float(err_curve[ok[0]]) if rej < 1.0 and len(ok) else None
        rejection.update({"rejected_fraction": rej, "error_at_threshold": err_at, "source": "outputs.npz",
                          "curve": {"rejected_fraction": rej_curve, "error_among_accepted": err_curve}})
        if rej_results is not None and abs(rej_results - rej) > 1e-9:
            notes.append(f"results.json gives {_pct(rej_results, 2)} rejected for 1% error, the outputs in "
                         f"outputs.npz give {_pct(rej, 2)}; the report shows the latter.")
        if metrics.misses(y, lab) != results["test_misses"]:
            notes.append(f"outputs.npz has {metrics.misses(y, lab)} test misses, results.json "
                         f"{results['test_misses']}: the files are from different evaluations.")
    else:
        rej = rej_results
        rejection.update({"rejected_fraction": rej, "error_at_threshold": None, "source": "results.json",
                          "curve": None})
    headline = {k: _jsonable(results.get(k)) for k in HEADLINE_KEYS}
    headline["rejection_at_1pct"] = rej
    verdict = _verdict(results, rej if rej is not None else float("nan"), refs)
    rep.update({"headline": headline, "verdict": verdict,
                "references": [{"id": r["id"], "label": r["label"], "source": r["source"],
                                "dataset": r.get("dataset"), "figures": r["figures"],
                                "test_error_band": r.get("test_error_band"), "band_source": r.get("band_source")}
                               for r in refs]})

    md += [f"# Run report: {who}", "", _config_line(config, results), "", f"**{verdict}**", "",
           "## Headline figures", ""]
    md += _headline_table(results, rej, refs)
    md += ["", "Sources:"]
    for r in refs:
        band = ""
        if r.get("test_error_band"):
            band = f" Comparison band {_pct(r['test_error_band'][0], 1)}–{_pct(r['test_error_band'][1], 1)}: {r['band_source']}."
        md.append(f"- {r['label']}: {r['source']}.{band}")
    md += ["- This run: results.json (errors, misses, MSE); the rejection figure is recomputed from outputs.npz "
           "(rejecting the digits with the smallest gap between the two most active outputs, thresholds set "
           "on the test set, as the paper did).", ""]

    # architecture
    arch = results.get("architecture") or []
    rep["architecture"] = {"layers": arch, "totals": {k: results.get(k) for k in ("units", "connections", "params")}}
    md += ["## Architecture", ""]
    md += _arch_lines(arch, refs) if arch else ["results.json has no architecture table."]
    md.append("")

    # learning curves
    md += ["## Learning curves", ""]
    rows = run["metrics"]
    loss_kind = ((config or {}).get("train") or {}).get("loss", "mse")
    loss_name = {"mse": "MSE", "ce": "cross-entropy"}.get(loss_kind, loss_kind)
    if rows:
        curves = {"pass": [int(r["pass"]) for r in rows]}
        for k in METRIC_KEYS:
            curves[k] = [_f(r.get(k)) for r in rows]
        rep["curves"] = curves
        fig_curves(out / FIG_CURVES, curves, refs, loss_name, f"{who}: learning curves")
        written.append(FIG_CURVES)
        last = rows[-1]
        md += [f"![Learning curves: error and loss per pass]({FIG_CURVES})", "",
               f"After pass {last['pass']}: train error {_pct(_f(last.get('train_error')))}, test error "
               f"{_pct(_f(last.get('test_error')))}, train loss ({loss_name}) {_sci(_f(last.get('train_loss')))}, "
               f"test loss {_sci(_f(last.get('test_loss')))}. Per-pass numbers: report.json, `curves`.", ""]
    else:
        rep["curves"] = None
        md += ["No per-pass metrics (metrics.jsonl missing or empty).", ""]

    # confusion matrix and rejection
    if outputs is not None:
        y, lab = outputs["test_outputs"], outputs["test_labels"]
        n_cls = y.shape[1]
        cm = metrics.confusion_matrix(y, lab, n_cls)
        errs = int(cm.sum() - np.trace(cm))
        rep["confusion_matrix"] = {"rows": "true digit", "columns": "predicted digit", "counts": cm}
        fig_confusion(out / FIG_CONFUSION, cm, f"Test set: {errs:,} of {int(cm.sum()):,} digits misclassified")
        written.append(FIG_CONFUSION)
        md += ["## Confusion matrix (test set)", "", f"![Confusion matrix]({FIG_CONFUSION})", "",
               "Rows: true digit; columns: predicted digit (most active output).", "",
               "| true \\ predicted | " + " | ".join(str(q) for q in range(n_cls)) + " | errors |",
               "|---:|" + "---:|" * (n_cls + 1)]
        for t in range(n_cls):
            row_tot = int(cm[t].sum())
            e = row_tot - int(cm[t, t])
            cells = [f"**{cm[t, q]}**" if q == t else (str(cm[t, q]) if cm[t, q] else "·") for q in range(n_cls)]
            rate = f" ({_pct(e / row_tot, 1)})" if row_tot else ""
            md.append(f"| **{t}** | " + " | ".join(cells) + f" | {e}{rate} |")
        md.append("")

        rej_title = f"Rejection: {_pct(rej, 1)} of the test digits rejected for {_pct(TARGET_ERROR, 0)} error"
        if rej >= 1.0:
            rej_title = f"Rejection: {_pct(TARGET_ERROR, 0)} error is not reached before rejecting every digit"
        fig_rejection(out / FIG_REJECTION, rejection["curve"]["rejected_fraction"],
                      rejection["curve"]["error_among_accepted"], rej, rejection["error_at_threshold"], refs,
                      rej_title)
        written.append(FIG_REJECTION)
        ref_rej = [f"{_pct(r['figures']['rejection_at_1pct'], 1)} in {r['short']}" for r in refs
                   if "rejection_at_1pct" in r["figures"]]
        md += ["## Rejection", "", f"![Rejection curve]({FIG_REJECTION})", ""]
        if rej < 1.0:
            md.append(f"Rejecting the {_pct(rej, 1)} of test digits with the smallest gap between the two most "
                      f"active outputs leaves {_pct(rejection['error_at_threshold'])} error on the rest"
                      + (f" ({', '.join(ref_rej)})." if ref_rej else "."))
        else:
            md.append("No gap threshold brings the error on the accepted digits to 1%.")
        md.append("")
    else:
        rep["confusion_matrix"] = None
        md += ["## Confusion matrix and rejection", "",
               f"outputs.npz is missing: no confusion matrix or rejection curve; results.json gives "
               f"{_pct(rej, 1)} rejected for 1% error.", ""]
    rep["rejection"] = rejection

    # misclassified digits
    md += ["## Misclassified test digits", ""]
    grid = {"shown": False, "note": None, "digits": None}
    if outputs is not None:
        y, lab = outputs["test_outputs"], outputs["test_labels"]
        pred = y.argmax(axis=1)
        gap = metrics.output_gap(y)
        wrong = np.flatnonzero(pred != lab)
        grid["digits"] = [{"index": int(i), "true": int(lab[i]), "predicted": int(pred[i]), "gap": float(gap[i])}
                          for i in wrong]
        if len(wrong) == 0:
            grid["note"] = "No test digit is misclassified."
        else:
            x, note = _load_test_images(results, config, lab, data_dir, data)
            if x is None:
                grid["note"] = note
            else:
                shown = wrong[:MAX_GRID]
                more = f" (the first {len(shown)} of {len(wrong)})" if len(shown) < len(wrong) else ""
                fig_misclassified(out / FIG_MISSES, x[shown], lab[shown], pred[shown], gap[shown],
                                  f"Misclassified test digits{more}: true→predicted, "
                                  "gap between the two most active outputs")
                written.append(FIG_MISSES)
                grid["shown"] = True
                grid["shown_count"] = int(len(shown))
                md += [f"![Misclassified test digits]({FIG_MISSES})", "",
                       f"{len(wrong):,} misclassified test digits{more}, in test-set order; each titled "
                       "true→predicted and the gap between the two most active outputs (small gap: a digit "
                       "the rejection criterion drops first). Indices and gaps: report.json, `misclassified`.", ""]
    else:
        grid["note"] = "outputs.npz is missing: the misclassified digits are unknown."
    if grid["note"]:
        md += [grid["note"], ""]
    rep["misclassified"] = grid

    # kernels
    md += ["## Learned kernels", ""]
    model = run["model"]
    kernels: dict = {"layers": [], "note": None}
    if model is not None:
        conv = _conv_layers(model, arch)
        if not conv:
            kernels["note"] = ("No kernel images: this network has no convolution (its weights are 2-D, "
                               "fully connected).")
        prev = "input"
        for layer in conv:
            w = np.asarray(model[f"{layer}.weight"], dtype=float)
            table = model.get(f"{layer}.table")
            if table is not None and table.shape != w.shape[:2]:
                table = None
            fname = FIG_KERNELS.format(layer=layer)
            k = w.shape[-1]
            if w.shape[1] == 1:
                title = f"{layer}: {w.shape[0]} learned {k}x{k} kernels (shared weights of each map)"
                desc = f"{layer}'s {w.shape[0]} {k}x{k} kernels, one per feature map."
            else:
                title = (f"{layer}: {w.shape[0]} maps x {w.shape[1]} {k}x{k} kernels; "
                         f"each titled with the {prev} map it reads")
                desc = (f"{layer}'s kernels, one row per {layer} map, one column per {prev} map it reads "
                        f"(titled with that {prev} map's index{' from the connection table' if table is not None else ''}).")
            fig_kernels(out / fname, w, layer, prev, table, title)
            written.append(fname)
            kernels["layers"].append({"layer": layer, "shape": list(w.shape), "figure": fname,
                                      "abs_max": float(np.abs(w).max()),
                                      "table": table if table is not None else None})
            md += [f"![{layer} kernels]({fname})", "", desc + " Red positive, blue negative, one colour scale "
                   f"per figure (|w| up to {np.abs(w).max():.2f}).", ""]
            prev = layer
    else:
        kernels["note"] = "model.npz is missing: no kernel images."
    if kernels["note"]:
        md += [kernels["note"], ""]
    rep["kernels"] = kernels

    # provenance and notes
    prov = _provenance(results, run["meta"])
    rep["provenance"] = prov
    md += ["## Provenance", ""] + _provenance_lines(prov) + [""]
    rep["notes"] = notes
    if notes:
        md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    rep["figures"] = written

    # remove stale figures of a previous report that this one does not draw
    for fname in OWN_FILES:
        if fname.endswith(".png") and fname not in written:
            (out / fname).unlink(missing_ok=True)
    _write(out / REPORT_JSON, _dump_json(rep))
    md_path = out / REPORT_MD
    _write(md_path, "\n".join(md).rstrip("\n") + "\n")
    return md_path


# --- CLI ------------------------------------------------------------------------

def _unique_names(dirs: list[Path]) -> list[str]:
    """Short, distinct folder names for ``--out`` with several runs: the shortest
    unique tails of their paths, joined with '-'."""
    parts = [Path(os.path.abspath(d)).parts for d in dirs]
    for k in range(1, max(len(p) for p in parts) + 1):
        names = ["-".join(p[-k:]).strip("/") or "run" for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"run-{i}" for i in range(len(dirs))]


def _run(args) -> int:
    from lecun89.study import check_sort
    from lecun89.sweep_report import find_sweep_runs, report_sweep

    check_sort(args.sort, "--sort")
    dirs = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else None
    targets = _unique_names(dirs) if len(dirs) > 1 else [None]
    for d, sub in zip(dirs, targets):
        target = None if out is None else (out / sub if sub else out)
        if d.is_dir() and not (d / "results.json").exists():
            runs = find_sweep_runs(d)
            if runs:
                paths = {}
                for r in runs:
                    rel = Path(os.path.relpath(r, d))
                    paths[r] = report_run(r, None if target is None else target / rel, args.data_dir)
                    print(f"report: {paths[r]}")
                path = report_sweep(d if target is None else target, runs, paths, sort=args.sort)
                print(f"summary: {path}")
                continue
        path = report_run(d, target, args.data_dir)
        print(f"report: {path}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="Markdown report of a run (or a sweep) beside the paper's figures",
                       description="Write report.md, report.json and report-*.png for each run directory "
                                   "(from its files alone; the data set is needed only for the "
                                   "misclassified-digit images). A directory holding no results.json but "
                                   "run directories below it is treated as a sweep: each run's report plus "
                                   "summary.md, summary.json and summary-test-error.png.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by 'lecun89 train'")
    p.add_argument("--out", help="write the report here instead of into the run directory "
                                 "(several runs: one subfolder per run)")
    p.add_argument("--data-dir", help="data directory for the digit images (default: $LECUN89_DATA, "
                                      "else the user cache)")
    p.add_argument("--sort", metavar="COLUMN", help="a sweep's summary sorted by this column, e.g. test_error "
                                                    "(--sort=-test_error: descending); default: the order of the runs")
    p.set_defaults(func=_run)
