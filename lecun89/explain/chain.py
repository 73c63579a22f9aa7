"""The chain rule written out at one unit of Net-1989, with the network's own numbers.

:func:`unit_terms` takes one digit, its label and one unit (of H1, H2, H3 or
the outputs) and lists, as plain JSON-able data:

- forward: every input the unit reads times its weight (the largest products
  first, the rest summed), its bias, its weighted sum ``a`` and ``y = f(a)``.
  H1 and H2 read padded maps: a position outside the map is an input of the
  pad value (``"pad"``), so bias + all products is ``a``. A shared kernel's
  weight is the kernel's entry at that offset; an H2 map reads only the H1
  maps of its connection table.
- backward: the error signal reaching the unit, dE/dy = the sum over the units
  it feeds of (their weight from it x their delta), f'(a), and its own
  delta = f'(a) dE/dy. At an output unit, dE/dy is the loss's derivative.

``a``, ``y``, ``f'(a)`` and every delta come from the layers' own forward and
backward passes (:func:`lecun89.explain.backprop.backward_view`); this module only
writes the sums out, so each can be checked against them.
"""

from __future__ import annotations

import operator

import numpy as np

from lecun89 import layers as L
from lecun89.explain.backprop import backward_view
from lecun89.model import INPUT_SHAPE

LAYERS = ("H1", "H2", "H3", "out")


def activation_name(act: L.Activation) -> str:
    """A squashing function as a reader would write it."""
    if isinstance(act, L.ScaledTanh):
        if act.A == 1.0 and act.S == 1.0:
            return "tanh"
        slope = "2a/3" if abs(act.S - L.LECUN_SLOPE) < 1e-12 else f"{act.S:g}a"
        return f"scaled tanh {act.A:g} tanh({slope})"
    return {"sigmoid": "sigmoid 1/(1+e^-a)"}.get(act.kind, act.kind)


def loss_name(loss: str, cost_scale: str) -> str:
    """The cost of one digit, and its derivative at an output, in words."""
    if loss == "ce":
        return "cross-entropy of the softmax of the outputs (logits): dE/dy = softmax(y) - onehot(label)"
    if cost_scale == "half_sum":
        return "squared error, half the sum over the 10 outputs of (y - t)^2, t = +1 for the label, -1 else: " \
               "dE/dy = y - t"
    return "squared error, the mean over the 10 outputs of (y - t)^2, t = +1 for the label, -1 else: " \
           "dE/dy = 2 (y - t) / 10"


def _name(layer: str, idx) -> str:
    return f"{layer}[{','.join(str(int(i)) for i in idx)}]"


def _check_index(layer: str, index, shape: tuple[int, ...]) -> tuple[int, ...]:
    what = "[map, row, col]" if len(shape) == 3 else "[unit]"
    ranges = ", ".join(f"0-{n - 1}" for n in shape)
    bad = ValueError(f"index: an {layer} unit is {what} with entries in {ranges}, got {index!r}")
    if isinstance(index, (str, bytes)) or not hasattr(index, "__len__") or len(index) != len(shape):
        raise bad
    try:
        if any(isinstance(i, (bool, np.bool_)) for i in index):
            raise TypeError
        idx = tuple(operator.index(i) for i in index)
    except TypeError:
        raise bad from None
    if not all(0 <= i < n for i, n in zip(idx, shape, strict=True)):
        raise bad
    return idx


def _summed(terms: list[dict], top: int, key: str = "product") -> tuple[list[dict], float, int]:
    """The ``top`` terms of largest |product| (ties in reading order), the sum and count of the rest."""
    order = sorted(range(len(terms)), key=lambda i: -abs(terms[i][key]))
    shown = [terms[i] for i in order[:top]]
    rest = [terms[i][key] for i in order[top:]]
    return shown, float(np.sum(rest)) if rest else 0.0, len(rest)


def _term(source: str, x: float, w: float, key: str = "from", xkey: str = "input") -> dict:
    return {key: source, xkey: float(x), "weight": float(w), "product": float(x) * float(w)}


def _forward_terms(layers: dict, view: dict, x16: np.ndarray, layer: str, idx) -> list[dict]:
    """Every (input, weight) the unit's weighted sum reads, in reading order."""
    lay = layers[layer]
    if isinstance(lay, L.Linear):
        below = {"H3": "H2", "out": "H3"}[layer]
        y = view["y"][below]
        w = lay.params["weight"][idx[0]]
        names = [_name(below, np.unravel_index(i, y.shape)) for i in range(y.size)]
        return [_term(n, xv, wv) for n, xv, wv in zip(names, y.ravel(), w, strict=True)]
    m, r, c = idx
    if layer == "H1":
        maps, below = x16[None], "input"
    else:
        maps, below = view["y"]["H1"], "H1"
    reads = range(maps.shape[0]) if lay.table is None else lay.table[m]
    H, W = maps.shape[1:]
    terms = []
    for t, src in enumerate(reads):
        for ki in range(lay.K):
            for kj in range(lay.K):
                i, j = r * lay.stride + ki - lay.pad, c * lay.stride + kj - lay.pad
                w = lay.params["weight"][m, t, ki, kj]
                if 0 <= i < H and 0 <= j < W:
                    where = f"input[{i},{j}]" if below == "input" else _name(below, (src, i, j))
                    terms.append(_term(where, maps[src, i, j], w))
                else:
                    terms.append(_term("pad", lay.pad_value, w))
    return terms


