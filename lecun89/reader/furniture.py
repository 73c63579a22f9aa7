"""Stage 1b of the reader: page furniture out, strokes kept.

Gray levels (H, W) in [0, 1] (0 black, 1 white), and where the file has them
its colours (H, W, 3) -> the same gray levels with the page's printed lines
whitened (:func:`remove_furniture`): ruling lines (horizontal, across the
picture), squared paper (horizontal and vertical lines), a margin line (a
vertical line from top to bottom, often red) and a form field's box (a
closed rectangle around the ink, or a comb of boxes along a row).

The recipe is the document-image one (Leptonica's line removal): the picture's
tilt is found (:func:`lecun89.reader.tilt.page_tilt`: the shear under which what is
long and straight lies the most along the rows); a grey-level opening of the
darkness with a long thin element (a third of the picture, or a quarter for a
box's sides) finds what is long and straight; each candidate is measured (its
span, thickness, contrast and colour). A candidate is furniture only when it
spans the picture (a ruling, a margin) or closes a rectangle (a box), and
looks unlike the writing: thinner than the strokes, lighter, of another
colour, or one of three or more parallel lines; a line along the picture's
edge is a frame, unless it continues a ruled or squared page's lines (spaced
as they are: a photo's page runs on past its edge). Two of a page's lines
that a digit's stroke joins (a steep stroke between two of squared paper's
lines, a thick bar between two close rulings) are found as one candidate,
split into the lines it holds when lines beside them make a page. A digit's
own straight strokes (a 1, a 7's bar) do not span the picture, do not close
a rectangle, and are as thick, dark and coloured as the rest of the digit.
A line's pixels are set to the paper's level, except where ink darker than
the line (or of another colour) lies on it; a stroke cut by the whitening is
repaired inside the line's band (a grey opening across the line fills a gap
with ink on both sides). Nothing found: the gray levels are returned untouched (the same
array), so a picture without furniture is read exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lecun89.reader.lines import SIDE_ELEMENT, SPAN, Line, candidates
from lecun89.reader.tilt import page_tilt, shifts

# A line is darker than the paper by at least this share of the paper's level
# (and by 4 noise deviations).
MIN_CONTRAST = 0.06
# A ruling (a margin) is at most this share of the picture's width (height) thick:
# a digit's stroke across a tight crop is thicker.
LINE_THIN = 0.04
# Furniture looks unlike the writing: thinner than THIN x the strokes' width,
# or its contrast under LIGHT x the ink's, or its colour COLOUR degrees away.
THIN = 0.75
LIGHT = 0.7
COLOUR = 20.0
# Three or more parallel spanning lines are a ruled or squared page whatever their look.
REGULAR = 3
# A line along the picture's edge is one of the page's lines when it continues
# at least this many (:func:`_edge_lines`).
EDGE_PAGE = 2
# A box's sides are at most this many times as thick as its top and bottom (+1 pixel).
BOX_THICK = 1.5
# ... and as dark as its top and bottom (their mean contrast) within this factor either way.
BOX_ALIKE = 0.7
# A box narrower than the element (:data:`lecun89.reader.lines.SIDE_ELEMENT`)
# has its top and bottom looked for with an element this share of its width.
BOX_SHORT = 0.8
# A box's lines are thinner than this share of its shorter side (a thick 0 is no box).
BOX_THIN = 0.1
# A box with no ink inside is furniture when its lines are thinner than this share of its shorter side.
BLANK_BOX_THIN = 0.05
# What differs from the smoothed picture by this much stands out (light or dark ink).
UNIFORM = 0.1
# A line's band is whitened this many pixels beyond its dark rows (its soft edges).
GROW = 2
# Pictures smaller than this (pixels, shorter side) are not looked at.
MIN_SIDE = 32


@dataclass
class Cleaned:
    gray: np.ndarray                  # the gray levels with the furniture whitened (the input when none was found)
    removed: np.ndarray               # (H, W) bool: the pixels judged furniture
    found: list[dict] = field(default_factory=list)  # {"kind": "ruling"|"grid"|"box"|"margin", ...position...}


def remove_furniture(gray: np.ndarray, rgb: np.ndarray | None = None) -> Cleaned:
    """Gray levels (H, W) in [0, 1] (0 black, 1 white), optionally the picture's
    colours (H, W, 3) in [0, 1] -> :class:`Cleaned`: the gray levels with the
    page's furniture (rulings, squared paper's lines, a margin line, a form's
    box) set to the paper's level and crossing strokes repaired, the mask of
    what was removed, and what was found (kind and position). Nothing found:
    the input array itself, untouched."""
    gray = np.asarray(gray, dtype=np.float64)
    h, w = gray.shape
    none = Cleaned(gray, np.zeros((h, w), dtype=bool), [])
    if min(h, w) < MIN_SIDE or _light_on_dark(gray):
        return none
    paper = paper_level(gray)
    dark = np.clip((paper - gray) / np.clip(paper, 0.05, None), 0.0, None)
    resid = dark - np.median(dark)
    noise = 1.4826 * float(np.median(np.abs(resid)))
    thr = max(MIN_CONTRAST, 4.0 * noise)
    cdark = None
    if rgb is not None:
        rgb = np.asarray(rgb, dtype=np.float64)
        cpaper = np.stack([paper_level(rgb[..., c]) for c in range(3)], axis=-1)
        cdark = np.clip((cpaper - rgb) / np.clip(cpaper, 0.05, None), 0.0, None)
    lines = []
    tilts = {}
    for axis in (0, 1):
        d = dark if axis == 0 else dark.T
        cd = None if cdark is None else (cdark if axis == 0 else cdark.transpose(1, 0, 2))
        tilt = page_tilt(d, thr)
        if tilt is None:
            continue
        tilts[axis] = tilt
        lines += candidates(d, cd, thr, tilt, axis)
    lines += _narrow_box_lines(dark, cdark, thr, tilts, lines)
    if not lines:
        return none
    chosen = _classify(lines, dark, cdark, thr, tilts)
    if not chosen:
        return none
    out, removed = _whiten(gray, dark, cdark, paper, chosen, tilts, thr, noise)
    return Cleaned(out, removed, [_describe(ln, tilts[ln.axis], dark.shape) for ln in chosen])


def _light_on_dark(gray: np.ndarray) -> bool:
    """More of what stands out from the picture's local median (over a quarter
    of it) is lighter than darker (chalk on a board, white ink): no page
    furniture is looked for."""
    from scipy import ndimage

    h, w = gray.shape
    f = max(1, min(h, w) // 48)
    small = gray[:h // f * f, :w // f * f].reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    r = small - ndimage.median_filter(small, size=max(3, min(small.shape) // 4), mode="nearest")
    return int((r > UNIFORM).sum()) > int((r < -UNIFORM).sum())


def paper_level(gray: np.ndarray) -> np.ndarray:
    """The paper's level at every pixel (H, W): a grey closing (which takes away
    whatever is darker and narrower than a sixth of the picture: strokes,
    lines) of the picture shrunk to about 96 pixels, smoothed and enlarged back."""
    from scipy import ndimage

    h, w = gray.shape
    f = max(1, min(h, w) // 96)
    hh, ww = h // f, w // f
    small = gray[:hh * f, :ww * f].reshape(hh, f, ww, f).mean(axis=(1, 3))
    size = max(3, min(hh, ww) // 6)
    closed = ndimage.grey_closing(small, size=(size, size), mode="nearest")
    smooth = ndimage.uniform_filter(closed, size=size, mode="nearest")
    big = ndimage.zoom(smooth, (h / hh, w / ww), order=1, mode="nearest", grid_mode=True)
    return np.clip(big[:h, :w], 1e-3, 1.0)


def _narrow_box_lines(dark, cdark, thr: float, tilts: dict, lines: list[Line]) -> list[Line]:
    """The top and bottom (or the sides) of a box narrower than the element (a
    narrow 1 in its box), looked for again under the box's rotation with an
    element :data:`BOX_SHORT` x the spacing of the two closest parallel lines
    printed alike (:func:`_alike`: its sides, at least a twelfth of the
    picture apart). Only what the element missed is added: no longer than 1.5 x
    that spacing, not spanning the picture (a box's line, no ruling), no line
    found at its rows already. A page's lines (:data:`REGULAR` spanning or
    more) are no box's sides. The lines added are marked ``short``: a box's
    only where they look unlike the writing (:func:`_classify`)."""
    length = max(8, int(min(dark.shape) * SIDE_ELEMENT))
    out = []
    for axis in (0, 1):
        other = [ln for ln in lines if ln.axis != axis]
        gaps = [g for i, a in enumerate(other) for b in other[i + 1:]
                if (g := abs(a.y - b.y)) >= min(dark.shape) / 12 and _alike(a, b)]
        if not gaps or sum(ln.cover >= SPAN for ln in other) >= REGULAR:
            continue
        gap = min(gaps)
        short = max(8, int(BOX_SHORT * gap))
        if short >= length:
            continue
        tilt = tilts[axis] if axis in tilts else -tilts[1 - axis]  # a rectangle's sides turn as its top does
        d, cd = (dark, cdark) if axis == 0 else (dark.T, None if cdark is None else cdark.transpose(1, 0, 2))
        known = [ln for ln in lines if ln.axis == axis]
        found = [ln for ln in candidates(d, cd, thr, tilt, axis, short) if ln.x1 - ln.x0 <= 1.5 * gap
                 and ln.cover < SPAN and not any(abs(ln.y - k.y) <= max(1.5, 0.5 * (ln.thick + k.thick))
                                                 and ln.x0 <= k.x1 and k.x0 <= ln.x1 for k in known)]
        if found:
            tilts[axis] = tilt  # the tilt their bands are whitened at
            out += found
    for ln in out:
        ln.short = True
    return out


def _alike(a: Line, b: Line) -> bool:
    """Two parallel lines that may be a box's two sides: at least 8 pixels apart,
    side by side along four fifths of the shorter at least, as thick within
    :data:`BOX_THICK` (+1 pixel) and as dark within :data:`BOX_ALIKE` either way."""
    overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    return (abs(a.y - b.y) >= 8 and overlap >= 0.8 * min(a.x1 - a.x0, b.x1 - b.x0)
            and max(a.thick, b.thick) <= BOX_THICK * min(a.thick, b.thick) + 1
            and _as_dark(a.contrast, b.contrast))


def _as_dark(contrast: float, level: float) -> bool:
    """A line is printed as dark as ``level`` within :data:`BOX_ALIKE` either way."""
    return BOX_ALIKE * level <= contrast <= level / BOX_ALIKE


def _ink_stats(dark: np.ndarray, cdark: np.ndarray | None, lines: list[Line], thr: float,
               tilts: dict) -> tuple[np.ndarray, float, float, np.ndarray | None]:
    """The ink that is in no candidate's band: (its mask, stroke width, contrast, colour)."""
    from scipy import ndimage

    bands = _bands(dark.shape, lines, tilts, grow=2)
    ink = (dark > max(2.0 * thr, 0.25 * float(dark.max()))) & ~bands
    ink = ndimage.binary_opening(ink, structure=np.ones((2, 2)))  # noise specks are not ink
    if ink.sum() < 20:
        return ink, 0.0, 0.0, None
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    width = 4.0 * float(ndimage.distance_transform_edt(np.pad(crop, 1))[1:-1, 1:-1][crop].mean())
    contrast = float(np.median(dark[ink]))
    colour = None if cdark is None else np.median(cdark[ink], axis=0)
    return ink, width, contrast, colour


