"""Training runs end to end on the embedded digits: run directory, determinism,
resume, eval and sweep."""

import json
import re

import numpy as np
import pytest

from lecun89 import metrics
from lecun89.cli import main
from lecun89.config import load_config
from lecun89.engine import inference
from lecun89.model import load_checkpoint
from lecun89.train import run_training, Trainer


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LECUN89_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("seconds")
    return rows


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _same_run(a, b):
    assert _metrics(a) == _metrics(b)
    ma, mb = _arrays(a / "model.npz"), _arrays(b / "model.npz")
    assert ma.keys() == mb.keys()
    for k in ma:
        assert np.array_equal(ma[k], mb[k]), k  # bit-identical


def test_train_cli_writes_a_complete_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--set", "train.passes=2", "--out", str(out), "--no-report"]) == 0
    stdout = capsys.readouterr().out
    assert "pass   2/2" in stdout and "test error" in stdout
    for name in ("config.toml", "metrics.jsonl", "results.json", "model.npz", "outputs.npz", "meta.json"):
        assert (out / name).is_file(), name
    r = json.loads((out / "results.json").read_text())
    for key in ("dataset", "passes", "train_error", "test_error", "train_misses", "test_misses", "train_mse",
                "test_mse", "rejection_at_1pct", "units", "connections", "params", "seconds", "seed"):
        assert key in r, key
    assert (r["dataset"], r["passes"], r["units"], r["connections"], r["params"]) == ("digits", 2, 1256, 64660, 9760)
    rows = _metrics(out)
    assert [row["pass"] for row in rows] == [1, 2]
    assert rows[-1]["test_error"] == r["test_error"] and rows[-1]["train_mse"] == r["train_mse"]
    # The saved outputs reproduce the reported numbers, and the checkpoint reproduces the outputs.
    o = _arrays(out / "outputs.npz")
    assert metrics.misses(o["test_outputs"], o["test_labels"]) == r["test_misses"]
    assert metrics.rejection_at(o["test_outputs"], o["test_labels"]) == r["rejection_at_1pct"]
    from lecun89.data import load_dataset

    data = load_dataset("digits")
    net = load_checkpoint(out / "model.npz")
    engine = load_config(out / "config.toml").train.engine
    assert engine == json.loads((out / "meta.json").read_text())["engine"]["name"]
    np.testing.assert_array_equal(inference(net, engine)[1](data.x_test), o["test_outputs"])  # the run's own forward
    np.testing.assert_allclose(net.predict(data.x_test), o["test_outputs"], rtol=1e-12, atol=1e-13)  # the layers'
    assert load_config(out / "config.toml") == load_config(None, ["train.passes=2"])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 0 and meta["versions"]["numpy"] == np.__version__ and meta["data_checksum"]
    assert meta["install"] == "checkout" and meta["threads"] and all(t["num_threads"] == 1 for t in meta["threads"])
    assert r["test_error"] < 0.5  # two passes learn something on the digits


@pytest.mark.parametrize("sets", [
    ["train.optimizer=sdlm", "train.sdlm_samples=100"],
    ["train.optimizer=sdlm", "train.sdlm_estimator=running", "train.cost_scale=half_sum", "train.sdlm_mu=0.05",
     "train.schedule=constant", "train.sdlm_eps_scale=sqrt_fanin_share", "model.init=fanin"],
    ["train.optimizer=sgd", "train.momentum=0.5", "train.weight_decay=1e-4", "train.order=shuffle"],
    ["train.optimizer=adamw", "train.lr=1e-3", "model.dropout=0.25", "model.activation=relu",
     "model.output_activation=none", "train.loss=ce", "train.augment=shift", "train.batch_size=8"],
])
def test_same_config_seed_and_data_give_bit_identical_runs(tmp_path, sets):
    cfg = load_config(None, sets + ["train.passes=2"])
    run_training(cfg, tmp_path / "a", quiet=True)
    run_training(cfg, tmp_path / "b", quiet=True)
    _same_run(tmp_path / "a", tmp_path / "b")
    other = load_config(None, sets + ["train.passes=2"], seed=1)
    run_training(other, tmp_path / "c", quiet=True)
    assert _metrics(tmp_path / "a") != _metrics(tmp_path / "c")


