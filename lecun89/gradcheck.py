"""Gradient checks: every backward against central finite differences in float64.

The numerical derivative is the fourth-order central difference
``(-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h`` with h = 1e-3: its
truncation error (~h^4) and rounding error (~1e-16/h) both stay near 1e-13,
where the two-point formula cannot get below ~1e-10 at any h.

``rel_error(a, n) = max |a - n| / max(|a| + |n|, floor)`` over the tensor's
entries (CS231n's definition, with a small floor so that entries whose true
gradient is exactly zero are judged by their absolute error).

Dropout masks are redrawn identically for every evaluation and ReLU on/off
patterns are frozen at the checked point, so the function differentiated is the
one the backward pass describes.
"""

from __future__ import annotations


from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lecun89 import layers as L

TOLERANCE = 1e-6
FLOOR = 1e-8


def rel_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = FLOOR) -> float:
    a, n = np.asarray(analytic, float), np.asarray(numeric, float)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)))


STEP = 1e-3


def numeric_grad(f, x: np.ndarray, h: float = STEP) -> np.ndarray:
    """Fourth-order central differences of the scalar f() with respect to the
    array x (perturbed in place and restored)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        values = []
        for step in (2, 1, -1, -2):
            flat[i] = old + step * h
            values.append(f())
        flat[i] = old
        # Differences first: an f that does not depend on this entry gives exactly 0.
        gflat[i] = ((values[3] - values[0]) + 8 * (values[1] - values[2])) / (12 * h)
    return g


def _reseed_dropout(layers, seed=1234):
    from lecun89 import layers as L

    for lay in layers:
        if isinstance(lay, L.Dropout):
            lay.rng = np.random.default_rng(seed)


def _freeze_relu(layers, caches, on: bool):
    """Fix each ReLU's on/off pattern at the one of its last training pass (in
    ``caches``), or let it go (``on=False``)."""
    from lecun89 import layers as L

    for lay, cache in zip(layers, caches, strict=True):
        if isinstance(lay, L.ReLU):
            lay.frozen = cache["fprime"].copy() if on else None


def check_network(net, x: np.ndarray, labels: np.ndarray, loss_kind: str = "mse", h: float = STEP) -> dict:
    """Max relative error of every parameter tensor's gradient, for the loss on (x, labels)."""
    from lecun89 import losses

    loss = losses.make_loss(loss_kind)
    tape = net.new_tape()

    def f():
        _reseed_dropout(net.layers)
        return loss.forward(net.forward(x, train=True, tape=tape), labels)

    f()
    net.backward(loss.backward(), tape)
    analytic = {k: v.copy() for k, v in net.named_grads(tape).items()}
    _freeze_relu(net.layers, tape.caches, True)
    try:
        return {k: rel_error(analytic[k], numeric_grad(f, p, h)) for k, p in net.named_params().items()}
    finally:
        _freeze_relu(net.layers, tape.caches, False)


def check_layer(layer, x: np.ndarray, seed: int = 0, h: float = STEP) -> dict:
    """Checks a single layer's backward with a random linear loss sum(y * R):
    dE/dx and every parameter gradient. Returns {name: rel error}."""
    rng = np.random.default_rng(seed)
    cache, grads = {}, layer.param_zeros()
    _reseed_dropout([layer])
    r = rng.normal(size=layer.forward(x, {}).shape)

    def f():
        _reseed_dropout([layer])
        return float(np.sum(layer.forward(x, cache) * r))

    f()
    dx = layer.backward(r, cache, grads)
    _freeze_relu([layer], [cache], True)
    try:
        out = {"x": rel_error(dx, numeric_grad(f, x, h))}
        for k, p in layer.params.items():
            out[k] = rel_error(grads[k], numeric_grad(f, p, h))
    finally:
        _freeze_relu([layer], [cache], False)
    return out


def standalone(layer: L.Layer, rng: np.random.Generator, scale: float = 0.5) -> L.Layer:
    """Give a layer its own parameter arrays (outside a Network); its gradient
    and Hessian arrays are the caller's (``layer.param_zeros()``)."""

    for k, s in layer.param_shapes.items():
        layer.params[k] = rng.uniform(-scale, scale, size=s)
    return layer


# --- CLI ---------------------------------------------------------------------

def check_config(config, sets=(), batch: int = 2, tol: float = TOLERANCE) -> int:
    """``lecun89 gradcheck``: check a config's network on random digits, print
    each tensor's error; 0 when all are within ``tol``, else 1."""
    from lecun89.config import load_config
    from lecun89.model import INPUT_SHAPE, build_model

    cfg = load_config(config, list(sets))
    net = build_model(cfg.model, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # Random digits-like inputs in [-1, 1]; biases moved off zero so that every
    # parameter's gradient is exercised.
    x = rng.uniform(-1, 1, size=(batch,) + INPUT_SHAPE)
    labels = rng.integers(0, 10, size=batch)
    for k, p in net.named_params().items():
        if k.endswith("bias"):
            p[...] = rng.uniform(-0.5, 0.5, size=p.shape)
    errors = check_network(net, x, labels, cfg.train.loss)
    width = max(len(k) for k in errors)
    print(f"gradient check of {cfg.name} ({cfg.model.arch}, loss {cfg.train.loss}), "
          f"float64 central differences, batch {batch}, tolerance {tol:g}")
    bad = 0
    for k, e in errors.items():
        ok = e <= tol
        bad += not ok
        print(f"  {k:<{width}}  {tuple(net.named_params()[k].shape)!s:<16} max rel error {e:.2e}  "
              f"{'ok' if ok else 'FAIL'}")
    if bad:
        print(f"{bad} parameter tensor(s) above tolerance {tol:g}")
        return 1
    print("all gradients agree")
    return 0
