"""The affine and elastic distortions (lecun89/augment.py): their geometry, the
background, the draws, the config keys, and runs on either engine."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from lecun89 import augment as A
from lecun89.cli import main
from lecun89.config import config_hash, load_config
from lecun89.errors import UserError

ZERO = {"shift": 0.0, "scale": 0.0, "rotate": 0.0, "shear": 0.0, "sigma": 3.0, "alpha": 0.0}
DEFAULTS = A.params_of(load_config("quick").train)


def _digits(rng, n=40):
    """Digit-like images in [-1, 1]: background -1, a blob of ink away from the edges."""
    x = np.full((n, 1, 16, 16), -1.0)
    x[:, 0, 3:13, 4:12] = rng.uniform(-1, 1, (n, 10, 8))
    return x


def _bar(angle=0.0):
    """A smooth bar through the centre, at ``angle`` degrees counter-clockwise on screen."""
    gy, gx = np.mgrid[0:16, 0:16] - 7.5
    th = np.deg2rad(angle)
    along = gx * np.cos(th) - gy * np.sin(th)
    across = gx * np.sin(th) + gy * np.cos(th)
    ink = np.exp(-along ** 2 / (2 * 3.0 ** 2) - across ** 2 / (2 * 0.8 ** 2))
    return (2 * ink - 1)[None, None]


def _moments(img):
    """Centre of mass (row, column) of the ink and the orientation of its long
    axis, degrees counter-clockwise on screen."""
    ink = (img[0, 0] + 1) / 2
    gy, gx = np.mgrid[0:16, 0:16].astype(float)
    m = ink.sum()
    cy, cx = (ink * gy).sum() / m, (ink * gx).sum() / m
    u = gx - cx
    v = -(gy - cy)  # up
    cuu, cvv, cuv = (ink * u * u).sum(), (ink * v * v).sum(), (ink * u * v).sum()
    return cy, cx, np.degrees(0.5 * np.arctan2(2 * cuv, cuu - cvv))


@pytest.mark.parametrize("kind", A.DISTORTIONS)
def test_zero_ranges_leave_the_digits_unchanged(kind, rng):
    x = _digits(rng)
    np.testing.assert_allclose(A.distort(x, kind, ZERO, np.random.default_rng(0)), x, rtol=0, atol=1e-12)


def test_elastic_with_alpha_0_is_the_identity_at_any_sigma(rng):
    x = _digits(rng)
    for sigma in (0.0, 1.0, 3.0, 8.0):
        out = A.distort(x, "elastic", dict(DEFAULTS, alpha=0.0, sigma=sigma), np.random.default_rng(1))
        np.testing.assert_allclose(out, x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, 1), (-1, 0), (0, -1), (1, -1)])
def test_a_one_pixel_shift_is_a_roll_with_background_fill(dy, dx, rng):
    x = rng.uniform(-1, 1, (5, 1, 16, 16))  # ink up to the edges
    n = len(x)
    ys, xs = A.affine_coords(np.full(n, dy), np.full(n, dx), np.ones(n), np.zeros(n), np.zeros(n))
    out = A.bilinear(x, ys, xs)
    want = np.roll(x, (dy, dx), axis=(2, 3))
    interior = (slice(None), 0, slice(max(dy, 0), 16 + min(dy, 0)), slice(max(dx, 0), 16 + min(dx, 0)))
    np.testing.assert_allclose(out[interior], want[interior], rtol=0, atol=1e-12)
    filled = np.ones((16, 16), bool)
    filled[interior[2:]] = False
    assert np.all(out[:, 0][:, filled] == -1.0)  # the rows and columns shifted in are background


@pytest.mark.parametrize("angle", [-25.0, 10.0, 40.0])
def test_a_rotation_turns_the_ink_about_the_centre(angle):
    """A bar turned by the map lies at the angle it names (counter-clockwise as
    seen), its centre of mass left at the image centre."""
    x = _bar(0.0)
    ys, xs = A.affine_coords(np.zeros(1), np.zeros(1), np.ones(1), np.full(1, angle), np.zeros(1))
    cy, cx, orient = _moments(A.bilinear(x, ys, xs))
    assert abs(cy - 7.5) < 0.02 and abs(cx - 7.5) < 0.02
    assert abs(orient - angle) < 1.0
    assert abs(_moments(_bar(angle))[2] - angle) < 1.0  # the measure itself, on a bar drawn at the angle


def test_scale_and_shear_move_the_ink_as_named():
    x = _bar(90.0)  # upright
    one, zero = np.ones(1), np.zeros(1)
    big = A.bilinear(x, *A.affine_coords(zero, zero, np.full(1, 1.2), zero, zero))
    ink = lambda img: ((img + 1) / 2).sum()  # noqa: E731
    assert ink(big) > 1.3 * ink(x)  # 1.2 x 1.2 the area, less the edge
    slanted = A.bilinear(x, *A.affine_coords(zero, zero, one, zero, np.full(1, 0.3)))
    # x += shear y (rows down): the lower part moves right; the upright bar now runs along (0.3, -1) (x, up)
    assert abs(_moments(slanted)[2] - np.degrees(np.arctan2(-1.0, 0.3))) < 2.0
    lower = (slanted[0, 0, 12:] + 1).sum(0) @ np.arange(16) / (slanted[0, 0, 12:] + 1).sum()
    upper = (slanted[0, 0, :4] + 1).sum(0) @ np.arange(16) / (slanted[0, 0, :4] + 1).sum()
    assert lower > 7.5 > upper


@pytest.mark.parametrize("kind", A.DISTORTIONS)
def test_outputs_stay_in_range_and_the_background_where_nothing_maps_in(kind, rng):
    x = _digits(rng, 300)
    x[:5] = 1.0  # all ink, to the edges
    strong = {"shift": 3.0, "scale": 0.5, "rotate": 90.0, "shear": 1.0, "sigma": 2.0, "alpha": 40.0}
    for params in (DEFAULTS, strong):
        out = A.distort(x, kind, params, np.random.default_rng(2))
        assert out.shape == x.shape and out.min() >= -1.0 and out.max() <= 1.0
        assert not np.array_equal(out, x)
    blank = np.full((3, 1, 16, 16), -1.0)
    assert np.all(A.distort(blank, kind, strong, np.random.default_rng(3)) == -1.0)
    # shifted 3 pixels right and down: the first three rows and columns read from outside
    n = len(x)
    out = A.bilinear(x, *A.affine_coords(np.full(n, 3.0), np.full(n, 3.0), np.ones(n), np.zeros(n), np.zeros(n)))
    assert np.all(out[:, 0, :3] == -1.0) and np.all(out[:, 0, :, :3] == -1.0)


def test_the_elastic_smoothing_is_scipys_gaussian_filter(rng):
    from scipy.ndimage import gaussian_filter

    u = rng.uniform(-1, 1, (7, 2, 16, 16))
    d = A.elastic_field(u, {"sigma": 3.0, "alpha": 19.0})
    np.testing.assert_allclose(d, 19.0 * gaussian_filter(u, (0, 0, 3.0, 3.0)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", A.DISTORTIONS)
def test_the_draws_are_deterministic_and_depend_on_the_seed(kind, rng):
    x = _digits(rng, 600)  # more than one chunk
    a = A.distort(x, kind, DEFAULTS, np.random.default_rng(7))
    assert np.array_equal(a, A.distort(x, kind, DEFAULTS, np.random.default_rng(7)))
    assert not np.array_equal(a, A.distort(x, kind, DEFAULTS, np.random.default_rng(8)))
    # each digit's distortion is its own draw's: a digit distorted alone, with the same numbers, is the same
    g = np.random.default_rng(7)
    if kind == "affine":
        p = A.draw_affine(len(x), DEFAULTS, g)[300]
        ys, xs = A.affine_coords(*p[:, None])
    else:
        d = A.elastic_field(g.uniform(-1, 1, (len(x), 2, 16, 16))[300:301], DEFAULTS)
        gy, gx = np.mgrid[0:16, 0:16]
        ys, xs = gy + d[:, 0], gx + d[:, 1]
    np.testing.assert_array_equal(A.bilinear(x[300:301], ys, xs), a[300:301])


@pytest.mark.parametrize("kind", A.DISTORTIONS)
def test_the_pass_trains_on_the_first_draws_of_the_trainers_generator(kind, monkeypatch):
    """The documented draw order: the whole training set distorted first in
    the pass, from the trainer's generator, in data order."""
    from lecun89.train import Trainer, load_data

    cfg = load_config("quick", [f"train.augment={kind}", "train.engine=numpy", "train.order=shuffle"])
    data = load_data(cfg)
    data = dataclasses.replace(data, x_train=data.x_train[:100], y_train=data.y_train[:100])
    tr = Trainer(cfg, data)
    seen = []
    monkeypatch.setattr(tr.opt, "start_pass", lambda lr, x, labels, rng: seen.append(x))
    tr.run_pass()
    g = np.random.default_rng([cfg.seed, 1])
    np.testing.assert_array_equal(seen[0], A.distort(data.x_train, kind, A.params_of(cfg.train), g))
    g.permutation(100)  # then the shuffle
    assert tr.rng.bit_generator.state == g.bit_generator.state


