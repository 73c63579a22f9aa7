"""Stage 4 of the reader for a row: the ink over-segmented into a graph of candidate digits.

The method of LeCun, Bottou, Bengio and Haffner 1998 (section V, heuristic
over-segmentation) and Burges et al. 1992 ("shortest path segmentation"):
cut the row into more pieces than it has digits, let every run of 1 to
:data:`MAX_RUN` adjacent pieces be a candidate digit, score each candidate
with the network and take the cheapest way through the row.

1. :func:`over_segment`: the pieces of connected ink
   (:func:`lecun89.reader.pieces.find_pieces`: tall pieces sharing their
   columns are one, a 5's detached bar or a broken stroke joins its
   neighbour); a piece wider than :data:`SPLIT` times the row's height
   (touching digits, or a wide digit) is cut further at the minima of its
   vertical projection (ink per column) and of the distance between its upper
   and lower contours, at least :data:`MIN_SEGMENT` times the height apart,
   each cut a path from the piece's top to its bottom that may step aside
   (:func:`cut_path`: up to :data:`CUT_REACH` of that spacing either way) to
   pass between two digits whose boxes overlap rather than through their
   strokes: segments, left to right;
2. :func:`candidates`: every run of 1 to :data:`MAX_RUN` adjacent segments
   not wider than :data:`MAX_WIDTH` times the height, its ink (each faint
   pixel given to the segment nearest it) ready to be fitted as one digit;
3. :func:`costs`: a candidate's cost from the network's outputs for it
   (``-log`` of the softmax's largest for a model with logits, which
   :func:`lecun89.reader.network.digit_score` is where a model has it; half
   the squared distance to the nearest digit's target for a scaled-tanh model),
   plus the geometric priors (wider than :data:`WIDE_OK` or shorter than
   :data:`SHORT_OK` times the row's height) and :data:`DIGIT_COST` per digit;
4. :func:`best_paths`: the cheapest paths from the row's left edge to its
   right edge by dynamic programming (the k best, optionally with a given
   number of digits).

What goes in: ink (H, W) in [0, 1]; what comes out: a :class:`Graph` (the
segments, the candidates' spans, boxes and inks) and, from the network's
outputs, the paths. The network itself is run by
:func:`lecun89.reader.network.analyse_row`. MIN_SEGMENT, MAX_RUN,
DIGIT_COST, STROKE_COST, JOIN_COST, WIDE_OK, WEAK, CUT_REACH and CUT_TURN were chosen on the
held-out-writers benchmark's tuning zip codes (docs/strangers.md, "Rows: zip
codes"); SPLIT, MAX_WIDTH, W_WIDE, SHORT_OK and W_SHORT were set by hand
beforehand and not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from lecun89.reader.pieces import MAX_DIGITS, box_of, digit_inks, find_pieces

# A piece wider than this many times the row's height gets candidate cuts.
SPLIT = 0.45
# Candidate cuts (and a cut and the piece's edge) at least this many times the
# row's height apart.
MIN_SEGMENT = 0.12
# A cut may step aside from its column by up to this share of MIN_SEGMENT's
# spacing either way (0: straight down its column) ...
CUT_REACH = 1.0
# ... each row it runs aside costing this much ink times its distance over the
# reach, and each step sideways this much (chosen with CUT_REACH on the tuning
# zip codes, white and ruled-photo paper).
CUT_TURN = 0.3
# A candidate digit is at most this many adjacent segments (4 measured better than 3) ...
MAX_RUN = 4
# ... and at most this many times the row's height wide.
MAX_WIDTH = 1.6
# At most this many segments in a row (a bound on the network's work).
MAX_SEGMENTS = 4 * MAX_DIGITS

# The path's costs (chosen on the tuning rows): per digit, and the geometric
# priors: a candidate wider than WIDE_OK or shorter than SHORT_OK times the
# row's height costs W_WIDE / W_SHORT per unit beyond.
DIGIT_COST = 0.0
WIDE_OK = 1.3
W_WIDE = 4.0
SHORT_OK = 0.55
W_SHORT = 4.0
# A cut through a piece costs this per stroke it crosses.
STROKE_COST = 0.0
# Separate pieces of ink (not cut apart here) taken as one digit cost this per join.
JOIN_COST = 1.0
# A row is rejected when a digit on its path costs more than this (its cost
# without DIGIT_COST): the 99th percentile of the costliest digit on the
# tuning rows read right.
WEAK = 0.62
# The paths kept to find the runner-up (the cheapest with another reading).
K_BEST = 12


@dataclass
class Graph:
    """A row over-segmented: ``segments`` (boolean masks, left to right),
    ``pieces`` (the piece of connected ink each segment was cut from),
    ``crossed`` (the strokes the cut at each segment's left crosses, 0 where
    it is no cut),
    ``height`` (the row's digit height, pixels), and the candidates: ``spans``
    [(i, j)]: segments i..j-1 (the edge from node i to node j), ``boxes``
    (left, top, right, bottom) and ``x16`` (N, 16, 16), each candidate fitted
    as one digit is. A graph of two cuttings (:func:`either`) has more nodes
    than segments + 1 (``nodes``) and its candidates' cuts and joins counted
    beforehand (``per_candidate``: (crossed, joins)). ``paper``: the share of
    the row's picture that is paper (:func:`lecun89.reader.ink.paper_share`;
    1 where not measured); ``column_runs``: each column's longest run of ink as a
    share of the ink's height (:func:`lecun89.reader.ink.column_runs`; None where
    not measured)."""

    segments: list[np.ndarray]
    pieces: list[int]
    crossed: list[int]
    height: float
    spans: list[tuple[int, int]] = field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    x16: np.ndarray | None = None
    nodes: int | None = None
    per_candidate: tuple[np.ndarray, np.ndarray] | None = None
    paper: float = 1.0
    column_runs: np.ndarray | None = None

    @property
    def n_segments(self) -> int:
        return len(self.segments)

    def solid_at(self, x: int) -> float | None:
        """How solid the ink is down column ``x`` (clipped to the picture):
        its longest run of ink as a share of the ink's height; None where
        not measured."""
        if self.column_runs is None:
            return None
        return float(self.column_runs[min(max(x, 0), len(self.column_runs) - 1)])

    @property
    def n_nodes(self) -> int:
        """The graph's nodes: the row's left edge (0), its right edge (the last) and the cuts between."""
        return self.n_segments + 1 if self.nodes is None else self.nodes

    def cuts_crossed(self) -> np.ndarray:
        """Per candidate: the strokes the cut at its left crosses (0 where its
        left is the edge of a piece)."""
        if self.per_candidate is not None:
            return self.per_candidate[0]
        return np.array([self.crossed[i] if i > 0 and self.pieces[i - 1] == self.pieces[i] else 0
                         for i, _ in self.spans], dtype=np.float64)

    def joins(self) -> np.ndarray:
        """Per candidate: how many times its segments change piece (0 for a
        candidate inside one piece of connected ink)."""
        if self.per_candidate is not None:
            return self.per_candidate[1]
        return np.array([sum(self.pieces[k] != self.pieces[k + 1] for k in range(i, j - 1))
                         for i, j in self.spans], dtype=np.float64)


def either(a: Graph, b: Graph) -> Graph:
    """Two cuttings of one row as one graph: the row's edges shared, the cuts
    of each its own nodes, so that a path runs through one cutting or the
    other (the cheaper wins). The segments are ``a``'s followed by ``b``'s;
    the row's measures (``paper``, ``column_runs``) are left unmeasured: they
    are the picture's, set once by :func:`lecun89.reader.pipeline.row_graph`."""
    end = a.n_nodes + b.n_nodes - 3

    def node(i: int, g: Graph, offset: int) -> int:
        return 0 if i == 0 else end if i == g.n_nodes - 1 else i + offset

    spans = ([(node(i, a, 0), node(j, a, 0)) for i, j in a.spans]
             + [(node(i, b, a.n_nodes - 2), node(j, b, a.n_nodes - 2)) for i, j in b.spans])
    per = (np.concatenate([a.cuts_crossed(), b.cuts_crossed()]), np.concatenate([a.joins(), b.joins()]))
    return Graph(a.segments + b.segments, a.pieces + b.pieces, a.crossed + b.crossed, a.height, spans,
                 a.boxes + b.boxes, np.concatenate([a.x16, b.x16]), end + 1, per)


