"""A person's digit, as the network sees it: any image in, a 16x16 array in [-1, 1] out.

The paper (section 2): the digits were "normalized in size by a linear
transformation so that they fit in a 16 by 16 pixel image", keeping their aspect
ratio, and the gray levels that appear come from that transformation; values
are scaled to [-1, 1]. Here, for a photo, a scan or a drawing:

1. gray levels, with alpha composited away (:func:`gray_levels`);
2. the background is the gray level around the digit (the innermost uniform
   margin, or the most common level along the picture's edge; for paper lit
   unevenly, a smooth surface fitted to the edge); the ink is what differs
   from it on one side (dark on light paper or light on dark), scaled to
   [0, 1]; a uniform frame of another level is not ink (:func:`ink_map`);
3. the digit is the connected ink; specks (pieces under a tenth of the largest
   piece) are dropped, and its bounding box is cut out (:func:`fit_16`);
4. the digit is deslanted (:func:`upright`): sheared along its rows so that
   its second-moment slant is zero, as the public USPS digits were prepared;
5. one linear map scales the box so its longer side is 16 pixels (area
   averaging when shrinking, bilinear when enlarging) and centres it;
6. the strongest ink becomes +1 and the background -1, as in the USPS files.

Nothing here is tuned on test digits: each step is the paper's description
or the USPS files' own convention (background exactly -1, the darkest ink +1,
upright, the longer side 16 pixels); where a step has a choice (deslanting at
all, the background surface's degree), it was made on the held-out-writers
benchmark's tuning writers (MNIST training digits; docs/strangers.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lecun89.errors import UserError
from lecun89.resample import area_matrix, bilinear_matrix

SIZE = 16
# Bump when a digit is read differently: part of the cache key of the data set
# made with this reader (usps-mnist).
READER_VERSION = "reader-2"
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
# The largest shear upright() applies: one column per row (45 degrees).
MAX_SLANT = 1.0
# A picture with no uniform margin (a photo) has its paper's light fitted by a
# polynomial of this degree (0: one gray level, the most common along the edge).
BACKGROUND_DEGREE = 2
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


def _background(gray: np.ndarray) -> tuple[float | np.ndarray, np.ndarray]:
    """(background gray level, mask of where ink may be).

    Uniform rings are peeled off the picture from the outside in (margins,
    frames) until a ring holds ink. The background is the innermost peeled
    ring's level, or where the digit touches the edges (nothing peeled), the most
    common level of the outermost ring (64 bins): a digit crosses its picture's
    edge in a few places only, whatever its stroke width. Where a smooth surface
    (:func:`_lighting`) lies near more of that ring than one level does (by a
    tenth of it), the paper is lit unevenly (a photo) and the background is that
    surface, returned as an (H, W) array. Peeled rings of another level (a frame) are never ink."""
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
        # Paper lit unevenly (a photo): a smooth surface explains more of the
        # edge than one level does.
        if BACKGROUND_DEGREE > 0:
            light = _lighting(gray)
            edge = np.concatenate([light[0], light[-1], light[:, 0], light[:, -1]])
            if (np.mean(np.abs(ring - edge) < UNIFORM_SPAN / 2)
                    > np.mean(np.abs(ring - bg) < UNIFORM_SPAN / 2) + 0.1):
                return light, np.ones(gray.shape, dtype=bool)
    frame = max((i + 1 for i, v in enumerate(levels) if abs(v - bg) >= UNIFORM_SPAN), default=0)
    inside = np.zeros(gray.shape, dtype=bool)
    inside[frame:h - frame, frame:w - frame] = True
    return bg, inside


def _lighting(gray: np.ndarray) -> np.ndarray:
    """The paper's gray level at every pixel (H, W), for a picture with no uniform
    margin (a photo: paper lit unevenly): a smooth surface (a polynomial of
    degree BACKGROUND_DEGREE in x and y) fitted to the picture's outer band,
    where the paper shows, with the pixels that stand out from it (strokes that
    cross the edge) left out, round after round."""
    h, w = gray.shape
    band = max(1, min(h, w) // 32)
    edge = np.zeros((h, w), dtype=bool)
    edge[:band], edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True, True
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
    terms = [xx ** i * yy ** (d - i) for d in range(BACKGROUND_DEGREE + 1) for i in range(d + 1)]
    a = np.stack([t[edge] for t in terms], axis=1)
    g = gray[edge]
    keep = np.ones(g.shape, dtype=bool)
    for _ in range(6):
        coef = np.linalg.lstsq(a[keep], g[keep], rcond=None)[0]
        r = g - a @ coef
        sigma = 1.4826 * float(np.median(np.abs(r[keep] - np.median(r[keep])))) + 1e-3
        new = np.abs(r) <= 3.0 * sigma
        if np.array_equal(new, keep) or new.sum() < len(terms):
            break
        keep = new
    return sum(c * t for c, t in zip(coef, terms))


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Gray levels in [0, 1] -> ink (H, W) in [0, 1]: 0 background, 1 the strongest ink.

    The ink is on the side of the background where most of what differs from it
    lies. Raises ValueError when nothing differs from the background."""
    gray = np.asarray(gray, dtype=np.float64)
    bg, inside = _background(gray)
    if np.ndim(bg):  # uneven light: the ink's contrast scales with the light too
        diff = (gray - bg) / np.clip(bg, 0.05, None)
    else:
        diff = np.where(inside, gray - bg, 0.0)
    strong = np.abs(diff) > UNIFORM_SPAN
    if not strong.any():
        raise ValueError("blank image (no ink differs from the background)")
    sign = 1.0 if diff[strong].sum() > 0 else -1.0  # light ink on dark, or dark on light
    ink = np.clip(sign * diff, 0.0, None)
    return ink / ink.max()


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