@pytest.mark.parametrize("override, key", [
    ("train.augment=rotate", "train.augment"),
    ("train.affine_shift=-1", "train.affine_shift"),
    ("train.affine_scale=-0.1", "train.affine_scale"),
    ("train.affine_scale=1.0", "train.affine_scale"),
    ("train.affine_rotate=-5", "train.affine_rotate"),
    ("train.affine_shear=-0.2", "train.affine_shear"),
    ("train.elastic_sigma=-3", "train.elastic_sigma"),
    ("train.elastic_alpha=-1", "train.elastic_alpha"),
    ("train.elastic_alpha=big", "train.elastic_alpha"),
])
def test_config_refuses_unknown_augments_and_negative_ranges(override, key):
    with pytest.raises(UserError) as exc:
        load_config("quick", [override])
    msg = str(exc.value)
    assert msg.startswith(key) and "\n" not in msg and exc.value.status == 2


def test_the_ranges_join_a_runs_identity_only_when_set():
    base = load_config("quick")
    assert config_hash(load_config("quick", ["train.affine_rotate=10.0"])) == config_hash(base)
    assert config_hash(load_config("quick", ["train.affine_rotate=5"])) != config_hash(base)
    assert config_hash(load_config("quick", ["train.augment=affine"])) != config_hash(base)


