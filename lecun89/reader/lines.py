"""The long straight lines of a picture's darkness, found and measured: the
candidates the furniture stage (:mod:`lecun89.reader.furniture`) sorts into a
page's rulings, squared paper's lines, a margin and a form's boxes.

:func:`candidates`: under a tilt, the sheared darkness's grey opening along
its rows with a long thin element (:data:`SIDE_ELEMENT` of the picture, or a
given length, :func:`lecun89.reader.tilt.line_response`), each connected piece
of what stays measured (:class:`Line`: its centre row, the columns it covers,
its thickness, contrast, colour and printed core), the lines a stroke joins
into one piece split by rows (:attr:`Line.parts`), and the pieces of one line
apart along it joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lecun89.reader.tilt import line_response, shear, shifts

# A ruling (a margin) covers at least this share of the picture's width (height).
SPAN = 0.9
# A box's sides are straight over this share of the picture's shorter side
# (the page's lines over tilt.LINE_ELEMENT).
SIDE_ELEMENT = 1 / 4
# A line's thickness: this quantile of its columns' (strokes lying along it thicken a few).
THICK_QUANTILE = 0.25
# A line's colour is its core's: the pixels of each column at least this share of its darkest.
CORE = 0.5


@dataclass(eq=False)  # a candidate is itself (found in lists by identity)
class Line:
    axis: int          # 0: horizontal (found in the picture), 1: vertical (found in its transpose)
    y: float           # centre row in the sheared frame
    y0: int
    y1: int            # rows of the band in the sheared frame (inclusive)
    x0: int
    x1: int            # columns covered (inclusive)
    cover: float       # share of the frame's width covered
    thick: float       # median thickness (pixels)
    contrast: float    # median peak darkness along it
    colour: np.ndarray | None = None  # median darkness per channel (R, G, B) along it
    core: tuple[int, int] | None = None  # the columns between its first and last as dark as CORE x its contrast
    kind: str = ""
    tilt: float = 0.0
    parts: list[Line] = field(default_factory=list)  # the lines it holds when a stroke joins two (:func:`_line_rows`)
    short: bool = False  # found with a shorter element than SIDE_ELEMENT's (a narrow box's top and bottom)


def candidates(d: np.ndarray, cd: np.ndarray | None, thr: float, tilt: float, axis: int,
               length: int | None = None) -> list[Line]:
    """The long straight dark bands along the rows of ``d`` under ``tilt``, each
    measured: straight for ``length`` pixels (default: :data:`SIDE_ELEMENT` of
    the picture's shorter side)."""
    from scipy import ndimage

    h, w = d.shape
    s = shifts(w, tilt)
    # the sheared frame holds ``pad`` rows more above and below: a tilted line
    # that leaves the picture through its top or bottom is found as well
    pad = int(np.abs(s).max(initial=0))
    sd = shear(d, s, pad)
    length = max(8, int(min(h, w) * SIDE_ELEMENT)) if length is None else length
    on = line_response(sd, length) > thr
    labels, n = ndimage.label(on, structure=np.ones((3, 3)))
    if n == 0:
        return []
    scd = None if cd is None else shear(cd, s, pad)
    out = []
    for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        comp = labels[ys, xs] == k
        if np.count_nonzero(comp.any(axis=0)) < length:
            continue
        ln = _measure(sd, scd, s, pad, thr, length, axis, ys, xs, comp)
        if ln is None:
            continue
        for rows in _line_rows(comp, length):
            part = _measure(sd, scd, s, pad, thr, length, axis,
                            slice(ys.start + rows.start, ys.start + rows.stop), xs, comp[rows])
            if part is not None:
                ln.parts.append(part)
        out.append(ln)
    for ln in out:
        for x in [ln, *ln.parts]:
            x.tilt = tilt
    return _merge(out, w)


def _measure(sd, scd, s, pad: int, thr: float, length: int, axis: int, ys: slice, xs: slice,
             comp: np.ndarray) -> Line | None:
    """A piece of the line response (its rows ``ys`` and columns ``xs`` in the
    sheared frame ``sd``, its mask ``comp``) measured: its centre row, cover,
    thickness, contrast and colour; None when it is too short or too faint."""
    h, w = sd.shape[0] - 2 * pad, sd.shape[1]
    cols = np.flatnonzero(comp.any(axis=0))
    if cols.size < length:
        return None
    y0, y1 = max(0, ys.start - 1), min(h + 2 * pad - 1, ys.stop)
    band = sd[y0:y1 + 1, xs.start:xs.stop][:, cols]
    dk = band > thr
    per = dk.sum(axis=0)
    thick = float(np.quantile(per, THICK_QUANTILE))  # where no stroke lies on the line
    if thick < 0.5:
        return None
    bare = per <= 1.5 * thick + 1  # its row from the columns where it is bare
    rows = np.arange(y0, y1 + 1)[:, None] - pad
    wts = (band * dk)[:, bare]
    yc = float((wts * rows).sum() / max(wts.sum(), 1e-9))
    colour = None
    if scd is not None:  # the colour of the line's core (its soft edges are paler: a stroke on it is darker)
        part = scd[y0:y1 + 1, xs.start:xs.stop][:, cols]
        core = dk & (band >= CORE * band.max(axis=0, keepdims=True))
        colour = np.median(part[core], axis=0) if core.any() else None
    # a tilted line may leave the picture through its top or bottom: its
    # cover is of the columns where its row lies inside the picture
    possible = int(np.count_nonzero((round(yc) + s >= 0) & (round(yc) + s < h)))
    peak = band.max(axis=0)
    contrast = float(np.median(peak))
    printed = cols[peak >= CORE * contrast]  # its ends where the line itself is (not a shade it runs into)
    return Line(axis, yc, y0 - pad, y1 - pad, xs.start + int(cols[0]), xs.start + int(cols[-1]),
                 cols.size / max(possible, 1) if possible >= length else cols.size / w,
                 thick, contrast, colour, (xs.start + int(printed[0]), xs.start + int(printed[-1])))


def _line_rows(comp: np.ndarray, length: int) -> list[slice]:
    """A piece's rows split at the lines it holds, when it holds two or more: the
    runs of rows where it covers :data:`SPAN` of its columns (a line; a stroke
    beside a line is shorter). On squared paper a digit's steep stroke lying
    between two lines joins them into one piece. The rows are the piece's own
    (from 0); one line: none."""
    full = comp.sum(axis=1) >= max(length, SPAN * np.count_nonzero(comp.any(axis=0)))
    starts = np.flatnonzero(full & ~np.r_[False, full[:-1]])
    if len(starts) < 2:
        return []
    ends = np.flatnonzero(full & ~np.r_[full[1:], False]) + 1
    return [slice(a, b) for a, b in zip(starts, ends, strict=True)]


def _merge(lines: list[Line], w: int) -> list[Line]:
    """Pieces of one line (the same rows, apart along it) joined into one."""
    lines = sorted(lines, key=lambda ln: ln.y)
    out: list[Line] = []
    for ln in lines:
        prev = out[-1] if out else None
        if prev is not None and abs(prev.y - ln.y) <= max(1.5, 0.5 * (prev.thick + ln.thick)) and (
                ln.x0 > prev.x1 or prev.x0 > ln.x1):
            a, b = prev.cover * w, ln.cover * w
            out[-1] = Line(ln.axis, (prev.y * a + ln.y * b) / (a + b), min(prev.y0, ln.y0), max(prev.y1, ln.y1),
                            min(prev.x0, ln.x0), max(prev.x1, ln.x1), (a + b) / w,
                            prev.thick if a >= b else ln.thick, prev.contrast if a >= b else ln.contrast,
                            prev.colour if a >= b else ln.colour,
                            (min(prev.core[0], ln.core[0]), max(prev.core[1], ln.core[1])))
        else:
            out.append(ln)
    return out
