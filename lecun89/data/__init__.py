"""Data sets: the paper's USPS zip-code digits, MNIST reduced to 16x16,
scikit-learn's embedded 8x8 digits upsampled to 16x16, and USPS with MNIST as
``lecun89 predict`` reads it.

Every data set comes out the same way (:class:`Dataset`): images
``(N, 1, 16, 16)`` float64 in [-1, 1] with background -1, labels int64 0-9.

- ``usps``: ``<data-dir>/usps/zip.train.gz`` and ``zip.test.gz`` (the "ZIP code"
  data of The Elements of Statistical Learning: 7,291 / 2,007 digits, the
  paper's split), read as they are. Not the LIBSVM/torchvision "USPS" copy,
  which is the same digits smoothed by a 5x5 blur.
- ``mnist16``: the raw MNIST IDX ``.gz`` files in ``<data-dir>/mnist/MNIST/raw/``,
  ``x = pixels / 127.5 - 1`` then bilinearly resized 28 -> 16 exactly like
  ``torch.nn.functional.interpolate(x, (16, 16), mode="bilinear")``
  (align_corners=False, no antialiasing), as the 2022 PyTorch replication did.
  ``subset="paper"``: 7,291 train / 2,007 test digits drawn without replacement
  by ``numpy.random.default_rng(subset_seed)`` and kept in MNIST's own file
  order (sorted indices); ``subset="full"``: all 60,000 / 10,000.
- ``usps-mnist``: USPS's training digits followed by MNIST's training digits
  less the held-out-writers tuning group (:data:`lecun89.heldout.TUNE`), each
  MNIST digit scaled 4x and read by :func:`lecun89.digits_in.fit_16` (what
  ``lecun89 predict`` gives the network: deslanted, box fitted to 16x16);
  USPS's test digits. The ``reader`` model's data.
- ``digits``: ``sklearn.datasets.load_digits()`` (1,797 8x8 images, 0-16),
  scaled ``x / 8 - 1`` and bilinearly upsampled 8 -> 16 with the same
  resize; split by ``train_test_split(test_size=0.25, stratify=y,
  random_state=0)`` into 1,347 / 450, both kept in load_digits' order.
  Needs no files and no network; the default data set.

Source files are checked against pinned sha256 sums on every load (hashing
~12 MB takes tens of milliseconds), then parsed with format checks. The
preprocessed arrays are cached as ``.npz`` in a per-user cache directory
(``LECUN89_CACHE``, else ``$XDG_CACHE_HOME/lecun89/arrays``), never in the
data directory. Downloads happen only when asked for (``download=True`` or
``lecun89 data fetch NAME``).

Everything wrong with the user's files raises :class:`UserError` with a
one-line message naming the file, what was expected and how to fix it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from lecun89.data._base import (  # noqa: F401 (public here too)
    CACHE_DISABLED,
    ENV_CACHE,
    ENV_DATA,
    IMAGE_SHAPE,
    PREPROCESS_VERSION,
    SUBSETS,
    Dataset,
    SourceFile,
    arrays_checksum,
    class_counts,
    data_dir_origin,
    resolve_cache_dir,
    resolve_data_dir,
    sha256_file,
    source_folder,
    verify_source,
    verify_sources,
)
from lecun89.data.digits import DIGITS_SOURCE_SHA256, DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE  # noqa: F401
from lecun89.data.mnist16 import mnist16_subset_indices, mnist_raw, read_idx  # noqa: F401
from lecun89.data.registry import (  # noqa: F401
    CLASS_COUNTS,
    DATASETS,
    SOURCES,
    TOTALS,
    check_name,
    check_options,
    fetch,
    load_dataset,
)
from lecun89.data.usps import ZIP_FIELDS, parse_zip_file  # noqa: F401
from lecun89.errors import UserError
from lecun89.resample import bilinear_matrix, resize_bilinear  # noqa: F401 (public here too)

# ---------------------------------------------------------------------------
# status and checks (used by the CLI)


def source_status(name: str, data_dir=None) -> tuple[str, str]:
    """("ok" | "missing" | "bad" | "builtin", location or reason) of a data set's files."""
    check_name(name)
    if not SOURCES[name]:
        return "builtin", "scikit-learn load_digits() (no files)"
    root = resolve_data_dir(data_dir)
    folder = root / source_folder(SOURCES[name])
    missing = [s for s in SOURCES[name].values() if not (root / s.rel).is_file()]
    if missing:
        n = len(SOURCES[name])
        return "missing", f"{folder} ({len(missing)} of {n} files missing)"
    for spec in SOURCES[name].values():
        try:
            verify_source(name, spec, root, data_dir, folder=source_folder(SOURCES[name]))
        except UserError:
            return "bad", f"{folder} ({Path(spec.rel).name} fails its sha256)"
    return "ok", str(folder)


