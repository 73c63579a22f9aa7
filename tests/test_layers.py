"""Every layer's forward, backward and second-derivative pass, in float64.

Backward passes are checked against fourth-order central differences
(``lecun89.gradcheck``) to ``TOLERANCE`` (1e-6 max relative error); the
convolution's forward and the Gauss-Newton ``backward_h`` passes against slow,
loop-based references written here, independently of the layers' im2col code.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lecun89 import gradcheck as G
from lecun89 import layers as L
from lecun89 import losses


TOL = G.TOLERANCE


def assert_checked(errors: dict, tol: float = TOL) -> None:
    bad = {k: e for k, e in errors.items() if not e <= tol}
    assert not bad, f"gradient check above {tol:g}: {bad} (all: {errors})"


# ----------------------------------------------------------------------------
# Slow references


def pad_input(x, pad, pad_value):
    n, h, w, c = x.shape
    xp = np.full((n, h + 2 * pad, w + 2 * pad, c), float(pad_value))
    xp[:, pad:pad + h, pad:pad + w, :] = x
    return xp


def table_rows(table, out_maps, in_maps):
    return [list(range(in_maps)) for _ in range(out_maps)] if table is None else [list(r) for r in table]


def ref_conv_forward(x, weight, bias, bias_mode, stride, pad, pad_value, table):
    """Direct convolution: output map o reads input maps table[o] in order;
    weight[o, j] applies to input map table[o][j]."""
    n, h, w, c = x.shape
    o_maps, k_in, kh, kw = weight.shape
    rows = table_rows(table, o_maps, c)
    xp = pad_input(x, pad, pad_value)
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, oh, ow, o_maps))
    for b in range(n):
        for o in range(o_maps):
            for oy in range(oh):
                for ox in range(ow):
                    acc = 0.0
                    for j, m in enumerate(rows[o]):
                        for ki in range(kh):
                            for kj in range(kw):
                                acc += weight[o, j, ki, kj] * xp[b, oy * stride + ki, ox * stride + kj, m]
                    if bias_mode == "unit":
                        acc += bias[o, oy, ox]
                    elif bias_mode == "map":
                        acc += bias[o]
                    out[b, oy, ox, o] = acc
    return out


def ref_conv_hessian(x, weight, d2a, bias_mode, stride, pad, pad_value, table):
    """LeCun's diagonal recursion for a convolution, with explicit loops:
    h_w[o,j,ki,kj] = sum over batch and positions of x_in^2 * d2a,
    h_x[i] = sum over every use of x_i of w^2 * d2a; biases: sum of d2a."""
    n, h, w, c = x.shape
    o_maps, k_in, kh, kw = weight.shape
    rows = table_rows(table, o_maps, c)
    xp = pad_input(x, pad, pad_value)
    _, oh, ow, _ = d2a.shape
    hw = np.zeros_like(weight)
    hxp = np.zeros_like(xp)
    for b in range(n):
        for o in range(o_maps):
            for oy in range(oh):
                for ox in range(ow):
                    d = d2a[b, oy, ox, o]
                    for j, m in enumerate(rows[o]):
                        for ki in range(kh):
                            for kj in range(kw):
                                r, s = oy * stride + ki, ox * stride + kj
                                hw[o, j, ki, kj] += xp[b, r, s, m] ** 2 * d
                                hxp[b, r, s, m] += weight[o, j, ki, kj] ** 2 * d
    hb = None
    if bias_mode == "unit":
        hb = d2a.sum(axis=0).transpose(2, 0, 1)
    elif bias_mode == "map":
        hb = d2a.sum(axis=(0, 1, 2))
    return hw, hb, hxp[:, pad:pad + h, pad:pad + w, :]


def ref_conv_input_grad(x, weight, da, stride, pad, pad_value, table):
    """dE/dx of a convolution with explicit loops: every use of x_i adds w * dE/da."""
    n, h, w, c = x.shape
    o_maps, k_in, kh, kw = weight.shape
    rows = table_rows(table, o_maps, c)
    dxp = np.zeros_like(pad_input(x, pad, pad_value))
    _, oh, ow, _ = da.shape
    for b, o, oy, ox in itertools.product(range(n), range(o_maps), range(oh), range(ow)):
        for j, m in enumerate(rows[o]):
            dxp[b, oy * stride:oy * stride + kh, ox * stride:ox * stride + kw, m] += weight[o, j] * da[b, oy, ox, o]
    return dxp[:, pad:pad + h, pad:pad + w, :]


def second_diff(f, x, h=1e-3):
    """Central second differences d2f/dx_i2 of the scalar f() for every entry of x
    (exact, up to rounding, for a function quadratic in x)."""
    out = np.zeros_like(x)
    flat, oflat = x.reshape(-1), out.reshape(-1)
    f0 = f()
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        oflat[i] = (fp - 2 * f0 + fm) / (h * h)
    return out


# ----------------------------------------------------------------------------
# Conv2d


SPARSE_TABLE = [[0, 1], [1, 2], [0, 2], [2, 0]]          # 4 outputs reading 2 of 3 inputs
PERMUTED_TABLE = [[2, 0, 1], [1, 2, 0], [0, 1, 2], [2, 1, 0]]  # all 3 inputs, permuted order
TABLES = {"none": None, "sparse": SPARSE_TABLE, "permuted": PERMUTED_TABLE}


def make_conv(rng, in_shape=(7, 5, 3), out_maps=4, kernel=3, stride=1, pad=1, pad_value=-1.0,
              table=None, bias="unit"):
    conv = L.Conv2d("conv", in_shape, out_maps, kernel, stride, pad, pad_value, table, bias)
    return G.standalone(conv, rng)


# Geometry: every (stride, pad, kernel) combination; the other options cycle so
# that each value of each appears with several geometries.
GEOMETRIES = list(itertools.product((1, 2), (0, 1, 2), (3, 5)))
CONV_CASES = []
for i, (stride, pad, kernel) in enumerate(GEOMETRIES):
    CONV_CASES.append(dict(stride=stride, pad=pad, kernel=kernel,
                           pad_value=(-1.0, 0.0, 0.5)[i % 3],
                           table=("none", "sparse", "permuted")[(i // 3 + i) % 3],
                           bias=("unit", "map", "none")[(i + 1) % 3],
                           batch=(1, 3)[i % 2]))
# Every table with every bias mode, at the paper's geometry (5x5, stride 2, pad 2, -1).
for tname, bias in itertools.product(TABLES, ("unit", "map", "none")):
    CONV_CASES.append(dict(stride=2, pad=2, kernel=5, pad_value=-1.0, table=tname, bias=bias, batch=2))


def case_id(c):
    return f"s{c['stride']}-p{c['pad']}-k{c['kernel']}-v{c['pad_value']:g}-{c['table']}-{c['bias']}-n{c['batch']}"


@pytest.mark.parametrize("case", CONV_CASES, ids=[case_id(c) for c in CONV_CASES])
def test_conv2d_gradcheck(case, rng):
    conv = make_conv(rng, kernel=case["kernel"], stride=case["stride"], pad=case["pad"],
                     pad_value=case["pad_value"], table=TABLES[case["table"]], bias=case["bias"])
    x = rng.uniform(-1, 1, size=(case["batch"],) + conv.in_shape)
    errors = G.check_layer(conv, x)
    assert set(errors) == {"x", "weight"} | ({"bias"} if case["bias"] != "none" else set())
    assert_checked(errors)


@pytest.mark.parametrize("case", CONV_CASES, ids=[case_id(c) for c in CONV_CASES])
def test_conv2d_forward_matches_loop_reference(case, rng):
    conv = make_conv(rng, kernel=case["kernel"], stride=case["stride"], pad=case["pad"],
                     pad_value=case["pad_value"], table=TABLES[case["table"]], bias=case["bias"])
    x = rng.uniform(-1, 1, size=(case["batch"],) + conv.in_shape)
    y = conv.forward(x)
    ref = ref_conv_forward(x, conv.params["weight"], conv.params.get("bias"), case["bias"], case["stride"],
                           case["pad"], case["pad_value"], TABLES[case["table"]])
    assert y.shape == ref.shape == (case["batch"], conv.OH, conv.OW, conv.O)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)


def test_numeric_grad_of_constant_function_is_zero():
    x = np.zeros(3)
    g = G.numeric_grad(lambda: -4.540142410396426, x)
    np.testing.assert_array_equal(g, 0.0)


def test_conv2d_gradcheck_with_unread_inputs(rng):
    """Stride 2 over a width of 6 with a 3x3 kernel and no padding never reads the
    last column: its dE/dx is exactly 0, which the check must accept."""
    conv = make_conv(rng, in_shape=(7, 6, 3), kernel=3, stride=2, pad=0, table=PERMUTED_TABLE, bias="map")
    x = rng.uniform(-1, 1, size=(1, 7, 6, 3))
    errors = G.check_layer(conv, x)
    assert errors["weight"] < TOL and errors["bias"] < TOL  # the layer itself is right
    assert_checked(errors)


def test_conv2d_nonsquare_input_and_batch_change(rng):
    """A non-square input, and one layer reused with batch sizes 3, 1, 3 (its
    buffers are sized per batch)."""
    conv = make_conv(rng, in_shape=(9, 5, 2), out_maps=3, kernel=3, stride=2, pad=1, pad_value=-1.0,
                     table=[[1], [0], [1]], bias="unit")
    for n in (3, 1, 3):
        x = rng.uniform(-1, 1, size=(n, 9, 5, 2))
        ref = ref_conv_forward(x, conv.params["weight"], conv.params["bias"], "unit", 2, 1, -1.0, [[1], [0], [1]])
        np.testing.assert_allclose(conv.forward(x), ref, rtol=0, atol=1e-12)
        assert_checked(G.check_layer(conv, x))


@pytest.mark.parametrize("geometry", ["small", "paper-H2"])
def test_conv2d_input_grad_matches_loops_at_batch_1_and_batched(geometry, rng):
    """backward's dE/dx, by its batch-1 path (scipy's CSR routine called directly)
    and its batched path (the (P*CKK, N) product), against the loop reference;
    the batch-1 path gives scipy's public sparse product bit for bit."""
    if geometry == "small":
        kw, table = dict(in_shape=(7, 5, 3), out_maps=4, kernel=3, stride=2, pad=1), SPARSE_TABLE
    else:
        table = [list(range(8))] * 4 + [list(range(4, 12))] * 4 + [[0, 1, 2, 3, 8, 9, 10, 11]] * 4
        kw = dict(in_shape=(8, 8, 12), out_maps=12, kernel=5, stride=2, pad=2)
    conv = make_conv(rng, table=table, **kw)
    for n in (1, 5):
        x = rng.uniform(-1, 1, size=(n,) + conv.in_shape)
        cache = {}
        da = rng.normal(size=conv.forward(x, cache).shape)
        dx = conv.backward(da, cache, conv.param_zeros())
        ref = ref_conv_input_grad(x, conv.params["weight"], da, conv.stride, conv.pad, conv.pad_value, table)
        np.testing.assert_allclose(dx, ref, rtol=0, atol=1e-12)
        if n == 1:
            public = conv._col2im_mat.dot(np.dot(da.reshape(conv.P, conv.O), cache["wd"]).reshape(-1))
            np.testing.assert_array_equal(dx.reshape(-1), public)


