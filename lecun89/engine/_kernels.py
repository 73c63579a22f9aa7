"""The numba engine's compiled training kernels (see :mod:`lecun89.engine`): whole
online passes of Net-1989 or of the fully connected network, forward, backward,
second-derivative pass and update for every digit in one compiled loop
(:func:`pass_kernel`). Inference over many digits is
:mod:`lecun89.engine._forward`'s.

The arithmetic is the numpy layers' (:mod:`lecun89.layers`), laid out so that
every product runs as a long loop over contiguous numbers, where the machine's
vector units work and the loop's set-up is paid rarely:

- H1 reads its 25 window pixels at each of its 64 positions from ``X1T`` (25,
  64): a map's sums run along the positions, a kernel row (5 weights) per pass;
- H2 reads ``X2`` (16, maps * 25): position by position, the windows of every
  H1 map in a row. H2 maps that read the same H1 maps form a group, and a
  group's maps are consecutive runs of windows in X2 (the block table: 3
  groups of 4 maps reading 8 H1 maps, each one run of 200 numbers, or two of
  100), so the table is walked once per group, not map by map, and each of
  H2's three products (the sums, the weight gradients, the input gradients)
  runs along the run's 200 numbers, with 4 to 8 positions or maps per pass;
- the full connections run along their inputs.

The sums run in another order than numpy's BLAS, so results agree with the
numpy engine to rounding, not bit for bit; a run of this engine gives the same
bits run to run. Importing this module imports numba; it compiles a pass's
kernel for the variant a config needs (:func:`pass_kernel`) on first use, and
numba's on-disk cache keeps it for later runs.
"""

from __future__ import annotations

import numba
import numpy as np

# reassoc lets the compiler vectorise the dot products' sums (the order of the
# additions changes, not what is added); contract allows fused multiply-adds;
# numpy's error model drops Python's zero-division checks, which keep a loop
# with a division (SDLM's step, tanh) from being vectorised.
jit = numba.njit(cache=True, fastmath={"reassoc", "contract"}, boundscheck=False, error_model="numpy")

# Net-1989's geometry, fixed by its 16x16 input, 5x5 kernels, stride 2 and
# padding 2: the input padded to 20x20, H1's 8x8 = 64 positions (padded to
# 12x12 for H2), H2's 4x4 = 16.
P1, P2, KK = 64, 16, 25


# --- units -------------------------------------------------------------------------

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


# The units: scaled tanh A tanh(S a) (plain tanh: A = S = 1), ReLU, none (the
# identity: logits). compiled.py maps the layers' activations to these codes.
SCALED_TANH, RELU, IDENTITY = 0, 1, 2


@jit
def units(a, kind, A, S, y, fp, scratch):
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


# --- H1: the input's windows, 12 maps of 8x8 ------------------------------------------

@jit
def _h1_windows(x, dy, dx, xp, X1T):
    """xp (20, 20): the digit x (16, 16) shifted by (dy, dx) (background -1 in
    the gap) inside a border of 2 (set once by the caller); X1T (25, 64):
    X1T[5 ki + kj, 8 i + j] = xp[2 i + ki, 2 j + kj], every position's window."""
    for i in range(16):
        r = i - dy
        for j in range(16):
            c = j - dx
            xp[i + 2, j + 2] = x[r, c] if 0 <= r < 16 and 0 <= c < 16 else -1.0
    for ki in range(5):
        for kj in range(5):
            row = X1T[ki * 5 + kj]
            for i in range(8):
                src = xp[2 * i + ki]
                for j in range(8):
                    row[i * 8 + j] = src[2 * j + kj]


@jit
def _h1_sums(X1T, w1, b1, bmode, a1):
    """a1 (O1, 64) = bias + w1 (O1, 25) . windows, along the 64 positions, a
    kernel row (5 weights) per pass. bmode: 2 a bias per unit, 1 per map, 0 none."""
    for o in range(a1.shape[0]):
        a = a1[o]
        for p in range(P1):
            a[p] = b1[o * P1 + p] if bmode == 2 else (b1[o] if bmode == 1 else 0.0)
        for ki in range(5):
            t = ki * 5
            v0, v1, v2, v3, v4 = w1[o, t], w1[o, t + 1], w1[o, t + 2], w1[o, t + 3], w1[o, t + 4]
            x0, x1, x2, x3, x4 = X1T[t], X1T[t + 1], X1T[t + 2], X1T[t + 3], X1T[t + 4]
            for p in range(P1):
                a[p] += v0 * x0[p] + v1 * x1[p] + v2 * x2[p] + v3 * x3[p] + v4 * x4[p]