def _table(rows: list[list[str]], left: tuple[int, ...] = (0,)) -> str:
    """Plain-text table; columns in ``left`` left-aligned, the others right-aligned."""
    ncol = len(rows[0])
    widths = [max(len(r[i]) for r in rows) for i in range(ncol)]
    left_cols = {i % ncol for i in left}
    return "\n".join("  ".join(c.ljust(w) if j in left_cols else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


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
        for split, role, n in (("train", "train_labels", 60000), ("test", "test_labels", 10000)):
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
        fig.savefig(out, format="png")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}; pass --out to a writable path") from None
    return out


# ---------------------------------------------------------------------------
# command line: lecun89 data {list,check,show,fetch}


MAX_SHOW = 400


def _grid_size(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 1-{MAX_SHOW}, got {text!r}") from None
    if not 1 <= v <= MAX_SHOW:
        raise argparse.ArgumentTypeError(f"expected an integer 1-{MAX_SHOW}, got {text!r}")
    return v


def _non_negative(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _cmd_list(args) -> int:
    root = resolve_data_dir(args.data_dir)
    print(f"data dir: {root} [{data_dir_origin(args.data_dir)}]")
    rows = [["dataset", "status", "train", "test", "location"]]
    for name in DATASETS:
        status, where = source_status(name, args.data_dir)
        if name == "mnist16":
            sizes = [(f"{TOTALS[(name, 'paper')][0]}|{TOTALS[(name, 'full')][0]}"),
                     (f"{TOTALS[(name, 'paper')][1]}|{TOTALS[(name, 'full')][1]}")]
        else:
            sizes = [str(v) for v in TOTALS[(name, "full")]]
        rows.append([name, status, *sizes, where])
    print(_table(rows, left=(0, 1, 4)))
    print("mnist16 sizes: paper subset|full. Get missing files with 'lecun89 data fetch NAME'.")
    return 0


def _cmd_check(args) -> int:
    check_dataset(args.name, args.data_dir, subset=args.subset, subset_seed=args.subset_seed)
    return 0


def _cmd_show(args) -> int:
    ds = load_dataset(args.name, args.data_dir, subset=args.subset, subset_seed=args.subset_seed)
    out = save_grid(ds, args.out, split=args.split, n=args.n)
    print(f"wrote {out}")
    return 0


def _cmd_fetch(args) -> int:
    fetch(args.name, args.data_dir)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``lecun89 data`` and its sub-commands."""
    p = subparsers.add_parser(
        "data", help="list, check, show or fetch the data sets",
        description="Data sets: " + "; ".join(f"{k}: {v}" for k, v in DATASETS.items()) + ".")
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    def common(sp, name=True, subset=True):
        if name:
            sp.add_argument("name", choices=list(DATASETS), metavar="NAME",
                            help="data set: " + ", ".join(DATASETS))
        sp.add_argument("--data-dir", metavar="DIR", default=None,
                        help=f"folder holding usps/ and mnist/ (default: ${ENV_DATA} or ~/.cache/lecun89/data)")
        if subset:
            sp.add_argument("--subset", choices=SUBSETS, default="paper",
                            help="mnist16: 'paper' (7,291/2,007 seeded subset) or 'full' (default: paper)")
            sp.add_argument("--subset-seed", type=_non_negative, default=0, metavar="N",
                            help="mnist16 paper subset seed (default: 0)")

    sp = sub.add_parser("list", help="each data set: found/missing, where, sizes")
    common(sp, name=False, subset=False)
    sp.set_defaults(func=_cmd_list)

    sp = sub.add_parser("check", help="verify checksums, row counts and per-class counts")
    common(sp)
    sp.set_defaults(func=_cmd_check)

    sp = sub.add_parser("show", help="save a PNG grid of sample digits with their labels")
    common(sp)
    sp.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    sp.add_argument("--split", choices=("train", "test"), default="train")
    sp.add_argument("--n", type=_grid_size, default=64, metavar="N",
                    help=f"how many digits, 1-{MAX_SHOW} (default: 64)")
    sp.set_defaults(func=_cmd_show)

    sp = sub.add_parser("fetch", help="download a data set's files (the only command that uses the network)")
    common(sp, subset=False)
    sp.set_defaults(func=_cmd_fetch)
    return p