def _backward_terms(layers: dict, view: dict, layer: str, idx) -> list[dict]:
    """Every unit this one feeds, with its weight from this one and its delta, in reading order."""
    if layer in ("H2", "H3"):
        above = {"H2": "H3", "H3": "out"}[layer]
        flat = int(np.ravel_multi_index(idx, view["y"][layer].shape))
        w = layers[above].params["weight"][:, flat]
        return [_term(f"{above}[{k}]", d, wk, "to", "delta") for k, (d, wk) in enumerate(zip(view["delta"][above], w, strict=True))]
    h2 = layers["H2"]
    m, r, c = idx
    d2 = view["delta"]["H2"]
    terms = []
    for o in range(h2.O):
        reads = list(range(layers["H1"].O)) if h2.table is None else h2.table[o].tolist()
        if m not in reads:
            continue
        t = reads.index(m)
        for i in range(h2.OH):
            for j in range(h2.OW):
                ki, kj = r - i * h2.stride + h2.pad, c - j * h2.stride + h2.pad
                if 0 <= ki < h2.K and 0 <= kj < h2.K:
                    terms.append(_term(_name("H2", (o, i, j)), d2[o, i, j], h2.params["weight"][o, t, ki, kj],
                                       "to", "delta"))
    return terms


def unit_terms(net, x16, label: int, layer: str, index, loss: str = "mse", cost_scale: str = "mean",
               top: int = 8) -> dict:
    """The chain rule at one unit of Net-1989 for one digit (16x16 in [-1, 1]) and its label.

    ``layer``: "H1", "H2", "H3" or "out"; ``index``: [map, row, col] for H1/H2,
    [unit] for H3/out. ``loss``, ``cost_scale``: the cost (see
    :func:`lecun89.losses.training_loss`). ``top``: how many terms of each sum
    to list, largest |product| first. Returns JSON-able data::

        {"layer", "index": [ints], "name": "H2[3,1,2]",
         "forward": {"terms": [{"from": "H1[5,2,3]" | "input[4,7]" | "pad", "input", "weight", "product"}],
                     "others", "n_others", "n_inputs", "bias", "a", "activation", "y"},
         "backward": {"terms": [{"to": "H3[7]", "delta", "weight", "product"}],
                      "others", "n_others", "n_outputs", "sum", "fprime", "delta"}}

    with bias + every product = a, and delta = fprime x sum; an output unit's
    "backward" is {"loss" (in words), "dE/dy", "fprime", "delta"}. Raises
    ValueError for a model other than net1989 or a bad label, layer, index,
    digit or ``top``. Reads the network only (its passes run on a tape of their own)."""
    if getattr(net.config, "arch", None) != "net1989":
        raise ValueError(f"unit_terms: only the net1989 architecture (H1, H2, H3, out) is written out, "
                         f"not {getattr(net.config, 'arch', None)!r}")
    if layer not in LAYERS:
        raise ValueError(f"layer: expected one of {', '.join(LAYERS)}, got {layer!r}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 0:
        raise ValueError(f"top: expected a whole number >= 0, got {top!r}")
    x16 = np.asarray(x16, dtype=np.float64)
    if x16.shape != INPUT_SHAPE[1:]:
        raise ValueError(f"x16: expected a {INPUT_SHAPE[1]}x{INPUT_SHAPE[2]} digit, got shape {x16.shape}")
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise ValueError(f"label: expected an integer 0-{net.n_out - 1}, got {label!r}")
    view = backward_view(net, x16, int(label), loss, cost_scale)
    idx = _check_index(layer, index, view["a"][layer].shape)
    layers = {lay.name: lay for lay in net.param_layers}
    acts = {name: net.layers[i] for i, name in net.squashing().items()}

    terms = _forward_terms(layers, view, x16, layer, idx)
    shown, others, n_others = _summed(terms, int(top))
    bias = layers[layer].params.get("bias", np.zeros(1))  # per unit, per map (conv) or none
    forward = {"terms": shown, "others": others, "n_others": n_others, "n_inputs": len(terms),
               "bias": float(bias[idx] if bias.ndim == len(idx) else bias[idx[0] % bias.size]),
               "a": float(view["a"][layer][idx]), "activation": activation_name(acts[layer]),
               "y": float(view["y"][layer][idx])}
    fprime, delta = float(view["fprime"][layer][idx]), float(view["delta"][layer][idx])
    if layer == "out":
        backward = {"loss": loss_name(loss, cost_scale), "dE/dy": float(view["dE_dy"][idx]),
                    "fprime": fprime, "delta": delta}
    else:
        terms = _backward_terms(layers, view, layer, idx)
        shown, others, n_others = _summed(terms, int(top))
        backward = {"terms": shown, "others": others, "n_others": n_others, "n_outputs": len(terms),
                    "sum": float(np.sum([t["product"] for t in terms])), "fprime": fprime, "delta": delta}
    return {"layer": layer, "index": list(idx), "name": _name(layer, idx), "forward": forward, "backward": backward}
