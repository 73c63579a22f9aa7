"""What the page's downscaling costs: phone-sized photos opened on ``lecun89 serve``'s
page against ``lecun89 predict`` on the original files.

For each digit of lecun89.testing's STROKES, a generated 12 MP photo (4000x3000
JPEG: blue ink on paper lit unevenly) is opened through the page's file input in
headless Chromium (/usr/bin/chromium, Playwright; ``lecun89 serve`` started on
127.0.0.1 and stopped by its process id). The page makes it 1600x1200 before it
sends it (lecun89/web/photo.js); the server's reading of what the page sent is
compared with lecun89.reader's reading of the original file: the digit, and the
largest difference of the outputs and of the 16x16 inputs.

    python scripts/page_photos.py [--model reader] [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np


def photo(digit: str, path: Path) -> None:
    from PIL import Image

    from lecun89.testing import canvas_png

    ink = 1 - np.asarray(Image.open(io.BytesIO(canvas_png(digit, 2600))).convert("L"), float) / 255
    sheet = np.zeros((3000, 4000))
    sheet[200:2800, 700:3300] = ink
    yy, xx = np.mgrid[0:3000, 0:4000]
    paper = 0.9 - 0.2 * xx / 4000 - 0.05 * yy / 3000
    rgb = np.stack([paper * (1 - .75 * sheet), paper * (1 - .6 * sheet), paper * (1 - .25 * sheet)], -1)
    Image.fromarray((255 * rgb.clip(0, 1)).astype(np.uint8)).save(path, quality=88)


def main() -> None:
    from playwright.sync_api import sync_playwright

    from lecun89.reader import analyse, load_model, read_digit
    from lecun89.testing import STROKES, post, start_server, stop_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="reader")
    ap.add_argument("--out", help="folder for the generated photos (default: a temporary one)")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="page-photos-"))
    out.mkdir(parents=True, exist_ok=True)
    m = load_model(args.model)
    proc, url, err = start_server("--model", args.model)
    rows = []
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
            pg = b.new_page()
            pg.goto(url)
            pg.wait_for_selector("#model option", state="attached")
            for d in sorted(STROKES):
                path = out / f"photo{d}.jpg"
                photo(d, path)
                x16, _ = read_digit(path)
                orig = analyse(m, x16, maps=False)
                pg.set_input_files("#photo-file", str(path))
                pg.wait_for_function("(name) => document.body.dataset.state === 'idle' && photo.name === name"
                                     " && document.getElementById('prediction').textContent !== ''", arg=path.name)
                r = post(url, {"image": pg.evaluate("() => photo.url"), "model": args.model})[2]
                rows.append((d, orig["digit"], r["digit"], float(np.max(np.abs(np.subtract(r["outputs"], orig["outputs"])))),
                             float(np.max(np.abs(np.subtract(r["input"], x16))))))
                print(f"{d}: file {orig['digit']}, page {r['digit']}, outputs differ by at most {rows[-1][3]:.3f}, "
                      f"inputs by {rows[-1][4]:.3f}; {pg.inner_text('#photo-info')}", flush=True)
            b.close()
    finally:
        stop_server(proc)
        err.close()
    diffs = [r[3] for r in rows]
    print(f"{args.model}: the same digit in {sum(r[1] == r[2] for r in rows)} of {len(rows)}; outputs differ by at most "
          f"{max(diffs):.3f} (median {np.median(diffs):.3f})")


if __name__ == "__main__":
    main()
