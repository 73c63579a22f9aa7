"""``lecun89 serve`` end to end in a real browser: headless Chromium driven by
Playwright draws a digit (or a row of digits) with mouse moves, reads what the
page shows, clears it.

Needs the ``playwright`` Python package and Debian's Chromium at /usr/bin/chromium
(``apt-get install chromium``; ``playwright install`` is not used). Set
``LECUN89_SERVE_SCREENSHOT=docs/serve.png`` to also write the README's screenshot, and
``LECUN89_BACKPROP_SCREENSHOT=docs/backprop.png`` the backward view's in docs/backprop.md.
"""

from __future__ import annotations

import base64
import os
import re
import struct
from pathlib import Path

import pytest

from lecun89.testing import CHROMIUM, STROKES, post, request, resolve_data_dir, start_server, stop_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
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
# The row pad's size in CSS pixels (and in its own pixels: it is sent as it is).
ROW_W, ROW_H = 560, 140


@pytest.fixture(scope="module")
def server():
    proc, url, err = start_server("--data-dir", str(resolve_data_dir()))
    try:
        yield url
    finally:
        stop_server(proc)
        err.close()


def open_page(browser, url, before=None):
    """A new page on the server's URL, loaded and idle -> (page, the script errors it logs)."""
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    if before is not None:
        before(pg)
    pg.goto(url)
    pg.wait_for_selector("#model option", state="attached")
    pg.wait_for_function(IDLE)
    return pg, errors


@pytest.fixture
def page(browser, server):
    pg, errors = open_page(browser, server)
    yield pg
    pg.close()
    assert errors == []  # no script errors, no blocked (non-local) resources


def draw(page, strokes, pad: str = "#pad") -> None:
    """Mouse strokes on a pad, points in the unit square of the pad."""
    box = page.locator(pad).bounding_box()
    for line in strokes:
        (x, y), rest = line[0], line[1:]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=3)
        page.mouse.up()


def row_strokes(digits: str, left: float = 20.0, step: float = ROW_H) -> list:
    """STROKES' digits side by side on the row pad (each in a ROW_H square, one
    every ``step`` pixels from ``left``), in the unit square of the pad."""
    return [[((left + k * step + x * ROW_H) / ROW_W, y) for x, y in line]
            for k, d in enumerate(digits) for line in STROKES[d]]


def png_size(data_url: str) -> tuple[int, int]:
    png = base64.b64decode(data_url.split(",", 1)[1])
    return struct.unpack(">II", png[16:24])


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
    model = page.input_value("#model")
    assert page.get_attribute("#prediction", "data-model") == model
    status, _, r = post(server, {"png": png, "model": model})
    assert status == 200 and r["digit"] == int(shown) and r["model"] == model
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
    assert "lecun1989" in names  # the paper's network stays in the chooser
    if len(names) > 1:
        other = [n for n in names if n != model][0]
        page.select_option("#model", other)
        page.wait_for_function(f"() => document.getElementById('prediction').dataset.model === '{other}'")
        page.wait_for_function(IDLE)
        assert re.fullmatch(r"[0-9]", page.inner_text("#prediction"))
        page.select_option("#model", model)
        page.wait_for_function(f"() => document.getElementById('prediction').dataset.model === '{model}'")

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
    # the backward view follows, for the test digit's own label
    page.wait_for_function("() => !document.getElementById('back').hidden")
    page.wait_for_function(IDLE)
    assert page.inner_text("#back-label") == label and "label" in page.inner_text("#back-label-why")
    assert all(c["painted"] > 0 for c in page.evaluate(PAINTED, '#back canvas[data-delta="H1"]'))
    first = page.get_attribute("#test-info", "data-index")
    page.click("#next")
    page.wait_for_function(f"() => document.getElementById('test-info').dataset.index !== '{first}'")
    assert "mistake 2 of" in page.inner_text("#test-info")
    page.click("#tab-draw")
    assert page.inner_text("#prediction") == ""  # nothing drawn: the views are empty


