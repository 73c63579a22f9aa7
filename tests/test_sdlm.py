"""The second-derivative pass behind SDLM (the paper's diagonal-Hessian method).

Checked two independent ways:
- on one layer followed by the loss, the recursion is the exact Gauss-Newton
  diagonal sum_k H_kk (dy_k/dw)^2, with the Jacobian from finite differences;
- on whole networks, against a loop-over-connections implementation of LeCun's
  recursion written here from the formulas alone (no im2col, no bincount).
"""

import numpy as np
import pytest

from lecun89 import layers as L
from lecun89 import losses
from lecun89.config import config_from_dict
from lecun89.gradcheck import standalone
from lecun89.model import build_model
from lecun89.optim import SDLM, epsilon_scale, lr_at


def _jacobian(f, w, h=1e-6):
    """d f()/d w for a function linear in w (central differences are exact up to rounding)."""
    y0 = f()
    J = np.zeros(y0.shape + w.shape)
    flat = w.reshape(-1)
    Jf = J.reshape(y0.size, -1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        yp = f().ravel()
        flat[i] = old - h
        ym = f().ravel()
        flat[i] = old
        Jf[:, i] = (yp - ym) / (2 * h)
    return J


@pytest.mark.parametrize("make", [
    lambda: L.Linear("fc", 7, 4),
    lambda: L.Conv2d("c", (6, 6, 3), 4, kernel=3, stride=2, pad=1, pad_value=-1.0, table=[[0, 2], [1, 2], [0, 1], [2, 0]]),
    lambda: L.Conv2d("c", (5, 5, 2), 3, kernel=3, stride=1, pad=1, pad_value=0.5, table=None, bias="map"),
])
def test_single_layer_is_exact_gauss_newton(make):
    rng = np.random.default_rng(0)
    layer = standalone(make(), rng)
    in_shape = (3, 7) if isinstance(layer, L.Linear) else (3,) + layer.in_shape
    x = rng.uniform(-1, 1, size=in_shape)
    cache, hess = {}, layer.param_zeros()
    y = layer.forward(x, cache)
    D = rng.uniform(0.1, 1.0, size=y.shape)  # a positive diagonal d2E/dy2 per output
    layer.backward_h(D, cache, hess)
    for name, w in layer.params.items():
        J = _jacobian(lambda: layer.forward(x), w)
        Jf = J.reshape(D.size, -1)
        exact = (D.reshape(-1, 1) * Jf ** 2).sum(axis=0).reshape(w.shape)
        np.testing.assert_allclose(hess[name], exact, rtol=1e-8, atol=1e-12)


def _ref_conv_h(layer, x, d2a):
    """LeCun's recursion over explicit connections of a Conv2d (channels-last)."""
    n, H, W, C = x.shape
    w = layer.params["weight"]
    table = layer.table if layer.table is not None else np.tile(np.arange(C), (layer.O, 1))
    hw = np.zeros_like(w)
    d2x = np.zeros_like(x)
    for o in range(layer.O):
        for j, c in enumerate(table[o]):
            for ki in range(layer.K):
                for kj in range(layer.K):
                    for oy in range(layer.OH):
                        for ox in range(layer.OW):
                            iy, ix = oy * layer.stride + ki - layer.pad, ox * layer.stride + kj - layer.pad
                            inside = 0 <= iy < H and 0 <= ix < W
                            xi = x[:, iy, ix, c] if inside else np.full(n, layer.pad_value)
                            hw[o, j, ki, kj] += np.sum(xi ** 2 * d2a[:, oy, ox, o])
                            if inside:
                                d2x[:, iy, ix, c] += w[o, j, ki, kj] ** 2 * d2a[:, oy, ox, o]
    hb = None
    if layer.bias_mode == "unit":
        hb = d2a.sum(axis=0).transpose(2, 0, 1)
    elif layer.bias_mode == "map":
        hb = d2a.sum(axis=(0, 1, 2))
    return hw, hb, d2x


def _reference_h(net, x, d2out):
    """Run the forward pass layer by layer, then the recursion by hand."""
    inputs, caches = [], []
    for lay in net.layers:
        inputs.append(x)
        caches.append({})
        x = lay.forward(x, caches[-1])
    ref = {}
    d = d2out
    for lay, xin, cache in zip(reversed(net.layers), reversed(inputs), reversed(caches), strict=True):
        if isinstance(lay, L.Activation):
            d = d * (cache["fprime"] ** 2 if not isinstance(lay, L.Identity) else 1.0)
        elif isinstance(lay, L.Dropout):
            d = d if cache["mask"] is None else d * cache["mask"] ** 2
        elif isinstance(lay, L.Linear):
            W = lay.params["weight"]
            ref[f"{lay.name}.weight"] = np.einsum("nk,ni->ki", d, xin ** 2)
            ref[f"{lay.name}.bias"] = d.sum(axis=0)
            d = np.einsum("nk,ki->ni", d, W ** 2)
        elif isinstance(lay, L.Conv2d):
            hw, hb, d = _ref_conv_h(lay, xin, d)
            ref[f"{lay.name}.weight"] = hw
            if hb is not None:
                ref[f"{lay.name}.bias"] = hb
        elif isinstance(lay, L.Flatten):
            d = d.reshape(xin.shape[0], xin.shape[3], xin.shape[1], xin.shape[2]).transpose(0, 2, 3, 1) \
                if xin.ndim == 4 else d
        elif isinstance(lay, L.ChannelsLast):
            d = d.transpose(0, 3, 1, 2)
        else:
            raise AssertionError(type(lay))
    return ref


@pytest.mark.parametrize("model,loss", [
    ({}, "mse"),
    ({"bias": "map", "activation": "tanh", "pad_value_h2": 0.0}, "mse"),
    ({"activation": "relu", "output_activation": "none", "dropout": 0.25}, "ce"),
    ({"arch": "fc", "activation": "sigmoid"}, "mse"),
])
def test_network_second_derivatives_match_reference(model, loss):
    cfg = config_from_dict({"model": model, "train": {"loss": loss}})
    net = build_model(cfg.model, seed=3)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(2, 1, 16, 16))
    labels = np.array([3, 7])
    lossf = losses.make_loss(loss)
    net.rng = np.random.default_rng(5)
    for lay in net.layers:
        if isinstance(lay, L.Dropout):
            lay.rng = np.random.default_rng(5)
    lossf.forward(net.forward(x, train=True), labels)
    d2out = lossf.backward_h()
    net.backward_h(d2out)
    got = {k: v.copy() for k, v in net.named_hess().items()}
    for lay in net.layers:
        if isinstance(lay, L.Dropout):
            lay.rng = np.random.default_rng(5)
    ref = _reference_h(net, x, d2out)
    assert set(ref) == set(got)
    for k in got:
        assert np.all(got[k] >= 0), k
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, atol=1e-15, err_msg=k)