@jit
def _h1_weight_grads(X1T, d1, bmode, g1, gb1):
    """g1 (O1, 25) = sum over positions of d1 (O1, 64) times the windows (a kernel
    row's 5 sums per pass), and the biases' share of d1 into gb1."""
    for o in range(d1.shape[0]):
        d = d1[o]
        for ki in range(5):
            t = ki * 5
            x0, x1, x2, x3, x4 = X1T[t], X1T[t + 1], X1T[t + 2], X1T[t + 3], X1T[t + 4]
            s0 = s1 = s2 = s3 = s4 = 0.0
            for p in range(P1):
                dp = d[p]
                s0 += dp * x0[p]
                s1 += dp * x1[p]
                s2 += dp * x2[p]
                s3 += dp * x3[p]
                s4 += dp * x4[p]
            g1[o, t], g1[o, t + 1], g1[o, t + 2], g1[o, t + 3], g1[o, t + 4] = s0, s1, s2, s3, s4
    _bias_grads(d1, bmode, gb1)


@jit
def _bias_grads(d, bmode, gb):
    """The biases' dE/db from a layer's d (O, P): per unit (bmode 2) or summed per map (1)."""
    maps, P = d.shape
    if bmode == 2:
        for o in range(maps):
            for p in range(P):
                gb[o * P + p] = d[o, p]
    elif bmode == 1:
        for o in range(maps):
            s = 0.0
            for p in range(P):
                s += d[o, p]
            gb[o] = s


# --- H2: 12 maps of 4x4 over the H1 maps its table lists -------------------------------

@jit
def _h2_windows(y1, y1p, X2):
    """y1p (C, 12, 12): H1's maps y1 (C, 64) inside a border of 2 (set once by the
    caller); X2 (16, C * 25): X2[4 i + j, 25 ch + 5 ki + kj] = y1p[ch, 2 i + ki, 2 j + kj]."""
    C = y1.shape[0]
    for ch in range(C):
        for i in range(8):
            dst = y1p[ch, i + 2]
            for j in range(8):
                dst[j + 2] = y1[ch, i * 8 + j]
    for i in range(4):
        for j in range(4):
            win = X2[i * 4 + j]
            c = 2 * j
            for ch in range(C):
                for ki in range(5):
                    src = y1p[ch, 2 * i + ki]
                    t = ch * KK + ki * 5
                    win[t] = src[c]
                    win[t + 1] = src[c + 1]
                    win[t + 2] = src[c + 2]
                    win[t + 3] = src[c + 3]
                    win[t + 4] = src[c + 4]


@jit
def _h2_sums(X2, w2, b2, bmode, gmaps, gn, gruns, gr, a2):
    """a2 (O2, 16) = bias + each map's weights (w2 (O2, k * 25), in its table
    row's order) . its windows. The groups: gmaps[g, :gn[g]] the maps that read
    the same H1 maps, in gr[g] runs of consecutive maps (first, count) in
    gruns[g]; per map and run, 4 positions' sums along the run's windows."""
    for o in range(a2.shape[0]):
        for p in range(P2):
            a2[o, p] = b2[o * P2 + p] if bmode == 2 else (b2[o] if bmode == 1 else 0.0)
    for g in range(gn.size):
        koff = 0
        for r in range(gr[g]):
            c0 = gruns[g, r, 0] * KK
            L = gruns[g, r, 1] * KK
            for m in range(gn[g]):
                o = gmaps[g, m]
                w = w2[o, koff:koff + L]
                for p in range(0, P2, 4):
                    x0 = X2[p, c0:c0 + L]
                    x1 = X2[p + 1, c0:c0 + L]
                    x2 = X2[p + 2, c0:c0 + L]
                    x3 = X2[p + 3, c0:c0 + L]
                    s0 = s1 = s2 = s3 = 0.0
                    for k in range(L):
                        wk = w[k]
                        s0 += wk * x0[k]
                        s1 += wk * x1[k]
                        s2 += wk * x2[k]
                        s3 += wk * x3[k]
                    a2[o, p] += s0
                    a2[o, p + 1] += s1
                    a2[o, p + 2] += s2
                    a2[o, p + 3] += s3
            koff += L


