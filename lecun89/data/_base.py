"""What every data set shares: the pinned facts of the :class:`Dataset`
contract, the data and cache directories, checking source files against their
pinned sha256, the array cache and downloading (explicit only).

Nothing here knows a particular data set: the set modules (usps, mnist16,
usps_mnist, digits) own their files and numbers, :mod:`lecun89.data.registry`
the list of them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from lecun89.atomic import save_npz
from lecun89.errors import UserError

# Bump when any preprocessing changes: it is part of every cache key.
PREPROCESS_VERSION = "lecun89-data-1"

SUBSETS = ("paper", "full")
IMAGE_SHAPE = (1, 16, 16)
ENV_DATA = "LECUN89_DATA"
ENV_CACHE = "LECUN89_CACHE"
CACHE_DISABLED = ("0", "off", "none", "no", "false")

# ---------------------------------------------------------------------------
# pinned facts (from the data README: checksums, sizes, counts)


@dataclass(frozen=True)
class SourceFile:
    rel: str            # path relative to the data dir, "/"-separated
    size: int           # bytes
    sha256: str
    md5: str            # what torchvision checks
    urls: tuple[str, ...]


# ---------------------------------------------------------------------------
# the data set


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images ``(N, 1, 16, 16)`` float64 in [-1, 1] (background -1), labels int64.

    The arrays are C-contiguous and read-only (copy before changing them in
    place); ``meta["checksum"]`` is the sha256 of their bytes. ``x_val``/``y_val``:
    digits held out of the training set for validation (None unless a split was
    carved, see :mod:`lecun89.data.validation`; the checksum is then still the
    whole data set's and ``meta["validation"]`` describes the split).
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    meta: dict = field(repr=False)
    x_val: np.ndarray | None = field(default=None, repr=False)
    y_val: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        val = "" if self.y_val is None else f", validation={len(self.y_val)}"
        return (f"Dataset({self.name!r}, train={len(self.y_train)}{val}, test={len(self.y_test)}, "
                f"checksum={self.meta.get('checksum', '')[:12]})")


def arrays_checksum(x_train, y_train, x_test, y_test) -> str:
    """sha256 hex of the four arrays' bytes (float64 / int64, C order), in that order."""
    h = hashlib.sha256()
    for a, dt in ((x_train, np.float64), (y_train, np.int64), (x_test, np.float64), (y_test, np.int64)):
        h.update(np.ascontiguousarray(a, dtype=dt).tobytes())
    return h.hexdigest()


def make_dataset(name: str, arrays, meta: dict) -> Dataset:
    """A :class:`Dataset` of read-only, C-contiguous copies (or views) of ``arrays``."""
    frozen = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        a.setflags(write=False)
        frozen.append(a)
    return Dataset(name, *frozen, meta=meta)


def class_counts(y: np.ndarray) -> list[int]:
    """Per-class label counts, digits 0-9 (a picture with no digit, label -1, is none of them)."""
    y = np.asarray(y)
    return np.bincount(y[y >= 0], minlength=10)[:10].tolist()


def validate_arrays(arrays, totals: tuple[int, int]) -> None:
    """Raise ValueError unless the arrays have the Dataset contract's types,
    shapes and the expected ``(n_train, n_test)`` totals."""
    x_train, y_train, x_test, y_test = arrays
    n_train, n_test = totals
    for x, y, n in ((x_train, y_train, n_train), (x_test, y_test, n_test)):
        if x.dtype != np.float64 or x.shape != (n, *IMAGE_SHAPE) or not x.flags.c_contiguous:
            raise ValueError(f"images {x.dtype} {x.shape}")
        if y.dtype != np.int64 or y.shape != (n,):
            raise ValueError(f"labels {y.dtype} {y.shape}")


# ---------------------------------------------------------------------------
# directories


def xdg_cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".cache"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$LECUN89_DATA``, else
    ``$XDG_CACHE_HOME/lecun89/data`` (``~/.cache/lecun89/data``). Creates nothing."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA, "")
    if env:
        return Path(env).expanduser()
    return xdg_cache_home() / "lecun89" / "data"


