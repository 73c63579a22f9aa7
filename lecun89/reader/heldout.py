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

    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    ink = mnist_ink(np.asarray(img28, dtype=np.uint8))
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


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r + r


def read(data: bytes, deslant: bool = True, background_degree: int | None = None) -> np.ndarray:
    """A rendered file's bytes -> the 16x16 input, exactly as ``lecun89 predict``
    reads a file (ValueError for one where no digit is found);
    ``background_degree``: the reader's light model (None: its default)."""
    from PIL import Image

    from lecun89.reader.gray import image_gray
    from lecun89.reader.ink import BACKGROUND_DEGREE
    from lecun89.reader.pipeline import digit_from_gray

    with Image.open(io.BytesIO(data)) as img:
        gray = image_gray(img)
    degree = BACKGROUND_DEGREE if background_degree is None else background_degree
    return digit_from_gray(gray, deslant=deslant, background_degree=degree)


def ink_box(ink: np.ndarray) -> np.ndarray:
    """Ink cut to the box around what is above 5% of its peak."""
    on = ink > 0.05 * float(ink.max())
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def row_image(inks: list[np.ndarray], gaps: list[int], scales: list[float] | None = None,
              drops: list[int] | None = None, margin: int = 24) -> np.ndarray:
    """Digits' ink boxes side by side -> one ink sheet (H, W) in [0, 1].

    ``gaps[k]`` is the blank columns between digit k and k + 1 (negative: the
    boxes overlap, and the strokes may touch); ``scales`` resizes each digit
    (different heights), ``drops`` moves each down by that many pixels."""
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
    sheet = np.zeros((height, width))
    for left, top, b in zip(lefts, tops, boxes, strict=True):
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
            kind: str = "spaced") -> tuple[bytes, str]:
    """A zip code of ``n`` digits (5, or 9 for ZIP+4) drawn by ``rng``:
    ``kind`` "spaced" (gaps of 6 to 30 pixels at 4x) or "touching" (the boxes
    overlapping by 2 to 12 pixels: neighbours' strokes cross or merge);
    heights 80-115%, baselines up to 12 pixels apart; half the 1s lean right
    (sheared by up to 0.45 column per row) and half the 2s are written wide
    (up to 1.5 times as wide). -> (PNG bytes, digits)."""
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
    sheet = row_image(inks, [int(g) for g in rng.integers(lo, hi + 1, size=n - 1)],
                      [float(s) for s in rng.uniform(0.8, 1.15, size=n)],
                      [int(d) for d in rng.integers(0, 13, size=n)])
    return png(sheet), "".join(str(int(labels[i])) for i in pick)
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

