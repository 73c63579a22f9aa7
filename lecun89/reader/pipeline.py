"""A picture's way through the reader, top to bottom: file -> gray levels -> ink
-> pieces -> each digit fitted to 16x16, ready for the network.

- one digit (:func:`read_digit`, :func:`digit_from_gray`): the picture's gray
  levels (:mod:`~lecun89.reader.gray`), the page's furniture (ruling, squared
  paper, a margin line, a form's box) whitened
  (:mod:`~lecun89.reader.furniture`), its ink (:mod:`~lecun89.reader.ink`),
  the digit deslanted and fitted to 16x16 (:mod:`~lecun89.reader.fit`);
- a row of digits (:func:`read_row_file`, :func:`row_graph`): the same gray
  levels, furniture and ink, the ink over-segmented into a graph of candidate
  digits (:mod:`~lecun89.reader.segment`), each candidate fitted as one digit;
  the network chooses the path through it
  (:func:`lecun89.reader.network.analyse_row`). :func:`read_row` is the
  cutter before the network looks (:mod:`~lecun89.reader.pieces`: one piece
  per digit), kept as the benchmark's baseline.

The network's reading of what comes out is :mod:`lecun89.reader.network`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lecun89.errors import UserError
from lecun89.reader.fit import SIZE, fit_16
from lecun89.reader.furniture import Cleaned, remove_furniture
from lecun89.reader.gray import MAX_PIXELS, check_file, read_gray_rgb
from lecun89.reader.ink import BACKGROUND_DEGREE, column_runs, ink_map, paper_share
from lecun89.reader.pieces import ASPECT, MAX_DIGITS, WIDE, box_of, digit_inks, find_digits
from lecun89.reader.segment import CUT_REACH, MAX_SEGMENTS, Graph, candidates, either, over_segment

# Bump when a digit is read differently: part of the cache key of the data set
# made with this reader (usps-mnist).
READER_VERSION = "reader-2"
MAX_NPY_BYTES = 1_000_000


@dataclass
class Digit:
    x16: np.ndarray            # the network's input (16, 16)
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in the picture, right/bottom exclusive


def digit_from_gray(gray: np.ndarray, deslant: bool = True, background_degree: int = BACKGROUND_DEGREE,
                    rgb: np.ndarray | None = None, cleaned: list | None = None, furniture: bool = True) -> np.ndarray:
    """Gray levels (H, W) in [0, 1] (and, when known, the colours (H, W, 3)) ->
    the network's 16x16 input: the page's furniture whitened
    (:func:`~lecun89.reader.furniture.remove_furniture`), the ink
    (:func:`~lecun89.reader.ink.ink_map`), fitted (:func:`~lecun89.reader.fit.fit_16`).
    ``cleaned``: a list the :class:`~lecun89.reader.furniture.Cleaned` is
    appended to (what was found and removed); ``furniture``: False reads the
    picture as it is (the benchmark's comparison). ValueError for a blank picture."""
    if not furniture:
        return fit_16(ink_map(gray, background_degree), deslant=deslant)
    c = remove_furniture(gray, rgb)
    if cleaned is not None:
        cleaned.append(c)
    return fit_16(ink_map(c.gray, background_degree), deslant=deslant)

def digit_from_ink(pixels, deslant: bool = True) -> np.ndarray:
    """An ink array from a drawing (H, W) in [0, 1], 0 background -> 16x16 in [-1, 1]."""
    a = np.asarray(pixels, dtype=np.float64)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"pixels must be a 2-D array, got shape {a.shape}")
    if a.size > MAX_PIXELS:
        raise ValueError(f"pixels: too many ({a.size:,}; at most {MAX_PIXELS:,})")
    if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
        raise ValueError("pixels must be finite numbers in [0, 1] (0 background, 1 ink)")
    return fit_16(a, deslant=deslant)

