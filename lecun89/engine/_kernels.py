"""The numba engine's compiled kernels (see :mod:`lecun89.engine`): whole online
passes of Net-1989 or of the fully connected network, forward, backward,
second-derivative pass and update for every digit in one compiled loop
(:func:`run_pass`). Inference over many digits is
:mod:`lecun89.engine._forward`'s.

The arithmetic is the numpy layers' (:mod:`lecun89.layers`), written as loops
over the real connections (the H2 table is walked, not masked); the sums run in
another order, so results agree with the numpy engine to rounding, not bit for
bit. Importing this module imports numba.
"""

from __future__ import annotations

import numba
import numpy as np

# reassoc lets the compiler vectorise the dot products' sums (the order of the
# additions changes, not what is added); contract allows fused multiply-adds;
# numpy's error model drops Python's zero-division checks, which keep a loop
# with a division (SDLM's step, tanh) from being vectorised.
jit = numba.njit(cache=True, fastmath={"reassoc", "contract"}, boundscheck=False, error_model="numpy")


@jit
def _fill(a, v):
    """a[...] = v for a C-contiguous array, as a plain loop (numba compiles a
    slice assignment's general broadcasting code, seconds each time)."""
    f = a.reshape(a.size)
    for i in range(f.size):
        f[i] = v


@jit
def _square(a, out):
    """out = a * a, elementwise over C-contiguous arrays of one size."""
    f, g = a.reshape(a.size), out.reshape(out.size)
    for i in range(f.size):
        g[i] = f[i] * f[i]


@jit
def _im2col(xp, OW, cols):
    """cols (C, 25, P): the 5x5 window of every map at each of the P positions of
    a stride-2 convolution over xp (C, H+4, W+4), the input padded by 2;
    positions last, so the products below run along contiguous rows."""
    C, _, P = cols.shape
    OH = P // OW
    for ch in range(C):
        for ki in range(5):
            for kj in range(5):
                t = ki * 5 + kj
                for i in range(OH):
                    row = xp[ch, 2 * i + ki]
                    for j in range(OW):
                        cols[ch, t, i * OW + j] = row[2 * j + kj]


@jit
def _conv_fwd(cols, w, b, bmode, table, a):
    """a (M, P) = bias + sum over the table's maps c of w[o, c] . windows."""
    M, P = a.shape
    k = table.shape[1]
    for o in range(M):
        for p in range(P):
            a[o, p] = b[o * P + p] if bmode == 2 else (b[o] if bmode == 1 else 0.0)
        for c in range(k):
            ch = table[o, c]
            for t in range(25):
                wv = w[o, c, t]
                for p in range(P):
                    a[o, p] += wv * cols[ch, t, p]


@jit
def _conv_bwd(cols, w, bmode, table, da, gw, gb, dcols, need_dx):
    """dE/dw into gw (M, k, 25), dE/db into gb and, with need_dx, dE/d(windows)
    into dcols (C, 25, P), from da (M, P). The second-derivative pass calls it
    with the windows and weights squared."""
    M, P = da.shape
    k = table.shape[1]
    for o in range(M):
        for c in range(k):
            ch = table[o, c]
            for t in range(25):
                s = 0.0
                for p in range(P):
                    s += da[o, p] * cols[ch, t, p]
                gw[o, c, t] = s
    if need_dx:
        _fill(dcols, 0.0)
        for o in range(M):
            for c in range(k):
                ch = table[o, c]
                for t in range(25):
                    wv = w[o, c, t]
                    for p in range(P):
                        dcols[ch, t, p] += wv * da[o, p]
    if bmode == 2:
        for o in range(M):
            for p in range(P):
                gb[o * P + p] = da[o, p]
    elif bmode == 1:
        for o in range(M):
            s = 0.0
            for p in range(P):
                s += da[o, p]
            gb[o] = s


@jit
def _col2im(dcols, OW, dxp):
    """dxp (C, H+4, W+4) = the windows' gradients summed back onto the input
    padded by 2 (the padding's share is dropped by the caller)."""
    C = dcols.shape[0]
    OH = dcols.shape[2] // OW
    _fill(dxp, 0.0)
    for ch in range(C):
        for ki in range(5):
            for kj in range(5):
                t = ki * 5 + kj
                for i in range(OH):
                    row = dxp[ch, 2 * i + ki]
                    for j in range(OW):
                        row[2 * j + kj] += dcols[ch, t, i * OW + j]


# exp by range reduction (u = k ln2 + r, |r| <= ln2 / 2) and a degree-12 Taylor
# polynomial for e^r - 1 (error below 2e-16 there): plain arithmetic, so the
# compiler vectorises it, where a call to libm's exp runs one number at a time.
_MAGIC = 6755399441055744.0       # 1.5 * 2**52: x + _MAGIC rounds x to an integer held in the low bits
_MAGIC_BITS = 0x4338000000000000  # the bits of _MAGIC
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238      # ln 2 in two parts (Cody and Waite): k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10


