"""The validation split (data.validation, data.validation_seed): carved from the
training digits, stratified, seeded by its own seed, recorded and reported."""

import json
import re

import numpy as np
import pytest

from lecun89.cli import main
from lecun89.config import config_hash, load_config
from lecun89.data import check_validation, indices_sha256, load_dataset, validation_split, with_validation
from lecun89.errors import UserError
from lecun89.report import report_run, report_sweep
from lecun89.train import run_training


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LECUN89_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", cache=False)


def _no_seconds(d):
    return {k: v for k, v in d.items() if k != "seconds"}


def _metrics(run_dir):
    return [_no_seconds(json.loads(line)) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# --- the split ----------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 7, 200, 337, 1247])
def test_split_is_disjoint_covering_sorted_and_stratified(digits, n):
    y = digits.y_train
    tr, va = validation_split(y, n, seed=3)
    assert len(va) == n and len(tr) == len(y) - n
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(va) > 0)  # sorted, no repeats
    assert np.intersect1d(tr, va).size == 0
    assert np.array_equal(np.union1d(tr, va), np.arange(len(y)))
    counts = np.bincount(y, minlength=10)
    held = np.bincount(y[va], minlength=10)
    assert np.all(np.abs(held - n * counts / len(y)) < 1), (held, n * counts / len(y))


def test_split_is_deterministic_and_seeded_by_its_own_seed(digits):
    y = digits.y_train
    a, b = validation_split(y, 200, 0), validation_split(y, 200, 0)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    c = validation_split(y, 200, 1)
    assert not np.array_equal(a[1], c[1])
    assert indices_sha256(a[1]) == indices_sha256(b[1]) != indices_sha256(c[1])
    # the same split whichever run's seed: it is drawn from validation_seed alone
    assert with_validation(digits, 200, 0).meta["validation"]["indices_sha256"] == indices_sha256(a[1])


def test_with_validation_holds_out_digits_and_records_the_split(digits):
    assert with_validation(digits, 0, 5) is digits
    ds = with_validation(digits, 200, 0)
    tr, va = validation_split(digits.y_train, 200, 0)
    assert np.array_equal(ds.x_train, digits.x_train[tr]) and np.array_equal(ds.y_train, digits.y_train[tr])
    assert np.array_equal(ds.x_val, digits.x_train[va]) and np.array_equal(ds.y_val, digits.y_train[va])
    assert ds.x_test is digits.x_test and ds.meta["checksum"] == digits.meta["checksum"]  # the whole set's
    assert ds.meta["validation"]["n"] == 200 and sum(ds.meta["validation"]["counts"]) == 200
    assert not ds.x_val.flags.writeable and "validation=200" in repr(ds)
    assert with_validation(ds, 200, 0) is ds  # already split this way
    with pytest.raises(UserError, match="holds a validation split"):
        with_validation(ds, 100, 0)


def test_too_large_or_negative_is_a_one_line_user_error():
    check_validation(1247, 1347)
    for n, what in ((1248, "at most 1,247"), (-1, ">= 0"), (1.5, ">= 0")):
        with pytest.raises(UserError, match=what) as exc:
            check_validation(n, 1347, "digits")
        assert "\n" not in str(exc.value) and "data.validation" in str(exc.value) and exc.value.status == 2


def test_usps_split_of_1291_leaves_6000_for_training(data_dir):
    usps = load_dataset("usps", data_dir)
    ds = with_validation(usps, 1291, 0)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (6000, 1291, 2007)
    counts = np.bincount(usps.y_train, minlength=10)
    assert np.all(np.abs(np.bincount(ds.y_val, minlength=10) - 1291 * counts / 7291) < 1)


# --- runs ----------------------------------------------------------------------------

