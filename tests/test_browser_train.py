"""The Train tab end to end in a real browser (headless Chromium, Playwright): a
``quick`` run watched learning through its first pass, stopped and continued, then
the freshly trained network drawn on in the Draw tab; with the USPS files,
``lecun1989`` through its 23 passes (seen learning in its first, stopped in its
third and continued, drawn on at the end), the page's figures those of
``lecun89 train lecun1989 --seed 0``.

Needs the ``playwright`` package and Debian's Chromium at /usr/bin/chromium. Set
``LECUN89_TRAIN_SCREENSHOT=docs/train.png`` to also write the docs' screenshot
(the ``lecun1989`` run, finished).
"""

from __future__ import annotations

import json
import os

import pytest

from lecun89.testing import CHROMIUM, STROKES, resolve_data_dir, start_server, stop_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

# What the page shows now: the run's state, where it is, and its figure's and kernels' pixels.
LOOK = """() => { const T = window.lecun89.train, s = T.snapshot;
  return { state: T.run ? T.run.state : null, pass: s ? s.pass : 0, done: s ? s.done : 0,
           digits: s ? s.digits : 0, points: T.points.length,
           fig: document.getElementById('fig3-mse').toDataURL() + document.getElementById('fig3-err').toDataURL(),
           kernels: document.getElementById('kernels-1').toDataURL() + document.getElementById('kernels-2').toDataURL() }; }"""


@pytest.fixture(scope="module")
def server():
    proc, url, err = start_server("--data-dir", str(resolve_data_dir()))
    try:
        yield url
    finally:
        stop_server(proc)
        err.close()


@pytest.fixture
def page(browser, server):
    pg = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.goto(server)
    pg.wait_for_selector("#model option", state="attached")
    pg.click("#tab-train")
    pg.wait_for_selector("#train-config option", state="attached")
    yield pg
    pg.close(run_before_unload=True)   # its pagehide lets go of its run (a beacon)
    assert errors == []   # no script errors


def state_is(page, *states, timeout=120_000):
    page.wait_for_function(f"() => {json.dumps(list(states))}.includes(document.getElementById('train-panel').dataset.state)",
                           timeout=timeout)


def test_quick_learns_live_stops_continues_and_is_drawn_on(page):
    page.select_option("#train-config", "quick")
    page.fill("#train-seed", "0")
    page.select_option("#train-pace", "1000")   # 1,347 digits a pass: its first pass lasts over a second
    page.click("#train-start")
    # the first pass, seen learning: two looks within it, every 512 digits a new point, new kernels
    page.wait_for_function("() => { const s = window.lecun89.train.snapshot; return s && s.pass === 1 && s.done >= 512; }")
    a = page.evaluate(LOOK)
    page.wait_for_function("() => { const s = window.lecun89.train.snapshot; return s && s.done >= 1024 || s.pass > 1; }")
    b = page.evaluate(LOOK)
    assert a["pass"] == 1 and b["pass"] == 1 and b["done"] > a["done"], (a["pass"], a["done"], b["pass"], b["done"])
    assert b["points"] > a["points"] and b["fig"] != a["fig"] and b["kernels"] != a["kernels"]
    # stop: it waits where it stopped, and its network is offered to the other tabs
    page.click("#train-stop")
    state_is(page, "paused")
    at = page.evaluate(LOOK)["digits"]
    page.wait_for_timeout(800)
    assert page.evaluate(LOOK)["digits"] == at
    assert page.is_enabled("#train-use") and "paused" in page.inner_text("#train-line")
    page.click("#train-continue")
    state_is(page, "done", timeout=180_000)
    line = page.inner_text("#train-line")
    assert "pass 10 of 10" in line and "done" in line
    # the freshly trained network in the Draw tab
    page.wait_for_function("() => window.lecun89.train.model && window.lecun89.train.model.where === 'after its 10 passes'")
    draw_on_trained(page)


def draw_on_trained(page) -> None:
    """Draw on it: the Draw tab, the model "trained", a 3 drawn and read by it."""
    page.click("#train-use")
    page.wait_for_function("() => window.lecun89.tab === 'draw' && window.lecun89.model === 'trained'")
    box = page.locator("#pad").bounding_box()
    for line in STROKES["3"]:
        (x, y), rest = line[0], line[1:]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=3)
        page.mouse.up()
    page.wait_for_function("() => document.body.dataset.state === 'idle' && "
                           "document.getElementById('prediction').dataset.model === 'trained'")
    assert page.inner_text("#prediction").strip().isdigit()


def test_lecun1989_as_the_cli_trains_it(page, data_dir, tmp_path):
    if not (data_dir / "usps" / "zip.train.gz").is_file():
        pytest.skip(f"no USPS files under {data_dir}")
    from lecun89.cli import main

    page.select_option("#train-config", "lecun1989")
    page.fill("#train-seed", "0")
    page.select_option("#train-pace", "")
    page.click("#train-start")
    # learning within its first pass, then stopped in its third and continued
    page.wait_for_function("() => { const r = window.lecun89.train.run, s = window.lecun89.train.snapshot; "
                           "return r && r.config === 'lecun1989' && s && s.pass === 1 && s.done >= 1024; }",
                           timeout=120_000)
    assert page.inner_text("#train-status") == ""   # no busy: the quick run's page let go of it as it closed
    first = page.evaluate(LOOK)
    page.wait_for_function("() => window.lecun89.train.snapshot.digits >= 2 * 7291 + 512", timeout=120_000)
    page.click("#train-stop")
    state_is(page, "paused")
    stopped = page.evaluate(LOOK)
    assert stopped["fig"] != first["fig"] and stopped["kernels"] != first["kernels"]
    page.click("#train-continue")
    page.wait_for_function("() => { const r = window.lecun89.train.run; return r && r.config === 'lecun1989' "
                           "&& r.state === 'done'; }", timeout=300_000)
    shown = page.evaluate("() => window.lecun89.train.points.filter((p) => p.kind === 'pass')")
    out = tmp_path / "cli"
    assert main(["train", "lecun1989", "--seed", "0", "--out", str(out), "--no-report", "--no-progress",
                 "--data-dir", str(data_dir)]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [p["x"] for p in shown] == list(range(24))
    for p, r in zip(shown[1:], rows, strict=True):
        assert (p["train_error"], p["test_error"], p["train_loss"], p["test_loss"]) == \
               (r["train_error"], r["test_error"], r["train_loss"], r["test_loss"])
        assert (p["train_mse"], p["test_mse"]) == (r["train_mse"] / 2, r["test_mse"] / 2)   # the paper's MSE
    res = json.loads((out / "results.json").read_text())
    line = page.inner_text("#train-line")
    assert f"train {100 * res['train_error']:.2f}%, test {100 * res['test_error']:.2f}%" in line
    shot_wanted = os.environ.get("LECUN89_TRAIN_SCREENSHOT")
    if shot_wanted:
        from PIL import Image

        shot = tmp_path / "train.png"
        page.locator("main").screenshot(path=str(shot))
        with Image.open(shot) as img:
            img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(shot_wanted, optimize=True)
    draw_on_trained(page)   # the network of the 23 passes reads a drawn digit