def read_digit(path: str | os.PathLike, deslant: bool = True,
               cleaned: list[Cleaned] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A file -> (the network's 16x16 input, the gray levels it was read from).

    Images (PNG, JPEG, BMP, GIF: first frame) go through the stages above
    (``deslant``: sheared upright first; ``cleaned``: a list the furniture
    stage's :class:`~lecun89.reader.furniture.Cleaned` is appended to); a
    ``.npy`` must already be 16x16 (or 1x16x16) in [-1, 1] and is used as is
    (gray levels: None). Any problem is a UserError naming the file."""
    p = Path(path)
    if p.suffix.lower() == ".npy":
        return _read_npy(p, check_file(p)), None
    gray, rgb = read_gray_rgb(p)
    cleaned = [] if cleaned is None else cleaned
    try:
        return digit_from_gray(gray, deslant, rgb=rgb, cleaned=cleaned), gray
    except ValueError as exc:
        raise UserError(f"{p}: {exc}{_after_furniture(cleaned)}") from None


def _after_furniture(cleaned: list[Cleaned]) -> str:
    """For a picture found blank: what the furniture stage had removed, if anything
    (a blank ruled page is blank once its lines are gone)."""
    found = cleaned[-1].found if cleaned else []
    return f", once {len(found)} line(s) of page furniture were removed" if found else ""

def _read_npy(p: Path, size: int) -> np.ndarray:
    if size > MAX_NPY_BYTES:
        raise UserError(f"{p}: .npy too large ({size:,} bytes) for a 16x16 digit")
    try:
        a = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{p}: not a numpy .npy array: {exc}") from None
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iuf":
        raise UserError(f"{p}: expected a numeric array, got {getattr(a, 'dtype', type(a))}")
    if a.shape not in ((SIZE, SIZE), (1, SIZE, SIZE), (1, 1, SIZE, SIZE)):
        raise UserError(f"{p}: expected a 16x16 array in [-1, 1], got shape {a.shape}")
    a = a.astype(np.float64).reshape(SIZE, SIZE)
    if not np.all(np.isfinite(a)) or a.min() < -1.0 or a.max() > 1.0:
        raise UserError(f"{p}: values must be finite and in [-1, 1] (background -1), "
                        f"got [{np.nanmin(a):.3g}, {np.nanmax(a):.3g}]")
    return a


def row_ink(gray: np.ndarray, rgb: np.ndarray | None = None, cleaned: list[Cleaned] | None = None) -> np.ndarray:
    """A row's gray levels (and colours) -> its ink: the furniture whitened
    (:func:`~lecun89.reader.furniture.remove_furniture`; appended to ``cleaned``
    when given), then :func:`~lecun89.reader.ink.ink_map`."""
    c = remove_furniture(gray, rgb)
    if cleaned is not None:
        cleaned.append(c)
    return ink_map(c.gray)


def read_row(ink: np.ndarray, deslant: bool = True, wide: float = WIDE, aspect: float = ASPECT) -> list[Digit]:
    """Ink (H, W) in [0, 1] -> the row's digits, left to right (the pieces of
    :func:`~lecun89.reader.pieces.find_digits`), each fitted as a single digit
    is. ValueError when no digit is found or there are too many."""
    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2 or float(ink.max(initial=0.0)) <= 0.0:
        raise ValueError("blank image (no ink)")
    masks = find_digits(ink, wide, aspect)
    if not masks:
        raise ValueError("no digits found")
    if len(masks) > MAX_DIGITS:
        raise ValueError(f"{len(masks)} pieces of ink found, more than the {MAX_DIGITS} digits a row may hold")
    return [Digit(fit_16(d, deslant=deslant), box_of(m)) for d, m in zip(digit_inks(ink, masks), masks, strict=True)]


def row_graph(ink: np.ndarray, deslant: bool = True, **cutting) -> Graph:
    """Ink (H, W) in [0, 1] -> the row's graph of candidate digits
    (:func:`~lecun89.reader.segment.over_segment`,
    :func:`~lecun89.reader.segment.candidates`), each candidate fitted as a
    single digit is (``cutting``: over_segment's ``split``, ``min_segment`` and ``reach``,
    candidates' ``max_run`` and ``max_width``, for the benchmark's choices).
    The row is cut twice, straight down the cuts' columns and along paths that
    may step aside between digits whose boxes overlap (``reach``); where the two
    differ the graph holds both (:func:`~lecun89.reader.segment.either`: the
    network's cheaper reading wins). The graph's ``paper``: how much of the
    picture is paper (:func:`~lecun89.reader.ink.paper_share`); its
    ``column_runs``: how solid the ink is down each column
    (:func:`~lecun89.reader.ink.column_runs`). ValueError when
    no digit is found or there are too many pieces."""
    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2 or float(ink.max(initial=0.0)) <= 0.0:
        raise ValueError("blank image (no ink)")
    over = {k: cutting[k] for k in ("split", "min_segment") if k in cutting}
    runs = {k: cutting[k] for k in ("max_run", "max_width") if k in cutting}
    reach = cutting.get("reach", CUT_REACH)
    graph = _graph(ink, deslant, over_segment(ink, **over, reach=0.0), runs)
    if reach != 0:
        curved = over_segment(ink, **over, reach=reach)
        if len(curved[0]) != graph.n_segments or not all(
                np.array_equal(a, b) for a, b in zip(graph.segments, curved[0], strict=True)):
            graph = either(graph, _graph(ink, deslant, curved, runs))  # a cut stepped aside
    graph.paper, graph.column_runs = paper_share(ink), column_runs(ink)
    return graph


def _graph(ink: np.ndarray, deslant: bool, over: tuple, runs: dict) -> Graph:
    """One cutting of a row (:func:`~lecun89.reader.segment.over_segment`'s
    answer) -> its graph, the candidates fitted."""
    segments, owner, crossed, height = over
    if not segments:
        raise ValueError("no digits found")
    if len(segments) > MAX_SEGMENTS:
        raise ValueError(f"{len(segments)} pieces of ink found, more than a row of {MAX_DIGITS} digits may hold")
    spans, boxes, inks = candidates(ink, segments, height, **runs)
    x16 = np.full((len(spans), SIZE, SIZE), -1.0)
    for k, (c, box) in enumerate(zip(inks, boxes, strict=True)):
        x16[k] = fit_16(_around(c, box), deslant=deslant)
    return Graph(segments, owner, crossed, height, spans, boxes, x16)


def _around(ink: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A candidate digit's ink (the row's size) -> the part of it around its box
    (x0, y0, x1, y1), grown by a sixteenth of the box's longer side and a pixel,
    as a picture of that digit alone would frame it. A candidate owns every
    pixel nearest its strokes (:func:`~lecun89.reader.pieces.digit_inks`): in a
    photographed row, the paper's grain up and down the whole row, which
    :func:`~lecun89.reader.fit.fit_16` would keep within a sixteenth of the
    *row's* size and fit the box around."""
    x0, y0, x1, y1 = box
    grow = max(1, round(max(x1 - x0, y1 - y0) / SIZE)) + 1
    h, w = ink.shape
    return ink[max(0, y0 - grow):min(h, y1 + grow), max(0, x0 - grow):min(w, x1 + grow)]


def read_row_file(path: str, deslant: bool = True, cleaned: list[Cleaned] | None = None):
    """An image file of a row of digits -> (its graph of candidate digits, its
    gray levels); UserError naming the file for anything that is not a
    readable row. ``cleaned``: a list the furniture stage's
    :class:`~lecun89.reader.furniture.Cleaned` is appended to."""
    if Path(path).suffix.lower() == ".npy":
        raise UserError(f"{path}: --row reads an image of a row of digits, not a 16x16 .npy")
    gray, rgb = read_gray_rgb(path)
    cleaned = [] if cleaned is None else cleaned
    try:
        return row_graph(row_ink(gray, rgb, cleaned), deslant=deslant), gray
    except ValueError as exc:
        raise UserError(f"{path}: {exc}{_after_furniture(cleaned)}") from None
