"""Checking and showing the data sets (what ``lecun89 data`` prints): the state
of each one's files, the full check against the pinned tables, the list, and a
PNG grid of sample digits."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

from lecun89.data._base import (
    Dataset,
    class_counts,
    data_dir_origin,
    resolve_data_dir,
    source_folder,
    verify_source,
    verify_sources,
)
from lecun89.data.digits import DIGITS_SOURCE_SHA256
from lecun89.data import mnist16
from lecun89.data.mnist16 import read_idx
from lecun89.data.registry import CLASS_COUNTS, DATASETS, SOURCES, TOTALS, check_name, check_options, load_dataset
from lecun89.atomic import replacing
from lecun89.errors import UserError

# ---------------------------------------------------------------------------
# status and checks (used by the CLI)


def source_status(name: str, data_dir=None) -> tuple[str, str]:
    """("ok" | "missing" | "bad" | "builtin", location or reason) of a data set's files."""
    check_name(name)
    if not SOURCES[name]:
        return "builtin", "scikit-learn load_digits() (no files)"
    root = resolve_data_dir(data_dir)
    rel_folder = source_folder(SOURCES[name])
    folder = root / rel_folder
    missing = [s for s in SOURCES[name].values() if not (root / s.rel).is_file()]
    if missing:
        n = len(SOURCES[name])
        return "missing", f"{folder} ({len(missing)} of {n} files missing)"
    for spec in SOURCES[name].values():
        try:
            verify_source(name, spec, root, data_dir, folder=rel_folder)
        except UserError:
            return "bad", f"{folder} ({Path(spec.rel).name} fails its sha256)"
    return "ok", str(folder)