def test_row_mode(page, server, tmp_path):
    assert page.is_visible("#pad") and page.is_hidden("#row-pad")
    page.click("#mode-row")
    assert page.get_attribute("#mode-row", "aria-pressed") == "true"
    assert page.is_hidden("#pad") and page.is_visible("#row-pad")
    assert page.is_hidden("#net") and page.is_visible("#row-net")  # the layers are for single digits
    box = page.locator("#row-pad").bounding_box()
    assert (round(box["width"]), round(box["height"])) == (ROW_W, ROW_H)

    draw(page, row_strokes("170"), "#row-pad")
    page.wait_for_function("() => document.body.dataset.state === 'idle' && "
                           "document.getElementById('prediction').dataset.row === 'true'")
    shown = page.inner_text("#prediction")
    assert shown == "170"  # three clear digits, read left to right

    # the page shows the server's reading of the row it sent (the pad as it is, 560x140)
    png = page.evaluate("() => window.lecun89.lastPNG")
    assert png_size(png) == (ROW_W, ROW_H)
    model = page.input_value("#model")
    status, _, r = post(server, {"png": png, "row": True, "model": model})
    assert status == 200 and r["row"] and r["digits"] == shown and r["model"] == model
    assert page.get_attribute("#prediction", "data-model") == model
    assert page.inner_text("#verdict") == ("REJECTED" if r["rejected"] else "accepted")

    # each digit, left to right: its 16x16 input, the digit read, its gap and verdict
    inputs = page.evaluate(PAINTED, "#row-digits canvas")
    assert len(inputs) == 3 and all(c["n"] == 256 and c["painted"] == 256 and c["grays"] >= 2 for c in inputs)
    cards = page.locator("#row-digits figure")
    assert cards.count() == 3
    for k, d in enumerate(r["per_digit"]):
        text = cards.nth(k).inner_text()
        assert cards.nth(k).locator(".read").inner_text() == str(d["digit"])
        assert f"gap {d['gap']:.2f}" in text
        assert ("rejected" if d["rejected"] else "accepted") in text
    # the input shown is the server's: the first digit's ink (a "1") down the middle columns
    first = page.evaluate("""() => { const c = document.querySelector('#row-digits canvas');
        const d = c.getContext('2d').getImageData(0, 0, 16, 16).data;
        return Array.from({ length: 256 }, (_, i) => d[4 * i]); }""")
    expected = [round(255 * (1 - min(1, max(0, (v + 1) / 2)))) for row in r["per_digit"][0]["input"] for v in row]
    assert max(abs(a - b) for a, b in zip(first, expected, strict=True)) <= 1
    assert page.evaluate(PAINTED, "#row-boxes")[0]["painted"] > 0  # the digits' boxes, over the pad

    shot = tmp_path / "row.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # another model reads the same row
    other = "lecun1989" if model != "lecun1989" else page.evaluate("() => window.lecun89.models[1].name")
    page.select_option("#model", other)
    page.wait_for_function(f"() => document.getElementById('prediction').dataset.model === '{other}'")
    page.wait_for_function(IDLE)
    _, _, r_other = post(server, {"png": png, "row": True, "model": other})
    assert page.inner_text("#prediction") == r_other["digits"] and len(r_other["digits"]) == 3
    page.select_option("#model", model)
    page.wait_for_function(f"() => document.getElementById('prediction').dataset.model === '{model}'")
    page.wait_for_function(IDLE)

    # the test set tab shows the layers again; back on the draw tab, the row's reading
    page.click("#tab-test")
    assert page.is_visible("#net") and page.is_hidden("#row-net")
    page.click("#tab-draw")
    assert page.is_hidden("#net") and page.is_visible("#row-net")
    assert page.inner_text("#prediction") == shown and page.locator("#row-digits figure").count() == 3
    page.wait_for_function(IDLE)

    page.click("#clear")
    page.wait_for_function(IDLE)
    assert page.inner_text("#prediction") == "" and page.inner_text("#verdict") == ""
    assert page.locator("#row-digits figure").count() == 0
    assert page.evaluate(PAINTED, "#row-boxes")[0]["painted"] == 0
    white = """() => { const c = document.getElementById('row-pad');
        return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.every((v) => v === 255); }"""
    assert page.evaluate(white)

    # switching mode clears the drawing; one digit is read as before
    draw(page, row_strokes("1"), "#row-pad")
    page.wait_for_function("() => document.body.dataset.state === 'idle' && "
                           "document.getElementById('prediction').textContent !== ''")
    page.click("#mode-digit")
    assert page.evaluate(white) and page.inner_text("#prediction") == ""
    assert page.is_visible("#pad") and page.is_visible("#net") and page.is_hidden("#row-net")
    draw(page, STROKES["7"])
    page.wait_for_function("() => document.body.dataset.state === 'idle' && "
                           "document.getElementById('prediction').textContent !== ''")
    assert page.inner_text("#prediction") == "7"
    assert page.get_attribute("#prediction", "data-row") == "false"
    assert all(c["painted"] == c["n"] for c in page.evaluate(PAINTED, 'canvas[data-layer="H1"]'))


