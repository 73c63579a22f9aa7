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
import hashlib
import io
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable

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
    cache_key,
    cache_path,
    cache_read,
    cache_write,
    class_counts,
    data_dir_origin,
    fetch_sources,
    make_dataset,
    read_gzip,
    resolve_cache_dir,
    resolve_data_dir,
    sha256_file,
    source_folder,
    validate_arrays,
    verify_source,
    verify_sources,
)
from lecun89.errors import UserError
from lecun89.resample import bilinear_matrix, resize_bilinear  # noqa: F401 (public here too)

DATASETS: dict[str, str] = {
    "usps": "USPS zip-code digits (ZIP data, ESL), 16x16, 7,291/2,007: the paper's data",
    "mnist16": "MNIST bilinearly reduced to 16x16; 'paper' = seeded 7,291/2,007 subset, 'full' = 60,000/10,000",
    "digits": "scikit-learn's embedded 8x8 digits upsampled to 16x16, stratified 1,347/450 split (offline)",
    "usps-mnist": "USPS's 7,291 training digits and 58,000 of MNIST's as lecun89 predict reads them "
                  "(deslanted, box fitted to 16x16); USPS's 2,007 test digits",
}

# ---------------------------------------------------------------------------
# pinned facts (from the data README: checksums, sizes, counts)


_ESL = "https://hastie.su.domains/ElemStatLearn/datasets/"
_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")


def _mnist_file(name: str, size: int, sha: str, md5: str) -> SourceFile:
    return SourceFile(f"mnist/MNIST/raw/{name}", size, sha, md5, tuple(m + name for m in _MNIST_MIRRORS))


