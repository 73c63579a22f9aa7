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
from lecun89.rundir import METRIC_KEYS

DPI = 100


# The paper's MSE, named where it is drawn (lecun89.metrics: half the mean over the 10 outputs).
PAPER_MSE_LABEL = "MSE, the paper's: ½ mean over outputs of (y − t)²"

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


def fig_curves(path: Path, curves: dict, refs: list[dict], loss_name: str, title: str) -> None:
    p = np.asarray(curves["pass"])
    arr = {k: np.array([np.nan if v is None else v for v in curves[k]], dtype=float) for k in METRIC_KEYS}
    marker = "o" if len(p) <= 40 else None
    with mpl() as Figure:
        fig = Figure(figsize=(12, 4.6), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(p, 100 * arr["train_error"], marker=marker, ms=4, label="train")
        if "validation_error" in curves:  # a validation split: between train and test, in its own colour
            val = np.array([np.nan if v is None else v for v in curves["validation_error"]], dtype=float)
            ax1.plot(p, 100 * val, marker=marker, ms=4, label="validation", color="C7")
        ax1.plot(p, 100 * arr["test_error"], marker=marker, ms=4, label="test")
        for i, ref in enumerate(refs):
            figs = ref["figures"]
            if "test_error" in figs:
                ax1.axhline(100 * figs["test_error"], ls="--", lw=1.2, color=f"C{i + 2}",
                            label=f"test, {ref['short']}: {pct(figs['test_error'])}")
            if "train_error" in figs:
                ax1.axhline(100 * figs["train_error"], ls=":", lw=1.2, color=f"C{i + 2}",
                            label=f"train, {ref['short']}: {pct(figs['train_error'])}")
        ax1.set_xlabel("pass over the training set")
        ax1.set_ylabel("error (%)")
        ax1.set_title("Error rate per pass")
        ax1.set_ylim(bottom=0)
        ax1.legend()
        integer_ticks(ax1)
        # Squared-error runs: the paper's MSE (metrics.paper_mse: half the mean over the
        # outputs), the convention of the paper's figures drawn beside it; others: their cost.
        if loss_name == "MSE":
            curve = {k: np.array([np.nan if v is None else paper_mse(v) for v in curves[k]], dtype=float)
                     for k in ("train_mse", "test_mse")}
            train, test, ylabel = curve["train_mse"], curve["test_mse"], PAPER_MSE_LABEL
            val = curves.get("validation_mse")
        else:
            train, test, ylabel = arr["train_loss"], arr["test_loss"], f"training cost ({loss_name})"
            val = curves.get("validation_loss")
        ax2.plot(p, train, marker=marker, ms=4, label="train")
        if val is not None:
            val = [np.nan if v is None else (paper_mse(v) if loss_name == "MSE" else v) for v in val]
            ax2.plot(p, val, marker=marker, ms=4, label="validation", color="C7")
        ax2.plot(p, test, marker=marker, ms=4, label="test")
        if loss_name == "MSE":
            for i, ref in enumerate(refs):
                figs = ref["figures"]
                for split, ls in (("test", "--"), ("train", ":")):
                    if f"{split}_half_mse" in figs:
                        ax2.axhline(figs[f"{split}_half_mse"], ls=ls, lw=1.2, color=f"C{i + 2}",
                                    label=f"{split}, {ref['short']}: {sci(figs[split + '_half_mse'])}")
        vals = np.concatenate([train, test])
        vals = vals[np.isfinite(vals)]
        if len(vals) and (vals > 0).all():
            ax2.set_yscale("log")
        ax2.set_xlabel("pass over the training set")
        ax2.set_ylabel(ylabel)
        ax2.set_title("MSE per pass (the paper's convention)" if loss_name == "MSE"
                      else f"Training cost per pass ({loss_name})")
        ax2.legend()
        integer_ticks(ax2)
        fig.suptitle(title)
        save_png(fig, path)


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