def test_conv2d_paper_geometry_and_pad_value():
    """H1 of the paper: 16x16 padded by 2 with -1 -> 8x8; a blank (-1) image
    therefore gives the same output everywhere except where padding is never read."""
    conv = L.Conv2d("H1", (16, 16, 1), 12, 5, 2, 2, -1.0, None, "unit")
    assert (conv.OH, conv.OW) == (8, 8)
    conv2 = L.Conv2d("H2", (8, 8, 12), 12, 5, 2, 2, -1.0, None, "unit")
    assert (conv2.OH, conv2.OW) == (4, 4)
    G.standalone(conv, np.random.default_rng(0))
    conv.params["bias"][...] = 0.0
    y = conv.forward(np.full((1, 16, 16, 1), -1.0))
    # Every receptive field sees only -1 (image or padding): output = -sum(w) per map.
    expected = -conv.params["weight"].reshape(12, -1).sum(axis=1)
    np.testing.assert_allclose(y[0], np.broadcast_to(expected, (8, 8, 12)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("pad_value", [-1.0, 0.0, 0.5])
def test_conv2d_pad_value_is_what_border_reads(pad_value):
    """Zero input, unit weights, no bias: each output counts its padded inputs times pad_value."""
    conv = L.Conv2d("c", (4, 4, 1), 1, 3, 1, 1, pad_value, None, "none")
    G.standalone(conv, np.random.default_rng(0))
    conv.params["weight"][...] = 1.0
    y = conv.forward(np.zeros((1, 4, 4, 1)))[0, :, :, 0]
    n_pad = np.array([[5, 3, 3, 5], [3, 0, 0, 3], [3, 0, 0, 3], [5, 3, 3, 5]])
    np.testing.assert_allclose(y, n_pad * pad_value, rtol=0, atol=1e-15)


def test_conv2d_identity_table_equals_no_table(rng):
    a = make_conv(rng, table=None)
    b = L.Conv2d("conv", (7, 5, 3), 4, 3, 1, 1, -1.0, [[0, 1, 2]] * 4, "unit")
    for k in ("weight", "bias", ):
        b.params[k] = a.params[k].copy()
    x = rng.uniform(-1, 1, size=(2, 7, 5, 3))
    np.testing.assert_allclose(a.forward(x), b.forward(x), rtol=0, atol=1e-13)


def test_conv2d_sparse_table_ignores_unread_maps(rng):
    """Changing an input map no row of the table names does not change the output."""
    conv = make_conv(rng, table=[[0, 2], [2, 0], [0, 2], [2, 0]])
    x = rng.uniform(-1, 1, size=(2, 7, 5, 3))
    y = conv.forward(x).copy()
    x[..., 1] = rng.uniform(-5, 5, size=x[..., 1].shape)
    np.testing.assert_array_equal(conv.forward(x), y)


@pytest.mark.parametrize("bias,shape", [("unit", (4, 7, 5)), ("map", (4,)), ("none", None)])
def test_conv2d_bias_shapes_and_counts(bias, shape):
    conv = L.Conv2d("c", (7, 5, 3), 4, 3, 1, 1, -1.0, SPARSE_TABLE, bias)
    assert conv.param_shapes["weight"] == (4, 2, 3, 3)
    if shape is None:
        assert "bias" not in conv.param_shapes
    else:
        assert conv.param_shapes["bias"] == shape
    units, conns, params = conv.counts()
    assert units == 4 * 7 * 5
    assert conns == units * (2 * 9 + (bias != "none"))
    assert params == 4 * 2 * 9 + (int(np.prod(shape)) if shape else 0)


def test_conv2d_bias_modes_forward(rng):
    """unit: one bias per output unit; map: one per map, the same at every position."""
    x = rng.uniform(-1, 1, size=(2, 7, 5, 3))
    none = make_conv(rng, bias="none")
    for mode in ("unit", "map"):
        conv = make_conv(rng, bias=mode)
        conv.params["weight"][...] = none.params["weight"]
        diff = conv.forward(x) - none.forward(x)
        b = conv.params["bias"]
        expected = b.transpose(1, 2, 0) if mode == "unit" else np.broadcast_to(b, (7, 5, 4))
        np.testing.assert_allclose(diff, np.broadcast_to(expected, diff.shape), rtol=0, atol=1e-12)


@pytest.mark.parametrize("table,match", [
    ([[0, 1], [1, 2], [0, 2]], "one row per output map"),
    ([[0, 1], [1, 3], [0, 2], [2, 0]], "indices"),
    ([[0, 1], [1, 1], [0, 2], [2, 0]], "twice"),
])
def test_conv2d_bad_table_rejected(table, match):
    with pytest.raises(ValueError, match=match):
        L.Conv2d("c", (7, 5, 3), 4, 3, 1, 1, -1.0, table, "unit")


def test_conv2d_bad_options_rejected():
    with pytest.raises(ValueError, match="bias"):
        L.Conv2d("c", (7, 5, 3), 4, 3, 1, 1, -1.0, None, "shared")
    with pytest.raises(ValueError, match="does not fit"):
        L.Conv2d("c", (3, 3, 1), 4, 5, 1, 0, -1.0, None, "unit")


# ----------------------------------------------------------------------------
# Linear, shape changes, activations, dropout


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 4])
def test_linear_gradcheck(bias, batch, rng):
    lin = G.standalone(L.Linear("fc", 7, 5, bias=bias), rng)
    x = rng.uniform(-1, 1, size=(batch, 7))
    errors = G.check_layer(lin, x)
    assert set(errors) == {"x", "weight"} | ({"bias"} if bias else set())
    assert_checked(errors)
    y = lin.forward(x)
    expected = x @ lin.params["weight"].T + (lin.params["bias"] if bias else 0.0)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-14)


