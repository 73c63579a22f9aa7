"""The numba engine's batched inference (see :mod:`lecun89.engine`): the forward
of Net-1989 or of the fully connected network over many digits at once, with
the digits in the innermost, contiguous axis of every array, so that each
multiply-add runs across a block of :data:`BLOCK` digits in the machine's
vector registers.

Each digit's sums run in one fixed order whatever the block and its place in
it (a short last block is padded), so the outputs are bit-identical run to run
and for any number of digits; they agree with the numpy layers
(``Network.predict``) to rounding. Importing this module imports numba.
"""

from __future__ import annotations

import numba
import numpy as np

from lecun89.engine._kernels import RELU, SCALED_TANH, tanh_layer

# See lecun89/engine/_kernels.py for these flags.
jit = numba.njit(cache=True, fastmath={"reassoc", "contract"}, boundscheck=False, error_model="numpy")

# Digits per block: 16 ran fastest here (8 and 32 slower: shorter vector loops,
# or work arrays out of the first-level cache).
BLOCK = 16


@jit
def _units(a, kind, A, S, y, scratch):
    """y = the units' outputs over a (both flat; scratch: twice as long, for
    scaled tanh's slopes, unused here, and its work array). Separate arrays: an
    elementwise loop writing what it reads is not vectorised."""
    if kind == SCALED_TANH:
        tanh_layer(a, A, S, y, scratch[:a.size], scratch[a.size:2 * a.size])
    elif kind == RELU:
        for i in range(a.size):
            y[i] = max(a[i], 0.0)
    else:
        for i in range(a.size):
            y[i] = a[i]


@jit
def conv_block(xs, Hp, Wp, w, b, bmode, table, OW, a):
    """a (M * P * BLOCK, flat: map, position, digit) = bias + the stride-2 5x5
    convolution over the table's maps of xs, the input padded by 2 (Hp rows of
    Wp) and split by column parity: the block's values at (ch, row, col) start
    at index (((ch * Hp + row) * 2 + col % 2) * (Wp // 2) + col // 2) * BLOCK.
    Then for one kernel row, the output row it adds to and the inputs each of
    its weights reads are contiguous runs (position, digit) of OW * BLOCK numbers."""
    M = table.shape[0]
    k = table.shape[1]
    P = OW * OW
    L = OW * BLOCK
    hw = Wp // 2
    for o in range(M):
        for i in range(OW):
            d0 = (o * P + i * OW) * BLOCK
            dst = a[d0:d0 + L]  # (slices: an index computed inside the loop would not vectorise)
            for j in range(OW):
                b0 = b[o * P + i * OW + j] if bmode == 2 else (b[o] if bmode == 1 else 0.0)
                for q in range(BLOCK):
                    dst[j * BLOCK + q] = b0
            for c in range(k):
                ch = table[o, c]
                for ki in range(5):
                    # the row's five weights at once: its even columns at 0, 1 and 2
                    # positions on, its odd ones at 0 and 1
                    row = ch * Hp + 2 * i + ki
                    e0, o0 = row * 2 * hw * BLOCK, (row * 2 + 1) * hw * BLOCK
                    ev, od = xs[e0:e0 + L + 2 * BLOCK], xs[o0:o0 + L + BLOCK]
                    t = ki * 5
                    w0, w1, w2, w3, w4 = w[o, c, t], w[o, c, t + 1], w[o, c, t + 2], w[o, c, t + 3], w[o, c, t + 4]
                    for n in range(L):
                        dst[n] += (w0 * ev[n] + w1 * od[n] + w2 * ev[n + BLOCK] + w3 * od[n + BLOCK]
                                   + w4 * ev[n + 2 * BLOCK])


