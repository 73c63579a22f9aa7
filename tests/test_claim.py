"""A run directory is claimed by one process (lecun89.rundir.claim): two runs, two
resumes or two sweeps started together into one folder never both write it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lecun89 import rundir
from lecun89.errors import UserError

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 4


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "LECUN89_ENGINE": "numpy", "OPENBLAS_NUM_THREADS": "1"}


def _start(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "lecun89", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _consistent(d: Path) -> dict:
    """The run directory holds one run: config, metrics and results agree."""
    cfg = rundir.read_config(d / rundir.CONFIG)
    results = json.loads((d / rundir.RESULTS).read_text())
    rows = rundir.read_metrics(d / rundir.METRICS)
    assert results["seed"] == cfg.seed and results["passes"] == cfg.train.passes
    assert [r["pass"] for r in rows] == list(range(1, cfg.train.passes + 1))
    assert rows[-1]["test_error"] == results["test_error"]
    assert not (d / rundir.LOCK).exists()
    return results


def test_a_claim_is_held_once_and_let_go(tmp_path):
    d = tmp_path / "run"
    with rundir.claim(d):
        assert (d / rundir.LOCK).read_text().strip() == str(os.getpid())
        with pytest.raises(UserError, match=r"in use by another lecun89 process \(pid \d+\)"):
            with rundir.claim(d):
                pass
    assert not d.exists()  # made by the claim, nothing written: gone again
    d.mkdir()
    (d / "keep.txt").write_text("x")
    with rundir.claim(d):
        pass
    assert sorted(p.name for p in d.iterdir()) == ["keep.txt"]


def test_a_killed_holder_lets_go(tmp_path):
    d = tmp_path / "run"
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from lecun89 import rundir\n"
            "with rundir.claim(sys.argv[2]):\n    print('held', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(REPO), str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"pid {p.pid}"):
            with rundir.claim(d):
                pass
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    with rundir.claim(d):  # the kernel released the dead process's lock
        pass


def test_two_trainings_started_together_into_one_folder(tmp_path):
    for k in range(ROUNDS):
        d = tmp_path / f"d{k}"
        a = _start("train", "--seed", "1", "--set", "train.passes=2", "--no-report", "--out", str(d), cwd=tmp_path)
        b = _start("train", "--seed", "2", "--set", "train.passes=3", "--no-report", "--out", str(d), cwd=tmp_path)
        outs = [p.communicate(timeout=300) for p in (a, b)]
        codes = [a.returncode, b.returncode]
        # the loser finds the folder in use (status 2), or, where the winner was done first, not empty (1)
        assert sorted(codes) in ([0, 1], [0, 2]), (codes, outs)
        loser = outs[codes.index(max(codes))][1]
        assert ("in use by another lecun89 process" if max(codes) == 2 else "directory exists and is not empty") \
            in loser, loser
        assert loser.count("\n") == 1  # one line, no traceback
        winner = _consistent(d)
        assert winner["seed"] == (1 if codes[0] == 0 else 2)


def test_two_resumes_of_one_run_started_together(tmp_path):
    import shutil

    seed_dir = tmp_path / "after-pass-1"
    subprocess.run([sys.executable, "-m", "lecun89", "train", "--set", "train.passes=1", "--no-report", "--out",
                    str(seed_dir)], cwd=tmp_path, env=_env(), check=True, capture_output=True)
    cfg = seed_dir / rundir.CONFIG  # the run asks for 3 passes: 2 are left to resume
    cfg.write_text(cfg.read_text().replace("passes = 1\n", "passes = 3\n"))
    (seed_dir / rundir.RESULTS).unlink()
    for k in range(ROUNDS):
        d = shutil.copytree(seed_dir, tmp_path / f"r{k}")
        a, b = (_start("train", "--resume", str(d), "--no-report", cwd=tmp_path) for _ in range(2))
        outs = [p.communicate(timeout=300) for p in (a, b)]
        codes = [a.returncode, b.returncode]
        assert 0 in codes and set(codes) <= {0, 2}, (codes, outs)
        for code, (_, err) in zip(codes, outs, strict=True):
            if code == 2:
                assert "in use by another lecun89 process" in err and err.count("\n") == 1, err
        assert _consistent(d)["passes"] == 3


def test_two_sweeps_started_together_into_one_folder(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text('configs = ["quick"]\nseeds = 2\n\n[set]\ntrain.passes = 1\n')
    for k in range(ROUNDS // 2):
        out = tmp_path / f"s{k}"
        args = ("sweep", str(study), "--no-report", "--no-progress", "--jobs", "1", "--out", str(out))
        a, b = _start(*args, cwd=tmp_path), _start(*args, cwd=tmp_path)
        outs = [p.communicate(timeout=300) for p in (a, b)]
        codes = [a.returncode, b.returncode]
        assert 0 in codes and set(codes) <= {0, 2}, (codes, outs)
        for code, (_, err) in zip(codes, outs, strict=True):
            if code == 2:
                assert "in use by another lecun89 process" in err, err
        for seed in (0, 1):
            assert _consistent(out / "quick" / f"seed-{seed}")["seed"] == seed


def test_a_refused_run_leaves_no_folder_and_a_finished_one_no_lock(tmp_path):
    missing = tmp_path / "nowhere"
    r = subprocess.run([sys.executable, "-m", "lecun89", "train", "--resume", str(missing)], cwd=tmp_path,
                       env=_env(), capture_output=True, text=True)
    assert r.returncode == 2 and not missing.exists()
    t0 = time.perf_counter()
    d = tmp_path / "ok"
    subprocess.run([sys.executable, "-m", "lecun89", "train", "--set", "train.passes=1", "--out", str(d)],
                   cwd=tmp_path, env=_env(), check=True, capture_output=True)
    assert (d / "report.md").is_file() and not (d / rundir.LOCK).exists(), time.perf_counter() - t0
