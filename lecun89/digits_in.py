"""A person's digit, as the network sees it: any image in, a 16x16 array in [-1, 1] out.

The paper (section 2): the digits were "normalized in size by a linear
transformation so that they fit in a 16 by 16 pixel image", keeping their aspect
ratio, and the gray levels that appear come from that transformation; values
are scaled to [-1, 1]. Here, for a photo, a scan or a drawing:

1. gray levels, with alpha composited away (:func:`gray_levels`);
2. the background is the gray level around the digit (the innermost uniform
   margin, or the most common level along the picture's edge); the ink is what
   differs from it on one side (dark on light paper or light on dark), scaled to
   [0, 1]; a uniform frame of another level is not ink (:func:`ink_map`);
3. the digit is the connected ink; specks (pieces under a tenth of the largest
   piece) are dropped, and its bounding box is cut out (:func:`fit_16`);
4. one linear map scales the box so its longer side is 16 pixels (area
   averaging when shrinking, bilinear when enlarging) and centres it;
5. the strongest ink becomes +1 and the background -1, as in the USPS files.

Nothing here is learned or tuned on test digits: each step is the paper's
description or the USPS files' own convention (background exactly -1, the
darkest ink +1, the longer side 16 pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lecun89.errors import UserError

SIZE = 16
# Refused before decoding: bigger than any photo a phone takes (~50 MP).
MAX_PIXELS = 64_000_000
MAX_NPY_BYTES = 1_000_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Ink is what differs from the background by more than this share of the
# strongest ink; pieces smaller than SPECK x the largest piece are specks.
INK_THRESHOLD = 0.1
SPECK = 0.1
# The noise floor is this quantile of the ink far from the digit.
NOISE_QUANTILE = 0.999
# Gray levels closer than this are one level (uniform edges, ink vs background).
UNIFORM_SPAN = 0.1


def gray_levels(img) -> np.ndarray:
    """A PIL image -> gray levels (H, W) float64 in [0, 1] (0 black, 1 white).

    With transparency, the strokes are what is opaque: the image is laid on a
    white sheet when its opaque part is dark, on a black one when it is light.
    """
    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img.convert("F"), dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
    lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's "L"
    alpha = rgba[..., 3]
    if alpha.min() >= 1.0:
        return lum
    w = alpha.sum()
    sheet = 1.0 if w == 0 or (alpha * lum).sum() / w < 0.5 else 0.0
    return alpha * lum + (1.0 - alpha) * sheet


def _background(gray: np.ndarray) -> tuple[float, np.ndarray]:
    """(background gray level, mask of where ink may be).

    Uniform rings are peeled off the picture from the outside in (margins,
    frames) until a ring holds ink. The background is the innermost peeled
    ring's level, or where the digit touches the edges (nothing peeled), the most
    common level of the outermost ring (64 bins): a digit crosses its picture's
    edge in a few places only, whatever its stroke width. Peeled rings of
    another level (a frame) are never ink."""
    h, w = gray.shape
    levels = []
    while 2 * len(levels) < min(h, w):
        k = len(levels)
        ring = np.concatenate([gray[k, k:w - k], gray[h - 1 - k, k:w - k],
                               gray[k:h - k, k], gray[k:h - k, w - 1 - k]])
        if float(ring.max() - ring.min()) >= UNIFORM_SPAN:
            break
        levels.append(float(np.median(ring)))
    if levels:
        bg = levels[-1]
    else:
        ring = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        hist, edges = np.histogram(ring, bins=64, range=(0.0, 1.0))
        peak = int(np.argmax(hist))
        bg = float(np.median(ring[(ring >= edges[peak]) & (ring <= edges[peak + 1])]))
    frame = max((i + 1 for i, v in enumerate(levels) if abs(v - bg) >= UNIFORM_SPAN), default=0)
    inside = np.zeros(gray.shape, dtype=bool)
    inside[frame:h - frame, frame:w - frame] = True
    return bg, inside


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Gray levels in [0, 1] -> ink (H, W) in [0, 1]: 0 background, 1 the strongest ink.

    The ink is on the side of the background where most of what differs from it
    lies. Raises ValueError when nothing differs from the background."""
    gray = np.asarray(gray, dtype=np.float64)
    bg, inside = _background(gray)
    diff = np.where(inside, gray - bg, 0.0)
    strong = np.abs(diff) > UNIFORM_SPAN
    if not strong.any():
        raise ValueError("blank image (no ink differs from the background)")
    sign = 1.0 if diff[strong].sum() > 0 else -1.0  # light ink on dark, or dark on light
    ink = np.clip(sign * diff, 0.0, None)
    return ink / ink.max()