def _angle(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Degrees between two colours' darkness vectors (0 when either is unknown)."""
    if a is None or b is None:
        return 0.0
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-6 or nb < 1e-6:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0))))


def _unlike_ink(ln: Line, width: float, contrast: float, colour) -> bool:
    """A line looks unlike the writing: thinner, lighter or of another colour."""
    if width <= 0.0:
        return True
    return (ln.thick <= THIN * width or ln.contrast <= LIGHT * contrast
            or _angle(ln.colour, colour) >= COLOUR)


def _classify(lines: list[Line], dark, cdark, thr: float, tilts: dict) -> list[Line]:
    """The candidates that are furniture, each with its kind."""
    h, w = dark.shape
    span = {axis: [ln for ln in lines if ln.axis == axis and _spans(ln, dark.shape[::-1] if axis else dark.shape)]
            for axis in (0, 1)}
    for axis in (0, 1):
        shape = dark.shape[::-1] if axis else dark.shape
        span[axis] = _split_joined([ln for ln in lines if ln.axis == axis], span[axis], shape)
        # a ruled or squared page's line along the picture's edge is one of its lines, no frame
        if len(span[axis]) >= EDGE_PAGE:
            span[axis] += _edge_lines([ln for ln in lines if ln.axis == axis and ln not in span[axis]],
                                      span[axis], shape)
    # the writing: what is off the spanning lines (a digit's own long strokes included)
    ink, width, contrast, colour = _ink_stats(dark, cdark, span[0] + span[1], thr, tilts)
    chosen = []
    for axis in (0, 1):
        regular = len(span[axis]) >= REGULAR
        for ln in span[axis]:
            if regular or _unlike_ink(ln, width, contrast, colour):
                chosen.append(ln)
    grid = sum(ln.axis == 0 for ln in chosen) >= 2 and sum(ln.axis == 1 for ln in chosen) >= 2
    for ln in chosen:
        ln.kind = "grid" if grid else ("ruling" if ln.axis == 0 else "margin")
    paged = [ln for axis in (0, 1) if len(span[axis]) >= REGULAR for ln in span[axis]]  # a ruled or squared page
    paged += [ln for ln in lines if any(p in paged for p in ln.parts)]  # ... and what held two of its lines
    # a narrow box's top and bottom are printed unlike the writing (a 0's flat top and bottom are its strokes)
    boxed = _boxes([ln for ln in lines if ln not in paged and (not ln.short or _unlike_ink(ln, width, contrast, colour))],
                   ink, tilts, (h, w))
    return [ln for ln in chosen if ln not in boxed] + boxed


