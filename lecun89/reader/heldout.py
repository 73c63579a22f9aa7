"""Digits by writers outside USPS, written out as a person's digit arrives.

The held-out writers are MNIST's (another set of people, another scanner; its
training and test writers are disjoint). Each 28x28 MNIST digit becomes an
image file in one of several ways (:data:`STYLES`); the benchmark
(``scripts/heldout.py``) reads those files with exactly ``lecun89 predict``'s
reader. Two groups of writers keep the rule of the project: every choice of
preprocessing (and of the default model) is made on :data:`TUNE` (a fixed
sample of MNIST's *training* writers) and reported once on :data:`REPORT`
(MNIST's *test* writers). The USPS test set is never used for these choices.

Every image is a pure function of (digit, style, index): the same files on
every run and machine.
"""

from __future__ import annotations

import io

import numpy as np

# style -> what it imitates
STYLES: dict[str, str] = {
    "clean": "a clean scan: dark ink on white paper, the digit 4x its MNIST size (112 pixels) with a white margin, PNG",
    "thick": "a thick pen: the clean scan's strokes widened by about 4 pixels (a 9x9 grey dilation), PNG",
    "thin": "a thin pen: the clean scan's strokes narrowed by about 2 pixels (a 5x5 grey erosion), PNG",
    "photo": "a phone photo: gray paper (level 0.55-0.85) lit unevenly (30-50% darker on one side, any direction, "
             "corners up to 15% darker), "
             "gray ink, rotated up to 6 degrees, sensor noise, placed off centre, JPEG quality 60-85",
}
# the styles with page furniture, written in colour (lecun89.reader.furniture's benchmark;
# scripts/heldout.py --styles paper): style -> what it imitates
PAPER: dict[str, str] = {
    "ruled": "ruled notebook paper, scanned: the digit at 70-125% of the clean size in blue, black, dark gray or "
             "pencil-light ink, lines (light blue, gray or blue; 1-4 pixels; tilted up to 3 degrees) spaced 0.6-1.6 "
             "digit heights at any phase (across the digit, under it, around it), RGB PNG",
    "ruled-photo": "the ruled paper photographed: the photo style's light (paper level, uneven light, darker "
                   "corners, warm tint, sensor noise) over the ruled page, JPEG quality 60-85",
    "squared-photo": "squared paper photographed: horizontal and vertical lines 0.3-0.8 digit heights apart "
                     "(light blue, gray or light green; 1-3 pixels; tilted up to 3 degrees), the photo's light, JPEG",
    "form": "a form's field: a box (black, gray, blue or red-brown; 1.5-4 pixels) around the digit, 2 pixels inside "
            "to 24 pixels away from its strokes, half of them one cell of a comb of boxes running off the picture; "
            "clean or photographed, PNG or JPEG",
    "margin-photo": "a notebook's margin photographed: a red vertical line (1.5-4 pixels) left of the digit or "
                    "across it, light blue ruling on most pages, the photo's light, JPEG",
    "squared": "squared paper scanned: the squared photo's page (lines 0.3-0.8 digit heights apart, 1-3 pixels) "
               "without its light, RGB PNG",
}
PAPER_STYLES = tuple(PAPER)
ALL_STYLES = {**STYLES, **PAPER}
# (name, MNIST split, how many, seed of the sample): the tuning group is a fixed
# random sample of the training writers; the report group is all test writers.
TUNE = ("tune", "train", 2000, 89)
REPORT = ("report", "test", 10000, None)
GROUPS = {g[0]: g for g in (TUNE, REPORT)}
SCALE = 4
MARGIN = 16


def group_indices(group: tuple) -> np.ndarray:
    """The MNIST indices (in that split) of a group of writers."""
    _, split, n, seed = group
    from lecun89.data.mnist16 import N_TEST, N_TRAIN

    total = N_TRAIN if split == "train" else N_TEST
    if seed is None:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def mnist_ink(img28: np.ndarray) -> np.ndarray:
    """An MNIST digit (28x28 uint8, ink 255) -> ink (112, 112) in [0, 1], bilinear:
    what a scanner at 4x the MNIST size sees."""
    from PIL import Image

    big = Image.fromarray(img28).resize((28 * SCALE, 28 * SCALE), Image.BILINEAR)
    return np.asarray(big, dtype=np.float64) / 255.0


