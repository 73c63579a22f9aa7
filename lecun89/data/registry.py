"""The data sets by name: :data:`DATASETS` (the one list of their names), the
module that owns each one's files, pinned numbers and builder, the pinned
tables gathered from those modules, and :func:`load_dataset` / :func:`fetch`.

A set module (usps, mnist16, usps_mnist, digits) provides ``SOURCES`` (its
files by role, :class:`SourceFile`), ``CLASS_COUNTS`` and ``TOTALS`` (by
subset), ``key_sources()`` (what its cached arrays depend on) and
``build(paths, subset, seed) -> (arrays, meta)``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lecun89.data import digits, mnist16, usps, usps_mnist, usps_mnist_junk
from lecun89.data._base import (
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
    fetch_sources,
    make_dataset,
    resolve_cache_dir,
    resolve_data_dir,
    validate_arrays,
    verify_sources,
)
from lecun89.errors import UserError

# The data sets, in the order `lecun89 data list` shows them: name -> description.
DATASETS: dict[str, str] = {
    "usps": "USPS zip-code digits (ZIP data, ESL), 16x16, 7,291/2,007: the paper's data",
    "mnist16": "MNIST bilinearly reduced to 16x16; 'paper' = seeded 7,291/2,007 subset, 'full' = 60,000/10,000",
    "digits": "scikit-learn's embedded 8x8 digits upsampled to 16x16, stratified 1,347/450 split (offline)",
    "usps-mnist": "USPS's 7,291 training digits and 58,000 of MNIST's as lecun89 predict reads them "
                  "(deslanted, box fitted to 16x16); USPS's 2,007 test digits",
    "usps-mnist-junk": "usps-mnist with 20,000 pictures that hold no digit (noise, blank paper, scribbles, signs, "
                       "digits cut wrong; label -1, none of the ten) in its training split; USPS's 2,007 test digits",
}
# The module that owns each data set's files, pinned numbers and builder.
MODULES = {"usps": usps, "mnist16": mnist16, "digits": digits, "usps-mnist": usps_mnist,
           "usps-mnist-junk": usps_mnist_junk}

SOURCES: dict[str, dict[str, SourceFile]] = {name: m.SOURCES for name, m in MODULES.items()}
# Per-class label counts (digits 0-9) and (train, test) totals, by (name, subset).
CLASS_COUNTS: dict[tuple[str, str], dict[str, tuple[int, ...]]] = {
    (name, subset): c for name, m in MODULES.items() for subset, c in m.CLASS_COUNTS.items()}
TOTALS: dict[tuple[str, str], tuple[int, int]] = {
    (name, subset): t for name, m in MODULES.items() for subset, t in m.TOTALS.items()}


def check_name(name: str) -> None:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}", status=2)


def check_options(name: str, subset: str, subset_seed) -> tuple[str, int | None]:
    """Validate; returns the effective subset ("full" where the data set has no
    subsets) and the seed that matters (None unless mnist16 paper)."""
    check_name(name)
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
    eff_subset, seed = check_options(name, subset, subset_seed)
    root = resolve_data_dir(data_dir)
    if download and SOURCES[name]:
        fetch(name, data_dir, log=lambda msg: print(msg, file=sys.stderr))

    module = MODULES[name]
    paths: dict[str, Path] = verify_sources(name, SOURCES[name], root, data_dir) if SOURCES[name] else {}
    key = cache_key(name, eff_subset, seed, module.key_sources())
    cache_dir = resolve_cache_dir() if cache else None
    cpath = cache_path(cache_dir, name, eff_subset, seed, key) if cache_dir is not None else None
    if cpath is not None and cpath.is_file():
        ds = cache_read(cpath, key, name, TOTALS[(name, eff_subset)])
        if ds is not None:
            return _with_requested_subset(ds, subset)

    # A set that extends another (its module's BASE) is built from that one, loaded (and cached) first.
    base = load_dataset(module.BASE, data_dir, cache=cache) if getattr(module, "BASE", None) else None
    ds = _build(name, eff_subset, seed, paths, base)
    if cpath is not None:
        cache_write(cpath, key, ds)
    return _with_requested_subset(ds, subset)


def _with_requested_subset(ds: Dataset, subset: str) -> Dataset:
    if ds.meta.get("subset") == subset:
        return ds
    return Dataset(ds.name, ds.x_train, ds.y_train, ds.x_test, ds.y_test, meta={**ds.meta, "subset": subset})


def _build(name: str, subset: str, seed: int | None, paths: dict[str, Path], base: Dataset | None = None) -> Dataset:
    meta: dict[str, Any] = {"name": name, "description": DATASETS[name], "subset": subset}
    build = MODULES[name].build
    arrays, part = build(paths, subset, seed) if base is None else build(paths, subset, seed, base)
    meta.update(part)
    try:
        validate_arrays(arrays, TOTALS[(name, subset)])
    except ValueError as exc:
        raise UserError(f"{name}: unexpected arrays after reading the sources ({exc})") from None
    pinned = CLASS_COUNTS.get((name, subset))
    # digits: the split is scikit-learn's; check_dataset compares its counts
    if pinned is not None and name != "digits":
        for split, y in (("train", arrays[1]), ("test", arrays[3])):
            if tuple(class_counts(y)) != pinned[split]:
                raise UserError(f"{name}: {split} per-class counts {class_counts(y)}, expected {list(pinned[split])}")
    meta["counts"] = {"train": class_counts(arrays[1]), "test": class_counts(arrays[3])}
    meta["n_train"], meta["n_test"] = int(len(arrays[1])), int(len(arrays[3]))
    meta["preprocess_version"] = PREPROCESS_VERSION
    meta["checksum"] = arrays_checksum(*arrays)
    return make_dataset(name, arrays, meta)


def fetch(name: str, data_dir: str | os.PathLike | None = None, *,
          log: Callable[[str], None] = print) -> list[Path]:
    """Download the source files of ``name`` into the data dir (skipping files
    already there with the right checksum). Returns their paths."""
    check_name(name)
    return fetch_sources(name, SOURCES[name], data_dir, log=log)
