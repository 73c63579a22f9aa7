"""``usps-mnist``: the ``reader`` model's data, USPS with MNIST as ``lecun89
predict`` reads it.

USPS's training digits followed by MNIST's training digits less the
held-out-writers tuning group (:data:`lecun89.reader.heldout.TUNE`), each MNIST digit
scaled 4x and read by :func:`lecun89.reader.fit_16` (what ``lecun89
predict`` gives the network: deslanted, box fitted to 16x16); USPS's test
digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lecun89.data import mnist16, usps
from lecun89.data._base import SourceFile, source_sums

SOURCES: dict[str, SourceFile] = {**usps.SOURCES, **mnist16.SOURCES}
# Per-class label counts (digits 0-9) and (train, test) totals, by subset:
# USPS's training digits plus MNIST's less the held-out-writers tuning group;
# USPS's test digits.
CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "full": {
        "train": (6908, 7532, 6489, 6580, 6297, 5809, 6379, 6709, 6188, 6400),
        "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
    },
}
TOTALS: dict[str, tuple[int, int]] = {s: (sum(c["train"]), sum(c["test"])) for s, c in CLASS_COUNTS.items()}


def key_sources() -> dict[str, str]:
    """What the cached arrays depend on besides the preprocessing version: the
    files and the version of lecun89's reader."""
    from lecun89.reader.pipeline import READER_VERSION

    return {**source_sums(SOURCES), "lecun89.reader": READER_VERSION}


def build(paths: dict[str, Path], subset: str, seed: int | None) -> tuple[tuple[np.ndarray, ...], dict]:
    """USPS as it is, plus MNIST's training digits other than the held-out-writers
    benchmark's tuning group, each written out at 4x and read by lecun89's own
    reader (lecun89.reader, deslanting on): the digits a reader model learns
    from look like what ``lecun89 predict`` gives it. One subset, "full"."""
    from lecun89.reader.fit import fit_16
    from lecun89.reader.pipeline import READER_VERSION
    from lecun89.reader.heldout import TUNE, group_indices, mnist_ink

    x_tr, y_tr, x_te, y_te = usps.read(paths)
    images = mnist16.read_idx(paths["train_images"], "images", mnist16.N_TRAIN)
    labels = mnist16.read_idx(paths["train_labels"], "labels", mnist16.N_TRAIN).astype(np.int64)
    keep = np.setdiff1d(np.arange(mnist16.N_TRAIN), group_indices(TUNE))
    mx = np.stack([fit_16(mnist_ink(images[i]), deslant=True) for i in keep])[:, None]
    arrays = (np.ascontiguousarray(np.concatenate([x_tr, mx])), np.concatenate([y_tr, labels[keep]]), x_te, y_te)
    meta = {"sources": source_sums(SOURCES),
            "preprocessing": "USPS: ZIP values as given; MNIST: 28x28 -> 112x112 bilinear ink, read by "
                             "lecun89.reader.fit_16 (deslanted, longer side 16, centred), appended after "
                             "USPS in MNIST file order, the 2,000 tuning-group indices left out",
            "reader_version": READER_VERSION}
    return arrays, meta