def _spans(ln: Line, shape: tuple[int, int]) -> bool:
    """A candidate spans its frame (``shape``: the picture's, or its transpose's
    for a vertical line): a ruling or a margin, not a stroke across a tight crop."""
    return ln.cover >= SPAN and _inside(ln, shape[0]) and ln.thick <= LINE_THIN * shape[1]


def _edge_lines(others: list[Line], page: list[Line], shape: tuple[int, int]) -> list[Line]:
    """Of the candidates that would span their frame but lie along its edge
    (:func:`_inside` false), those that continue a ruled or squared page's lines
    (``page``, at least :data:`EDGE_PAGE` parallel, :func:`_on_page`; not as
    thick: along the edge of a photo the light's fall-off thickens it). A
    photo's page runs on past the picture's edge; a frame around a scan is not
    spaced as a ruling is."""
    return [ln for ln in others if ln.cover >= SPAN and ln.thick <= LINE_THIN * shape[1]
            and not _inside(ln, shape[0]) and _on_page(ln, page)]


def _split_joined(lines: list[Line], span: list[Line], shape: tuple[int, int]) -> list[Line]:
    """The spanning lines ``span`` with the lines of a ruled or squared page that
    a stroke joined into one candidate (its :attr:`Line.parts`, split by rows in
    :func:`lecun89.reader.lines.candidates`) taken apart: each part that spans
    its frame, is printed like the page's lines (no thicker than :data:`BOX_THICK` x their median, +1
    pixel) and continues them (:func:`_on_page`) is one of them. A joined
    candidate that spans (as thin as a line, midway between the two) gives way
    to its parts when all of them are lines. Only a page's lines (at least
    :data:`EDGE_PAGE` others) are split so: two strokes of a digit (a 0's
    sides) that fill a tight crop are no page."""
    page = [ln for ln in span if not ln.parts]
    joined = [ln for ln in lines if ln.parts]
    if len(page) < EDGE_PAGE or not joined:
        return span
    thick = BOX_THICK * float(np.median([ln.thick for ln in page])) + 1.0
    # the spacing of the page's lines with the joined ones among them (when
    # most are joined, the others alone are spaced as every second or third)
    period = _spacing(np.sort([p.y for p in page] + [p.y for ln in joined for p in ln.parts]))
    out = list(span)
    for ln in joined:
        ok = [p for p in ln.parts if _spans(p, shape) and p.thick <= thick and _on_page(p, page, period)]
        if ln not in span:
            out += ok
        elif len(ok) == len(ln.parts):
            out.remove(ln)
            out += ok
    return out


