"""Layers with hand-written forward, backward and second-derivative passes.

Every layer works on a batch (batch first). Its parameters ``params[name]``
(the weights, in PyTorch layout ((out, in, kh, kw), (out, in))) are views into
one flat vector owned by the model. A pass's state belongs to the call, not to
the layer (CS231n's ``out, cache = forward(x)`` / ``backward(dout, cache)``):

- ``forward(x, cache)`` fills the dict ``cache`` (its caller's) with what the
  backward passes need; without one it keeps nothing (inference);
- ``backward(dy, cache, grads)`` *assigns* dE/dw into the caller's arrays
  ``grads[name]`` and returns dE/dx;
- ``backward_h(d2y, cache, hess)`` assigns the Gauss-Newton diagonal d2E/dw2
  into ``hess[name]`` and returns d2E/dx2.

So one network can be read and explained by several callers at once, each
with its own cache and gradient arrays (:class:`lecun89.model.Tape`). The
optimizer never runs inside ``backward``: it reads the gradients afterwards,
so every backward can be checked against finite differences.

Feature maps travel between layers channels-last, ``(N, H, W, C)``: a
convolution then is one gather (im2col) and one matrix product for any batch
size, with no Python loop over positions or maps. :class:`Flatten` turns them
into ``(N, C*H*W)`` in PyTorch's (map, row, col) order.

Second derivatives follow LeCun's "diagonal Levenberg-Marquardt" recursion
(dropping f'' and off-diagonal terms, so every estimate is >= 0)::

    d2E/da2   = f'(a)^2 * d2E/dy2                 (activation)
    d2E/dw_ki2 = sum over uses of x_i^2 * d2E/da_k2 (weights, shared ones summed)
    d2E/dx_i2 = sum_k w_ki^2 * d2E/da_k2           (inputs)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

try:  # the routine behind csr_matrix @ vector, without scipy's dispatch (half of its cost at batch 1)
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - a scipy that moved it: the public product does the same sums
    _csr_matvec = None


class Layer:
    """Base class: a layer without parameters."""

    name: str = ""
    param_shapes: dict[str, tuple[int, ...]] = {}
    # A layer whose training forward draws random numbers (dropout): a caller
    # may run the others' training passes without it (the network as it reads).
    stochastic = False

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.param_shapes = {}

    def forward(self, x: np.ndarray, cache: dict | None = None) -> np.ndarray:
        """The output for ``x``; with ``cache`` (a dict of the caller's), a
        training pass: what the backward passes need is kept in it."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray, cache: dict, grads: dict | None, need_dx: bool = True) -> np.ndarray | None:
        """dE/d(input) from dE/d(output), assigning dE/dw into ``grads`` (name ->
        array, the caller's); ``cache``: the forward's. The network passes
        ``need_dx=False`` to its first layer, whose input needs no gradient."""
        raise NotImplementedError

    def backward_h(self, d2y: np.ndarray, cache: dict, hess: dict | None, need_dx: bool = True) -> np.ndarray | None:
        """The Gauss-Newton second derivative, backwards like ``backward``, assigned into ``hess``."""
        raise NotImplementedError

    def param_zeros(self) -> dict[str, np.ndarray]:
        """Arrays of zeros shaped as the parameters: a ``grads`` or ``hess`` for a layer used on its own."""
        return {k: np.zeros(s) for k, s in self.param_shapes.items()}

    def init_params(self, rng: np.random.Generator, scheme: str, scale: float, fanin_bias: bool = False) -> None:
        """Fill ``params`` in place: the weights from U(-r, r) (:func:`init_range`,
        F = :meth:`fan_in`), the biases with 0."""

    def init_bias_uniform(self, rng: np.random.Generator, scheme: str, scale: float,
                          fanin_bias: bool = False) -> None:
        """Draw the biases from the weights' range U(-r, r), as SN2.8 does
        (one ``rng.uniform`` call; none for a layer without biases)."""
        if "bias" in self.params:
            r = init_range(self.fan_in(fanin_bias), scheme, scale)
            self.params["bias"][...] = rng.uniform(-r, r, size=self.params["bias"].shape)

    def fan_in(self, count_bias: bool = False) -> int:
        """A unit's incoming connections (F), counting its bias if ``count_bias``
        (SN2.8 counts it) and the layer has biases."""
        return 0

    # Counts for the paper's table: units, connections, free parameters.
    def counts(self) -> tuple[int, int, int]:
        return 0, 0, 0

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return in_shape


# model.bias_init: biases start at 0, or are drawn from the weights' range (Layer.init_bias_uniform).
BIAS_INITS = ("zero", "uniform")


def init_range(fan_in, scheme, scale):
    """r = scale/sqrt(F) ("sqrt") or scale/F ("fanin"), F = fan-in."""
    if scheme == "sqrt":
        return scale / np.sqrt(fan_in)
    if scheme == "fanin":
        return scale / fan_in
    raise ValueError(f"unknown init scheme {scheme!r}")


def uniform_init(rng, shape, fan_in, scheme, scale):
    """U(-r, r) with r = scale/sqrt(F) ("sqrt") or scale/F ("fanin"), F = fan-in."""
    r = init_range(fan_in, scheme, scale)
    return rng.uniform(-r, r, size=shape)


# ----------------------------------------------------------------------------
# Convolution


class Conv2d(Layer):
    """2-D convolution over channels-last maps with a connection table.

    Input ``(N, H, W, C)``, output ``(N, OH, OW, O)`` with
    ``OH = (H + 2*pad - kernel) // stride + 1``. Positions outside the input read
    ``pad_value`` (the paper's background, -1).

    ``table`` (O, k) lists, in order, the input maps each output map reads
    (``None``: all of them). Weights are stored compactly as ``(O, k, K, K)``;
    the forward pass scatters them into a dense ``(O, C, K, K)`` kernel with
    zeros for the missing connections, so a sparse table costs one small copy,
    not a loop over maps.

    ``bias``: ``"unit"`` (one per output unit, (O, OH, OW): the paper's choice),
    ``"map"`` (one per map, (O,)) or ``"none"``.
    """

    def __init__(self, name, in_shape, out_maps, kernel=5, stride=2, pad=2, pad_value=-1.0,
                 table=None, bias="unit"):
        super().__init__()
        self.name = name
        H, W, C = in_shape
        self.in_shape = (H, W, C)
        self.O, self.K, self.stride, self.pad = out_maps, kernel, stride, pad
        self.pad_value = float(pad_value)
        self.OH = (H + 2 * pad - kernel) // stride + 1
        self.OW = (W + 2 * pad - kernel) // stride + 1
        if self.OH < 1 or self.OW < 1:
            raise ValueError(f"{name}: a {kernel}x{kernel} kernel does not fit a {H}x{W} input padded by {pad}")
        self.P = self.OH * self.OW
        if table is None:
            self.table = None
            k = C
        else:
            table = np.asarray(table, dtype=np.int64)
            if table.ndim != 2 or table.shape[0] != out_maps:
                raise ValueError(f"{name}: connection table must have one row per output map ({out_maps})")
            if table.min() < 0 or table.max() >= C:
                raise ValueError(f"{name}: connection table entries must be input map indices 0..{C - 1}")
            if any(len(set(row)) != len(row) for row in table.tolist()):
                raise ValueError(f"{name}: a row of the connection table names an input map twice")
            self.table = table
            k = table.shape[1]
        self.k_in = k
        self.bias_mode = bias
        self.param_shapes = {"weight": (out_maps, k, kernel, kernel)}
        if bias == "unit":
            self.param_shapes["bias"] = (out_maps, self.OH, self.OW)
        elif bias == "map":
            self.param_shapes["bias"] = (out_maps,)
        elif bias != "none":
            raise ValueError(f"{name}: bias must be 'unit', 'map' or 'none', not {bias!r}")

        # im2col gather indices into the flattened (H, W, C) input extended by one
        # slot holding pad_value, which every position outside the input reads;
        # columns ordered (c, ki, kj) to match the (O, C, K, K) kernel layout.
        oy, ox = np.divmod(np.arange(self.P), self.OW)
        ki, kj = np.divmod(np.arange(kernel * kernel), kernel)
        rows = oy[:, None, None] * stride + ki[None, None, :] - pad
        cols = ox[:, None, None] * stride + kj[None, None, :] - pad
        ch = np.arange(C)[None, :, None]
        inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
        idx = np.where(inside, (rows * W + cols) * C + ch, H * W * C)
        self.idx = idx.reshape(self.P, C * kernel * kernel)
        self.CKK = C * kernel * kernel
        self.in_size = H * W * C
        # col2im as a fixed sparse 0/1 matrix (in_size, P*CKK): dx = S @ dcols, the
        # pad slot's column entries dropped.
        flat = idx.ravel()
        inside_flat = flat < self.in_size
        self._col2im_mat = scipy.sparse.csr_matrix(
            (np.ones(int(inside_flat.sum())), (flat[inside_flat], np.flatnonzero(inside_flat))),
            shape=(self.in_size, flat.size))
        if self.table is not None:
            # Flat positions of the compact (O, k, K, K) weights in the dense (O, C, K, K) kernel.
            kk = kernel * kernel
            self._dense_idx = (((np.arange(out_maps)[:, None] * C + self.table)[:, :, None]) * kk
                               + np.arange(kk)).ravel()

    def _scratch(self, cache: dict | None, key: str, shape: tuple, fill: float) -> np.ndarray:
        """An array of ``shape`` to overwrite: the caller's from an earlier call of
        the same size (kept in its cache), else a new one filled with ``fill``."""
        buf = None if cache is None else cache.get(key)
        if buf is None or buf.shape != shape:
            buf = np.full(shape, fill)
            if cache is not None:
                cache[key] = buf
        return buf

    def dense_weight(self, cache: dict | None = None) -> np.ndarray:
        """The kernel as (O, C*K*K), zeros where the table has no connection (in the
        caller's ``cache`` when given, so a training loop reuses the array)."""
        w = self.params["weight"]
        if self.table is None:
            return w.reshape(self.O, self.CKK)
        dense = self._scratch(cache, "dense", (self.O * self.CKK,), 0.0)
        dense[self._dense_idx] = w.ravel()
        return dense.reshape(self.O, self.CKK)

    def _compact(self, dense_grad: np.ndarray, out: np.ndarray) -> None:
        if self.table is None:
            out[...] = dense_grad.reshape(out.shape)
        else:
            # mode="clip": with the default "raise", numpy buffers ``out`` (a copy).
            dense_grad.take(self._dense_idx, out=out.reshape(-1), mode="clip")

    def _bias_view(self):
        b = self.params["bias"]
        return b.reshape(self.O, self.P).T if self.bias_mode == "unit" else b

    def forward(self, x, cache=None):
        n = x.shape[0]
        xe = self._scratch(cache, "xe", (n, self.in_size + 1), self.pad_value)
        xe[:, :-1] = x.reshape(n, self.in_size)
        cols = xe.take(self.idx, axis=1).reshape(n * self.P, self.CKK)
        wd = self.dense_weight(cache)
        if cache is not None:
            cache["cols"], cache["wd"] = cols, wd
        a = np.dot(cols, wd.T).reshape(n, self.P, self.O)
        if self.bias_mode != "none":
            a += self._bias_view()
        return a.reshape(n, self.OH, self.OW, self.O)

    def _input_grad(self, d, w, n):
        """Back to the input through the kernel ``w`` (O, CKK): dE/dx from dE/da
        (``w`` the kernel), or d2E/dx2 from d2E/da2 (``w`` its square); ``d`` is
        (N*P, O). d(cols) is made in the (P*CKK, N) layout the sparse scatter-add
        reads row by row (a batch: one (CKK, O) @ (O, N) product per position),
        then the overlapping windows are summed back (reads of the padding dropped)."""
        m = self._col2im_mat
        if n == 1:
            dcols = np.dot(d, w)  # (P, CKK): already the (P*CKK, 1) layout
            if _csr_matvec is not None:
                dx = np.zeros(self.in_size)
                _csr_matvec(m.shape[0], m.shape[1], m.indptr, m.indices, m.data, dcols.reshape(-1), dx)
                return dx.reshape((1,) + self.in_shape)
        else:
            dcols = np.matmul(w.T, d.reshape(n, self.P, self.O).transpose(1, 2, 0))
        dx = m.dot(dcols.reshape(self.P * self.CKK, n))
        return dx.T.reshape((n,) + self.in_shape)

    def _bias_grad(self, da3, out):
        if self.bias_mode == "unit":
            out.reshape(self.O, self.P)[...] = (da3[0] if len(da3) == 1 else da3.sum(axis=0)).T
        elif self.bias_mode == "map":
            out[...] = da3.sum(axis=(0, 1))

    def backward(self, dy, cache, grads, need_dx=True):
        n = dy.shape[0]
        da = dy.reshape(n * self.P, self.O)
        self._compact(np.dot(da.T, cache["cols"]), grads["weight"])
        if self.bias_mode != "none":
            self._bias_grad(da.reshape(n, self.P, self.O), grads["bias"])
        return self._input_grad(da, cache["wd"], n) if need_dx else None

    def backward_h(self, d2y, cache, hess, need_dx=True):
        n = d2y.shape[0]
        d2a = d2y.reshape(n * self.P, self.O)
        self._compact(d2a.T @ np.square(cache["cols"]), hess["weight"])
        if self.bias_mode != "none":
            self._bias_grad(d2a.reshape(n, self.P, self.O), hess["bias"])
        return self._input_grad(d2a, np.square(cache["wd"]), n) if need_dx else None

    def fan_in(self, count_bias=False):
        return self.k_in * self.K * self.K + int(count_bias and self.bias_mode != "none")

    def init_params(self, rng, scheme, scale, fanin_bias=False):
        fan_in = self.fan_in(fanin_bias)
        self.params["weight"][...] = uniform_init(rng, self.param_shapes["weight"], fan_in, scheme, scale)
        if "bias" in self.params:
            self.params["bias"][...] = 0.0

    def out_shape(self, in_shape):
        return (self.OH, self.OW, self.O)

    def counts(self):
        units = self.P * self.O
        has_bias = self.bias_mode != "none"
        connections = units * (self.k_in * self.K * self.K + has_bias)
        params = sum(int(np.prod(s)) for s in self.param_shapes.values())
        return units, connections, params


# ----------------------------------------------------------------------------
# Fully connected


class Linear(Layer):
    """y = x @ W.T + b; x (N, in), W (out, in), b (out,)."""

    def __init__(self, name, n_in, n_out, bias=True):
        super().__init__()
        self.name = name
        self.n_in, self.n_out = n_in, n_out
        self.has_bias = bias
        self.param_shapes = {"weight": (n_out, n_in)}
        if bias:
            self.param_shapes["bias"] = (n_out,)

    def forward(self, x, cache=None):
        if cache is not None:
            cache["x"] = x
        y = np.dot(x, self.params["weight"].T)
        if self.has_bias:
            y += self.params["bias"]
        return y

    def backward(self, dy, cache, grads, need_dx=True):
        np.dot(dy.T, cache["x"], out=grads["weight"])
        if self.has_bias:
            dy.sum(axis=0, out=grads["bias"])
        return np.dot(dy, self.params["weight"]) if need_dx else None

    def backward_h(self, d2y, cache, hess, need_dx=True):
        np.dot(d2y.T, np.square(cache["x"]), out=hess["weight"])
        if self.has_bias:
            np.sum(d2y, axis=0, out=hess["bias"])
        return d2y @ np.square(self.params["weight"]) if need_dx else None

    def fan_in(self, count_bias=False):
        return self.n_in + int(count_bias and self.has_bias)

    def init_params(self, rng, scheme, scale, fanin_bias=False):
        fan_in = self.fan_in(fanin_bias)
        self.params["weight"][...] = uniform_init(rng, (self.n_out, self.n_in), fan_in, scheme, scale)
        if self.has_bias:
            self.params["bias"][...] = 0.0

    def out_shape(self, in_shape):
        return (self.n_out,)

    def counts(self):
        params = self.n_out * (self.n_in + self.has_bias)
        return self.n_out, params, params


# ----------------------------------------------------------------------------
# Shape changes


class ChannelsLast(Layer):
    """(N, C, H, W) -> (N, H, W, C): the network's input in PyTorch layout, turned
    into the layout the convolutions work in (a free view when C == 1)."""

    def forward(self, x, cache=None):
        return x.transpose(0, 2, 3, 1)

    def backward(self, dy, cache, grads, need_dx=True):
        return dy.transpose(0, 3, 1, 2)

    backward_h = backward

    def out_shape(self, in_shape):
        c, h, w = in_shape
        return (h, w, c)


class Flatten(Layer):
    """(N, H, W, C) -> (N, C*H*W) in (map, row, col) order, as PyTorch's flatten of
    (N, C, H, W); a 2-D input (N, F) passes through."""

    def forward(self, x, cache=None):
        if cache is not None:
            cache["shape"] = x.shape
        if x.ndim == 2:
            return x
        return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)

    def backward(self, dy, cache, grads, need_dx=True):
        if len(cache["shape"]) == 2:
            return dy
        n, h, w, c = cache["shape"]
        return dy.reshape(n, c, h, w).transpose(0, 2, 3, 1)

    backward_h = backward

    def out_shape(self, in_shape):
        return (int(np.prod(in_shape)),)


