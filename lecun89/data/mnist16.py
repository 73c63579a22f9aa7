"""``mnist16``: MNIST reduced to 16x16, as the 2022 PyTorch replication did.

The raw MNIST IDX ``.gz`` files in ``<data-dir>/mnist/MNIST/raw/``,
``x = pixels / 127.5 - 1`` then bilinearly resized 28 -> 16 exactly like
``torch.nn.functional.interpolate(x, (16, 16), mode="bilinear")``
(align_corners=False, no antialiasing). ``subset="paper"``: 7,291 train /
2,007 test digits drawn without replacement by
``numpy.random.default_rng(subset_seed)`` and kept in MNIST's own file order
(sorted indices); ``subset="full"``: all 60,000 / 10,000.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from lecun89.data import usps
from lecun89.data._base import IMAGE_SHAPE, SourceFile, read_gzip, resolve_data_dir, source_sums, verify_sources
from lecun89.errors import UserError
from lecun89.resample import resize_bilinear

_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")


def _mnist_file(name: str, size: int, sha: str, md5: str) -> SourceFile:
    return SourceFile(f"mnist/MNIST/raw/{name}", size, sha, md5, tuple(m + name for m in _MNIST_MIRRORS))


SOURCES: dict[str, SourceFile] = {
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
}
# Per-class label counts (digits 0-9) and (train, test) totals, by subset.
CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "full": {
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
}
# MNIST's own sizes (60,000 / 10,000), and the paper-sized subset's: USPS's.
N_TRAIN, N_TEST = sum(CLASS_COUNTS["full"]["train"]), sum(CLASS_COUNTS["full"]["test"])
TOTALS: dict[str, tuple[int, int]] = {"paper": usps.TOTALS["full"], "full": (N_TRAIN, N_TEST)}

# ---------------------------------------------------------------------------
# parser (format checks; used after the checksum check, testable on its own)


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
# builder (source -> arrays)


def mnist16_subset_indices(subset_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper-sized MNIST subset: 7,291 of the 60,000 training and 2,007 of
    the 10,000 test indices, drawn without replacement (train first, then test)
    by ``numpy.random.default_rng(subset_seed)`` and sorted (MNIST file order)."""
    rng = np.random.default_rng(subset_seed)
    n_train, n_test = TOTALS["paper"]
    train = np.sort(rng.choice(N_TRAIN, size=n_train, replace=False)).astype(np.int64)
    test = np.sort(rng.choice(N_TEST, size=n_test, replace=False)).astype(np.int64)
    return train, test


def mnist_raw(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, ...]:
    """MNIST as its files hold it: (train images (60000, 28, 28) uint8, train labels,
    test images (10000, 28, 28) uint8, test labels), each file checked against its
    pinned size and sha256 first. Used where digits are drawn afresh from the
    originals (the held-out-writers benchmark), not through the 16x16 cache."""
    root = resolve_data_dir(data_dir)
    paths = verify_sources("mnist16", SOURCES, root, data_dir)
    return (read_idx(paths["train_images"], "images", N_TRAIN),
            read_idx(paths["train_labels"], "labels", N_TRAIN).astype(np.int64),
            read_idx(paths["test_images"], "images", N_TEST),
            read_idx(paths["test_labels"], "labels", N_TEST).astype(np.int64))


def indices_sha256(train: np.ndarray, test: np.ndarray) -> str:
    """sha256 of the subset's train then test indices (little-endian int64)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(train, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(test, dtype="<i8").tobytes())
    return h.hexdigest()


def _to16(images_u8: np.ndarray) -> np.ndarray:
    x = images_u8.astype(np.float64) / 127.5 - 1.0
    out = resize_bilinear(x, 16)
    np.clip(out, -1.0, 1.0, out=out)  # no-op up to rounding; keeps the [-1, 1] contract exact
    return out.reshape(-1, *IMAGE_SHAPE)


def key_sources() -> dict[str, str]:
    """What the cached arrays depend on besides the subset and the preprocessing version."""
    return source_sums(SOURCES)


def build(paths: dict[str, Path], subset: str, seed: int | None) -> tuple[tuple[np.ndarray, ...], dict]:
    """The arrays of ``subset`` ("paper": seeded by ``seed``; "full") and their meta."""
    subset_seed = seed if seed is not None else 0
    meta: dict[str, Any] = {"sources": source_sums(SOURCES)}
    if subset == "paper":
        meta["subset_seed"] = seed
    xi_tr = read_idx(paths["train_images"], "images", N_TRAIN)
    y_tr = read_idx(paths["train_labels"], "labels", N_TRAIN)
    xi_te = read_idx(paths["test_images"], "images", N_TEST)
    y_te = read_idx(paths["test_labels"], "labels", N_TEST)
    meta["preprocessing"] = "x = pixels/127.5 - 1, bilinear 28->16 (align_corners=False, no antialias)"
    if subset == "paper":
        itr, ite = mnist16_subset_indices(subset_seed)
        xi_tr, y_tr, xi_te, y_te = xi_tr[itr], y_tr[itr], xi_te[ite], y_te[ite]
        meta["indices_sha256"] = indices_sha256(itr, ite)
        meta["subset_order"] = "sorted (MNIST file order)"
    arrays = (_to16(xi_tr), y_tr.astype(np.int64), _to16(xi_te), y_te.astype(np.int64))
    return arrays, meta
