"""``lecun89 serve`` end to end in a real browser: headless Chromium driven by
Playwright draws a digit with mouse moves, reads what the page shows, clears it.

Needs the ``playwright`` Python package and Debian's Chromium at /usr/bin/chromium
(``apt-get install chromium``; ``playwright install`` is not used). Set
``LECUN89_SERVE_SCREENSHOT=docs/serve.png`` to also write the README's screenshot.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import resolve_data_dir
from test_serve import STROKES, post, start_server, stop_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

# Per canvas: how many pixels are painted (alpha > 0), how many, how many gray levels.
PAINTED = """(sel) => Array.from(document.querySelectorAll(sel)).map((c) => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  const grays = new Set();
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) { painted++; grays.add(d[i]); }
  return { painted, n: d.length / 4, grays: grays.size };
})"""
IDLE = "() => document.body.dataset.state === 'idle'"


@pytest.fixture(scope="module")
def server():
    proc, url, err = start_server("--data-dir", str(resolve_data_dir()))
    try:
        yield url
    finally:
        stop_server(proc)
        err.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {str(exc).splitlines()[0]}")
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.goto(server)
    pg.wait_for_selector("#model option", state="attached")
    pg.wait_for_function(IDLE)
    yield pg
    pg.close()
    assert errors == []  # no script errors, no blocked (non-local) resources


def draw(page, strokes) -> None:
    """Mouse strokes on #pad, points in the unit square of the pad."""
    box = page.locator("#pad").bounding_box()
    for line in strokes:
        (x, y), rest = line[0], line[1:]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=3)
        page.mouse.up()


def test_draw_read_clear(page, server, tmp_path):
    assert page.inner_text("#prediction") == ""
    assert len(page.evaluate(PAINTED, 'canvas[data-layer="H1"]')) == 12
    assert len(page.evaluate(PAINTED, 'canvas[data-layer="H2"]')) == 12
    assert page.evaluate(PAINTED, "#net canvas") and all(c["painted"] == 0 for c in page.evaluate(PAINTED, "#net canvas"))

    draw(page, STROKES["3"])
    page.wait_for_function("() => document.body.dataset.state === 'idle' && "
                           "document.getElementById('prediction').textContent !== ''")
    shown = page.inner_text("#prediction")
    assert re.fullmatch(r"[0-9]", shown)
    assert shown == "3"  # a clear 3, read right through the page's whole path

    # the page shows the server's reading of the drawing it sent (the pad at 140x140)
    png = page.evaluate("() => window.lecun89.lastPNG")
    assert png.startswith("data:image/png;base64,")
    status, _, r = post(server, {"png": png, "model": "lecun1989"})
    assert status == 200 and r["digit"] == int(shown)
    assert page.inner_text("#verdict") == ("rejected" if r["rejected"] else "accepted")
    assert f"gap {r['gap']:.3f}" in page.inner_text("#gap")

    # every view is drawn: input, 12 H1 maps, 12 H2 maps, H3, and 10 output bars
    for sel, count in (("#input16", 1), ('canvas[data-layer="H1"]', 12), ('canvas[data-layer="H2"]', 12),
                       ('canvas[data-layer="H3"]', 1)):
        cs = page.evaluate(PAINTED, sel)
        assert len(cs) == count and all(c["painted"] == c["n"] for c in cs), sel
    assert page.evaluate(PAINTED, "#input16")[0]["grays"] >= 2
    assert sum(c["grays"] for c in page.evaluate(PAINTED, 'canvas[data-layer="H1"]')) > 24
    widths = page.evaluate("() => Array.from(document.querySelectorAll('#outputs .bar'), (b) => b.style.width)")
    assert len(widths) == 10 and all(w.endswith("%") and float(w[:-1]) > 0 for w in widths)
    assert page.get_attribute("#outputs .bar-row.top", "data-digit") == shown

    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    _save_for_readme(shot)

    # another model reads the same drawing
    names = page.evaluate("() => Array.from(document.querySelectorAll('#model option'), (o) => o.value)")
    if len(names) > 1:
        other = [n for n in names if n != "lecun1989"][0]
        page.select_option("#model", other)
        page.wait_for_function(f"() => document.getElementById('prediction').dataset.model === '{other}'")
        page.wait_for_function(IDLE)
        assert re.fullmatch(r"[0-9]", page.inner_text("#prediction"))
        page.select_option("#model", "lecun1989")
        page.wait_for_function("() => document.getElementById('prediction').dataset.model === 'lecun1989'")

    page.click("#clear")
    page.wait_for_function(IDLE)
    assert page.inner_text("#prediction") == "" and page.inner_text("#verdict") == ""
    assert all(c["painted"] == 0 for c in page.evaluate(PAINTED, "#net canvas"))
    assert page.evaluate("() => Array.from(document.querySelectorAll('#outputs .val'), (v) => v.textContent).join('')") == ""
    pad = page.evaluate("""() => { const c = document.getElementById('pad');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return d.every((v) => v === 255); }""")
    assert pad  # the pad is white again


def test_test_set_tab(page, data_dir):
    page.click("#tab-test")
    page.wait_for_function("() => document.getElementById('test-info').dataset.index !== undefined")
    page.wait_for_function(IDLE)
    info = page.inner_text("#test-info")
    label = page.get_attribute("#test-info", "data-label")
    assert "wrong" in info and "mistake 1 of" in info  # misclassified first
    assert page.inner_text("#prediction") != label
    assert "misclassified" in page.inner_text("#test-summary")
    assert all(c["painted"] == c["n"] for c in page.evaluate(PAINTED, "#test-digit, #net canvas"))
    first = page.get_attribute("#test-info", "data-index")
    page.click("#next")
    page.wait_for_function(f"() => document.getElementById('test-info').dataset.index !== '{first}'")
    assert "mistake 2 of" in page.inner_text("#test-info")
    page.click("#tab-draw")
    assert page.inner_text("#prediction") == ""  # nothing drawn: the views are empty


def _save_for_readme(shot: Path) -> None:
    """With LECUN89_SERVE_SCREENSHOT set, a small palette copy of the screenshot there."""
    dest = os.environ.get("LECUN89_SERVE_SCREENSHOT")
    if not dest:
        return
    from PIL import Image

    with Image.open(shot) as img:
        img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
