"""The benchmark's breakdown of the compiled step (scripts/bench.py): each piece
of it, the engine's own kernels (lecun89/engine/_kernels.py, private to the
engine: this script reads them as the engine's tests read the layers), timed
alone in a compiled loop on a real digit, microseconds per call."""

from __future__ import annotations

import time

import numba
import numpy as np

from lecun89 import losses
from lecun89.engine import NumbaPass
from lecun89.engine import _kernels as K
from lecun89.model import build_model

# (arrays go in as arguments: numba would freeze closed-over arrays read-only)
loop = numba.njit(fastmath={"reassoc", "contract"}, boundscheck=False, error_model="numpy")


@loop
def _h1_windows(n, x, xp, X1T):
    for _ in range(n):
        K._h1_windows(x, 0, 0, xp, X1T)


@loop
def _h1_sums(n, X1T, w1, b1, bmode, a1, y1, f1, scratch, A, S):
    for _ in range(n):
        K._h1_sums(X1T, w1, b1, bmode, a1)
        K.tanh_layer(a1.ravel(), A, S, y1.ravel(), f1.ravel(), scratch)


@loop
def _h2_windows(n, y1, y1p, X2):
    for _ in range(n):
        K._h2_windows(y1, y1p, X2)


@loop
def _h2_sums(n, X2, w2, b2, bmode, gm, gn, gru, gr, a2, y2, f2, scratch, A, S):
    for _ in range(n):
        K._h2_sums(X2, w2, b2, bmode, gm, gn, gru, gr, a2)
        K.tanh_layer(a2.ravel(), A, S, y2.ravel(), f2.ravel(), scratch)


@loop
def _full_forward(n, feat, w3, b3, a3, y3, f3, w4, b4, a4, y4, f4, scratch, A, S):
    for _ in range(n):
        K._linear(feat, w3, b3, a3)
        K.tanh_layer(a3, A, S, y3, f3, scratch)
        K._linear(y3, w4, b4, a4)
        K.tanh_layer(a4, A, S, y4, f4, scratch)


@loop
def _full_backward(n, feat, y3, w3, w4, d4, d3, dfeat, g3, gb3, g4, gb4):
    for _ in range(n):
        K._linear_grads(y3, w4, d4, g4, gb4, d3, True)
        K._linear_grads(feat, w3, d3, g3, gb3, dfeat, True)


@loop
def _h2_weight_grads(n, X2, d2, bmode, gm, gn, gru, gr, g2, gb2):
    for _ in range(n):
        K._h2_weight_grads(X2, d2, bmode, gm, gn, gru, gr, g2, gb2)


@loop
def _h2_input_grads(n, w2, d2, gm, gn, gru, gr, dX2, dy1p):
    for _ in range(n):
        K._h2_input_grads(w2, d2, gm, gn, gru, gr, dX2, dy1p)


@loop
def _h1_weight_grads(n, X1T, d1, bmode, g1, gb1):
    for _ in range(n):
        K._h1_weight_grads(X1T, d1, bmode, g1, gb1)


@loop
def _update(n, opt, flat, grad, hess, s1, s2, s3, hyper):
    for _ in range(n):
        K.step(opt, flat, grad, hess, s1, s2, s3, 1e-9, hyper)


@loop
def _squares(n, flat, wsq, X1T, X1s, X2, X2s):
    for _ in range(n):
        K.square(flat, wsq)
        K.square(X1T, X1s)
        K.square(X2, X2s)


def _best_us(fn, reps: int, *args) -> float:
    fn(1, *args)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn(reps, *args)
        best = min(best, (time.perf_counter() - t0) / reps * 1e6)
    return best


