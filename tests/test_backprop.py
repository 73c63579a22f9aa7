"""The backward view of one digit (lecun89.explain.backprop) and POST /api/backprop."""

from __future__ import annotations

import numpy as np
import pytest

from lecun89 import layers as L
from lecun89 import losses
from lecun89.explain.backprop import backward_view
from lecun89.losses import training_loss
from lecun89.reader import load_model


def _digit() -> np.ndarray:
    x = -np.ones((16, 16))
    x[2:14, 7:10] = 1.0
    x[2:4, 5:7] = 0.3
    return x


def _cost(net, x, label, kind, scale) -> float:
    return losses.make_loss(kind, scale).forward(net.forward(x.reshape(1, 1, 16, 16)), np.array([label]))


@pytest.fixture(params=["lecun1989", "reader"])
def model(request):
    return load_model(request.param)


def test_the_models_training_cost_is_used(model):
    kind, scale = training_loss(model.info.get("config"), model.net.config.output_activation == "none")
    assert (kind, scale) == ({"lecun1989": ("mse", "half_sum"), "reader": ("ce", "mean")}[model.name])


def test_deltas_and_gradients_are_the_networks_and_agree_with_finite_differences(model):
    net, x, label = model.net, _digit(), 4
    kind, scale = training_loss(model.info.get("config"), net.config.output_activation == "none")
    v = backward_view(net, x, label, kind, scale)
    np.testing.assert_allclose(v["outputs"], net.predict(x.reshape(1, 1, 16, 16))[0], rtol=0, atol=1e-12)
    assert v["loss"] == pytest.approx(_cost(net, x, label, kind, scale), rel=1e-12)
    assert {k: d.shape for k, d in v["delta"].items()} == {"out": (10,), "H3": (30,), "H2": (12, 4, 4),
                                                           "H1": (12, 8, 8)}
    # A unit's bias gradient is its delta (every H1 and H2 unit has its own bias).
    for layer in ("out", "H3", "H2", "H1"):
        np.testing.assert_allclose(v["grad"][f"{layer}.bias"], v["delta"][layer], rtol=0, atol=1e-15)
    # Against float64 central differences of the cost, a few entries of every tensor.
    rng = np.random.default_rng(0)
    params = net.named_params()
    for name, g in v["grad"].items():
        p = params[name].reshape(-1)
        for i in rng.choice(p.size, size=3, replace=False):
            old, h = p[i], 1e-5
            p[i] = old + h
            up = _cost(net, x, label, kind, scale)
            p[i] = old - h
            down = _cost(net, x, label, kind, scale)
            p[i] = old
            numeric = (up - down) / (2 * h)
            assert g.reshape(-1)[i] == pytest.approx(numeric, rel=1e-5, abs=1e-9), (name, i)


def test_a_shared_kernels_gradient_is_the_sum_over_its_64_positions():
    """H1's 5x5 kernel of map m: sum over the 8x8 positions of delta x the input under the
    kernel there (stride 2, the 16x16 input padded by 2 with the background value)."""
    model = load_model("lecun1989")
    net, x = model.net, _digit()
    v = backward_view(net, x, 3, "mse", "half_sum")
    pad = net.config.pad_value_h1
    padded = np.full((20, 20), pad)
    padded[2:18, 2:18] = x
    d = v["delta"]["H1"]
    for m in (0, 5, 11):
        by_hand = sum(d[m, i, j] * padded[2 * i:2 * i + 5, 2 * j:2 * j + 5] for i in range(8) for j in range(8))
        np.testing.assert_allclose(v["grad"]["H1.weight"][m, 0], by_hand, rtol=1e-12, atol=1e-15)


def test_dropout_is_off_and_left_as_it_was():
    from lecun89.config import load_config
    from lecun89.model import build_model

    cfg = load_config("modern-usps")
    net = build_model(cfg.model, 0)
    drops = [lay for lay in net.layers if isinstance(lay, L.Dropout)]
    assert drops and all(lay.p > 0 for lay in drops)
    p = [lay.p for lay in drops]
    a = backward_view(net, _digit(), 2, "ce")
    b = backward_view(net, _digit(), 2, "ce")
    assert [lay.p for lay in drops] == p
    for k in a["grad"]:
        np.testing.assert_array_equal(a["grad"][k], b["grad"][k])


def test_a_bad_label_is_refused():
    with pytest.raises(ValueError, match="label"):
        backward_view(load_model("lecun1989").net, _digit(), 10)


# --- the API -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def app():
    from lecun89.serve import App

    return App(None, None)


def test_api_backprop_answers_with_the_views_numbers(app):
    r = app.backprop({"x16": _digit().tolist(), "label": 4, "model": "lecun1989"})
    v = backward_view(load_model("lecun1989").net, _digit(), 4, "mse", "half_sum")
    assert r["model"] == "lecun1989" and r["label"] == 4 and r["loss_kind"] == "mse"
    assert r["loss"] == v["loss"] and r["outputs"] == v["outputs"].tolist()
    assert set(r["delta"]) == {"out", "H3", "H2", "H1"} and np.shape(r["delta"]["H1"]) == (12, 8, 8)
    assert np.shape(r["grad"]["H1.weight"]) == (12, 1, 5, 5)
    assert r["grad"]["H2.weight"] == v["grad"]["H2.weight"].tolist()
    assert app.backprop({"pixels": np.zeros((20, 20)).tolist(), "label": 1})["blank"] is True