def test_linear_counts():
    assert L.Linear("a", 192, 30).counts() == (30, 5790, 5790)
    assert L.Linear("a", 192, 30, bias=False).counts() == (30, 5760, 5760)


def test_channels_last_and_flatten_gradcheck(rng):
    x = rng.uniform(-1, 1, size=(3, 2, 5, 4))  # (N, C, H, W)
    cl = L.ChannelsLast()
    assert_checked(G.check_layer(cl, x))
    np.testing.assert_array_equal(cl.forward(x), np.moveaxis(x, 1, -1))
    fl = L.Flatten()
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))  # (N, H, W, C)
    assert_checked(G.check_layer(fl, xl))
    # (map, row, col) order: PyTorch's flatten of (N, C, H, W).
    np.testing.assert_array_equal(fl.forward(xl), x.reshape(3, -1))
    x2 = rng.uniform(-1, 1, size=(3, 6))
    np.testing.assert_array_equal(fl.forward(x2), x2)
    assert_checked(G.check_layer(fl, x2))
    assert cl.out_shape((2, 5, 4)) == (5, 4, 2)
    assert fl.out_shape((5, 4, 2)) == (40,)


def activation_input(kind, rng, shape=(3, 11)):
    x = rng.uniform(-2.5, 2.5, size=shape)
    if kind == "relu":  # bounded away from the kink at 0
        x = np.sign(x) * rng.uniform(0.1, 2.5, size=shape)
    return x


