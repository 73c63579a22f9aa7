"""Net-1989 and the fc baseline as a whole: the paper's table, whole-network
gradient checks, the Gauss-Newton pass, checkpoints, initialisation, and the
``summary`` / ``gradcheck`` commands."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from lecun89 import gradcheck as G
from lecun89 import layers as L
from lecun89 import losses
from lecun89.cli import main
from lecun89.config import BLOCK_TABLE, config_from_dict, load_config, to_dict
from lecun89.errors import UserError
from lecun89.model import Network, build_model, load_checkpoint, save_checkpoint
from lecun89.testing import REPO

TOL = G.TOLERANCE


def model_config(**model):
    return config_from_dict({"model": model}).model


def make_net(seed=0, **model) -> Network:
    return build_model(model_config(**model), seed)


def batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n, 1, 16, 16)), rng.integers(0, 10, size=n)


def randomize_biases(net, seed=1, keep_output=False):
    """Biases start at 0; move them off it (as ``lecun89 gradcheck`` does) so the
    check runs at a generic point."""
    rng = np.random.default_rng(seed)
    for k, p in net.named_params().items():
        if k.endswith("bias") and not (keep_output and k == "out.bias"):
            p[...] = rng.uniform(-0.5, 0.5, size=p.shape)


def assert_checked(errors, tol=TOL):
    bad = {k: e for k, e in errors.items() if not e <= tol}
    assert not bad, f"gradient check above {tol:g}: {bad} (all: {errors})"


# ----------------------------------------------------------------------------
# The paper's table

PAPER_ROWS = [
    ("input", "1 x 16x16", 256, 0, 0),
    ("H1", "12 x 8x8", 768, 19_968, 1_068),
    ("H2", "12 x 4x4", 192, 38_592, 2_592),
    ("H3", "30", 30, 5_790, 5_790),
    ("out", "10", 10, 310, 310),
]


def rows_as_tuples(net):
    return [(r["layer"], r["shape"], r["units"], r["connections"], r["params"]) for r in net.summary_rows()]


def test_summary_default_matches_paper():
    net = make_net()
    assert rows_as_tuples(net) == PAPER_ROWS
    assert net.totals() == {"units": 1_256, "connections": 64_660, "params": 9_760}
    assert net.flat.size == 9_760


def test_summary_fc_baseline():
    net = make_net(arch="fc")
    assert rows_as_tuples(net) == [
        ("input", "1 x 16x16", 256, 0, 0),
        ("H1", "40", 40, 10_280, 10_280),
        ("out", "10", 10, 410, 410),
    ]
    assert net.totals() == {"units": 306, "connections": 10_690, "params": 10_690}


def test_summary_variants():
    # Shared (per-map) biases: same connections, 12 + 12 biases instead of 768 + 192.
    t = make_net(bias="map").totals()
    assert t["connections"] == 64_660 and t["params"] == 9_760 - 768 - 192 + 24
    # H2 reading all 12 H1 maps: 192 x (12*25 + 1) connections, 12*12*25 + 192 params.
    rows = make_net(h2_table="full").summary_rows()
    assert (rows[2]["connections"], rows[2]["params"]) == (192 * 301, 3_600 + 192)


# Every key that changes the table, pinned, in case configs/quick.toml (the
# default config) ever describes another network.
PAPER_NET = ["--set", "model.arch=net1989", "--set", "model.h1_maps=12", "--set", "model.h2_maps=12",
             "--set", "model.h2_table=block", "--set", "model.h3_units=30", "--set", "model.bias=unit"]
PAPER_FUNCTION = ["--set", "model.activation=lecun", "--set", "model.output_activation=lecun",
                  "--set", "model.dropout=0.0", "--set", "train.loss=mse"]
NARROW = ["--set", "model.h1_maps=6", "--set", "model.h2_maps=4", "--set", "model.h2_table=full",
          "--set", "model.h3_units=10"]


def test_cli_summary(capsys):
    assert main(["summary"] + PAPER_NET) == 0
    out = capsys.readouterr().out
    for text in ("64,660", "9,760", "1,256", "19,968", "38,592", "5,790"):
        assert text in out


def test_cli_summary_fc(capsys):
    assert main(["summary", "--set", "model.arch=fc"]) == 0
    assert "10,690" in capsys.readouterr().out


def test_cli_bad_override_is_a_user_error(capsys):
    assert main(["summary", "--set", "model.bias=shared"]) == 2
    err = capsys.readouterr().err
    assert "model.bias" in err and "Traceback" not in err


def test_cli_gradcheck_passes(capsys):
    assert main(["gradcheck"] + PAPER_NET + PAPER_FUNCTION) == 0
    out = capsys.readouterr().out
    assert "all gradients agree" in out and "FAIL" not in out


def test_cli_gradcheck_can_fail(capsys):
    assert main(["gradcheck", "--tol", "1e-30"] + NARROW) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "above tolerance" in out


def test_cli_gradcheck_relu_network():
    """A correct ReLU network has exactly-zero gradients (dead units); the command
    must not report them as failures."""
    assert main(["gradcheck", "--set", "model.activation=relu", "--set", "model.output_activation=none",
                 "--set", "train.loss=ce"] + NARROW) == 0


PAPER_CONFIG = REPO / "configs" / "lecun1989.toml"  # the shipped paper config: never skipped


def test_paper_config(capsys):
    assert PAPER_CONFIG.is_file(), f"{PAPER_CONFIG}: the paper's config is missing (renamed or removed?)"
    cfg = load_config(PAPER_CONFIG)
    m, t = cfg.model, cfg.train
    # [paper] facts (lecun1989.md); [open] choices are not pinned here.
    assert (m.arch, m.activation, m.output_activation, m.bias) == ("net1989", "lecun", "lecun", "unit")
    assert (m.h1_maps, m.h2_maps, m.h3_units, m.pad_value_h1, m.dropout) == (12, 12, 30, -1.0, 0.0)
    assert len(m.h2_table) == 12 and all(len(r) == 8 for r in m.h2_table)
    assert (t.passes, t.batch_size, t.order, t.optimizer, t.loss) == (23, 1, "fixed", "sdlm", "mse")
    assert cfg.data.name == "usps"
    assert build_model(m, cfg.seed).totals() == {"units": 1_256, "connections": 64_660, "params": 9_760}
    assert main(["summary", str(PAPER_CONFIG)]) == 0
    out = capsys.readouterr().out
    assert "64,660" in out and "9,760" in out


# ----------------------------------------------------------------------------
# Whole-network gradient checks (float64, batch 2)

VARIANTS = {
    "default": dict(),
    "tanh-outbias-1": dict(activation="tanh", output_activation="tanh", output_bias=-1.0),
    "sigmoid": dict(activation="sigmoid", output_activation="sigmoid"),
    "bias-map": dict(bias="map"),
    "init-fanin": dict(init="fanin"),
    "h2-full": dict(h2_table="full"),
    "pad-h2-0": dict(pad_value_h2=0.0),
    "fc": dict(arch="fc"),
    "narrow": dict(h1_maps=6, h2_maps=4, h2_table="full", h3_units=10),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_network_gradcheck(name):
    model = VARIANTS[name]
    net = make_net(**model)
    randomize_biases(net, keep_output="output_bias" in model)
    x, labels = batch()
    errors = G.check_network(net, x, labels, "mse")
    assert set(errors) == set(net.named_params())
    assert_checked(errors)


# Networks with exactly-zero gradients (dead ReLUs, dropped units).
ZERO_GRAD_VARIANTS = {
    "relu-ce-outnone": (dict(activation="relu", output_activation="none"), "ce"),
    "dropout-0.25": (dict(dropout=0.25), "mse"),
}


@pytest.mark.parametrize("name", ZERO_GRAD_VARIANTS)
def test_network_gradcheck_zero_gradients(name):
    model, loss = ZERO_GRAD_VARIANTS[name]
    net = make_net(**model)
    randomize_biases(net)
    x, labels = batch()
    assert_checked(G.check_network(net, x, labels, loss))


def test_network_gradcheck_relu_narrow():
    net = make_net(activation="relu", output_activation="none", h1_maps=6, h2_maps=4, h2_table="full",
                   h3_units=10)
    randomize_biases(net)
    x, labels = batch()
    assert_checked(G.check_network(net, x, labels, "ce"))


def test_network_gradcheck_ce_on_lecun_outputs():
    net = make_net(h1_maps=6, h2_maps=4, h2_table="full", h3_units=10)
    randomize_biases(net)
    x, labels = batch()
    assert_checked(G.check_network(net, x, labels, "ce"))


NARROW_MODEL = dict(h1_maps=6, h2_maps=4, h2_table="full", h3_units=10)


def _scaled(method, factor, what):
    def broken(self, dy, cache, grads, need_dx=True):
        dx = method(self, dy, cache, grads, need_dx)
        if what == "dx":
            return None if dx is None else dx * factor
        grads["weight"] *= factor
        return dx
    return broken


@pytest.mark.parametrize("breakage", ["linear-dx", "conv-weight", "flatten-order", "tanh-slope"])
def test_broken_backward_is_caught(breakage, monkeypatch):
    if breakage == "linear-dx":  # dE/dx of every Linear 10% too large
        monkeypatch.setattr(L.Linear, "backward", _scaled(L.Linear.backward, 1.1, "dx"))
        fine = {"out.weight", "out.bias"}  # above the first broken dx
    elif breakage == "conv-weight":  # a 1% error in the convolutions' weight gradient
        monkeypatch.setattr(L.Conv2d, "backward", _scaled(L.Conv2d.backward, 1.01, "weight"))
        fine = {"H1.bias", "H2.bias", "H3.weight", "H3.bias", "out.weight", "out.bias"}
    elif breakage == "flatten-order":  # (row, col, map) instead of (map, row, col)
        monkeypatch.setattr(L.Flatten, "backward", lambda self, dy, cache, grads, need_dx=True: dy.reshape(cache["shape"]))
        fine = {"H3.weight", "H3.bias", "out.weight", "out.bias"}
    else:  # f'(a) of the scaled tanh without its amplitude
        orig = L.ScaledTanh.backward
        monkeypatch.setattr(L.ScaledTanh, "backward",
                            lambda self, dy, cache, grads, need_dx=True: orig(self, dy, cache, grads) / self.A)
        fine = set()
    net = make_net(**NARROW_MODEL)
    randomize_biases(net)
    x, labels = batch()
    errors = G.check_network(net, x, labels, "mse")
    for k, e in errors.items():
        if k in fine:
            assert e < TOL, (k, errors)
        else:
            assert e > 1e-3, (k, errors)


# ----------------------------------------------------------------------------
# Network mechanics


def test_param_names_and_shapes():
    shapes = {k: v.shape for k, v in make_net().named_params().items()}
    assert shapes == {"H1.weight": (12, 1, 5, 5), "H1.bias": (12, 8, 8), "H2.weight": (12, 8, 5, 5),
                      "H2.bias": (12, 4, 4), "H3.weight": (30, 192), "H3.bias": (30,),
                      "out.weight": (10, 30), "out.bias": (10,)}
    state = make_net().state_dict()
    assert state["H2.table"].shape == (12, 8)
    np.testing.assert_array_equal(state["H2.table"], np.array(BLOCK_TABLE))
    assert "H2.table" not in make_net(h2_table="full").state_dict()
    assert {k: v.shape for k, v in make_net(arch="fc").named_params().items()} == {
        "H1.weight": (40, 256), "H1.bias": (40,), "out.weight": (10, 40), "out.bias": (10,)}


def test_params_grads_hess_are_views_of_flat_vectors():
    net = make_net(dropout=0.25)
    randomize_biases(net)
    x, labels = batch(3)
    loss = losses.make_loss("mse")
    loss.forward(net.forward(x, train=True), labels)
    net.backward(loss.backward())
    net.backward_h(loss.backward_h())
    for flat, named in ((net.flat, net.named_params()), (net.flat_grad, net.named_grads()),
                        (net.flat_hess, net.named_hess())):
        np.testing.assert_array_equal(np.concatenate([v.ravel() for v in named.values()]), flat)
    assert np.any(net.flat_grad != 0) and np.all(net.flat_hess >= 0) and np.any(net.flat_hess > 0)
    net.flat[:] = 0.25  # an optimizer step on the flat vector moves every layer's params
    assert all(np.all(v == 0.25) for v in net.named_params().values())


def test_h3_reads_h2_in_map_row_col_order():
    net = make_net()
    x, _ = batch(2)
    h = x
    outputs = []
    for lay in net.layers:
        h = lay.forward(h)
        outputs.append(h)
    i_h3 = next(i for i, lay in enumerate(net.layers) if lay.name == "H3")
    h2 = outputs[i_h3 - 2]  # (N, 4, 4, 12) after H2's activation, before Flatten
    assert h2.shape == (2, 4, 4, 12)
    net.named_params()["H3.weight"][...] = 0.0
    net.named_params()["H3.bias"][...] = 0.0
    m, r, c = 7, 2, 1
    net.named_params()["H3.weight"][0, m * 16 + r * 4 + c] = 1.0
    h = x
    for lay in net.layers[:i_h3 + 1]:
        h = lay.forward(h)
    np.testing.assert_array_equal(h[:, 0], h2[:, r, c, m])


def test_forward_train_and_eval_agree_without_dropout():
    net = make_net()
    x, _ = batch(5)
    np.testing.assert_array_equal(net.forward(x, train=True), net.forward(x, train=False))
    np.testing.assert_allclose(net.predict(x), net.forward(x), rtol=0, atol=1e-13)
    assert net.predict(x[:0]).shape == (0, 10)


def test_predict_is_bit_identical_whatever_the_callers_blas_threads():
    from threadpoolctl import threadpool_limits

    from lecun89.model import PREDICT_BATCH

    net = make_net()
    x = np.random.default_rng(3).uniform(-1, 1, size=(PREDICT_BATCH * 2 + 9, 1, 16, 16))
    with threadpool_limits(limits=1):
        ref = net.predict(x)
    for threads in (2, 4):
        with threadpool_limits(limits=threads):
            assert np.array_equal(net.predict(x), ref), threads
    # predict restores the caller's limits
    with threadpool_limits(limits=2, user_api="blas"):
        net.predict(x[:3])
        from threadpoolctl import threadpool_info
        assert {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"} == {2}


def test_dropout_only_in_training():
    drop = make_net(dropout=0.25)
    plain = make_net()
    plain.flat[:] = drop.flat
    x, _ = batch(3)
    np.testing.assert_array_equal(drop.forward(x), plain.forward(x))
    assert not np.allclose(drop.forward(x, train=True), plain.forward(x))


def test_fc_backward_h_matches_recursion():
    """The Gauss-Newton diagonal of the fc baseline under MSE, with the recursion
    written out in einsum (f'(a) = 1.7159 * 2/3 * (1 - tanh(2a/3)^2))."""
    net = make_net(arch="fc")
    randomize_biases(net)
    x, labels = batch(3)
    loss = losses.make_loss("mse")
    loss.forward(net.forward(x, train=True), labels)
    net.backward_h(loss.backward_h())
    p = net.named_params()
    W1, b1, W2, b2 = p["H1.weight"], p["H1.bias"], p["out.weight"], p["out.bias"]

    def fprime(a):
        return 1.7159 * (2 / 3) * (1 - np.tanh(2 * a / 3) ** 2)

    xi = x.reshape(3, 256)
    a1 = xi @ W1.T + b1
    h1 = 1.7159 * np.tanh(2 * a1 / 3)
    a2 = h1 @ W2.T + b2
    d2a2 = fprime(a2) ** 2 * (2.0 / (3 * 10))
    d2h1 = np.einsum("nk,kj->nj", d2a2, W2 ** 2)
    d2a1 = fprime(a1) ** 2 * d2h1
    hs = net.named_hess()
    np.testing.assert_allclose(hs["out.weight"], np.einsum("nk,nj->kj", d2a2, h1 ** 2), rtol=1e-12)
    np.testing.assert_allclose(hs["out.bias"], d2a2.sum(0), rtol=1e-12)
    np.testing.assert_allclose(hs["H1.weight"], np.einsum("nj,ni->ji", d2a1, xi ** 2), rtol=1e-12)
    np.testing.assert_allclose(hs["H1.bias"], d2a1.sum(0), rtol=1e-12)


# ----------------------------------------------------------------------------
# Initialisation


def fan_ins(net):
    out = {}
    for lay in net.param_layers:
        if isinstance(lay, L.Conv2d):
            out[f"{lay.name}.weight"] = lay.k_in * lay.K * lay.K
        else:
            out[f"{lay.name}.weight"] = lay.n_in
    return out


@pytest.mark.parametrize("model", [dict(), dict(h2_table="full"), dict(arch="fc")], ids=["block", "full", "fc"])
@pytest.mark.parametrize("scheme", ["sqrt", "fanin"])
def test_init_ranges(scheme, model):
    net = make_net(init=scheme, **model)
    fans = fan_ins(net)
    if model.get("arch") != "fc":
        assert fans == {"H1.weight": 25, "H2.weight": 25 * (12 if model else 8), "H3.weight": 192,
                        "out.weight": 30}
    for k, v in net.named_params().items():
        if k.endswith("weight"):
            bound = 2.4 / (np.sqrt(fans[k]) if scheme == "sqrt" else fans[k])
            assert np.abs(v).max() <= bound, k
            assert np.abs(v).max() > 0.8 * bound, k  # uses the range, not a smaller one
            assert abs(v.mean()) < 0.2 * bound, k
        else:
            assert np.all(v == 0.0), k


@pytest.mark.parametrize("value", [-1.0, 0.5])
def test_output_bias_init(value):
    for arch in ("net1989", "fc"):
        p = make_net(arch=arch, output_bias=value).named_params()
        assert np.all(p["out.bias"] == value)
        assert all(np.all(v == 0) for k, v in p.items() if k.endswith("bias") and k != "out.bias")


def test_init_scale():
    a = make_net(init_scale=1.0, seed=3).named_params()["H3.weight"]
    assert np.abs(a).max() <= 1.0 / np.sqrt(192)


# SN2.8's initialisation of the biases (model.bias_init) and its fan-in (model.init_fanin_bias)

@pytest.mark.parametrize("model", [dict(), dict(init="fanin", h2_table="full"), dict(arch="fc", init="fanin")],
                         ids=["sqrt", "fanin-full", "fc"])
def test_default_init_is_the_old_draws_exactly(model):
    """The defaults draw what lecun89 drew before the options: each layer's weights
    in order, F without the bias, biases 0 (the output's output_bias)."""
    net = make_net(seed=7, **model)
    rng = np.random.default_rng(7)
    want = {}
    for lay in net.param_layers:
        fan = lay.k_in * lay.K * lay.K if isinstance(lay, L.Conv2d) else lay.n_in
        r = 2.4 / (np.sqrt(fan) if model.get("init", "sqrt") == "sqrt" else fan)
        want[f"{lay.name}.weight"] = rng.uniform(-r, r, size=lay.params["weight"].shape)
    for k, v in net.named_params().items():
        np.testing.assert_array_equal(v, want[k] if k.endswith("weight") else 0.0)
    explicit = make_net(seed=7, bias_init="zero", init_fanin_bias=False, **model)
    np.testing.assert_array_equal(explicit.flat, net.flat)


@pytest.mark.parametrize("model", [dict(init="fanin"), dict(), dict(bias="map"), dict(arch="fc")],
                         ids=["fanin", "sqrt", "map", "fc"])
def test_uniform_biases_lie_in_the_weights_range(model):
    zero, net = make_net(seed=3, **model), make_net(seed=3, bias_init="uniform", **model)
    p, p0 = net.named_params(), zero.named_params()
    for lay in net.param_layers:
        w, b = p[f"{lay.name}.weight"], p[f"{lay.name}.bias"]
        np.testing.assert_array_equal(w, p0[f"{lay.name}.weight"])  # the weights: the same draws
        r = L.init_range(lay.fan_in(), model.get("init", "sqrt"), 2.4)
        assert np.abs(b).max() <= r and np.abs(w).max() <= r, lay.name
        assert np.all(b != 0.0) and np.unique(b).size == b.size, lay.name
        if b.size >= 30:
            assert np.abs(b).max() > 0.8 * r, lay.name  # the whole range, not a smaller one


@pytest.mark.parametrize("scheme", ["fanin", "sqrt"])
def test_counting_the_bias_in_the_fan_in_scales_the_range(scheme):
    """F + 1 instead of F: the same draws scaled by F / (F + 1) (or its square root)."""
    for bias_init in ("zero", "uniform"):
        a = make_net(seed=2, init=scheme, bias_init=bias_init)
        b = make_net(seed=2, init=scheme, bias_init=bias_init, init_fanin_bias=True)
        pa, pb = a.named_params(), b.named_params()
        for lay in a.param_layers:
            f = lay.fan_in()
            assert lay.fan_in(True) == f + 1
            factor = f / (f + 1) if scheme == "fanin" else np.sqrt(f / (f + 1))
            for k in ("weight", "bias"):
                np.testing.assert_allclose(pb[f"{lay.name}.{k}"], factor * pa[f"{lay.name}.{k}"],
                                           rtol=1e-12, atol=1e-17)
    assert make_net(bias="none").param_layers[0].fan_in(True) == 25  # no bias, nothing to count


@pytest.mark.parametrize("key, value, match", [
    ("bias_init", "random", "model.bias_init: 'random' is not one of zero, uniform"),
    ("init_fanin_bias", "yes", "model.init_fanin_bias: expected true or false"),
    ("output_bias", -1.0, "model.output_bias: sets the output biases with bias_init"),
])
def test_bias_init_options_are_checked(key, value, match):
    model = {"bias_init": "uniform", key: value} if key == "output_bias" else {key: value}
    with pytest.raises(UserError, match=match) as exc:
        model_config(**model)
    assert "\n" not in str(exc.value)


def test_sn28_bias_options_still_run_compiled():
    """The compiled engine takes the initial weights from Python: the options leave
    lecun1989 on it."""
    cfg = load_config("lecun1989", ["model.bias_init=uniform", "model.init_fanin_bias=true"])
    assert (cfg.model.bias_init, cfg.model.init_fanin_bias, cfg.train.engine) == ("uniform", True, "numba")


def test_seeds():
    a, b, c = make_net(seed=5), make_net(seed=5), make_net(seed=6)
    np.testing.assert_array_equal(a.flat, b.flat)
    for k in a.named_params():
        assert not np.array_equal(a.named_params()[k], c.named_params()[k]) or k.endswith("bias")
    x, _ = batch()
    np.testing.assert_array_equal(a.forward(x), b.forward(x))


# ----------------------------------------------------------------------------
# Checkpoints

ROUNDTRIP = {
    "default": dict(),
    "fc": dict(arch="fc", fc_hidden=20),
    "map-full-dropout": dict(bias="map", h2_table="full", dropout=0.25, activation="relu",
                             output_activation="none", output_bias=-1.0),
    "explicit-table": dict(h1_maps=4, h2_maps=3, h2_table=[[3, 0], [1, 2], [2, 3]], h3_units=7,
                           pad_value_h2=0.0, init="fanin"),
}


@pytest.mark.parametrize("name", ROUNDTRIP)
def test_checkpoint_roundtrip(name, tmp_path):
    net = make_net(seed=11, **ROUNDTRIP[name])
    randomize_biases(net)
    path = tmp_path / "model.npz"
    save_checkpoint(net, path)
    assert not (tmp_path / "model.npz.tmp").exists()
    back = load_checkpoint(path)
    assert back.config == net.config
    s1, s2 = net.state_dict(), back.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
        assert s1[k].dtype == s2[k].dtype
    x, _ = batch(4)
    np.testing.assert_array_equal(net.forward(x), back.forward(x))
    with np.load(path) as z:
        assert json.loads(str(z["config"])) == to_dict(net.config)
        assert z["H1.weight"].dtype == np.float64


def _write_npz(path, arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _arrays(net):
    arrays = net.state_dict()
    arrays["config"] = np.array(json.dumps(to_dict(net.config)))
    return arrays


@pytest.fixture
def saved(tmp_path):
    net = make_net()
    return net, _arrays(net), tmp_path / "bad.npz"


def test_checkpoint_wrong_shape(saved):
    net, arrays, path = saved
    arrays["H3.weight"] = np.zeros((30, 191))
    _write_npz(path, arrays)
    with pytest.raises(UserError, match=r"H3\.weight has shape \(30, 191\).*expects \(30, 192\)"):
        load_checkpoint(path)


def test_checkpoint_missing_name(saved):
    net, arrays, path = saved
    del arrays["out.bias"]
    _write_npz(path, arrays)
    with pytest.raises(UserError, match=r"missing: \['out.bias'\]") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_checkpoint_unexpected_name(saved):
    net, arrays, path = saved
    arrays["H4.weight"] = np.zeros(3)
    _write_npz(path, arrays)
    with pytest.raises(UserError, match=r"unexpected: \['H4.weight'\]"):
        load_checkpoint(path)


def test_checkpoint_other_table(saved):
    net, arrays, path = saved
    arrays["H2.table"] = arrays["H2.table"][::-1].copy()
    _write_npz(path, arrays)
    with pytest.raises(UserError, match="connection table"):
        load_checkpoint(path)


def test_checkpoint_not_npz(tmp_path):
    path = tmp_path / "model.npz"
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(UserError, match="not a lecun89 checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_checkpoint_pickled_npz(saved):
    net, arrays, path = saved
    arrays["H1.weight"] = np.array([{"evil": 1}], dtype=object)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(UserError, match="not a lecun89 checkpoint"):
        load_checkpoint(path)


def test_checkpoint_plain_pickle(tmp_path):
    path = tmp_path / "model.npz"
    with open(path, "wb") as fh:
        pickle.dump({"H1.weight": np.zeros(3)}, fh)
    with pytest.raises(UserError, match="not a lecun89 checkpoint"):
        load_checkpoint(path)


def test_checkpoint_npy_not_npz(tmp_path):
    path = tmp_path / "model.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(UserError, match="not a lecun89 checkpoint"):
        load_checkpoint(path)


def test_checkpoint_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.npz")


def test_checkpoint_without_config(saved):
    net, arrays, path = saved
    del arrays["config"]
    _write_npz(path, arrays)
    with pytest.raises(UserError, match="no 'config' entry"):
        load_checkpoint(path)


@pytest.mark.parametrize("text", ["{not json", json.dumps({"arch": "resnet"}), json.dumps({"h3_units": "x"})])
def test_checkpoint_bad_config(saved, text):
    net, arrays, path = saved
    arrays["config"] = np.array(text)
    _write_npz(path, arrays)
    with pytest.raises(UserError, match="not a valid model config"):
        load_checkpoint(path)


def test_checkpoint_non_numeric_weights(saved):
    net, arrays, path = saved
    arrays["out.bias"] = np.array(["x"] * 10)
    _write_npz(path, arrays)
    with pytest.raises(UserError, match="out.bias"):
        load_checkpoint(path)


def test_load_state_dict_checks_before_writing():
    """A rejected state leaves the network's parameters untouched."""
    net = make_net()
    before = net.flat.copy()
    state = make_net(seed=1).state_dict()
    state["out.weight"] = np.zeros((10, 29))
    with pytest.raises(UserError):
        net.load_state_dict(state)
    np.testing.assert_array_equal(net.flat, before)