# ----------------------------------------------------------------------------
# Activations


class Activation(Layer):
    """Elementwise f(a); subclasses compute y, and in a training pass f'(a) into
    the cache (``cache["fprime"]``), in ``forward``."""

    kind = ""

    def __init__(self, name=""):
        super().__init__()
        self.name = name

    def backward(self, dy, cache, grads, need_dx=True):
        return dy * cache["fprime"]

    def backward_h(self, d2y, cache, hess, need_dx=True):
        return d2y * np.square(cache["fprime"])


# The paper's "scaled hyperbolic tangent" f(a) = A tanh(S a): f(+-1) = +-1.
LECUN_AMPLITUDE, LECUN_SLOPE = 1.7159, 2.0 / 3.0


class ScaledTanh(Activation):
    """f(a) = A tanh(S a); the paper's "scaled hyperbolic tangent" is A = 1.7159,
    S = 2/3 (:data:`LECUN_AMPLITUDE`, :data:`LECUN_SLOPE`: f(+-1) = +-1), plain
    tanh is A = S = 1."""

    def __init__(self, name="", amplitude=LECUN_AMPLITUDE, slope=LECUN_SLOPE):
        super().__init__(name)
        self.A, self.S = amplitude, slope
        self.kind = "lecun" if amplitude != 1.0 or slope != 1.0 else "tanh"

    def forward(self, x, cache=None):
        # In place on one fresh array: two allocations instead of six.
        if self.S != 1.0:
            t = np.multiply(x, self.S)
            np.tanh(t, out=t)
        else:
            t = np.tanh(x)
        if cache is not None:
            # f'(a) = A S (1 - tanh^2)
            f = np.multiply(t, t)
            np.subtract(1.0, f, out=f)
            f *= self.A * self.S
            cache["fprime"] = f
        if self.A != 1.0:
            t *= self.A
        return t