def cut_columns(ink: np.ndarray, mask: np.ndarray, height: float, min_segment: float = MIN_SEGMENT) -> list[int]:
    """Candidate cuts (columns of the picture) inside one piece: the local
    minima of its vertical projection and of its contours' distance (lowest
    ink row minus highest, per column), each at least ``min_segment`` times
    ``height`` from the piece's edges and from the other cuts (the lower of two
    near minima kept)."""
    left, _, right, _ = box_of(mask)
    sub = mask[:, left:right]
    proj = (ink[:, left:right] * sub).sum(axis=0)
    on = sub.any(axis=0)
    rows = np.arange(sub.shape[0])[:, None]
    top = np.where(sub, rows, sub.shape[0]).min(axis=0)
    bottom = np.where(sub, rows, -1).max(axis=0)
    span = np.where(on, bottom - top + 1, 0).astype(np.float64)
    gap = max(1, int(round(min_segment * height)))
    w = right - left
    found: list[tuple[float, int]] = []
    for profile in (proj / max(proj.max(), 1e-9), span / max(span.max(), 1e-9)):
        for c in range(gap, w - gap + 1):
            lo, hi = max(0, c - gap), min(w, c + gap + 1)
            if profile[c] <= profile[lo:hi].min() + 1e-12:
                found.append((float(profile[c]), c))
    chosen: list[int] = []
    for _, c in sorted(found):
        if all(abs(c - k) >= gap for k in chosen):
            chosen.append(c)
    return sorted(left + c for c in chosen)


