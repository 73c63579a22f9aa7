"""Tests for lecun89.data: the three data sets, their checks, the cache and `lecun89 data`.

The real files are read from ``$LECUN89_DATA`` if set, else ``../shared/data``
next to the repository; tests that need them are skipped when they are absent.
No test touches the network or the user's cache.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import struct
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lecun89 import data as D
from lecun89.data import _base as data_base
from lecun89.data import digits as data_digits
from lecun89.data import mnist16 as data_mnist16
from lecun89.data import usps as data_usps
from lecun89.errors import UserError

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("LECUN89_DATA") or REPO.parent / "shared" / "data")

USPS_TRAIN = (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644)
USPS_TEST = (359, 264, 198, 166, 200, 160, 170, 147, 166, 177)
MNIST_TRAIN = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One array cache shared by the tests that do not test caching (keeps the file fast)."""
    return tmp_path_factory.mktemp("lecun89-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, session_cache):
    monkeypatch.setenv("LECUN89_CACHE", str(session_cache))
    monkeypatch.delenv("LECUN89_DATA", raising=False)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    monkeypatch.setattr(data_base, "download", refuse)
    return calls


def _need(*rels: str) -> Path:
    missing = [r for r in rels if not (DATA_ROOT / r).is_file()]
    if missing:
        pytest.skip(f"real data not found: {DATA_ROOT / missing[0]} (set LECUN89_DATA)")
    return DATA_ROOT


USPS_FILES = ("usps/zip.train.gz", "usps/zip.test.gz")
MNIST_FILES = tuple(s.rel for s in D.SOURCES["mnist16"].values())


@pytest.fixture
def usps_root() -> Path:
    return _need(*USPS_FILES)


@pytest.fixture
def mnist_root() -> Path:
    return _need(*MNIST_FILES)


@pytest.fixture
def usps_copy(usps_root, tmp_path) -> Path:
    """A writable copy of the USPS files in a fresh data dir."""
    root = tmp_path / "data"
    (root / "usps").mkdir(parents=True)
    for rel in USPS_FILES:
        shutil.copyfile(usps_root / rel, root / rel)
    return root


def _write_gz(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="ascii") as f:
        f.write(text)
    return path


def _zip_line(label="3", value="-1", n_values=256) -> str:
    return " ".join([label] + [value] * n_values)


def _assert_contract(ds: D.Dataset, n_train: int, n_test: int) -> None:
    for x, y, n in ((ds.x_train, ds.y_train, n_train), (ds.x_test, ds.y_test, n_test)):
        assert x.shape == (n, 1, 16, 16) and x.dtype == np.float64 and x.flags.c_contiguous
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() >= -1.0 and x.max() <= 1.0
        assert y.min() >= 0 and y.max() <= 9
        assert not x.flags.writeable and not y.flags.writeable
    assert ds.meta["checksum"] == D.arrays_checksum(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    assert ds.meta["name"] == ds.name
    json.dumps(ds.meta)  # JSON-serialisable


# ---------------------------------------------------------------- directories


def test_resolve_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.resolve_data_dir(None) == tmp_path / "xdg" / "lecun89" / "data"
    monkeypatch.setenv("LECUN89_DATA", str(tmp_path / "env"))
    assert D.resolve_data_dir(None) == tmp_path / "env"
    assert D.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert D.resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    assert not any(p.exists() for p in (tmp_path / "xdg", tmp_path / "env", tmp_path / "arg"))


def test_resolve_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("LECUN89_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.resolve_cache_dir() == tmp_path / "xdg" / "lecun89" / "arrays"
    monkeypatch.setenv("LECUN89_CACHE", str(tmp_path / "c"))
    assert D.resolve_cache_dir() == tmp_path / "c"
    monkeypatch.setenv("LECUN89_CACHE", "off")
    assert D.resolve_cache_dir() is None


def test_datasets_and_bad_names():
    assert set(D.DATASETS) == {"usps", "mnist16", "digits", "usps-mnist", "usps-mnist-junk"}
    with pytest.raises(UserError, match="unknown dataset 'zip'.*usps, mnist16, digits, usps-mnist, usps-mnist-junk"):
        D.load_dataset("zip")
    with pytest.raises(UserError, match="subset"):
        D.load_dataset("digits", subset="half")
    with pytest.raises(UserError, match="subset_seed"):
        D.load_dataset("mnist16", subset_seed=-1)


# ---------------------------------------------------------------- usps


def test_usps_counts_and_contract(usps_root):
    ds = D.load_dataset("usps", usps_root)
    _assert_contract(ds, 7291, 2007)
    assert tuple(np.bincount(ds.y_train, minlength=10)) == USPS_TRAIN
    assert tuple(np.bincount(ds.y_test, minlength=10)) == USPS_TEST
    assert ds.meta["sources"] == {s.rel: s.sha256 for s in D.SOURCES["usps"].values()}
    assert ds.meta["counts"] == {"train": list(USPS_TRAIN), "test": list(USPS_TEST)}
    assert ds.x_train.min() == -1.0 and ds.x_train.max() == 1.0
    # "full" is the same data
    full = D.load_dataset("usps", usps_root, subset="full")
    assert full.meta["checksum"] == ds.meta["checksum"]


def test_usps_equals_h5_copy(usps_root):
    h5py = pytest.importorskip("h5py")
    h5 = _need("usps/usps.h5") / "usps" / "usps.h5"
    ds = D.load_dataset("usps", usps_root)
    with h5py.File(h5, "r") as f:
        for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
            ref = f[f"{split}/data"][:]
            assert ref.shape == (len(y), 256)
            np.testing.assert_allclose((x.reshape(len(y), 256) + 1) / 2, ref, rtol=0, atol=1e-6)
            np.testing.assert_array_equal(f[f"{split}/target"][:], y)


# ---------------------------------------------------------------- mnist16


def test_mnist16_paper_subset(mnist_root):
    ds = D.load_dataset("mnist16", mnist_root)
    _assert_contract(ds, 7291, 2007)
    tr, te = D.mnist16_subset_indices(0)
    assert ds.meta["subset"] == "paper" and ds.meta["subset_seed"] == 0
    assert ds.meta["indices_sha256"] == data_mnist16.indices_sha256(tr, te)
    # the subset is MNIST's own digits in file order
    labels = D.read_idx(mnist_root / D.SOURCES["mnist16"]["train_labels"].rel, "labels", 60000)
    np.testing.assert_array_equal(ds.y_train, labels[tr])
    assert sum(ds.meta["counts"]["train"]) == 7291 and sum(ds.meta["counts"]["test"]) == 2007


def test_mnist16_full(mnist_root):
    ds = D.load_dataset("mnist16", mnist_root, subset="full")
    _assert_contract(ds, 60000, 10000)
    assert tuple(np.bincount(ds.y_train, minlength=10)) == MNIST_TRAIN
    assert tuple(np.bincount(ds.y_test, minlength=10)) == MNIST_TEST
    assert "indices_sha256" not in ds.meta and "subset_seed" not in ds.meta


def test_mnist16_subset_is_deterministic(mnist_root):
    a_tr, a_te = D.mnist16_subset_indices(0)
    b_tr, b_te = D.mnist16_subset_indices(0)
    c_tr, c_te = D.mnist16_subset_indices(1)
    np.testing.assert_array_equal(a_tr, b_tr)
    np.testing.assert_array_equal(a_te, b_te)
    assert not np.array_equal(a_tr, c_tr) and not np.array_equal(a_te, c_te)
    for idx, n, top in ((a_tr, 7291, 60000), (a_te, 2007, 10000)):
        assert len(np.unique(idx)) == n and idx.min() >= 0 and idx.max() < top
        assert np.all(np.diff(idx) > 0)  # sorted
    d0 = D.load_dataset("mnist16", mnist_root, subset_seed=0)
    d1 = D.load_dataset("mnist16", mnist_root, subset_seed=1)
    assert d0.meta["indices_sha256"] != d1.meta["indices_sha256"]
    assert d0.meta["checksum"] != d1.meta["checksum"]


def test_bilinear_matrix_rows():
    for n_in, n_out in ((28, 16), (8, 16), (16, 16)):
        m = D.bilinear_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-15)
        assert m.min() >= 0
    np.testing.assert_array_equal(D.bilinear_matrix(16, 16), np.eye(16))


def test_resize_equals_torch_interpolate(mnist_root):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    raw = D.read_idx(mnist_root / D.SOURCES["mnist16"]["test_images"].rel, "images", 10000)[:200]
    x = raw.astype(np.float64) / 127.5 - 1.0
    ref = F.interpolate(torch.from_numpy(x)[:, None], (16, 16), mode="bilinear",
                        align_corners=False).numpy()[:, 0]
    np.testing.assert_allclose(D.resize_bilinear(x, 16), ref, rtol=0, atol=1e-12)
    # and the loader's images are exactly that
    ds = D.load_dataset("mnist16", mnist_root)
    _, te = D.mnist16_subset_indices(0)
    k = int(np.sum(te < 200))
    np.testing.assert_allclose(ds.x_test[:k, 0], ref[te[:k]], rtol=0, atol=1e-12)
    # upsampling (digits) follows the same semantics
    x8 = np.random.default_rng(0).uniform(-1, 1, (20, 8, 8))
    ref8 = F.interpolate(torch.from_numpy(x8)[:, None], (16, 16), mode="bilinear",
                         align_corners=False).numpy()[:, 0]
    np.testing.assert_allclose(D.resize_bilinear(x8, 16), ref8, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- digits


def test_digits_offline(tmp_path, monkeypatch, no_network):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("LECUN89_DATA", str(empty))
    ds = D.load_dataset("digits")
    _assert_contract(ds, 1347, 450)
    assert ds.x_train.min() == -1.0 and ds.x_train.max() == 1.0
    assert np.all(ds.x_train[:, 0, 0, 0] == -1.0)  # the corners are background
    assert (ds.x_train == -1.0).mean() > 0.2
    counts_tr = np.bincount(ds.y_train, minlength=10)
    counts_te = np.bincount(ds.y_test, minlength=10)
    assert tuple(counts_tr) == D.CLASS_COUNTS[("digits", "full")]["train"]
    assert tuple(counts_te) == D.CLASS_COUNTS[("digits", "full")]["test"]
    np.testing.assert_allclose(counts_te / (counts_tr + counts_te), 0.25, atol=0.01)  # stratified
    assert ds.meta["split"]["random_state"] == 0
    assert ds.meta["sources"]["sklearn.datasets.load_digits"] == D.DIGITS_SOURCE_SHA256
    assert list(empty.iterdir()) == [] and not no_network


def test_digits_scaling():
    # 0 -> -1 and 16 -> +1 through the same upsampling
    x = D.resize_bilinear(np.stack([np.zeros((8, 8)), np.full((8, 8), 16.0)]) / 8.0 - 1.0, 16)
    np.testing.assert_array_equal(x[0], -1.0)
    np.testing.assert_allclose(x[1], 1.0, atol=1e-15)


# ---------------------------------------------------------------- missing and corrupted files


def test_missing_file_message_and_no_network(tmp_path, no_network):
    with pytest.raises(UserError) as err:
        D.load_dataset("usps", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "usps" / "zip.train.gz") in msg
    assert "lecun89 data fetch usps" in msg and "--data-dir" in msg and "--download" in msg
    assert "LECUN89_DATA" in msg
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        D.load_dataset("mnist16", tmp_path)
    assert not no_network
    assert not (tmp_path / "usps").exists()  # nothing created


def test_missing_one_file(usps_copy):
    (usps_copy / "usps" / "zip.test.gz").unlink()
    with pytest.raises(UserError, match="missing .*zip.test.gz"):
        D.load_dataset("usps", usps_copy)


def test_truncated_file_refused(usps_copy):
    p = usps_copy / "usps" / "zip.train.gz"
    p.write_bytes(p.read_bytes()[:100_000])
    with pytest.raises(UserError) as err:
        D.load_dataset("usps", usps_copy)
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg and "100000 bytes, expected 1829071" in msg


def test_non_gzip_file_refused(usps_copy):
    p = usps_copy / "usps" / "zip.test.gz"
    p.write_text("this is not gzip\n")
    with pytest.raises(UserError, match="zip.test.gz"):
        D.load_dataset("usps", usps_copy)
    with pytest.raises(UserError, match="not a gzip file"):
        D.parse_zip_file(p)


def test_checksum_mismatch_refused(usps_copy):
    p = usps_copy / "usps" / "zip.train.gz"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0xFF  # same size, one byte flipped
    p.write_bytes(bytes(b))
    with pytest.raises(UserError) as err:
        D.load_dataset("usps", usps_copy)
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg and D.SOURCES["usps"]["train"].sha256 in msg


def test_cache_does_not_hide_a_damaged_file(usps_copy):
    D.load_dataset("usps", usps_copy)  # cache filled
    p = usps_copy / "usps" / "zip.test.gz"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(UserError, match="zip.test.gz"):
        D.load_dataset("usps", usps_copy)


def test_parser_reads_both_number_styles(tmp_path):
    p = _write_gz(tmp_path / "ok.gz", _zip_line("6.0000", "-1.0000") + "\n" + _zip_line("9", "0.5") + "\n")
    x, y = D.parse_zip_file(p, 2)
    assert x.shape == (2, 1, 16, 16) and x.dtype == np.float64
    np.testing.assert_array_equal(y, [6, 9])
    assert np.all(x[0] == -1.0) and np.all(x[1] == 0.5)


@pytest.mark.parametrize("text, expected", [
    (_zip_line() + "\n" + _zip_line(n_values=255) + "\n", "line 2 has 256 fields, expected 257"),
    (_zip_line() + "\n" + _zip_line(value="x1") + "\n", "line 2, field 2: 'x1' is not a number"),
    (_zip_line(label="10") + "\n" + _zip_line() + "\n", "line 1: label '10' is not an integer 0-9"),
    (_zip_line(label="3.5") + "\n" + _zip_line() + "\n", "line 1: label '3.5' is not an integer 0-9"),
    (_zip_line() + "\n" + _zip_line(value="1.5") + "\n", "line 2, field 2: pixel value '1.5' is not in [-1, 1]"),
    (_zip_line() + "\n" + _zip_line(value="nan") + "\n", "line 2, field 2: pixel value 'nan' is not in [-1, 1]"),
    (_zip_line() + "\n", "1 rows, expected 2"),
    ("", "no data rows"),
], ids=["fields", "non-numeric", "label-10", "label-3.5", "pixel-1.5", "pixel-nan", "rows", "empty"])
def test_parser_format_checks(tmp_path, text, expected):
    p = _write_gz(tmp_path / "bad.gz", text)
    with pytest.raises(UserError) as err:
        D.parse_zip_file(p, 2)
    assert expected in str(err.value) and str(p) in str(err.value) and "\n" not in str(err.value)


def test_parser_truncated_gzip(usps_root, tmp_path):
    p = tmp_path / "zip.train.gz"
    p.write_bytes((usps_root / "usps" / "zip.train.gz").read_bytes()[:50_000])
    with pytest.raises(UserError, match="truncated gzip"):
        D.parse_zip_file(p, 7291)


def _idx(path: Path, magic: int, dims: tuple[int, ...], payload: bytes) -> Path:
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">" + "I" * (1 + len(dims)), magic, *dims) + payload)
    return path


def test_idx_reader_checks(tmp_path):
    good = _idx(tmp_path / "l.gz", 2049, (3,), bytes([1, 2, 3]))
    np.testing.assert_array_equal(D.read_idx(good, "labels", 3), [1, 2, 3])
    img = _idx(tmp_path / "i.gz", 2051, (2, 28, 28), bytes(2 * 784))
    assert D.read_idx(img, "images", 2).shape == (2, 28, 28)
    cases = [
        (_idx(tmp_path / "a.gz", 2051, (3,), bytes(3)), "labels", 3, "magic number 2051, expected 2049"),
        (_idx(tmp_path / "b.gz", 2049, (3,), bytes(2)), "labels", 3, "expected 11"),
        (_idx(tmp_path / "c.gz", 2049, (4,), bytes(4)), "labels", 3, "header says 4 labels, expected 3"),
        (_idx(tmp_path / "d.gz", 2049, (2,), bytes([1, 12])), "labels", 2, "label #1 is 12"),
        (_idx(tmp_path / "e.gz", 2051, (1, 32, 32), bytes(1024)), "images", 1, "32x32, expected 28x28"),
    ]
    for path, kind, n, expected in cases:
        with pytest.raises(UserError) as err:
            D.read_idx(path, kind, n)
        assert expected in str(err.value) and str(path) in str(err.value)


# ---------------------------------------------------------------- cache


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("LECUN89_CACHE", str(cache))
    return cache


def _boom(*args, **kwargs):
    raise AssertionError("source parsed although the cache should have been used")


def test_second_load_hits_cache(usps_root, own_cache, monkeypatch):
    first = D.load_dataset("usps", usps_root)
    files = list(own_cache.glob("usps-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(data_usps, "parse_zip_file", _boom)
    second = D.load_dataset("usps", usps_root)
    assert second.meta == first.meta
    np.testing.assert_array_equal(second.x_train, first.x_train)
    np.testing.assert_array_equal(second.y_test, first.y_test)
    assert not second.x_train.flags.writeable
    with pytest.raises(AssertionError, match="cache should"):
        D.load_dataset("usps", usps_root, cache=False)


def test_digits_cache_skips_sklearn(own_cache, monkeypatch):
    first = D.load_dataset("digits")
    monkeypatch.setattr(data_digits, "build", _boom)
    assert D.load_dataset("digits").meta["checksum"] == first.meta["checksum"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale"])
def test_corrupted_cache_is_rebuilt(own_cache, monkeypatch, damage):
    first = D.load_dataset("digits")
    (path,) = own_cache.glob("digits-*.npz")
    if damage == "garbage":
        path.write_bytes(b"not an npz file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:  # arrays no longer match the checksum stored with them
        with np.load(path) as z:
            parts = {k: z[k] for k in z.files}
        parts["x_train"] = parts["x_train"].copy()
        parts["x_train"][0, 0, 0, 0] = 0.5
        np.savez(path, **parts)
    calls = []
    real = data_digits.build
    monkeypatch.setattr(data_digits, "build", lambda *args: (calls.append(1), real(*args))[1])
    again = D.load_dataset("digits")
    assert calls == [1]  # rebuilt from the source
    assert again.meta["checksum"] == first.meta["checksum"]
    with np.load(path) as z:  # and the cache entry repaired
        assert json.loads(str(z["meta"][()]))["checksum"] == first.meta["checksum"]
    assert sorted(p.name for p in own_cache.iterdir()) == [path.name]  # no temp files left


def test_cache_key_depends_on_preprocess_version(own_cache, monkeypatch):
    D.load_dataset("digits")
    monkeypatch.setattr(data_base, "PREPROCESS_VERSION", "test-version")
    D.load_dataset("digits")
    assert len(list(own_cache.glob("digits-*.npz"))) == 2


def test_unwritable_cache_is_skipped(usps_root, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LECUN89_CACHE", str(blocker / "cache"))
    ds = D.load_dataset("usps", usps_root)
    assert len(ds.y_train) == 7291


# ---------------------------------------------------------------- downloads (offline: a fake downloader)


def _fake_fetch_file(source_root: Path, seen: list):
    def fetch_file(url, folder=None, local_filename=None, sha256=None, n_retries=3, delay=1):
        seen.append((url, sha256))
        dest = Path(folder) / local_filename
        shutil.copyfile(source_root / "usps" / Path(url).name, dest)
        return dest
    return fetch_file


def test_fetch_uses_pinned_checksum(usps_root, tmp_path, monkeypatch):
    import sklearn.datasets

    seen: list = []
    monkeypatch.setattr(sklearn.datasets, "fetch_file", _fake_fetch_file(usps_root, seen), raising=False)
    ds = D.load_dataset("usps", tmp_path / "d", download=True)
    assert len(ds.y_train) == 7291
    assert seen == [(s.urls[0], s.sha256) for s in D.SOURCES["usps"].values()]
    assert seen[0][0] == "https://hastie.su.domains/ElemStatLearn/datasets/zip.train.gz"
    seen.clear()
    D.fetch("usps", tmp_path / "d", log=lambda m: None)  # already there: no download
    assert seen == []


def test_fetch_failure_is_one_line(tmp_path, monkeypatch):
    import sklearn.datasets

    def offline(url, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(sklearn.datasets, "fetch_file", offline, raising=False)
    with pytest.raises(UserError) as err:
        D.fetch("usps", tmp_path, log=lambda m: None)
    msg = str(err.value)
    assert "\n" not in msg and "could not download zip.train.gz" in msg and "by hand" in msg


def test_fetch_without_a_downloader(tmp_path, monkeypatch):
    import sklearn.datasets

    monkeypatch.delattr(sklearn.datasets, "fetch_file", raising=False)
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets.utils", None)
    with pytest.raises(UserError, match=r"pip install 'lecun89\[torch\]'.*by hand"):
        D.fetch("usps", tmp_path, log=lambda m: None)


# ---------------------------------------------------------------- CLI


def _main(argv):
    from lecun89.cli import main

    return main(argv)


def test_cli_check_usps(usps_root, capsys):
    assert _main(["data", "check", "usps", "--data-dir", str(usps_root)]) == 0
    out = capsys.readouterr().out
    assert "7291" in out and "2007" in out
    for row in (USPS_TRAIN, USPS_TEST):
        assert " ".join(str(c) for c in row) in " ".join(out.split())


def test_cli_check_truncated(usps_copy, capsys):
    p = usps_copy / "usps" / "zip.train.gz"
    p.write_bytes(p.read_bytes()[:4096])
    rc = _main(["data", "check", "usps", "--data-dir", str(usps_copy)])
    err = capsys.readouterr().err
    assert rc != 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lecun89: error:") and "zip.train.gz" in lines[0]


def test_cli_check_missing(tmp_path, capsys, no_network):
    assert _main(["data", "check", "mnist16", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "missing" in err[0] and "lecun89 data fetch mnist16" in err[0]


def test_cli_check_mnist16_and_digits(mnist_root, capsys):
    assert _main(["data", "check", "mnist16", "--data-dir", str(mnist_root)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert " ".join(map(str, MNIST_TRAIN)) in out and "7291" in out and "60000" in out
    assert _main(["data", "check", "digits"]) == 0
    assert "1347" in capsys.readouterr().out


def test_cli_list(tmp_path, capsys, usps_root):
    assert _main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "missing" in lines["usps"] and "builtin" in lines["digits"]
    assert str(tmp_path / "usps") in lines["usps"]
    assert _main(["data", "list", "--data-dir", str(usps_root)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert " ok " in lines["usps"] and "7291" in lines["usps"]


def test_cli_show_writes_png(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert _main(["data", "show", "digits", "--out", str(out), "--n", "25", "--split", "test"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out


def test_cli_show_usps(usps_root, tmp_path):
    out = tmp_path / "usps.png"
    assert _main(["data", "show", "usps", "--data-dir", str(usps_root), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000


def test_cli_fetch_digits_and_usage(capsys):
    assert _main(["data", "fetch", "digits"]) == 0
    assert "nothing to fetch" in capsys.readouterr().out
    assert _main(["data"]) == 2
    with pytest.raises(SystemExit) as exc:
        _main(["data", "check", "nope"])
    assert exc.value.code == 2


# ---------------------------------------------------------------- registry


def test_registry_is_the_one_list_of_names():
    from lecun89.config import DATASET_NAMES
    from lecun89.data import registry

    assert tuple(D.DATASETS) == DATASET_NAMES == ("usps", "mnist16", "digits", "usps-mnist", "usps-mnist-junk")
    assert list(registry.MODULES) == list(D.DATASETS)
    assert set(D.SOURCES) == {name for name, _ in D.TOTALS} == set(D.DATASETS)
