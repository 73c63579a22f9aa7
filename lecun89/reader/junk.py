"""Pictures that hold no (whole) digit, as the reader sees them: the
none-of-the-above set.

A reader trained on digits only answers every picture with a digit: noise,
blank ruled paper, a scribble. The 1998 system of LeCun, Bottou, Bengio and
Haffner trained its network on such rubbish to *no class* (all outputs low);
this module makes that rubbish. Each picture is drawn (seeded) as the reader
gets a picture: gray levels (0 black, 1 white) of a sheet, read by the reader's
own ink stage and fitted to 16x16 (:func:`lecun89.reader.pipeline.digit_from_gray`),
so the network sees junk exactly as it sees what people give it.

The kinds (:data:`KINDS`) and their shares (:data:`MIX`): noise, blank paper
with ruling or squares or an empty form box, an unevenly lit blank photo,
scribbles, blots, printed signs and shapes, and digits cut wrong (half a
digit, two digits squeezed into one box, a digit with a piece of its
neighbour). The digits cut wrong are made from the digits the caller gives:
the training side's (the reader model's own training digits) for the training
junk, the tuning writers' for the tuning junk, so that no report-group digit
chooses anything.

:func:`make_junk` (n pictures, a seed, digits to cut) -> 16x16 inputs and each
one's kind. A picture the ink stage finds blank is drawn again (a blank picture
never reaches the network: the reader refuses it before).
"""

from __future__ import annotations

import numpy as np

# kind -> what it imitates
KINDS: dict[str, str] = {
    "noise": "sensor or scanner noise on gray paper, no writing (Gaussian, salt and pepper, blotchy)",
    "ruled": "blank ruled notebook paper: horizontal lines (light blue-gray to gray), maybe a margin line",
    "squared": "blank squared paper: a grid of light lines",
    "box": "an empty form box (a rectangle outline), maybe with a ruling",
    "photo": "a blank sheet photographed: uneven light, a shadow, sensor noise",
    "scribble": "a pen's scribble: a smooth random stroke with many turns",
    "blot": "ink blots and smudges: filled irregular blobs",
    "sign": "printed signs and shapes: plus, times, arrows, hash, star, triangle, filled square, smiley, check",
    "half": "half a digit: a digit cut across (left, right, top or bottom part)",
    "pair": "two digits squeezed into one box, side by side (touching or nearly)",
    "neighbour": "a digit with a piece of its neighbour joined at its side",
}
# The training mix (shares of the set, by kind): the digits cut wrong are half
# of it, because they are what a row's candidate cuts produce.
MIX: dict[str, float] = {"noise": 0.08, "ruled": 0.06, "squared": 0.05, "box": 0.05, "photo": 0.04,
                         "scribble": 0.08, "blot": 0.05, "sign": 0.09, "half": 0.2, "pair": 0.15,
                         "neighbour": 0.15}
# Bump when any picture is drawn differently: part of the cache key of the data
# set made with it (usps-mnist-junk).
JUNK_VERSION = "junk-1"
# Digits not cut in half: a half of a 1 is a 1, the top of a 7 a 7.
NOT_HALVED = (1, 7)
# A neighbour's piece holds at least this share of the digit's ink (less would
# be dropped as a speck by the fit, leaving a whole digit labelled junk).
PIECE_SHARE = 0.25