SOURCES: dict[str, dict[str, SourceFile]] = {
    "usps": {
        "train": SourceFile("usps/zip.train.gz", 1829071,
                            "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
                            "206835541ea704bcfb4b6eea872678bf", (_ESL + "zip.train.gz",)),
        "test": SourceFile("usps/zip.test.gz", 439208,
                           "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
                           "f9350e940232b89f1dc8f8eacac88625", (_ESL + "zip.test.gz",)),
    },
    "mnist16": {
        "train_images": _mnist_file("train-images-idx3-ubyte.gz", 9912422,
                                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                    "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": _mnist_file("train-labels-idx1-ubyte.gz", 28881,
                                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                    "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": _mnist_file("t10k-images-idx3-ubyte.gz", 1648877,
                                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                   "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": _mnist_file("t10k-labels-idx1-ubyte.gz", 4542,
                                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                   "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "digits": {},
}
SOURCES["usps-mnist"] = {**SOURCES["usps"], **SOURCES["mnist16"]}

# Per-class label counts (digits 0-9).
CLASS_COUNTS: dict[tuple[str, str], dict[str, tuple[int, ...]]] = {
    ("usps", "full"): {
        "train": (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),
        "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
    },
    ("mnist16", "full"): {
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
    # USPS's training digits plus MNIST's less the held-out-writers tuning group;
    # USPS's test digits
    ("usps-mnist", "full"): {
        "train": (6908, 7532, 6489, 6580, 6297, 5809, 6379, 6709, 6188, 6400),
        "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
    },
    # measured with scikit-learn 1.9 (stratified split, random_state=0)
    ("digits", "full"): {
        "train": (133, 136, 133, 137, 136, 136, 136, 134, 131, 135),
        "test": (45, 46, 44, 46, 45, 46, 45, 45, 43, 45),
    },
}
TOTALS: dict[tuple[str, str], tuple[int, int]] = {
    ("usps", "full"): (7291, 2007),
    ("mnist16", "paper"): (7291, 2007),
    ("mnist16", "full"): (60000, 10000),
    ("digits", "full"): (1347, 450),
    ("usps-mnist", "full"): (7291 + 58000, 2007),
}
# sha256 of load_digits() as (uint8 images (1797, 8, 8), int64 labels) bytes
DIGITS_SOURCE_SHA256 = "65e5b4619795efb40c1082f4c350c049e4ad552200d369b6ae99e21eef5e72c5"
DIGITS_TEST_SIZE = 0.25
DIGITS_SPLIT_SEED = 0

# ---------------------------------------------------------------------------
# parsers (format checks; used after the checksum check, testable on their own)

ZIP_FIELDS = 257


def parse_zip_file(path: str | os.PathLike, expected_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ZIP-code data file (gzip text: label then 256 values in [-1, 1]
    per line). Returns ``(x (N, 1, 16, 16) float64, y (N,) int64)``."""
    path = Path(path)
    raw = read_gzip(path, "ZIP text (label + 256 values per line)")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: byte {exc.start} is not ASCII text; expected lines of "
                        f"{ZIP_FIELDS} numbers") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    for lineno, line in lines:
        n = len(line.split())
        if n != ZIP_FIELDS:
            raise UserError(f"{path}: line {lineno} has {n} fields, expected {ZIP_FIELDS} "
                            f"(label + 16x16 pixel values)")
    if not lines:
        raise UserError(f"{path}: no data rows, expected {expected_rows or 'some'} rows of {ZIP_FIELDS} numbers")
    if expected_rows is not None and len(lines) != expected_rows:
        raise UserError(f"{path}: {len(lines)} rows, expected {expected_rows}")
    try:
        table = np.loadtxt(io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        for lineno, line in lines:
            for col, tok in enumerate(line.split(), 1):
                try:
                    float(tok)
                except ValueError:
                    raise UserError(f"{path}: line {lineno}, field {col}: {tok[:20]!r} is not a number; "
                                    f"expected {ZIP_FIELDS} numbers per line") from None
        raise UserError(f"{path}: cannot parse as {ZIP_FIELDS} numbers per line") from None
    if table.shape != (len(lines), ZIP_FIELDS):  # pragma: no cover - guarded above
        raise UserError(f"{path}: parsed shape {table.shape}, expected ({len(lines)}, {ZIP_FIELDS})")
    labels, pixels = table[:, 0], table[:, 1:]
    bad = np.flatnonzero(~((labels >= 0) & (labels <= 9) & (labels == np.round(labels))))
    if bad.size:
        lineno, line = lines[bad[0]]
        raise UserError(f"{path}: line {lineno}: label {line.split()[0][:20]!r} is not an integer 0-9")
    bad_rows = np.flatnonzero(~np.all(np.isfinite(pixels) & (pixels >= -1.0) & (pixels <= 1.0), axis=1))
    if bad_rows.size:
        r = bad_rows[0]
        col = int(np.flatnonzero(~(np.isfinite(pixels[r]) & (np.abs(pixels[r]) <= 1.0)))[0])
        lineno, line = lines[r]
        raise UserError(f"{path}: line {lineno}, field {col + 2}: pixel value {line.split()[col + 1][:20]!r} "
                        f"is not in [-1, 1]")
    x = np.ascontiguousarray(pixels.reshape(-1, *IMAGE_SHAPE))
    y = labels.astype(np.int64)
    return x, y


def read_idx(path: str | os.PathLike, kind: str, expected_count: int | None = None) -> np.ndarray:
    """Read a gzip'd big-endian IDX file: ``kind="images"`` (magic 2051, N x 28 x 28
    uint8) or ``kind="labels"`` (magic 2049, N uint8 in 0-9)."""
    path = Path(path)
    if kind not in ("images", "labels"):
        raise ValueError(kind)
    magic_expected, header = (2051, 16) if kind == "images" else (2049, 8)
    raw = read_gzip(path, f"MNIST IDX {kind} file")
    if len(raw) < header:
        raise UserError(f"{path}: {len(raw)} bytes after gunzip, shorter than the {header}-byte IDX header")
    dims = np.frombuffer(raw, dtype=">u4", count=header // 4)
    magic, count = int(dims[0]), int(dims[1])
    if magic != magic_expected:
        raise UserError(f"{path}: IDX magic number {magic}, expected {magic_expected} (MNIST {kind})")
    if expected_count is not None and count != expected_count:
        raise UserError(f"{path}: header says {count} {kind}, expected {expected_count}")
    if kind == "images" and (int(dims[2]), int(dims[3])) != (28, 28):
        raise UserError(f"{path}: images are {int(dims[2])}x{int(dims[3])}, expected 28x28")
    item = 28 * 28 if kind == "images" else 1
    size = header + count * item
    if len(raw) != size:
        raise UserError(f"{path}: {len(raw)} bytes after gunzip, expected {size} "
                        f"({count} {kind}); the file is truncated or padded")
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if kind == "images":
        return data.reshape(count, 28, 28)
    if data.size and int(data.max()) > 9:
        bad = int(np.flatnonzero(data > 9)[0])
        raise UserError(f"{path}: label #{bad} is {int(data[bad])}, expected 0-9")
    return data


# ---------------------------------------------------------------------------
# builders (source -> arrays)


def mnist16_subset_indices(subset_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper-sized MNIST subset: 7,291 of the 60,000 training and 2,007 of
    the 10,000 test indices, drawn without replacement (train first, then test)
    by ``numpy.random.default_rng(subset_seed)`` and sorted (MNIST file order)."""
    rng = np.random.default_rng(subset_seed)
    train = np.sort(rng.choice(60000, size=7291, replace=False)).astype(np.int64)
    test = np.sort(rng.choice(10000, size=2007, replace=False)).astype(np.int64)
    return train, test


def mnist_raw(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, ...]:
    """MNIST as its files hold it: (train images (60000, 28, 28) uint8, train labels,
    test images (10000, 28, 28) uint8, test labels), each file checked against its
    pinned size and sha256 first. Used where digits are drawn afresh from the
    originals (the held-out-writers benchmark), not through the 16x16 cache."""
    root = resolve_data_dir(data_dir)
    paths = verify_sources("mnist16", SOURCES["mnist16"], root, data_dir)
    return (read_idx(paths["train_images"], "images", 60000),
            read_idx(paths["train_labels"], "labels", 60000).astype(np.int64),
            read_idx(paths["test_images"], "images", 10000),
            read_idx(paths["test_labels"], "labels", 10000).astype(np.int64))


def _indices_sha256(train: np.ndarray, test: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(train, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(test, dtype="<i8").tobytes())
    return h.hexdigest()


def _build_usps(paths: dict[str, Path]) -> tuple[tuple[np.ndarray, ...], dict]:
    n_train, n_test = TOTALS[("usps", "full")]
    x_train, y_train = parse_zip_file(paths["train"], n_train)
    x_test, y_test = parse_zip_file(paths["test"], n_test)
    extra = {"preprocessing": "ZIP values as given (already in [-1, 1]), row-major 16x16"}
    return (x_train, y_train, x_test, y_test), extra


def _mnist_to16(images_u8: np.ndarray) -> np.ndarray:
    x = images_u8.astype(np.float64) / 127.5 - 1.0
    out = resize_bilinear(x, 16)
    np.clip(out, -1.0, 1.0, out=out)  # no-op up to rounding; keeps the [-1, 1] contract exact
    return out.reshape(-1, *IMAGE_SHAPE)


def _build_mnist16(paths: dict[str, Path], subset: str, subset_seed: int):
    xi_tr = read_idx(paths["train_images"], "images", 60000)
    y_tr = read_idx(paths["train_labels"], "labels", 60000)
    xi_te = read_idx(paths["test_images"], "images", 10000)
    y_te = read_idx(paths["test_labels"], "labels", 10000)
    extra: dict[str, Any] = {
        "preprocessing": "x = pixels/127.5 - 1, bilinear 28->16 (align_corners=False, no antialias)",
    }
    if subset == "paper":
        itr, ite = mnist16_subset_indices(subset_seed)
        xi_tr, y_tr, xi_te, y_te = xi_tr[itr], y_tr[itr], xi_te[ite], y_te[ite]
        extra["indices_sha256"] = _indices_sha256(itr, ite)
        extra["subset_order"] = "sorted (MNIST file order)"
    arrays = (_mnist_to16(xi_tr), y_tr.astype(np.int64), _mnist_to16(xi_te), y_te.astype(np.int64))
    return arrays, extra


def _build_usps_mnist(paths: dict[str, Path]):
    """USPS as it is, plus MNIST's training digits other than the held-out-writers
    benchmark's tuning group, each written out at 4x and read by lecun89's own
    reader (lecun89.digits_in, deslanting on): the digits a reader model learns
    from look like what ``lecun89 predict`` gives it."""
    from lecun89.digits_in import READER_VERSION, fit_16
    from lecun89.heldout import TUNE, group_indices, mnist_ink

    (x_tr, y_tr, x_te, y_te), _ = _build_usps(paths)
    images = read_idx(paths["train_images"], "images", 60000)
    labels = read_idx(paths["train_labels"], "labels", 60000).astype(np.int64)
    keep = np.setdiff1d(np.arange(60000), group_indices(TUNE))
    mx = np.stack([fit_16(mnist_ink(images[i]), deslant=True) for i in keep])[:, None]
    arrays = (np.ascontiguousarray(np.concatenate([x_tr, mx])), np.concatenate([y_tr, labels[keep]]), x_te, y_te)
    extra = {"preprocessing": "USPS: ZIP values as given; MNIST: 28x28 -> 112x112 bilinear ink, read by "
                              "lecun89.digits_in.fit_16 (deslanted, longer side 16, centred), appended after "
                              "USPS in MNIST file order, the 2,000 tuning-group indices left out",
             "reader_version": READER_VERSION}
    return arrays, extra


def _digits_source() -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.asarray(d.images)
    if images.shape != (1797, 8, 8) or images.min() < 0 or images.max() > 16:
        raise UserError(f"digits: sklearn load_digits() gave images of shape {images.shape} "
                        f"in [{images.min()}, {images.max()}], expected (1797, 8, 8) in [0, 16]")
    img_u8 = images.astype(np.uint8)
    y = np.asarray(d.target).astype(np.int64)
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(img_u8).tobytes())
    h.update(y.astype("<i8").tobytes())
    return img_u8, y, h.hexdigest()


def _build_digits():
    from sklearn.model_selection import train_test_split

    img, y, source_sha = _digits_source()
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=DIGITS_SPLIT_SEED)
    tr, te = np.sort(tr), np.sort(te)
    x = resize_bilinear(img.astype(np.float64) / 8.0 - 1.0, 16)
    np.clip(x, -1.0, 1.0, out=x)
    x = x.reshape(-1, *IMAGE_SHAPE)
    extra = {
        "preprocessing": "x = v/8 - 1 (0 -> -1, 16 -> +1), bilinear 8->16 (align_corners=False)",
        "split": {"test_size": DIGITS_TEST_SIZE, "stratify": True, "random_state": DIGITS_SPLIT_SEED,
                  "order": "sorted (load_digits order)"},
    }
    return (x[tr], y[tr], x[te], y[te]), extra, source_sha


# ---------------------------------------------------------------------------
# loading


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}", status=2)


def _check_options(name: str, subset: str, subset_seed) -> tuple[str, int | None]:
    """Validate; returns the effective subset ("full" where the data set has no
    subsets) and the seed that matters (None unless mnist16 paper)."""
    _check_name(name)
    if subset not in SUBSETS:
        raise UserError(f"{name}: unknown subset {subset!r}; choose 'paper' or 'full'", status=2)
    if name != "mnist16":
        return "full", None
    if subset == "full":
        return "full", None
    if isinstance(subset_seed, bool) or not isinstance(subset_seed, (int, np.integer)) or subset_seed < 0:
        raise UserError(f"mnist16: subset_seed must be an integer >= 0, got {subset_seed!r}", status=2)
    return "paper", int(subset_seed)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, subset: str = "paper",
                 subset_seed: int = 0, download: bool = False, cache: bool = True) -> Dataset:
    """Load a data set by name (see :data:`DATASETS`).

    ``subset`` matters only for ``mnist16`` ("paper": the seeded 7,291/2,007
    subset; "full": 60,000/10,000); for usps and digits "paper" and "full" are
    the same data. ``download=True`` first fetches missing or bad source files
    (network). ``cache=False`` neither reads nor writes the array cache.
    Raises :class:`UserError` for missing, corrupted or unexpected files.
    """
    eff_subset, seed = _check_options(name, subset, subset_seed)
    root = resolve_data_dir(data_dir)
    if download and SOURCES[name]:
        fetch(name, data_dir, log=lambda msg: print(msg, file=sys.stderr))

    if name == "digits":
        sklearn_version = _sklearn_version()
        sources_for_key = {"sklearn.datasets.load_digits": f"scikit-learn {sklearn_version}"}
        paths: dict[str, Path] = {}
    else:
        paths = verify_sources(name, SOURCES[name], root, data_dir)
        sources_for_key = {spec.rel: spec.sha256 for spec in SOURCES[name].values()}
        if name == "usps-mnist":
            from lecun89.digits_in import READER_VERSION

            sources_for_key["lecun89.digits_in"] = READER_VERSION

    key = cache_key(name, eff_subset, seed, sources_for_key)
    cache_dir = resolve_cache_dir() if cache else None
    cpath = cache_path(cache_dir, name, eff_subset, seed, key) if cache_dir is not None else None
    if cpath is not None and cpath.is_file():
        ds = cache_read(cpath, key, name, TOTALS[(name, eff_subset)])
        if ds is not None:
            return _with_requested_subset(ds, subset)

    ds = _build(name, eff_subset, seed, paths)
    if cpath is not None:
        cache_write(cpath, key, ds)
    return _with_requested_subset(ds, subset)


def _with_requested_subset(ds: Dataset, subset: str) -> Dataset:
    if ds.meta.get("subset") == subset:
        return ds
    return Dataset(ds.name, ds.x_train, ds.y_train, ds.x_test, ds.y_test, meta={**ds.meta, "subset": subset})


def _sklearn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover
        raise UserError("digits: scikit-learn is not installed; pip install scikit-learn") from None


def _build(name: str, subset: str, seed: int | None, paths: dict[str, Path]) -> Dataset:
    meta: dict[str, Any] = {"name": name, "description": DATASETS[name], "subset": subset}
    if name == "usps":
        arrays, extra = _build_usps(paths)
        meta["sources"] = {s.rel: s.sha256 for s in SOURCES[name].values()}
    elif name == "mnist16":
        arrays, extra = _build_mnist16(paths, subset, seed if seed is not None else 0)
        meta["sources"] = {s.rel: s.sha256 for s in SOURCES[name].values()}
        if subset == "paper":
            meta["subset_seed"] = seed
    elif name == "usps-mnist":
        arrays, extra = _build_usps_mnist(paths)
        meta["sources"] = {s.rel: s.sha256 for s in SOURCES[name].values()}
    else:
        arrays, extra, source_sha = _build_digits()
        meta["sources"] = {"sklearn.datasets.load_digits": source_sha}
        meta["sklearn_version"] = _sklearn_version()
    meta.update(extra)
    try:
        validate_arrays(arrays, TOTALS[(name, subset)])
    except ValueError as exc:
        raise UserError(f"{name}: unexpected arrays after reading the sources ({exc})") from None
    pinned = CLASS_COUNTS.get((name, subset))
    if pinned is not None and name != "digits":
        for split, y in (("train", arrays[1]), ("test", arrays[3])):
            if tuple(class_counts(y)) != pinned[split]:
                raise UserError(f"{name}: {split} per-class counts {class_counts(y)}, expected {list(pinned[split])}")
    meta["counts"] = {"train": class_counts(arrays[1]), "test": class_counts(arrays[3])}
    meta["n_train"], meta["n_test"] = int(len(arrays[1])), int(len(arrays[3]))
    meta["preprocess_version"] = PREPROCESS_VERSION
    meta["checksum"] = arrays_checksum(*arrays)
    return make_dataset(name, arrays, meta)


# ---------------------------------------------------------------------------
# downloading (explicit only)


def fetch(name: str, data_dir: str | os.PathLike | None = None, *,
          log: Callable[[str], None] = print) -> list[Path]:
    """Download the source files of ``name`` into the data dir (skipping files
    already there with the right checksum). Returns their paths."""
    _check_name(name)
    return fetch_sources(name, SOURCES[name], data_dir, log=log)


# ---------------------------------------------------------------------------
# status and checks (used by the CLI)


def source_status(name: str, data_dir=None) -> tuple[str, str]:
    """("ok" | "missing" | "bad" | "builtin", location or reason) of a data set's files."""
    _check_name(name)
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
    eff_subset, seed = _check_options(name, subset, subset_seed)
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