def _spacing(ys: np.ndarray) -> float:
    """The spacing of parallel lines at rows ``ys`` (sorted, at least two): the
    median of the gaps between them up to 1.5 x the least (a line missing
    between two is no spacing)."""
    gaps = np.diff(ys)
    gaps = gaps[gaps >= 1.0]  # two pieces of one line are no spacing
    return float(np.median(gaps[gaps <= 1.5 * gaps.min()])) if gaps.size else 0.0


def _on_page(ln: Line, page: list[Line], period: float | None = None) -> bool:
    """A line continues the page's parallel lines (at least :data:`EDGE_PAGE`):
    a whole number of their spacing (``period``, or :func:`_spacing` of theirs)
    from the nearest of them, within a tenth of it, and as dark within
    :data:`BOX_ALIKE` of their median either way."""
    ys = np.sort([p.y for p in page])
    period = _spacing(ys) if period is None else period
    level = float(np.median([p.contrast for p in page]))
    if period <= 0.0:
        return False
    near = float(ys[np.argmin(np.abs(ys - ln.y))])
    k = round((ln.y - near) / period)
    return (k != 0 and abs(ln.y - near - k * period) <= 0.1 * period
            and _as_dark(ln.contrast, level))


def _inside(ln: Line, size: int) -> bool:
    """Not a frame: a straight line along the picture's edge (uniform frames are
    ink.py's). A line near the edge whose own rows (:func:`_band_rows`) leave paper
    between it and the edge is inside, though its soft edge reaches it."""
    lo, hi = _band_rows(ln)
    return lo > 0 and hi < size - 1 or ln.tilt != 0.0