@jit
def _h2_weight_grads(X2, d2, bmode, gmaps, gn, gruns, gr, g2, gb2):
    """g2 (O2, k * 25) = sum over the 16 positions of d2 (O2, 16) times each map's
    windows, 8 positions per pass along a run; the biases' share into gb2."""
    for g in range(gn.size):
        koff = 0
        for r in range(gr[g]):
            c0 = gruns[g, r, 0] * KK
            L = gruns[g, r, 1] * KK
            for m in range(gn[g]):
                o = gmaps[g, m]
                gw = g2[o, koff:koff + L]
                e = d2[o]
                for p in range(0, P2, 8):
                    x0 = X2[p, c0:c0 + L]
                    x1 = X2[p + 1, c0:c0 + L]
                    x2 = X2[p + 2, c0:c0 + L]
                    x3 = X2[p + 3, c0:c0 + L]
                    x4 = X2[p + 4, c0:c0 + L]
                    x5 = X2[p + 5, c0:c0 + L]
                    x6 = X2[p + 6, c0:c0 + L]
                    x7 = X2[p + 7, c0:c0 + L]
                    e0, e1, e2, e3, e4, e5, e6, e7 = e[p], e[p + 1], e[p + 2], e[p + 3], e[p + 4], e[p + 5], \
                        e[p + 6], e[p + 7]
                    if p == 0:
                        for k in range(L):
                            gw[k] = ((e0 * x0[k] + e1 * x1[k] + e2 * x2[k] + e3 * x3[k])
                                     + (e4 * x4[k] + e5 * x5[k] + e6 * x6[k] + e7 * x7[k]))
                    else:
                        for k in range(L):
                            gw[k] += ((e0 * x0[k] + e1 * x1[k] + e2 * x2[k] + e3 * x3[k])
                                      + (e4 * x4[k] + e5 * x5[k] + e6 * x6[k] + e7 * x7[k]))
            koff += L
    _bias_grads(d2, bmode, gb2)


@jit
def _h2_input_grads(w2, d2, gmaps, gn, gruns, gr, dX2, dy1p):
    """dy1p (C, 12, 12) = dE/d(H1's padded maps) from d2 (O2, 16): each position's
    window gradients dX2 (16, C * 25), summed over the maps that read them (4
    maps per pass along a run), then summed back onto the maps they read."""
    f = dX2.reshape(dX2.size)
    for q in range(f.size):
        f[q] = 0.0
    for g in range(gn.size):
        koff = 0
        n = gn[g]
        for r in range(gr[g]):
            c0 = gruns[g, r, 0] * KK
            L = gruns[g, r, 1] * KK
            m = 0
            while m < n:
                o0 = gmaps[g, m]
                v0 = w2[o0, koff:koff + L]
                if m + 4 <= n:
                    o1, o2, o3 = gmaps[g, m + 1], gmaps[g, m + 2], gmaps[g, m + 3]
                    v1 = w2[o1, koff:koff + L]
                    v2 = w2[o2, koff:koff + L]
                    v3 = w2[o3, koff:koff + L]
                    for p in range(P2):
                        dx = dX2[p, c0:c0 + L]
                        e0, e1, e2, e3 = d2[o0, p], d2[o1, p], d2[o2, p], d2[o3, p]
                        for k in range(L):
                            dx[k] += e0 * v0[k] + e1 * v1[k] + e2 * v2[k] + e3 * v3[k]
                    m += 4
                else:
                    for p in range(P2):
                        dx = dX2[p, c0:c0 + L]
                        e0 = d2[o0, p]
                        for k in range(L):
                            dx[k] += e0 * v0[k]
                    m += 1
            koff += L
    f = dy1p.reshape(dy1p.size)
    for q in range(f.size):
        f[q] = 0.0
    for ch in range(dy1p.shape[0]):
        for i in range(4):
            for ki in range(5):
                dst = dy1p[ch, 2 * i + ki]
                t = ch * KK + ki * 5
                for j in range(4):
                    src = dX2[i * 4 + j]
                    c = 2 * j
                    dst[c] += src[t]
                    dst[c + 1] += src[t + 1]
                    dst[c + 2] += src[t + 2]
                    dst[c + 3] += src[t + 3]
                    dst[c + 4] += src[t + 4]


