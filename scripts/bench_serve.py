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

    python scripts/bench_serve.py [-n 200] [--model lecun1989]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=200, help="requests per route (default 200)")
    ap.add_argument("--model", default="lecun1989")
    ap.add_argument("--data-dir", help="USPS files for the test-set route (default: $LECUN89_DATA)")
    args = ap.parse_args()

    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    try:
        proc, url, err = start_server("--model", args.model, *extra)
    except AssertionError as exc:
        raise SystemExit(f"the server did not start: {exc}") from None
    try:
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