def test_bad_values_stop_the_cli_with_one_line_and_nothing_written(tmp_path, capsys):
    for value, what in (("-1", "data.validation: must be >= 0"), ("1300", "data.validation: 1,300 is too many"),
                        ("1.5", "data.validation: expected an integer")):
        out = tmp_path / f"run{value}"
        assert main(["train", "--set", f"data.validation={value}", "--set", "train.passes=1",
                     "--out", str(out), "--no-report"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and what in err[0], err
        assert not out.exists()
    assert main(["train", "--set", "data.validation_seed=-1", "--out", str(tmp_path / "s")]) == 2
    # a sweep checks every run's split against its data before running any
    assert main(["sweep", "quick", "--seeds", "1", "--set", "data.validation=5000", "--out",
                 str(tmp_path / "sweep"), "--no-report"]) == 2
    assert "too many" in capsys.readouterr().err and not (tmp_path / "sweep").exists()


def test_validation_zero_leaves_the_run_bit_identical(tmp_path):
    plain = load_config(None, ["train.passes=1"])
    zero = load_config(None, ["train.passes=1", "data.validation=0"])
    assert config_hash(plain) == config_hash(zero)
    run_training(plain, tmp_path / "a", quiet=True)
    run_training(zero, tmp_path / "b", quiet=True)
    ra, rb = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    assert _no_seconds(ra) == _no_seconds(rb) and list(ra) == list(rb)
    assert not any("validation" in k for k in ra)
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    assert not any("validation" in k for k in _metrics(tmp_path / "a")[0])
    for name in ("model.npz", "outputs.npz"):
        a, b = _arrays(tmp_path / "a" / name), _arrays(tmp_path / "b" / name)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), name
    assert "validation error" not in report_sweep(tmp_path, [tmp_path / "a", tmp_path / "b"]).read_text()
    assert "validation error" not in report_run(tmp_path / "b").read_text()


def test_runs_record_and_report_the_validation_split(tmp_path, capsys, digits):
    sweep = tmp_path / "sweep"
    dirs = []
    for seed in (0, 1):
        cfg = load_config(None, ["train.passes=2", "data.validation=200", "data.validation_seed=4"], seed=seed)
        d = sweep / "quick" / f"seed-{seed}"
        run_training(cfg, d, quiet=seed == 1)
        dirs.append(d)
    printed = capsys.readouterr().out
    assert re.search(r"pass   2/2 .* val err +\d+\.\d\d% +test loss", printed), printed
    assert "1,147 train" in printed and "validation error" in printed
    r0, r1 = (json.loads((d / "results.json").read_text()) for d in dirs)
    _, va = validation_split(digits.y_train, 200, 4)
    for r in (r0, r1):
        assert (r["validation"], r["validation_seed"], r["validation_size"], r["train_size"]) == (200, 4, 200, 1147)
        assert r["validation_indices_sha256"] == indices_sha256(va)  # the same split for every run's seed
        assert 0 <= r["validation_error"] <= 1 and r["validation_misses"] == round(r["validation_error"] * 200)
        assert r["validation_mse"] is not None
    assert r0["config_hash"] != config_hash(load_config(None, ["train.passes=2"]))  # another config
    rows = _metrics(dirs[0])
    assert [sorted(k for k in row if k.startswith("validation")) for row in rows] == \
        [["validation_error", "validation_loss", "validation_misses", "validation_mse"]] * 2
    assert rows[-1]["validation_error"] == r0["validation_error"]
    o = _arrays(dirs[0] / "outputs.npz")
    assert np.array_equal(o["validation_labels"], digits.y_train[va])
    assert int(np.count_nonzero(o["validation_outputs"].argmax(1) != o["validation_labels"])) == r0["validation_misses"]
    # the run report: a validation row beside train and test, and its curve
    md = report_run(dirs[0]).read_text()
    assert "| validation error (misses) | " in md and "(held out of training, seed 4)" in md
    rep = json.loads((dirs[0] / "report.json").read_text())
    assert rep["headline"]["validation_error"] == r0["validation_error"]
    assert len(rep["curves"]["validation_error"]) == 2
    # the sweep summary: a validation error column, mean ± std over the seeds
    summary_md = report_sweep(sweep, dirs).read_text()
    (group,) = json.loads((sweep / "summary.json").read_text())["configs"]
    v = np.array([r0["validation_error"], r1["validation_error"]])
    assert group["validation_error"]["mean"] == pytest.approx(v.mean(), rel=1e-12)
    header = next(line for line in summary_md.splitlines() if line.startswith("| config |"))
    assert "| train error | validation error |" in header
    assert "| validation error | rejected for 1% error | seconds | report |" in summary_md


def test_interrupted_run_with_validation_resumes_to_the_same_result(tmp_path, monkeypatch):
    from lecun89.train import Trainer

    cfg = load_config(None, ["train.passes=2", "data.validation=100", "data.validation_seed=2"])
    run_training(cfg, tmp_path / "full", quiet=True)
    real = Trainer.run_pass

    def interrupted(self, progress=None):
        if self.passes_done == 1:
            raise KeyboardInterrupt
        return real(self, progress)

    monkeypatch.setattr(Trainer, "run_pass", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, tmp_path / "cut", quiet=True)
    monkeypatch.setattr(Trainer, "run_pass", real)
    assert main(["train", "--resume", str(tmp_path / "cut"), "--no-report"]) == 0
    assert _metrics(tmp_path / "full") == _metrics(tmp_path / "cut")
    ra, rb = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("full", "cut"))
    assert _no_seconds(ra) == _no_seconds(rb) and ra["validation_size"] == 100
