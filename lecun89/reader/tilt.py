"""The page's tilt, for the furniture stage (:mod:`lecun89.reader.furniture`).

The shear, up to :data:`MAX_TILT` degrees either way, under which the page's
lines lie along the rows (:func:`page_tilt`): the projection profile's method
(the rows' sums of darkness are the most uneven when the lines are level), on
the picture shrunk to about 256 pixels, and, where a row of digits leaning
across its ruling pulls the darkness as a whole to its own slant, the tilt of
what is long and straight in it. With the shear (:func:`shifts`, :func:`shear`)
and the response of what runs straight along the rows (:func:`line_response`),
which the furniture stage's candidates are found with.
"""

from __future__ import annotations

import numpy as np

# The largest tilt of the page's lines looked for, in degrees, and the step.
MAX_TILT = 4.0
TILT_STEP = 0.25
# The tilt of what is long and straight is found to the degree, then to TILT_STEP
# within this many steps of that; it is the page's tilt where it differs from the
# darkness's tilt (sharper where the lines are most of the darkness) by more than AGREE degrees.
TILT_REACH = 5
AGREE = 1.0
# The page's lines are straight over this share of the picture's shorter side.
LINE_ELEMENT = 1 / 3


def page_tilt(d: np.ndarray, thr: float) -> float | None:
    """The tilt (degrees) of the page's lines along the rows of the darkness ``d``
    (H, W) (what is darker than ``thr`` counts): the darkness's own tilt
    (:func:`_darkness_tilt`), or, where it leans otherwise than what is long and
    straight in it (a row of digits slanted across its ruling) by more than
    :data:`AGREE` degrees, the lines' own (:func:`_line_tilt`); None when nothing
    runs straight along the rows."""
    tilt = _darkness_tilt(d, thr)
    straight = _line_tilt(d, thr)
    if straight is not None and (tilt is None or abs(straight - tilt) > AGREE):
        tilt = straight
    return tilt


def shifts(width: int, tilt: float) -> np.ndarray:
    """The row shift of each column (width,) under a tilt in degrees: a line
    tilted so is row y + shift[x] at column x (integers, 0 at the centre)."""
    return np.round((np.arange(width) - (width - 1) / 2) * np.tan(np.radians(tilt))).astype(np.int64)


def shear(a: np.ndarray, s: np.ndarray, pad: int = 0) -> np.ndarray:
    """a (H, W, ...) -> the sheared frame: out[y, x] = a[y - pad + s[x], x] (0 outside),
    of H + 2 ``pad`` rows."""
    h = a.shape[0]
    rows = np.arange(-pad, h + pad)[:, None] + s[None, :]
    ok = (rows >= 0) & (rows < h)
    out = a[np.clip(rows, 0, h - 1), np.arange(a.shape[1])[None, :]]
    out[~ok] = 0.0
    return out


def line_response(d: np.ndarray, length: int) -> np.ndarray:
    """The darkness that runs straight along the rows for ``length`` pixels: the
    rows smoothed over 5 columns, a pixel's darkness the most of its own row and
    the two beside it (a tilted line's steps), then a grey opening along the rows."""
    from scipy import ndimage

    sm = ndimage.uniform_filter1d(d, 5, axis=1, mode="nearest")
    sm = ndimage.maximum_filter1d(sm, 3, axis=0, mode="nearest")
    return ndimage.grey_opening(sm, size=(1, length), mode="constant", cval=0.0)


def _most_uneven(tilts, sheared) -> tuple[float, float]:
    """The tilt whose sheared picture's row sums are the most uneven (the
    projection profile's sum of squares; ties to the least tilt) -> (tilt, score)."""
    best, best_score = 0.0, 0.0
    for tilt in sorted(tilts, key=lambda t: (abs(t), t)):
        profile = sheared(tilt).sum(axis=1)
        score = float(np.dot(profile, profile))
        if score > best_score * (1.0 + 1e-9):
            best, best_score = float(tilt), score
    return best, best_score


def _shrunk(d: np.ndarray, thr: float) -> tuple[np.ndarray, int]:
    """The darkness shrunk to about 256 pixels (the darkest of each block kept),
    what is under ``thr`` zeroed -> (it, the line element's length in it)."""
    h, w = d.shape
    f = max(1, min(h, w) // 256)
    hh, ww = h // f, w // f
    small = d[:hh * f, :ww * f].reshape(hh, f, ww, f).max(axis=(1, 3))
    return np.where(small > thr, small, 0.0), max(8, int(min(hh, ww) * LINE_ELEMENT))


def _darkness_tilt(d: np.ndarray, thr: float) -> float | None:
    """The tilt (degrees) of the page's lines along the rows: the shear under
    which the rows' sums of darkness are the most uneven (the projection
    profile's sum of squares), on the picture shrunk (darkest of each block
    kept) to about 256 pixels; None when nothing runs straight along the rows
    for a third of the picture at that tilt."""
    small, length = _shrunk(d, thr)
    if not small.any():
        return None
    ww = small.shape[1]
    best, _ = _most_uneven(np.arange(-MAX_TILT, MAX_TILT + TILT_STEP / 2, TILT_STEP),
                           lambda t: shear(small, shifts(ww, t)))
    r = line_response(shear(small, shifts(ww, best)), length)
    return best if (r > thr).any() else None


def _line_tilt(d: np.ndarray, thr: float) -> float | None:
    """The tilt of what is long and straight, for a picture whose darkness as a
    whole leans otherwise (a row of digits climbing across the ruling it is
    written on pulls :func:`_darkness_tilt` to its own slant), in two steps: to the
    degree by the most uneven row sums of where the line response is on (what
    runs straight for a third of the picture, weighed by its length, not its
    darkness: a light ruling outweighs a dark 7's bar), then to
    :data:`TILT_STEP`, within :data:`TILT_REACH` steps of that, by the
    darkness itself (sharper) near what was found long and straight (its rows,
    widened by the most a line moves across the picture over that reach).
    None as for :func:`_darkness_tilt`."""
    from scipy import ndimage

    small, length = _shrunk(d, thr)
    if not small.any():
        return None
    hh, ww = small.shape
    coarse, found = _most_uneven(np.arange(-MAX_TILT, MAX_TILT + 0.5, 1.0),
                                 lambda t: line_response(shear(small, shifts(ww, t)), length) > thr)
    if found <= 0.0:
        return None
    s = shifts(ww, coarse)
    on = line_response(shear(small, s), length) > thr
    rows = np.arange(hh)[:, None] + s[None, :]  # the sheared frame's (y, x) is the picture's (y + s[x], x)
    ok = (rows >= 0) & (rows < hh)
    near = np.zeros((hh, ww), dtype=bool)
    near[rows[ok], np.broadcast_to(np.arange(ww), rows.shape)[ok]] = on[ok]
    move = int(np.ceil(ww * np.tan(np.radians(TILT_REACH * TILT_STEP)) / 2)) + 2
    near = ndimage.binary_dilation(near, structure=np.ones((2 * move + 1, 1), dtype=bool))
    near_dark = small * near
    fine = [coarse + k * TILT_STEP for k in range(-TILT_REACH, TILT_REACH + 1)
            if abs(coarse + k * TILT_STEP) <= MAX_TILT + 1e-9]
    best, _ = _most_uneven(fine, lambda t: shear(near_dark, shifts(ww, t)))
    r = line_response(shear(small, shifts(ww, best)), length)
    return best if (r > thr).any() else None
