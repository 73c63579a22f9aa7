"""The numpy network against the same network written in PyTorch (float64), on
real USPS training digits: outputs, loss, every parameter gradient, and the
Gauss-Newton diagonal (``backward_h``), to 1e-10 relative.

The PyTorch side is built here from torch primitives only: ``F.pad`` with the
background value, ``F.conv2d`` with stride 2, the H2 connection table as a
gather of each output map's input maps followed by a grouped convolution (the
numpy code instead scatters the weights into a masked dense kernel), biases
per unit added as (C, H, W) tensors, ``flatten`` of NCHW, ``F.linear``.

The Gauss-Newton diagonal follows LeCun's recursion (dropping f'' and
off-diagonal terms). For an affine map a = op(u; W) + b, the recursion's
d2E/dW2 = sum u^2 d2E/da2 and d2E/du2 = sum W^2 d2E/da2 are the gradients of
sum(d2E/da2 * op(u^2; W^2)) with respect to W^2 and u^2: torch's autograd
computes them here, with f'(a) from autograd too.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from lecun89 import losses  # noqa: E402
from lecun89.config import config_from_dict  # noqa: E402
from lecun89.model import build_model  # noqa: E402

DT = torch.float64
RTOL = 1e-10
N_DIGITS = 16
ZIP_TRAIN = Path("usps") / "zip.train.gz"


# ----------------------------------------------------------------------------
# Data: 16 real training digits


def read_zip_lines(path: Path, n_lines: int):
    """The first n_lines digits of a ZIP-format file: label, then 256 values."""
    xs, ys = [], []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            v = np.array(line.split(), dtype=np.float64)
            assert v.size == 257, f"{path}: a line has {v.size} fields, expected 257"
            ys.append(int(v[0]))
            xs.append(v[1:].reshape(1, 16, 16))
            if len(ys) == n_lines:
                break
    return np.stack(xs), np.array(ys, dtype=np.int64)


def pick_16(y):
    """The first digit of each class, then the first 6 others, in file order."""
    first = {}
    for i, c in enumerate(y.tolist()):
        first.setdefault(c, i)
    chosen = set(first.values())
    for i in range(len(y)):
        if len(chosen) == N_DIGITS:
            break
        chosen.add(i)
    return np.array(sorted(chosen))


@pytest.fixture(scope="module")
def raw_head(data_dir):
    path = data_dir / ZIP_TRAIN
    if not path.is_file():
        pytest.skip(f"USPS training file {path} not found (set LECUN89_DATA to the data directory)")
    return read_zip_lines(path, 200)


@pytest.fixture(scope="module")
def usps16(data_dir, raw_head):
    """16 training digits (N, 1, 16, 16) in [-1, 1] and their labels, through
    ``lecun89.data.load_dataset``, the same as the file's first lines read here."""
    from lecun89.data import load_dataset

    ds = load_dataset("usps", data_dir, cache=False)
    x, y = np.asarray(ds.x_train[:200], dtype=np.float64), np.asarray(ds.y_train[:200], dtype=np.int64)
    assert x.shape == (200, 1, 16, 16)
    assert np.array_equal(y, raw_head[1]) and np.allclose(x, raw_head[0])
    idx = pick_16(y)
    assert len(set(y[idx].tolist())) == 10
    return np.ascontiguousarray(x[idx]), y[idx]


def test_usps_sample_matches_raw_file(usps16, raw_head):
    """The 16 digits are the file's (whichever loader gave them)."""
    x, y = usps16
    xr, yr = raw_head
    idx = pick_16(yr)
    np.testing.assert_array_equal(y, yr[idx])
    np.testing.assert_allclose(x, xr[idx], rtol=0, atol=1e-12)
    assert x.min() >= -1 and x.max() <= 1


# ----------------------------------------------------------------------------
# The PyTorch network


def torch_activation(kind):
    return {
        "lecun": lambda a: 1.7159 * torch.tanh(2.0 * a / 3.0),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": F.relu,
        "none": lambda a: a,
    }[kind]


