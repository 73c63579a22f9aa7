"""A row's ink in pieces: the pieces of connected ink (:func:`find_pieces`,
what :mod:`lecun89.reader.segment` over-segments) and the cutter that came
before the network chose the cuts (:func:`find_digits`, one piece per digit,
kept as the benchmark's baseline).

1. the pieces of connected ink (8-connected, above the ink threshold of
   :mod:`lecun89.reader.ink`); tall pieces lying mostly in the same columns
   are one digit, a short piece (a 5's detached bar, a broken stroke) belongs
   to the digit nearest it, and a short piece far from every digit is a speck;
2. a piece wider than ``wide`` (1.1) times the row's height (touching digits)
   is cut into as many digits as its width holds at ``aspect`` (0.8) times that
   height each, each cut at the column near the expected one where the ink is
   thinnest (both numbers chosen on the held-out-writers benchmark's tuning
   rows);
3. each pixel of faint ink (a stroke's edge) goes to the nearest digit
   (:func:`digit_inks`).

Digits come left to right, as boolean masks of the picture.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from lecun89.reader.ink import INK_THRESHOLD

# Pieces overlapping by this share of the narrower one's columns are one digit.
SAME_DIGIT_OVERLAP = 0.5

# A piece wider than this many times the row's digit height holds touching
# digits, as many as its width holds at ASPECT times that height each.
WIDE = 1.1
ASPECT = 0.8
# A piece under this share of the row's height is part of a digit, not one.
PART = 0.5

# Ink under this many pixels high is dust, not a digit.
MIN_HEIGHT = 4
# A short piece this share of the row's height or more above or below its tall
# pieces is no part of a digit (a remnant of a ruling, grain at the picture's edge).
ABOVE_BELOW = 0.2

# At most this many digits in a row.
MAX_DIGITS = 40


def find_pieces(ink: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the ink's pieces, one per digit candidate: pieces at
    least half the row's height (the tallest piece's) lying mostly in the same
    columns are merged; shorter pieces (a 5's bar, a broken stroke) join the
    nearest of those within half that height, and the rest (and what lies
    more than :data:`ABOVE_BELOW` of that height above or below the tall
    pieces) are specks."""
    from scipy import ndimage

    mask = ink > INK_THRESHOLD * float(ink.max())
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return []
    slices = ndimage.find_objects(labels)
    cols = [(s[1].start, s[1].stop) for s in slices]
    heights = np.array([s[0].stop - s[0].start for s in slices])
    tall = (heights >= PART * heights.max()) & (heights >= MIN_HEIGHT)
    groups: list[dict] = []
    for i in sorted(np.flatnonzero(tall), key=lambda i: cols[i][0] - cols[i][1]):  # widest first
        c0, c1 = cols[i]
        for g in groups:
            if min(c1, g["c1"]) - max(c0, g["c0"]) >= SAME_DIGIT_OVERLAP * min(c1 - c0, g["c1"] - g["c0"]):
                g["ids"].append(i + 1)
                g["c0"], g["c1"] = min(c0, g["c0"]), max(c1, g["c1"])
                break
        else:
            groups.append({"ids": [i + 1], "c0": c0, "c1": c1})
    if not groups:
        return []
    reach = PART * heights.max()
    margin = ABOVE_BELOW * heights.max()
    top = min(slices[i][0].start for i in np.flatnonzero(tall)) - margin
    bottom = max(slices[i][0].stop for i in np.flatnonzero(tall)) + margin
    for i in np.flatnonzero(~tall):
        if slices[i][0].start >= bottom or slices[i][0].stop <= top:
            continue  # above or below the row (a remnant of the page's furniture, grain at its edge): a speck
        c0, c1 = cols[i]
        dist = [max(g["c0"] - c1, c0 - g["c1"], 0) for g in groups]
        k = int(np.argmin(dist))
        if dist[k] <= reach:
            groups[k]["ids"].append(i + 1)
    return [np.isin(labels, g["ids"]) for g in groups]

def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1

def _cut(ink: np.ndarray, mask: np.ndarray, n: int) -> list[np.ndarray]:
    """Cut one piece into ``n`` digits at the thinnest columns near the even cuts."""
    left, _, right, _ = box_of(mask)
    profile = (ink * mask).sum(axis=0)[left:right]
    width = right - left
    cuts = [0]
    for k in range(1, n):
        expected = k * width / n
        lo = max(cuts[-1] + 1, int(expected - width / (4 * n)))
        hi = min(width - 1, int(expected + width / (4 * n)) + 1)
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else int(expected))
    cuts.append(width)
    parts = []
    for a, b in pairwise(cuts):
        part = np.zeros_like(mask)
        part[:, left + a:left + b] = mask[:, left + a:left + b]
        if part.any():
            parts.append(part)
    return parts

def find_digits(ink: np.ndarray, wide: float = WIDE, aspect: float = ASPECT) -> list[np.ndarray]:
    """Ink (H, W) in [0, 1] -> one boolean mask per digit, left to right; a piece
    wider than ``wide`` times the row's height is cut into digits ``aspect``
    times that height wide."""
    pieces = find_pieces(ink)
    if not pieces:
        return []
    boxes = [box_of(p) for p in pieces]
    # The row's digit height: the tallest piece's (a piece of touching digits is
    # as tall as a digit; a detached stroke is shorter).
    height = float(max(b[3] - b[1] for b in boxes))
    digits = []
    for p, (left, _, right, _) in zip(pieces, boxes, strict=True):
        w = right - left
        n = max(2, int(round(w / (aspect * height)))) if w > wide * height else 1
        digits.extend(_cut(ink, p, n) if n > 1 else [p])
    return sorted(digits, key=lambda m: box_of(m)[0])


def digit_inks(ink: np.ndarray, masks: list[np.ndarray]) -> list[np.ndarray]:
    """Each digit's ink: every pixel of ink (faint edges included) goes to the
    digit whose mask is nearest it."""
    from scipy import ndimage

    seeds = np.zeros(ink.shape, dtype=np.int32)
    for k, m in enumerate(masks, start=1):
        seeds[m] = k
    _, (ri, ci) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = seeds[ri, ci]
    return [np.where(owner == k, ink, 0.0) for k in range(1, len(masks) + 1)]
