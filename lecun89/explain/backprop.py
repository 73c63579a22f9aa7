"""Backprop on one digit, layer by layer: the numbers behind the page's backward view.

For a digit and the label a person says it is, :func:`backward_view` runs the
network's own forward and backward passes (the layers of :mod:`lecun89.layers`,
nothing recomputed on the side) and keeps what the chain rule produces at
every layer:

- ``delta``: dE/da, the error signal at each unit's weighted sum ``a``, for the
  10 outputs, the 30 H3 units, the 12 H2 maps of 4x4 and the 12 H1 maps of 8x8.
  At the output it is dE/dy times f'(a); below, each unit's delta is f'(a)
  times the sum over the units it feeds of (weight x their delta);
- ``grad``: dE/dw of every parameter tensor, under the checkpoint's names. A
  unit's bias gradient is its delta; a shared kernel's gradient is the sum,
  over the positions where the kernel is applied, of (delta x the input under it).

Each layer's weighted sums ``a``, outputs ``y = f(a)`` and slopes ``f'(a)`` are
kept too: :mod:`lecun89.explain.chain` writes the chain rule out at one unit from them.

The cost E is the model's training cost for this one digit (squared error
against +-1 targets, or cross-entropy for a model with logit outputs). Dropout,
where a model has it, is off: the view is of the network as it reads.
"""

from __future__ import annotations


import numpy as np

from lecun89 import losses
from lecun89.model import one_digit
from lecun89.threads import one_thread


def backward_view(net, x16: np.ndarray, label: int, loss: str = "mse", cost_scale: str = "mean") -> dict:
    """Forward and backward passes of one 16x16 digit (in [-1, 1]) with target ``label``.

    Returns ``outputs`` (10), ``loss`` (E), ``dE_dy`` (dE/d(outputs), 10),
    ``delta`` (layer name -> dE/da, feature maps as (maps, rows, cols)), ``a``,
    ``y`` and ``fprime`` (layer name -> each unit's weighted sum a, f(a) and
    f'(a), as the layers computed them, shaped as ``delta``) and ``grad``
    (parameter name -> dE/dw), as arrays. The passes run on a tape of this
    call's own (dropout off): the network, its weights and its trainer's
    buffers are only read, so any number of calls may explain it at once,
    while it reads or trains."""
    if not 0 <= int(label) < net.n_out:
        raise ValueError(f"label: expected an integer 0-{net.n_out - 1}, got {label!r}")
    x = one_digit(x16)
    cost = losses.make_loss(loss, cost_scale)
    owners = net.squashing()
    delta: dict[str, np.ndarray] = {}
    seen: dict[str, dict[str, np.ndarray]] = {"a": {}, "y": {}, "fprime": {}}
    tape = net.new_tape(dropout=False)
    with one_thread():
        tape.batch, y = 1, x
        for i, lay in enumerate(net.layers):  # Network.forward's loop, keeping each layer's a and f(a)
            cache = tape.caches[i] if not lay.stochastic else None
            a, y = y, lay.forward(y, cache)
            if i in owners:
                fp = tape.caches[i].get("fprime")  # Identity keeps none: f'(a) = 1
                for key, arr in (("a", a), ("y", y), ("fprime", np.ones_like(a) if fp is None else fp)):
                    seen[key][owners[i]] = _unit_layout(arr)
        value = cost.forward(y, np.array([int(label)]))
        d = cost.backward()
        dout = d[0].copy()
        first = net.layers.index(net.param_layers[0])
        for i in range(len(net.layers) - 1, first - 1, -1):
            lay = net.layers[i]
            d = lay.backward(d, tape.caches[i] if not lay.stochastic else None, tape.grads[i], i != first)
            if i in owners:
                delta[owners[i]] = _unit_layout(d)
    return {"outputs": y[0].copy(), "loss": float(value), "dE_dy": dout, "delta": delta, **seen,
            "grad": {k: g.copy() for k, g in net.named_grads(tape).items()}}


def _unit_layout(arr: np.ndarray) -> np.ndarray:
    """One digit's units, a copy: feature maps (1, H, W, C) as (C, H, W), vectors (1, K) as (K,)."""
    return (arr.transpose(0, 3, 1, 2) if arr.ndim == 4 else arr)[0].copy()


def as_lists(view: dict) -> dict:
    """:func:`backward_view`'s answer with its arrays as (nested) lists, for JSON."""
    return {"outputs": view["outputs"].tolist(), "loss": view["loss"],
            "delta": {k: a.tolist() for k, a in view["delta"].items()},
            "grad": {k: a.tolist() for k, a in view["grad"].items()}}
