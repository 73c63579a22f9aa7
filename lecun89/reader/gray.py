"""Stage 1 of the reader: a picture's gray levels.

Any image file or opened PIL image -> gray levels (H, W) in [0, 1], 0 black and
1 white: alpha composited away (:func:`gray_levels`), the first frame of an
animation, a phone photo turned upright as its EXIF note says
(:func:`image_gray`), and every problem with a file one clear error naming it
(:func:`read_gray`); a colour picture's colours beside them
(:func:`image_gray_rgb`, :func:`read_gray_rgb`). Nothing here looks for ink.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lecun89.errors import UserError

# Refused before decoding: bigger than any photo a phone takes (~50 MP).
MAX_PIXELS = 64_000_000


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

class TooLarge(ValueError):
    """An image with more pixels than the reader takes (found before decoding)."""

def image_gray(img, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An opened PIL image -> its gray levels (:func:`gray_levels`): the first frame,
    turned as its EXIF note says (a phone's photo may be stored sideways).
    TooLarge when it has more than ``max_pixels``, checked before decoding."""
    return image_gray_rgb(img, max_pixels)[0]

def image_gray_rgb(img, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, np.ndarray | None]:
    """An opened PIL image -> (its gray levels as :func:`image_gray` gives them,
    its colours (H, W, 3) in [0, 1] or None): the colours only for a colour
    picture without transparency whose channels differ somewhere (the page
    furniture's colour, :mod:`~lecun89.reader.furniture`); the gray levels are
    the same either way."""
    from PIL import ImageOps

    w, h = img.size
    if w * h > max_pixels:
        raise TooLarge(f"image too large ({w}x{h} pixels; at most {max_pixels:,})")
    img.seek(0)
    img.load()
    img = ImageOps.exif_transpose(img)
    return gray_levels(img), colours(img)

def colours(img) -> np.ndarray | None:
    """A PIL image -> its colours (H, W, 3) float64 in [0, 1], or None for a gray
    picture (or one whose channels are all equal) and one with transparency."""
    if img.mode not in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "PA"):
        return None
    rgba = np.asarray(img.convert("RGBA"))
    if rgba[..., 3].min() < 255:
        return None
    rgb = rgba[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return None
    return rgb.astype(np.float64) / 255.0

def read_gray(path: str | os.PathLike) -> np.ndarray:
    """An image file (PNG, JPEG, BMP, GIF: first frame) -> its gray levels
    (:func:`image_gray`). Any problem is a UserError naming the file."""
    return read_gray_rgb(path)[0]

def read_gray_rgb(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """An image file -> (its gray levels, its colours or None) (:func:`image_gray_rgb`).
    Any problem is a UserError naming the file."""
    p = Path(path)
    check_file(p)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as img:
            return image_gray_rgb(img)
    except TooLarge as exc:
        raise UserError(f"{p}: {exc}") from None
    except UnidentifiedImageError:
        raise UserError(f"{p}: not an image (PNG, JPEG, BMP, GIF or a 16x16 .npy expected)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"{p}: cannot decode the image: {exc}") from None

def check_file(p: Path) -> int:
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
