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
from lecun89.data.check import check_dataset, list_datasets, save_grid, source_status  # noqa: F401
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
from lecun89.resample import bilinear_matrix, resize_bilinear  # noqa: F401 (public here too)

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
    list_datasets(args.data_dir)
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