def fit_16(ink: np.ndarray) -> np.ndarray:
    """Ink (H, W) in [0, 1] -> the network's input (16, 16) in [-1, 1]."""
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
    rows, cols = np.flatnonzero(box.any(axis=1)), np.flatnonzero(box.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
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


def _resize(a: np.ndarray, nh: int, nw: int) -> np.ndarray:
    """One linear map of the box onto (nh, nw): each output pixel the mean of the
    input area it covers (shrinking), or bilinear (enlarging)."""
    from lecun89.data import bilinear_matrix

    h, w = a.shape
    rm = _area_matrix(h, nh) if nh <= h else bilinear_matrix(h, nh)
    cm = _area_matrix(w, nw) if nw <= w else bilinear_matrix(w, nw)
    return rm @ a @ cm.T


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): output pixel i averages input [i*n_in/n_out, (i+1)*n_in/n_out),
    partial pixels weighted by their covered share."""
    m = np.zeros((n_out, n_in))
    step = n_in / n_out
    for i in range(n_out):
        lo, hi = i * step, (i + 1) * step
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / step


class TooLarge(ValueError):
    """An image with more pixels than the reader takes (found before decoding)."""


def image_gray(img, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An opened PIL image -> its gray levels (:func:`gray_levels`): the first frame,
    turned as its EXIF note says (a phone's photo may be stored sideways).
    TooLarge when it has more than ``max_pixels``, checked before decoding."""
    from PIL import ImageOps

    w, h = img.size
    if w * h > max_pixels:
        raise TooLarge(f"image too large ({w}x{h} pixels; at most {max_pixels:,})")
    img.seek(0)
    img.load()
    return gray_levels(ImageOps.exif_transpose(img))


def read_digit(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """A file -> (the network's 16x16 input, the gray levels it was read from).

    Images (PNG, JPEG, BMP, GIF: first frame) go through the steps above; a
    ``.npy`` must already be 16x16 (or 1x16x16) in [-1, 1] and is used as is
    (gray levels: None). Any problem is a UserError naming the file."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{p}: is a directory, not an image")
    if not p.exists():
        raise UserError(f"{p}: no such file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise UserError(f"{p}: cannot read: {exc.strerror}") from None
    if size == 0:
        raise UserError(f"{p}: empty file (0 bytes)")
    if p.suffix.lower() == ".npy":
        return _read_npy(p, size), None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as img:
            gray = image_gray(img)
    except TooLarge as exc:
        raise UserError(f"{p}: {exc}") from None
    except UnidentifiedImageError:
        raise UserError(f"{p}: not an image (PNG, JPEG, BMP, GIF or a 16x16 .npy expected)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{p}: cannot decode the image: {exc}") from None
    try:
        return fit_16(ink_map(gray)), gray
    except ValueError as exc:
        raise UserError(f"{p}: {exc}") from None


def _read_npy(p: Path, size: int) -> np.ndarray:
    if size > MAX_NPY_BYTES:
        raise UserError(f"{p}: .npy too large ({size:,} bytes) for a 16x16 digit")
    try:
        a = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{p}: not a numpy .npy array: {exc}") from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iuf":
        raise UserError(f"{p}: expected a numeric array, got {getattr(a, 'dtype', type(a))}")
    if a.shape not in ((SIZE, SIZE), (1, SIZE, SIZE), (1, 1, SIZE, SIZE)):
        raise UserError(f"{p}: expected a 16x16 array in [-1, 1], got shape {a.shape}")
    a = a.astype(np.float64).reshape(SIZE, SIZE)
    if not np.all(np.isfinite(a)) or a.min() < -1.0 or a.max() > 1.0:
        raise UserError(f"{p}: values must be finite and in [-1, 1] (background -1), "
                        f"got [{np.nanmin(a):.3g}, {np.nanmax(a):.3g}]")
    return a


def digit_from_ink(pixels) -> np.ndarray:
    """An ink array from a drawing (H, W) in [0, 1], 0 background -> 16x16 in [-1, 1]."""
    a = np.asarray(pixels, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"pixels must be a 2-D array, got shape {a.shape}")
    if a.size > MAX_PIXELS:
        raise ValueError(f"pixels: too many ({a.size:,}; at most {MAX_PIXELS:,})")
    if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
        raise ValueError("pixels must be finite numbers in [0, 1] (0 background, 1 ink)")
    return fit_16(a)
