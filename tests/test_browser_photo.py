"""``lecun89 serve``'s page takes a picture, in a real browser (headless Chromium
driven by Playwright, as tests/test_browser.py): docs/seven.png opened through
the file input reads 7, the same as the server reads the very file; a row
picture dropped on the page reads its digits with a box each; a phone-sized
photo is made smaller on the page and still read; a non-image, a broken picture
and an empty file each say so on the page; no script errors throughout.

Set ``LECUN89_PHOTO_SCREENSHOT=docs/serve-photo.png`` to write docs/predict.md's screenshot.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from lecun89.testing import CHROMIUM, canvas_png, post, start_server, stop_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

DOCS = Path(__file__).resolve().parent.parent / "docs"
IDLE = "() => document.body.dataset.state === 'idle'"
READ = ("() => document.body.dataset.state === 'idle' && document.getElementById('prediction').textContent !== ''"
        " && document.getElementById('prediction').dataset.row === '{row}'")
PAINTED = """(sel) => { const c = document.querySelector(sel);
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""


@pytest.fixture(scope="module")
def server():
    proc, url, err = start_server()
    try:
        yield url
    finally:
        stop_server(proc)
        err.close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1280, "height": 760})
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.on("request", lambda r: errors.append(f"not local: {r.url}") if not r.url.startswith((server, "data:", "blob:"))
          else None)
    pg.goto(server)
    pg.wait_for_selector("#model option", state="attached")
    pg.wait_for_function(IDLE)
    yield pg
    pg.close()
    assert errors == []  # no script errors, nothing fetched from anywhere but the local server


def row_jpeg(digits: str = "3071", h: int = 160, ruled: bool = False) -> bytes:
    """A photo-like picture of a row: blue ink on paper lit unevenly (``ruled``:
    with light blue rulings), as a JPEG."""
    import numpy as np
    from PIL import Image

    sheet = Image.new("L", (h * len(digits) + 40, h + 20), 255)
    for k, d in enumerate(digits):
        sheet.paste(Image.open(io.BytesIO(canvas_png(d, h))).convert("L"), (20 + k * h, 10))
    ink = 1.0 - np.asarray(sheet, dtype=np.float64) / 255
    yy, xx = np.mgrid[0:ink.shape[0], 0:ink.shape[1]]
    paper = 0.93 - 0.18 * xx / ink.shape[1] - 0.05 * yy / ink.shape[0]
    rgb = np.stack([paper * (1 - 0.75 * ink), paper * (1 - 0.6 * ink), paper * (1 - 0.25 * ink)], axis=-1)
    if ruled:
        lines = np.zeros(ink.shape[0], bool)
        for y in range(12, ink.shape[0], 40):
            lines[y:y + 2] = True
        rgb[lines] = np.where(ink[lines, :, None] > 0.5, rgb[lines], paper[lines, :, None] * np.array([0.7, 0.8, 0.97]))
    buf = io.BytesIO()
    Image.fromarray((255 * rgb.clip(0, 1)).astype(np.uint8), "RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_open_seven_then_a_row_dropped(page, server, tmp_path):
    raw = (DOCS / "seven.png").read_bytes()
    page.set_input_files("#photo-file", str(DOCS / "seven.png"))
    page.wait_for_function(READ.format(row="false"))
    assert page.inner_text("#prediction") == "7"
    assert page.is_visible("#photo-wrap") and page.is_hidden("#pad")
    sent = page.evaluate("() => photo.url")
    assert base64.b64decode(sent.split(",", 1)[1]) == raw  # the very file: the server reads what predict reads
    model = page.input_value("#model")
    status, _, r = post(server, {"image": sent, "model": model})
    assert status == 200 and r["digit"] == 7
    assert page.inner_text("#verdict") == ("rejected" if r["rejected"] else "accepted")
    assert "sent as it is" in page.inner_text("#photo-info")
    assert page.evaluate(PAINTED, "#input16") == 256 and page.evaluate(PAINTED, "#photo") > 0
    page.wait_for_function("() => !document.getElementById('back').hidden")  # walked backward like a drawing
    page.wait_for_function(IDLE)

    # a row, dropped on the page
    page.click("#mode-row")
    page.wait_for_function(IDLE)
    # on ruled paper where the reader removes page furniture (the screenshot then shows what it removed)
    import importlib.util

    ruled = importlib.util.find_spec("lecun89.reader.furniture") is not None
    data = base64.b64encode(row_jpeg("3071", ruled=ruled)).decode()
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "zip.jpg", { type: "image/jpeg" }));
        document.querySelector("main").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", data)
    page.wait_for_function(READ.format(row="true") + " && photo.name === 'zip.jpg'")
    status, _, r = post(server, {"image": page.evaluate("() => photo.url"), "row": True, "model": model})
    assert page.inner_text("#prediction") == r["digits"] == "3071"
    assert page.locator("#row-digits figure").count() == 4
    assert page.evaluate(PAINTED, "#photo-marks") > 0  # each digit's box over the picture
    if ruled:
        assert r["removed"] and "removed (red)" in page.inner_text("#photo-info")
    shot = tmp_path / "photo.png"
    page.screenshot(path=str(shot))
    _save_screenshot(shot, "LECUN89_PHOTO_SCREENSHOT")

    page.click("#clear")
    assert page.is_hidden("#photo-wrap") and page.is_visible("#row-pad")
    assert page.inner_text("#prediction") == ""


