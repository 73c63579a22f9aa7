"""The last stage of the reader: the network's reading of a 16x16 digit, or of a row.

:func:`analyse` gives a digit's outputs, the decision, the top two and their
gap, the rejection and its reason, and, for the page, every layer's units;
:func:`analyse_row` reads a row: the cheapest path through its graph of
candidate digits. :func:`read_batch` gives the
outputs of many 16x16 pictures at once, :func:`digit_score` how much each
looks like a whole digit.

The decision, in two steps: a picture whose digit score is under the model's
none-threshold (a model trained with the junk set carries one in its json)
is not a digit (``"digit": None``); otherwise the largest output is the digit,
rejected as unsure when the gap between the two largest is under the model's
gap threshold (the paper's rule). A model without a none-threshold (lecun1989,
modern-usps, a run directory) answers every picture with a digit, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lecun89.metrics import output_gap
from lecun89.reader.ink import ROW_PAPER, SOLID_CUT, sliced, solid_cuts

if TYPE_CHECKING:
    from lecun89.reader.models import Model


def read_batch(model: Model, x16s: np.ndarray) -> np.ndarray:
    """The network's outputs (N, 10) for N pictures (N, 16, 16) in [-1, 1], in one forward."""
    x = np.asarray(x16s, dtype=np.float64).reshape(-1, 1, 16, 16)
    return model.net.predict(x)


def digit_score(model: Model, outputs: np.ndarray) -> np.ndarray:
    """How much each picture looks like a whole digit (N,), from its outputs (N, 10):
    the largest softmax probability for a network with logit outputs, the largest
    output for scaled tanh ones. Higher is more digit-like; a model's
    none-threshold is set on it (scripts/ship_models.py)."""
    out = np.atleast_2d(np.asarray(outputs, dtype=np.float64))
    if model.net.config.output_activation != "none":
        return out.max(axis=1)
    z = out - out.max(axis=1, keepdims=True)
    return 1.0 / np.exp(z).sum(axis=1)  # the top class's probability: e^0 / sum e^z


def decide(model: Model, outputs: np.ndarray) -> dict:
    """The decision on one picture's outputs (10,): ``digit`` (None: not a digit),
    ``rejected``, ``reason`` (None when accepted), ``score`` (:func:`digit_score`)
    and the model's ``none_threshold``."""
    out = np.asarray(outputs, dtype=np.float64)
    score = float(digit_score(model, out[None])[0])
    gap = float(output_gap(out[None])[0])
    none_t = getattr(model, "none_threshold", None)
    r = {"digit": int(np.argmax(out)), "score": score, "none_threshold": none_t, "rejected": False, "reason": None}
    if none_t is not None and score < none_t:
        r.update(digit=None, rejected=True, reason=f"not a digit (score {score:.3f} < {none_t:.3f})")
    elif model.threshold is not None and gap < model.threshold:
        r.update(rejected=True, reason=f"unsure (gap {gap:.3f} < {model.threshold:.3f})")
    return r


def analyse(model: Model, x16: np.ndarray, maps: bool = True) -> dict:
    """The network's reading of one digit (16x16 in [-1, 1]): outputs, decision
    (:func:`decide`: the digit or None, rejected, the reason), top two and their
    gap, and (``maps``) every layer's units."""
    x = np.asarray(x16, dtype=np.float64).reshape(1, 1, 16, 16)
    acts = model.net.activations(x)
    out = acts[model.net.param_layers[-1].name][0]
    order = np.argsort(-out, kind="stable")
    d1, d2 = int(order[0]), int(order[1])
    gap = float(output_gap(out[None])[0])
    d = decide(model, out)
    r = {
        "model": model.name,
        "digit": d["digit"],
        "outputs": out.tolist(),
        "top2": [[d1, float(out[d1])], [d2, float(out[d2])]],
        "gap": gap,
        "threshold": model.threshold,
        "rejected": d["rejected"],
        "reason": d["reason"],
        "score": d["score"],
        "none_threshold": d["none_threshold"],
    }
    if maps:
        r["input"] = x[0, 0].tolist()
        r["layers"] = [{"name": k, "shape": list(v.shape[1:]), "values": v[0].tolist()} for k, v in acts.items()]
    return r