@pytest.mark.parametrize("body,message", [
    ({"x16": _digit().tolist()}, "label"),
    ({"x16": _digit().tolist(), "label": 10}, "label: expected an integer 0-9"),
    ({"x16": _digit().tolist(), "label": "3"}, "label: expected an integer 0-9"),
    ({"x16": _digit().tolist(), "label": True}, "label: expected an integer 0-9"),
    ({"label": 3}, "give exactly one of png, pixels, x16"),
    ({"x16": _digit().tolist(), "label": 3, "model": "nonesuch"}, "unknown model"),
    ({"x16": _digit().tolist(), "label": 3, "row": True}, "row"),
    ([1, 2], "expected a JSON object"),
])
def test_api_backprop_refuses_a_bad_body(app, body, message):
    from lecun89.serve import ApiError

    with pytest.raises(ApiError, match=message) as exc:
        app.backprop(body)
    assert exc.value.status == 400


def test_api_unit_answers_with_unit_terms(app):
    from lecun89.explain.chain import unit_terms

    net = load_model("lecun1989").net
    for layer, index in (("H1", [2, 3, 4]), ("H2", [11, 0, 3]), ("H3", [29]), ("out", [4])):
        r = app.unit({"x16": _digit().tolist(), "label": 4, "model": "lecun1989", "layer": layer, "index": index})
        want = unit_terms(net, _digit(), 4, layer, index, "mse", "half_sum")
        assert r["model"] == "lecun1989" and r["label"] == 4 and r["blank"] is False
        assert {k: r[k] for k in want} == want
    r = app.unit({"x16": _digit().tolist(), "label": 1, "layer": "H3", "index": [0], "top": 3})
    assert len(r["forward"]["terms"]) == 3 and r["forward"]["n_others"] == 192 - 3
    assert app.unit({"pixels": np.zeros((20, 20)).tolist(), "label": 1, "layer": "H3", "index": [0]})["blank"] is True


def test_api_unit_reads_with_a_learning_sessions_network(app):
    body = {"x16": _digit().tolist(), "label": 2, "model": "lecun1989"}
    session = app.learn(body)["session"]
    try:
        unit = {**body, "layer": "out", "index": [2]}
        after = app.unit({**unit, "session": session})
        assert after["session"] == session
        assert after["forward"]["a"] != app.unit(unit)["forward"]["a"]  # the step moved the label's output
        assert after["forward"]["y"] == pytest.approx(app.backprop({**body, "session": session})["outputs"][2],
                                                      abs=1e-12)
    finally:
        app.reset({"session": session})


@pytest.mark.parametrize("extra,message", [
    ({}, "layer: expected one of"),
    ({"layer": "H4", "index": [0]}, "layer: expected one of H1, H2, H3, out"),
    ({"layer": "H2", "index": [12, 0, 0]}, "index"),
    ({"layer": "H2", "index": [1, 0]}, "index"),
    ({"layer": "H3", "index": 3}, "index: expected a list of integers"),
    ({"layer": "H3", "index": [True]}, "index: expected a list of integers"),
    ({"layer": "H3", "index": [0], "top": -1}, "top: expected an integer 0-64"),
    ({"layer": "H3", "index": [0], "top": 1.5}, "top: expected an integer 0-64"),
    ({"layer": "H3", "index": [0], "depth": 1}, "unknown field 'depth'"),
    ({"layer": "H3", "index": [0], "session": "nonesuch"}, "unknown session"),
])
def test_api_unit_refuses_a_bad_body(app, extra, message):
    from lecun89.serve import ApiError

    with pytest.raises(ApiError, match=message) as exc:
        app.unit({"x16": _digit().tolist(), "label": 3, **extra})
    assert exc.value.status == (404 if "session" in extra else 400)


def test_api_backprop_over_http():
    from lecun89.testing import request, start_server, stop_server

    proc, url, _err = start_server()
    try:
        status, _, r = request(url, "POST", "/api/backprop", {"x16": _digit().tolist(), "label": 7})
        assert status == 200 and len(r["outputs"]) == 10 and np.shape(r["delta"]["H2"]) == (12, 4, 4)
        status, _, r = request(url, "POST", "/api/backprop", {"x16": _digit().tolist(), "label": -1})
        assert status == 400 and "label" in r["error"]
        status, _, r = request(url, "GET", "/api/backprop")
        assert status == 405
        status, _, r = request(url, "POST", "/api/unit", {"x16": _digit().tolist(), "label": 7, "layer": "H1",
                                                          "index": [0, 0, 0]})
        assert status == 200 and r["name"] == "H1[0,0,0]" and r["forward"]["n_inputs"] == 25
        status, _, r = request(url, "POST", "/api/unit", {"x16": _digit().tolist(), "label": 7, "layer": "H1",
                                                          "index": [0, 8, 0]})
        assert status == 400 and "index" in r["error"]
    finally:
        stop_server(proc)