def pieces(cfg, ds, reps: int) -> dict:
    """Each piece's microseconds per digit, for cfg's network (Net-1989 with
    scaled tanh) after one real pass, on the first training digit."""
    net = build_model(cfg.model, cfg.seed)
    eng = NumbaPass(net, cfg.train)
    x16 = np.ascontiguousarray(ds.x_train[:, 0], dtype=np.float64)
    t = losses.make_loss(cfg.train.loss, cfg.train.cost_scale).targets(ds.y_train)
    eng.run(x16, t, np.arange(len(x16)), cfg.train.lr, {})  # real weights, not the initial ones
    O1, O2, _, n3, nf, bmode = (int(v) for v in eng.dims)
    A, S = eng.acts[1], eng.acts[2]
    w1, b1, w2, b2, w3, b3, w4, b4 = K._params(net.flat, eng.offs, eng.dims)
    g1, gb1, g2, gb2, g3, gb3, g4, gb4 = K._params(net.flat_grad, eng.offs, eng.dims)
    gm, gn, gru, gr = eng.groups
    xp, y1p = np.full((20, 20), eng.pads[0]), np.full((O1, 12, 12), eng.pads[1])
    X1T, X2 = np.empty((25, 64)), np.empty((16, O1 * 25))
    a1, y1, f1 = (np.empty((O1, 64)) for _ in range(3))
    a2, y2, f2 = (np.empty((O2, 16)) for _ in range(3))
    a3, y3, f3, d3 = (np.empty(n3) for _ in range(4))
    a4, y4, f4 = (np.empty(10) for _ in range(3))
    scratch = np.empty(O1 * 64)
    K._h1_windows(x16[0], 0, 0, xp, X1T)
    K._h1_sums(X1T, w1, b1, bmode, a1)
    K.tanh_layer(a1.ravel(), A, S, y1.ravel(), f1.ravel(), scratch)
    K._h2_windows(y1, y1p, X2)
    rng = np.random.default_rng(0)
    d4, dfeat, d2, d1 = rng.standard_normal(10), np.empty(nf), rng.standard_normal((O2, 16)), rng.standard_normal((O1, 64))
    dX2, dy1p = np.empty_like(X2), np.empty((O1, 12, 12))
    flat, grad, h = net.flat.copy(), net.flat_grad.copy(), np.ones(net.flat.size)
    none, hyper = np.zeros(0), np.array([0.05, 0.05])
    rows = [
        ("H1: the digit's windows", _h1_windows, (x16[0], xp, X1T)),
        ("H1: sums and tanh (64 positions x 12 maps x 25)", _h1_sums, (X1T, w1, b1, bmode, a1, y1, f1, scratch, A, S)),
        ("H2: H1's maps padded, their windows", _h2_windows, (y1, y1p, X2)),
        ("H2: sums over the table and tanh (16 positions x 12 maps x 200)", _h2_sums,
         (X2, w2, b2, bmode, gm, gn, gru, gr, a2, y2, f2, scratch, A, S)),
        ("H3 and output: sums and tanh", _full_forward, (y2.ravel(), w3, b3, a3, y3, f3, w4, b4, a4, y4, f4, scratch,
                                                         A, S)),
        ("output and H3: weight and input gradients", _full_backward, (y2.ravel(), y3, w3, w4, d4, d3, dfeat, g3,
                                                                       gb3, g4, gb4)),
        ("H2: weight gradients", _h2_weight_grads, (X2, d2, bmode, gm, gn, gru, gr, g2, gb2)),
        ("H2: input gradients, summed back onto H1's maps", _h2_input_grads, (w2, d2, gm, gn, gru, gr, dX2, dy1p)),
        ("H1: weight gradients", _h1_weight_grads, (X1T, d1, bmode, g1, gb1)),
        ("SGD: the update of all weights", _update, (K.SGD, flat, grad, grad, none, none, none, none)),
        ("SDLM: weights and windows squared for the second-derivative pass", _squares,
         (flat, np.empty_like(flat), X1T, np.empty_like(X1T), X2, np.empty_like(X2))),
        ("SDLM: running curvature and the divided update", _update,
         (K.SDLM_RUNNING, flat, grad, np.abs(grad), h, none, none, hyper)),
    ]
    return {"pieces": [{"piece": name, "us": _best_us(fn, reps, *args)} for name, fn, args in rows], "reps": reps}