REFERENCE_F = {
    "lecun": lambda a: 1.7159 * np.tanh(2.0 * a / 3.0),
    "tanh": np.tanh,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "relu": lambda a: np.maximum(a, 0.0),
    "none": lambda a: a,
}


@pytest.mark.parametrize("kind", [k for k in L.ACTIVATIONS if k != "relu"])
def test_activation_gradcheck_and_values(kind, rng):
    act = L.make_activation(kind)
    x = activation_input(kind, rng)
    assert_checked(G.check_layer(act, x))
    np.testing.assert_allclose(act.forward(x), REFERENCE_F[kind](x), rtol=1e-14, atol=1e-15)
    assert act.kind == kind


def test_relu_gradcheck_and_values(rng):
    """dE/dx is exactly 0 for the negative inputs."""
    act = L.make_activation("relu")
    x = activation_input("relu", rng)
    np.testing.assert_array_equal(act.forward(x), np.maximum(x, 0.0))
    assert act.kind == "relu"
    assert_checked(G.check_layer(act, x))


@pytest.mark.parametrize("kind", L.ACTIVATIONS)
def test_activation_backward_h(kind, rng):
    """d2E/da2 = f'(a)^2 d2E/dy2, with f' from finite differences of f."""
    act = L.make_activation(kind)
    x = activation_input(kind, rng)
    d2y = rng.uniform(0, 1, size=x.shape)
    cache = {}
    act.forward(x, cache)
    h = 1e-5
    f = REFERENCE_F[kind]
    fprime = (f(x + h) - f(x - h)) / (2 * h)
    np.testing.assert_allclose(act.backward_h(d2y, cache, None), fprime ** 2 * d2y, rtol=1e-8, atol=1e-12)


