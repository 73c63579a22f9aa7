"""Distortions of the training digits that a person's handwriting varies by
(``train.augment = "affine"`` or ``"elastic"``), drawn afresh for every digit
at every pass.

- ``affine``: a small random affine map about the image centre (7.5, 7.5): a
  shift, a scaling, a rotation and a shear, each drawn uniformly within its
  range (``train.affine_shift`` pixels, ``affine_scale`` relative,
  ``affine_rotate`` degrees, ``affine_shear``).
- ``elastic``: Simard, Steinkraus & Platt (2003)'s elastic distortion: a
  displacement field of independent U(-1, 1) numbers per pixel and direction,
  smoothed by a Gaussian of std ``train.elastic_sigma`` pixels and scaled by
  ``train.elastic_alpha`` (elastic alone, without their affine part).

Both resample the digit bilinearly as if it lay on an endless background of
-1 (the inputs' background): what maps in from outside is -1, and a pixel half
outside is half background. Every output is a convex mix of inputs and -1, so
digits in [-1, 1] stay in [-1, 1].

The draw order (all from the generator given, the trainer's own): ``affine``
draws one ``rng.uniform(-1, 1, (N, 5))`` for the N digits, a row per digit in
the order given (columns: shift down, shift right, scale, rotation, shear),
times the ranges; ``elastic`` draws one ``rng.uniform(-1, 1, (N, 2, 16, 16))``
(per digit: the row displacements, then the column displacements). The draws
do not depend on the ranges (a range of 0 still draws), so changing one range
changes no other number.

The ``shift`` augmentation (+-1 whole pixels, drawn per batch) is
``train.shift_batch``'s, kept where it was so that its runs keep their bits.
"""

from __future__ import annotations

import numpy as np

# The distortions this module implements, and every train.augment value
# (none: the digits as they are; shift: train.shift_batch).
DISTORTIONS = ("affine", "elastic")
AUGMENTS = ("none", "shift", *DISTORTIONS)

BACKGROUND = -1.0


def params_of(train_cfg) -> dict:
    """The distortions' ranges, read off a train config (``config.TrainConfig``)."""
    t = train_cfg
    return {"shift": t.affine_shift, "scale": t.affine_scale, "rotate": t.affine_rotate, "shear": t.affine_shear,
            "sigma": t.elastic_sigma, "alpha": t.elastic_alpha}


def bilinear(x: np.ndarray, ys: np.ndarray, xs: np.ndarray, fill: float = BACKGROUND) -> np.ndarray:
    """x (N, 1, H, W) sampled at rows ys and columns xs (each (N, H, W), pixel
    units, 0 the first pixel's centre) by bilinear interpolation, ``fill``
    all around outside the image (within a pixel of the edge, a mix of the
    edge pixel and ``fill``). Returns (N, 1, H, W)."""
    n, _, h, w = x.shape
    row = w + 3  # the padded images: a border of fill, two wide at the bottom and right
    pad = np.full((n, h + 3, row), fill, dtype=np.float64)
    pad[:, 1:h + 1, 1:w + 1] = x[:, 0]
    f = pad.ravel()
    # In the padded images' pixels, clipped to their border (outside it, all fill).
    py = ys + 1.0
    np.clip(py, 0.0, h + 1.0, out=py)
    px = xs + 1.0
    np.clip(px, 0.0, w + 1.0, out=px)
    y0, x0 = py.astype(np.intp), px.astype(np.intp)  # floor: py, px >= 0
    fy, fx = py - y0, px - x0
    i = y0 * row + x0 + (np.arange(n) * ((h + 3) * row))[:, None, None]  # flat indices into every image at once
    top = f.take(i)
    right = f.take(i + 1)
    right -= top
    right *= fx
    top += right  # the upper row, interpolated along x
    i += row
    bottom = f.take(i)
    i += 1
    right = f.take(i)
    right -= bottom
    right *= fx
    bottom += right  # the lower row
    bottom -= top
    bottom *= fy
    top += bottom
    return top[:, None]


