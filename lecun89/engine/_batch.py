"""The numba engine's passes at batch > 1 (see :mod:`lecun89.engine`): forward,
backward, second-derivative pass and update of Net-1989 or of the fully
connected network over batches of digits, in one compiled loop
(:func:`batch_kernel`).

A batch runs in blocks of :data:`~lecun89.engine._forward.BLOCK` digits laid
out as the batched inference lays them (:mod:`lecun89.engine._forward`): the
digits in the innermost axis, each padded map split by column parity, so that
every product runs along a contiguous run of (position, digit) numbers. Each
block's forward keeps its units' slopes, its backward adds the block's share
to the weights' gradients (lanes past the batch's last digit get a zero output
gradient, so they add nothing), and the update follows the batch's last block,
as the numpy layers' batch does (its gradient the batch mean's). The sums run
in another order than numpy's, so results agree with it to rounding. Importing
this module imports numba.
"""

from __future__ import annotations

import numpy as np

from lecun89.engine._forward import BLOCK, conv_block, linear_block, split_block
from lecun89.engine._kernels import SDLM_RUNNING, jit, square, step, units


@jit
def _linear_grads(x, w, d, xt, dt, dxt, gw, gb, dx, need_dx):
    """Over a block (digits last): gw (O, I) += d x^T, gb += d summed over the
    digits, and with need_dx, dx (I, BLOCK) = w^T d. x (I, BLOCK), d (O, BLOCK).
    The products run along the inputs (long loops), on the block turned digits
    first: xt, dxt (BLOCK, >= I), dt (BLOCK, >= O) work arrays."""
    n_out, n_in = w.shape
    for i in range(n_in):
        for q in range(BLOCK):
            xt[q, i] = x[i, q]
    for o in range(n_out):
        s = 0.0
        for q in range(BLOCK):
            dt[q, o] = d[o, q]
            s += d[o, q]
        gb[o] += s
    for o in range(n_out):  # 4 digits per pass along the inputs
        g = gw[o]
        for q in range(0, BLOCK, 4):
            e0, e1, e2, e3 = d[o, q], d[o, q + 1], d[o, q + 2], d[o, q + 3]
            x0, x1, x2, x3 = xt[q], xt[q + 1], xt[q + 2], xt[q + 3]
            for i in range(n_in):
                g[i] += e0 * x0[i] + e1 * x1[i] + e2 * x2[i] + e3 * x3[i]
    if need_dx:
        for q in range(BLOCK):  # each digit's w^T d, along the inputs
            dst = dxt[q]
            e = dt[q]
            for i in range(n_in):
                dst[i] = 0.0
            for o in range(n_out):
                wv, row = e[o], w[o]
                for i in range(n_in):
                    dst[i] += wv * row[i]
        for i in range(n_in):
            for q in range(BLOCK):
                dx[i, q] = dxt[q, i]


@jit
def _conv_weight_grads(xs, Hp, Wp, d, bmode, table, OW, gw, gb):
    """gw (M, k, 25) += the block's dE/dw of a stride-2 5x5 convolution (as
    :func:`~lecun89.engine._forward.conv_block` lays its input xs and output
    out): for each kernel row, its five weights' sums along each output row's
    run of (position, digit) numbers; gb += the biases' share of d (M * P * BLOCK)."""
    M, k = table.shape
    P = OW * OW
    L = OW * BLOCK
    hw = Wp // 2
    for o in range(M):
        for c in range(k):
            ch = table[o, c]
            for ki in range(5):
                s0 = s1 = s2 = s3 = s4 = 0.0
                for i in range(OW):
                    e = d[(o * P + i * OW) * BLOCK:(o * P + i * OW) * BLOCK + L]
                    row = ch * Hp + 2 * i + ki
                    e0, o0 = row * 2 * hw * BLOCK, (row * 2 + 1) * hw * BLOCK
                    ev, od = xs[e0:e0 + L + 2 * BLOCK], xs[o0:o0 + L + BLOCK]
                    for n in range(L):
                        en = e[n]
                        s0 += en * ev[n]
                        s1 += en * od[n]
                        s2 += en * ev[n + BLOCK]
                        s3 += en * od[n + BLOCK]
                        s4 += en * ev[n + 2 * BLOCK]
                t = ki * 5
                gw[o, c, t] += s0
                gw[o, c, t + 1] += s1
                gw[o, c, t + 2] += s2
                gw[o, c, t + 3] += s3
                gw[o, c, t + 4] += s4
    if bmode == 2:
        for u in range(M * P):
            s = 0.0
            for q in range(BLOCK):
                s += d[u * BLOCK + q]
            gb[u] += s
    elif bmode == 1:
        for o in range(M):
            s = 0.0
            for n in range(P * BLOCK):
                s += d[o * P * BLOCK + n]
            gb[o] += s