# Without reassoc: x + _MAGIC - _MAGIC must round, not cancel.
@numba.njit(cache=True, fastmath={"contract"}, boundscheck=False, error_model="numpy")
def tanh_layer(a, A, S, y, fp, scratch):
    """y = A tanh(S a) (in place if y is a), fp = f'(a) = A S (1 - tanh^2), elementwise over flat arrays
    (scratch: as long as a). tanh(z) = m / (m + 2) with m = e^(2z) - 1, z clamped
    to +-20 (where tanh is +-1 in float64): within 1e-15 of numpy's tanh."""
    n = a.size
    bits = scratch.view(np.int64)
    for i in range(n):
        u = 2.0 * min(max(a[i] * S, -20.0), 20.0)
        kd = u * _LOG2E + _MAGIC
        scratch[i] = kd
        k = kd - _MAGIC
        r = (u - k * _LN2_HI) - k * _LN2_LO
        y[i] = r * (1.0 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (
            1 / 5040 + r * (1 / 40320 + r * (1 / 362880 + r * (1 / 3628800 + r * (1 / 39916800 + r * (
                1 / 479001600))))))))))))  # e^r - 1
    for i in range(n):
        bits[i] = (bits[i] - _MAGIC_BITS + 1023) << 52  # 2^k
    for i in range(n):
        p2 = scratch[i]
        m = p2 * y[i] + (p2 - 1.0)  # e^u - 1 = 2^k (e^r - 1) + 2^k - 1
        t = m / (m + 2.0)
        fp[i] = (1.0 - t * t) * (A * S)
        y[i] = t * A


@jit
def _linear_fwd(x, w, b, a):
    for o in range(w.shape[0]):
        s = 0.0
        for i in range(w.shape[1]):
            s += x[i] * w[o, i]
        a[o] = s + b[o]


@jit
def _linear_bwd(x, w, da, gw, gb, dx, need_dx):
    """The second-derivative pass calls it with x and w squared."""
    _fill(dx, 0.0)
    for o in range(w.shape[0]):
        d = da[o]
        gb[o] = d
        for i in range(w.shape[1]):
            gw[o, i] = d * x[i]
        if need_dx:
            for i in range(w.shape[1]):
                dx[i] += w[o, i] * d


# The units: scaled tanh A tanh(S a) (plain tanh: A = S = 1), ReLU, none (the
# identity: logits). engine.py maps the layers' activations to these codes.
SCALED_TANH, RELU, IDENTITY = 0, 1, 2


@jit
def _units(a, kind, A, S, y, fp, scratch):
    """y = f(a) and fp = f'(a) elementwise over flat arrays (as layers.py's units)."""
    if kind == SCALED_TANH:
        tanh_layer(a, A, S, y, fp, scratch)
    elif kind == RELU:
        for i in range(a.size):
            on = a[i] > 0.0
            y[i] = a[i] if on else 0.0
            fp[i] = 1.0 if on else 0.0
    else:
        for i in range(a.size):
            y[i] = a[i]
            fp[i] = 1.0




@jit
def _sgd_step(flat, grad, lr):
    for i in range(flat.size):
        flat[i] -= lr * grad[i]


@jit
def _sdlm_step(flat, grad, hess, h, lr, gamma, mu):
    """SN2.8's step: h, the running average of d2E/dw2, then w -= lr dE/dw / (h + mu)."""
    for i in range(flat.size):
        h[i] = h[i] * (1.0 - gamma) + gamma * hess[i]
        flat[i] -= lr * (grad[i] / (h[i] + mu))


@jit
def _adamw_step(flat, grad, m, v, t, lr, b1, b2, eps, wd):
    """optim.AdamW's step (PyTorch's formulation, in its order of operations):
    t counts the steps (t[0]), m and v the moments."""
    t[0] += 1.0
    n = t[0]
    if wd != 0.0:
        decay = 1.0 - lr * wd
        for i in range(flat.size):
            flat[i] *= decay
    sqrt_bc2 = np.sqrt(1.0 - b2 ** n)
    eps_b = eps * sqrt_bc2
    scale = lr * sqrt_bc2 / (1.0 - b1 ** n)
    for i in range(flat.size):
        g = grad[i]
        m[i] += (g - m[i]) * (1.0 - b1)
        v[i] += (g * g - v[i]) * (1.0 - b2)
        flat[i] -= m[i] / (np.sqrt(v[i]) + eps_b) * scale