def _models(server) -> dict:
    status, _, info = request(server, "GET", "/api/models")
    assert status == 200
    return info


def _expected_line(m: dict) -> str:
    line = f"{m['name']}: USPS test error {100 * m['test_error']:.2f}%"
    if m.get("heldout"):
        line += (f"; other writers (MNIST test, clean scans) {100 * m['heldout']['clean']:.2f}%, "
                 f"phone-photo-like {100 * m['heldout']['photo']:.2f}%")
    return line


def test_model_line(page, server):
    info = _models(server)
    models = {m["name"]: m for m in info["models"]}
    assert page.input_value("#model") == info["default"]
    for name in [info["default"], "lecun1989"]:
        page.select_option("#model", name)
        page.wait_for_function(f"() => document.getElementById('model-line').dataset.model === '{name}'")
        line = page.inner_text("#model-line")
        assert line.startswith(f"{name}: USPS test error ")
        assert line == _expected_line(models[name])
        assert ("other writers" in line) == bool(models[name]["heldout"])


def test_model_line_with_heldout_errors(browser, server):
    """The held-out writers' errors as the page shows them, whether or not
    lecun89/models/heldout.json exists yet (the answer is given them if not)."""
    held = {"clean": 0.0106, "thick": 0.0213, "thin": 0.0187, "photo": 0.015}

    def models(route):
        res = route.fetch()
        info = res.json()
        for m in info["models"]:
            m["heldout"] = m["heldout"] or held
        route.fulfill(response=res, json=info)

    pg, errors = open_page(browser, server, lambda p: p.route("**/api/models", models))
    try:
        line = pg.inner_text("#model-line")
        m = [m for m in pg.evaluate("() => window.lecun89.models") if m["name"] == pg.input_value("#model")][0]
        assert line == _expected_line(m)
        assert re.search(r"other writers \(MNIST test, clean scans\) \d+\.\d\d%, phone-photo-like \d+\.\d\d%$", line)
        assert "thick pen" in pg.get_attribute("#model-line", "title")
    finally:
        pg.close()
    assert errors == []


def _save_for_readme(shot: Path) -> None:
    """With LECUN89_SERVE_SCREENSHOT set, a small palette copy of the screenshot there."""
    _save_screenshot(shot, "LECUN89_SERVE_SCREENSHOT")


def _save_screenshot(shot: Path, variable: str) -> None:
    """With ``variable`` set (to a path), a small palette copy of the screenshot there."""
    dest = os.environ.get(variable)
    if not dest:
        return
    from PIL import Image

    with Image.open(shot) as img:
        img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def _delta_text(v: float) -> str:
    """The page's signed(v, 3) for an output's delta."""
    if v == 0:
        return "0"
    s = f"{abs(v):.3f}" if abs(v) >= 1e-3 else f"{abs(v):.1e}".replace("e-0", "e-")
    return ("+" if v >= 0 else "\u2212") + s


