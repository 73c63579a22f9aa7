"""docs/backprop.md (scripts/backprop_walk.py): the page is what the script makes, and its
numbers are the network's, checked here against the layers' backward pass."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from lecun89.explain.backprop import backward_view
from lecun89.losses import training_loss
from lecun89.reader import load_model
from lecun89.testing import REPO


def _script():
    spec = importlib.util.spec_from_file_location("lecun89_script_backprop_walk", REPO / "scripts" / "backprop_walk.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def usps(data_dir):
    if not (data_dir / "usps" / "zip.test.gz").is_file():
        pytest.skip(f"USPS test digits not found under {data_dir}")
    from lecun89.data import load_dataset

    return data_dir, load_dataset("usps", data_dir)


@pytest.fixture(scope="module")
def walked(usps):
    return _script().walk(usps[0])


def test_the_committed_page_is_what_the_script_makes(walked):
    text, numbers = walked
    assert (REPO / "docs" / "backprop.md").read_text() == text, \
        "docs/backprop.md is stale: python scripts/backprop_walk.py --data-dir DIR"
    assert text.startswith("# The chain rule") and "`python scripts/backprop_walk.py --data-dir DIR`" in text
    assert f"USPS test digit number {numbers['index']} " in text
    assert " -> ".join(reversed(numbers["path"])) in text


def _strongest_input(net, view, x16, layer, idx) -> str:
    """The input (padding left out) of largest |weight x input| in a unit's sum, computed here."""
    lay = {x.name: x for x in net.param_layers}[layer]
    w = lay.params["weight"]
    if w.ndim == 2:
        below = {"out": "H3", "H3": "H2"}[layer]
        y = view["y"][below]
        k = int(np.argmax(np.abs(w[idx[0]] * y.ravel())))
        return f"{below}[{','.join(map(str, np.unravel_index(k, y.shape)))}]"
    m, r, c = idx
    below, name = (x16[None], "input") if layer == "H1" else (view["y"]["H1"], "H1")
    maps = list(range(below.shape[0])) if lay.table is None else list(lay.table[m])
    p = lay.pad
    inside = np.pad(np.ones(below.shape[1:], bool), p)[2 * r:2 * r + 5, 2 * c:2 * c + 5]
    best = None
    for t, src in enumerate(maps):
        window = np.pad(below[src], p, constant_values=lay.pad_value)[2 * r:2 * r + 5, 2 * c:2 * c + 5]
        prod = np.where(inside, np.abs(window * w[m, t]), -1.0)
        ki, kj = np.unravel_index(np.argmax(prod), prod.shape)
        if best is None or prod[ki, kj] > best[0]:
            where = [2 * r + ki - p, 2 * c + kj - p]
            best = (prod[ki, kj], [src] + where if name == "H1" else where)
    return f"{name}[{','.join(map(str, best[1]))}]"


def test_the_walks_numbers_are_the_layers(usps, walked):
    _, ds = usps
    _, n = walked
    model = load_model(n["model"])
    net = model.net
    kind, scale = training_loss(model.info.get("config"), net.config.output_activation == "none")
    assert (n["loss"], n["cost_scale"]) == (kind, scale)
    x16, label = np.array(ds.x_test[n["index"], 0]), int(ds.y_test[n["index"]])
    # The digit: its true label, read correctly, and the first test digit that is.
    reads = net.predict(ds.x_test[:n["index"] + 1]).argmax(axis=1)
    assert n["label"] == label and reads[-1] == label
    assert not np.any(reads[:-1] == ds.y_test[:n["index"]])
    view = backward_view(net, x16, label, kind, scale)
    assert n["E"] == pytest.approx(view["loss"], rel=1e-12)
    np.testing.assert_allclose(n["outputs"], view["outputs"], rtol=0, atol=1e-12)

    # The path follows its rule, from the label's output unit down to a pixel.
    path = [(p.split("[")[0], [int(v) for v in p[:-1].split("[")[1].split(",")]) for p in n["path"]]
    assert [p[0] for p in path] == ["out", "H3", "H2", "H1", "input"] and path[0][1] == [label]
    for (layer, idx), below in zip(path, n["path"][1:], strict=False):
        assert _strongest_input(net, view, x16, layer, idx) == below

    # Each unit's forward sum is its a, and its backward sum times f'(a) its delta in the backward pass.
    for layer, idx in path[:-1]:
        u = n["units"][n["path"][[p[0] for p in path].index(layer)]]
        f, b = u["forward"], u["backward"]
        assert f["bias"] + sum(t["product"] for t in f["terms"]) + f["others"] == pytest.approx(
            view["a"][layer][tuple(idx)], rel=1e-12, abs=1e-12)
        if layer != "out":
            assert b["sum"] * b["fprime"] == pytest.approx(view["delta"][layer][tuple(idx)], rel=1e-10, abs=1e-18)

    # Every weight on the path: this connection's delta x input, and the kernel's sum over its positions.
    grads = {g["param"]: g for g in n["grads"]}
    assert sorted(grads) == ["H1.weight", "H2.weight", "H3.weight", "out.weight"]
    assert [len(g["uses"]) for g in (grads[k] for k in ("H1.weight", "H2.weight", "H3.weight", "out.weight"))] == \
        [64, 16, 1, 1]
    for g in n["grads"]:
        upper, lower = g["to"].split("[")[0], g["from"].split("[")[0]
        uidx = tuple(int(v) for v in g["to"][:-1].split("[")[1].split(","))
        lidx = tuple(int(v) for v in g["from"][:-1].split("[")[1].split(","))
        below = x16 if lower == "input" else view["y"][lower]
        assert g["product"] == pytest.approx(view["delta"][upper][uidx] * below[lidx], rel=1e-14, abs=1e-300)
        expected = view["grad"][g["param"]][tuple(g["entry"])]
        assert g["sum"] == pytest.approx(expected, rel=1e-10, abs=1e-16)
        assert g["weight"] == net.named_params()[g["param"]][tuple(g["entry"])]


def test_check_mode_tells_a_stale_page(usps, tmp_path, capsys):
    script = _script()
    page = tmp_path / "backprop.md"
    assert script.main(["--data-dir", str(usps[0]), "--out", str(page)]) == 0
    assert script.main(["--data-dir", str(usps[0]), "--out", str(page), "--check"]) == 0
    page.write_text(page.read_text().replace("USPS test digit number", "USPS test digit no."))
    assert script.main(["--data-dir", str(usps[0]), "--out", str(page), "--check"]) == 1
    assert "differs" in capsys.readouterr().err