def test_sdlm_step_is_epsilon_over_mu_plus_h():
    cfg = config_from_dict({"train": {"optimizer": "sdlm", "sdlm_mu": 0.01, "sdlm_samples": 20}})
    net = build_model(cfg.model, seed=0)
    opt = SDLM(net, cfg.train)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(40, 1, 16, 16))
    y = rng.integers(0, 10, size=40)
    opt.start_pass(1e-3, x, y, np.random.default_rng(1))
    h = opt.state["h"].copy()
    assert np.all(h >= 0) and h.max() > 0
    net.flat_grad[...] = rng.normal(size=net.flat.size)
    before = net.flat.copy()
    opt.step()
    np.testing.assert_allclose(net.flat, before - 1e-3 / (0.01 + h) * net.flat_grad, rtol=1e-14)


def test_lenet5_step_schedule():
    cfg = config_from_dict({"train": {"schedule": "step", "passes": 23,
                                      "lr_steps": [[2, 5e-4], [3, 2e-4], [3, 1e-4], [4, 5e-5], [0, 1e-5]]}})
    got = [lr_at(cfg.train, p) for p in range(23)]
    assert got[:12] == [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4
    assert got[12:] == [1e-5] * 11


def test_linear_and_cosine_schedules():
    cfg = config_from_dict({"train": {"schedule": "linear", "lr": 3e-4, "lr_final": 1e-4, "passes": 5}})
    np.testing.assert_allclose([lr_at(cfg.train, p) for p in range(5)], np.linspace(3e-4, 1e-4, 5))
    cfg = config_from_dict({"train": {"schedule": "cosine", "lr": 1.0, "lr_final": 0.0, "passes": 3}})
    np.testing.assert_allclose([lr_at(cfg.train, p) for p in range(3)], [1.0, 0.5, 0.0], atol=1e-15)


# --- SN2.8's variant: running average, half-sum cost, per-weight epsilon -------

# Net-1989 by hand: (fan-in with the bias, connections sharing each kernel weight)
NET1989_FAN_IN_SHARE = {"H1": (26, 64), "H2": (201, 16), "H3": (193, 1), "out": (31, 1)}


@pytest.mark.parametrize("kind,f", [
    ("fanin", lambda F, S: 1 / F),
    ("sqrt_fanin", lambda F, S: 1 / np.sqrt(F)),
    ("sqrt_fanin_share", lambda F, S: 1 / np.sqrt(F * S)),
])
def test_epsilon_scale_is_sn28s_per_unit_helpers(kind, f):
    net = build_model(config_from_dict({}).model)
    scale = epsilon_scale(net, kind)
    for name, sl in net.slices.items():
        F, S = NET1989_FAN_IN_SHARE[name.split(".")[0]]
        np.testing.assert_allclose(scale[sl], f(F, S), rtol=1e-15, err_msg=name)  # bias included
    assert epsilon_scale(net, "none") is None
    no_bias = build_model(config_from_dict({"model": {"bias": "none"}}).model)
    sl = no_bias.slices["H1.weight"]
    np.testing.assert_allclose(epsilon_scale(no_bias, "sqrt_fanin_share")[sl], 1 / np.sqrt(25 * 64))


def _sn28_reference_run(cfg, x, labels, lr, scale_of):
    """SN2.8's online update written from its manual: per pattern, forward,
    gradient of 1/2 sum (y - t)^2, the Gauss-Newton second derivatives by the
    loop-over-connections recursion above (d2E/dy2 = 1), sigma <- (1 - gamma)
    sigma + gamma h, then w <- w - epsilon * dE/dw / (mu + sigma)."""
    t = cfg.train
    net = build_model(cfg.model, seed=0)
    sigma = {k: np.zeros_like(v) for k, v in net.named_params().items()}
    for i in range(len(x)):
        xb = x[i:i + 1]
        y = net.forward(xb, train=True)
        target = -np.ones_like(y)
        target[0, labels[i]] = 1.0
        net.backward(y - target)
        grads = {k: v.copy() for k, v in net.named_grads().items()}
        h = _reference_h(net, xb, np.ones_like(y))
        for k, w in net.named_params().items():
            sigma[k] = (1 - t.sdlm_gamma) * sigma[k] + t.sdlm_gamma * h[k]
            w -= lr * scale_of(k) * grads[k] / (t.sdlm_mu + sigma[k])
    return net, sigma


@pytest.mark.parametrize("eps_scale", ["none", "sqrt_fanin_share"])
def test_running_sdlm_matches_sn28s_update_pattern_by_pattern(eps_scale):
    cfg = config_from_dict({"train": {"optimizer": "sdlm", "sdlm_estimator": "running", "cost_scale": "half_sum",
                                      "sdlm_mu": 0.05, "sdlm_gamma": 0.3, "sdlm_eps_scale": eps_scale,
                                      "schedule": "constant", "lr": 0.02}})
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=(4, 1, 16, 16))
    labels = np.array([3, 7, 0, 3])
    net = build_model(cfg.model, seed=0)
    opt = SDLM(net, cfg.train)
    loss = losses.make_loss("mse", "half_sum")
    targets = loss.targets(labels)
    opt.start_pass(0.02, x, labels, np.random.default_rng(0))
    for i in range(len(x)):
        net.backward(loss.grad(net.forward(x[i:i + 1], train=True), targets[i:i + 1]))
        opt.step()

    def scale_of(k):
        F, S = NET1989_FAN_IN_SHARE[k.split(".")[0]]
        return 1.0 if eps_scale == "none" else 1 / np.sqrt(F * S)

    ref, sigma = _sn28_reference_run(cfg, x, labels, 0.02, scale_of)
    got_h = {k: opt.state["h"][sl].reshape(sigma[k].shape) for k, sl in net.slices.items()}
    for k, w in ref.named_params().items():
        np.testing.assert_allclose(got_h[k], sigma[k], rtol=1e-10, atol=1e-15, err_msg=k)
        np.testing.assert_allclose(net.named_params()[k], w, rtol=1e-10, atol=1e-14, err_msg=k)
    assert not np.allclose(net.flat, build_model(cfg.model, seed=0).flat)  # the weights did move


