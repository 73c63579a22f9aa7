"""The image fields of a request body, read into the network's 16x16 input.

``png`` (a data URL or bare base64 of a PNG: the page's drawing), ``image``
(the same for a person's picture: PNG, JPEG, WebP, GIF or BMP, opened on the
page), ``pixels`` (ink in [0, 1], 0 background) and ``x16`` (the network's
input, 16x16 in [-1, 1]) are read as :mod:`lecun89.reader` reads any image
file (gray levels, ink, deslanted, bounding box fitted into 16x16); a drawing
without ink reads as None. Anything malformed is an
:class:`~lecun89.serve.ApiError` (400).

A picture's size is checked before it is decoded: at most
:data:`MAX_CANVAS_PIXELS` (2048 x 2048). A phone's photo (12 MP and more) is
made smaller on the page before it is sent (``lecun89/web/photo.js``), so the
server never decodes more than 4 MP for one request.
"""

from __future__ import annotations

import re

from lecun89.serve._base import ApiError

SIZE = 16
MAX_CANVAS_PIXELS = 2048 * 2048  # a PNG's (or a picture's) size is checked before it is decoded
# A picture opened on the page: its data URL's types, and the decoders Pillow may use for it.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/x-ms-bmp")
IMAGE_FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP"]


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


def image_to_16(value):
    """A picture (``image``: a data URL of a PNG, JPEG, WebP, GIF or BMP) -> 16x16,
    read as ``lecun89 predict FILE`` reads the same file, or None without ink."""
    return picture_digit(*image_to_picture(value))[0]


IMAGE_READERS = {"png": png_to_16, "image": image_to_16, "pixels": pixels_to_16,
                 "x16": check_x16}  # field -> 16x16 input (None: no ink)


def png_to_row(value):
    """A PNG of a row of digits -> what :func:`lecun89.reader.analyse_row` reads
    (:func:`picture_row`), or None for a drawing without ink or without a digit."""
    return picture_row(png_to_gray(value), None, "png")[0]


def _taken(fn, **kwargs) -> dict:
    """The keyword arguments ``fn`` takes, of ``kwargs`` (the reader's stages
    grow arguments: colours, what was removed)."""
    import inspect

    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def picture_digit(gray, rgb=None) -> tuple:
    """A picture's gray levels (and colours) -> (its 16x16 input or None without
    ink, the furniture stage's findings: a list, empty when this reader has none),
    as ``lecun89 predict FILE`` reads the file (:func:`lecun89.reader.read_digit`)."""
    from lecun89.reader import digit_from_gray

    cleaned: list = []
    try:
        return digit_from_gray(gray, **_taken(digit_from_gray, rgb=rgb, cleaned=cleaned)), cleaned
    except ValueError:  # ink_map and fit_16 raise it for a picture with no ink
        return None, cleaned


def picture_row(gray, rgb=None, field: str = "image") -> tuple:
    """A row's gray levels (and colours) -> (what :func:`lecun89.reader.analyse_row`
    reads, or None without ink or without a digit; the furniture stage's findings),
    as ``lecun89 predict --row FILE`` reads the file
    (:func:`lecun89.reader.read_row_file`: the row's ink by ``pipeline.row_ink``
    where the reader has it, cut by ``pipeline.row_graph`` where it has that, else
    by ``read_row``)."""
    from lecun89.reader import ink_map, pipeline

    cleaned: list = []
    row_ink = getattr(pipeline, "row_ink", None)
    cut = getattr(pipeline, "row_graph", None) or pipeline.read_row
    try:
        ink = row_ink(gray, **_taken(row_ink, rgb=rgb, cleaned=cleaned)) if row_ink else ink_map(gray)
        return cut(ink), cleaned
    except ValueError as exc:
        if "blank" in str(exc) or "no digits" in str(exc):
            return None, cleaned
        raise ApiError(400, f"{field}: {exc}") from None


def png_to_gray(value):
    """A PNG (data URL or bare base64) -> its gray levels, as lecun89 predict reads a file."""
    return _decode(value, "png", ("image/png",), ["PNG"], "a PNG image")[0]


def image_to_picture(value) -> tuple:
    """A picture (data URL or bare base64 of a PNG, JPEG, WebP, GIF or BMP) -> (its
    gray levels, its colours or None), as lecun89 predict reads the same file
    (first frame, EXIF turn; the colours where the reader's gray stage gives them)."""
    return _decode(value, "image", IMAGE_TYPES, IMAGE_FORMATS, "a picture (PNG, JPEG, WebP, GIF or BMP)", colour=True)


def _decode(value, field: str, types: tuple, formats: list, what: str, colour: bool = False) -> tuple:
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    from lecun89.reader import TooLarge, image_gray
    from lecun89.reader import gray as gray_stage

    if not isinstance(value, str):
        raise ApiError(400, f"{field}: expected a string (data:{types[0]};base64,...), got {type(value).__name__}")
    head = _DATA_URL.match(value)
    if head:
        if head.group(1).lower() not in types or not head.group(2):
            want = "data:image/png;base64 URL" if len(types) == 1 else f"base64 data URL of {what}"
            raise ApiError(400, f"{field}: expected a {want}, got {value[:head.end()][:60]!r}")
        value = value[head.end():]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{field}: not valid base64") from None
    if not raw:
        raise ApiError(400, f"{field}: empty")
    try:
        with Image.open(io.BytesIO(raw), formats=formats) as img:  # as lecun89 predict reads a file
            with_colour = getattr(gray_stage, "image_gray_rgb", None) if colour else None
            picture = with_colour(img, MAX_CANVAS_PIXELS) if with_colour else (image_gray(img, MAX_CANVAS_PIXELS), None)
    except TooLarge as exc:
        raise ApiError(400, f"{field}: {exc}") from None
    except UnidentifiedImageError:
        raise ApiError(400, f"{field}: not {what}") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ApiError(400, f"{field}: cannot decode the image: {exc}") from None
    return picture


def furniture(cleaned: list) -> dict:
    """What the reader removed from a picture as page furniture (ruling, grid, form
    box, margin), for the page to draw, from the furniture stage's findings
    (:func:`picture_digit`, :func:`picture_row`): ``{"removed": found, "removed_mask":
    a PNG data URL, red where pixels were removed (none when nothing was)}``;
    nothing when this install's reader has no furniture stage."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    if not cleaned:
        return {}
    c = cleaned[-1]
    out = {"removed": list(c.found)}
    mask = np.asarray(c.removed, dtype=bool)
    if mask.any():
        rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
        rgba[mask] = (220, 30, 30, 170)
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, "PNG", optimize=True)
        out["removed_mask"] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return out
