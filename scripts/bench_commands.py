"""The benchmark's whole-process timings (scripts/bench.py): ``lecun89`` commands
as a user runs them, each in a fresh process, timed from its start to its
exit (or to its first training digit), its start-up included.

- the README's first command, ``lecun89 train``, on a fresh install (an empty
  numba cache, an empty array cache, a fresh folder) and again with both
  caches filled; the same without its report;
- the time ``lecun89 train --set train.passes=1`` takes before its first digit;
- a pass through the command: ``(11-pass run - 1-pass run) / 10`` of whole
  runs of a config, its evaluations and checkpoints included, on either engine,
  in CPU seconds (and wall);
- the first ``lecun89 train lecun1989`` (an empty numba cache): its wall time
  beyond the training time its results.json records.

Every command runs ``python -m lecun89`` with this interpreter, with one BLAS
thread as every lecun89 command has. The numbers are as noisy as the machine:
each is the best of a few runs.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A pass through the command: the time of a LONG-pass run less a 1-pass run's, per pass.
LONG = 11
# Variables that would make a run differ from a user's: unset for every command.
CLEAR = ("LECUN89_ENGINE", "NUMBA_CACHE_DIR", "LECUN89_CACHE")
_FIRST_DIGIT = r'''
import sys
import lecun89.train as T
_run_pass = T.Trainer.run_pass
def run_pass(self, *a, **k):
    print("lecun89-bench: first digit", flush=True)
    T.Trainer.run_pass = _run_pass
    return _run_pass(self, *a, **k)
T.Trainer.run_pass = run_pass
from lecun89.cli import main
sys.exit(main(sys.argv[1:]))
'''


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEAR}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(args: list[str], cwd: Path, env: dict, timeout: float = 900, cpu: bool = False):
    """Wall seconds of ``python -m lecun89 ARGS`` (with ``cpu``: and its CPU
    seconds, user + system); a failure raises with its output."""
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lecun89", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    wall, used = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode:
        raise RuntimeError(f"lecun89 {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return (wall, used) if cpu else wall


def first_digit(args: list[str], cwd: Path, env: dict) -> float:
    """Seconds from the start of ``lecun89 ARGS`` to the start of its first training pass."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _FIRST_DIGIT, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    seconds = None
    for line in proc.stdout:
        if line.startswith("lecun89-bench: first digit") and seconds is None:
            seconds = time.perf_counter() - t0
    proc.wait()
    if proc.returncode or seconds is None:
        raise RuntimeError(f"lecun89 {' '.join(args)} failed ({proc.returncode}) before its first digit")
    return seconds


def first_train(work: Path, repeat: int) -> dict:
    """``lecun89 train`` (quick, with its report) on a fresh install, then with
    its caches filled, with and without the report: wall seconds."""
    caches = {"NUMBA_CACHE_DIR": work / "numba-cache", "LECUN89_CACHE": work / "array-cache"}
    env = _env(**caches)
    out = {}
    (work / "fresh").mkdir(parents=True)
    out["fresh"] = run(["train", "--no-progress"], work / "fresh", env)
    cached, bare = [], []
    for i in range(repeat):
        (work / f"again-{i}").mkdir()
        cached.append(run(["train", "--no-progress"], work / f"again-{i}", env))
        bare.append(run(["train", "--no-progress", "--no-report"], work / f"again-{i}", env))
    out["cached"], out["cached_no_report"] = min(cached), min(bare)
    out["start_to_first_digit"] = min(
        first_digit(["train", "--set", "train.passes=1", "--no-report", "--no-progress", "--out",
                     str(work / f"first-{i}")], work, env) for i in range(repeat))
    return out


def command_pass(config: str, engine: str, data_dir: Path, work: Path, repeat: int) -> dict:
    """A pass of ``lecun89 train CONFIG`` through the command, evaluations and
    checkpoints included: (best LONG-pass run - best 1-pass run) / (LONG - 1),
    in CPU seconds (the commands are one thread each: on an idle machine their
    wall time, which a busy one inflates, the longer run the more) and in wall
    seconds; numba's cache filled by a run before (not timed)."""
    work.mkdir(parents=True, exist_ok=True)
    env = _env(LECUN89_CACHE=work / "array-cache", NUMBA_CACHE_DIR=work / "numba-cache")
    base = ["train", config, "--set", f"train.engine={engine}", "--data-dir", str(data_dir), "--no-report",
            "--no-progress"]
    run([*base, "--set", "train.passes=1", "--out", str(work / f"{config}-{engine}-warm")], work, env)
    walls: dict[int, list[float]] = {1: [], LONG: []}
    cpus: dict[int, list[float]] = {1: [], LONG: []}
    for i in range(repeat):
        for n in (LONG, 1):
            wall, used = run([*base, "--set", f"train.passes={n}", "--out", str(work / f"{config}-{engine}-{n}-{i}")],
                             work, env, cpu=True)
            walls[n].append(wall)
            cpus[n].append(used)
    return {"pass": (min(cpus[LONG]) - min(cpus[1])) / (LONG - 1),
            "pass_wall": (min(walls[LONG]) - min(walls[1])) / (LONG - 1), "wall_1": min(walls[1]),
            "wall_long": min(walls[LONG]), "passes_long": LONG, "config": config, "engine": engine}


def first_paper_run(data_dir: Path, work: Path, passes: int) -> dict:
    """The first ``lecun89 train lecun1989`` (with its report, ``passes`` passes) on
    an empty numba cache: wall seconds, the training seconds results.json records,
    and the rest (start-up, data, compiling, evaluations, the report)."""
    env = _env(NUMBA_CACHE_DIR=work / "paper-numba-cache", LECUN89_CACHE=work / "paper-array-cache")
    out = work / "paper"
    wall = run(["train", "lecun1989", "--set", f"train.passes={passes}", "--data-dir", str(data_dir),
                "--no-progress", "--out", str(out)], work, env)
    results = json.loads((out / "results.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    return {"wall": wall, "training": results["seconds"], "beyond_training": wall - results["seconds"],
            "passes": passes, "compile_seconds": meta["engine"].get("compile_seconds"),
            "from_cache": meta["engine"].get("from_cache")}


def measure(data_dir: Path, repeat: int, quick: bool, say) -> dict:
    """Every whole-process timing above (``quick``: fewer and shorter runs)."""
    with tempfile.TemporaryDirectory(prefix="lecun89-bench-") as tmp:
        work = Path(tmp)
        res = {"first_train": first_train(work / "quick", max(1, repeat))}
        say(f"# lecun89 train: fresh install {res['first_train']['fresh']:.2f} s, caches filled "
            f"{res['first_train']['cached']:.2f} s ({res['first_train']['cached_no_report']:.2f} s without the "
            f"report), {res['first_train']['start_to_first_digit']:.2f} s to the first digit")
        res["first_paper_run"] = first_paper_run(data_dir, work, 1 if quick else 2)
        p = res["first_paper_run"]
        say(f"# first lecun89 train lecun1989 ({p['passes']} passes): {p['wall']:.1f} s, "
            f"{p['beyond_training']:.1f} s beyond its {p['training']:.1f} s of training")
        if not quick:
            res["passes"] = {}
            for config, engine in (("lecun1989-sgd", "numba"), ("modern-usps", "numba"), ("modern-usps", "numpy")):
                r = command_pass(config, engine, data_dir, work / f"{config}-{engine}", repeat)
                res["passes"][f"{config}/{engine}"] = r
                say(f"# {config} through the command, {engine} engine: {r['pass']:.3f} CPU s a pass "
                    f"({r['pass_wall']:.3f} s wall)")
        return res