@jit
def _conv_input_grads(w, d, table, OW, Hp, Wp, dpad, dxs):
    """dxs (xs's layout) = dE/d(the padded, split input) of a stride-2 5x5
    convolution from d (M * P * BLOCK): each output row's run, zero-padded by 2
    positions each side in dpad, gives a kernel row's share to the even and
    odd half-columns of the input row it read."""
    M, k = table.shape
    P = OW * OW
    L = OW * BLOCK
    hw = Wp // 2
    for q in range(dxs.size):
        dxs[q] = 0.0
    for o in range(M):
        for i in range(OW):
            src = d[(o * P + i * OW) * BLOCK:(o * P + i * OW) * BLOCK + L]
            for n in range(L):
                dpad[2 * BLOCK + n] = src[n]
            for c in range(k):
                ch = table[o, c]
                for ki in range(5):
                    row = ch * Hp + 2 * i + ki
                    e0, o0 = row * 2 * hw * BLOCK, (row * 2 + 1) * hw * BLOCK
                    ev, od = dxs[e0:e0 + L + 2 * BLOCK], dxs[o0:o0 + L + BLOCK]
                    t = ki * 5
                    w0, w1, w2, w3, w4 = w[o, c, t], w[o, c, t + 1], w[o, c, t + 2], w[o, c, t + 3], w[o, c, t + 4]
                    for n in range(L + 2 * BLOCK):  # even columns: taps 0, 2, 4 at 0, 1, 2 positions on
                        ev[n] += w0 * dpad[n + 2 * BLOCK] + w2 * dpad[n + BLOCK] + w4 * dpad[n]
                    for n in range(L + BLOCK):  # odd columns: taps 1, 3 at 0, 1 positions on
                        od[n] += w1 * dpad[n + 2 * BLOCK] + w3 * dpad[n + BLOCK]


