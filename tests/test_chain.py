"""The chain rule written out at one unit (lecun89.explain.chain.unit_terms), against the layers' own passes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lecun89 import losses
from lecun89.explain.backprop import backward_view
from lecun89.losses import training_loss
from lecun89.explain.chain import unit_terms
from lecun89.config import load_config
from lecun89.model import build_model
from lecun89.reader import SHIPPED, load_model


def _digit() -> np.ndarray:
    x = -np.ones((16, 16))
    x[2:14, 7:10] = 1.0
    x[2:4, 5:7] = 0.3
    x[12:14, 4:12] = 0.6
    return x


def _unit(t: np.ndarray) -> np.ndarray:
    return (t.transpose(0, 3, 1, 2) if t.ndim == 4 else t)[0].copy()


def _passes(net, x, label, kind, scale) -> dict:
    """Each parameter layer's output a, and the dE/dy reaching its squashing function, by
    stepping through net.layers here (maps as (map, row, col)); dropout off (no cache for it)."""
    owners = net.squashing()
    a, dy = {}, {}
    caches = [None if lay.stochastic else {} for lay in net.layers]
    grads = [lay.param_zeros() for lay in net.layers]
    h = x.reshape(1, 1, 16, 16)
    for i, lay in enumerate(net.layers):
        if i in owners:
            a[owners[i]] = _unit(h)
        h = lay.forward(h, caches[i])
    cost = losses.make_loss(kind, scale)
    cost.forward(h, np.array([label]))
    d = cost.backward()
    for i in range(len(net.layers) - 1, 0, -1):
        if i in owners:
            dy[owners[i]] = _unit(d)
        d = net.layers[i].backward(d, caches[i], grads[i])
    return {"a": a, "dE/dy": dy}


def _f(name: str, a: float) -> float:
    """The squashing functions by their written names, computed here."""
    return {"scaled tanh 1.7159 tanh(2a/3)": lambda v: 1.7159 * np.tanh(2 * v / 3),
            "relu": lambda v: max(v, 0.0), "none": lambda v: v}[name](a)


def _units(view, rng) -> list[tuple[str, tuple]]:
    """Several units in every layer: corners, the largest |delta|, the largest a, random ones."""
    units = [("H1", (0, 0, 0)), ("H1", (11, 7, 7)), ("H2", (0, 0, 0)), ("H2", (11, 3, 3)), ("H3", (0,)),
             ("out", (0,)), ("out", (9,))]
    for layer in ("H1", "H2", "H3", "out"):
        d, a = view["delta"][layer], view["a"][layer]
        units += [(layer, np.unravel_index(np.argmax(np.abs(d)), d.shape)),
                  (layer, np.unravel_index(np.argmax(a), a.shape)),
                  (layer, tuple(int(rng.integers(n)) for n in d.shape))]
    return [(layer, tuple(int(i) for i in idx)) for layer, idx in units]


@pytest.fixture(scope="module", params=SHIPPED)
def model(request):
    return load_model(request.param)


def test_the_written_out_sums_are_the_layers_numbers(model):
    net, x, label = model.net, _digit(), 7
    kind, scale = training_loss(model.info.get("config"), net.config.output_activation == "none")
    ref = _passes(net, x, label, kind, scale)
    view = backward_view(net, x, label, kind, scale)
    acts = net.activations(x.reshape(1, 1, 16, 16))
    table = net.layers[3].table
    n_in = {"H1": 25, "H2": 25 * (12 if table is None else table.shape[1]), "H3": 192, "out": 30}
    fed = {"H2": 30, "H3": 10}
    checked = 0
    for layer, idx in _units(view, np.random.default_rng(0)):
        r = unit_terms(net, x, label, layer, list(idx), kind, scale, top=5)
        assert json.loads(json.dumps(r)) == r
        assert r["layer"] == layer and r["index"] == list(idx) and r["name"] == f"{layer}[{','.join(map(str, idx))}]"
        f, b = r["forward"], r["backward"]
        assert len(f["terms"]) == min(5, f["n_inputs"]) and f["n_inputs"] == n_in[layer]
        assert f["n_others"] == f["n_inputs"] - len(f["terms"])
        mags = [abs(t["product"]) for t in f["terms"]]
        assert mags == sorted(mags, reverse=True)
        for t in f["terms"]:
            assert t["product"] == pytest.approx(t["input"] * t["weight"], rel=1e-15, abs=1e-300)
        # bias + every product is the layer's own weighted sum, and f(a) its output.
        scale_a = abs(f["bias"]) + sum(mags) + abs(f["others"]) + 1.0
        assert f["a"] == pytest.approx(ref["a"][layer][idx], rel=0, abs=1e-15)
        assert f["bias"] + sum(t["product"] for t in f["terms"]) + f["others"] == pytest.approx(
            f["a"], rel=0, abs=1e-13 * scale_a)
        assert f["y"] == pytest.approx(acts[layer][(0,) + idx], rel=1e-14, abs=1e-15)
        assert _f(f["activation"], f["a"]) == pytest.approx(f["y"], rel=1e-12, abs=1e-15)
        assert b["delta"] == view["delta"][layer][idx]
        if layer == "out":
            assert b["dE/dy"] == pytest.approx(ref["dE/dy"]["out"][idx], rel=1e-14, abs=1e-300)
            assert b["fprime"] * b["dE/dy"] == pytest.approx(b["delta"], rel=1e-14, abs=1e-300)
            assert ("cross-entropy" in b["loss"]) == (kind == "ce")
            continue
        # The sum over the units it feeds is dE/dy reaching the unit; times f'(a) it is the delta.
        assert b["n_outputs"] == fed.get(layer, b["n_outputs"]) and b["n_outputs"] > 0
        assert b["n_others"] == b["n_outputs"] - len(b["terms"])
        bscale = sum(abs(t["product"]) for t in b["terms"]) + abs(b["others"]) + 1e-12
        assert sum(t["product"] for t in b["terms"]) + b["others"] == pytest.approx(b["sum"], rel=0,
                                                                                     abs=1e-13 * bscale)
        assert b["sum"] == pytest.approx(ref["dE/dy"][layer][idx], rel=1e-11, abs=1e-13 * bscale)
        assert b["sum"] * b["fprime"] == pytest.approx(view["delta"][layer][idx], rel=1e-11, abs=1e-15)
        checked += 1
    assert checked >= 12


def test_an_h1_units_backward_terms_are_the_h2_windows_over_it():
    """H1[m, r, c] feeds H2[o, i, j] when map o reads map m and the 5x5 window at (2i-2, 2j-2) covers (r, c)."""
    model = load_model("lecun1989")
    net, table = model.net, model.net.layers[3].table
    for m, r, c in [(0, 0, 0), (4, 3, 5), (11, 7, 6)]:
        got = unit_terms(net, _digit(), 2, "H1", [m, r, c], top=1000)["backward"]["terms"]
        expected = {f"H2[{o},{i},{j}]" for o in range(12) if m in table[o]
                    for i in range(4) for j in range(4) if abs(r - 2 * i) <= 2 and abs(c - 2 * j) <= 2}
        assert {t["to"] for t in got} == expected
        w = net.named_params()["H2.weight"]
        for t in got:
            o, i, j = (int(v) for v in t["to"][3:-1].split(","))
            assert t["weight"] == w[o, list(table[o]).index(m), r - 2 * i + 2, c - 2 * j + 2]


def test_padding_is_counted_with_its_value():
    net = load_model("lecun1989").net
    f = unit_terms(net, _digit(), 1, "H1", [3, 0, 0], top=25)["forward"]
    pads = [t for t in f["terms"] if t["from"] == "pad"]
    assert len(pads) == 25 - 9 and all(t["input"] == net.config.pad_value_h1 for t in pads)
    assert {t["from"] for t in f["terms"]} - {"pad"} == {f"input[{i},{j}]" for i in range(3) for j in range(3)}


def test_a_fully_connected_h2_reads_all_twelve_maps():
    cfg = load_config("quick", ["model.h2_table=full"])
    net = build_model(cfg.model, 0)
    assert net.layers[3].table is None
    r = unit_terms(net, _digit(), 5, "H2", [2, 1, 1], top=0)
    assert r["forward"]["n_inputs"] == 12 * 25 and r["forward"]["terms"] == []
    assert r["forward"]["bias"] + r["forward"]["others"] == pytest.approx(r["forward"]["a"], abs=1e-12)
    assert unit_terms(net, _digit(), 5, "H1", [2, 1, 1])["backward"]["n_outputs"] == 12 * 2 * 2


def test_other_architectures_are_refused():
    cfg = load_config("fc-baseline")
    with pytest.raises(ValueError, match="only the net1989 architecture.*'fc'"):
        unit_terms(build_model(cfg.model, 0), _digit(), 3, "H1", [0])


@pytest.mark.parametrize("layer,index,top,message", [
    ("H4", [0], 8, "layer: expected one of H1, H2, H3, out, got 'H4'"),
    ("H2", [12, 0, 0], 8, r"index: an H2 unit is \[map, row, col\] with entries in 0-11, 0-3, 0-3"),
    ("H1", [0, 8, 0], 8, "index: an H1 unit"),
    ("H1", [0, 0], 8, "index: an H1 unit"),
    ("H3", [30], 8, r"index: an H3 unit is \[unit\] with entries in 0-29"),
    ("out", 3, 8, "index: an out unit"),
    ("out", "3", 8, "index: an out unit"),
    ("out", [True], 8, "index: an out unit"),
    ("out", [-1], 8, "index: an out unit"),
    ("out", [1.5], 8, "index: an out unit"),
    ("out", [1], -1, "top: expected a whole number"),
])
def test_a_bad_layer_index_or_top_is_refused(layer, index, top, message):
    with pytest.raises(ValueError, match=message):
        unit_terms(load_model("lecun1989").net, _digit(), 3, layer, index, top=top)


def test_a_bad_label_or_digit_is_refused():
    net = load_model("lecun1989").net
    for label in (10, -1, "3", True):
        with pytest.raises(ValueError, match="label: expected an integer 0-9"):
            unit_terms(net, _digit(), label, "out", [0])
    with pytest.raises(ValueError, match="x16: expected a 16x16 digit"):
        unit_terms(net, np.zeros((8, 8)), 3, "out", [0])