def test_lecun_activation_constants():
    f = L.make_activation("lecun")
    assert abs(f.forward(np.array([1.0]))[0] - 1.0) < 1e-4  # f(+-1) = +-1
    assert abs(f.forward(np.array([-1.0]))[0] + 1.0) < 1e-4
    with pytest.raises(ValueError):
        L.make_activation("softplus")


def test_sigmoid_no_overflow():
    s = L.make_activation("sigmoid")
    cache = {}
    y = s.forward(np.array([-1000.0, 0.0, 1000.0]), cache)
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0], atol=1e-300)
    assert np.all(np.isfinite(cache["fprime"]))


def test_dropout_gradcheck(rng):
    """dE/dx is exactly 0 for the dropped inputs."""
    drop = L.Dropout("dropout", 0.25, np.random.default_rng(7))
    x = rng.uniform(-1, 1, size=(4, 30))
    assert_checked(G.check_layer(drop, x))


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropout_values(p, rng):
    drop = L.Dropout("dropout", p, np.random.default_rng(7))
    x = rng.uniform(-1, 1, size=(4, 30))
    cache = {}
    y = drop.forward(x, cache)
    kept = cache["mask"] != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    assert np.all(y[~kept] == 0)
    d2y = rng.uniform(0, 1, size=x.shape)
    np.testing.assert_allclose(drop.backward_h(d2y, cache, None), d2y * kept / (1 - p) ** 2, rtol=1e-15)