def render(img28: np.ndarray, style: str, index: int) -> bytes:
    """One MNIST digit (28x28 uint8, ink 255) written out in ``style`` -> the file's bytes."""
    from PIL import Image
    from scipy import ndimage

    if style not in ALL_STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(ALL_STYLES)}")
    ink = mnist_ink(np.asarray(img28, dtype=np.uint8))
    if style in PAPER_STYLES:
        return _paper_render(ink, style, index)
    if style == "thick":
        ink = ndimage.grey_dilation(ink, footprint=_disk(4))
    elif style == "thin":
        ink = ndimage.grey_erosion(ink, footprint=_disk(2))
    buf = io.BytesIO()
    if style != "photo":
        ink = np.pad(ink, MARGIN)
        Image.fromarray(np.round(255.0 * (1.0 - ink)).astype(np.uint8)).save(buf, format="PNG")
        return buf.getvalue()
    rng = np.random.default_rng([89, index])
    side = 28 * SCALE + 2 * 44
    ink = ndimage.rotate(np.pad(ink, 10), rng.uniform(-6.0, 6.0), reshape=False, order=1)
    sheet = np.zeros((side, side))
    top, left = rng.integers(0, side - ink.shape[0], size=2)
    sheet[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
    ink = np.clip(sheet, 0.0, 1.0)
    paper = rng.uniform(0.55, 0.85)
    theta = rng.uniform(0.0, 2.0 * np.pi)
    yy, xx = np.mgrid[0:side, 0:side] / (side - 1) - 0.5
    along = np.cos(theta) * xx + np.sin(theta) * yy
    along = (along - along.min()) / (along.max() - along.min())  # 0..1 across the sheet
    vignette = 1.0 - rng.uniform(0.0, 0.3) * (xx * xx + yy * yy)  # darker corners
    light = (1.0 - rng.uniform(0.3, 0.5) * along) * vignette
    ink_level = rng.uniform(0.15, 0.35)  # the ink's reflectance, relative to the paper's
    gray = paper * light * (1.0 - ink * (1.0 - ink_level)) + rng.normal(0.0, 0.015, (side, side))
    rgb = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
    rgb *= np.array([1.0, 0.97, 0.9])  # warm light
    Image.fromarray(np.round(255.0 * rgb).astype(np.uint8)).save(buf, format="JPEG",
                                                                 quality=int(rng.integers(60, 86)))
    return buf.getvalue()


INKS = {"blue": (0.12, 0.16, 0.50), "black": (0.08, 0.08, 0.10), "dark gray": (0.30, 0.30, 0.32),
        "pencil": (0.55, 0.55, 0.57)}  # the ink's reflectance (R, G, B) where it covers the paper fully
RULINGS = {"light blue": (0.62, 0.78, 0.95), "gray": (0.70, 0.70, 0.72), "blue": (0.45, 0.60, 0.90),
           "light green": (0.65, 0.85, 0.70)}
BOXES = {"black": (0.15, 0.15, 0.15), "gray": (0.5, 0.5, 0.5), "blue": (0.35, 0.45, 0.85),
         "red-brown": (0.80, 0.45, 0.40)}
MARGIN_RED = (0.92, 0.35, 0.38)


def _lines_cover(shape, spacing: float, thick: float, tilt: float, phase: float, vertical: bool = False):
    """Coverage (H, W) in [0, 1] of parallel lines ``spacing`` apart, ``thick``
    pixels wide, tilted ``tilt`` degrees, the first at ``phase`` (antialiased)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = np.radians(tilt)
    u = (xx * np.cos(t) + yy * np.sin(t)) if vertical else (yy * np.cos(t) - xx * np.sin(t))
    u = u - phase
    d = np.abs(u - spacing * np.round(u / spacing)) if spacing > 0 else np.abs(u)
    return np.clip(thick / 2.0 + 0.5 - d, 0.0, 1.0)


def _segment_cover(shape, x0, y0, x1, y1, thick: float):
    """Coverage of a straight segment from (x0, y0) to (x1, y1), ``thick`` wide."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = x1 - x0, y1 - y0
    n = max(np.hypot(dx, dy), 1e-9)
    along = ((xx - x0) * dx + (yy - y0) * dy) / n
    across = np.abs((xx - x0) * dy - (yy - y0) * dx) / n
    inside = np.clip(np.minimum(along + thick / 2.0, n + thick / 2.0 - along) + 0.5, 0.0, 1.0)
    return np.clip(thick / 2.0 + 0.5 - across, 0.0, 1.0) * inside


def _paint(sheet: np.ndarray, cover: np.ndarray, colour) -> np.ndarray:
    """Reflectance (H, W, 3) with a layer of ``colour`` laid where ``cover`` says."""
    return sheet * (1.0 - cover[..., None] * (1.0 - np.asarray(colour)[None, None, :]))


def _box_furniture(shape, box, rng, tilt: float) -> np.ndarray:
    """A form's box around ``box`` (top, left, bottom, right), or one cell of a comb."""
    h, w = shape
    top, left, bottom, right = box
    gap = rng.uniform(-2.0, 24.0, size=4)  # each side: inside the strokes (-2) to well away
    thick = rng.uniform(1.5, 4.0)
    t0, l0, b0, r0 = top - gap[0], left - gap[1], bottom + gap[2], right + gap[3]
    t0, l0 = max(t0, thick + 2), max(l0, thick + 2)
    b0, r0 = min(b0, h - thick - 3), min(r0, w - thick - 3)
    comb = rng.random() < 0.5
    xa, xb = (0.0, w - 1.0) if comb else (l0, r0)
    sl = np.tan(np.radians(tilt))
    cx, cy = w / 2.0, h / 2.0

    def turn(x, y):  # the page's tilt about the centre
        return x - (y - cy) * sl, y + (x - cx) * sl
    cover = np.zeros(shape)
    for y in (t0, b0):
        (ax, ay), (bx, by) = turn(xa, y), turn(xb, y)
        cover = np.maximum(cover, _segment_cover(shape, ax, ay, bx, by, thick))
    xs = [l0, r0]
    if comb:
        cell = r0 - l0
        xs += [x for k in range(1, 4) for x in (l0 - k * cell, r0 + k * cell) if 0 < x < w - 1]
    for x in xs:
        (ax, ay), (bx, by) = turn(x, t0), turn(x, b0)
        cover = np.maximum(cover, _segment_cover(shape, ax, ay, bx, by, thick))
    return cover


def _paper_render(ink: np.ndarray, style: str, index: int) -> bytes:
    """Ink (H, W) in [0, 1], one digit's (112, 112) or a row's, written on a page with
    furniture (:data:`PAPER_STYLES`) -> PNG or JPEG bytes."""
    from PIL import Image
    from scipy import ndimage

    rng = np.random.default_rng([89, index, PAPER_STYLES.index(style)])
    tilt = rng.uniform(-3.0, 3.0)
    scale = rng.uniform(0.7, 1.25)
    n = max(8, round(ink.shape[0] * scale))
    size = (max(8, round(ink.shape[1] * scale)), n)  # (width, height); a digit's (n, n)
    ink = np.asarray(Image.fromarray(ink.astype(np.float32), "F").resize(size, Image.BILINEAR), dtype=np.float64)
    ink = np.clip(ndimage.rotate(np.pad(ink, 8), tilt + rng.uniform(-2.0, 2.0), reshape=False, order=1), 0.0, 1.0)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    height = float(rows[-1] - rows[0] + 1) if rows.size else float(n)
    side_h = ink.shape[0] + int(rng.integers(30, 110))
    side_w = ink.shape[1] + int(rng.integers(30, 140))
    top = int(rng.integers(10, side_h - ink.shape[0] - 10))
    left = int(rng.integers(10, side_w - ink.shape[1] - 10))
    sheet_ink = np.zeros((side_h, side_w))
    sheet_ink[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
    shape = (side_h, side_w)
    page = np.ones((side_h, side_w, 3)) * np.array([1.0, 1.0, 0.98])
    if style in ("ruled", "ruled-photo") or (style == "margin-photo" and rng.random() < 0.75):
        colour = RULINGS[["light blue", "gray", "blue"][int(rng.integers(0, 3))]]
        spacing = height * rng.uniform(0.6, 1.6)
        page = _paint(page, _lines_cover(shape, spacing, rng.uniform(1.0, 4.0), tilt,
                                         rng.uniform(0.0, spacing)), colour)
    if style in ("squared", "squared-photo"):
        colour = RULINGS[["light blue", "gray", "light green"][int(rng.integers(0, 3))]]
        spacing, thick = height * rng.uniform(0.3, 0.8), rng.uniform(1.0, 3.0)
        cover = np.maximum(_lines_cover(shape, spacing, thick, tilt, rng.uniform(0.0, spacing)),
                           _lines_cover(shape, spacing, thick, tilt, rng.uniform(0.0, spacing), vertical=True))
        page = _paint(page, cover, colour)
    if style == "margin-photo":
        x = left + rng.uniform(-0.4, 0.5) * ink.shape[1]  # left of the digit or across it
        page = _paint(page, _lines_cover(shape, 0.0, rng.uniform(1.5, 4.0), tilt, x, vertical=True), MARGIN_RED)
    if style == "form":
        box = (top + rows[0], left + cols[0], top + rows[-1], left + cols[-1]) if rows.size else (
            top, left, top + n, left + size[0])
        colour = BOXES[list(BOXES)[int(rng.integers(0, len(BOXES)))]]
        page = _paint(page, _box_furniture(shape, box, rng, tilt), colour)
    pen = INKS[list(INKS)[int(rng.integers(0, len(INKS)))]]
    rgb = _paint(page, sheet_ink, pen)
    photo = style.endswith("-photo") or (style == "form" and rng.random() < 0.5)
    buf = io.BytesIO()
    if not photo:
        Image.fromarray(np.round(255.0 * np.clip(rgb, 0.0, 1.0)).astype(np.uint8)).save(buf, format="PNG")
        return buf.getvalue()
    rgb = rgb * _photo_light(shape, rng)[..., None] * np.array([1.0, 0.97, 0.9])
    rgb = rgb + rng.normal(0.0, 0.015, rgb.shape)
    Image.fromarray(np.round(255.0 * np.clip(rgb, 0.0, 1.0)).astype(np.uint8)).save(
        buf, format="JPEG", quality=int(rng.integers(60, 86)))
    return buf.getvalue()


def _photo_light(shape, rng: np.random.Generator) -> np.ndarray:
    """The photo style's light (H, W): the paper's level (0.55-0.85) times light
    falling off 30-50% across the sheet in any direction, corners up to 15% darker."""
    h, w = shape
    paper = rng.uniform(0.55, 0.85)
    theta = rng.uniform(0.0, 2.0 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / (h - 1) - 0.5, xx / (w - 1) - 0.5
    along = np.cos(theta) * xx + np.sin(theta) * yy
    along = (along - along.min()) / (along.max() - along.min())
    vignette = 1.0 - rng.uniform(0.0, 0.3) * (xx * xx + yy * yy)
    return paper * (1.0 - rng.uniform(0.3, 0.5) * along) * vignette


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r + r


def read(data: bytes, deslant: bool = True, background_degree: int | None = None,
         furniture: bool = True) -> np.ndarray:
    """A rendered file's bytes -> the 16x16 input, exactly as ``lecun89 predict``
    reads a file (ValueError for one where no digit is found);
    ``background_degree``: the reader's light model (None: its default);
    ``furniture``: False skips the page furniture's removal (for comparison)."""
    from PIL import Image

    from lecun89.reader.gray import image_gray_rgb
    from lecun89.reader.ink import BACKGROUND_DEGREE
    from lecun89.reader.pipeline import digit_from_gray

    with Image.open(io.BytesIO(data)) as img:
        gray, rgb = image_gray_rgb(img)
    degree = BACKGROUND_DEGREE if background_degree is None else background_degree
    return digit_from_gray(gray, deslant=deslant, background_degree=degree, rgb=rgb, furniture=furniture)


def ink_box(ink: np.ndarray) -> np.ndarray:
    """Ink cut to the box around what is above 5% of its peak."""
    on = ink > 0.05 * float(ink.max())
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def row_layers(inks: list[np.ndarray], gaps: list[int], scales: list[float] | None = None,
               drops: list[int] | None = None, margin: int = 24) -> tuple[list[tuple[int, int, np.ndarray]],
                                                                       tuple[int, int]]:
    """Where :func:`row_image` puts each digit -> ([(top, left, ink box)], the
    sheet's (height, width)): the digits' ink boxes resized by ``scales``, each
    ``gaps[k]`` blank columns after the one before it (negative: overlapping)
    and moved down by ``drops``."""
    from PIL import Image

    n = len(inks)
    scales = scales or [1.0] * n
    drops = drops or [0] * n
    boxes = []
    for ink, s in zip(inks, scales, strict=True):
        ink = ink_box(np.asarray(ink, dtype=np.float64))
        h, w = ink.shape
        size = (max(1, round(w * s)), max(1, round(h * s)))
        boxes.append(np.asarray(Image.fromarray(ink.astype(np.float32), "F").resize(size, Image.BILINEAR),
                                dtype=np.float64).clip(0.0, 1.0))
    lefts = [margin]
    for b, g in zip(boxes[:-1], gaps, strict=True):
        lefts.append(lefts[-1] + b.shape[1] + g)
    tops = [margin + d for d in drops]
    height = max(t + b.shape[0] for t, b in zip(tops, boxes, strict=True)) + margin
    width = max(left + b.shape[1] for left, b in zip(lefts, boxes, strict=True)) + margin
    return list(zip(tops, lefts, boxes, strict=True)), (height, width)


def row_image(inks: list[np.ndarray], gaps: list[int], scales: list[float] | None = None,
              drops: list[int] | None = None, margin: int = 24) -> np.ndarray:
    """Digits' ink boxes side by side -> one ink sheet (H, W) in [0, 1].

    ``gaps[k]`` is the blank columns between digit k and k + 1 (negative: the
    boxes overlap, and the strokes may touch); ``scales`` resizes each digit
    (different heights), ``drops`` moves each down by that many pixels
    (:func:`row_layers`)."""
    return sheet_of(*row_layers(inks, gaps, scales, drops, margin))


def sheet_of(layers: list[tuple[int, int, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """:func:`row_layers`' digits laid on one ink sheet (H, W): where two
    overlap, the darker ink."""
    sheet = np.zeros(shape)
    for top, left, b in layers:
        h, w = b.shape
        sheet[top:top + h, left:left + w] = np.maximum(sheet[top:top + h, left:left + w], b)
    return sheet


def png(ink: np.ndarray) -> bytes:
    """Ink (H, W) in [0, 1] -> a PNG of it, dark on white."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.round(255.0 * (1.0 - np.clip(ink, 0.0, 1.0))).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def random_row(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str]:
    """A row of 3 to 6 MNIST digits drawn by ``rng``, as a person might write a
    zip code: gaps of -6 to 30 pixels at 4x (some boxes overlap, strokes may
    touch), heights 80-115%, baselines up to 12 pixels apart; (PNG bytes, digits)."""
    n = int(rng.integers(3, 7))
    pick = rng.choice(len(images), size=n, replace=False)
    inks = [mnist_ink(images[i]) for i in pick]
    sheet = row_image(inks, [int(g) for g in rng.integers(-6, 31, size=n - 1)],
                      [float(s) for s in rng.uniform(0.8, 1.15, size=n)],
                      [int(d) for d in rng.integers(0, 13, size=n)])
    return png(sheet), "".join(str(int(labels[i])) for i in pick)


# The zip-code rows (zip_row): kind -> (least, most) blank columns between neighbours at 4x.
ZIP_GAPS = {"spaced": (6, 30), "touching": (-12, -2)}
ZIP_LENGTHS = (5, 9)


def zip_row(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int = 5,
            kind: str = "spaced", paper: str | None = None, index: int = 0) -> tuple[bytes, str]:
    """A zip code of ``n`` digits (5, or 9 for ZIP+4) drawn by ``rng``
    (:func:`zip_layers`), written on white paper, or with ``paper`` on a page of
    that :data:`PAPER` style (its furniture, ink colour and light drawn from
    ``index``; the row's digits and spacing unchanged) -> (PNG or JPEG bytes, digits)."""
    if paper is not None and paper not in PAPER:
        raise ValueError(f"unknown paper style {paper!r}; choose from {', '.join(PAPER)}")
    layers, shape, digits = zip_layers(images, labels, rng, n, kind)
    sheet = sheet_of(layers, shape)
    return (png(sheet) if paper is None else _paper_render(sheet, paper, index)), digits


def zip_layers(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int = 5,
               kind: str = "spaced") -> tuple[list[tuple[int, int, np.ndarray]], tuple[int, int], str]:
    """The digits of a zip code drawn by ``rng`` and where they lie
    (:func:`row_layers`' layers and sheet shape, and the digits): ``n`` digits
    (5, or 9 for ZIP+4), ``kind`` "spaced" (gaps of 6 to 30 pixels at 4x) or
    "touching" (the boxes overlapping by 2 to 12 pixels: neighbours' strokes
    cross or merge); heights 80-115%, baselines up to 12 pixels apart; half the
    1s lean right (sheared by up to 0.45 column per row) and half the 2s are
    written wide (up to 1.5 times as wide)."""
    from PIL import Image

    if kind not in ZIP_GAPS:
        raise ValueError(f"unknown kind of row {kind!r}; choose from {', '.join(ZIP_GAPS)}")
    pick = rng.choice(len(images), size=n, replace=False)
    inks = []
    for i in pick:
        ink = mnist_ink(images[i])
        if labels[i] == 1 and rng.random() < 0.5:
            s = float(rng.uniform(0.15, 0.45))
            h, w = ink.shape
            pad = int(np.ceil(s * h))
            img = Image.fromarray(np.pad(ink, ((0, 0), (pad, 0))).astype(np.float32), "F")
            ink = np.asarray(img.transform((w + pad, h), Image.AFFINE, (1, s, 0, 0, 1, 0), Image.BILINEAR),
                             dtype=np.float64)
        elif labels[i] == 2 and rng.random() < 0.5:
            ink = ink_box(ink)
            h, w = ink.shape
            ink = np.asarray(Image.fromarray(ink.astype(np.float32), "F").resize(
                (round(w * rng.uniform(1.2, 1.5)), h), Image.BILINEAR), dtype=np.float64).clip(0.0, 1.0)
        inks.append(ink)
    lo, hi = ZIP_GAPS[kind]
    layers, shape = row_layers(inks, [int(g) for g in rng.integers(lo, hi + 1, size=n - 1)],
                               [float(s) for s in rng.uniform(0.8, 1.15, size=n)],
                               [int(d) for d in rng.integers(0, 13, size=n)])
    return layers, shape, "".join(str(int(labels[i])) for i in pick)


def digits_alone(layers: list[tuple[int, int, np.ndarray]], shape: tuple[int, int]) -> list[bytes]:
    """Each digit of a row (:func:`zip_layers`) alone where it lies, its
    neighbours left out: a PNG of the row's size per digit, white paper. Read
    one by one, they are the row cut where its writer's digits meet: what the
    reader makes of its digits when no cut is wrong."""
    return [png(sheet_of([layer], shape)) for layer in layers]


def group_digits(group: tuple, data_dir=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A group's MNIST digits: (images (N, 28, 28) uint8, labels (N,), their indices in the split)."""
    from lecun89.data.mnist16 import mnist_raw

    x_tr, y_tr, x_te, y_te = mnist_raw(data_dir)
    idx = group_indices(group)
    images, labels = (x_tr, y_tr) if group[1] == "train" else (x_te, y_te)
    return images[idx], labels[idx].astype(np.int64), idx


def read_group(images: np.ndarray, indices: np.ndarray, style: str = "clean") -> np.ndarray:
    """A group's digits written out in ``style`` and read as ``lecun89 predict`` reads
    them (deslanted) -> (N, 16, 16), NaN where the reader found no digit."""
    out = np.full((len(images), 16, 16), np.nan)
    for k, (img, i) in enumerate(zip(images, indices, strict=True)):
        try:
            out[k] = read(render(img, style, int(i)))
        except ValueError:
            pass
    return out

