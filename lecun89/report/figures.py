"""The reports' figures, drawn with matplotlib's Agg canvas (no pyplot, no global
state): learning curves, confusion matrix, rejection curve, misclassified
digits, learned kernels, a sweep's test errors."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lecun89.atomic import replacing
from lecun89.errors import UserError
from lecun89.metrics import TARGET_ERROR, paper_mse
from lecun89.report.format import pct, sci

DPI = 100


PNG_METADATA = {"Software": None}   # no matplotlib version in the PNG: identical bytes across versions


@contextmanager
def mpl():
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


def save_png(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    try:
        with replacing(path) as fh:
            fig.savefig(fh, format="png", dpi=DPI, metadata=PNG_METADATA)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None


def integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# The paper's Figure 3: log MSE (top) and % error (bottom) against passes, training and test.
FIGURE3_PANELS = ("mse", "error")


def cost_name(train: dict | None) -> str:
    """The cost the optimizer minimised, in words, from a config's train section
    (a dict; None: the defaults, the squared error averaged over the outputs)."""
    t = train or {}
    if t.get("loss", "mse") != "mse":
        return "softmax cross-entropy"
    if t.get("cost_scale") == "half_sum":
        return "SN2.8's cost, E = ½ Σ over the 10 outputs of (y − t)² a digit (5 × the paper's MSE)"
    return "the squared error averaged over the 10 outputs (2 × the paper's MSE)"


def plotted(fig) -> dict:
    """What a figure draws, read back from its lines: {panel: {line label: [[x, y], ...]}},
    panels by their axes' ``gid``; y in the panel's units (as plotted, before the log scale)."""
    out = {}
    for ax in fig.axes:
        if ax.get_gid() is None:
            continue
        lines = {}
        for line in ax.get_lines():
            label = line.get_label()
            if label.startswith("_"):
                continue
            xs, ys = line.get_xdata(), line.get_ydata()
            lines[label] = [[float(x), None if not np.isfinite(y) else float(y)] for x, y in zip(xs, ys, strict=True)]
        out[ax.get_gid()] = {"ylabel": ax.get_ylabel(), "yscale": ax.get_yscale(), "lines": lines}
    return out


def _series(curves: dict, key: str, f=None) -> np.ndarray:
    return np.array([np.nan if v is None else (f(v) if f else v) for v in curves[key]], dtype=float)


def fig_curves(path: Path, curves: dict, refs: list[dict], loss_name: str, title: str) -> dict:
    """The paper's Figure 3 for a run: log MSE (top) and % error (bottom) against
    passes, training and test (validation too, when the run has a split), the
    references' final figures dashed. The MSE is the paper's convention
    (:func:`lecun89.metrics.paper_mse`); a run whose outputs are logits (no MSE)
    shows its own cost on top, named. Returns :func:`plotted`."""
    p = np.asarray(curves["pass"])
    marker = "o" if len(p) <= 40 else None
    mse = loss_name == "MSE"
    key = "mse" if mse else "loss"
    conv = (lambda v: paper_mse(v)) if mse else None
    splits = [("train", "training", "C0"), ("validation", "validation", "C7"), ("test", "test", "C1")]
    with mpl() as Figure:
        fig = Figure(figsize=(9, 8.6), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True)
        top.set_gid("mse")
        bottom.set_gid("error")
        for split, label, colour in splits:
            if f"{split}_{key}" not in curves or f"{split}_error" not in curves:
                continue
            top.plot(p, _series(curves, f"{split}_{key}", conv), marker=marker, ms=4, color=colour, label=label)
            bottom.plot(p, 100 * _series(curves, f"{split}_error"), marker=marker, ms=4, color=colour, label=label)
        for i, ref in enumerate(refs):
            figs = ref["figures"]
            for split, ls in (("train", ":"), ("test", "--")):
                if mse and f"{split}_half_mse" in figs:
                    v = figs[f"{split}_half_mse"]
                    top.axhline(v, ls=ls, lw=1.2, color=f"C{i + 2}", label=f"{split}, {ref['short']}: {sci(v)}")
                if f"{split}_error" in figs:
                    v = figs[f"{split}_error"]
                    bottom.axhline(100 * v, ls=ls, lw=1.2, color=f"C{i + 2}", label=f"{split}, {ref['short']}: {pct(v)}")
        vals = np.concatenate([line.get_ydata() for line in top.get_lines()]) if top.get_lines() else np.array([])
        vals = vals[np.isfinite(vals)]
        if len(vals) and (vals > 0).all():
            top.set_yscale("log")
        top.set_ylabel("MSE, the paper's convention\n(½ mean over outputs of (y − t)²), log scale" if mse
                       else f"the optimizer's cost ({loss_name}), log scale")
        top.set_title("log MSE, the paper's convention" if mse else f"log training cost ({loss_name})")
        bottom.set_ylabel("error (%)")
        bottom.set_title("% error")
        bottom.set_ylim(bottom=0)
        bottom.set_xlabel("pass over the training set")
        for ax in (top, bottom):
            ax.legend(fontsize=9)
            integer_ticks(ax)
        fig.suptitle(f"{title}\nas the paper's Figure 3: log MSE and % error against passes, training and test")
        drawn = plotted(fig)
        save_png(fig, path)
    return drawn


def fig_confusion(path: Path, cm: np.ndarray, title: str) -> None:
    n = cm.shape[0]
    off = cm.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    vmax = max(1.0, float(np.nanmax(off)) if n > 1 else 1.0)
    off[off == 0] = np.nan  # no error: white
    with mpl() as Figure:
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
        save_png(fig, path)


def fig_rejection(path: Path, rejected: np.ndarray, err: np.ndarray, run_rej: float, run_err_at: float | None,
                  refs: list[dict], title: str) -> None:
    ref_pts = [(ref, ref["figures"]["rejection_at_1pct"]) for ref in refs if "rejection_at_1pct" in ref["figures"]]
    xmax = max([0.3, 1.6 * run_rej] + [1.6 * r for _, r in ref_pts])
    xmax = min(1.0, xmax)
    with mpl() as Figure:
        fig = Figure(figsize=(8.5, 5.5), layout="constrained")
        ax = fig.subplots()
        ax.plot(100 * rejected, 100 * err, lw=2, label="this run (test set)")
        ax.axhline(100 * TARGET_ERROR, color="grey", ls="--", lw=1.2, label=f"{pct(TARGET_ERROR, 0)} error")
        if run_err_at is not None and run_rej < 1.0:
            ax.plot([100 * run_rej], [100 * run_err_at], "o", ms=10, color="C0", zorder=5,
                    label=f"this run: {pct(run_rej, 1)} rejected")
            ax.annotate(f"{pct(run_rej, 1)}", (100 * run_rej, 100 * run_err_at), textcoords="offset points",
                        xytext=(8, 10), fontsize=12, color="C0", weight="bold")
        for i, (ref, r) in enumerate(ref_pts):
            ax.plot([100 * r], [100 * TARGET_ERROR], marker="D", ms=9, ls="none", color=f"C{i + 2}",
                    label=f"{ref['short']}: {pct(r, 1)} rejected")
        ax.set_xlim(0, 100 * xmax)
        ytop = max(1.5 * 100 * TARGET_ERROR, 1.08 * 100 * float(err[0]) if len(err) else 0)
        ax.set_ylim(0, ytop)
        ax.set_xlabel("test digits rejected (%), smallest gap between the two top outputs first")
        ax.set_ylabel("error on the accepted digits (%)")
        ax.set_title(title)
        ax.legend()
        save_png(fig, path)


def tile_axes(Figure, data_w: float, data_h: float, scale: float, left: float = 0.2, right: float = 0.2,
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
    with mpl() as Figure:
        fig, ax, _, fig_h = tile_axes(Figure, ncols * (px + gx), nrows * (px + gy), 1.1 / (px + gx),
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
        save_png(fig, path)


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
    with mpl() as Figure:
        data_w, data_h = ncols * (kw + gx), nrows * (kh + gy) + 0.1 * kh
        fig, ax, fig_w, fig_h = tile_axes(Figure, data_w, data_h, 0.85 / kw,
                                           left=left, right=1.2, top=0.6, bottom=0.1)
        im = None
        for o, i, (r, c) in cells:
            x0, y0 = c * (kw + gx) + gx / 2, r * (kh + gy) + gy
            im = ax.imshow(w[o, i], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest",
                           extent=(x0, x0 + kw, y0 + kh, y0))
            ax.add_patch(rect(x0, y0, kw, kh))
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
        save_png(fig, path)


def rect(x0, y0, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle((x0, y0), w, h, fill=False, lw=0.8, ec="black")


def fig_sweep(path: Path, groups: list[dict], runs: list[dict], refs_all: dict, title: str) -> None:
    n = len(groups)
    with mpl() as Figure:
        fig = Figure(figsize=(max(6.5, 1.7 * n + 3.5), 5.5), layout="constrained")
        ax = fig.subplots()
        seen: set[str] = set()
        colours: dict[str, str] = {}
        for x, g in enumerate(groups):
            vals = [r["test_error"] for r in runs if (r["config_name"], r["variant"]) == (g["config_name"], g["variant"])
                    and r["test_error"] is not None]
            k = len(vals)
            offs = np.linspace(-0.12, 0.12, k) if k > 1 else np.zeros(k)
            ax.plot(x + offs, 100 * np.asarray(vals), "o", ms=7, color="C0", alpha=0.75,
                    label="one seed" if x == 0 else None)
            s = g["test_error"]
            if s["mean"] is not None:
                ax.errorbar([x + 0.3], [100 * s["mean"]], yerr=None if s["std"] is None else [100 * s["std"]],
                            fmt="s", ms=8, color="black", capsize=5,
                            label="mean ± std" if x == 0 else None)
            for rid in g["references"]:
                ref = refs_all["references"][rid]
                if "test_error" not in ref["figures"]:
                    continue
                if rid not in colours:
                    colours[rid] = f"C{len(colours) + 1}"
                ax.hlines(100 * ref["figures"]["test_error"], x - 0.4, x + 0.4, colors=colours[rid], lw=2.5,
                          linestyles="--", label=None if rid in seen else
                          f"{ref['label']}: {pct(ref['figures']['test_error'])}")
                seen.add(rid)
        ax.set_xticks(range(n))
        ax.set_xticklabels([f"{g['config_name']}\n" + (f"{g['variant']}\n" if g["variant"] else "") + f"(n={g['n']})"
                            for g in groups], rotation=30 if n > 6 else 0, ha="right" if n > 6 else "center",
                           fontsize=8 if any(g["variant"] for g in groups) else None)
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("test error (%)")
        ax.set_title(f"{title}: test error per config\n(dots: one seed each; square: mean ± std; "
                     "dashes: reference figures)")
        ax.legend(fontsize=9)
        save_png(fig, path)