def cut_path(ink: np.ndarray, mask: np.ndarray, column: int, reach: int, turn: float = CUT_TURN) -> np.ndarray:
    """A cut near ``column`` through one piece (its ``mask``), top to bottom:
    per row of the picture, the column the cut passes at (the piece's pixels
    left of it go left). The cheapest path by dynamic programming, row by row,
    at most ``reach`` columns either side of ``column`` and one column aside
    per row: the ink it crosses, plus ``turn`` per step sideways and ``turn``
    times its distance from ``column`` over ``reach`` per row. ``reach`` 0: the
    column itself, straight down. Above and below the piece the cut goes
    straight on from its first and last row."""
    h, w = mask.shape
    path = np.full(h, column, dtype=np.int64)
    if reach <= 0:
        return path
    rows = np.flatnonzero(mask.any(axis=1))
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    lo, hi = max(0, column - reach), min(w, column + reach + 1)
    crossing = ink[r0:r1, lo:hi] * mask[r0:r1, lo:hi]
    aside = turn * np.abs(np.arange(lo, hi) - column) / reach
    total = crossing[0] + aside
    came = np.zeros(crossing.shape, dtype=np.int64)  # -1, 0, +1: the column before, relative
    for r in range(1, r1 - r0):
        options = np.stack([np.r_[np.inf, total[:-1]] + turn, total, np.r_[total[1:], np.inf] + turn])
        k = options.argmin(axis=0)
        came[r] = k - 1
        total = options[k, np.arange(len(total))] + crossing[r] + aside
    x = int(total.argmin())
    for r in range(r1 - r0 - 1, -1, -1):
        path[r0 + r] = lo + x
        x += int(came[r, x])
    path[:r0], path[r1:] = path[r0], path[r1 - 1]
    return path