def test_a_phone_sized_photo_is_made_smaller(page):
    from PIL import Image

    big = Image.open(io.BytesIO(canvas_png("4", 2400))).convert("RGB").resize((2400, 2400))
    sheet = Image.new("RGB", (3200, 2400), (228, 226, 220))
    sheet.paste(big, (400, 0))
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, as a phone held upright stores it: "turn 90 degrees clockwise to view"
    sheet.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=85, exif=exif)
    page.set_input_files("#photo-file", files=[{"name": "phone.jpg", "mimeType": "image/jpeg",
                                                "buffer": buf.getvalue()}])
    page.wait_for_function(READ.format(row="false"))
    assert "3200\u00d72400 \u2192 1600\u00d71200" in page.inner_text("#photo-info")  # upright, as its EXIF says
    assert page.inner_text("#prediction") == "4"


def test_a_pasted_picture_is_read(page):
    data = base64.b64encode((DOCS / "seven.png").read_bytes()).decode()
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "image.png", { type: "image/png" }));
        document.body.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    }""", data)
    page.wait_for_function(READ.format(row="false"))
    assert page.inner_text("#prediction") == "7" and page.is_visible("#photo-wrap")


@pytest.mark.parametrize("name,mime,data,words", [
    ("notes.txt", "text/plain", b"a shopping list, not a digit\n", "not a picture"),
    ("fake.png", "image/png", b"this is not a PNG at all", "not a picture this browser can open"),
    ("empty.jpg", "image/jpeg", b"", "empty file"),
])
def test_a_bad_file_says_so(page, name, mime, data, words):
    page.set_input_files("#photo-file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')")
    text = page.inner_text("#status")
    assert text.startswith(name) and words in text
    assert page.is_hidden("#photo-wrap") and page.is_visible("#pad")  # the pad stays, ready to draw


def _save_screenshot(shot: Path, variable: str) -> None:
    """With ``variable`` set (to a path), a small palette copy of the screenshot there."""
    dest = os.environ.get(variable)
    if not dest:
        return
    from PIL import Image

    with Image.open(shot) as img:
        img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def test_on_a_phone_the_camera(browser, server):
    """A phone's page (touch, a narrow screen): the Take a photo button (capture:
    the camera), and the picture it gives fits the screen."""
    pg = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        pg.goto(server)
        pg.wait_for_selector("#model option", state="attached")
        pg.wait_for_function(IDLE)
        assert pg.is_visible("#camera-button") and pg.get_attribute("#photo-camera", "capture") == "environment"
        pg.set_input_files("#photo-camera", str(DOCS / "seven.png"))
        pg.wait_for_function(READ.format(row="false"))
        assert pg.inner_text("#prediction") == "7"
        assert pg.locator("#photo-wrap").bounding_box()["width"] <= 390
    finally:
        pg.close()
    assert errors == []


def _answer_with(route, extra: dict, per_digit: dict | None = None, seen: list | None = None) -> None:
    """The server's own answer, with the fields the issue's other branches add
    (their contract's form, values made up here: this checks the page draws
    them, not what the reader finds); ``seen`` gets the server's own."""
    import json

    r = route.fetch().json()
    if seen is not None:
        seen.append(dict(r))
    r.update(extra)
    for d in r.get("per_digit", []) if per_digit else []:
        d.update(per_digit)
    route.fulfill(status=200, content_type="application/json", body=json.dumps(r))


def _mask_png(w: int, h: int, y: int) -> str:
    from PIL import Image

    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    img.paste((220, 30, 30, 170), (0, y, w, y + 3))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_readers_added_fields_are_drawn(page):
    """"digit": null with a reason, "removed" and its mask, a row's "cuts" and
    "runner_up": shown when present (the answers above have none, and show none)."""
    page.route("**/api/predict", lambda route: _answer_with(route, {
        "digit": None, "rejected": True, "reason": "not a digit (score -3.1 < -1.0)",
        "removed": [{"kind": "ruling", "y": 100}, {"kind": "ruling", "y": 150}, {"kind": "margin", "x": 20}],
        "removed_mask": _mask_png(200, 200, 100)}))
    page.set_input_files("#photo-file", str(DOCS / "seven.png"))
    page.wait_for_function(READ.format(row="false"))
    assert page.inner_text("#verdict") == "not a digit"
    assert page.inner_text("#reason") == "not a digit (score -3.1 < -1.0)"
    assert "removed (red): 2 rulings, 1 margin" in page.inner_text("#photo-info")
    page.wait_for_function("() => document.getElementById('back').hidden")  # no label to walk back from
    page.wait_for_function(f"() => ({PAINTED})('#photo-marks') > 0")  # the mask, over the picture
    page.unroute("**/api/predict")

    seen: list = []
    page.route("**/api/predict", lambda route: _answer_with(route, {
        "cuts": [70, 130], "runner_up": {"digits": "771", "cuts": [70, 100, 130], "score": -2.5},
        "score": -1.25}, seen=seen))
    page.click("#mode-row")
    page.wait_for_function(READ.format(row="true"))
    assert "runner-up: 771 (score -2.500 against -1.250)" in page.inner_text("#reason")
    green = page.evaluate("""() => { const c = document.getElementById('photo-marks');
        const s = c.width / photo.width, x = Math.round(130 * s);
        const d = c.getContext('2d').getImageData(x - 1, Math.round(c.height / 2), 3, 1).data;
        return [d[1], d[3]]; }""")
    assert green[1] > 0 and green[0] > 100  # the chosen cut at x = 130, in green
    # the server's own "removed" (when its reader has a furniture stage), said; absent, nothing said
    assert ("no page furniture" in page.inner_text("#photo-info")) == (seen[-1].get("removed") == [])
