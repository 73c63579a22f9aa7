"""Stage 2 of the reader: the ink, told apart from the paper and its light.

Gray levels in [0, 1] -> ink (H, W) in [0, 1], 0 background and 1 the strongest
ink (:func:`ink_map`). The background is the gray level around the digit (the
innermost uniform margin, or the most common level along the picture's edge;
for paper lit unevenly, a smooth surface fitted to the edge); the ink is what
differs from it on one side (dark on light paper or light on dark); a uniform
frame of another level is not ink.
"""

from __future__ import annotations

import numpy as np

# Ink is what differs from the background by more than this share of the
# strongest ink.
INK_THRESHOLD = 0.1

# A picture with no uniform margin (a photo) has its paper's light fitted by a
# polynomial of this degree (0: one gray level, the most common along the edge).
BACKGROUND_DEGREE = 2

# Gray levels closer than this are one level (uniform edges, ink vs background).
UNIFORM_SPAN = 0.1

# A row of digits is written on paper that shows around it: at least this share
# of the picture is paper reached from its edge (:func:`paper_share`). The
# tuning writers' 400 zip codes on white, ruled and squared paper, spaced and
# touching, leave 0.66 or more; noise has no paper to show. Under half the lowest
# tuning row's share, a margin for other pages (docs/strangers.md). Of 1,600 such
# codes, read later, one falls under it: a ruled photo whose shadow the ink
# stage takes for ink (paper 0.196), read wrong without the rule too.
ROW_PAPER = 0.3

# A cut between two written digits crosses their strokes, not solid ink: a cut
# through a vertical run of ink this long (a share of the ink's height,
# :func:`column_runs`) slices solid ink. The filled signs of the tuning junk read
# as rows (1111...) are cut through 0.93 or more at every cut (docs/strangers.md).
SOLID_CUT = 0.9

# ... and a row is a solid shape sliced into bars when at least this share of its
# chosen cuts slice solid ink (:func:`sliced`). One cut may run down a stroke:
# where two touching digits share a stem, the cuts of the tuning writers' 1,600
# zip codes read right on white, ruled and squared paper reach 0.90 at their most
# solid, but their second most solid stays under 0.70 (docs/strangers.md).
SOLID_SHARE = 0.5
# ... and at least this many of them: a row of two or three digits whose one cut
# runs down a stem two touching digits share (11, 14) is a row.
MIN_SOLID = 2


def _background(gray: np.ndarray, degree: int = BACKGROUND_DEGREE) -> tuple[float | np.ndarray, np.ndarray]:
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
        if degree > 0:
            light = _lighting(gray, degree)
            edge = np.concatenate([light[0], light[-1], light[:, 0], light[:, -1]])
            if (np.mean(np.abs(ring - edge) < UNIFORM_SPAN / 2)
                    > np.mean(np.abs(ring - bg) < UNIFORM_SPAN / 2) + 0.1):
                return light, np.ones(gray.shape, dtype=bool)
    frame = max((i + 1 for i, v in enumerate(levels) if abs(v - bg) >= UNIFORM_SPAN), default=0)
    inside = np.zeros(gray.shape, dtype=bool)
    inside[frame:h - frame, frame:w - frame] = True
    return bg, inside

def _lighting(gray: np.ndarray, degree: int = BACKGROUND_DEGREE) -> np.ndarray:
    """The paper's gray level at every pixel (H, W), for a picture with no uniform
    margin (a photo: paper lit unevenly): a smooth surface (a polynomial of
    degree ``degree`` in x and y) fitted to the picture's outer band,
    where the paper shows, with the pixels that stand out from it (strokes that
    cross the edge) left out, round after round."""
    h, w = gray.shape
    band = max(1, min(h, w) // 32)
    edge = np.zeros((h, w), dtype=bool)
    edge[:band], edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True, True
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
    terms = [xx ** i * yy ** (d - i) for d in range(degree + 1) for i in range(d + 1)]
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
    return sum(c * t for c, t in zip(coef, terms, strict=True))

def ink_map(gray: np.ndarray, background_degree: int = BACKGROUND_DEGREE) -> np.ndarray:
    """Gray levels in [0, 1] -> ink (H, W) in [0, 1]: 0 background, 1 the strongest ink.

    The ink is on the side of the background where most of what differs from it
    lies. ``background_degree``: the degree of the surface fitted to a photo's
    light (0: one gray level). Raises ValueError when nothing differs from the
    background."""
    gray = np.asarray(gray, dtype=np.float64)
    bg, inside = _background(gray, background_degree)
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


def paper_share(ink: np.ndarray) -> float:
    """The share of a picture that is paper reached from its edge: pixels where
    the ink (:func:`ink_map`'s) is below :data:`INK_THRESHOLD`, connected to the
    picture's border through such pixels (4-connected, the border itself counted
    as paper, so a row cropped tight is not cut into pieces). Writing on paper
    leaves most of it; noise leaves little (its paper is broken up)."""
    from scipy import ndimage

    paper = np.pad(np.asarray(ink) < INK_THRESHOLD, 1, constant_values=True)
    labels, _ = ndimage.label(paper)
    return float((labels == labels[0, 0]).sum() - (paper.size - np.asarray(ink).size)) / np.asarray(ink).size



def column_runs(ink: np.ndarray) -> np.ndarray:
    """Per column of a picture (W,): its longest vertical run of ink (at least
    :data:`INK_THRESHOLD`) as a share of the ink's height (the rows from the
    first to the last that hold ink); zeros for a picture with no ink."""
    on = np.asarray(ink) >= INK_THRESHOLD
    rows = np.flatnonzero(on.any(axis=1))
    best = np.zeros(on.shape[1])
    if not len(rows):
        return best
    run = np.zeros(on.shape[1])
    for line in on:
        run = (run + 1.0) * line
        np.maximum(best, run, out=best)
    return best / (rows[-1] - rows[0] + 1)


def solid_cuts(runs) -> int:
    """How many of a row's cuts, each given by the run of ink it crosses (a share
    of the ink's height, :func:`column_runs`), slice solid ink: cross
    :data:`SOLID_CUT` or more."""
    return int(np.count_nonzero(np.asarray(list(runs), dtype=np.float64) >= SOLID_CUT))


def sliced(runs) -> bool:
    """Whether a row's chosen cuts (as :func:`solid_cuts` takes them) slice a
    solid shape into bars: at least :data:`SOLID_SHARE` of them, and
    :data:`MIN_SOLID`, slice solid ink. False for no cuts or one."""
    runs = list(runs)
    n = solid_cuts(runs)
    return n >= MIN_SOLID and n >= SOLID_SHARE * len(runs)
