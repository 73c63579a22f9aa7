"""Round-trip latency of ``lecun89 serve``: a prediction with all maps, over HTTP.

Starts ``python -m lecun89 serve --port 0`` on 127.0.0.1 (a subprocess, as a
person runs it), then POSTs typical drawings to ``/api/predict`` over one
kept-alive connection, as the page does: 140x140 PNGs with black strokes 9% of
the canvas wide on white (the page sends its 280x280 pad at 140x140), and, for
comparison, the same at 280x280. Prints the median and 95th percentile of the
round trip (request sent -> whole JSON answer read and parsed) and of the
server's own time (its Server-Timing header); also the ``x16`` and test-set
routes. Stops the server by its process id.

    python scripts/bench_serve.py [-n 200] [--model lecun1989]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import re
import statistics
import subprocess
import sys
import time

import numpy as np

# A few digits as polylines in the unit square (x right, y down).
STROKES = {
    "1": [[(0.52, 0.15), (0.50, 0.85)]],
    "7": [[(0.25, 0.18), (0.75, 0.18), (0.42, 0.85)]],
    "4": [[(0.60, 0.85), (0.60, 0.15), (0.22, 0.62), (0.80, 0.62)]],
    "0": [[(0.5 + 0.22 * np.cos(t), 0.5 + 0.33 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
    "2": [[(0.27, 0.30), (0.40, 0.17), (0.60, 0.17), (0.70, 0.30), (0.66, 0.45), (0.28, 0.83), (0.75, 0.83)]],
    "3": [[(0.5 + 0.2 * np.cos(a), 0.32 + 0.15 * np.sin(a)) for a in np.linspace(-0.8 * np.pi, 0.5 * np.pi, 20)],
          [(0.5 + 0.22 * np.cos(a), 0.65 + 0.17 * np.sin(a)) for a in np.linspace(-0.5 * np.pi, 0.8 * np.pi, 20)]],
}


def canvas_png(strokes, size: int = 280, width: float = 0.09) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    d = ImageDraw.Draw(img)
    w = round(width * size)
    for line in strokes:
        pts = [(x * size, y * size) for x, y in line]
        d.line(pts, fill=(0, 0, 0, 255), width=w, joint="curve")
        for x, y in pts:
            d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=(0, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


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

    cmd = [sys.executable, "-m", "lecun89", "serve", "--port", "0", "--model", args.model]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        m = re.search(r"http://([0-9.]+):(\d+)/", proc.stdout.readline())
        if not m:
            raise SystemExit("the server did not start")
        conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=30)
        print(f"lecun89 serve, model {args.model}, {args.n} requests per route, one kept-alive connection")
        for px in (140, 280):
            pngs = [canvas_png(s, size=px) for s in STROKES.values()]
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
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