@jit
def split_block(src, C, H, W, Hp, xs):
    """xs (see :func:`conv_block`) = src (C, H * W, BLOCK) padded by 2 and split
    by column parity: only the inside is written (the padding is set once)."""
    Wp = W + 4
    hw = Wp // 2
    for ch in range(C):
        for r in range(H):
            for col in range(W):
                cc = col + 2
                d0 = (((ch * Hp + r + 2) * 2 + cc % 2) * hw + cc // 2) * BLOCK
                s, d = src[ch, r * W + col], xs[d0:d0 + BLOCK]
                for q in range(BLOCK):
                    d[q] = s[q]


@jit
def linear_block(x, w, b, nb, a):
    """a (O, nb) = b + w (O, I) x (I, nb), four inputs at a time; nb (BLOCK)
    given at run time: a loop of unknown length is vectorised, where a constant
    one would be unrolled into scalar operations."""
    ni = w.shape[1]
    for o in range(w.shape[0]):
        dst = a[o]
        for q in range(nb):
            dst[q] = b[o]
        for i in range(0, ni - 3, 4):
            w0, w1, w2, w3 = w[o, i], w[o, i + 1], w[o, i + 2], w[o, i + 3]
            x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
            for q in range(nb):
                dst[q] += w0 * x0[q] + w1 * x1[q] + w2 * x2[q] + w3 * x3[q]
        for i in range(ni - ni % 4, ni):
            wv, src = w[o, i], x[i]
            for q in range(nb):
                dst[q] += wv * src[q]


@jit
def forward_blocks(X, flat, offs, t1, t2, bmode, pad1, pad2, conv, hidden, A, S, out_kind, Ao, So, outs):
    """outs (N, 10) = the outputs of every digit of X (N, 256), pixels in row order.

    ``conv``: Net-1989 (H1, H2 convolutions over the tables t1, t2, then the
    full connections), else the fully connected network; offs: the offsets in
    flat of the two convolutions' weights and biases (unused without conv),
    then of the two full connections' (H3 and out, or H1 and out); hidden
    units ``hidden`` (their (A, S) for scaled tanh), output units ``out_kind``."""
    N = X.shape[0]
    O1, k1 = t1.shape
    O2, k2 = t2.shape
    n3 = offs[6] - offs[5]
    nf = (offs[5] - offs[4]) // n3  # the features H3 (or H1) reads
    w1 = flat[offs[0]:offs[0] + O1 * k1 * 25].reshape(O1, k1, 25)
    w2 = flat[offs[2]:offs[2] + O2 * k2 * 25].reshape(O2, k2, 25)
    b1, b2 = flat[offs[1]:], flat[offs[3]:]
    w3 = flat[offs[4]:offs[4] + n3 * nf].reshape(n3, nf)
    b3 = flat[offs[5]:offs[5] + n3]
    w4 = flat[offs[6]:offs[6] + 10 * n3].reshape(10, n3)
    b4 = flat[offs[7]:offs[7] + 10]
    xin = np.empty((1, 256, BLOCK))
    xs1 = np.empty(20 * 20 * BLOCK)
    xs2 = np.empty(O1 * 12 * 12 * BLOCK)
    for q in range(xs1.size):
        xs1[q] = pad1
    for q in range(xs2.size):
        xs2[q] = pad2
    a1, y1 = np.empty(O1 * 64 * BLOCK), np.empty(O1 * 64 * BLOCK)
    a2, y2 = np.empty(O2 * 16 * BLOCK), np.empty(O2 * 16 * BLOCK)
    feat = np.empty((nf, BLOCK))
    a3, y3 = np.empty((n3, BLOCK)), np.empty((n3, BLOCK))
    a4, y4 = np.empty((10, BLOCK)), np.empty((10, BLOCK))
    scratch = np.empty(2 * max(O1 * 64, O2 * 16, nf, n3, 10) * BLOCK)
    for start in range(0, N, BLOCK):
        nb = min(BLOCK, N - start)
        # The block, digits last (a short block padded with zeros: every lane runs the same sums).
        x = xin[0] if conv else feat
        for i in range(256 if conv else nf):
            dst = x[i]
            for q in range(nb):
                dst[q] = X[start + q, i]
            for q in range(nb, BLOCK):
                dst[q] = 0.0
        if conv:
            split_block(xin, 1, 16, 16, 20, xs1)
            conv_block(xs1, 20, 20, w1, b1, bmode, t1, 8, a1)
            _units(a1, hidden, A, S, y1, scratch)
            split_block(y1.reshape(O1, 64, BLOCK), O1, 8, 8, 12, xs2)
            conv_block(xs2, 12, 12, w2, b2, bmode, t2, 4, a2)
            _units(a2, hidden, A, S, y2, scratch)
            linear_block(y2.reshape(nf, BLOCK), w3, b3, BLOCK, a3)
        else:
            linear_block(feat, w3, b3, BLOCK, a3)
        _units(a3.ravel(), hidden, A, S, y3.ravel(), scratch)
        linear_block(y3, w4, b4, BLOCK, a4)
        _units(a4.ravel(), out_kind, Ao, So, y4.ravel(), scratch)
        for q in range(nb):
            for o in range(10):
                outs[start + q, o] = y4[o, q]
