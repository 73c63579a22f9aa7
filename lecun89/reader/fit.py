"""Stage 5 of the reader: one digit's ink deslanted and fitted to the network's 16x16.

The paper (section 2): the digits were "normalized in size by a linear
transformation so that they fit in a 16 by 16 pixel image", keeping their aspect
ratio, and the gray levels that appear come from that transformation; values
are scaled to [-1, 1]. Here (:func:`fit_16`):

1. the digit is the connected ink; specks (pieces under a tenth of the largest
   piece) are dropped, and its bounding box is cut out;
2. the digit is deslanted (:func:`upright`): sheared along its rows so that
   its second-moment slant is zero, as the public USPS digits were prepared;
3. one linear map scales the box so its longer side is 16 pixels (area
   averaging when shrinking, bilinear when enlarging) and centres it;
4. the strongest ink becomes +1 and the background -1, as in the USPS files.

Nothing here is tuned on test digits: each step is the paper's description
or the USPS files' own convention (background exactly -1, the darkest ink +1,
upright, the longer side 16 pixels); deslanting at all was chosen on the
held-out-writers benchmark's tuning writers (docs/strangers.md).
"""

from __future__ import annotations

import numpy as np

from lecun89.reader.ink import INK_THRESHOLD
from lecun89.resample import area_matrix, bilinear_matrix

SIZE = 16
# Pieces smaller than SPECK x the largest piece are specks.
SPECK = 0.1
# The noise floor is this quantile of the ink far from the digit.
NOISE_QUANTILE = 0.999

# The largest shear upright() applies: one column per row (45 degrees).
MAX_SLANT = 1.0


def fit_16(ink: np.ndarray, deslant: bool = True) -> np.ndarray:
    """Ink (H, W) in [0, 1] -> the network's input (16, 16) in [-1, 1].

    ``deslant``: shear the digit upright (:func:`upright`) before its box is
    fitted, as the USPS digits were prepared."""
    from scipy import ndimage

    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2 or not np.all(np.isfinite(ink)):
        raise ValueError(f"ink map must be a finite 2-D array, got shape {ink.shape}")
    peak = float(ink.max()) if ink.size else 0.0
    if peak <= 0.0:
        raise ValueError("blank image (no ink)")
    mask = ink > INK_THRESHOLD * peak
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    kept = np.flatnonzero(sizes >= SPECK * sizes.max()) + 1
    digit = np.isin(labels, kept)
    # Faint ink (the edges of the strokes) within one output pixel of the kept
    # pieces is part of the digit; farther away it is noise, and specks go.
    reach = max(1, round(max(ink.shape) / SIZE))
    near = ndimage.binary_dilation(digit, structure=np.ones((3, 3)), iterations=reach)
    # The noise floor: what the background far from the digit reaches (0 for a
    # clean picture) is taken off everywhere.
    far = ink[~near]
    floor = min(float(np.quantile(far, NOISE_QUANTILE)), INK_THRESHOLD * peak) if far.size >= 1000 else 0.0
    ink = np.where(near, np.clip(ink - floor, 0.0, None), 0.0)
    # The box holds the ink connected to the kept pieces, faint edges included.
    support, _ = ndimage.label(ink > 0.0, structure=np.ones((3, 3)))
    pieces = np.unique(support[digit])
    box = np.isin(support, pieces[pieces > 0])
    crop = _crop(np.where(box, ink, 0.0))
    if deslant:
        crop = _crop(upright(crop))
    h, w = crop.shape
    scale = SIZE / max(h, w)
    nh, nw = max(1, min(SIZE, round(h * scale))), max(1, min(SIZE, round(w * scale)))
    small = _resize(crop, nh, nw)
    out = np.zeros((SIZE, SIZE))
    top, left = (SIZE - nh) // 2, (SIZE - nw) // 2
    out[top:top + nh, left:left + nw] = small
    m = out.max()
    if m <= 0.0:
        raise ValueError("blank image (no ink left after resizing)")
    return np.clip(2.0 * out / m - 1.0, -1.0, 1.0)

def _crop(ink: np.ndarray) -> np.ndarray:
    """The smallest box holding all the ink (> 0)."""
    rows, cols = np.flatnonzero((ink > 0.0).any(axis=1)), np.flatnonzero((ink > 0.0).any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]

def slant(ink: np.ndarray) -> float:
    """The ink's second-moment slant: how far (in columns) the ink moves right
    per row upward, mu11 / mu02 with rows counted upward (0 for an upright digit,
    positive for one leaning right)."""
    ink = np.asarray(ink, dtype=np.float64)
    m = ink.sum()
    ys = np.arange(ink.shape[0], dtype=np.float64)[:, None]
    xs = np.arange(ink.shape[1], dtype=np.float64)[None, :]
    dy = ys - (ink * ys).sum() / m
    dx = xs - (ink * xs).sum() / m
    mu02 = float((ink * dy * dy).sum())
    return 0.0 if mu02 <= 0.0 else -float((ink * dx * dy).sum()) / mu02

def upright(ink: np.ndarray) -> np.ndarray:
    """Ink (H, W) -> the same ink sheared along its rows so that its slant
    (:func:`slant`) is zero: each row moves sideways in proportion to its height
    above the ink's centre of mass (linear interpolation), the rows themselves
    unchanged. The shear is at most one column per row (45 degrees); one that
    would move no row by half a pixel is not applied (an upright digit, such as
    a USPS digit written out, stays as it is). The result is wider by what the
    shear needs and holds all of the ink."""
    from scipy import ndimage

    ink = np.asarray(ink, dtype=np.float64)
    s = max(-MAX_SLANT, min(MAX_SLANT, slant(ink)))
    h, w = ink.shape
    ys = np.arange(h, dtype=np.float64)[:, None]
    ybar = float((ink * ys).sum() / ink.sum())
    reach = abs(s) * max(ybar, h - 1 - ybar)  # the farthest any row would move, in pixels
    if reach < 0.5:  # the picture cannot show a shear under half a pixel: nothing to undo
        return ink.copy()
    pad = int(np.ceil(reach)) + 1
    # output (r, c) reads input (r, c - pad - s * (r - ybar)): rows above the
    # centre (r < ybar) of a right-leaning digit (s > 0) move left.
    out = ndimage.affine_transform(ink, np.array([[1.0, 0.0], [-s, 1.0]]), offset=(0.0, s * ybar - pad),
                                   output_shape=(h, w + 2 * pad), order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, None)

def _resize(a: np.ndarray, nh: int, nw: int) -> np.ndarray:
    """One linear map of the box onto (nh, nw): each output pixel the mean of the
    input area it covers (shrinking), or bilinear (enlarging)."""
    h, w = a.shape
    rm = area_matrix(h, nh) if nh <= h else bilinear_matrix(h, nh)
    cm = area_matrix(w, nw) if nw <= w else bilinear_matrix(w, nw)
    return rm @ a @ cm.T