def _table(rows: list[list[str]], left: tuple[int, ...] = (0,)) -> str:
    """Plain-text table; columns in ``left`` left-aligned, the others right-aligned."""
    ncol = len(rows[0])
    widths = [max(len(r[i]) for r in rows) for i in range(ncol)]
    left_cols = {i % ncol for i in left}
    return "\n".join("  ".join(c.ljust(w) if j in left_cols else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows)


def _count_table(counts: dict[str, list[int]], expected: dict[str, tuple[int, ...]] | None) -> str:
    rows = [["split", *map(str, range(10)), "total", "expected"]]
    for split in ("train", "test"):
        c = counts[split]
        exp = "ok" if expected is not None and tuple(c) == expected[split] else (
            "-" if expected is None else "MISMATCH")
        rows.append([split, *map(str, c), str(sum(c)), exp])
    return _table(rows)


def check_dataset(name: str, data_dir=None, *, subset: str = "paper", subset_seed: int = 0,
                  out=None) -> None:
    """Verify checksums, parse the sources (no cache), compare row and per-class
    counts with the pinned tables, print a small report on ``out``. Raises
    :class:`UserError` (one line) on the first problem."""
    out = out or sys.stdout
    eff_subset, seed = check_options(name, subset, subset_seed)
    root = resolve_data_dir(data_dir)
    if SOURCES[name]:
        print(f"{name}: data dir {root} [{data_dir_origin(data_dir)}]", file=out)
        rows = [["file", "bytes", "sha256", "status"]]
        paths = verify_sources(name, SOURCES[name], root, data_dir)
        for role, spec in SOURCES[name].items():
            path = paths[role]
            rows.append([spec.rel, str(path.stat().st_size), spec.sha256[:16] + "...", "ok"])
        print(_table(rows, left=(0, 2, 3)), file=out)
    ds = load_dataset(name, data_dir, subset=subset, subset_seed=subset_seed, cache=False)
    counts = ds.meta["counts"]
    expected = CLASS_COUNTS.get((name, eff_subset))
    what = f" (subset {eff_subset}{'' if seed is None else f', seed {seed}'})" if name == "mnist16" else ""
    print(f"{name}{what}: per-class counts", file=out)
    print(_count_table(counts, expected), file=out)
    n_train, n_test = TOTALS[(name, eff_subset)]
    if (ds.meta["n_train"], ds.meta["n_test"]) != (n_train, n_test):  # pragma: no cover - load checks it
        raise UserError(f"{name}: {ds.meta['n_train']}/{ds.meta['n_test']} digits, expected {n_train}/{n_test}")
    if expected is not None:
        for split in ("train", "test"):
            if tuple(counts[split]) != expected[split]:
                raise UserError(f"{name}: {split} per-class counts {counts[split]}, "
                                f"expected {list(expected[split])}")
    if name == "mnist16" and eff_subset == "paper":
        # the subset's source files are the full MNIST: check its per-class table too
        full = {}
        for split, role, n in (("train", "train_labels", mnist16.N_TRAIN), ("test", "test_labels", mnist16.N_TEST)):
            full[split] = class_counts(read_idx(root / SOURCES[name][role].rel, "labels", n).astype(np.int64))
        print("mnist16 (full source files): per-class counts", file=out)
        print(_count_table(full, CLASS_COUNTS[("mnist16", "full")]), file=out)
        for split in ("train", "test"):
            if tuple(full[split]) != CLASS_COUNTS[("mnist16", "full")][split]:
                raise UserError(f"mnist16: full {split} per-class counts {full[split]}, expected "
                                f"{list(CLASS_COUNTS[('mnist16', 'full')][split])}")
        print(f"subset indices sha256 {ds.meta['indices_sha256']}", file=out)
    if name == "digits":
        src = ds.meta["sources"]["sklearn.datasets.load_digits"]
        if src != DIGITS_SOURCE_SHA256:
            raise UserError(f"digits: scikit-learn {ds.meta.get('sklearn_version')} load_digits() has "
                            f"sha256 {src}, expected {DIGITS_SOURCE_SHA256}; results are not comparable")
        print(f"load_digits() sha256 {src} ok (scikit-learn {ds.meta.get('sklearn_version')})", file=out)
    print(f"{name}: OK, {n_train} train / {n_test} test, arrays sha256 {ds.meta['checksum']}", file=out)


def list_datasets(data_dir=None, out=None) -> None:
    """Print the data dir and a table of the data sets: status, sizes, where their files are."""
    out = out or sys.stdout
    root = resolve_data_dir(data_dir)
    print(f"data dir: {root} [{data_dir_origin(data_dir)}]", file=out)
    rows = [["dataset", "status", "train", "test", "location"]]
    for name in DATASETS:
        status, where = source_status(name, data_dir)
        if name == "mnist16":
            sizes = [(f"{TOTALS[(name, 'paper')][0]}|{TOTALS[(name, 'full')][0]}"),
                     (f"{TOTALS[(name, 'paper')][1]}|{TOTALS[(name, 'full')][1]}")]
        else:
            sizes = [str(v) for v in TOTALS[(name, "full")]]
        rows.append([name, status, *sizes, where])
    print(_table(rows, left=(0, 1, 4)), file=out)
    print("mnist16 sizes: paper subset|full. Get missing files with 'lecun89 data fetch NAME'.", file=out)


# ---------------------------------------------------------------------------
# figure


def save_grid(ds: Dataset, out: str | os.PathLike, *, split: str = "train", n: int = 64) -> Path:
    """Save a PNG grid of the first ``n`` digits of ``split`` with their labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x, y = (ds.x_train, ds.y_train) if split == "train" else (ds.x_test, ds.y_test)
    n = min(n, len(y))
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(cols * 0.9, rows * 1.0 + 0.4), dpi=100)
    FigureCanvasAgg(fig)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(x[i, 0], cmap="gray_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_title(str(int(y[i])), fontsize=9, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{ds.name} ({ds.meta.get('subset', '')}) {split}: first {n} of {len(y)}", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    try:
        with replacing(out) as fh:
            fig.savefig(fh, format="png")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}; pass --out to a writable path") from None
    return out