# --- the full connections ----------------------------------------------------------------

@jit
def _linear(x, w, b, a):
    """a = w (O, I) x + b."""
    for o in range(w.shape[0]):
        row = w[o]
        s = 0.0
        for i in range(x.size):
            s += x[i] * row[i]
        a[o] = s + b[o]


@jit
def _linear_grads(x, w, da, gw, gb, dx, need_dx):
    """dE/dw = da x^T into gw, dE/db = da into gb and, with need_dx, dE/dx = w^T da
    into dx. The second-derivative pass calls it with x and w squared."""
    if need_dx:
        for i in range(dx.size):
            dx[i] = 0.0
    for o in range(w.shape[0]):
        d = da[o]
        gb[o] = d
        g = gw[o]
        if need_dx:
            row = w[o]
            for i in range(x.size):
                g[i] = d * x[i]
                dx[i] += d * row[i]
        else:
            for i in range(x.size):
                g[i] = d * x[i]


@jit
def square(a, out):
    """out = a * a, elementwise over C-contiguous arrays of one size."""
    f, g = a.reshape(a.size), out.reshape(out.size)
    for i in range(f.size):
        g[i] = f[i] * f[i]


# --- the optimizers' steps ---------------------------------------------------------------

# train.optimizer as the pass kernels take it: SGD, SDLM with SN2.8's running
# estimator, AdamW, SDLM with LeNet-5's snapshot (step sizes fixed for the pass).
SGD, SDLM_RUNNING, ADAMW, SDLM_SNAPSHOT = 0, 1, 2, 3


@jit
def step(opt, flat, grad, hess, s1, s2, s3, lr, hyper):
    """One update of flat from grad (and hess): see run's docstring in :func:`pass_kernel`."""
    if opt == SDLM_RUNNING:  # SN2.8: h, the running average of d2E/dw2, then w -= lr dE/dw / (h + mu)
        gamma, mu = hyper[0], hyper[1]
        for i in range(flat.size):
            s1[i] = s1[i] * (1.0 - gamma) + gamma * hess[i]
            flat[i] -= lr * (grad[i] / (s1[i] + mu))
    elif opt == SDLM_SNAPSHOT:
        for i in range(flat.size):
            flat[i] -= s1[i] * grad[i]
    elif opt == ADAMW:  # optim.AdamW's step (PyTorch's formulation, in its order of operations)
        b1, b2, eps, wd = hyper[0], hyper[1], hyper[2], hyper[3]
        s3[0] += 1.0
        n = s3[0]
        if wd != 0.0:
            decay = 1.0 - lr * wd
            for i in range(flat.size):
                flat[i] *= decay
        sqrt_bc2 = np.sqrt(1.0 - b2 ** n)
        eps_b = eps * sqrt_bc2
        scale = lr * sqrt_bc2 / (1.0 - b1 ** n)
        for i in range(flat.size):
            g = grad[i]
            s1[i] += (g - s1[i]) * (1.0 - b1)
            s2[i] += (g * g - s2[i]) * (1.0 - b2)
            flat[i] -= s1[i] / (np.sqrt(s2[i]) + eps_b) * scale
    else:
        for i in range(flat.size):
            flat[i] -= lr * grad[i]


# --- the pass ------------------------------------------------------------------------------

@jit
def _params(flat, offs, dims):
    """Views of H1.w (O1, 25), H1.b, H2.w (O2, k * 25), H2.b (the convolutions;
    empty without them), then of the two full connections' weights and biases
    (H3 and out, or the fully connected network's H1 and out) in flat (PyTorch
    layout). offs: their offsets; dims: see :func:`pass_kernel`."""
    O1, O2, k2, n3, nf = dims[0], dims[1], dims[2], dims[3], dims[4]
    return (flat[offs[0]:offs[0] + O1 * KK].reshape(O1, KK), flat[offs[1]:],
            flat[offs[2]:offs[2] + O2 * k2 * KK].reshape(O2, k2 * KK), flat[offs[3]:],
            flat[offs[4]:offs[4] + n3 * nf].reshape(n3, nf), flat[offs[5]:offs[5] + n3],
            flat[offs[6]:offs[6] + 10 * n3].reshape(10, n3), flat[offs[7]:offs[7] + 10])