def test_snapshot_sdlm_applies_the_per_weight_epsilon():
    cfg = config_from_dict({"train": {"optimizer": "sdlm", "sdlm_mu": 0.01, "sdlm_samples": 10,
                                      "sdlm_eps_scale": "fanin"}})
    net = build_model(cfg.model, seed=0)
    opt = SDLM(net, cfg.train)
    rng = np.random.default_rng(0)
    opt.start_pass(1e-3, rng.uniform(-1, 1, size=(20, 1, 16, 16)), rng.integers(0, 10, size=20),
                   np.random.default_rng(1))
    net.flat_grad[...] = rng.normal(size=net.flat.size)
    before = net.flat.copy()
    opt.step()
    F = np.concatenate([np.full(sl.stop - sl.start, NET1989_FAN_IN_SHARE[k.split(".")[0]][0])
                        for k, sl in net.slices.items()])
    np.testing.assert_allclose(net.flat, before - 1e-3 / F / (0.01 + opt.state["h"]) * net.flat_grad, rtol=1e-14)


@pytest.mark.parametrize("train,msg", [
    ({"loss": "ce", "cost_scale": "half_sum"}, "train.cost_scale"),
    ({"loss": "ce", "sdlm_estimator": "running"}, "train.sdlm_estimator"),
    ({"sdlm_gamma": 0.0}, "train.sdlm_gamma"),
    ({"sdlm_gamma": 1.5}, "train.sdlm_gamma"),
    ({"sdlm_eps_scale": "share"}, "train.sdlm_eps_scale"),
    ({"sdlm_estimator": "average"}, "train.sdlm_estimator"),
])
def test_sdlm_options_are_checked(train, msg):
    from lecun89.errors import UserError

    with pytest.raises(UserError, match=msg):
        config_from_dict({"train": train})
