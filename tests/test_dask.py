"""The Dask executor against a real cluster: a ``dask scheduler`` and two
``dask worker`` processes on 127.0.0.1, started and stopped (by process id) here.

A small study (the quick config, 2 variants x 2 seeds) runs through
``--scheduler`` and must give the local executor's runs bit for bit; a worker
killed in the middle of a run must not change that. Skips where Dask's
``distributed`` is not installed (``pip install -e ".[dask]"``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lecun89.testing import DaskCluster, quick_study, stop_process

pytest.importorskip("distributed", reason="Dask's distributed is not installed (pip install -e '.[dask]')")

PASSES = 3  # long enough that a worker killed after a run's first pass kills it mid-run
STUDY = quick_study(seeds=2, passes=PASSES)


def two_workers(base: Path) -> DaskCluster:
    """Two workers without a nanny (a killed worker stays dead), each training in a TMPDIR of its own
    (so the test sees its progress)."""
    return DaskCluster(base, 2, nanny=False, own_tmpdir=True, timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = two_workers(tmp_path_factory.mktemp("dask-cluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    (d / "study.toml").write_text(STUDY)
    return d


@pytest.fixture(scope="module")
def local_runs(study):
    """The reference: the study through the local executor."""
    out = study / "local"
    _sweep(study, ["--executor", "local", "--out", str(out)])
    return out


def _env(study: Path) -> dict:
    env = dict(os.environ, LECUN89_CACHE=str(study / "cache"))
    env.pop("LECUN89_DATA", None)
    return env


def _sweep(study: Path, args: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lecun89", "sweep", str(study / "study.toml"), "--no-report",
                           "--no-progress", *args], capture_output=True, text=True, cwd=study, env=_env(study),
                          timeout=600, **kw)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _run_dirs(out: Path) -> list[str]:
    return sorted(p.parent.relative_to(out).as_posix() for p in out.glob("quick/*/seed-*/results.json"))


def _metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("seconds")
    return rows


def _model(run_dir: Path) -> dict:
    with np.load(run_dir / "model.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _assert_same_runs(a: Path, b: Path, n: int = 4) -> None:
    runs = _run_dirs(b)
    assert len(runs) == n and set(runs) <= set(_run_dirs(a))
    for rel in runs:
        assert _metrics(a / rel) == _metrics(b / rel), rel
        ma, mb = _model(a / rel), _model(b / rel)
        assert ma.keys() == mb.keys()
        for k in ma:
            assert np.array_equal(ma[k], mb[k]), (rel, k)  # bit-identical
        ra, rb = (json.loads((d / rel / "results.json").read_text()) for d in (a, b))
        ra.pop("seconds"), rb.pop("seconds")
        assert ra == rb, rel
    if n == 4:
        sa, sb = (_summary(d) for d in (a, b))
        assert sa == sb and len(sa) == 2


def _summary(out: Path) -> list[dict]:
    groups = json.loads((out / "summary.json").read_text())["configs"]
    return [{k: v for k, v in g.items() if k != "seconds"} for g in groups]


def test_study_on_a_dask_cluster_matches_the_local_executor(cluster, study, local_runs, monkeypatch):
    assert [r.split("/", 2)[1].split("-")[0] for r in _run_dirs(local_runs)] == ["fixed", "fixed", "shuffled",
                                                                                  "shuffled"]
    out = study / "scheduler"
    # A run interrupted earlier, after one pass: the client sends it along to be finished.
    from lecun89.config import load_config
    from lecun89.train import Trainer, run_training

    rel = _run_dirs(local_runs)[3]
    real = Trainer.run_pass

    def one_pass_then_stop(self, progress=None):
        if self.passes_done == 1:
            raise KeyboardInterrupt
        return real(self, progress)

    monkeypatch.setattr(Trainer, "run_pass", one_pass_then_stop)
    extra = {k: json.loads((local_runs / rel / "results.json").read_text())[k] for k in ("variant", "overrides")}
    with pytest.raises(KeyboardInterrupt):
        run_training(load_config(local_runs / rel / "config.toml"), out / rel, quiet=True, extra=extra)
    monkeypatch.setattr(Trainer, "run_pass", real)
    assert len(_metrics(out / rel)) == 1 and not (out / rel / "results.json").exists()

    proc = _sweep(study, ["--scheduler", cluster.address, "--out", str(out)])
    assert f"runs in {out} (0 already done), dask scheduler {cluster.address}" in proc.stdout
    assert "dask: " + cluster.address + ", 2 worker(s)" in proc.stdout
    assert proc.stdout.count("test error") == 4 and "quick [shuffled] seed 1: test error" in proc.stdout
    _assert_same_runs(local_runs, out)
    assert not list(out.glob("quick/*/.*"))  # nothing left in transit

    # Done runs are skipped on a second call, and left as they are.
    before = {p: p.stat().st_mtime_ns for p in out.glob("quick/*/seed-*/*")}
    proc = _sweep(study, ["--scheduler", cluster.address, "--out", str(out)])
    assert "(4 already done)" in proc.stdout and "test error" not in proc.stdout
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("quick/*/seed-*/*")}


def test_study_on_a_local_dask_cluster_matches_the_local_executor(study, local_runs):
    out = study / "localcluster"
    proc = _sweep(study, ["--executor", "dask", "--jobs", "2", "--seed-list", "1", "--out", str(out)])
    assert "dask LocalCluster, 2 worker(s)" in proc.stdout
    _assert_same_runs(local_runs, out, n=2)


@pytest.fixture
def own_cluster(tmp_path):
    """A cluster of this test's own: killing one of its workers leaves the shared one whole."""
    c = two_workers(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_a_worker_killed_mid_run_does_not_change_the_study(own_cluster, study, local_runs):
    cluster = own_cluster
    out = study / "killed"
    cmd = [sys.executable, "-m", "lecun89", "sweep", str(study / "study.toml"), "--no-report", "--no-progress",
           "--scheduler", cluster.address, "--out", str(out)]
    with open(study / "killed.log", "wb") as log:
        sweep = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=study, env=_env(study),
                                 start_new_session=True)
    try:
        # Wait until a worker has finished the first pass of a run (its metrics row is on disk), then kill it.
        victim = None
        deadline = time.monotonic() + 120
        while victim is None:
            assert sweep.poll() is None, (study / "killed.log").read_text()
            assert time.monotonic() < deadline, "no run started on the cluster"
            for proc, tmp in cluster.workers:
                for m in tmp.glob("lecun89-run-*/run/metrics.jsonl"):
                    if m.read_text().count("\n") >= 1:
                        victim = (proc, m.parent)
                        break
            time.sleep(0.05)
        proc, run_dir = victim
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # Killed in the middle: passes done, but not all, and no results.
        rows = (run_dir / "metrics.jsonl").read_text().count("\n")
        assert 1 <= rows < PASSES and not (run_dir / "results.json").exists()
        assert sweep.wait(timeout=300) == 0, (study / "killed.log").read_text()
    finally:
        stop_process(sweep)
    text = (study / "killed.log").read_text()
    assert text.count("test error") == 4, text
    _assert_same_runs(local_runs, out)
