"""``usps-mnist-junk``: ``usps-mnist`` with a none-of-the-above set, the
``reader`` model's data.

``usps-mnist``'s training digits followed by :data:`N_JUNK` pictures that hold
no digit (:func:`lecun89.reader.junk.make_junk`, seed :data:`JUNK_SEED`),
labelled :data:`lecun89.metrics.NONE`; their digits cut wrong are cut from the
same MNIST training digits usps-mnist holds (never the held-out-writers tuning
group, never a test digit). USPS's test digits, no junk. Built from the cached
``usps-mnist`` (:data:`BASE`, which the registry loads first).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lecun89.data import usps_mnist
from lecun89.data._base import SourceFile

# The data set this one extends: the registry loads it (from its cache) and passes it to build().
BASE = "usps-mnist"
N_JUNK = 20_000
JUNK_SEED = 30  # the number: fixed before any junk was drawn

SOURCES: dict[str, SourceFile] = usps_mnist.SOURCES
# Digits only (junk has no class); the totals count the junk in the training split.
CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = usps_mnist.CLASS_COUNTS
TOTALS: dict[str, tuple[int, int]] = {s: (n + N_JUNK, m) for s, (n, m) in usps_mnist.TOTALS.items()}


def key_sources() -> dict[str, str]:
    """usps-mnist's (files, reader version) and the junk's recipe version."""
    from lecun89.reader.junk import JUNK_VERSION

    return {**usps_mnist.key_sources(), "lecun89.reader.junk": f"{JUNK_VERSION}:{N_JUNK}:{JUNK_SEED}"}


def build(paths: dict[str, Path], subset: str, seed: int | None, base=None) -> tuple[tuple[np.ndarray, ...], dict]:
    """usps-mnist (``base``, the loaded data set) with :data:`N_JUNK` junk pictures appended to its training split."""
    from lecun89.data import mnist16
    from lecun89.metrics import NONE
    from lecun89.reader.heldout import TUNE, group_indices
    from lecun89.reader.junk import JUNK_VERSION, MIX, make_junk

    images = mnist16.read_idx(paths["train_images"], "images", mnist16.N_TRAIN)
    labels = mnist16.read_idx(paths["train_labels"], "labels", mnist16.N_TRAIN).astype(np.int64)
    keep = np.setdiff1d(np.arange(mnist16.N_TRAIN), group_indices(TUNE))
    junk, kinds = make_junk(N_JUNK, JUNK_SEED, images[keep], labels[keep])
    x_tr = np.ascontiguousarray(np.concatenate([base.x_train, junk[:, None]]))
    y_tr = np.concatenate([base.y_train, np.full(N_JUNK, NONE, dtype=np.int64)])
    meta = {**{k: v for k, v in base.meta.items() if k in ("sources", "preprocessing", "reader_version")},
            "base": BASE, "base_checksum": base.meta.get("checksum"),
            "junk": {"n": N_JUNK, "seed": JUNK_SEED, "version": JUNK_VERSION, "mix": MIX,
                     "kinds": {k: int(np.count_nonzero(kinds == k)) for k in MIX},
                     "label": NONE, "digits_cut_from": "MNIST training digits less the tuning group"}}
    return (x_tr, y_tr, base.x_test, base.y_test), meta
