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
  less the held-out-writers tuning group (:data:`lecun89.reader.heldout.TUNE`), each
  MNIST digit scaled 4x and read by :func:`lecun89.reader.fit_16` (what
  ``lecun89 predict`` gives the network: deslanted, box fitted to 16x16);
  USPS's test digits. The ``reader`` model's data before issue 30.
- ``usps-mnist-junk``: ``usps-mnist`` with 20,000 pictures that hold no digit
  appended to its training split (:mod:`lecun89.reader.junk`, label -1:
  :data:`lecun89.metrics.NONE`, none of the ten); USPS's test digits. The
  ``reader`` model's data (:mod:`~lecun89.data.usps_mnist_junk`).
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

The package: :mod:`~lecun89.data._base` (what every set shares: the contract,
directories, source checks, cache, download), one module per data set
(:mod:`~lecun89.data.usps`, :mod:`~lecun89.data.mnist16`,
:mod:`~lecun89.data.usps_mnist`, :mod:`~lecun89.data.digits`: files, pinned
numbers, parser and builder), :mod:`~lecun89.data.registry` (the names in
:data:`DATASETS`, :func:`load_dataset`, :func:`fetch`),
:mod:`~lecun89.data.validation` (a stratified validation split carved from the
training digits, any data set) and :mod:`~lecun89.data.check` (what
``lecun89 data`` prints). Everything public is
importable from here.
"""

from __future__ import annotations

from lecun89.data._base import (
    CACHE_DISABLED,
    ENV_CACHE,
    ENV_DATA,
    IMAGE_SHAPE,
    PREPROCESS_VERSION,
    SUBSETS,
    Dataset,
    SourceFile,
    arrays_checksum,
    resolve_cache_dir,
    resolve_data_dir,
    sha256_file,
)
from lecun89.data.check import check_dataset, list_datasets, save_grid, source_status
from lecun89.data.digits import DIGITS_SOURCE_SHA256, DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE
from lecun89.data.mnist16 import mnist16_subset_indices, mnist_raw, read_idx
from lecun89.data.registry import CLASS_COUNTS, DATASETS, SOURCES, TOTALS, fetch, load_dataset
from lecun89.data.usps import ZIP_FIELDS, parse_zip_file
from lecun89.data.validation import check_validation, indices_sha256, validation_split, with_validation
from lecun89.resample import bilinear_matrix, resize_bilinear  # public here too

__all__ = [
    # the data sets and loading them
    "DATASETS", "SUBSETS", "Dataset", "load_dataset", "fetch", "mnist_raw",
    # a validation split carved from the training digits
    "validation_split", "with_validation", "check_validation", "indices_sha256",
    # pinned facts
    "PREPROCESS_VERSION", "IMAGE_SHAPE", "SourceFile", "SOURCES", "CLASS_COUNTS", "TOTALS",
    "DIGITS_SOURCE_SHA256", "DIGITS_TEST_SIZE", "DIGITS_SPLIT_SEED", "ZIP_FIELDS",
    # directories and the cache
    "ENV_DATA", "ENV_CACHE", "CACHE_DISABLED", "resolve_data_dir", "resolve_cache_dir",
    # files, parsers, preprocessing
    "sha256_file", "arrays_checksum", "parse_zip_file", "read_idx", "mnist16_subset_indices",
    "bilinear_matrix", "resize_bilinear",
    # checking and showing
    "source_status", "check_dataset", "list_datasets", "save_grid",
]
