"""Round-trip latency of ``lecun89 serve``: a prediction with all maps, over HTTP.

Starts ``python -m lecun89 serve --port 0`` on 127.0.0.1 (a subprocess, as a
person runs it), then POSTs typical drawings to ``/api/predict`` over one
kept-alive connection, as the page does: 140x140 PNGs with black strokes 9% of
the canvas wide on white (the page sends its 280x280 pad at 140x140), and, for
comparison, the same at 280x280. Prints the median and 95th percentile of the
round trip (request sent -> whole JSON answer read and parsed) and of the
server's own time (its Server-Timing header); also the ``x16`` and test-set
routes. Stops the server by its process id. (Starting and stopping it, and the
drawings, are lecun89.testing's, shared with the tests.)

With ``--clients N``, a load test instead: N clients at once, each on its own
kept-alive connection, each sending ``-n`` requests that alternate a drawing's
prediction with all maps and its backward view (``/api/backprop``), against one
shared model; prints the requests per second and the round trip's median and
95th percentile.

    python scripts/bench_serve.py [-n 200] [--model lecun1989]
    python scripts/bench_serve.py --clients 8 -n 100
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from lecun89.testing import STROKES, canvas_png, start_server, stop_server  # noqa: E402


def timed(conn, method: str, path: str, body: bytes | None) -> tuple[float, float, dict]:
    """-> (round trip ms, server ms, answer)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    t0 = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = json.loads(res.read())
    ms = (time.perf_counter() - t0) * 1000
    if res.status != 200:
        raise SystemExit(f"{method} {path}: HTTP {res.status}: {data}")
    m = re.search(r"dur=([0-9.]+)", res.getheader("Server-Timing", ""))
    return ms, float(m.group(1)) if m else float("nan"), data


def stats(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.2f} ms   p95 {np.percentile(xs, 95):6.2f} ms   max {max(xs):6.2f} ms"


def load(url: str, clients: int, n: int) -> None:
    """``clients`` connections at once, each ``n`` requests (prediction and backward
    view in turn, over the drawings): throughput and round trips."""
    from concurrent.futures import ThreadPoolExecutor

    u = urlsplit(url)
    pngs = [canvas_png(d, size=140) for d in STROKES]
    urls = ["data:image/png;base64," + base64.b64encode(p).decode() for p in pngs]
    bodies = [(route, json.dumps({"png": png, **extra}).encode()) for png in urls
              for route, extra in (("/api/predict", {}), ("/api/backprop", {"label": 3}))]

    def client(k: int) -> list[float]:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        for route, body in bodies:  # warm up
            timed(conn, "POST", route, body)
        out = []
        for i in range(n):
            route, body = bodies[(i + k) % len(bodies)]
            out.append(timed(conn, "POST", route, body)[0])
        conn.close()
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        rts = [x for chunk in pool.map(client, range(clients)) for x in chunk]
    wall = time.perf_counter() - t0
    print(f"{clients} clients at once, {n} requests each (prediction with all maps and backward view in turn, "
          f"140x140 drawings), one shared model")
    print(f"  {len(rts) / wall:7.1f} requests/s over {wall:.1f} s (warm-up included)")
    print(f"  round trip   {stats(rts)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=200, help="requests per route, or per client with --clients (default 200)")
    ap.add_argument("--model", default="lecun1989")
    ap.add_argument("--data-dir", help="USPS files for the test-set route (default: $LECUN89_DATA)")
    ap.add_argument("--clients", type=int, default=0, help="a load test: this many clients at once")
    args = ap.parse_args()

    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    try:
        proc, url, err = start_server("--model", args.model, *extra)
    except AssertionError as exc:
        raise SystemExit(f"the server did not start: {exc}") from None
    try:
        if args.clients:
            load(url, args.clients, args.n)
            return 0
        u = urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        print(f"lecun89 serve, model {args.model}, {args.n} requests per route, one kept-alive connection")
        for px in (140, 280):
            pngs = [canvas_png(d, size=px) for d in STROKES]
            bodies = [json.dumps({"png": "data:image/png;base64," + base64.b64encode(p).decode()}).encode()
                      for p in pngs]
            for b in bodies:  # warm up (the first requests import PIL, scipy.ndimage)
                timed(conn, "POST", "/api/predict", b)
            rt, srv, size = [], [], 0
            for i in range(args.n):
                a, s, r = timed(conn, "POST", "/api/predict", bodies[i % len(bodies)])
                assert "layers" in r and len(r["layers"]) == 4
                rt.append(a)
                srv.append(s)
                size = len(json.dumps(r))
            what = "as the page sends it" if px == 140 else "the pad at full size"
            print(f"POST /api/predict  drawing PNG {px}x{px}, {what} ({min(map(len, pngs))}-{max(map(len, pngs))} "
                  f"bytes), answer with all maps ~{size / 1000:.0f} kB")
            print(f"  round trip   {stats(rt)}")
            print(f"  server only  {stats(srv)}")

        x16 = json.dumps({"x16": r["input"]}).encode()
        rt2 = [timed(conn, "POST", "/api/predict", x16)[0] for _ in range(args.n)]
        print(f"POST /api/predict  x16 (no image decoding)\n  round trip   {stats(rt2)}")

        conn.request("GET", "/api/testset")
        res = conn.getresponse()
        t = json.loads(res.read())
        if res.status == 200:
            rt3 = [timed(conn, "GET", f"/api/testset/{t['order'][i % t['n']]}", None)[0] for i in range(args.n)]
            print(f"GET /api/testset/<i>\n  round trip   {stats(rt3)}")
        else:
            print(f"GET /api/testset/<i>: skipped ({t['error'][:80]}...)")
        conn.close()
    finally:
        stop_server(proc)
        err.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