def _ends(ln: Line, tilts: dict, shape, printed: bool = False) -> tuple[tuple[float, float], tuple[float, float]]:
    """A line's two ends in the picture's (x, y); ``printed``: the ends of its core
    (:attr:`Line.core`), not of the dark band it may run on into."""
    h, w = shape
    along = w if ln.axis == 0 else h
    s = shifts(along, tilts[ln.axis])
    x0, x1 = ln.core if printed and ln.core is not None else (ln.x0, ln.x1)
    a = (float(x0), ln.y + float(s[x0]))
    b = (float(x1), ln.y + float(s[x1]))
    if ln.axis == 1:
        a, b = (a[1], a[0]), (b[1], b[0])
    return a, b


def _boxes(lines, ink, tilts, shape) -> list[Line]:
    """Closed rectangles (a form's box, or a comb of boxes): a top and a bottom
    line joined at both ends by vertical sides (and any between), with writing
    inside, or thin and empty. A digit's straight strokes close no rectangle
    around other ink."""
    hs = sorted((ln for ln in lines if ln.axis == 0), key=lambda ln: ln.y)
    vs = [ln for ln in lines if ln.axis == 1]
    used: list[Line] = []
    for i, top in enumerate(hs):
        for bot in hs[i + 1:]:
            box = _box(top, bot, vs, ink, tilts, shape)
            if box and not any(ln in used for ln in box):
                for ln in box:
                    ln.kind = "box"
                used += box
    return used


def _box(top, bot, vs, ink, tilts, shape) -> list[Line] | None:
    """The lines of the rectangle (or comb) ``top`` and ``bot`` close with
    vertical sides, or None."""
    (tx0, ty0), (tx1, ty1) = _ends(top, tilts, shape)
    (bx0, by0), (bx1, by1) = _ends(bot, tilts, shape)
    left, right = max(tx0, bx0), min(tx1, bx1)
    ytop, ybot = (ty0 + ty1) / 2, (by0 + by1) / 2
    height = ybot - ytop
    if right - left < 0.5 * max(tx1 - tx0, bx1 - bx0) or height < 8:
        return None
    tol = max(3.0, 0.1 * height)
    sides = []
    printed = BOX_THICK * max(top.thick, bot.thick) + 1.0  # a box's lines are printed alike, not a stroke
    level = 0.5 * (top.contrast + bot.contrast)
    for v in vs:
        if v.thick > printed or not _as_dark(v.contrast, level):
            continue
        (vx0, vy0), (vx1, vy1) = _ends(v, tilts, shape, printed=True)
        x = (vx0 + vx1) / 2
        # a side joins the two lines (and does not run on far past them: a grid's line)
        if (left - tol <= x <= right + tol and abs(vy0 - ytop) <= tol + v.thick and abs(vy1 - ybot) <= tol + v.thick):
            sides.append((x, v))
    if len(sides) < 2:
        return None
    sides.sort(key=lambda t: t[0])
    spanning = top.cover >= SPAN and bot.cover >= SPAN  # a comb running off the picture
    if not spanning and (sides[0][0] > left + tol or sides[-1][0] < right - tol):
        return None  # not closed at both ends
    parts = [top, bot] + [v for _, v in sides]
    y0, y1 = int(ytop + tol), int(ybot - tol)
    cells = [(int(a + tol), int(b - tol)) for (a, _), (b, _) in zip(sides[:-1], sides[1:], strict=True)]
    inside = sum(int(ink[max(0, y0):max(0, y1), max(0, a):max(0, b)].sum()) for a, b in cells if b > a)
    side = min(height, right - left)
    if inside >= 20 and all(p.thick <= BOX_THIN * side for p in parts):
        return parts
    thin = all(p.thick <= BLANK_BOX_THIN * side for p in parts)
    return parts if thin else None


def _bands(shape, lines: list[Line], tilts: dict, grow: int = 1) -> np.ndarray:
    """The pixels (H, W) of the lines' bands, ``grow`` rows wider on each side."""
    mask = np.zeros(shape, dtype=bool)
    for ln in lines:
        _band_apply(mask, ln, tilts, grow, lambda m, r, c: m.__setitem__((r, c), True))
    return mask


