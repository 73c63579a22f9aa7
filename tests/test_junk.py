"""Pictures with no digit (issue 30): the junk set, its label through the
losses and both engines, the metrics that leave it out, the decision that
answers "not a digit", and `predict` on a noise picture."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lecun89 import losses, metrics
from lecun89.cli import main
from lecun89.config import load_config
from lecun89.gradcheck import TOLERANCE, check_network
from lecun89.metrics import NONE
from lecun89.model import build_model
from lecun89.reader import junk


def _labels_with_junk():
    return np.array([3, NONE, 0, NONE, 9])


@pytest.mark.parametrize("kind", ["ce", "mse"])
def test_the_none_target_gradient_checks_in_float64(kind, rng):
    cfg = load_config("modern-usps" if kind == "ce" else "lecun1989")  # logits and cross-entropy; tanh and MSE
    net = build_model(cfg.model, seed=2)
    net.flat[...] = rng.uniform(-0.3, 0.3, net.flat.size)
    errs = check_network(net, rng.uniform(-1, 1, (5, 1, 16, 16)), _labels_with_junk(), kind)
    assert max(errs.values()) < TOLERANCE, errs


def test_the_none_targets_are_uniform_for_cross_entropy_and_all_low_for_squared_error(rng):
    y = rng.normal(0, 2, (5, 10))
    labels = _labels_with_junk()
    ce = losses.make_loss("ce")
    t = ce.targets(labels)
    assert np.allclose(t[1], 0.1) and np.allclose(t[3], 0.1) and t[0, 3] == 1.0 and t[0].sum() == 1.0
    p = np.exp(y - y.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expect = np.mean([-np.log(p[0, 3]), -np.log(p[1]).mean(), -np.log(p[2, 0]), -np.log(p[3]).mean(),
                      -np.log(p[4, 9])])
    assert ce.forward(y, labels) == pytest.approx(expect, rel=1e-12)
    assert np.allclose(ce.backward(), ce.grad(y, t))
    assert np.allclose(ce.backward().sum(axis=1), 0.0)  # the uniform's gradient, too, sums to 0 per pattern
    tm = losses.make_loss("mse").targets(labels)
    assert (tm[1] == -1).all() and (tm[3] == -1).all() and tm[0, 3] == 1.0


def test_digits_targets_are_unchanged_bit_for_bit(rng):
    """Without junk the cross-entropy's cost and gradient are what they were: -log p_label."""
    y = rng.normal(0, 2, (7, 10))
    labels = rng.integers(0, 10, 7)
    ce = losses.make_loss("ce")
    cost = ce.forward(y, labels)
    z = y - y.max(1, keepdims=True)
    s = np.exp(z).sum(1)
    assert cost == float(np.mean(np.log(s) - z[np.arange(7), labels]))
    p = np.exp(z) / s[:, None]
    p[np.arange(7), labels] -= 1.0
    assert np.array_equal(ce.backward(), p / 7)


@pytest.mark.parametrize("kind", ["ce", "mse"])
def test_both_engines_train_junk_alike(kind, rng):
    """One pass over digits and junk: the compiled engine's weights are the numpy engine's to rounding."""
    pytest.importorskip("numba", reason="numba cannot be loaded here")
    from lecun89.data._base import make_dataset
    from lecun89.train import Trainer

    over = ["train.passes=1", "train.order=shuffle"]
    if kind == "ce":
        over += ["model.activation=relu", "model.output_activation=none", "train.loss=ce", "train.cost_scale=mean", "train.optimizer=adamw",
                 "train.lr=3e-4"]
    x = rng.uniform(-1, 1, (40, 1, 16, 16))
    y = np.where(np.arange(40) % 3 == 0, NONE, rng.integers(0, 10, 40)).astype(np.int64)
    ds = make_dataset("t", (x, y, x[:5].copy(), y[:5].copy()), {})
    flats = {}
    for engine in ("numpy", "numba"):
        cfg = load_config("lecun1989", [*over, f"train.engine={engine}"])
        tr = Trainer(cfg, ds)
        tr.run_pass()
        flats[engine] = tr.net.flat.copy()
    a, b = flats["numpy"], flats["numba"]
    start = build_model(load_config("lecun1989", over).model, seed=0).flat
    assert not np.allclose(a, start)  # it trained
    assert np.abs(a - b).max() <= 1e-9 * max(1.0, np.abs(a).max())