def test_backprop_view_learn_and_reset(page, server, tmp_path):
    """Draw, see the backward panels (the server's numbers), choose another label, hover a unit,
    learn the digit on the page's copy, reset."""
    assert page.is_hidden("#back")
    draw(page, STROKES["3"])
    page.wait_for_function("() => document.body.dataset.state === 'idle' && "
                           "document.getElementById('prediction').textContent !== '' && "
                           "!document.getElementById('back').hidden")
    page.wait_for_function(IDLE)
    read = page.inner_text("#prediction")
    assert page.inner_text("#back-label") == read  # the label follows the reading

    # every backward panel is filled
    for sel, count in (('#back canvas[data-delta="H1"]', 12), ('#back canvas[data-delta="H2"]', 12),
                       ('#back canvas[data-delta="H3"]', 1), ('#back canvas[data-grad="H1.weight"]', 12),
                       ('#back canvas[data-grad="H2.weight"]', 12)):
        cs = page.evaluate(PAINTED, sel)
        assert len(cs) == count and all(c["painted"] > 0 for c in cs), sel
    assert sum(c["grays"] for c in page.evaluate(PAINTED, '#back canvas[data-delta="H1"]')) > 24
    assert all(page.is_visible(f"#back-{k} .rule") for k in ("H1", "H2", "H3", "out", "H1-kernels", "H2-kernels"))

    # another label: "this is a 5" (or a 4); the page shows the server's backward pass for it
    label = 5 if read != "5" else 4
    page.click(f'#outputs .bar-row[data-digit="{label}"]')
    page.wait_for_function(f"() => document.getElementById('back-label').textContent === '{label}'")
    page.wait_for_function(IDLE)
    png = page.evaluate("() => window.lecun89.lastPNG")
    model = page.input_value("#model")
    status, _, r = request(server, "POST", "/api/backprop", {"png": png, "model": model, "label": label})
    assert status == 200
    shown = page.evaluate("() => Array.from(document.querySelectorAll('#back-outputs .val'), (v) => v.textContent)")
    assert shown == [_delta_text(v) for v in r["delta"]["out"]]
    assert f"loss E = {r['loss']:.4g}" in page.inner_text("#loss-line") or r["loss"] >= 1e4
    assert page.get_attribute("#back-outputs .bar-row.label", "data-digit") == str(label)

    # hover an H2 unit (forward) and an H1 unit (backward): the sums written out with the network's numbers
    _hover(page, '#net canvas[data-layer="H2"][data-map="3"]', 0.6, 0.4)  # unit (1, 2) of 4x4
    page.wait_for_function("() => !document.getElementById('tip').hidden && "
                           "document.getElementById('tip').dataset.unit === 'H2[3,1,2]'")
    assert page.get_attribute("#tip", "data-direction") == "forward"
    status, _, u = request(server, "POST", "/api/unit", {"png": png, "model": model, "label": label,
                                                         "layer": "H2", "index": [3, 1, 2]})
    assert status == 200
    tip = page.inner_text("#tip")
    a = u["forward"]["a"]
    assert f"{abs(a):.3f}" in tip and "bias" in tip
    _hover(page, '#back canvas[data-delta="H1"][data-map="0"]', 0.55, 0.55)  # unit (4, 4) of 8x8
    page.wait_for_function("() => !document.getElementById('tip').hidden && "
                           "document.getElementById('tip').dataset.unit === 'H1[0,4,4]'")
    assert page.get_attribute("#tip", "data-direction") == "backward"
    assert "f\u2032(a)" in page.inner_text("#tip")

    # learn: one step of the model's optimizer on the page's copy; the forward view reads with it
    page.click("#learn")
    page.wait_for_function("() => window.lecun89.learned && !document.getElementById('learn-result').hidden")
    page.wait_for_function(IDLE)
    learned = page.evaluate("() => window.lecun89.learned")
    assert learned["step"] == 1 and learned["label"] == label
    assert learned["loss_after"] < learned["loss_before"]
    assert learned["outputs_after"][label] > learned["outputs_before"][label]
    assert "step 1" in page.inner_text("#learn-result") and page.is_enabled("#reset")
    page.wait_for_function("(want) => Array.from(document.querySelectorAll('#outputs .val'), (v) => v.textContent)"
                           ".join(' ') === want",
                           arg=" ".join(_fmt2(v) for v in learned["outputs_after"]))
    assert page.evaluate(PAINTED, '#back canvas[data-grad="H1.weight"].moved')  # the kernel that moved most
    page.click("#learn")
    page.wait_for_function("() => window.lecun89.learned.step === 2")
    page.wait_for_function(IDLE)
    _hover(page, '#net canvas[data-layer="H1"][data-map="4"]', 0.55, 0.55)
    page.wait_for_function("() => !document.getElementById('tip').hidden")
    shot = tmp_path / "backprop.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    _save_screenshot(shot, "LECUN89_BACKPROP_SCREENSHOT")

    # reset: the shipped weights read the drawing again; the shared model never changed
    page.click("#reset")
    page.wait_for_function("() => window.lecun89.session === null && document.getElementById('reset').disabled")
    page.wait_for_function(IDLE)
    _, _, p = post(server, {"png": png, "model": model})
    page.wait_for_function("(want) => Array.from(document.querySelectorAll('#outputs .val'), (v) => v.textContent)"
                           ".join(' ') === want", arg=" ".join(_fmt2(v) for v in p["outputs"]))
    assert page.is_hidden("#learn-result")


def _hover(page, selector: str, fx: float, fy: float) -> None:
    """The mouse over a canvas at a fraction of its size (scrolled into view first)."""
    loc = page.locator(selector)
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)


def _fmt2(v: float) -> str:
    """The page's fmt(v) for an output."""
    return ("+" if v >= 0 else "\u2212") + f"{abs(v):.2f}"