def _band_rows(ln: Line) -> tuple[int, int]:
    """The line's own rows in its sheared frame (its thickness about its centre,
    a pixel more each side), not a stroke lying along it."""
    lo = max(ln.y0, int(np.floor(ln.y - ln.thick / 2.0 - 1.0)))
    hi = min(ln.y1, int(np.ceil(ln.y + ln.thick / 2.0 + 1.0)))
    return lo, hi


def _band_height(ln: Line) -> int:
    lo, hi = _band_rows(ln)
    return hi - lo + 1


def _band_index(ln: Line, tilt: float, size: tuple[int, int], grow: int):
    """The band's (rows, cols) in the line's own frame (the picture, or its transpose)."""
    h, w = size
    s = shifts(w, tilt)
    lo, hi = _band_rows(ln)
    ys = np.arange(lo - grow, hi + grow + 1)
    xs = np.arange(ln.x0, ln.x1 + 1)
    rows = ys[:, None] + s[xs][None, :]
    cols = np.broadcast_to(xs[None, :], rows.shape)
    ok = (rows >= 0) & (rows < h)
    return np.clip(rows, 0, h - 1), cols, ok


def _band_apply(mask, ln, tilts, grow, fn) -> None:
    m = mask if ln.axis == 0 else mask.T
    rows, cols, ok = _band_index(ln, tilts[ln.axis], m.shape, grow)
    fn(m, rows[ok], cols[ok])


def _whiten(gray, dark, cdark, paper, lines: list[Line], tilts: dict, thr: float, noise: float):
    """The lines' pixels set to the paper's level where no ink lies on them,
    then the strokes across each line repaired inside its band."""
    from scipy import ndimage

    out = gray.copy()
    tau = max(0.1, 3.0 * noise)
    band = np.zeros(gray.shape, dtype=bool)  # the lines' pixels darker than the paper
    kept = np.zeros(gray.shape, dtype=bool)  # ... of which ink lies on the line
    for ln in lines:
        rows, cols, ok = _band_index(ln, tilts[ln.axis], dark.shape[::-1] if ln.axis else dark.shape, GROW)
        r, c = (rows[ok], cols[ok]) if ln.axis == 0 else (cols[ok], rows[ok])  # the picture's (row, column)
        on = dark[r, c] > 0.25 * thr
        if cdark is not None and ln.colour is not None:
            ink = np.max(cdark[r, c] - ln.colour[None, :], axis=1) > tau
        else:
            ink = dark[r, c] - ln.contrast > tau
        band[r[on], c[on]] = True
        kept[r[on & ink], c[on & ink]] = True
    # ink on a line is a stroke crossing it: connected to ink off the lines
    outside = (dark > max(2.0 * thr, 0.25 * float(dark.max()))) & ~_bands(dark.shape, lines, tilts, GROW)
    labels, _ = ndimage.label(outside | kept, structure=np.ones((3, 3)))
    crossing = np.isin(labels, np.unique(labels[outside]))
    removed = band & ~(kept & crossing)
    out[removed] = paper[removed]
    for ln in lines:  # repairs: a stroke with ink on both sides of the band is joined across it
        g = out if ln.axis == 0 else out.T
        rm = removed if ln.axis == 0 else removed.T
        pad = int(ln.thick) + 3
        rows, cols, ok = _band_index(ln, tilts[ln.axis], g.shape, GROW + pad)
        strip = np.where(ok, g[rows, cols], 1.0)
        k = _band_height(ln) + 2 * GROW + 2  # longer than the band: a gap across all of it is filled
        opened = ndimage.grey_opening(strip, size=(k, 1), mode="nearest")
        fill = ok & rm[rows, cols] & (opened < strip)  # only where the line was whitened
        g[rows[fill], cols[fill]] = opened[fill]
    return out, removed


def _describe(ln: Line, tilt: float, shape) -> dict:
    """What was found, in the picture's pixels."""
    (x0, y0), (x1, y1) = _ends(ln, {ln.axis: tilt}, shape)
    return {"kind": ln.kind, "orientation": "horizontal" if ln.axis == 0 else "vertical",
            "from": [round(x0, 1), round(y0, 1)], "to": [round(x1, 1), round(y1, 1)],
            "tilt": round(tilt, 2), "thickness": round(ln.thick, 1), "contrast": round(ln.contrast, 3)}