class Stage:
    """One affine layer (conv or linear) and its activation."""

    def __init__(self, name, kind, act, bias_mode="unit", pad_value=-1.0, table=None):
        self.name, self.kind, self.f = name, kind, torch_activation(act)
        self.bias_mode, self.pad_value, self.table = bias_mode, pad_value, table

    def prepare(self, h):
        """The affine map's input u: padded maps (conv) or a flat vector (linear)."""
        if self.kind == "conv":
            return F.pad(h, (2, 2, 2, 2), value=self.pad_value)
        return h.flatten(1)

    def op(self, u, w, b):
        if self.kind == "linear":
            return F.linear(u, w, b)
        if self.table is not None:  # gather each output map's input maps, one group per output map
            u = u[:, torch.as_tensor(self.table.reshape(-1))]
            a = F.conv2d(u, w, stride=2, groups=w.shape[0])
        else:
            a = F.conv2d(u, w, stride=2)
        if b is None:
            return a
        return a + (b if self.bias_mode == "unit" else b.view(-1, 1, 1))


def torch_stages(cfg, state):
    m = cfg
    if m.arch == "fc":
        return [Stage("H1", "linear", m.activation), Stage("out", "linear", m.output_activation)]
    table = state.get("H2.table")
    return [
        Stage("H1", "conv", m.activation, m.bias, m.pad_value_h1),
        Stage("H2", "conv", m.activation, m.bias, m.pad_value_h2, table),
        Stage("H3", "linear", m.activation),
        Stage("out", "linear", m.output_activation),
    ]


def torch_params(state):
    return {k: torch.tensor(v, dtype=DT, requires_grad=True) for k, v in state.items() if not k.endswith(".table")}


def torch_forward(stages, P, x):
    h, record = x, []
    for st in stages:
        u = st.prepare(h)
        a = st.op(u, P[f"{st.name}.weight"], P.get(f"{st.name}.bias"))
        record.append((u, a, h.shape))
        h = st.f(a)
    return h, record


def torch_loss(kind, y, labels):
    if kind == "mse":
        t = -torch.ones_like(y)
        t[torch.arange(len(labels)), labels] = 1.0
        return ((y - t) ** 2).mean()
    return F.cross_entropy(y, labels)


def fprime(f, a):
    a = a.detach().requires_grad_(True)
    return torch.autograd.grad(f(a).sum(), a)[0]


def torch_gauss_newton(stages, P, record, d2y):
    """LeCun's diagonal recursion, each affine step by autograd on squared weights and inputs."""
    hess = {}
    d2 = d2y
    for st, (u, a, in_shape) in zip(reversed(stages), reversed(record), strict=True):
        d2a = fprime(st.f, a) ** 2 * d2
        w2 = (P[f"{st.name}.weight"].detach() ** 2).requires_grad_(True)
        leaves = [w2]
        b = P.get(f"{st.name}.bias")
        bz = None
        if b is not None:
            bz = torch.zeros_like(b, requires_grad=True)
            leaves.append(bz)
        u2 = (u.detach() ** 2).requires_grad_(True)
        leaves.append(u2)
        grads = torch.autograd.grad((d2a * st.op(u2, w2, bz)).sum(), leaves)
        hess[f"{st.name}.weight"] = grads[0]
        if b is not None:
            hess[f"{st.name}.bias"] = grads[1]
        d2u = grads[-1]
        if st.kind == "conv":
            hh, ww = in_shape[2], in_shape[3]
            d2 = d2u[:, :, 2:2 + hh, 2:2 + ww]
        else:
            d2 = d2u.reshape(in_shape)
    return hess


# ----------------------------------------------------------------------------
# The comparison


