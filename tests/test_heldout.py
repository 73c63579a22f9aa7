"""The held-out-writers benchmark: its files, its groups, its script and what it ships."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from lecun89.reader import heldout
from lecun89.reader import SHIPPED, heldout_errors, models_dir

ROOT = Path(__file__).resolve().parent.parent


def test_groups_are_fixed_and_apart():
    tune = heldout.group_indices(heldout.TUNE)
    assert len(tune) == len(set(tune)) == 2000 and tune.max() < 60000
    assert np.array_equal(tune, heldout.group_indices(heldout.TUNE))  # the same sample every time
    assert heldout.TUNE[1] == "train" and heldout.REPORT[1] == "test"  # MNIST's disjoint writers
    assert np.array_equal(heldout.group_indices(heldout.REPORT), np.arange(10000))


def test_each_style_is_a_pure_function_of_the_digit():
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 12:16] = 255
    for style in heldout.STYLES:
        a, b = heldout.render(img, style, 5), heldout.render(img, style, 5)
        assert a == b, style
        x = heldout.read(a)
        assert x.shape == (16, 16) and x.max() == 1.0 and x.min() == -1.0
    assert heldout.render(img, "photo", 5) != heldout.render(img, "photo", 6)  # each photo its own light


def test_the_shipped_numbers_cover_every_model_and_style():
    shipped = json.loads((models_dir() / "heldout.json").read_text())
    assert set(shipped["models"]) == set(SHIPPED) and set(shipped["styles"]) == set(heldout.STYLES)
    errors = heldout_errors()
    for name in SHIPPED:
        for style in heldout.STYLES:
            cell = shipped["models"][name][style]
            assert 0.0 <= cell["deslanted"]["error"] <= 1.0 and errors[name][style] == cell["deslanted"]["error"]


def test_the_script_reads_a_few_digits_of_each_group(data_dir, tmp_path):
    out = tmp_path / "h.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "heldout.py"), "--data-dir", str(data_dir),
                           "--group", "report", "--styles", "clean,photo", "--limit", "60", "--rows", "5",
                           "--jobs", "1", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["n"] == 60 and len(r["rows"]) == len(SHIPPED) * 2 * 2  # models x styles x deslant
    assert all(row["n"] == 60 and 0 <= row["misses"] <= 60 for row in r["rows"])
    assert set(r["rows_of_digits"]) == set(SHIPPED)
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "heldout.py"), "--data-dir", str(data_dir),
                          "--styles", "smudged"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown style 'smudged'" in bad.stderr and "Traceback" not in bad.stderr


def test_the_script_reads_the_no_digit_set_with_the_curve(data_dir, tmp_path):
    out = tmp_path / "j.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "heldout.py"), "--data-dir", str(data_dir),
                           "--group", "tune", "--styles", "clean", "--limit", "40", "--junk", "--jobs", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    j = json.loads(out.read_text())["junk"]
    assert j["n"] == 40 and set(j["models"]) == set(SHIPPED)
    for m in j["models"].values():
        assert 0.0 <= m["accepted"] <= m["taken"] <= 1.0
        assert sum(k["n"] for k in m["by_kind"].values()) == 40
        if m["none_threshold"] is None:  # a model without one refuses only what the ink stage finds blank
            assert m["taken"] == 1.0 - j["refused_by_the_ink_stage"]
    curve = j["curve"]
    assert [c["threshold"] for c in curve] == sorted(c["threshold"] for c in curve)
    assert all(a["junk_taken"] >= b["junk_taken"] and a["clean_refused"] <= b["clean_refused"]
               for a, b in zip(curve, curve[1:], strict=False))


def test_a_zip_codes_digits_alone_make_up_its_picture(data_dir):
    """heldout.digits_alone: one picture per digit, where it lies in the row
    (the row's size, its neighbours left out); laid over one another they are
    the row's own picture, pixel for pixel; each is read as a digit."""
    import io

    from PIL import Image

    images, labels, _ = heldout.group_digits(heldout.TUNE, data_dir)
    for kind in heldout.ZIP_GAPS:
        data, digits = heldout.zip_row(images, labels, np.random.default_rng(5), 5, kind)
        layers, shape, same = heldout.zip_layers(images, labels, np.random.default_rng(5), 5, kind)
        alone = heldout.digits_alone(layers, shape)
        assert same == digits and len(alone) == 5
        pix = [np.asarray(Image.open(io.BytesIO(a))) for a in alone]
        assert np.array_equal(np.minimum.reduce(pix), np.asarray(Image.open(io.BytesIO(data))))
        assert all(heldout.read(a).shape == (16, 16) for a in alone)


def test_the_script_reads_zip_codes_and_their_digits_alone(data_dir, tmp_path):
    out = tmp_path / "z.json"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "heldout.py"), "--data-dir", str(data_dir),
                           "--group", "tune", "--styles", "", "--zip", "2", "--zip-model", "reader", "--jobs", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    z = json.loads(out.read_text())["zip_codes"]
    assert set(z) == {f"reader ({how})" for how in ("each digit alone", "old cutter", "graph", "graph, --digits 5,9")}
    for r in z.values():
        assert r["rows"] == 8 and 0.0 <= r["all"] <= 1.0 and 0.0 <= r["rows_rejected"] <= 1.0
    alone = z["reader (each digit alone)"]
    assert alone["all"] == np.mean([alone["touching"], alone["spaced"]])  # 4 rows of each