def data_dir_origin(data_dir) -> str:
    """Where :func:`resolve_data_dir` takes the data dir from: "--data-dir", "LECUN89_DATA" or "default"."""
    if data_dir is not None and str(data_dir) != "":
        return "--data-dir"
    if os.environ.get(ENV_DATA, ""):
        return ENV_DATA
    return "default"


def resolve_cache_dir() -> Path | None:
    """Where preprocessed arrays are cached: ``$LECUN89_CACHE`` if set, else
    ``$XDG_CACHE_HOME/lecun89/arrays``. ``LECUN89_CACHE=off`` disables the cache."""
    env = os.environ.get(ENV_CACHE, "")
    if env:
        if env.strip().lower() in CACHE_DISABLED:
            return None
        return Path(env).expanduser()
    return xdg_cache_home() / "lecun89" / "arrays"


# ---------------------------------------------------------------------------
# checking source files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_sums(specs: dict[str, SourceFile]) -> dict[str, str]:
    """``{path relative to the data dir: pinned sha256}`` of a data set's files."""
    return {s.rel: s.sha256 for s in specs.values()}


def source_folder(specs: dict[str, SourceFile]) -> str:
    """The folder, relative to the data dir, that a data set's files live in (its first file's)."""
    return Path(next(iter(specs.values())).rel).parent.as_posix()


def missing_message(name: str, path: Path, root: Path, data_dir_arg, folder: str) -> str:
    return (f"{name}: missing {path} (expected in <data-dir>/{folder}/, data dir {root} "
            f"[{data_dir_origin(data_dir_arg)}]; get it with 'lecun89 data fetch {name}' "
            f"(or --download / download=True), copy the files there by hand, "
            f"or pass --data-dir DIR / set {ENV_DATA} to a folder that holds {folder}/)")


def verify_source(name: str, spec: SourceFile, root: Path, data_dir_arg=None, *, folder: str) -> Path:
    """Check that ``root/spec.rel`` exists and matches its pinned size and sha256.
    ``folder``: the data set's :func:`source_folder`, named when the file is missing."""
    path = root / spec.rel
    if not path.is_file():
        raise UserError(missing_message(name, path, root, data_dir_arg, folder))
    fix = (f"delete it and run 'lecun89 data fetch {name}', or copy a good copy "
           f"(sha256 {spec.sha256[:16]}...)")
    try:
        size = path.stat().st_size
        if size != spec.size:
            raise UserError(f"{name}: {path} has {size} bytes, expected {spec.size} "
                            f"(truncated or a different file); {fix}")
        digest = sha256_file(path)
    except OSError as exc:
        raise UserError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    if digest != spec.sha256:
        raise UserError(f"{name}: {path} is corrupted or a different version: sha256 {digest}, "
                        f"expected {spec.sha256}; {fix}")
    return path


def verify_sources(name: str, specs: dict[str, SourceFile], root: Path, data_dir_arg=None) -> dict[str, Path]:
    """:func:`verify_source` for each of a data set's files: their paths by role."""
    folder = source_folder(specs)
    return {role: verify_source(name, spec, root, data_dir_arg, folder=folder) for role, spec in specs.items()}


def read_gzip(path: Path, what: str) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except gzip.BadGzipFile as exc:
        raise UserError(f"{path}: not a gzip file ({exc}); expected the gzip-compressed {what}") from None
    except EOFError:
        raise UserError(f"{path}: truncated gzip file (ends before its end-of-stream marker); "
                        f"expected the complete gzip-compressed {what}") from None
    except (zlib.error, OSError) as exc:
        raise UserError(f"{path}: corrupted gzip data ({exc}); expected the gzip-compressed {what}") from None


# ---------------------------------------------------------------------------
# cache

CACHE_KEYS = {"x_train", "y_train", "x_test", "y_test", "meta", "cache_key"}


