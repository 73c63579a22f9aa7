"""The Train tab's training speed against ``lecun89 train``'s, with pages watching.

In one command, for a config and seed: ``python -m lecun89 train CONFIG --seed
SEED`` (a subprocess, as a person runs it), then the same run started on
``lecun89 serve``'s Train tab (a subprocess server on 127.0.0.1) and watched by
its holder alone, then by the holder and W more watchers, each polling
``GET /api/train`` every 150 ms on its own connection as the page does (threads
of this process). Prints, per run, the training time (the sum of the passes'
``seconds`` in metrics.jsonl: the passes alone, the evaluations between them
aside; on the page it includes the watch's scoring of its sample every 512
digits), its ratio to the CLI's, the wall time from start to the last pass, the
polls answered and their median and 95th-percentile round trip (medians over
``--repeat`` rounds of the three runs in turn); and checks that
every page run's model.npz and metrics.jsonl (timings aside) are the CLI's.

    python scripts/bench_train.py [--config lecun1989] [--seed 0] [--watchers 20] [--repeat 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from lecun89.testing import request, resolve_data_dir, start_server, stop_server  # noqa: E402

POLL_S = 0.15


def train_seconds(run: Path) -> float:
    return sum(json.loads(line)["seconds"] for line in (run / "metrics.jsonl").read_text().splitlines())


def same_run(a: Path, b: Path) -> bool:
    za, zb = np.load(a / "model.npz"), np.load(b / "model.npz")
    rows = [[{**json.loads(line), "seconds": None} for line in (d / "metrics.jsonl").read_text().splitlines()]
            for d in (a, b)]
    return sorted(za) == sorted(zb) and all(np.array_equal(za[k], zb[k]) for k in za) and rows[0] == rows[1]


def poller(url: str, stop: threading.Event, times: list, owner: str | None = None) -> None:
    """One page polling every POLL_S seconds on a kept-alive connection, as the page does."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    since = 0
    try:
        while not stop.is_set():
            q = f"/api/train?since={since}" + (f"&owner={owner}" if owner else "")
            t0 = time.perf_counter()
            conn.request("GET", q)
            r = json.loads(conn.getresponse().read())
            times.append(time.perf_counter() - t0)
            since = r.get("npoints", since)
            stop.wait(POLL_S)
    finally:
        conn.close()


def page_run(url: str, config: str, seed: int, watchers: int) -> dict:
    """Start CONFIG on the Train tab, poll until it is done with ``watchers`` more pages, save it."""
    status, _, r = request(url, "POST", "/api/train/start", {"config": config, "seed": seed})
    if status != 200:
        raise SystemExit(f"start: HTTP {status}: {r}")
    owner, t0 = r["owner"], time.perf_counter()
    stop, times = threading.Event(), []
    threads = [threading.Thread(target=poller, args=(url, stop, times), daemon=True) for _ in range(watchers)]
    for t in threads:
        t.start()
    mine: list = []
    while True:
        t1 = time.perf_counter()
        status, _, r = request(url, "GET", f"/api/train?owner={owner}&since=1000000")
        mine.append(time.perf_counter() - t1)
        if r["run"]["state"] in ("done", "failed"):
            break
        time.sleep(POLL_S)
    wall = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join(30)
    if r["run"]["state"] != "done":
        raise SystemExit(f"the page run failed: {r['run']['error']}")
    status, _, saved = request(url, "POST", "/api/train/save", {"owner": owner})
    if status != 200:
        raise SystemExit(f"save: HTTP {status}: {saved}")
    request(url, "POST", "/api/train/drop", {"owner": owner})
    return {"dir": Path(saved["saved"]), "wall": wall, "times": times + mine}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="lecun1989")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--watchers", type=int, default=20)
    ap.add_argument("--data-dir", default=str(resolve_data_dir()))
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the three runs, in turn (medians shown)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    old = os.getcwd()
    os.chdir(work)   # the server saves its runs under its own folder: the bench's
    try:
        proc, url, err = start_server("--data-dir", args.data_dir)
    finally:
        os.chdir(old)
    cli_runs, runs = [], {0: [], args.watchers: []}
    try:
        for k in range(args.repeat):   # in turn, so that the machine's load falls on all three alike
            cli = work / f"cli-{k}"
            subprocess.run([sys.executable, "-m", "lecun89", "train", args.config, "--seed", str(args.seed),
                            "--out", str(cli), "--no-report", "--no-progress", "--data-dir", args.data_dir],
                           check=True, stdout=subprocess.DEVNULL)
            cli_runs.append(cli)
            for w in runs:
                runs[w].append(page_run(url, args.config, args.seed, w))
    finally:
        stop_server(proc)
        err.close()
    base = [train_seconds(c) for c in cli_runs]
    print(f"{args.config}, seed {args.seed}, {args.repeat} round(s): training time, the sum of the passes' "
          "seconds in metrics.jsonl (median over the rounds); vs the CLI: the median of each round's ratio "
          "(min-max)")
    print("| run | training s | vs the CLI | wall s | polls | poll median ms | poll p95 ms | identical to the CLI |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    print(f"| lecun89 train | {statistics.median(base):.2f} | 1.00 | | | | | |")
    ok = True
    for w, rs in runs.items():
        same = all(same_run(cli_runs[0], r["dir"]) for r in rs)
        ok &= same
        t = sorted(x for r in rs for x in r["times"])
        p95 = t[int(0.95 * (len(t) - 1))] if t else float("nan")
        secs = [train_seconds(r["dir"]) for r in rs]
        ratios = [a / b for a, b in zip(secs, base, strict=True)]
        wall = statistics.median(r["wall"] for r in rs)
        print(f"| the page, holder + {w} watchers | {statistics.median(secs):.2f} | {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f}) | {wall:.2f} | {len(t)} | "
              f"{1000 * statistics.median(t):.1f} | {1000 * p95:.1f} | {'yes' if same else 'NO'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
