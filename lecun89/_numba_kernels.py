"""The numba engine's compiled kernels (see :mod:`lecun89.engine`): whole online
passes of Net-1989, forward, backward, second-derivative pass and update for
every digit in one compiled loop (:func:`run_pass`), and the same forward over
many digits (:func:`forward_many`).

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
def _tanh_layer(a, A, S, y, fp, scratch):
    """y = A tanh(S a), fp = f'(a) = A S (1 - tanh^2), elementwise over flat arrays
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
def _linear_bwd(x, w, da, gw, gb, dx):
    """The second-derivative pass calls it with x and w squared."""
    _fill(dx, 0.0)
    for o in range(w.shape[0]):
        d = da[o]
        gb[o] = d
        for i in range(w.shape[1]):
            gw[o, i] = d * x[i]
        for i in range(w.shape[1]):
            dx[i] += w[o, i] * d


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
def _params(flat, offs, t1, t2):
    """Views of H1.w, H1.b, H2.w, H2.b, H3.w, H3.b, out.w, out.b in flat.
    offs: their offsets (bias offsets unused when the bias mode is 0);
    t1, t2: the H1 and H2 tables."""
    O1, k1 = t1.shape
    O2, k2 = t2.shape
    n3 = offs[6] - offs[5]  # H3 units: the length of its bias
    return (flat[offs[0]:offs[0] + O1 * k1 * 25].reshape(O1, k1, 25), flat[offs[1]:],
            flat[offs[2]:offs[2] + O2 * k2 * 25].reshape(O2, k2, 25), flat[offs[3]:],
            flat[offs[4]:offs[4] + n3 * O2 * 16].reshape(n3, O2 * 16), flat[offs[5]:offs[5] + n3],
            flat[offs[6]:offs[6] + 10 * n3].reshape(10, n3), flat[offs[7]:offs[7] + 10])


@jit
def _forward_buffers(O1, O2, n3, pad1, pad2):
    """The forward's work arrays (see :func:`_forward`)."""
    xp, y1p = np.empty((1, 20, 20)), np.empty((O1, 12, 12))
    _fill(xp, pad1)
    _fill(y1p, pad2)
    return (xp, y1p, np.empty((1, 25, 64)), np.empty((O1, 25, 16)),
            np.empty((O1, 64)), np.empty((O1, 64)), np.empty((O1, 64)),
            np.empty((O2, 16)), np.empty((O2, 16)), np.empty((O2, 16)),
            np.empty(n3), np.empty(n3), np.empty(n3), np.empty(10), np.empty(10), np.empty(10),
            np.empty(max(O1 * 64, O2 * 16, n3, 10)))


@jit
def _forward(x, p, t1, t2, bmode, acts, bufs):
    """One digit x (16, 16) forward: every layer's sums (a), units (y) and
    slopes (f) into bufs (:func:`_forward_buffers`; xp, y1p: the two padded
    inputs); p: :func:`_params`; acts: (A, S) of the hidden and of the output units."""
    w1, b1, w2, b2, w3, b3, w4, b4 = p
    xp, y1p, cols1, cols2, a1, y1, f1, a2, y2, f2, a3, y3, f3, a4, y4, f4, scratch = bufs
    Ah, Sh, Ao, So = acts
    for i in range(16):
        for j in range(16):
            xp[0, i + 2, j + 2] = x[i, j]
    _im2col(xp, 8, cols1)
    _conv_fwd(cols1, w1, b1, bmode, t1, a1)
    _tanh_layer(a1.ravel(), Ah, Sh, y1.ravel(), f1.ravel(), scratch)
    for ch in range(y1.shape[0]):
        for i in range(8):
            for j in range(8):
                y1p[ch, i + 2, j + 2] = y1[ch, i * 8 + j]
    _im2col(y1p, 4, cols2)
    _conv_fwd(cols2, w2, b2, bmode, t2, a2)
    _tanh_layer(a2.ravel(), Ah, Sh, y2.ravel(), f2.ravel(), scratch[:a2.size])
    _linear_fwd(y2.ravel(), w3, b3, a3)
    _tanh_layer(a3, Ah, Sh, y3, f3, scratch[:a3.size])
    _linear_fwd(y3, w4, b4, a4)
    _tanh_layer(a4, Ao, So, y4, f4, scratch[:a4.size])


