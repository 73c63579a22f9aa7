"""``lecun89 predict --show``: what the reader did to each picture, as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tinted(gray: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Gray levels (H, W) -> RGB (H, W, 3) with the removed pixels tinted orange."""
    rgb = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    rgb[removed] = 0.35 * rgb[removed] + 0.65 * np.array([1.0, 0.55, 0.0])
    return rgb


def save_preprocessing(items: list[tuple[str, np.ndarray | None, np.ndarray, dict]], out: Path) -> None:
    """``predict --show``: each original beside the 16x16 input it became, as a PNG.
    ``items``: (file name, gray image or None for a .npy, x16 or a row's list of x16, the analysis[,
    the mask of the pixels removed as page furniture]): the removed pixels are drawn in orange on the original."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lecun89.atomic import replacing

    fig = Figure(figsize=(4.4, 2.2 * len(items)))
    FigureCanvasAgg(fig)  # no pyplot: the process's matplotlib backend is left alone
    axes = fig.subplots(len(items), 2, squeeze=False)
    for row, (path, gray, x16, r, *rest) in zip(axes, items, strict=True):
        removed = rest[0] if rest else None
        if gray is not None and removed is not None and removed.any():
            row[0].imshow(tinted(gray, removed), interpolation="nearest")
            draw_cuts(row[0], r)
        elif gray is not None:
            row[0].imshow(gray, cmap="gray", vmin=0.0, vmax=1.0)
            draw_cuts(row[0], r)
        else:
            row[0].text(0.5, 0.5, ".npy\n(used as is)", ha="center", va="center")
        found = r.get("removed") or []
        row[0].set_title(Path(path).name + (f" ({len(found)} lines removed)" if found else ""), fontsize=8)
        if "per_digit" in r:  # a row: its digits' 16x16 inputs side by side
            x16 = np.concatenate([np.pad(x, ((0, 0), (0, 1)), constant_values=-1.0) for x in x16], axis=1)
            label = f"{r['digits']}{' (rejected)' if r['rejected'] else ''}"
        else:
            label = ("not a digit" if r["digit"] is None
                     else f"{r['digit']}{' (rejected)' if r['rejected'] else ''}")
        row[1].imshow(x16, cmap="gray_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
        row[1].set_title(f"16x16: {label}", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    with replacing(out) as fh:
        fig.savefig(fh, dpi=100, format="png")


def draw_cuts(ax, r: dict) -> None:
    """A row's chosen cuts (solid red) and its runner-up's (dashed blue) over
    the picture, the runner-up's reading in the corner; nothing for one digit."""
    if "cuts" not in r:
        return
    for x in r["cuts"]:
        ax.axvline(x, color="red", linewidth=1.2)
    ru = r.get("runner_up")
    if ru:
        for x in ru["cuts"]:
            ax.axvline(x, color="tab:blue", linewidth=1.0, linestyle="--")
        ax.text(0.01, 0.02, f"runner-up {ru['digits']}", transform=ax.transAxes, fontsize=6, color="tab:blue",
                va="bottom")