@pytest.mark.parametrize("sets", [
    ["train.optimizer=sdlm", "train.sdlm_samples=100"],
    ["train.optimizer=sdlm", "train.sdlm_estimator=running", "train.cost_scale=half_sum", "train.sdlm_mu=0.05",
     "train.schedule=constant", "train.sdlm_eps_scale=sqrt_fanin_share", "model.init=fanin"],
    ["train.optimizer=adamw", "train.lr=1e-3", "model.dropout=0.25", "train.augment=shift", "train.order=shuffle"],
])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, sets):
    cfg = load_config(None, sets + ["train.passes=3"])
    run_training(cfg, tmp_path / "full", quiet=True)

    real = Trainer.run_pass
    calls = {"n": 0}

    def interrupted(self, progress=None):
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C after pass 2's updates, before its checkpoint is written
            real(self, progress)
            raise KeyboardInterrupt
        return real(self, progress)

    monkeypatch.setattr(Trainer, "run_pass", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, tmp_path / "cut", quiet=True)
    monkeypatch.setattr(Trainer, "run_pass", real)
    assert len(_metrics(tmp_path / "cut")) == 1 and not (tmp_path / "cut" / "results.json").exists()
    assert main(["train", "--resume", str(tmp_path / "cut"), "--no-report"]) == 0
    _same_run(tmp_path / "full", tmp_path / "cut")