@jit
def _unsplit(dxs, C, H, W, Hp, f, squared, dst):
    """dst (C * H * W * BLOCK) = the inside of dxs (the padded, split layout)
    times the units' slopes f (dst's layout; squared: f^2), the padding's share dropped."""
    hw = (W + 4) // 2
    for ch in range(C):
        for r in range(H):
            for col in range(W):
                cc = col + 2
                s0 = (((ch * Hp + r + 2) * 2 + cc % 2) * hw + cc // 2) * BLOCK
                d0 = ((ch * H + r) * W + col) * BLOCK
                for q in range(BLOCK):
                    fv = f[d0 + q]
                    dst[d0 + q] = dxs[s0 + q] * (fv * fv if squared else fv)


@jit
def _load_block(X, order, start, nb, shifts, dst):
    """dst (256, BLOCK): the block's digits X[order[start:start + nb]] shifted by
    their (dy, dx) (background -1 in the gap), pixels in row order, the lanes
    past nb zero."""
    for i in range(16):
        for j in range(16):
            row = dst[i * 16 + j]
            for q in range(BLOCK):
                row[q] = 0.0
    for q in range(nb):
        x = X[order[start + q]]
        dy = shifts[start + q, 0] if shifts.size else 0
        dx = shifts[start + q, 1] if shifts.size else 0
        for i in range(16):
            r = i - dy
            for j in range(16):
                c = j - dx
                dst[i * 16 + j, q] = x[r, c] if 0 <= r < 16 and 0 <= c < 16 else -1.0


_BATCHES = {}


def batch_kernel(opt: int, ce: bool, conv: bool, dropout: bool, shift: bool):
    """The compiled pass at batch > 1 for one variant (as
    :func:`~lecun89.engine._kernels.pass_kernel`)."""
    key = (opt, ce, conv, dropout, shift)
    if key not in _BATCHES:
        _BATCHES[key] = _make_batch(opt, ce, conv, dropout, shift)
    return _BATCHES[key]


def _make_batch(opt, ce, conv, dropout, shift):
    second = opt == SDLM_RUNNING

    @jit
    def run(X, T, order, batch, flat, grad, hess, s1, s2, s3, outs, offs, t1, t2, bmode, pad1, pad2, acts,
            half_sum, lr, hyper, uniforms, drop_p, shifts):
        """Steps of ``batch`` digits over X (N, 16, 16) in ``order`` (the last one
        shorter where the order runs out): see :func:`~lecun89.engine._kernels.pass_kernel`'s
        run for the arrays; t1, t2: H1's and H2's tables; half_sum: squared
        error's SN2.8 cost (dE/dy = (y - t) / n, else 2 (y - t) / (n K) for a batch
        of n); uniforms and shifts, per digit in order, drawn as the numpy
        engine draws them batch by batch; outs[step] each digit's outputs
        before its batch's update."""
        kh, Ah, Sh, ko, Ao, So = acts
        O1, k1 = t1.shape
        O2, k2 = t2.shape
        n3 = offs[6] - offs[5]
        nf = (offs[5] - offs[4]) // n3
        w1 = flat[offs[0]:offs[0] + O1 * k1 * 25].reshape(O1, k1, 25)
        w2 = flat[offs[2]:offs[2] + O2 * k2 * 25].reshape(O2, k2, 25)
        b1, b2 = flat[offs[1]:], flat[offs[3]:]
        w3 = flat[offs[4]:offs[4] + n3 * nf].reshape(n3, nf)
        b3 = flat[offs[5]:offs[5] + n3]
        w4 = flat[offs[6]:offs[6] + 10 * n3].reshape(10, n3)
        b4 = flat[offs[7]:offs[7] + 10]
        wsq = np.empty(flat.size if second else 0)
        xin = np.empty((256, BLOCK))
        xs1, xs1s = np.full(20 * 20 * BLOCK, pad1), np.empty(20 * 20 * BLOCK if second else 0)
        xs2, xs2s, dxs2 = np.full(O1 * 144 * BLOCK, pad2), np.empty(O1 * 144 * BLOCK if second else 0), \
            np.empty(O1 * 144 * BLOCK)
        a1, y1, f1, d1 = np.empty(O1 * 64 * BLOCK), np.empty(O1 * 64 * BLOCK), np.empty(O1 * 64 * BLOCK), \
            np.empty(O1 * 64 * BLOCK)
        a2, y2, f2, d2 = np.empty(O2 * 16 * BLOCK), np.empty(O2 * 16 * BLOCK), np.empty(O2 * 16 * BLOCK), \
            np.empty(O2 * 16 * BLOCK)
        feat, feats, dfeat, mask = np.empty((nf, BLOCK)), np.empty((nf, BLOCK)), np.empty((nf, BLOCK)), \
            np.ones((nf, BLOCK))
        a3, y3, f3, d3, y3s = np.empty((n3, BLOCK)), np.empty((n3, BLOCK)), np.empty((n3, BLOCK)), \
            np.empty((n3, BLOCK)), np.empty((n3, BLOCK))
        a4, y4, f4, d4 = np.empty((10, BLOCK)), np.empty((10, BLOCK)), np.empty((10, BLOCK)), np.empty((10, BLOCK))
        dpad = np.zeros(4 * BLOCK + 8 * BLOCK)
        xt, dt, dxt = np.empty((BLOCK, max(nf, n3))), np.empty((BLOCK, max(n3, 10))), np.empty((BLOCK, max(nf, n3)))
        scratch = np.empty(max(O1 * 64, nf, n3, 10) * BLOCK)
        keep = 1.0 / (1.0 - drop_p) if dropout else 1.0
        N = order.size
        for start in range(0, N, batch):
            n = min(batch, N - start)
            factor = 1.0 / n if half_sum else 2.0 / (n * 10)
            for i in range(grad.size):
                grad[i] = 0.0
                if second:
                    hess[i] = 0.0
            if second:
                square(flat, wsq)
            for b0 in range(start, start + n, BLOCK):
                nb = min(BLOCK, start + n - b0)
                # forward
                _load_block(X, order, b0, nb, shifts, xin)
                if dropout:
                    for i in range(nf):
                        for q in range(BLOCK):
                            mask[i, q] = (keep if uniforms[b0 + q, i] >= drop_p else 0.0) if q < nb else 0.0
                if conv:
                    split_block(xin.reshape(1, 256, BLOCK), 1, 16, 16, 20, xs1)
                    conv_block(xs1, 20, 20, w1, b1, bmode, t1, 8, a1)
                    units(a1, kh, Ah, Sh, y1, f1, scratch)
                    split_block(y1.reshape(O1, 64, BLOCK), O1, 8, 8, 12, xs2)
                    conv_block(xs2, 12, 12, w2, b2, bmode, t2, 4, a2)
                    units(a2, kh, Ah, Sh, y2, f2, scratch)
                    src = y2.reshape(nf, BLOCK)
                else:
                    src = xin
                for i in range(nf):
                    for q in range(BLOCK):
                        feat[i, q] = src[i, q] * mask[i, q] if dropout else src[i, q]
                linear_block(feat, w3, b3, BLOCK, a3)
                units(a3.ravel(), kh, Ah, Sh, y3.ravel(), f3.ravel(), scratch)
                linear_block(y3, w4, b4, BLOCK, a4)
                units(a4.ravel(), ko, Ao, So, y4.ravel(), f4.ravel(), scratch)
                for q in range(nb):
                    for o in range(10):
                        outs[b0 + q, o] = y4[o, q]
                # dE/dy at the outputs, lanes past the batch zero
                for q in range(BLOCK):
                    if q >= nb:
                        for o in range(10):
                            d4[o, q] = 0.0
                        continue
                    tn = T[order[b0 + q]]
                    if ce:
                        mx = y4[0, q]
                        for o in range(10):
                            mx = max(mx, y4[o, q])
                        s = 0.0
                        for o in range(10):
                            d4[o, q] = np.exp(y4[o, q] - mx)
                            s += d4[o, q]
                        for o in range(10):
                            d4[o, q] = (d4[o, q] / s - tn[o]) / n * f4[o, q]
                    else:
                        for o in range(10):
                            d4[o, q] = (y4[o, q] - tn[o]) * factor * f4[o, q]
                for pas in range(2 if second else 1):
                    sq = pas == 1
                    g = hess if sq else grad
                    if sq:  # the second-derivative pass: weights, inputs and slopes squared
                        for o in range(10):
                            for q in range(BLOCK):
                                d4[o, q] = factor * f4[o, q] * f4[o, q] if q < nb else 0.0
                        square(feat, feats)
                        square(y3, y3s)
                        if conv:
                            square(xs1, xs1s)
                            square(xs2, xs2s)
                    ww = wsq if sq else flat
                    vw2 = ww[offs[2]:offs[2] + O2 * k2 * 25].reshape(O2, k2, 25)
                    vw3 = ww[offs[4]:offs[4] + n3 * nf].reshape(n3, nf)
                    vw4 = ww[offs[6]:offs[6] + 10 * n3].reshape(10, n3)
                    _linear_grads(y3s if sq else y3, vw4, d4, xt, dt, dxt,
                                  g[offs[6]:offs[6] + 10 * n3].reshape(10, n3), g[offs[7]:offs[7] + 10], d3, True)
                    for u in range(n3):
                        for q in range(BLOCK):
                            fv = f3[u, q]
                            d3[u, q] *= fv * fv if sq else fv
                    _linear_grads(feats if sq else feat, vw3, d3, xt, dt, dxt,
                                  g[offs[4]:offs[4] + n3 * nf].reshape(n3, nf), g[offs[5]:offs[5] + n3], dfeat, conv)
                    if conv:
                        df = dfeat.ravel()
                        mk = mask.ravel()
                        for i in range(nf * BLOCK):
                            fv = f2[i] * mk[i] if dropout else f2[i]
                            d2[i] = df[i] * (fv * fv if sq else fv)
                        _conv_weight_grads(xs2s if sq else xs2, 12, 12, d2, bmode, t2, 4,
                                           g[offs[2]:offs[2] + O2 * k2 * 25].reshape(O2, k2, 25), g[offs[3]:])
                        _conv_input_grads(vw2, d2, t2, 4, 12, 12, dpad, dxs2)
                        _unsplit(dxs2, O1, 8, 8, 12, f1, sq, d1)
                        _conv_weight_grads(xs1s if sq else xs1, 20, 20, d1, bmode, t1, 8,
                                           g[offs[0]:offs[0] + O1 * k1 * 25].reshape(O1, k1, 25), g[offs[1]:])
            step(opt, flat, grad, hess, s1, s2, s3, lr, hyper)

    return run