def cache_key(name: str, subset: str, subset_seed: int | None, sources: dict[str, str]) -> str:
    blob = json.dumps({"dataset": name, "subset": subset, "subset_seed": subset_seed,
                       "sources": sources, "version": PREPROCESS_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_path(cache_dir: Path, name: str, subset: str, subset_seed: int | None, key: str) -> Path:
    seed = f"-seed{subset_seed}" if subset_seed is not None else ""
    return cache_dir / f"{name}-{subset}{seed}-{key[:20]}.npz"


def cache_read(path: Path, key: str, name: str, totals: tuple[int, int]) -> Dataset | None:
    """The cached data set, or None for any kind of miss (absent, unreadable,
    stale, arrays that fail the contract or their checksum)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if set(z.files) != CACHE_KEYS or str(z["cache_key"][()]) != key:
                return None
            arrays = tuple(np.ascontiguousarray(z[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
            meta = json.loads(str(z["meta"][()]))
        validate_arrays(arrays, totals)
        if not isinstance(meta, dict) or meta.get("name") != name:
            return None
        if arrays_checksum(*arrays) != meta.get("checksum"):
            return None
    except Exception:  # noqa: BLE001 (unreadable, truncated, wrong keys: a cache miss)
        return None
    return make_dataset(name, arrays, meta)


def cache_write(path: Path, key: str, ds: Dataset) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz(path, {"x_train": ds.x_train, "y_train": ds.y_train, "x_test": ds.x_test, "y_test": ds.y_test,
                        "meta": np.array(json.dumps(ds.meta, sort_keys=True)), "cache_key": np.array(key)})
    except OSError:
        pass  # caching is an optimisation: an unwritable cache dir is skipped


# ---------------------------------------------------------------------------
# downloading (explicit only)


def download(urls: tuple[str, ...], dest: Path, spec: SourceFile) -> None:
    """Download ``spec`` into ``dest`` with a well-kept library's downloader and
    the pinned checksum: scikit-learn's ``fetch_file`` (sha256; scikit-learn >=
    1.6), else torchvision's ``download_url`` (md5, then our sha256)."""
    try:
        from sklearn.datasets import fetch_file  # type: ignore[attr-defined]
    except ImportError:
        fetch_file = None
    download_url = None
    if fetch_file is None:
        try:
            from torchvision.datasets.utils import download_url  # type: ignore[no-redef]
        except ImportError:
            raise UserError(f"cannot download {dest.name}: needs scikit-learn >= 1.6 or torchvision; "
                            f"pip install 'lecun89[torch]' (or upgrade scikit-learn), or place the file "
                            f"at {dest} by hand (from {urls[0]})") from None
    errors = []
    for url in urls:
        try:
            if fetch_file is not None:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fetch_file(url, folder=dest.parent, local_filename=dest.name, sha256=spec.sha256,
                               n_retries=1, delay=1)
            else:
                download_url(url, str(dest.parent), filename=dest.name, md5=spec.md5)
            if dest.is_file() and sha256_file(dest) == spec.sha256:
                return
            errors.append(f"{url}: checksum mismatch")
        except Exception as exc:  # noqa: BLE001 (network errors, HTTP errors, checksum errors)
            errors.append(f"{url}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise UserError(f"could not download {dest.name} ({'; '.join(errors)}); check the network, "
                    f"or copy the file to {dest} by hand")


def fetch_sources(name: str, specs: dict[str, SourceFile], data_dir: str | os.PathLike | None = None, *,
                  log: Callable[[str], None] = print) -> list[Path]:
    """Download a data set's source files ``specs`` into the data dir (skipping
    files already there with the right checksum). Returns their paths."""
    root = resolve_data_dir(data_dir)
    if not specs:
        log(f"{name}: embedded in scikit-learn, nothing to fetch")
        return []
    folder = source_folder(specs)
    done = []
    for spec in specs.values():
        dest = root / spec.rel
        if dest.is_file():
            try:
                verify_source(name, spec, root, data_dir, folder=folder)
                log(f"{name}: {dest} already present (sha256 ok)")
                done.append(dest)
                continue
            except UserError:
                log(f"{name}: {dest} is bad, downloading it again")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"{name}: cannot create {dest.parent} ({exc.strerror or exc}); "
                            f"pass --data-dir DIR (or set {ENV_DATA}) to a writable folder") from None
        if not os.access(dest.parent, os.W_OK):
            raise UserError(f"{name}: {dest.parent} is not writable; pass --data-dir DIR "
                            f"(or set {ENV_DATA}) to a writable folder")
        log(f"{name}: downloading {spec.urls[0]} -> {dest}")
        download(spec.urls, dest, spec)
        verify_source(name, spec, root, data_dir, folder=folder)
        done.append(dest)
    return done