def make_junk(n: int, seed, digits: np.ndarray | None = None, digit_labels: np.ndarray | None = None,
              mix: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` junk pictures -> (16x16 inputs (n, 16, 16) in [-1, 1], kinds (n,) as str).

    ``seed``: the generator's seed (an int or a list of ints); ``digits``:
    MNIST-style digits (N, 28, 28) uint8, ink 255, and their ``digit_labels``,
    to cut wrong (needed when the mix has half, pair or neighbour); ``mix``:
    kind -> share (default :data:`MIX`). The same arguments give the same
    pictures on every run."""
    mix = MIX if mix is None else mix
    unknown = set(mix) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown junk kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    kinds = list(mix)
    p = np.array([mix[k] for k in kinds], dtype=np.float64)
    rng = np.random.default_rng(seed)
    which = rng.choice(len(kinds), size=n, p=p / p.sum())
    out = np.empty((n, 16, 16))
    for i, k in enumerate(which):
        out[i] = junk_x16(kinds[k], np.random.default_rng([*np.atleast_1d(seed).tolist(), i]), digits, digit_labels)
    return out, np.array([kinds[k] for k in which])


def junk_x16(kind: str, rng: np.random.Generator, digits=None, digit_labels=None) -> np.ndarray:
    """One junk picture of ``kind`` through the reader's ink stage and fit -> (16, 16).

    The training junk skips the furniture stage (``furniture=False``): the
    shipped reader learned its junk so, before that stage existed, and a blank
    ruled page's lines as ink are still a picture the network should refuse
    (what the stage leaves of a line). The benchmark's junk files
    (:func:`junk_file`) go through the whole reader, furniture stage included."""
    from lecun89.reader.pipeline import digit_from_gray

    for _ in range(50):
        gray = junk_gray(kind, rng, digits, digit_labels)
        try:
            return digit_from_gray(gray, furniture=False)
        except ValueError:  # blank to the ink stage: the reader refuses it before the network; draw again
            continue
    raise ValueError(f"junk {kind!r}: 50 pictures in a row were blank to the reader")


def junk_gray(kind: str, rng: np.random.Generator, digits=None, digit_labels=None) -> np.ndarray:
    """One junk picture of ``kind``: gray levels (H, W) in [0, 1], 0 black, 1 white."""
    if kind in ("half", "pair", "neighbour"):
        if digits is None or digit_labels is None or not len(digits):
            raise ValueError(f"junk {kind!r} needs digits to cut")
        return _on_paper(_cut_wrong(kind, rng, digits, digit_labels), rng)
    if kind not in KINDS:
        raise ValueError(f"unknown junk kind {kind!r}; choose from {', '.join(KINDS)}")
    return _DRAW[kind](rng)


# --- drawing -------------------------------------------------------------------

def _size(rng, lo=48, hi=200) -> tuple[int, int]:
    h = int(rng.integers(lo, hi))
    return h, int(np.clip(h * rng.uniform(0.6, 1.6), lo, 2 * hi))


def _paper(rng, shape) -> np.ndarray:
    return np.full(shape, rng.uniform(0.75, 1.0))


def _finish(gray, rng, noise=(0.0, 0.02)) -> np.ndarray:
    return np.clip(gray + rng.normal(0.0, rng.uniform(*noise), gray.shape), 0.0, 1.0)


def _noise(rng) -> np.ndarray:
    shape = _size(rng, 32, 160)
    g = _paper(rng, shape)
    how = rng.integers(3)
    if how == 0:  # Gaussian
        g = g + rng.normal(0.0, rng.uniform(0.05, 0.35), shape)
    elif how == 1:  # salt and pepper
        hit = rng.random(shape) < rng.uniform(0.01, 0.2)
        g = np.where(hit, rng.integers(0, 2, shape).astype(float) * g, g)
    else:  # blotchy: smoothed noise
        from scipy import ndimage

        g = g + ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), rng.uniform(1.0, 4.0)) * rng.uniform(0.2, 1.0)
    return np.clip(g, 0.0, 1.0)


def _lines(rng, shape, horizontal=True, vertical=False, tilt=0.02, level=None) -> np.ndarray:
    """Darkness (H, W) in [0, 1] of ruling lines across the sheet."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dark = np.zeros(shape)
    level = rng.uniform(0.15, 0.6) if level is None else level
    for on, along, across in ((horizontal, yy, xx), (vertical, xx, yy)):
        if not on:
            continue
        step = rng.uniform(12.0, 40.0)
        width = rng.uniform(0.8, 3.0)
        pos = along + rng.uniform(-tilt, tilt) * across + rng.uniform(0, step)
        d = np.abs((pos % step) - step / 2) - (step / 2 - width / 2)  # > 0 on a line
        dark = np.maximum(dark, level * np.clip(d + 0.5, 0.0, 1.0))
    return dark


def _ruled(rng) -> np.ndarray:
    shape = _size(rng, 64, 220)
    g = _paper(rng, shape) * (1.0 - _lines(rng, shape))
    if rng.random() < 0.3:  # a margin line
        x = int(rng.integers(0, shape[1]))
        g[:, x:x + int(rng.integers(1, 4))] *= rng.uniform(0.4, 0.8)
    return _finish(g, rng)


def _squared(rng) -> np.ndarray:
    shape = _size(rng, 64, 220)
    return _finish(_paper(rng, shape) * (1.0 - _lines(rng, shape, vertical=True)), rng)


def _box(rng) -> np.ndarray:
    shape = _size(rng, 48, 200)
    h, w = shape
    g = _paper(rng, shape)
    t = int(rng.integers(1, 5))
    y0, x0 = int(rng.integers(0, h // 4)), int(rng.integers(0, w // 4))
    y1, x1 = int(rng.integers(3 * h // 4, h)), int(rng.integers(3 * w // 4, w))
    level = rng.uniform(0.3, 0.8)
    box = np.zeros(shape, dtype=bool)
    box[y0:y1, x0:x1] = True
    box[y0 + t:y1 - t, x0 + t:x1 - t] = False
    g = np.where(box, g * (1.0 - level), g)
    if rng.random() < 0.3:
        g = g * (1.0 - _lines(rng, shape, level=rng.uniform(0.1, 0.3)))
    return _finish(g, rng)


def _photo(rng) -> np.ndarray:
    shape = _size(rng, 64, 240)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    theta = rng.uniform(0, 2 * np.pi)
    along = np.cos(theta) * xx + np.sin(theta) * yy
    g = rng.uniform(0.5, 0.9) * (1.0 - rng.uniform(0.1, 0.5) * (along - along.min()))
    if rng.random() < 0.5:  # a shadow's soft edge
        edge = rng.uniform(-0.3, 0.3)
        g = g * (1.0 - rng.uniform(0.1, 0.4) / (1.0 + np.exp(-(along - edge) * rng.uniform(10, 60))))
    return _finish(g, rng, (0.005, 0.04))


def _pen(rng, shape, points, width) -> np.ndarray:
    """Ink (H, W) in [0, 1] of a polyline drawn with a round pen."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (shape[1], shape[0]), 0)
    d = ImageDraw.Draw(img)
    pts = [(float(x), float(y)) for x, y in points]
    d.line(pts, fill=255, width=max(1, int(round(width))), joint="curve")
    return np.asarray(img, dtype=np.float64) / 255.0


def _on_paper(ink, rng) -> np.ndarray:
    """Ink (H, W) -> gray levels of it written on paper with a margin."""
    from scipy import ndimage

    m = int(rng.integers(8, 30))
    ink = ndimage.gaussian_filter(np.pad(np.clip(ink, 0, 1), m), rng.uniform(0.3, 1.2))
    paper, level = rng.uniform(0.8, 1.0), rng.uniform(0.0, 0.35)
    return _finish(paper * (1.0 - np.clip(ink, 0, 1) * (1.0 - level)), rng, (0.0, 0.015))


def _scribble(rng) -> np.ndarray:
    size = int(rng.integers(60, 160))
    n = int(rng.integers(6, 25))
    # a smooth random walk: velocity turned by small random angles
    pts, pos, ang = [], np.array([size / 2, size / 2]), rng.uniform(0, 2 * np.pi)
    step = size / rng.uniform(5, 12)
    turn = rng.uniform(0.5, 2.0)
    for _ in range(n * 4):
        ang += rng.normal(0.0, turn)
        pos = np.clip(pos + step / 4 * np.array([np.cos(ang), np.sin(ang)]), 0, size - 1)
        pts.append(pos.copy())
    return _on_paper(_pen(rng, (size, size), pts, rng.uniform(2, size / 12)), rng)


def _blot(rng) -> np.ndarray:
    from scipy import ndimage

    size = int(rng.integers(40, 150))
    field = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), size / rng.uniform(6, 16))
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    field = field / (field.std() + 1e-9) - (xx ** 2 + yy ** 2) * rng.uniform(4, 16)
    ink = (field > np.quantile(field, rng.uniform(0.55, 0.9))).astype(np.float64)
    return _on_paper(ink, rng)


def _sign(rng) -> np.ndarray:
    """A printed sign or shape (not a ring or a bar alone: those are a 0 and a 1)."""
    from PIL import Image, ImageDraw

    s = int(rng.integers(48, 140))
    img = Image.new("L", (s, s), 0)
    d = ImageDraw.Draw(img)
    w = max(2, int(s * rng.uniform(0.05, 0.14)))
    a, b, c = 0.1 * s, 0.5 * s, 0.9 * s
    kind = rng.integers(9)
    if kind == 0:  # plus
        d.line([(a, b), (c, b)], 255, w)
        d.line([(b, a), (b, c)], 255, w)
    elif kind == 1:  # times
        d.line([(a, a), (c, c)], 255, w)
        d.line([(a, c), (c, a)], 255, w)
    elif kind == 2:  # an arrow, any of four ways
        d.line([(a, b), (c, b)], 255, w)
        d.line([(c, b), (0.65 * s, 0.25 * s)], 255, w)
        d.line([(c, b), (0.65 * s, 0.75 * s)], 255, w)
        img = img.rotate(90 * int(rng.integers(4)))
    elif kind == 3:  # hash
        for t in (0.35, 0.65):
            d.line([(a, t * s), (c, t * s)], 255, w)
            d.line([(t * s, a), (t * s, c)], 255, w)
    elif kind == 4:  # asterisk / star
        for k in range(int(rng.integers(3, 6))):
            t = np.pi * k / 3 + rng.uniform(0, 0.3)
            d.line([(b - 0.4 * s * np.cos(t), b - 0.4 * s * np.sin(t)),
                    (b + 0.4 * s * np.cos(t), b + 0.4 * s * np.sin(t))], 255, w)
    elif kind == 5:  # triangle
        d.polygon([(b, a), (c, c), (a, c)], outline=255, width=w, fill=255 if rng.random() < 0.4 else None)
    elif kind == 6:  # filled square or rectangle
        d.rectangle([(a, rng.uniform(a, b)), (c, c)], fill=255)
    elif kind == 7:  # smiley: a face with eyes and a mouth
        d.ellipse([(a, a), (c, c)], outline=255, width=w)
        e = max(2, w)
        for x in (0.37 * s, 0.63 * s):
            d.ellipse([(x - e, 0.38 * s - e), (x + e, 0.38 * s + e)], fill=255)
        d.arc([(0.3 * s, 0.35 * s), (0.7 * s, 0.72 * s)], 20, 160, 255, w)
    else:  # check mark
        d.line([(a, 0.55 * s), (0.4 * s, c), (c, a)], 255, w, joint="curve")
    ink = np.asarray(img, dtype=np.float64) / 255.0
    return _on_paper(ink, rng)


_DRAW = {"noise": _noise, "ruled": _ruled, "squared": _squared, "box": _box, "photo": _photo,
         "scribble": _scribble, "blot": _blot, "sign": _sign}


# --- digits cut wrong ------------------------------------------------------------

def _digit_ink(rng, digits, digit_labels, avoid=()) -> np.ndarray:
    from lecun89.reader.heldout import ink_box, mnist_ink

    for _ in range(100):
        i = int(rng.integers(len(digits)))
        if int(digit_labels[i]) not in avoid:
            return ink_box(mnist_ink(digits[i]))
    raise ValueError("no digit to cut")


def _cut_wrong(kind, rng, digits, digit_labels) -> np.ndarray:
    """Ink (H, W) of a piece of a row that is not one whole digit."""
    from lecun89.reader.heldout import row_image

    if kind == "half":
        ink = _digit_ink(rng, digits, digit_labels, NOT_HALVED)
        h, w = ink.shape
        f = rng.uniform(0.3, 0.55)
        side = int(rng.integers(4))
        if side == 0:
            return ink[:, :max(1, round(w * f))]
        if side == 1:
            return ink[:, w - max(1, round(w * f)):]
        if side == 2:
            return ink[:max(1, round(h * f))]
        return ink[h - max(1, round(h * f)):]
    a, b = _digit_ink(rng, digits, digit_labels), _digit_ink(rng, digits, digit_labels)
    if kind == "neighbour":  # touching: a piece apart would be a speck or a piece of its own
        wb, right = b.shape[1], rng.random() < 0.5  # the piece on the digit's right: the neighbour's left part
        for f in np.linspace(rng.uniform(0.35, 0.6), 1.0, 8):
            piece = b[:, :max(1, round(wb * f))] if right else b[:, wb - max(1, round(wb * f)):]
            if piece.sum() >= PIECE_SHARE * a.sum():
                break
        a, b = (a, piece) if right else (piece, a)
        gap = int(rng.integers(-5, 0))
    else:
        gap = int(rng.integers(-8, 10))
    return row_image([a, b], [gap], [1.0, float(rng.uniform(0.85, 1.15))], [0, int(rng.integers(0, 10))], margin=0)


# --- the junk of the benchmark ---------------------------------------------------

# The benchmark's mix: another recipe than training's (more blank paper and
# blank photos, fewer digits cut wrong), each picture written as an image file
# (JPEG for the photos, PNG else) and read through the reader's whole file path.
BENCH_MIX: dict[str, float] = {"noise": 0.1, "ruled": 0.12, "squared": 0.12, "box": 0.1, "photo": 0.12,
                               "scribble": 0.08, "blot": 0.06, "sign": 0.1, "half": 0.08, "pair": 0.06,
                               "neighbour": 0.06}
# (writers' group whose digits are cut, how many pictures, seed): the tuning
# junk chooses the none-threshold, the report junk reports it. Seeds other than
# the training junk's (lecun89.data.usps_mnist_junk.JUNK_SEED, 30).
JUNK_GROUPS = {"tune": ("tune", 1000, 31), "report": ("report", 1000, 32)}
# The none-threshold rejects at most this share of the tuning writers' clean
# digits: three quarters of the one-point budget, the rest a margin for
# other writers (chosen on the tuning writers and their junk, docs/strangers.md).
NONE_REJECT = 0.0075


def junk_file(kind: str, rng: np.random.Generator, digits=None, digit_labels=None) -> bytes:
    """One junk picture of ``kind`` written as an image file's bytes (JPEG for a photo, PNG else)."""
    import io

    from PIL import Image

    gray = junk_gray(kind, rng, digits, digit_labels)
    buf = io.BytesIO()
    img = Image.fromarray(np.round(255.0 * gray).astype(np.uint8))
    if kind == "photo":
        img.convert("RGB").save(buf, format="JPEG", quality=int(rng.integers(60, 90)))
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def junk_kinds(n: int, seed, mix: dict[str, float] | None = None) -> list[str]:
    """The kinds of the benchmark's ``n`` junk pictures for ``seed`` (drawn from ``mix``)."""
    mix = BENCH_MIX if mix is None else mix
    kinds = list(mix)
    p = np.array([mix[k] for k in kinds])
    return [kinds[k] for k in np.random.default_rng(seed).choice(len(kinds), size=n, p=p / p.sum())]


def bench_junk_file(i: int, kind: str, seed, digits, digit_labels) -> bytes:
    """The benchmark's ``i``-th junk picture for ``seed`` (of :func:`junk_kinds`' ``kind``), as a file's bytes."""
    return junk_file(kind, np.random.default_rng([*np.atleast_1d(seed).tolist(), i]), digits, digit_labels)


def bench_junk(n: int, seed, digits, digit_labels, mix: dict[str, float] | None = None):
    """The benchmark's junk: ``n`` files read as ``lecun89 predict`` reads them ->
    (16x16 inputs (n, 16, 16), NaN where the reader found no ink; kinds (n,))."""
    from lecun89.reader.heldout import read

    kinds = junk_kinds(n, seed, mix)
    out = np.full((n, 16, 16), np.nan)
    for i, k in enumerate(kinds):
        try:
            out[i] = read(bench_junk_file(i, k, seed, digits, digit_labels))
        except ValueError:  # blank to the reader: refused before the network
            pass
    return out, np.array(kinds)


def junk_of(group_name: str, data_dir=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The no-digit benchmark set of a group (:data:`JUNK_GROUPS`:
    the digits cut wrong are that group's writers'), read from image files ->
    (inputs (n, 16, 16), NaN where the reader found no ink; kinds (n,))."""
    from lecun89.reader.heldout import GROUPS, group_digits

    writers, n, seed = JUNK_GROUPS[group_name]
    images, labels, _ = group_digits(GROUPS[writers], data_dir)
    return bench_junk(n if limit is None else min(n, limit), seed, images, labels)


def none_threshold(digit_scores: np.ndarray, share: float = NONE_REJECT) -> float:
    """The digit score under which a picture is not a digit, so that at most ``share``
    of ``digit_scores`` (real digits') fall under it: halfway between the highest
    score rejected and the lowest accepted (as :func:`lecun89.metrics.gap_threshold`),
    so that rounding does not move a digit across it."""
    s = np.sort(np.asarray(digit_scores, dtype=np.float64))
    k = int(np.floor(share * len(s)))  # how many may be rejected
    if k == 0:
        return float(s[0]) * 0.5 if s[0] > 0 else float(s[0])
    return 0.5 * (float(s[k - 1]) + float(s[k]))