@jit
def _params(flat, offs, t1, t2):
    """Views of H1.w, H1.b, H2.w, H2.b (the two convolutions; empty without
    them), then of the two full connections' weights and biases (H3 and out, or
    the fully connected network's H1 and out) in flat. offs: their offsets
    (bias offsets unused when the bias mode is 0); t1, t2: the H1 and H2 tables."""
    O1, k1 = t1.shape
    O2, k2 = t2.shape
    n3 = offs[6] - offs[5]  # hidden units of the first full connection: the length of its bias
    nf = (offs[5] - offs[4]) // n3  # its inputs
    return (flat[offs[0]:offs[0] + O1 * k1 * 25].reshape(O1, k1, 25), flat[offs[1]:],
            flat[offs[2]:offs[2] + O2 * k2 * 25].reshape(O2, k2, 25), flat[offs[3]:],
            flat[offs[4]:offs[4] + n3 * nf].reshape(n3, nf), flat[offs[5]:offs[5] + n3],
            flat[offs[6]:offs[6] + 10 * n3].reshape(10, n3), flat[offs[7]:offs[7] + 10])


@jit
def _forward_buffers(O1, O2, n3, nf, pad1, pad2):
    """The forward's work arrays (see :func:`_forward`)."""
    xp, y1p = np.empty((1, 20, 20)), np.empty((O1, 12, 12))
    _fill(xp, pad1)
    _fill(y1p, pad2)
    return (xp, y1p, np.empty((1, 25, 64)), np.empty((O1, 25, 16)),
            np.empty((O1, 64)), np.empty((O1, 64)), np.empty((O1, 64)),
            np.empty((O2, 16)), np.empty((O2, 16)), np.empty((O2, 16)),
            np.empty(n3), np.empty(n3), np.empty(n3), np.empty(10), np.empty(10), np.empty(10),
            np.empty(max(O1 * 64, O2 * 16, n3, 10)), np.empty(nf))


@jit
def _forward(x, p, t1, t2, bmode, acts, bufs, conv, mask):
    """One digit x (16, 16) forward: every layer's sums (a), units (y) and
    slopes (f) into bufs (:func:`_forward_buffers`; xp, y1p: the two padded
    inputs; feat: what the first full connection reads, dropout's mask
    applied); p: :func:`_params`; acts: the hidden and the output units (kind,
    A, S); conv: Net-1989 (else the fully connected network); mask: dropout's
    (inverted, scaled) mask over feat, or empty."""
    w1, b1, w2, b2, w3, b3, w4, b4 = p
    xp, y1p, cols1, cols2, a1, y1, f1, a2, y2, f2, a3, y3, f3, a4, y4, f4, scratch, feat = bufs
    kh, Ah, Sh, ko, Ao, So = acts
    if conv:
        for i in range(16):
            for j in range(16):
                xp[0, i + 2, j + 2] = x[i, j]
        _im2col(xp, 8, cols1)
        _conv_fwd(cols1, w1, b1, bmode, t1, a1)
        _units(a1.ravel(), kh, Ah, Sh, y1.ravel(), f1.ravel(), scratch)
        for ch in range(y1.shape[0]):
            for i in range(8):
                for j in range(8):
                    y1p[ch, i + 2, j + 2] = y1[ch, i * 8 + j]
        _im2col(y1p, 4, cols2)
        _conv_fwd(cols2, w2, b2, bmode, t2, a2)
        _units(a2.ravel(), kh, Ah, Sh, y2.ravel(), f2.ravel(), scratch[:a2.size])
        src = y2.ravel()
    else:
        src = x.ravel()
    for i in range(feat.size):
        feat[i] = src[i] * mask[i] if mask.size else src[i]
    _linear_fwd(feat, w3, b3, a3)
    _units(a3, kh, Ah, Sh, y3, f3, scratch[:a3.size])
    _linear_fwd(y3, w4, b4, a4)
    _units(a4, ko, Ao, So, y4, f4, scratch[:a4.size])


