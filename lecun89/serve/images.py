"""The image fields of a request body, read into the network's 16x16 input.

``png`` (a data URL or bare base64 of a PNG: any drawing or picture), ``pixels``
(ink in [0, 1], 0 background) and ``x16`` (the network's input, 16x16 in
[-1, 1]) are read as :mod:`lecun89.reader` reads any image (ink,
deslanted, bounding box fitted into 16x16); a drawing without ink reads as
None. Anything malformed is an :class:`~lecun89.serve.ApiError` (400).
"""

from __future__ import annotations

import re

from lecun89.serve._base import ApiError

SIZE = 16
MAX_CANVAS_PIXELS = 2048 * 2048  # a PNG's size is checked before it is decoded


def _number_array(value, what: str):
    import numpy as np

    if not isinstance(value, list):
        raise ApiError(400, f"{what}: expected a 2-D array (a list of rows of numbers), got {type(value).__name__}")
    try:
        a = np.array(value)
    except (ValueError, TypeError):
        raise ApiError(400, f"{what}: rows must be lists of numbers, all of the same length") from None
    if a.dtype.kind not in "iuf":
        raise ApiError(400, f"{what}: expected numbers only")
    if a.ndim != 2 or min(a.shape) < 1:
        raise ApiError(400, f"{what}: expected a 2-D array, got shape {list(a.shape)}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ApiError(400, f"{what}: non-finite numbers")
    return a


def check_x16(value):
    """The network's own input, 16x16 in [-1, 1] (background -1), checked."""
    a = _number_array(value, "x16")
    if a.shape != (SIZE, SIZE):
        raise ApiError(400, f"x16: expected a 16x16 array, got shape {list(a.shape)}")
    if a.min() < -1.0 or a.max() > 1.0:
        raise ApiError(400, f"x16: values must be in [-1, 1] (background -1), got [{a.min():.3g}, {a.max():.3g}]")
    return a


def pixels_to_16(value):
    """Ink (H, W) in [0, 1] -> 16x16, or None for a blank drawing."""
    from lecun89.reader import MAX_PIXELS, digit_from_ink

    a = _number_array(value, "pixels")
    if a.size > MAX_PIXELS:
        raise ApiError(400, f"pixels: too many ({a.size:,}; at most {MAX_PIXELS:,})")
    if a.min() < 0.0 or a.max() > 1.0:
        raise ApiError(400, f"pixels: values must be in [0, 1] (0 background, 1 ink), got [{a.min():.3g}, {a.max():.3g}]")
    if a.max() == 0.0:
        return None
    try:
        return digit_from_ink(a)
    except ValueError as exc:
        if "blank" in str(exc):
            return None
        raise ApiError(400, f"pixels: {exc}") from None


_DATA_URL = re.compile(r"data:([^;,]*)(;base64)?,", re.IGNORECASE)


def png_to_16(value):
    """A PNG (data URL or bare base64) -> 16x16 (deslanted, as lecun89 predict
    reads a file), or None for a blank drawing."""
    from lecun89.reader import digit_from_gray

    gray = png_to_gray(value)
    try:
        return digit_from_gray(gray)
    except ValueError:  # ink_map and fit_16 raise it for a drawing with no ink
        return None


IMAGE_READERS = {"png": png_to_16, "pixels": pixels_to_16, "x16": check_x16}  # field -> 16x16 input (None: no ink)


def png_to_row(value):
    """A PNG of a row of digits -> their lecun89.reader.Digit list, or None for a
    drawing without ink or without a digit."""
    from lecun89.reader import ink_map
    from lecun89.reader import read_row

    gray = png_to_gray(value)
    try:
        return read_row(ink_map(gray))
    except ValueError as exc:
        if "blank" in str(exc) or "no digits" in str(exc):
            return None
        raise ApiError(400, f"png: {exc}") from None


def png_to_gray(value):
    """A PNG (data URL or bare base64) -> its gray levels, as lecun89 predict reads a file."""
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    from lecun89.reader import TooLarge, image_gray

    if not isinstance(value, str):
        raise ApiError(400, f"png: expected a string (data:image/png;base64,...), got {type(value).__name__}")
    head = _DATA_URL.match(value)
    if head:
        if head.group(1).lower() != "image/png" or not head.group(2):
            raise ApiError(400, f"png: expected a data:image/png;base64 URL, got {value[:head.end()][:60]!r}")
        value = value[head.end():]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "png: not valid base64") from None
    if not raw:
        raise ApiError(400, "png: empty")
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as img:
            gray = image_gray(img, MAX_CANVAS_PIXELS)  # as lecun89 predict reads a file
    except TooLarge as exc:
        raise ApiError(400, f"png: {exc}") from None
    except UnidentifiedImageError:
        raise ApiError(400, "png: not a PNG image") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ApiError(400, f"png: cannot decode the image: {exc}") from None
    return gray