def over_segment(ink: np.ndarray, split: float = SPLIT, min_segment: float = MIN_SEGMENT,
                 reach: float = CUT_REACH) -> tuple[list[np.ndarray], list[int], list[int], float]:
    """Ink (H, W) in [0, 1] -> (segments as boolean masks left to right, the
    piece each segment was cut from, the strokes the cut at its left crosses
    (0 at a piece's left edge), the row's digit height): the pieces of
    connected ink, a piece wider than ``split`` times the height cut at
    :func:`cut_columns`, each cut a :func:`cut_path` reaching ``reach`` times
    the cuts' spacing aside (0: straight cuts)."""
    pieces = find_pieces(ink)
    if not pieces:
        return [], [], [], 0.0
    boxes = [box_of(p) for p in pieces]
    height = float(max(b[3] - b[1] for b in boxes))
    aside = int(round(reach * max(1, int(round(min_segment * height)))))
    columns = np.arange(ink.shape[1])[None, :]
    every_row = np.arange(ink.shape[0])
    segments, owner, crossed = [], [], []
    for k, (p, (left, _, right, _)) in enumerate(zip(pieces, boxes, strict=True)):
        cuts = cut_columns(ink, p, height, min_segment) if right - left > split * height else []
        paths = [np.full(ink.shape[0], left), *(cut_path(ink, p, c, aside) for c in cuts),
                 np.full(ink.shape[0], right)]
        for i in range(1, len(paths)):  # no cut passes the one before it
            paths[i] = np.maximum(paths[i], paths[i - 1])
        for i, (a, b) in enumerate(pairwise(paths)):
            part = p & (columns >= a[:, None]) & (columns < b[:, None])
            if part.any():
                segments.append(part)
                owner.append(k)
                crossed.append(0 if i == 0 else strokes(p[every_row, np.minimum(a, ink.shape[1] - 1)]))
    order = sorted(range(len(segments)), key=lambda k: _centre(segments[k]))
    return ([segments[k] for k in order], [owner[k] for k in order], [crossed[k] for k in order], height)


def strokes(column: np.ndarray) -> int:
    """How many strokes a cut down this column of a piece's mask crosses (runs of ink)."""
    c = np.asarray(column, dtype=bool).astype(np.int8)
    return int(np.count_nonzero(np.diff(c, prepend=0) == 1))


def _centre(mask: np.ndarray) -> float:
    return float(np.flatnonzero(mask.any(axis=0)).mean())


def candidates(ink: np.ndarray, segments: list[np.ndarray], height: float, max_run: int = MAX_RUN,
               max_width: float = MAX_WIDTH) -> tuple[list[tuple[int, int]], list[tuple[int, int, int, int]],
                                                       list[np.ndarray]]:
    """The candidate digits of a row's segments: (spans [(i, j)], boxes, inks),
    every run of 1 to ``max_run`` adjacent segments, a run of more than one no
    wider than ``max_width`` times the height (a single segment always is one,
    so every path can be completed)."""
    seg_inks = digit_inks(ink, segments)
    spans, boxes, inks = [], [], []
    for i in range(len(segments)):
        mask = np.zeros_like(segments[i])
        cand = np.zeros_like(ink)
        for j in range(i + 1, min(len(segments), i + max_run) + 1):
            mask |= segments[j - 1]
            cand = cand + seg_inks[j - 1]
            box = box_of(mask)
            if j - i > 1 and box[2] - box[0] > max_width * height:
                break
            spans.append((i, j))
            boxes.append(box)
            inks.append(cand)
    return spans, boxes, inks