def test_dropout_eval_and_zero_p_are_identity(rng):
    x = rng.uniform(-1, 1, size=(4, 30))
    drop = L.Dropout("dropout", 0.5, np.random.default_rng(0))
    np.testing.assert_array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(x, None, None), x)
    drop0 = L.Dropout("dropout", 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(drop0.forward(x, {}), x)


def test_dropout_rate():
    drop = L.Dropout("dropout", 0.25, np.random.default_rng(0))
    cache = {}
    drop.forward(np.ones((200, 100)), cache)
    assert abs((cache["mask"] == 0).mean() - 0.25) < 0.01


# ----------------------------------------------------------------------------
# Losses


def loss_inputs(rng, n=5, k=10):
    y = rng.uniform(-1.5, 1.5, size=(n, k))
    labels = rng.integers(0, k, size=n)
    return y, labels


LOSS_KINDS = [("mse", "mean"), ("mse", "half_sum"), ("ce", "mean")]


@pytest.mark.parametrize("kind,scale", LOSS_KINDS)
def test_loss_backward_matches_numeric(kind, scale, rng):
    y, labels = loss_inputs(rng)
    loss = losses.make_loss(kind, scale)
    loss.forward(y, labels)
    analytic = loss.backward().copy()
    numeric = G.numeric_grad(lambda: loss.forward(y, labels), y)
    assert G.rel_error(analytic, numeric) < TOL
    # the training loop's fast path gives the same gradient
    np.testing.assert_allclose(loss.grad(y, loss.targets(labels)), analytic, rtol=1e-15, atol=0)


@pytest.mark.parametrize("kind,scale", LOSS_KINDS)
def test_loss_backward_h_is_exact_diagonal(kind, scale, rng):
    """MSE: d2E/dy2 = 2/(N K) ("mean") or 1/N ("half_sum") exactly; CE: the
    Hessian's diagonal p(1-p)/N, also exact."""
    y, labels = loss_inputs(rng)
    loss = losses.make_loss(kind, scale)
    loss.forward(y, labels)
    analytic = loss.backward_h().copy()
    numeric = second_diff(lambda: loss.forward(y, labels), y, h=1e-3)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-10)
    assert np.all(analytic >= 0)
    if kind == "mse":
        np.testing.assert_array_equal(loss.output_curvature(*y.shape), analytic)
        assert analytic[0, 0] == (1 / len(y) if scale == "half_sum" else 2 / y.size)


def test_half_sum_cost_is_sn28s_and_five_times_the_mean(rng):
    y, labels = loss_inputs(rng)
    t = -np.ones_like(y)
    t[np.arange(len(labels)), labels] = 1.0
    half = losses.make_loss("mse", "half_sum").forward(y, labels)
    assert abs(half - np.mean(0.5 * ((y - t) ** 2).sum(axis=1))) < 1e-14
    assert abs(half - 5 * losses.make_loss("mse").forward(y, labels)) < 1e-13
    with pytest.raises(ValueError):
        losses.make_loss("ce", "half_sum")


