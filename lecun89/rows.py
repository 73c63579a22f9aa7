"""A row of handwritten digits (a zip code, a house number) -> one digit at a time.

The paper's system read zip codes whose digits had already been cut apart; here
the cutting is plain and stated:

1. the picture's ink, with the same background rules as a single digit
   (:func:`lecun89.digits_in.ink_map`);
2. the pieces of connected ink (8-connected, above the same ink threshold);
   tall pieces lying mostly in the same columns are one digit, a short piece (a
   5's detached bar, a broken stroke) belongs to the digit nearest it, and a
   short piece far from every digit is a speck;
3. a piece wider than WIDE (1.1) times the row's height (touching digits) is
   cut into as many digits as its width holds at ASPECT (0.8) times that height
   each, each cut at the column near the expected one where the ink is thinnest
   (both numbers chosen on the held-out-writers benchmark's tuning rows);
4. each digit's ink (with its faint edges) goes through the single-digit steps
   (:func:`lecun89.digits_in.fit_16`: deslanting, the box fitted to 16x16).

Digits come left to right, each with its box in the picture's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lecun89.digits_in import INK_THRESHOLD, fit_16

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
# At most this many digits in a row.
MAX_DIGITS = 40


@dataclass
class Digit:
    x16: np.ndarray            # the network's input (16, 16)
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the picture, right/bottom exclusive


def _pieces(ink: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the ink's pieces, one per digit candidate: pieces at
    least half the row's height (the tallest piece's) lying mostly in the same
    columns are merged; shorter pieces (a 5's bar, a broken stroke) join the
    nearest of those within half that height, and the rest are specks."""
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
    for i in np.flatnonzero(~tall):
        c0, c1 = cols[i]
        dist = [max(g["c0"] - c1, c0 - g["c1"], 0) for g in groups]
        k = int(np.argmin(dist))
        if dist[k] <= reach:
            groups[k]["ids"].append(i + 1)
    return [np.isin(labels, g["ids"]) for g in groups]


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _cut(ink: np.ndarray, mask: np.ndarray, n: int) -> list[np.ndarray]:
    """Cut one piece into ``n`` digits at the thinnest columns near the even cuts."""
    left, _, right, _ = _box(mask)
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
    for a, b in zip(cuts[:-1], cuts[1:]):
        part = np.zeros_like(mask)
        part[:, left + a:left + b] = mask[:, left + a:left + b]
        if part.any():
            parts.append(part)
    return parts


def find_digits(ink: np.ndarray) -> list[np.ndarray]:
    """Ink (H, W) in [0, 1] -> one boolean mask per digit, left to right."""
    pieces = _pieces(ink)
    if not pieces:
        return []
    boxes = [_box(p) for p in pieces]
    # The row's digit height: the tallest piece's (a piece of touching digits is
    # as tall as a digit; a detached stroke is shorter).
    height = float(max(b[3] - b[1] for b in boxes))
    digits = []
    for p, (left, _, right, _) in zip(pieces, boxes):
        w = right - left
        n = max(2, int(round(w / (ASPECT * height)))) if w > WIDE * height else 1
        digits.extend(_cut(ink, p, n) if n > 1 else [p])
    return sorted(digits, key=lambda m: _box(m)[0])


def read_row(ink: np.ndarray, deslant: bool = True) -> list[Digit]:
    """Ink (H, W) in [0, 1] -> the row's digits, left to right, each read as a
    single digit is. ValueError when no digit is found or there are too many."""
    from scipy import ndimage

    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2 or float(ink.max(initial=0.0)) <= 0.0:
        raise ValueError("blank image (no ink)")
    masks = find_digits(ink)
    if not masks:
        raise ValueError("no digits found")
    if len(masks) > MAX_DIGITS:
        raise ValueError(f"{len(masks)} pieces of ink found, more than the {MAX_DIGITS} digits a row may hold")
    # Each pixel of faint ink (the strokes' edges) belongs to the nearest digit.
    seeds = np.zeros(ink.shape, dtype=np.int32)
    for k, m in enumerate(masks, start=1):
        seeds[m] = k
    _, (ri, ci) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = seeds[ri, ci]
    out = []
    for k, m in enumerate(masks, start=1):
        digit_ink = np.where(owner == k, ink, 0.0)
        out.append(Digit(fit_16(digit_ink, deslant=deslant), _box(m)))
    return out