class Sigmoid(Activation):
    kind = "sigmoid"

    def forward(self, x, cache=None):
        y = 0.5 * (1.0 + np.tanh(0.5 * x))  # 1/(1+e^-x) without overflow
        if cache is not None:
            cache["fprime"] = y * (1.0 - y)
        return y


class ReLU(Activation):
    kind = "relu"
    # Gradient checks freeze the on/off pattern so that finite differences never
    # straddle the kink at 0 (where ReLU has no derivative).
    frozen = None

    def forward(self, x, cache=None):
        if self.frozen is not None:
            if cache is not None:
                cache["fprime"] = self.frozen
            return x * self.frozen
        if cache is not None:
            cache["fprime"] = (x > 0).astype(x.dtype)
        return np.maximum(x, 0.0)


class Identity(Activation):
    kind = "none"

    def forward(self, x, cache=None):
        return x

    def backward(self, dy, cache, grads, need_dx=True):
        return dy

    backward_h = backward


def make_activation(kind: str, name: str = "") -> Activation:
    if kind == "lecun":
        return ScaledTanh(name, LECUN_AMPLITUDE, LECUN_SLOPE)
    if kind == "tanh":
        return ScaledTanh(name, 1.0, 1.0)
    if kind == "sigmoid":
        return Sigmoid(name)
    if kind == "relu":
        return ReLU(name)
    if kind == "none":
        return Identity(name)
    raise ValueError(f"unknown activation {kind!r}")


ACTIVATIONS = ("lecun", "tanh", "sigmoid", "relu", "none")
# The range each bounded squashing function takes (the page draws its units on it).
ACTIVATION_RANGES = {"lecun": (-LECUN_AMPLITUDE, LECUN_AMPLITUDE), "tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


class Dropout(Layer):
    """Inverted dropout: in a training pass (a cache given), zero each input with
    probability p and scale the rest by 1/(1-p); identity at evaluation (and
    for a caller that passes no cache: the network as it reads). The mask comes
    from ``rng`` and is kept in the cache (``cache["mask"]``)."""

    stochastic = True

    def __init__(self, name, p, rng):
        super().__init__()
        self.name, self.p, self.rng = name, float(p), rng

    def forward(self, x, cache=None):
        if cache is None or self.p == 0.0:
            if cache is not None:
                cache["mask"] = None
            return x
        mask = cache["mask"] = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)
        return x * mask

    def backward(self, dy, cache, grads, need_dx=True):
        mask = None if cache is None else cache.get("mask")
        return dy if mask is None else dy * mask

    def backward_h(self, d2y, cache, hess, need_dx=True):
        mask = None if cache is None else cache.get("mask")
        return d2y if mask is None else d2y * np.square(mask)