@jit
def forward_many(X, flat, offs, t1, t2, bmode, pad1, pad2, Ah, Sh, Ao, So, outs):
    """outs (N, 10) = the outputs for every digit of X (N, 16, 16): the same
    forward as :func:`run_pass`'s."""
    p = _params(flat, offs, t1, t2)
    bufs = _forward_buffers(t1.shape[0], t2.shape[0], offs[6] - offs[5], pad1, pad2)
    for n in range(X.shape[0]):
        _forward(X[n], p, t1, t2, bmode, (Ah, Sh, Ao, So), bufs)
        for o in range(10):
            outs[n, o] = bufs[14][o]


@jit
def run_pass(X, T, order, flat, grad, hess, h, outs, offs, t1, t2, bmode, pad1, pad2,
             Ah, Sh, Ao, So, loss_factor, lr, sdlm, mu, gamma):
    """Online steps over X (N, 16, 16) in ``order``: flat (and SDLM's running h)
    updated in place; outs[step] gets each digit's outputs before its update, and
    grad and hess are left holding the last digit's dE/dw and d2E/dw2.

    offs: offsets of H1.w, H1.b, H2.w, H2.b, H3.w, H3.b, out.w, out.b in flat
    (bias offsets unused when bmode == 0); t1, t2: the H1 and H2 tables."""
    O1 = t1.shape[0]
    O2 = t2.shape[0]
    n3 = offs[6] - offs[5]  # H3 units: the length of its bias
    n4 = 10
    p = _params(flat, offs, t1, t2)
    bufs = _forward_buffers(O1, O2, n3, pad1, pad2)
    xp, y1p, cols1, cols2, a1, y1, f1, a2, y2, f2, a3, y3, f3, a4, y4, f4, scratch = bufs
    sq1 = np.empty((1, 25, 64))
    sq2 = np.empty((O1, 25, 16))
    wsq = np.empty(flat.size)  # the weights squared, for the second-derivative pass
    pgrad, phess, psq = _params(grad, offs, t1, t2), _params(hess, offs, t1, t2), _params(wsq, offs, t1, t2)
    y2sq = np.empty((O2, 16))
    y3sq = np.empty(n3)
    d4 = np.empty(n4)
    d3 = np.empty(n3)
    dy2 = np.empty(O2 * 16)
    d2 = np.empty((O2, 16))
    dcols2 = np.empty((O1, 25, 16))
    dy1p = np.empty((O1, 12, 12))
    d1 = np.empty((O1, 64))
    for step in range(order.size):
        n = order[step]
        _forward(X[n], p, t1, t2, bmode, (Ah, Sh, Ao, So), bufs)
        for o in range(n4):
            outs[step, o] = y4[o]
        for pas in range(2 if sdlm else 1):
            square = pas == 1
            if square:
                _square(flat, wsq)
                _square(cols1, sq1)
                _square(cols2, sq2)
                _square(y2, y2sq)
                _square(y3, y3sq)
                pw, pg, c1, c2, x2, x3 = psq, phess, sq1, sq2, y2sq, y3sq
            else:
                pw, pg, c1, c2, x2, x3 = p, pgrad, cols1, cols2, y2, y3
            w1, _, w2, _, w3, _, w4, _ = pw
            g1, gb1, g2, gb2, g3, gb3, g4, gb4 = pg
            for o in range(n4):
                if square:
                    d4[o] = loss_factor * (f4[o] * f4[o])
                else:
                    d4[o] = (y4[o] - T[n, o]) * loss_factor * f4[o]
            _linear_bwd(x3, w4, d4, g4, gb4, d3)
            for i in range(n3):
                d3[i] *= f3[i] * f3[i] if square else f3[i]
            _linear_bwd(x2.ravel(), w3, d3, g3, gb3, dy2)
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
        if sdlm:
            _sdlm_step(flat, grad, hess, h, lr, gamma, mu)
        else:
            _sgd_step(flat, grad, lr)