def test_loss_values(rng):
    y, labels = loss_inputs(rng)
    t = -np.ones_like(y)
    t[np.arange(len(labels)), labels] = 1.0
    assert abs(losses.make_loss("mse").forward(y, labels) - np.mean((y - t) ** 2)) < 1e-14
    logp = y - np.log(np.exp(y).sum(axis=1, keepdims=True))
    assert abs(losses.make_loss("ce").forward(y, labels) + np.mean(logp[np.arange(len(labels)), labels])) < 1e-14
    # CE is stable for large logits.
    big = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    assert abs(losses.make_loss("ce").forward(big, np.array([0, 1]))) < 1e-12
    with pytest.raises(ValueError):
        losses.make_loss("hinge")


# ----------------------------------------------------------------------------
# Second derivatives (Gauss-Newton diagonal) of the layers with parameters


@pytest.mark.parametrize("bias", [True, False])
def test_linear_backward_h_matches_explicit_sums(bias, rng):
    n, n_in, n_out = 4, 7, 5
    lin = G.standalone(L.Linear("fc", n_in, n_out, bias=bias), rng)
    x = rng.uniform(-1, 1, size=(n, n_in))
    D = rng.uniform(0, 1, size=(n, n_out))
    cache, hess = {}, lin.param_zeros()
    lin.forward(x, cache)
    hx = lin.backward_h(D, cache, hess)
    W = lin.params["weight"]
    hw_ref = np.zeros((n_out, n_in))
    hx_ref = np.zeros((n, n_in))
    for b in range(n):
        for k in range(n_out):
            for i in range(n_in):
                hw_ref[k, i] += x[b, i] ** 2 * D[b, k]
                hx_ref[b, i] += W[k, i] ** 2 * D[b, k]
    np.testing.assert_allclose(hess["weight"], hw_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(hx, hx_ref, rtol=1e-13, atol=1e-15)
    if bias:
        np.testing.assert_allclose(hess["bias"], D.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(hess["weight"], np.einsum("ni,nk->ki", x ** 2, D), rtol=1e-13)


def test_linear_backward_h_equals_true_hessian_under_mse(rng):
    """A linear layer under MSE is quadratic in its weights, so the Gauss-Newton
    diagonal is the exact d2E/dw2: compare with second differences of the loss."""
    lin = G.standalone(L.Linear("fc", 6, 10), rng)
    x = rng.uniform(-1, 1, size=(3, 6))
    labels = np.array([1, 4, 9])
    loss = losses.make_loss("mse")
    cache, hess = {}, lin.param_zeros()
    loss.forward(lin.forward(x, cache), labels)
    lin.backward_h(loss.backward_h(), cache, hess)
    for k in ("weight", "bias"):
        numeric = second_diff(lambda: loss.forward(lin.forward(x), labels), lin.params[k])
        np.testing.assert_allclose(hess[k], numeric, rtol=1e-6, atol=1e-10)


CONV_H_CASES = [
    dict(kernel=3, stride=1, pad=1, pad_value=-1.0, table=None, bias="unit", batch=2),
    dict(kernel=5, stride=2, pad=2, pad_value=-1.0, table=SPARSE_TABLE, bias="unit", batch=3),
    dict(kernel=3, stride=2, pad=0, pad_value=0.5, table=PERMUTED_TABLE, bias="map", batch=1),
    dict(kernel=5, stride=1, pad=2, pad_value=0.5, table=SPARSE_TABLE, bias="none", batch=2),
]


@pytest.mark.parametrize("case", CONV_H_CASES, ids=[f"k{c['kernel']}-s{c['stride']}-{c['bias']}" for c in CONV_H_CASES])
def test_conv2d_backward_h_matches_loops(case, rng):
    conv = make_conv(rng, kernel=case["kernel"], stride=case["stride"], pad=case["pad"],
                     pad_value=case["pad_value"], table=case["table"], bias=case["bias"])
    x = rng.uniform(-1, 1, size=(case["batch"],) + conv.in_shape)
    cache, hess = {}, conv.param_zeros()
    conv.forward(x, cache)
    D = rng.uniform(0, 1, size=(case["batch"], conv.OH, conv.OW, conv.O))
    hx = conv.backward_h(D, cache, hess)
    hw, hb, hx_ref = ref_conv_hessian(x, conv.params["weight"], D, case["bias"], case["stride"], case["pad"],
                                      case["pad_value"], case["table"])
    np.testing.assert_allclose(hess["weight"], hw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hx, hx_ref, rtol=1e-12, atol=1e-14)
    if case["bias"] != "none":
        np.testing.assert_allclose(hess["bias"], hb, rtol=1e-12, atol=1e-14)
    assert conv.backward_h(D, cache, hess, need_dx=False) is None


def test_conv2d_backward_h_equals_true_hessian_of_quadratic(rng):
    """E = 1/2 sum(c * (a - t)^2) on the conv's output a is quadratic in the weights
    and biases, with d2E/da2 = c: the diagonal recursion is then the exact diagonal."""
    conv = make_conv(rng, kernel=5, stride=2, pad=2, pad_value=-1.0, table=SPARSE_TABLE, bias="unit")
    x = rng.uniform(-1, 1, size=(2,) + conv.in_shape)
    shape = (2, conv.OH, conv.OW, conv.O)
    c = rng.uniform(0.1, 1, size=shape)
    t = rng.normal(size=shape)

    def energy():
        return 0.5 * float(np.sum(c * (conv.forward(x) - t) ** 2))

    cache, hess = {}, conv.param_zeros()
    conv.forward(x, cache)
    conv.backward_h(c, cache, hess)
    for k in ("weight", "bias"):
        numeric = second_diff(energy, conv.params[k])
        np.testing.assert_allclose(hess[k], numeric, rtol=1e-6, atol=1e-9)


def test_backward_need_dx_false(rng):
    conv = make_conv(rng)
    x = rng.uniform(-1, 1, size=(2,) + conv.in_shape)
    cache, grads = {}, conv.param_zeros()
    y = conv.forward(x, cache)
    g = rng.normal(size=y.shape)
    dx = conv.backward(g, cache, grads)
    w = grads["weight"].copy()
    assert conv.backward(g, cache, grads, need_dx=False) is None
    np.testing.assert_array_equal(grads["weight"], w)
    assert dx.shape == x.shape
    lin = G.standalone(L.Linear("fc", 7, 5), rng)
    cache = {}
    lin.forward(rng.uniform(size=(2, 7)), cache)
    assert lin.backward(rng.normal(size=(2, 5)), cache, lin.param_zeros(), need_dx=False) is None


def test_backward_assigns_not_accumulates(rng):
    """grads are assigned by every backward, so two calls give the same result."""
    conv = make_conv(rng, table=SPARSE_TABLE)
    lin = G.standalone(L.Linear("fc", 7, 5), rng)
    x = rng.uniform(-1, 1, size=(2,) + conv.in_shape)
    cache, grads = {}, conv.param_zeros()
    g = rng.normal(size=conv.forward(x, cache).shape)
    conv.backward(g, cache, grads)
    first = {k: v.copy() for k, v in grads.items()}
    conv.backward(g, cache, grads)
    for k in first:
        np.testing.assert_array_equal(grads[k], first[k])
    xl = rng.uniform(size=(2, 7))
    cache, grads = {}, lin.param_zeros()
    lin.forward(xl, cache)
    gl = rng.normal(size=(2, 5))
    lin.backward(gl, cache, grads)
    w = grads["weight"].copy()
    lin.backward(gl, cache, grads)
    np.testing.assert_array_equal(grads["weight"], w)


def test_init_ranges():
    rng = np.random.default_rng(0)
    conv = L.Conv2d("c", (8, 8, 12), 12, 5, 2, 2, -1.0, [list(range(8))] * 12, "unit")
    G.standalone(conv, rng)
    conv.init_params(rng, "sqrt", 2.4)
    r = 2.4 / np.sqrt(8 * 25)
    assert np.abs(conv.params["weight"]).max() <= r and np.abs(conv.params["weight"]).max() > 0.9 * r
    assert np.all(conv.params["bias"] == 0)
    conv.init_params(rng, "fanin", 2.4)
    r = 2.4 / (8 * 25)
    assert np.abs(conv.params["weight"]).max() <= r and np.abs(conv.params["weight"]).max() > 0.9 * r
    with pytest.raises(ValueError):
        conv.init_params(rng, "xavier", 2.4)