@pytest.mark.parametrize("kind", A.DISTORTIONS)
def test_both_engines_run_the_distortions_and_agree_to_rounding(kind):
    pytest.importorskip("numba", reason="numba cannot be loaded here")
    from lecun89.data import load_dataset
    from lecun89.train import Trainer

    data = load_dataset("digits")
    data = dataclasses.replace(data, x_train=data.x_train[:300], y_train=data.y_train[:300])
    flats, states = {}, {}
    for engine in ("numpy", "numba"):
        cfg = load_config("modern-usps", [f"train.engine={engine}", "data.name=digits", "train.order=shuffle",
                                          f"train.augment={kind}"])
        tr = Trainer(cfg, data)
        w0 = tr.net.flat.copy()
        tr.run_pass()
        flats[engine], states[engine] = tr.net.flat.copy(), tr.state()
    assert np.abs(flats["numba"] - flats["numpy"]).max() <= 1e-10 * np.abs(flats["numpy"] - w0).max()
    assert str(states["numba"]["rng"]) == str(states["numpy"]["rng"])


def _run(run_dir):
    with np.load(run_dir / "model.npz") as z:
        weights = {k: z[k] for k in z.files}
    rows = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return weights, rows


def test_train_cli_runs_affine_bit_identically_and_the_seed_matters(tmp_path):
    from lecun89.train import run_training

    args = ["train", "quick", "--set", "train.augment=affine", "--set", "train.passes=2"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "results.json").exists()
    assert 'augment = "affine"' in (tmp_path / "a" / "config.toml").read_text()
    run_training(load_config("quick", ["train.augment=affine", "train.passes=2"]), tmp_path / "b", quiet=True)
    (wa, ra), (wb, rb) = _run(tmp_path / "a"), _run(tmp_path / "b")
    assert ra == rb and wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    run_training(load_config("quick", ["train.augment=affine", "train.passes=2"], seed=1), tmp_path / "c", quiet=True)
    assert _run(tmp_path / "c")[1] != ra