def test_existing_run_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["train", "--set", "train.passes=1", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_resume_needs_a_run_directory(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_eval_matches_results(tmp_path, capsys):
    out = tmp_path / "run"
    run_training(load_config(None, ["train.passes=1"]), out, quiet=True)
    r = json.loads((out / "results.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(out / "model.npz"), "--json"]) == 0
    e = json.loads(capsys.readouterr().out)
    for key in ("test_error", "test_misses", "test_mse", "rejection_at_1pct", "dataset"):
        assert e[key] == r[key], key
    assert main(["eval", str(out / "model.npz"), "--split", "train", "--json"]) == 0
    e = json.loads(capsys.readouterr().out)
    assert e["train_misses"] == r["train_misses"]
    assert main(["eval", str(out / "model.npz")]) == 0
    assert "rejection" in capsys.readouterr().out


def _blas_threads_env(n):
    """The environment a user with an n-core machine and no thread settings has,
    made explicit: every BLAS and OpenMP pool allowed n threads."""
    import os

    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[var] = str(n)
    return env


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_eval_and_predict_match_the_run_with_blas_allowed_two_threads(tmp_path, engine):
    """The defect a fresh 2-core machine showed: training pinned BLAS to one
    thread, eval and predict used every core, and the last bits moved. eval
    scores with the engine the run used (the compiled forward for numba)."""
    import subprocess
    import sys

    from threadpoolctl import threadpool_limits

    out = tmp_path / "run"
    run_training(load_config(None, ["train.passes=1", f"train.engine={engine}"]), out, quiet=True)
    r = json.loads((out / "results.json").read_text())
    o = _arrays(out / "outputs.npz")
    from lecun89.data import load_dataset

    data = load_dataset("digits")
    net = load_checkpoint(out / "model.npz")
    assert inference(net, engine)[0] == engine
    with threadpool_limits(limits=2):
        assert np.array_equal(inference(net, engine)[1](data.x_test), o["test_outputs"])
        assert np.array_equal(inference(net, engine)[1](data.x_train), o["train_outputs"])
    for split in ("test", "train"):
        proc = subprocess.run([sys.executable, "-m", "lecun89", "eval", str(out / "model.npz"), "--split", split,
                               "--json"], capture_output=True, text=True, env=_blas_threads_env(2), timeout=300)
        assert proc.returncode == 0, proc.stderr
        e = json.loads(proc.stdout)
        # eval's rejection figure is for the split it scores; results.json's for the test set
        shared = set(e) & set(r) - ({"rejection_at_1pct"} if split == "train" else set())
        assert {f"{split}_error", f"{split}_mse", f"{split}_misses"} <= shared
        for key in sorted(shared):
            assert e[key] == r[key], (split, key)


def test_two_blas_threads_would_change_the_bits_here():
    """Shows that the test above can fail: on this machine, the network's forward
    pass with two BLAS threads differs from one thread in the last bits (skipped
    where the BLAS happens to give the same bits either way)."""
    from threadpoolctl import threadpool_limits

    from lecun89.data import load_dataset
    from lecun89.model import build_model

    net = build_model(load_config(None).model, 0)
    x = load_dataset("digits").x_test[:256]
    with threadpool_limits(limits=1):
        one = net.forward(x)
    with threadpool_limits(limits=2):
        two = net.forward(x)
    if np.array_equal(one, two):
        pytest.skip("this BLAS gives the same bits with 1 and 2 threads")
    assert np.abs(one - two).max() < 1e-12


def test_eval_refuses_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "model.npz"
    bad.write_text("not a zip")
    assert main(["eval", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a lecun89 checkpoint" in err[0]
    np.savez(bad, weights=np.zeros(3))
    assert main(["eval", str(bad)]) == 1
    assert "not a lecun89 checkpoint" in capsys.readouterr().err


def test_sweep_runs_seeds_in_parallel_and_resumes(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "configs/quick.toml", "--seeds", "3", "--jobs", "2", "--set", "train.passes=1",
            "--out", str(out), "--no-report"]
    from lecun89.config import CONFIG_DIR

    args[1] = str(CONFIG_DIR / "quick.toml")
    assert main(args) == 0
    runs = sorted((out / "quick").iterdir())
    assert [p.name for p in runs] == ["seed-0", "seed-1", "seed-2"]
    results = [json.loads((p / "results.json").read_text()) for p in runs]
    assert [r["seed"] for r in results] == [0, 1, 2]
    assert (out / "summary.md").is_file() and (out / "summary.json").is_file()
    # The summary's mean and sample std over the three runs, computed here from their results.json:
    # summary.json's numbers, and summary.md's as printed (percent, two decimals).
    (group,) = json.loads((out / "summary.json").read_text())["configs"]
    assert (group["config_name"], group["n"], group["seeds"]) == ("quick", 3, [0, 1, 2])
    row = _summary_row(out / "summary.md", "quick")
    assert row["n"] == "3"
    for key, column in (("test_error", "test error"), ("train_error", "train error")):
        v = np.array([r[key] for r in results])
        mean, std = v.mean(), v.std(ddof=1)
        assert group[key]["mean"] == pytest.approx(mean, rel=1e-12) and group[key]["values"] == v.tolist()
        assert group[key]["std"] == pytest.approx(std, rel=1e-12)
        printed = re.fullmatch(r"(\d+\.\d\d) ± (\d+\.\d\d)%", row[column])
        assert printed, row[column]
        assert printed.groups() == (f"{100 * mean:.2f}", f"{100 * std:.2f}"), (column, v)
    before = {p: (p / "results.json").stat().st_mtime_ns for p in runs}
    capsys.readouterr()
    assert main(args) == 0
    assert "3 already done" in capsys.readouterr().out
    assert before == {p: (p / "results.json").stat().st_mtime_ns for p in runs}


def _summary_row(md_path, config: str) -> dict:
    """summary.md's first table (mean ± std per config): column header -> cell of ``config``'s row."""
    lines = md_path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| config |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    header, rows = table[0], table[2:]
    (row,) = [r for r in rows if r[0] == config]
    return dict(zip(header, row, strict=True))