def analyse_row(model: Model, digits_or_graph, n_digits=None) -> dict:
    """The network's reading of a row: a :class:`lecun89.reader.segment.Graph`
    (:func:`lecun89.reader.pipeline.row_graph`) or a list of digits already cut
    (:func:`lecun89.reader.pipeline.read_row`'s, left to right).

    A graph: every candidate digit is read in one batch, costs
    (:func:`lecun89.reader.segment.network_cost` and the geometric priors) and
    the cheapest path from the row's left edge to its right
    (:func:`lecun89.reader.segment.best_paths`) with ``n_digits`` digits (an
    int, a collection of ints, or None for any). The row is rejected when any
    chosen digit is (as the paper's system rejected a zip code) or the path is
    weak (a digit on it costs more than :data:`lecun89.reader.segment.WEAK`,
    or, for a model with a none-threshold, than ``-log`` of it), or the picture
    is not one of writing on paper (a graph's ``paper`` below
    :data:`lecun89.reader.ink.ROW_PAPER`: noise, say), or its chosen cuts
    slice solid ink (:func:`lecun89.reader.ink.sliced`: a filled shape sliced
    into bars). -> {"model", "digits", "rejected",
    "reason", "per_digit" (each digit's :func:`analyse` with its "box"),
    "cuts" (x between digits), "runner_up" (the cheapest path with another
    reading: {"digits", "cuts", "score"}, or None), "score" (the path's cost:
    lower is better), "candidates" (the chosen candidates' indices)}.
    ValueError when no path has ``n_digits`` digits."""
    from lecun89.reader import segment

    counts = _counts(n_digits)
    if isinstance(digits_or_graph, segment.Graph):
        g = digits_or_graph
        x16s, boxes, edges = g.x16, g.boxes, g.spans
        n_nodes = g.n_nodes
    else:
        x16s = np.asarray([d.x16 for d in digits_or_graph], dtype=np.float64).reshape(-1, 16, 16)
        boxes = [tuple(d.box) for d in digits_or_graph]
        edges = [(k, k + 1) for k in range(len(boxes))]
        n_nodes = len(boxes) + 1
    batch = globals().get("read_batch")
    outputs = batch(model, x16s) if batch else model.net.predict(x16s[:, None])
    score_of = globals().get("digit_score")
    score = score_of(model, outputs) if score_of else None
    logits = model.net.config.output_activation == "none"
    if isinstance(digits_or_graph, segment.Graph):
        cost = segment.candidate_cost(g, outputs, logits, score)
        own = cost - segment.DIGIT_COST  # a digit's own cost, what WEAK bounds
    else:
        cost = own = segment.network_cost(outputs, logits, score)
    paths = segment.best_paths(n_nodes, edges, cost, counts, k=segment.K_BEST)
    if not paths:
        want = " or ".join(str(c) for c in sorted(counts or ()))
        raise ValueError(f"the row cannot be read as {want} digits (no way through its {n_nodes - 1} pieces has that many)")

    def reading(path):
        return "".join(str(int(np.argmax(outputs[e]))) for e in path)

    def cuts(path):
        return [int(round((boxes[a][2] + boxes[b][0]) / 2)) for a, b in zip(path, path[1:], strict=False)]

    best_cost, best = paths[0]
    text = reading(best)
    runner = next(((c, p) for c, p in paths[1:] if reading(p) != text), paths[1] if len(paths) > 1 else None)
    per = [{**analyse(model, x16s[e], maps=False), "box": list(boxes[e])} for e in best]
    # The weak-path bound: a junk-trained model's none-threshold (on digit_score,
    # whose -log is the cost) where it has one, else WEAK (set for the shipped reader).
    none_t = getattr(model, "none_threshold", None)
    bound = float(-np.log(none_t)) if none_t else segment.WEAK
    weak = [k for k, e in enumerate(best) if own[e] > bound]
    reason = None
    paper = getattr(digits_or_graph, "paper", 1.0)
    # each chosen cut's run of ink (its share of the ink's height) and x
    solid_at = getattr(digits_or_graph, "solid_at", lambda x: None)
    solid = [(s, x) for x in cuts(best) if (s := solid_at(x)) is not None]
    if paper < ROW_PAPER:
        reason = (f"not a row of digits: paper shows in {paper:.0%} of the picture (writing on paper leaves "
                  f"at least {ROW_PAPER:.0%})")
    elif sliced(r for r, _ in solid):
        n_solid = solid_cuts(r for r, _ in solid)
        reason = (f"not a row of digits: {n_solid} of its {len(solid)} cuts run through solid ink ({SOLID_CUT:.0%} "
                  f"of its height or more; a cut between digits crosses strokes)")
    elif any(r["rejected"] for r in per):
        k = next(k for k, r in enumerate(per) if r["rejected"])
        reason = f"digit {k + 1} rejected" + (f" ({per[k]['reason']})" if per[k].get("reason") else "")
    elif weak:
        reason = f"weak path (digit {weak[0] + 1} costs {own[best[weak[0]]]:.2f} > {bound:.2f})"
    return {"model": model.name, "digits": "".join("?" if r["digit"] is None else str(r["digit"]) for r in per),
            "rejected": reason is not None, "reason": reason, "per_digit": per, "cuts": cuts(best),
            "runner_up": None if runner is None else {"digits": reading(runner[1]), "cuts": cuts(runner[1]),
                                                      "score": float(runner[0])},
            "score": float(best_cost), "candidates": [int(e) for e in best]}


def _counts(n_digits) -> set[int] | None:
    """``n_digits`` (None, an int or ints) -> the set of digit counts allowed."""
    if n_digits is None:
        return None
    counts = {int(n_digits)} if isinstance(n_digits, (int, np.integer)) else {int(c) for c in n_digits}
    if not counts or min(counts) < 1:
        raise ValueError(f"a row's number of digits must be at least 1, got {sorted(counts)}")
    return counts