def affine_coords(shift_y, shift_x, scale, rotate, shear, shape=(16, 16)) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel reads its input (rows, columns; each (N, H, W))
    for the affine maps, one per digit (each argument (N,)): the ink at p moves
    to c + t + R S H (p - c), c the image centre, in (column, row) coordinates
    with rows down: H = [[1, shear], [0, 1]] (x += shear y: positive shear
    slants the lower part right), S = scale (1 = unchanged), R a rotation by
    ``rotate`` degrees counter-clockwise as seen, t = (shift_x, shift_y)
    (positive: right, down)."""
    h, w = shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    th = np.deg2rad(np.asarray(rotate, dtype=np.float64))
    c, s = np.cos(th), np.sin(th)
    k, sh = np.asarray(scale, dtype=np.float64), np.asarray(shear, dtype=np.float64)
    # M = R S H, R = [[c, s], [-s, c]] on (x, y-down): counter-clockwise on screen.
    m00, m01 = c * k, (c * sh + s) * k
    m10, m11 = -s * k, (-s * sh + c) * k
    det = m00 * m11 - m01 * m10
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    # p = c + M^-1 (p' - c - t)
    dx = gx[None] - cx - np.asarray(shift_x, dtype=np.float64)[:, None, None]
    dy = gy[None] - cy - np.asarray(shift_y, dtype=np.float64)[:, None, None]
    e = lambda a: a[:, None, None]  # noqa: E731
    xs = cx + e(i00) * dx + e(i01) * dy
    ys = cy + e(i10) * dx + e(i11) * dy
    return ys, xs


def draw_affine(n: int, params: dict, rng: np.random.Generator) -> np.ndarray:
    """(N, 5) affine parameters (shift down, shift right, scale, rotation in
    degrees, shear), uniform within the ranges: one draw of (N, 5) U(-1, 1)."""
    u = rng.uniform(-1.0, 1.0, size=(n, 5))
    r = np.array([params["shift"], params["shift"], params["scale"], params["rotate"], params["shear"]])
    p = u * r
    p[:, 2] += 1.0
    return p


def _smoothing_matrix(size: int, sigma: float) -> np.ndarray:
    """The Gaussian smoothing of a line of ``size`` numbers (reflected at the
    ends, scipy.ndimage's default) as a matrix: K @ v = gaussian_filter1d(v)."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.eye(size), sigma, axis=0, mode="reflect")


def elastic_field(u: np.ndarray, params: dict) -> np.ndarray:
    """Displacements (N, 2, H, W) (rows, columns; pixels) from u (N, 2, H, W)
    of U(-1, 1) numbers: smoothed by a Gaussian of std ``sigma`` (a matrix on
    each side: the separable filter, scipy's gaussian_filter to rounding) and
    times ``alpha`` (Simard et al. 2003)."""
    h, w = u.shape[-2:]
    if params["sigma"] > 0:
        u = _smoothing_matrix(h, params["sigma"]) @ u @ _smoothing_matrix(w, params["sigma"]).T
    return u * params["alpha"]


# Digits resampled at a time: the arrays stay in the cache (3x faster than all
# 7,291 at once). Fixed, so that the bits never depend on it.
CHUNK = 256


def distort(x: np.ndarray, kind: str, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Digits x (N, 1, H, W), each distorted by ``kind`` ("affine" or
    "elastic") within ``params``'s ranges (:func:`params_of`), drawn from
    ``rng`` in the module's draw order (every digit's numbers in one draw,
    before any resampling). A new (N, 1, H, W) array."""
    x = np.asarray(x, dtype=np.float64)
    n, _, h, w = x.shape
    if kind == "affine":
        p = draw_affine(n, params, rng)
    elif kind == "elastic":
        u = rng.uniform(-1.0, 1.0, size=(n, 2, h, w))
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    else:
        raise ValueError(f"unknown distortion {kind!r} (one of {', '.join(DISTORTIONS)})")
    out = np.empty((n, 1, h, w))
    for s in range(0, n, CHUNK):
        part = slice(s, s + CHUNK)
        if kind == "affine":
            ys, xs = affine_coords(*p[part].T, shape=(h, w))
        else:
            d = elastic_field(u[part], params)
            ys, xs = gy + d[:, 0], gx + d[:, 1]
        out[part] = bilinear(x[part], ys, xs)
    return out