@jit
def run_pass(X, T, order, flat, grad, hess, s1, s2, s3, outs, offs, t1, t2, bmode, pad1, pad2, conv, acts,
             ce, loss_factor, opt, lr, hyper, masks, shifts):
    """Online steps over X (N, 16, 16) in ``order``: flat (and the optimizer's
    state) updated in place; outs[step] gets each digit's outputs before its
    update, and grad and hess are left holding the last digit's dE/dw and
    d2E/dw2 (hess: SDLM only).

    offs, t1, t2, conv: see :func:`_params` and :func:`_forward`; acts: (kind,
    A, S) of the hidden and of the output units. ce: softmax cross-entropy
    (else squared error, dE/dy = loss_factor (y - t), d2E/dy2 = loss_factor).
    opt: 0 SGD, 1 SDLM with SN2.8's running estimator (s1: h; hyper: gamma,
    mu), 3 SDLM with LeNet-5's snapshot (s1: each weight's step size for the
    pass, lr / (mu + h), set by optim.SDLM.start_pass), 2 AdamW (s1, s2: m, v; s3: [t]; hyper: beta1, beta2, eps, weight
    decay). masks (steps, features): dropout's masks, or empty; shifts (steps,
    2): each digit's (dy, dx) shift, background -1 in the gap, or empty."""
    O1 = t1.shape[0]
    O2 = t2.shape[0]
    n3 = offs[6] - offs[5]
    nf = (offs[5] - offs[4]) // n3
    n4 = 10
    sdlm = opt == 1
    p = _params(flat, offs, t1, t2)
    bufs = _forward_buffers(O1, O2, n3, nf, pad1, pad2)
    xp, y1p, cols1, cols2, a1, y1, f1, a2, y2, f2, a3, y3, f3, a4, y4, f4, scratch, feat = bufs
    sq1 = np.empty((1, 25, 64))
    sq2 = np.empty((O1, 25, 16))
    wsq = np.empty(flat.size)  # the weights squared, for the second-derivative pass
    pgrad, phess, psq = _params(grad, offs, t1, t2), _params(hess, offs, t1, t2), _params(wsq, offs, t1, t2)
    featsq = np.empty(nf)
    y3sq = np.empty(n3)
    d4 = np.empty(n4)
    d3 = np.empty(n3)
    dy2 = np.empty(nf)
    d2 = np.empty((O2, 16))
    dcols2 = np.empty((O1, 25, 16))
    dy1p = np.empty((O1, 12, 12))
    d1 = np.empty((O1, 64))
    xs = np.empty((16, 16))
    no_mask = np.empty(0)
    for step in range(order.size):
        n = order[step]
        x = X[n]
        if shifts.size:
            dy, dx = shifts[step, 0], shifts[step, 1]
            for i in range(16):
                for j in range(16):
                    r, c = i - dy, j - dx
                    xs[i, j] = x[r, c] if 0 <= r < 16 and 0 <= c < 16 else -1.0
            x = xs
        mask = masks[step] if masks.size else no_mask
        _forward(x, p, t1, t2, bmode, acts, bufs, conv, mask)
        for o in range(n4):
            outs[step, o] = y4[o]
        if ce:  # dE/dy = softmax(y) - t
            mx = y4[0]
            for o in range(n4):
                mx = max(mx, y4[o])
            s = 0.0
            for o in range(n4):
                d4[o] = np.exp(y4[o] - mx)
                s += d4[o]
            for o in range(n4):
                d4[o] = (d4[o] / s - T[n, o]) * f4[o]
        for pas in range(2 if sdlm else 1):
            square = pas == 1
            if square:
                _square(flat, wsq)
                _square(feat, featsq)
                _square(y3, y3sq)
                if conv:
                    _square(cols1, sq1)
                    _square(cols2, sq2)
                pw, pg, c1, c2, x2, x3 = psq, phess, sq1, sq2, featsq, y3sq
            else:
                pw, pg, c1, c2, x2, x3 = p, pgrad, cols1, cols2, feat, y3
            w1, _, w2, _, w3, _, w4, _ = pw
            g1, gb1, g2, gb2, g3, gb3, g4, gb4 = pg
            for o in range(n4):
                if square:
                    d4[o] = loss_factor * (f4[o] * f4[o])
                elif not ce:
                    d4[o] = (y4[o] - T[n, o]) * loss_factor * f4[o]
            _linear_bwd(x3, w4, d4, g4, gb4, d3, True)
            for i in range(n3):
                d3[i] *= f3[i] * f3[i] if square else f3[i]
            _linear_bwd(x2, w3, d3, g3, gb3, dy2, conv)
            if not conv:
                continue
            for i in range(nf):
                if mask.size:
                    dy2[i] *= mask[i] * mask[i] if square else mask[i]
            for o in range(O2):
                for q in range(16):
                    f = f2[o, q]
                    d2[o, q] = dy2[o * 16 + q] * (f * f if square else f)
            _conv_bwd(c2, w2, bmode, t2, d2, g2, gb2, dcols2, True)
            _col2im(dcols2, 4, dy1p)
            for ch in range(O1):
                for r in range(8):
                    for q in range(8):
                        f = f1[ch, r * 8 + q]
                        d1[ch, r * 8 + q] = dy1p[ch, r + 2, q + 2] * (f * f if square else f)
            _conv_bwd(c1, w1, bmode, t1, d1, g1, gb1, dcols2, False)
        if opt == 1:
            _sdlm_step(flat, grad, hess, s1, lr, hyper[0], hyper[1])
        elif opt == 3:
            for i in range(flat.size):
                flat[i] -= s1[i] * grad[i]
        elif opt == 2:
            _adamw_step(flat, grad, s1, s2, s3, lr, hyper[0], hyper[1], hyper[2], hyper[3])
        else:
            _sgd_step(flat, grad, lr)