def digit_from_gray(gray: np.ndarray, deslant: bool = True) -> np.ndarray:
    """Gray levels (H, W) in [0, 1] -> the network's 16x16 input (steps 2-5).
    ValueError for a blank picture."""
    return fit_16(ink_map(gray), deslant=deslant)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """An image file (PNG, JPEG, BMP, GIF: first frame) -> its gray levels
    (:func:`image_gray`). Any problem is a UserError naming the file."""
    p = Path(path)
    _check_file(p)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as img:
            return image_gray(img)
    except TooLarge as exc:
        raise UserError(f"{p}: {exc}") from None
    except UnidentifiedImageError:
        raise UserError(f"{p}: not an image (PNG, JPEG, BMP, GIF or a 16x16 .npy expected)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{p}: cannot decode the image: {exc}") from None


def _check_file(p: Path) -> int:
    """The file's size; UserError for a folder, a missing, unreadable or empty file."""
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
    return size


def read_digit(path: str | os.PathLike, deslant: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """A file -> (the network's 16x16 input, the gray levels it was read from).

    Images (PNG, JPEG, BMP, GIF: first frame) go through the steps above
    (``deslant``: sheared upright first); a ``.npy`` must already be 16x16 (or
    1x16x16) in [-1, 1] and is used as is (gray levels: None). Any problem is a
    UserError naming the file."""
    p = Path(path)
    if p.suffix.lower() == ".npy":
        return _read_npy(p, _check_file(p)), None
    gray = read_gray(p)
    try:
        return digit_from_gray(gray, deslant), gray
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


def digit_from_ink(pixels, deslant: bool = True) -> np.ndarray:
    """An ink array from a drawing (H, W) in [0, 1], 0 background -> 16x16 in [-1, 1]."""
    a = np.asarray(pixels, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"pixels must be a 2-D array, got shape {a.shape}")
    if a.size > MAX_PIXELS:
        raise ValueError(f"pixels: too many ({a.size:,}; at most {MAX_PIXELS:,})")
    if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
        raise ValueError("pixels must be finite numbers in [0, 1] (0 background, 1 ink)")
    return fit_16(a, deslant=deslant)
