"""lecun89 predict / models: a person's digit images read by the shipped networks."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lecun89 import metrics
from lecun89.cli import main
from lecun89.config import config_hash, load_config
from lecun89.reader import MAX_PIXELS, digit_from_ink, fit_16, gray_levels, ink_map, read_digit
from lecun89.reader import DEFAULT_MODEL, SHIPPED, analyse, load_model, models_dir, shipped_models
from lecun89.testing import draw_plain as draw  # the plain 1, 7, 0 drawings


@pytest.fixture(scope="module")
def paper_model():
    return load_model("lecun1989")


# --- shipped models --------------------------------------------------------------------

def test_both_models_are_shipped_with_their_config_and_threshold():
    shipped = shipped_models()
    assert list(shipped) == list(SHIPPED)
    for name, path in shipped.items():
        info = json.loads(path.with_suffix(".json").read_text())
        # A changed config must be re-shipped: python scripts/ship_models.py
        cfg = dataclasses.replace(load_config(name), seed=0)
        assert info["results"]["config_hash"] == config_hash(cfg), f"{name}: run scripts/ship_models.py"
        # Every shipped model is tested on USPS's 2,007 test digits (the reader
        # also trains on MNIST digits and junk: its data set is usps-mnist-junk).
        assert info["results"]["seed"] == 0 and info["results"]["dataset"] in ("usps", "usps-mnist", "usps-mnist-junk")
        assert 0.0 < info["reject_gap"] < 4.0
        assert path.stat().st_size < 120_000
        m = load_model(name)
        assert m.threshold == info["reject_gap"]
        assert m.net.totals() == {"units": 1256, "connections": 64660, "params": 9760}


def test_shipped_models_reproduce_their_figures_on_the_usps_test_set(data_dir):
    from lecun89.data import load_dataset

    data = load_dataset("usps", data_dir)
    for name in SHIPPED:
        m = load_model(name)
        r = json.loads((models_dir() / f"{name}.json").read_text())["results"]
        out = m.net.predict(data.x_test)
        if r["dataset"] == "usps":  # usps-mnist has USPS's test digits and more training digits
            assert r["data_checksum"] == data.meta["checksum"]
        assert metrics.misses(out, data.y_test) == r["test_misses"]
        assert metrics.rejection_at(out, data.y_test, 0.01) == r["rejection_at_1pct"]
        # The threshold rejects exactly that share, and leaves <= 1% error.
        gap = metrics.output_gap(out)
        accepted = gap >= m.threshold
        assert np.mean(~accepted) == pytest.approx(r["rejection_at_1pct"])
        assert metrics.error_rate(out[accepted], data.y_test[accepted]) <= 0.01


def test_the_shipped_thresholds_sit_between_two_digits_gaps(data_dir):
    """A digit's gap moves in its last bits with the BLAS build (or the engine): a
    threshold equal to one digit's gap accepts it on one build and rejects it on
    another. Each shipped threshold leaves every USPS test digit's gap well clear,
    so the counts above hold whatever the build: outputs perturbed as another
    build's would be (1e-12 relative, either way) accept the same digits."""
    from lecun89.data import load_dataset

    data = load_dataset("usps", data_dir)
    for name in SHIPPED:
        m = load_model(name)
        out = m.net.predict(data.x_test)
        gap = metrics.output_gap(out)
        assert np.min(np.abs(gap - m.threshold)) > 1e-6, name
        for factor in (1 - 1e-12, 1 + 1e-12):
            np.testing.assert_array_equal(metrics.output_gap(out * factor) >= m.threshold, gap >= m.threshold)


def test_gap_threshold_lies_halfway_between_the_last_accepted_and_the_first_rejected_gap(rng):
    out = rng.normal(size=(400, 10))
    labels = rng.integers(0, 10, 400)
    out[np.arange(400), labels] += rng.uniform(0, 4, 400)
    t = metrics.gap_threshold(out, labels, 0.01)
    gap = np.sort(metrics.output_gap(out))
    below, above = gap[gap < t], gap[gap >= t]
    assert len(below) and len(above)
    assert t == pytest.approx((below.max() + above.min()) / 2, abs=0, rel=1e-15)
    # Nothing to reject: every digit is accepted, down to a gap of 0.
    sure = np.zeros((5, 10))
    sure[np.arange(5), np.arange(5)] = 1.0
    assert metrics.gap_threshold(sure, np.arange(5), 0.01) == 0.0


def test_gap_threshold_agrees_with_the_rejection_curve(rng):
    for _ in range(20):
        n = int(rng.integers(50, 300))
        labels = rng.integers(0, 10, n)
        out = rng.normal(size=(n, 10))
        out[np.arange(n), labels] += rng.uniform(0, 3, n)
        out = np.round(out, 1)  # ties in the gaps
        t = metrics.gap_threshold(out, labels, 0.05)
        rej = metrics.rejection_at(out, labels, 0.05)
        if rej == 1.0:
            assert t == float("inf")
            continue
        accepted = metrics.output_gap(out) >= t
        assert np.mean(~accepted) == pytest.approx(rej)
        assert metrics.error_rate(out[accepted], labels[accepted]) <= 0.05 + 1e-12