def softmax(outputs: np.ndarray) -> np.ndarray:
    z = outputs - outputs.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def network_cost(outputs: np.ndarray, logits: bool, score: np.ndarray | None = None) -> np.ndarray:
    """How little a candidate looks like a digit, from the network's outputs
    (N, 10): for a model with logits ``-log`` of how much it looks like a whole
    digit (``score``: :func:`lecun89.reader.network.digit_score` where the
    model has it, else the softmax's largest, which it is for these models);
    for a scaled-tanh model half the squared distance of the outputs to the
    nearest digit's target (+1 for it, -1 for the others: the paper's cost)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if logits:
        p = softmax(outputs).max(axis=1) if score is None else np.asarray(score, dtype=np.float64)
        return -np.log(np.clip(p, 1e-12, None))
    target = -np.ones_like(outputs)
    target[np.arange(len(outputs)), outputs.argmax(axis=1)] = 1.0
    return 0.5 * ((outputs - target) ** 2).sum(axis=1)


def geometry_cost(boxes, height: float, joins=None, wide_ok: float = WIDE_OK, w_wide: float = W_WIDE,
                  short_ok: float = SHORT_OK, w_short: float = W_SHORT, join_cost: float = JOIN_COST) -> np.ndarray:
    """The priors on a candidate's shape: wider than ``wide_ok`` or shorter
    than ``short_ok`` times the row's height costs ``w_wide`` / ``w_short``
    per unit beyond; each of its ``joins`` (separate pieces of ink taken as one
    digit) costs ``join_cost``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = (b[:, 2] - b[:, 0]) / height
    h = (b[:, 3] - b[:, 1]) / height
    cost = w_wide * np.clip(w - wide_ok, 0.0, None) + w_short * np.clip(short_ok - h, 0.0, None)
    return cost if joins is None else cost + join_cost * np.asarray(joins, dtype=np.float64)


def candidate_cost(graph: Graph, outputs: np.ndarray, logits: bool, score: np.ndarray | None = None,
                   digit_cost: float = DIGIT_COST, stroke_cost: float = STROKE_COST, **priors) -> np.ndarray:
    """Each candidate's cost on a path: :func:`network_cost` of its outputs,
    :func:`geometry_cost` (``priors``: its keyword arguments), ``digit_cost``
    and ``stroke_cost`` per stroke the cut at its left crosses."""
    return (network_cost(outputs, logits, score) + geometry_cost(graph.boxes, graph.height, graph.joins(), **priors)
            + digit_cost + stroke_cost * graph.cuts_crossed())


def best_paths(n_nodes: int, edges: list[tuple[int, int]], cost: np.ndarray, counts=None,
               k: int = 2) -> list[tuple[float, list[int]]]:
    """The ``k`` cheapest paths from node 0 to node ``n_nodes - 1`` of a graph
    whose ``edges`` (i, j) all go forward (i < j), each with its ``cost``, by
    dynamic programming; ``counts`` (a set of ints, or None for any): only
    paths of that many edges. -> [(total cost, [edge index, ...])], cheapest
    first (fewer than ``k`` when there are fewer paths)."""
    cost = np.asarray(cost, dtype=np.float64)
    out_of: list[list[int]] = [[] for _ in range(n_nodes)]
    for e, (i, j) in enumerate(edges):
        if not 0 <= i < j < n_nodes:
            raise ValueError(f"edge {e} ({i}, {j}) does not go forward inside {n_nodes} nodes")
        out_of[i].append(e)
    max_count = max(counts) if counts else n_nodes - 1
    # best[node][count]: the k cheapest (cost, path) reaching node with count edges
    best: list[dict[int, list[tuple[float, tuple[int, ...]]]]] = [{} for _ in range(n_nodes)]
    best[0][0] = [(0.0, ())]
    for i in range(n_nodes):
        for c, paths in best[i].items():
            if c >= max_count:
                continue
            for e in out_of[i]:
                j = edges[e][1]
                slot = best[j].setdefault(c + 1, [])
                slot.extend((t + float(cost[e]), p + (e,)) for t, p in paths)
                slot.sort(key=lambda tp: tp[0])
                del slot[k:]
    ends = [tp for c, paths in best[n_nodes - 1].items() if counts is None or c in counts for tp in paths]
    ends.sort(key=lambda tp: tp[0])
    return [(t, list(p)) for t, p in ends[:k]]
