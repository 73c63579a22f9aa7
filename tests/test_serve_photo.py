"""``lecun89 serve``: a person's picture opened on the page (the ``image`` field):
the same reading as ``lecun89 predict FILE --json`` gives for the same file, in
every format the page sends (PNG, JPEG with its EXIF turn, WebP, GIF, BMP), for
one digit and for a row; every bad picture a 4xx with one line, and the server
keeps serving."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from lecun89.testing import STROKES, canvas_png, in_process_server, post, request

DOCS = __import__("pathlib").Path(__file__).resolve().parent.parent / "docs"
MODEL = "lecun1989"


@pytest.fixture(scope="module")
def url():
    server, url = in_process_server(model=MODEL)
    try:
        yield url
    finally:
        server.shutdown()
        server.app.training.close()


def as_url(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def cli(path, *args: str) -> dict:
    """``lecun89 predict PATH --json`` (the command, in a process of its own)."""
    out = subprocess.run([sys.executable, "-m", "lecun89", "predict", str(path), "--json", "--model", MODEL, *args],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return json.loads(out)


def photo(digit: str = "4", size: int = 600, turned: bool = False, fmt: str = "JPEG") -> bytes:
    """A phone-photo-like picture of a drawn digit: gray paper lit unevenly, dark
    ink, with ``turned`` stored sideways and an EXIF note (orientation 6) saying so."""
    from PIL import Image

    ink = 1.0 - np.asarray(Image.open(io.BytesIO(canvas_png(digit, size))).convert("L"), dtype=np.float64) / 255
    yy, xx = np.mgrid[0:size, 0:size] / size
    paper = 0.62 + 0.25 * xx + 0.08 * yy
    gray = np.clip(paper * (1 - 0.8 * ink), 0, 1)
    rgb = np.stack([gray * 0.98, gray, gray * 1.02], axis=-1).clip(0, 1)
    img = Image.fromarray((255 * rgb).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    if turned:
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 CW to view": the pixels are stored turned 90 degrees counter-clockwise
        img.transpose(Image.Transpose.ROTATE_90).save(buf, fmt, quality=90, exif=exif)
    else:
        img.save(buf, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()


def row_picture(digits: str = "3071", h: int = 160) -> bytes:
    from PIL import Image

    sheet = Image.new("L", (h * len(digits) + 40, h + 20), 235)
    for k, d in enumerate(digits):
        sheet.paste(Image.open(io.BytesIO(canvas_png(d, h))).convert("L"), (20 + k * h, 10))
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def same_reading(r: dict, c: dict) -> None:
    assert r["blank"] is False and r["digit"] == c["digit"] and r["rejected"] == c["rejected"]
    assert np.max(np.abs(np.array(r["outputs"]) - np.array(c["outputs"]))) <= 1e-12
    assert r["gap"] == pytest.approx(c["gap"], abs=1e-12)


def test_seven_png_is_lecun89_predict(url):
    raw = (DOCS / "seven.png").read_bytes()
    status, _, r = post(url, {"image": as_url(raw, "image/png"), "model": MODEL})
    assert status == 200
    c = cli(DOCS / "seven.png")
    assert c["digit"] == 7
    same_reading(r, c)
    assert r["picture"] == {"width": 200, "height": 200}
    assert len(r["input"]) == 16 and r["layers"]  # the page's views, as for a drawing


@pytest.mark.parametrize("fmt,mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"),
                                      ("GIF", "image/gif"), ("BMP", "image/bmp")])
def test_every_format_is_lecun89_predict(url, tmp_path, fmt, mime):
    raw = photo("4", 400, fmt=fmt)
    f = tmp_path / f"four.{fmt.lower()}"
    f.write_bytes(raw)
    status, _, r = post(url, {"image": as_url(raw, mime), "model": MODEL})
    assert status == 200
    same_reading(r, cli(f))


def test_a_turned_jpeg_is_read_upright(url, tmp_path):
    raw = photo("7", 600, turned=True)
    f = tmp_path / "turned.jpg"
    f.write_bytes(raw)
    status, _, r = post(url, {"image": as_url(raw, "image/jpeg"), "model": MODEL})
    assert status == 200
    c = cli(f)
    same_reading(r, c)
    assert r["digit"] == 7  # read upright: stored sideways, a 7 reads as nothing like one
    upright = post(url, {"image": as_url(photo("7", 600), "image/jpeg"), "model": MODEL})[2]
    assert upright["digit"] == 7


def test_a_row_picture_is_lecun89_predict_row(url, tmp_path):
    raw = row_picture("3071")
    f = tmp_path / "row.jpg"
    f.write_bytes(raw)
    status, _, r = post(url, {"image": as_url(raw, "image/jpeg"), "row": True, "model": MODEL})
    assert status == 200 and r["row"] is True
    c = cli(f, "--row")
    assert r["digits"] == c["digits"] == "3071"
    assert len(r["per_digit"]) == 4
    for d, e in zip(r["per_digit"], c["per_digit"], strict=True):
        assert d["box"] == e["box"] and d["digit"] == e["digit"]
        assert np.max(np.abs(np.array(d["outputs"]) - np.array(e["outputs"]))) <= 1e-12
        assert np.array(d["input"]).shape == (16, 16)
    boxes = [d["box"] for d in r["per_digit"]]
    assert all(a[2] <= b[0] for a, b in zip(boxes, boxes[1:], strict=False))  # left to right, apart
    assert r["picture"] == {"width": 4 * 160 + 40, "height": 180}


def test_the_digit_count_is_passed_on_or_refused(url):
    from lecun89.serve.app import row_count_taken

    body = {"image": as_url(row_picture("3071"), "image/jpeg"), "row": True, "model": MODEL, "digits": 4}
    status, _, r = post(url, body)
    info = request(url, "GET", "/api/models")[2]
    assert info["row_digits"] is row_count_taken()
    if row_count_taken():
        assert status == 200 and len(r["digits"]) == 4
    else:
        assert status == 400 and "digits" in r["error"] and "\n" not in r["error"]
    for bad in (0, "5", True, [], [5, "9"]):
        status, _, r = post(url, {**body, "digits": bad})
        assert status == 400 and r["error"].startswith("digits:")
    status, _, r = post(url, {"image": body["image"], "digits": 4})
    assert status == 400 and "row" in r["error"]


def test_a_blank_photo_is_blank(url):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 200, 190)).save(buf, "JPEG")
    status, _, r = post(url, {"image": as_url(buf.getvalue(), "image/jpeg"), "model": MODEL})
    assert status == 200 and r["blank"] is True and r["picture"] == {"width": 300, "height": 200}
    status, _, r = post(url, {"image": as_url(buf.getvalue(), "image/jpeg"), "row": True, "model": MODEL})
    assert status == 200 and r["blank"] is True and "no digits" in r["message"]


def test_backprop_takes_the_picture(url):
    raw = (DOCS / "seven.png").read_bytes()
    status, _, r = request(url, "POST", "/api/backprop", {"image": as_url(raw, "image/png"), "label": 7,
                                                          "model": MODEL})
    assert status == 200 and r["label"] == 7


def _big_png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (3000, 3000)).save(buf, "PNG")
    return as_url(buf.getvalue(), "image/png")


BAD = [  # id, body, status, words
    ("not-an-image", {"image": as_url(b"hello, this is a text file\n" * 20, "image/png")}, 400, "not a picture"),
    ("text-type", {"image": as_url(b"hello", "text/plain")}, 400, "data URL of a picture"),
    ("empty", {"image": "data:image/jpeg;base64,"}, 400, "empty"),
    ("bad-base64", {"image": "data:image/jpeg;base64,%%%"}, 400, "base64"),
    ("not-a-string", {"image": 3}, 400, "expected a string"),
    ("truncated", {"image": as_url(photo()[:2000], "image/jpeg")}, 400, "cannot decode"),
    ("too-many-pixels", {"image": _big_png()}, 400, "too large"),
    ("a-tiff", {"image": as_url(photo(size=100, fmt="TIFF"), "image/png")}, 400, "not a picture"),
    ("two-pictures", {"image": "x", "png": "y"}, 400, "exactly one"),
]


@pytest.mark.parametrize("body,status,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_picture_is_one_line(url, body, status, words):
    got, _, r = post(url, body)
    assert got == status and words in r["error"] and "\n" not in r["error"]
    assert request(url, "GET", "/api/models")[0] == 200  # still serving


def test_an_oversized_body_is_413(url):
    big = {"image": as_url(b"\xff\xd8" + b"\0" * (1 << 20), "image/jpeg")}
    status, _, r = post(url, big)
    assert status == 413 and "too large" in r["error"]
    assert request(url, "GET", "/api/models")[0] == 200


def test_strokes_are_the_projects():
    assert {"3", "0", "7", "1", "4"} <= set(STROKES)


def test_ruled_paper_says_what_was_removed(url, tmp_path):
    """Where the reader has a furniture stage: a 7 on ruled paper, the rulings
    listed and their pixels in the mask; the reading still lecun89 predict's."""
    import importlib.util

    from PIL import Image

    if importlib.util.find_spec("lecun89.reader.furniture") is None:
        pytest.skip("this reader removes no page furniture (lecun89.reader.furniture)")
    ink = 1 - np.asarray(Image.open(io.BytesIO(canvas_png("7", 300))).convert("L"), float) / 255
    rgb = np.ones((300, 300, 3)) * np.array([0.97, 0.97, 0.95])
    for y in range(20, 300, 36):
        rgb[y:y + 2] = [0.62, 0.75, 0.95]  # light blue rulings
    rgb = rgb * (1 - ink[..., None]) + ink[..., None] * np.array([0.1, 0.15, 0.45])
    f = tmp_path / "ruled.png"
    Image.fromarray((255 * rgb).astype(np.uint8)).save(f)
    status, _, r = post(url, {"image": as_url(f.read_bytes(), "image/png"), "model": MODEL})
    assert status == 200
    same_reading(r, cli(f))
    assert r["removed"] and all(x["kind"] in ("ruling", "grid", "box", "margin") for x in r["removed"])
    assert r["removed_mask"].startswith("data:image/png;base64,")