def test_activations_are_the_forward_pass(paper_model, rng):
    x = rng.uniform(-1, 1, (5, 1, 16, 16))
    acts = paper_model.net.activations(x)
    assert {k: v.shape for k, v in acts.items()} == {"H1": (5, 12, 8, 8), "H2": (5, 12, 4, 4), "H3": (5, 30),
                                                     "out": (5, 10)}
    assert np.array_equal(acts["out"], paper_model.net.predict(x))
    r = analyse(paper_model, x[0, 0])
    one = paper_model.net.activations(x[:1])  # one digit: the bits of predict(x[:1])
    assert np.array_equal(one["out"], paper_model.net.predict(x[:1]))
    assert [lay["name"] for lay in r["layers"]] == ["H1", "H2", "H3", "out"]
    assert np.array_equal(r["layers"][0]["values"], one["H1"][0])
    assert np.array_equal(r["layers"][1]["values"], one["H2"][0])
    assert r["digit"] == int(np.argmax(one["out"][0])) and r["outputs"] == one["out"][0].tolist()
    assert r["gap"] == pytest.approx(metrics.output_gap(one["out"])[0])
    assert r["rejected"] == (r["gap"] < paper_model.threshold)


# --- preprocessing -----------------------------------------------------------------------

@pytest.mark.parametrize("digit", [1, 7, 0])
def test_synthetic_digits_are_read_right(paper_model, tmp_path, digit):
    for size in (28, 64, 200, 900):
        for width in {max(1, size // 25), max(1, size // 14), size // 8}:
            for dark in (True, False):
                for alpha in (False, True):
                    p = tmp_path / f"{digit}-{size}-{width}-{dark}-{alpha}.png"
                    draw(digit, size, width, dark, alpha).save(p)
                    x, _ = read_digit(p)
                    assert x.shape == (16, 16) and x.min() == -1.0 and x.max() == 1.0
                    assert analyse(paper_model, x, maps=False)["digit"] == digit, p.name


def test_polarity_and_alpha_give_the_same_input(tmp_path):
    xs = []
    for dark in (True, False):
        for alpha in (False, True):
            p = tmp_path / f"{dark}-{alpha}.png"
            draw(7, 120, 10, dark, alpha).save(p)
            xs.append(read_digit(p)[0])
    for x in xs[1:]:
        np.testing.assert_allclose(x, xs[0], atol=1e-12)


def test_box_fits_16_keeping_aspect_and_centred():
    ink = np.zeros((300, 200))
    ink[50:250, 80:120] = 1.0  # a bar 200 high, 40 wide
    x = fit_16(ink)
    rows, cols = np.flatnonzero((x > -1).any(1)), np.flatnonzero((x > -1).any(0))
    assert (rows[0], rows[-1]) == (0, 15)  # the longer side spans 16
    assert len(cols) in (3, 4) and abs((cols[0] + cols[-1]) / 2 - 7.5) <= 0.5  # 16 * 40/200 = 3.2, centred


def test_frame_noise_and_specks_are_ignored(paper_model, tmp_path, rng):
    clean = tmp_path / "clean.png"
    draw(7, 200, 16).save(clean)
    g = np.asarray(Image.open(clean), dtype=np.float64) * 0.85 + 20  # gray paper, grey ink
    g += rng.normal(0, 4, g.shape)  # sensor noise
    g[:8], g[-8:], g[:, :8], g[:, -8:] = 0, 0, 0, 0  # a black frame
    g[20:23, 20:23] = 25  # specks
    g[180:182, 170:173] = 25
    noisy = tmp_path / "noisy.jpg"
    Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).save(noisy, quality=85)
    x0, x1 = read_digit(clean)[0], read_digit(noisy)[0]
    assert analyse(paper_model, x1, maps=False)["digit"] == 7
    assert np.abs(x1 - x0).mean() < 0.1


def test_usps_digits_as_4x_png_read_back_as_themselves(paper_model, data_dir, tmp_path):
    from lecun89.data import load_dataset

    data = load_dataset("usps", data_dir)
    x = data.x_test
    back = []
    for i in range(len(x)):
        gray = np.round((1.0 - x[i, 0]) / 2.0 * 255.0).astype(np.uint8)  # dark ink on white
        Image.fromarray(gray).resize((64, 64), Image.NEAREST).save(tmp_path / "d.png")
        back.append(read_digit(tmp_path / "d.png")[0])
    back = np.asarray(back)[:, None]
    # Same prediction for every test digit by every shipped model; the same
    # pixels up to 8-bit rounding for every digit whose longer side spans 16
    # pixels (all but one). Deslanting (on) leaves them as they are: the USPS
    # digits were deslanted when they were prepared.
    for name in SHIPPED:
        net = load_model(name).net
        assert np.array_equal(net.predict(back).argmax(1), net.predict(x).argmax(1)), name
    close = np.abs(back - x).max(axis=(1, 2, 3)) <= 2 / 255 + 1e-9
    assert close.sum() >= len(x) - 1


def test_gray_levels_of_modes():
    assert gray_levels(Image.new("L", (4, 3), 255)).shape == (3, 4)
    i16 = Image.fromarray(np.array([[0, 1000], [500, 1000]], dtype=np.int32), "I")
    np.testing.assert_allclose(gray_levels(i16), [[0, 1], [0.5, 1]])
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert gray_levels(rgba).min() == 1.0  # all transparent: an empty white sheet


def test_blank_and_bad_ink_arrays_are_refused():
    with pytest.raises(ValueError, match="blank"):
        ink_map(np.full((20, 20), 0.5))
    with pytest.raises(ValueError, match="blank"):
        digit_from_ink(np.zeros((20, 20)))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        digit_from_ink(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        digit_from_ink(np.zeros(5))


# --- the command ---------------------------------------------------------------------------

def test_cli_predict_text_json_and_show(tmp_path, capsys):
    paths = []
    for d in (1, 7, 0):
        p = tmp_path / f"digit-{d}.png"
        draw(d, 160, 14).save(p)
        paths.append(str(p))
    npy = tmp_path / "seven.npy"
    np.save(npy, read_digit(paths[1])[0])
    paths.append(str(npy))
    assert main(["predict", *paths, "--json", "--show", str(tmp_path / "show.png")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["digit"] for r in rows] == [1, 7, 0, 7]
    assert rows[3]["outputs"] == rows[1]["outputs"]
    assert all(r["model"] == DEFAULT_MODEL and len(r["outputs"]) == 10 for r in rows)
    assert Image.open(tmp_path / "show.png").size[1] > 400
    assert main(["predict", paths[0], "--model", "modern-usps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{paths[0]}: 1") and "top 2: 1 (" in out and "gap" in out


def test_cli_predict_with_a_run_directory_model(tmp_path, capsys):
    from lecun89.train import run_training

    cfg = load_config("quick", ["train.passes=1"])
    run_training(cfg, tmp_path / "run", quiet=True)
    p = tmp_path / "one.png"
    draw(1, 64, 5).save(p)
    assert main(["predict", str(p), "--model", str(tmp_path / "run"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    with np.load(tmp_path / "run" / "outputs.npz") as z:
        assert r["threshold"] == metrics.gap_threshold(z["test_outputs"], z["test_labels"])


def test_bad_files_get_one_line_each_and_the_rest_still_run(tmp_path):
    good = tmp_path / "good.png"
    draw(7, 100, 9).save(good)
    (tmp_path / "text.png").write_text("not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    Image.new("1", (9000, 9000), 1).save(tmp_path / "huge.png")  # 81 MP, a small file
    (tmp_path / "folder").mkdir()
    np.save(tmp_path / "shape.npy", np.zeros((8, 8)))
    np.save(tmp_path / "range.npy", np.full((16, 16), 3.0))
    bad = ["text.png", "empty.png", "blank.png", "huge.png", "folder", "missing.png", "shape.npy", "range.npy"]
    proc = subprocess.run([sys.executable, "-m", "lecun89", "predict", str(good),
                           *[str(tmp_path / b) for b in bad]], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{good}: 7")
    err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert len(err) == len(bad) + 1 and err[-1] == f"lecun89: {len(bad)} of {len(bad) + 1} file(s) could not be read"
    expect = ["not an image", "empty file", "blank", "too large", "is a directory", "no such file",
              "expected a 16x16", "in [-1, 1]"]
    for b, line, what in zip(bad, err[:-1], expect, strict=True):
        assert line.startswith(f"lecun89: error: {tmp_path / b}: ") and what in line, line
    assert f"{MAX_PIXELS:,}" in err[3]


def test_cli_models_lists_the_shipped_ones(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(SHIPPED)
    assert main(["models", "--json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == list(SHIPPED)


def test_unknown_model_is_refused(capsys, tmp_path):
    p = tmp_path / "one.png"
    draw(1, 64, 5).save(p)
    assert main(["predict", str(p), "--model", "nonesuch"]) == 2
    assert f"neither a shipped model ({', '.join(SHIPPED)})" in capsys.readouterr().err


def test_readme_example_is_what_the_command_prints(capsys, monkeypatch):
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    lines = (repo / "README.md").read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("    $ lecun89 predict docs/seven.png"))
    shown = [line[4:] for line in lines[i + 1:i + 4]]
    monkeypatch.chdir(repo)
    assert main(["predict", "docs/seven.png"]) == 0
    assert capsys.readouterr().out.splitlines() == shown


def test_a_photo_stored_sideways_is_turned_by_its_exif_note(paper_model, tmp_path):
    img = draw(7, 120, 10).rotate(90, expand=True)  # stored turned a quarter
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    img.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    upright = tmp_path / "upright.jpg"
    draw(7, 120, 10).save(upright, quality=95)
    x, _ = read_digit(tmp_path / "photo.jpg")
    assert analyse(paper_model, x, maps=False)["digit"] == 7
    assert np.abs(x - read_digit(upright)[0]).mean() < 0.05