def test_metrics_leave_junk_out():
    out = np.eye(10)[[3, 5, 0, 2, 9]] * 2.0 - 1.0
    labels = _labels_with_junk()
    assert metrics.misses(out, labels) == 0 and metrics.error_rate(out, labels) == 0.0
    assert metrics.confusion_matrix(out, labels).sum() == 3
    out[0] = np.eye(10)[4]
    assert metrics.misses(out, labels) == 1 and metrics.error_rate(out, labels) == pytest.approx(1 / 3)
    rej, err = metrics.rejection_curve(out, labels)
    assert err[0] == pytest.approx(1 / 3)
    from lecun89.data._base import arrays_checksum, class_counts

    assert class_counts(labels) == [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    x = np.zeros((5, 1, 16, 16))
    assert arrays_checksum(x, labels, x, labels) != arrays_checksum(x, np.abs(labels), x, labels)


def test_the_junk_set_is_seeded_in_range_and_of_every_kind(data_dir):
    from lecun89.data import mnist_raw

    images, labels, *_ = mnist_raw(data_dir)
    a, ka = junk.make_junk(60, 7, images[:200], labels[:200].astype(int))
    b, kb = junk.make_junk(60, 7, images[:200], labels[:200].astype(int))
    assert np.array_equal(a, b) and np.array_equal(ka, kb)
    assert a.shape == (60, 16, 16) and a.min() >= -1.0 and a.max() <= 1.0 and (a.max(axis=(1, 2)) == 1.0).all()
    c, _ = junk.make_junk(60, 8, images[:200], labels[:200].astype(int))
    assert not np.array_equal(a, c)
    assert set(ka) <= set(junk.KINDS) and len(set(ka)) >= 8
    for kind in junk.KINDS:  # every kind draws
        g = junk.junk_gray(kind, np.random.default_rng(1), images[:50], labels[:50].astype(int))
        assert g.ndim == 2 and g.min() >= 0.0 and g.max() <= 1.0
    with pytest.raises(ValueError, match="needs digits"):
        junk.junk_gray("pair", np.random.default_rng(1))


def test_the_junk_data_set_appends_its_share_with_the_none_label(data_dir, monkeypatch):
    from lecun89.data import usps_mnist_junk
    from lecun89.data._base import arrays_checksum, make_dataset
    from lecun89.data.registry import SOURCES
    from lecun89.data._base import resolve_data_dir, verify_sources

    monkeypatch.setattr(usps_mnist_junk, "N_JUNK", 40)
    x = np.full((10, 1, 16, 16), -1.0)
    y = np.arange(10, dtype=np.int64)
    base = make_dataset("usps-mnist", (x, y, x[:3].copy(), y[:3].copy()), {"checksum": "b"})
    paths = verify_sources("usps-mnist-junk", SOURCES["usps-mnist-junk"], resolve_data_dir(data_dir))
    (xt, yt, xe, ye), meta = usps_mnist_junk.build(paths, "full", None, base)
    assert xt.shape == (50, 1, 16, 16) and np.count_nonzero(yt == NONE) == 40 and (yt[:10] == y).all()
    assert sum(meta["junk"]["kinds"].values()) == 40 and meta["junk"]["seed"] == usps_mnist_junk.JUNK_SEED
    assert len(ye) == 3 and (ye >= 0).all()  # the test split holds no junk
    assert arrays_checksum(xt, yt, xe, ye) == arrays_checksum(xt.copy(), yt.copy(), xe, ye)


def _noise_png(path, seed=0):
    g = np.random.default_rng(seed).uniform(0, 1, (120, 120))
    Image.fromarray(np.uint8(255 * g)).save(path)


def test_analyse_says_not_a_digit_for_noise_and_reads_a_clean_digit_as_before(tmp_path):
    from lecun89.reader import analyse, load_model, read_digit

    model = load_model("reader")
    assert model.none_threshold is not None
    p = tmp_path / "noise.png"
    _noise_png(p)
    r = analyse(model, read_digit(p)[0], maps=False)
    assert r["digit"] is None and r["rejected"] and r["reason"].startswith("not a digit")
    seven = analyse(model, read_digit(Path(__file__).resolve().parent.parent / "docs" / "seven.png")[0], maps=False)
    assert seven["digit"] == 7 and seven["reason"] is None and not seven["rejected"]
    old = dataclasses.replace(model, none_threshold=None)  # a model without one reads every picture as a digit
    assert analyse(old, read_digit(p)[0], maps=False)["digit"] is not None


def test_cli_predict_json_on_noise_prints_digit_null_and_exits_0(tmp_path, capsys):
    p = tmp_path / "noise.png"
    _noise_png(p, 1)
    assert main(["predict", str(p), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["digit"] is None and r["rejected"] is True and "not a digit" in r["reason"]
    assert main(["predict", str(p)]) == 0
    assert "not a digit" in capsys.readouterr().out


def test_the_none_threshold_rejects_at_most_its_share():
    s = np.linspace(0.5, 1.0, 1000)
    t = junk.none_threshold(s, 0.005)
    assert np.count_nonzero(s < t) == 5
    assert junk.none_threshold(s[:100], 0.005) < s.min()


def test_the_shipped_none_threshold_is_what_ship_models_recomputes(data_dir):
    """scripts/ship_models.py's none_threshold_of on the shipped reader gives reader.json's
    none-threshold and its tuning figures (what --check compares)."""
    import importlib.util

    from lecun89.reader import models_dir

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("ship_models", root / "scripts" / "ship_models.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    info = json.loads((models_dir() / "reader.json").read_text())
    got = ship.none_threshold_of(models_dir() / "reader.npz", data_dir)
    assert abs(got["none_threshold"] - info["none_threshold"]) <= 1e-9
    assert got["none_tuning"] == info["none_tuning"]
    assert got["none_tuning"]["clean_rejected"] <= junk.NONE_REJECT


def test_paper_share_is_the_paper_reached_from_the_edge():
    """lecun89.reader.ink.paper_share: a row written on paper leaves most of it
    (also cropped so tight that its strokes touch the top and bottom: the border
    counts as paper); noise, whose paper is broken up, leaves little."""
    from lecun89.reader.ink import ROW_PAPER, paper_share

    row = np.zeros((40, 120))
    for x in (10, 40, 70, 100):  # four tall strokes touching the top and the bottom, a ring with a hole
        row[:, x:x + 4] = 1.0
    row[10:30, 50:60] = 1.0
    row[15:25, 53:57] = 0.0  # the ring's hole: paper not reached from the edge
    assert paper_share(row) == pytest.approx(1 - (4 * 40 * 4 + 200) / row.size)
    noise = np.random.default_rng(0).uniform(0, 1, (60, 200))
    assert paper_share(noise) < ROW_PAPER < paper_share(row)
    assert paper_share(np.zeros((5, 5))) == 1.0


def test_predict_row_on_noise_says_not_a_row_of_digits(tmp_path, capsys):
    """The issue's case: a noise picture given to `predict --row` was read as a row of
    digits and accepted; the paper rule refuses it, naming why, and exits 0."""
    from lecun89.reader import analyse_row, load_model, read_row_file

    g = np.random.default_rng(3).uniform(0, 1, (60, 200))
    p = tmp_path / "noise-row.png"
    Image.fromarray(np.uint8(255 * g)).save(p)
    assert main(["predict", "--row", str(p), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["rejected"] is True and r["reason"].startswith("not a row of digits: paper shows in")
    assert main(["predict", "--row", str(p)]) == 0
    assert "REJECTED (not a row of digits" in capsys.readouterr().out
    graph, _ = read_row_file(str(p))
    graph.paper = 1.0  # the rule off: the network alone decides
    assert not (analyse_row(load_model("reader"), graph)["reason"] or "").startswith("not a row")


def test_column_runs_and_a_filled_sign_sliced_into_bars(tmp_path, capsys):
    """lecun89.reader.ink.column_runs: each column's longest run of ink over the ink's
    height; a filled rectangle given to `predict --row` is cut into full-height bars
    read as 1s, and refused because its cuts run through solid ink."""
    from lecun89.reader.ink import SOLID_CUT, column_runs

    ink = np.zeros((10, 4))
    ink[2:8, 0] = 1.0         # a run of 6 over the ink's 6 rows
    ink[[2, 3, 5, 7], 1] = 1.0  # runs of 2 and 1
    assert np.allclose(column_runs(ink), [1.0, 2 / 6, 0.0, 0.0]) and not column_runs(np.zeros((3, 3))).any()
    img = Image.new("L", (200, 120), 240)
    from PIL import ImageDraw

    ImageDraw.Draw(img).rectangle([(20, 30), (180, 100)], fill=20)
    img.save(tmp_path / "slab.png")
    assert main(["predict", "--row", str(tmp_path / "slab.png"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["rejected"] is True and "run through solid ink" in r["reason"] and SOLID_CUT <= 1.0


def test_one_cut_down_a_stroke_does_not_make_a_row_a_sliced_shape():
    """lecun89.reader.ink.sliced: a row is a solid shape sliced into bars when at
    least SOLID_SHARE of its cuts, and MIN_SOLID, run through solid ink; one cut
    down a shared stem among a zip code's four is not, half of them is, and no
    cuts is not; nor is a row of two digits whose one cut runs down the stem
    they share (two touching 1s), nor one of three with one such cut."""
    from lecun89.reader.ink import MIN_SOLID, SOLID_CUT, SOLID_SHARE, sliced

    stem, stroke = SOLID_CUT + 0.01, SOLID_CUT / 3
    assert not sliced([stem, stroke, stroke, stroke]) and not sliced([])
    assert SOLID_SHARE == 0.5 and sliced([stem, stem, stroke, stroke])
    assert MIN_SOLID == 2 and not sliced([stem]) and not sliced([stem, stroke])
    assert sliced([stem] * 8) and sliced([SOLID_CUT] * 2) and not sliced([SOLID_CUT - 1e-9] * 2)
