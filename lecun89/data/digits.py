"""``digits``: scikit-learn's embedded 8x8 digits upsampled to 16x16, the
default data set (no files, no network).

``sklearn.datasets.load_digits()`` (1,797 8x8 images, 0-16), scaled
``x / 8 - 1`` and bilinearly upsampled 8 -> 16 with the same resize as
mnist16; split by ``train_test_split(test_size=0.25, stratify=y,
random_state=0)`` into 1,347 / 450, both kept in load_digits' order.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from lecun89.data._base import IMAGE_SHAPE, SourceFile
from lecun89.errors import UserError
from lecun89.resample import resize_bilinear

SOURCES: dict[str, SourceFile] = {}  # embedded in scikit-learn
# Per-class label counts (digits 0-9) and (train, test) totals, by subset:
# measured with scikit-learn 1.9 (stratified split, random_state=0)
CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "full": {
        "train": (133, 136, 133, 137, 136, 136, 136, 134, 131, 135),
        "test": (45, 46, 44, 46, 45, 46, 45, 45, 43, 45),
    },
}
TOTALS: dict[str, tuple[int, int]] = {"full": (1347, 450)}
# sha256 of load_digits() as (uint8 images (1797, 8, 8), int64 labels) bytes
DIGITS_SOURCE_SHA256 = "65e5b4619795efb40c1082f4c350c049e4ad552200d369b6ae99e21eef5e72c5"
DIGITS_TEST_SIZE = 0.25
DIGITS_SPLIT_SEED = 0


def sklearn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover
        raise UserError("digits: scikit-learn is not installed; pip install scikit-learn") from None


def digits_source() -> tuple[np.ndarray, np.ndarray, str]:
    """load_digits() as (uint8 images (1797, 8, 8), int64 labels, sha256 of their bytes)."""
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


def key_sources() -> dict[str, str]:
    """What the cached arrays depend on besides the preprocessing version: scikit-learn's version."""
    return {"sklearn.datasets.load_digits": f"scikit-learn {sklearn_version()}"}


def build(paths: dict[str, Path], subset: str, seed: int | None) -> tuple[tuple[np.ndarray, ...], dict]:
    """The arrays and their meta (load_digits' sha256, scikit-learn's version, the
    preprocessing and split); ``paths`` is empty, one subset, "full"."""
    from sklearn.model_selection import train_test_split

    img, y, source_sha = digits_source()
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=DIGITS_SPLIT_SEED)
    tr, te = np.sort(tr), np.sort(te)
    x = resize_bilinear(img.astype(np.float64) / 8.0 - 1.0, 16)
    np.clip(x, -1.0, 1.0, out=x)
    x = x.reshape(-1, *IMAGE_SHAPE)
    meta = {
        "sources": {"sklearn.datasets.load_digits": source_sha},
        "sklearn_version": sklearn_version(),
        "preprocessing": "x = v/8 - 1 (0 -> -1, 16 -> +1), bilinear 8->16 (align_corners=False)",
        "split": {"test_size": DIGITS_TEST_SIZE, "stratify": True, "random_state": DIGITS_SPLIT_SEED,
                  "order": "sorted (load_digits order)"},
    }
    return (x[tr], y[tr], x[te], y[te]), meta
