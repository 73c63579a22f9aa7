#!/usr/bin/env python
"""Sweep benchmark: the same study through the three executors, wall time and overhead per task.

The study: the quick config (embedded digits, no data files) with ``--passes``
passes per run, two variants (fixed and shuffled order) x ``--seeds`` seeds
(default 8 runs). It runs, one after the other, as

1. ``lecun89 sweep STUDY --executor local --jobs J`` (a process pool);
2. ``lecun89 sweep STUDY --executor dask --jobs J`` (a Dask LocalCluster of J
   single-threaded workers, started and stopped inside the command);
3. ``lecun89 sweep STUDY --scheduler tcp://127.0.0.1:PORT`` against a
   ``dask scheduler`` and J ``dask worker --nthreads 1`` processes this script
   starts beforehand (not timed) and stops afterwards, by process id; the
   workers with Dask's profiler off, as the README advises
   (``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``).

Each command's wall time is measured around it, startup included; the three
run in turn ``--repeat`` times (each round in a rotated order, so that a change
in the machine's other load falls on all three) and the best of each is
kept. The overhead per task is the extra wall time over the local executor,
spread over the tasks each worker ran: (wall - wall_local) / (runs / J). The three must
give bit-identical runs (metrics.jsonl without timings, model.npz), checked at
the end. Then the scheduler's own throughput: ``--noop`` empty tasks submitted
at once to the same scheduler, tasks per second.

Usage::

    python scripts/bench_sweep.py [--passes 30] [--seeds 4] [--jobs 2] [--repeat 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from lecun89.testing import DaskCluster, quick_study  # noqa: E402


def start_cluster(base: Path, jobs: int) -> DaskCluster:
    """A scheduler and ``jobs`` single-threaded workers (with nannies, Dask's
    profiler off); lecun89.testing's, shared with the tests."""
    cluster = DaskCluster(base, jobs, worker_env={"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"},
                          timeout=120)
    try:
        return cluster.start()
    except BaseException:
        cluster.stop(grace=20)
        raise


def sweep(study: Path, out: Path, args: list[str]) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "lecun89", "sweep", str(study), "--no-report", "--no-progress", "--out", str(out),
           *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return wall, proc.stdout


def runs_of(out: Path) -> dict[str, Path]:
    return {p.parent.relative_to(out).as_posix(): p.parent for p in sorted(out.glob("quick/*/seed-*/results.json"))}


def same_runs(a: Path, b: Path) -> bool:
    ra, rb = runs_of(a), runs_of(b)
    if ra.keys() != rb.keys():
        return False
    for rel in ra:
        ma, mb = ([{k: v for k, v in json.loads(line).items() if k != "seconds"}
                   for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (ra[rel], rb[rel]))
        if ma != mb:
            return False
        with np.load(ra[rel] / "model.npz") as za, np.load(rb[rel] / "model.npz") as zb:
            if za.files != zb.files or not all(np.array_equal(za[k], zb[k]) for k in za.files):
                return False
    return True


def scheduler_throughput(address: str, n: int) -> float:
    from distributed import Client, wait

    with Client(address) as client:
        client.submit(int, 0).result()  # warm up
        t0 = time.perf_counter()
        futures = client.map(int, range(n), pure=False)
        wait(futures)
        return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=30, help="passes per run (default 30: about 15 s a run here)")
    ap.add_argument("--seeds", type=int, default=4, help="seeds per variant (default 4: 8 runs)")
    ap.add_argument("--jobs", type=int, default=2, help="processes / workers (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the three commands; best of each (default 3)")
    ap.add_argument("--noop", type=int, default=2000, help="empty tasks for the scheduler's throughput")
    ap.add_argument("--out", help="working folder (default: a temporary one)")
    args = ap.parse_args()
    base = Path(args.out or tempfile.mkdtemp(prefix="bench-sweep-"))
    base.mkdir(parents=True, exist_ok=True)
    study = base / "study.toml"
    study.write_text(quick_study(seeds=args.seeds, passes=args.passes))
    n = 2 * args.seeds
    print(f"bench_sweep: {n} runs of quick, {args.passes} passes each, {args.jobs} processes/workers, in {base}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    t0 = time.perf_counter()
    cluster = start_cluster(base, args.jobs)
    address = cluster.address
    print(f"  a dask scheduler and {args.jobs} workers on {address}, started in {time.perf_counter() - t0:.1f} s "
          "(not counted)", flush=True)
    ways = {"local (process pool)": ["--executor", "local", "--jobs", str(args.jobs)],
            "dask, LocalCluster": ["--executor", "dask", "--jobs", str(args.jobs)],
            f"dask, scheduler + {args.jobs} workers": ["--scheduler", address]}
    walls: dict[str, list[float]] = {name: [] for name in ways}
    results = {}
    text = ""
    try:
        for r in range(args.repeat):
            names = list(ways)[r % 3:] + list(ways)[:r % 3]
            for name in names:
                out = base / f"round-{r}" / f"way-{list(ways).index(name)}"
                wall, stdout = sweep(study, out, ways[name])
                walls[name].append(wall)
                results[name] = (min(walls[name]), out)
                text = stdout if "received" in stdout else text
                print(f"  round {r + 1}: {name}: {wall:.1f} s (load average {os.getloadavg()[0]:.2f})", flush=True)
        rate = scheduler_throughput(address, args.noop)
    finally:
        cluster.stop(grace=20)
    wall_local = results["local (process pool)"][0]
    local_out = results["local (process pool)"][1]
    per_run = [json.loads((d / "meta.json").read_text()) for d in runs_of(local_out).values()]
    import datetime as dt

    spans = [(dt.datetime.fromisoformat(m["end"]) - dt.datetime.fromisoformat(m["start"])).total_seconds()
             for m in per_run]
    print(f"\nlocal, best round: a run took {np.mean(spans):.1f} s on average (start to end, whole seconds)\n")
    print(f"| executor | wall time, best of {args.repeat} | all rounds | vs local | overhead per task | "
          "bit-identical to local |")
    print("|---|---:|---|---:|---:|---|")
    for name, (wall, out) in results.items():
        per_task = (wall - wall_local) / (n / args.jobs)
        same = "—" if out == local_out else ("yes" if same_runs(local_out, out) else "NO")
        rounds = ", ".join(f"{w:.1f}" for w in walls[name])
        print(f"| {name} | {wall:.1f} s | {rounds} | {wall / wall_local:.3f} | {per_task:+.2f} s | {same} |")
    m = re.search(r"dask: data ([\d.]+) MB.*?; ([\d.]+) kB per task; received (\d+) kB of files per run", text)
    if m:
        print(f"\nover the network: the data {m.group(1)} MB once to each worker, {m.group(2)} kB per task "
              f"to a worker, {m.group(3)} kB of files per run back to the client")
    print(f"scheduler: {rate:,.0f} empty tasks per second ({args.noop} submitted at once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