def assert_rel(actual, expected, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs torch {expected.shape}"
    scale = np.abs(expected).max()
    err = np.abs(actual - expected).max() / max(scale, 1e-300)
    assert err <= RTOL, f"{what}: max |numpy - torch| / max |torch| = {err:.3g} > {RTOL:g}"
    return err


def run_parity(model, loss_kind, x, labels, seed=0, hessian=True):
    cfg = config_from_dict({"model": model}).model
    net = build_model(cfg, seed)
    rng = np.random.default_rng(seed + 100)
    for k, p in net.named_params().items():  # biases off zero, except an initial output bias under test
        if k.endswith("bias") and not (k == "out.bias" and "output_bias" in model):
            p[...] = rng.uniform(-0.5, 0.5, size=p.shape)

    # numpy
    loss = losses.make_loss(loss_kind)
    y_np = net.forward(x, train=True)
    e_np = loss.forward(y_np, labels)
    net.backward(loss.backward())
    grads_np = {k: v.copy() for k, v in net.named_grads().items()}
    net.backward_h(loss.backward_h())
    hess_np = {k: v.copy() for k, v in net.named_hess().items()}

    # torch
    state = net.state_dict()
    stages = torch_stages(cfg, state)
    P = torch_params(state)
    xt = torch.tensor(x, dtype=DT)
    lt = torch.tensor(labels, dtype=torch.int64)
    y_t, record = torch_forward(stages, P, xt)
    e_t = torch_loss(loss_kind, y_t, lt)
    e_t.backward()

    assert_rel(y_np, y_t, "outputs")
    assert abs(e_np - e_t.item()) <= RTOL * abs(e_t.item()), (e_np, e_t.item())
    assert set(grads_np) == set(P)
    for k in P:
        assert_rel(grads_np[k], P[k].grad, f"dE/d{k}")
    if hessian:
        with torch.no_grad():
            if loss_kind == "mse":
                d2y = torch.full_like(y_t, 2.0 / y_t.numel())
            else:
                p = torch.softmax(y_t, dim=1)
                d2y = p * (1 - p) / len(labels)
        hess_t = torch_gauss_newton(stages, P, record, d2y)
        assert set(hess_t) == set(hess_np)
        for k in hess_t:
            assert_rel(hess_np[k], hess_t[k], f"d2E/d{k}2")
    return net


@pytest.fixture(autouse=True, scope="module")
def _torch_settings():
    """float64 by default; one thread (numpy's BLAS threads and torch's would
    otherwise compete for the cores, which makes these tiny ops slow)."""
    old_dtype, old_threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(old_dtype)
    torch.set_num_threads(old_threads)


PARITY = {
    "paper": (dict(), "mse"),
    "relu-ce-outnone": (dict(activation="relu", output_activation="none"), "ce"),
    "tanh-outbias-1": (dict(activation="tanh", output_activation="tanh", output_bias=-1.0), "mse"),
    "sigmoid-bias-map": (dict(activation="sigmoid", bias="map"), "mse"),
    "h2-full-pad0": (dict(h2_table="full", pad_value_h2=0.0), "mse"),
    "permuted-table": (dict(h1_maps=6, h2_maps=4, h3_units=10,
                            h2_table=[[5, 0, 3], [1, 4, 2], [2, 1, 0], [3, 5, 4]]), "ce"),
    "fanin-ce": (dict(init="fanin"), "ce"),
    "fc": (dict(arch="fc"), "mse"),
    "fc-relu-ce": (dict(arch="fc", activation="relu", output_activation="none"), "ce"),
}


@pytest.mark.parametrize("name", PARITY)
def test_parity_on_usps(name, usps16):
    model, loss_kind = PARITY[name]
    x, labels = usps16
    run_parity(model, loss_kind, x, labels)


@pytest.mark.parametrize("name", ["paper", "fc"])
def test_parity_batch_of_one(name, usps16):
    model, loss_kind = PARITY[name]
    x, labels = usps16
    run_parity(model, loss_kind, x[3:4], labels[3:4], seed=4)


def test_parity_eval_forward_matches(usps16):
    """forward(train=False) gives the same outputs as the training forward."""
    x, labels = usps16
    net = run_parity({}, "mse", x, labels, hessian=False)
    state = net.state_dict()
    stages = torch_stages(net.config, state)
    with torch.no_grad():
        y_t, _ = torch_forward(stages, torch_params(state), torch.tensor(x))
    assert_rel(net.forward(x, train=False), y_t, "eval outputs")