_PASSES = {}


def pass_kernel(opt: int, ce: bool, conv: bool, dropout: bool, shift: bool):
    """The compiled online pass for one variant: the optimizer (:data:`SGD` ...),
    softmax cross-entropy (else squared error), Net-1989 (else the fully connected
    network), dropout before the first full connection, the +-1-pixel shifts.
    Each variant is its own function, so a run compiles (or loads from numba's
    cache) only the code its config runs."""
    key = (opt, ce, conv, dropout, shift)
    if key not in _PASSES:
        _PASSES[key] = _make_pass(opt, ce, conv, dropout, shift)
    return _PASSES[key]


def _make_pass(opt, ce, conv, dropout, shift):
    second = opt == SDLM_RUNNING  # a second-derivative pass per digit

    @jit
    def run(X, T, order, flat, grad, hess, s1, s2, s3, outs, offs, dims, gmaps, gn, gruns, gr, pad1, pad2, acts,
            loss_factor, lr, hyper, uniforms, drop_p, shifts):
        """Online steps over X (N, 16, 16) in ``order``: flat (and the optimizer's
        state) updated in place; outs[i] gets the i-th digit's outputs before its
        update, and grad and hess are left holding the last digit's dE/dw and
        d2E/dw2 (hess: SDLM's running estimator only).

        offs: the parameters' offsets in flat (:func:`_params`); dims: (H1
        maps, H2 maps, H1 maps an H2 map reads, units of the first full
        connection, its inputs, bias mode 0 none / 1 per map / 2 per unit);
        gmaps, gn, gruns, gr: H2's table as groups (:func:`_h2_sums`); pad1,
        pad2: the value H1's and H2's padding reads; acts: (kind, A, S) of the
        hidden and of the output units. Squared error: dE/dy = loss_factor (y -
        t), d2E/dy2 = loss_factor. The optimizer's state: SDLM running s1 = h
        (hyper: gamma, mu); snapshot s1 = each weight's step size for the pass,
        lr / (mu + h); AdamW s1, s2 = m, v, s3 = [t] (hyper: beta1, beta2, eps,
        weight decay). uniforms (steps, features): the uniform draws of
        dropout's masks (a feature is kept where its draw is >= drop_p, scaled by
        1 / (1 - drop_p)); shifts (steps, 2): each digit's (dy, dx)."""
        O1, O2, n3, nf, bmode = dims[0], dims[1], dims[3], dims[4], dims[5]
        kh, Ah, Sh, ko, Ao, So = acts
        p = _params(flat, offs, dims)
        pg = _params(grad, offs, dims)
        w1, b1, w2, b2, w3, b3, w4, b4 = p
        g1, gb1, g2, gb2, g3, gb3, g4, gb4 = pg
        xp = np.full((20, 20), pad1)
        y1p = np.full((O1, 12, 12), pad2)
        X1T = np.empty((KK, P1))
        a1, y1, f1, d1 = np.empty((O1, P1)), np.empty((O1, P1)), np.empty((O1, P1)), np.empty((O1, P1))
        X2, dX2 = np.empty((P2, O1 * KK)), np.empty((P2, O1 * KK))
        a2, y2, f2, d2 = np.empty((O2, P2)), np.empty((O2, P2)), np.empty((O2, P2)), np.empty((O2, P2))
        dy1p = np.empty((O1, 12, 12))
        feat, dfeat, mask = np.empty(nf), np.empty(nf), np.ones(nf)
        a3, y3, f3, d3 = np.empty(n3), np.empty(n3), np.empty(n3), np.empty(n3)
        a4, y4, f4, d4 = np.empty(10), np.empty(10), np.empty(10), np.empty(10)
        scratch = np.empty(max(O1 * P1, nf, n3, 10))
        keep = 1.0 / (1.0 - drop_p) if dropout else 1.0
        # the second-derivative pass's squares, and its d2E/dw2 views (empty without it)
        wsq = np.empty(flat.size if second else 0)
        ps, ph = _params(wsq if second else flat, offs, dims), _params(hess if second else grad, offs, dims)
        X1s, X2s = np.empty((KK, P1) if second else (0, 0)), np.empty((P2, O1 * KK) if second else (0, 0))
        feats, y3s = np.empty(nf if second else 0), np.empty(n3 if second else 0)
        for at in range(order.size):
            n = order[at]
            dy = shifts[at, 0] if shift else 0
            dx = shifts[at, 1] if shift else 0
            if dropout:
                u = uniforms[at]
                for i in range(nf):
                    mask[i] = keep if u[i] >= drop_p else 0.0
            # forward
            if conv:
                _h1_windows(X[n], dy, dx, xp, X1T)
                _h1_sums(X1T, w1, b1, bmode, a1)
                units(a1.ravel(), kh, Ah, Sh, y1.ravel(), f1.ravel(), scratch)
                _h2_windows(y1, y1p, X2)
                _h2_sums(X2, w2, b2, bmode, gmaps, gn, gruns, gr, a2)
                units(a2.ravel(), kh, Ah, Sh, y2.ravel(), f2.ravel(), scratch)
                src = y2.ravel()
                for i in range(nf):
                    feat[i] = src[i] * mask[i] if dropout else src[i]
            else:
                x = X[n]
                for i in range(16):
                    r = i - dy
                    for j in range(16):
                        c = j - dx
                        v = x[r, c] if 0 <= r < 16 and 0 <= c < 16 else -1.0
                        feat[i * 16 + j] = v * mask[i * 16 + j] if dropout else v
            _linear(feat, w3, b3, a3)
            units(a3, kh, Ah, Sh, y3, f3, scratch)
            _linear(y3, w4, b4, a4)
            units(a4, ko, Ao, So, y4, f4, scratch)
            for o in range(10):
                outs[at, o] = y4[o]
            # backward: dE/dy at the outputs, then layer by layer
            if ce:  # dE/dy = softmax(y) - t
                mx = y4[0]
                for o in range(10):
                    mx = max(mx, y4[o])
                s = 0.0
                for o in range(10):
                    d4[o] = np.exp(y4[o] - mx)
                    s += d4[o]
                for o in range(10):
                    d4[o] = (d4[o] / s - T[n, o]) * f4[o]
            else:
                for o in range(10):
                    d4[o] = (y4[o] - T[n, o]) * loss_factor * f4[o]
            for pas in range(2 if second else 1):
                sq = pas == 1  # the second-derivative pass: weights, inputs and slopes squared
                if sq:  # d2E/dy2 = loss_factor f'^2 at the outputs
                    square(flat, wsq)
                    square(feat, feats)
                    square(y3, y3s)
                    if conv:
                        square(X1T, X1s)
                        square(X2, X2s)
                    for o in range(10):
                        d4[o] = loss_factor * f4[o] * f4[o]
                _, _, vw2, _, vw3, _, vw4, _ = ps if sq else p
                q1, qb1, q2, qb2, q3, qb3, q4, qb4 = ph if sq else pg
                _linear_grads(y3s if sq else y3, vw4, d4, q4, qb4, d3, True)
                for i in range(n3):
                    d3[i] *= f3[i] * f3[i] if sq else f3[i]
                _linear_grads(feats if sq else feat, vw3, d3, q3, qb3, dfeat, conv)
                if conv:
                    for o in range(O2):
                        for q in range(P2):
                            i = o * P2 + q
                            f = f2[o, q] * mask[i] if dropout else f2[o, q]
                            d2[o, q] = dfeat[i] * (f * f if sq else f)
                    _h2_weight_grads(X2s if sq else X2, d2, bmode, gmaps, gn, gruns, gr, q2, qb2)
                    _h2_input_grads(vw2, d2, gmaps, gn, gruns, gr, dX2, dy1p)
                    for ch in range(O1):
                        for i in range(8):
                            for j in range(8):
                                f = f1[ch, i * 8 + j]
                                d1[ch, i * 8 + j] = dy1p[ch, i + 2, j + 2] * (f * f if sq else f)
                    _h1_weight_grads(X1s if sq else X1T, d1, bmode, q1, qb1)
            step(opt, flat, grad, hess, s1, s2, s3, lr, hyper)

    return run

