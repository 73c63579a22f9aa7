"""A validation split carved from a data set's training digits (the config's
``data.validation`` and ``data.validation_seed``): digits held out of training
to choose settings on without looking at the test set.

The split is stratified by class and depends only on the training labels, the
number held out and its own seed (never a run's seed, so every seed of a study
holds out the same digits): class k gives ``n * c_k / N`` digits rounded down,
and the digits left over go to the classes with the largest remainders (ties:
the lower digit first); within each class, which digits go is drawn by
``numpy.random.default_rng(seed)``, class 0 first. The held-out digits are
removed from training; both index lists are sorted, so both parts keep the
data set's order.
"""

from __future__ import annotations

import hashlib

import numpy as np

from lecun89.data._base import Dataset, class_counts
from lecun89.errors import UserError

# Digits that must stay in training whatever is held out.
MIN_TRAIN = 100


def check_validation(n: int, n_train: int, name: str = "the data set") -> None:
    """A one-line UserError (exit status 2) unless ``0 <= n <= n_train - MIN_TRAIN``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise UserError(f"data.validation: must be an integer >= 0 (digits held out of training), got {n!r}",
                        status=2)
    if n > n_train - MIN_TRAIN:
        raise UserError(f"data.validation: {n:,} is too many for {name}'s {n_train:,} training digits: "
                        f"at most {max(0, n_train - MIN_TRAIN):,} (at least {MIN_TRAIN} must stay in training)",
                        status=2)


def class_quota(counts, n: int) -> np.ndarray:
    """How many of each class to hold out: ``n * c_k / N`` rounded down, then
    one more to the classes with the largest remainders until there are ``n``."""
    c = np.asarray(counts, dtype=np.int64)
    exact = n * c / c.sum()
    quota = np.floor(exact).astype(np.int64)
    left = n - int(quota.sum())
    order = np.argsort(-(exact - quota), kind="stable")  # largest remainder first, lower class on ties
    quota[order[:left]] += 1
    return quota


def validation_split(y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: sorted, disjoint indices into ``y`` covering it,
    ``len(val_idx) == n``, stratified by class (see the module docstring)."""
    y = np.asarray(y)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= len(y):
        raise ValueError(f"validation_split: n must be an integer in [0, {len(y)}], got {n!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    quota = class_quota([np.count_nonzero(y == k) for k in classes], n)
    picked = [rng.permutation(np.flatnonzero(y == k))[:q] for k, q in zip(classes, quota, strict=True)]
    val = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
    keep = np.ones(len(y), dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep).astype(np.int64), val.astype(np.int64)


def indices_sha256(idx: np.ndarray) -> str:
    """sha256 of the indices as little-endian int64: two runs with the same hash hold out the same digits."""
    return hashlib.sha256(np.ascontiguousarray(idx, dtype="<i8").tobytes()).hexdigest()


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def with_validation(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """``ds`` with ``n`` training digits held out as ``x_val``/``y_val`` (``ds`` itself when
    ``n == 0`` or it already holds this split). ``meta["validation"]`` records the split:
    ``n``, ``seed``, ``indices_sha256`` (of the held-out indices into the training set)
    and the per-class counts held out."""
    have = ds.meta.get("validation")
    if have is not None:
        if (have.get("n"), have.get("seed")) == (n, seed):
            return ds
        raise UserError(f"{ds.name}: holds a validation split of {have.get('n')} (seed {have.get('seed')}), "
                        f"asked for {n} (seed {seed}); pass the whole data set")
    if n == 0:
        return ds
    check_validation(n, len(ds.y_train), ds.name)
    tr, va = validation_split(ds.y_train, n, seed)
    meta = {**ds.meta, "validation": {"n": int(n), "seed": int(seed), "indices_sha256": indices_sha256(va),
                                      "counts": class_counts(ds.y_train[va]), "n_train_left": int(len(tr))}}
    return Dataset(ds.name, _frozen(ds.x_train[tr]), _frozen(ds.y_train[tr]), ds.x_test, ds.y_test, meta=meta,
                   x_val=_frozen(ds.x_train[va]), y_val=_frozen(ds.y_train[va]))
