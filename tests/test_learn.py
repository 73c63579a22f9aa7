"""Learning a digit at a time: lecun89.explain.learn's Learner and the server's sessions
(POST /api/learn, POST /api/reset, "session" in /api/predict and /api/backprop)."""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lecun89 import losses
from lecun89.explain.learn import Learner, kernel_change
from lecun89.reader import load_model, models_dir, shipped_models
from lecun89.testing import STROKES, canvas_png, data_url, post, request, start_server, stop_server

MODELS = tuple(shipped_models())


def _drawn(digit: str) -> np.ndarray:
    from lecun89.serve import png_to_16

    return png_to_16(data_url(canvas_png(digit)))


DRAWN = {d: _drawn(d) for d in STROKES}


def _outputs(model, x16) -> np.ndarray:
    return model.net.predict(np.asarray(x16).reshape(1, 1, 16, 16))[0]


def _files() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(models_dir().iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def models():
    return {name: load_model(name) for name in MODELS}


@pytest.fixture(scope="module")
def app():
    from lecun89.serve import App

    return App("lecun1989", None)


@pytest.fixture(scope="module")
def url():
    proc, url, err = start_server("--model", "lecun1989")
    try:
        yield url
    finally:
        stop_server(proc)
        err.close()


def learn(url, body):
    return request(url, "POST", "/api/learn", body)


# --- the step (no server) ------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_a_step_raises_the_chosen_label_and_lowers_the_loss(models, name):
    m = models[name]
    for digit, x in DRAWN.items():
        out = _outputs(m, x)
        for label in range(10):
            if label == out.argmax():
                continue  # a label the network does not read
            learner = Learner(m.net, m.info["config"])
            r = learner.step(x, label)
            np.testing.assert_allclose(r["outputs_before"], out, rtol=0, atol=1e-12)
            assert r["outputs_after"][label] > r["outputs_before"][label], (digit, label)
            assert r["loss_after"] < r["loss_before"], (digit, label)
            assert r["step"] == 1 and r["lr"] > 0
            assert set(r["moved"]) == {"H1", "H2"} and r["moved"]["H1"].shape == r["moved"]["H2"].shape == (12,)
            assert (r["moved"]["H1"] > 0).any() and (r["moved"]["H2"] > 0).any()


@pytest.mark.parametrize("name", MODELS)
def test_a_step_on_misread_usps_digits_moves_them_towards_their_label(models, name, data_dir):
    from lecun89.data import load_dataset

    ds = load_dataset("usps", data_dir)
    m = models[name]
    pred = m.net.predict(ds.x_test[:400]).argmax(axis=1)
    wrong = np.flatnonzero(pred != ds.y_test[:400])[:4]
    assert len(wrong) >= 3
    for i in wrong:
        label = int(ds.y_test[i])
        r = Learner(m.net, m.info["config"]).step(ds.x_test[i, 0], label)
        assert r["outputs_after"][label] > r["outputs_before"][label] and r["loss_after"] < r["loss_before"]


def test_each_model_learns_with_its_own_optimizer_at_its_first_passes_rate(models):
    from lecun89.losses import training_loss

    seen = {}
    for name, m in models.items():
        learner = Learner(m.net, m.info["config"])
        t = m.info["config"]["train"]
        assert learner.optimizer == t["optimizer"] and learner.train.loss == t["loss"]
        assert learner.train.cost_scale == t["cost_scale"]
        assert (learner.train.loss, learner.train.cost_scale) == training_loss(m.info["config"], m.net.config.output_activation == "none")
        seen[name] = (learner.optimizer, learner.lr)
    assert seen["lecun1989"] == ("sdlm", 5e-4)  # SDLM with SN2.8's running estimator, constant epsilon
    assert seen["reader"] == ("adamw", 3e-4)  # AdamW, linear from 3e-4: the first pass's rate


def test_the_sdlm_step_is_the_formula_by_hand(models):
    """w -= epsilon * g / (mu + h), h the running average updated (from 0, as in
    training) by this digit's second-derivative pass before the step; twice, so
    that h carries over from the first step to the second."""
    m = models["lecun1989"]
    t = m.info["config"]["train"]
    assert (t["optimizer"], t["sdlm_estimator"], t["sdlm_eps_scale"]) == ("sdlm", "running", "none")
    learner = Learner(m.net, m.info["config"])
    ref = Learner(m.net, m.info["config"]).net  # a second copy, stepped by hand
    cost = losses.make_loss(t["loss"], t["cost_scale"])
    h = np.zeros_like(ref.flat)
    for digit, label in (("7", 1), ("3", 8)):
        x = DRAWN[digit].reshape(1, 1, 16, 16)
        y = ref.forward(x, train=True)
        cost.forward(y, np.array([label]))
        ref.backward(cost.backward())
        ref.backward_h(np.ones((1, 10)))  # half_sum: d2E/dy2 = 1 at each output
        h = (1 - t["sdlm_gamma"]) * h + t["sdlm_gamma"] * ref.flat_hess
        ref.flat -= t["lr"] * ref.flat_grad / (t["sdlm_mu"] + h)
        learner.step(DRAWN[digit], label)
        np.testing.assert_allclose(learner.net.flat, ref.flat, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(learner.opt.state["h"], h, rtol=1e-12, atol=1e-18)
    assert learner.steps == 2


def test_moved_is_each_kernels_change_summed_over_the_maps_it_reads(models):
    m = models["lecun1989"]
    learner = Learner(m.net, m.info["config"])
    w0 = {k: v.copy() for k, v in learner.net.named_params().items()}
    r = learner.step(DRAWN["4"], 9)
    w1 = learner.net.named_params()
    for name in ("H1", "H2"):
        d = w1[f"{name}.weight"] - w0[f"{name}.weight"]
        by_hand = [sum(np.linalg.norm(d[o, i]) for i in range(d.shape[1])) for o in range(12)]
        np.testing.assert_allclose(r["moved"][name], by_hand, rtol=1e-12)
    assert d.shape == (12, 8, 5, 5)  # H2: each map reads 8 of the 12 H1 maps
    np.testing.assert_array_equal(kernel_change(w0["H1.weight"], w0["H1.weight"]), np.zeros(12))


def test_learning_never_touches_the_shared_model_or_the_files(models):
    files = _files()
    for m in models.values():
        before = m.net.state_dict()
        learner = Learner(m.net, m.info["config"])
        for _ in range(3):
            learner.step(DRAWN["2"], 5)
        assert not np.array_equal(learner.net.flat, m.net.flat)
        after = m.net.state_dict()
        assert all(np.array_equal(before[k], after[k]) for k in before)
    assert _files() == files


def test_a_model_without_a_config_learns_with_the_default_train_section(tmp_path):
    from lecun89.config import TrainConfig

    for name, loss in (("lecun1989", "mse"), ("reader", "ce")):
        path = tmp_path / name / "model.npz"
        path.parent.mkdir()
        shutil.copy(shipped_models()[name], path)
        m = load_model(str(path))
        assert "config" not in m.info
        learner = Learner(m.net, m.info.get("config"))
        d = TrainConfig()
        assert (learner.optimizer, learner.lr, learner.train.sdlm_estimator) == (d.optimizer, 5e-4, d.sdlm_estimator)
        assert learner.train.loss == loss  # as /api/backprop assumes: cross-entropy for logit outputs
        r = learner.step(DRAWN["0"], 6)
        assert r["loss_after"] < r["loss_before"]


def test_a_bad_label_is_refused(models):
    with pytest.raises(ValueError, match="label"):
        Learner(models["lecun1989"].net).step(DRAWN["1"], 10)


# --- the sessions, over HTTP -------------------------------------------------------------

def test_learn_answers_a_step_on_a_session_of_its_own(url, models):
    x = DRAWN["7"]
    status, _, r = learn(url, {"x16": x.tolist(), "label": 1})
    assert status == 200
    assert set(r) == {"blank", "session", "model", "label", "step", "optimizer", "lr", "lr_from", "loss_kind",
                      "outputs_before", "outputs_after", "loss_before", "loss_after", "moved", "most_moved"}
    assert r["blank"] is False and r["model"] == "lecun1989" and r["label"] == 1 and r["step"] == 1
    assert r["optimizer"] == "sdlm" and r["lr"] == 5e-4 and "first pass" in r["lr_from"] and r["loss_kind"] == "mse"
    assert isinstance(r["session"], str) and len(r["session"]) >= 16
    assert r["outputs_after"][1] > r["outputs_before"][1] and r["loss_after"] < r["loss_before"]
    assert {k: len(v) for k, v in r["moved"].items()} == {"H1": 12, "H2": 12}
    assert r["most_moved"] == {k: int(np.argmax(v)) for k, v in r["moved"].items()}
    # The step's loss is the model's training cost, as /api/backprop's
    _, _, b = request(url, "POST", "/api/backprop", {"x16": x.tolist(), "label": 1})
    assert r["loss_before"] == pytest.approx(b["loss"], rel=1e-12)
    np.testing.assert_allclose(r["outputs_before"], _outputs(models["lecun1989"], x), rtol=0, atol=1e-12)

    # Later steps continue the session; predict and backprop read its copy.
    sid = r["session"]
    _, _, r2 = learn(url, {"png": data_url(canvas_png("7")), "label": 1, "session": sid, "model": "lecun1989"})
    assert r2["step"] == 2 and r2["session"] == sid
    np.testing.assert_allclose(r2["outputs_before"], r["outputs_after"], atol=1e-4)  # the PNG reads as x, near enough
    status, _, p = post(url, {"x16": x.tolist(), "session": sid})
    assert status == 200 and p["session"] == sid and p["model"] == "lecun1989" and "ranges" in p
    assert p["outputs"][1] > r["outputs_after"][1] - 1e-9  # the second step went on the same way
    _, _, b2 = request(url, "POST", "/api/backprop", {"x16": x.tolist(), "label": 1, "session": sid})
    assert b2["session"] == sid and b2["outputs"] == pytest.approx(p["outputs"], abs=1e-12)
    assert b2["loss"] < b["loss"]

    # The shared model answers as before.
    status, _, shared = post(url, {"x16": x.tolist()})
    assert "session" not in shared
    np.testing.assert_allclose(shared["outputs"], _outputs(models["lecun1989"], x), rtol=0, atol=1e-12)


def test_reset_forgets_the_session_and_learning_starts_again_from_the_shipped_weights(url, models):
    x = DRAWN["3"]
    _, _, r = learn(url, {"x16": x.tolist(), "label": 8})
    sid = r["session"]
    status, _, out = request(url, "POST", "/api/reset", {"session": sid})
    assert status == 200 and out == {"session": sid, "reset": True}
    for path, body in (("/api/learn", {"x16": x.tolist(), "label": 8, "session": sid}),
                       ("/api/predict", {"x16": x.tolist(), "session": sid}),
                       ("/api/backprop", {"x16": x.tolist(), "label": 8, "session": sid}),
                       ("/api/reset", {"session": sid})):
        status, _, e = request(url, "POST", path, body)
        assert status == 404 and e["error"].startswith("unknown session"), path
    _, _, fresh = learn(url, {"x16": x.tolist(), "label": 8})
    assert fresh["session"] != sid and fresh["step"] == 1
    assert fresh["outputs_before"] == r["outputs_before"]
    np.testing.assert_allclose(fresh["outputs_before"], _outputs(models["lecun1989"], x), rtol=0, atol=1e-12)


def test_a_blank_drawing_takes_no_step(url):
    status, _, r = learn(url, {"pixels": np.zeros((20, 20)).tolist(), "label": 3})
    assert status == 200 and r["blank"] is True and r["session"] is None and r["model"] == "lecun1989"
    _, _, s = learn(url, {"x16": DRAWN["1"].tolist(), "label": 7})
    _, _, r = learn(url, {"pixels": np.zeros((20, 20)).tolist(), "label": 3, "session": s["session"]})
    assert r["blank"] is True and r["session"] == s["session"]
    _, _, r = learn(url, {"x16": DRAWN["1"].tolist(), "label": 7, "session": s["session"]})
    assert r["step"] == 2


BAD = [
    ("/api/learn", {"x16": DRAWN["1"].tolist()}, 400, "label: expected an integer 0-9"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 10}, 400, "label: expected an integer 0-9"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": -1}, 400, "label: expected an integer 0-9"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 2.0}, 400, "label: expected an integer 0-9"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": True}, 400, "label: expected an integer 0-9"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": "3"}, 400, "label: expected an integer 0-9"),
    ("/api/learn", {"label": 3}, 400, "give exactly one of png, pixels, x16"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "pixels": [[0.5]], "label": 3}, 400, "give exactly one of"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "lable": 3}, 400, "unknown field 'lable'"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "row": True}, 400, "unknown field 'row'"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "model": "nonesuch"}, 400, "unknown model"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "model": 3}, 400, "model: expected a name"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "session": 12}, 400, "session: expected an id"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "session": None}, 400, "session: expected an id"),
    ("/api/learn", {"x16": DRAWN["1"].tolist(), "label": 3, "session": "nope"}, 404, "unknown session 'nope'"),
    ("/api/learn", {"x16": [[2.0] * 16] * 16, "label": 3}, 400, "x16: values must be in [-1, 1]"),
    ("/api/learn", [1, 2], 400, "expected a JSON object"),
    ("/api/reset", {}, 400, "session: give the id"),
    ("/api/reset", {"session": "nope"}, 404, "unknown session 'nope'"),
    ("/api/reset", {"session": ["x"]}, 400, "session: expected an id"),
    ("/api/reset", {"session": "nope", "model": "lecun1989"}, 400, "unknown field 'model'"),
    ("/api/reset", "session", 400, "expected a JSON object"),
    ("/api/predict", {"x16": DRAWN["1"].tolist(), "session": 5}, 400, "session: expected an id"),
    ("/api/predict", {"x16": DRAWN["1"].tolist(), "session": "nope"}, 404, "unknown session 'nope'"),
    ("/api/predict", {"png": data_url(canvas_png("1")), "row": True, "session": "nope"}, 400, "not a row"),
    ("/api/backprop", {"x16": DRAWN["1"].tolist(), "label": 1, "session": "nope"}, 404, "unknown session"),
    ("/api/backprop", {"x16": DRAWN["1"].tolist(), "label": 1, "session": False}, 400, "session: expected an id"),
]


@pytest.mark.parametrize("path,body,status,message", BAD, ids=[f"{p}-{i}" for i, (p, *_) in enumerate(BAD)])
def test_a_bad_body_is_refused(url, path, body, status, message):
    got, _, e = request(url, "POST", path, body)
    assert got == status and message in e["error"]


def test_bad_requests_over_http(url):
    status, res, e = request(url, "GET", "/api/learn")
    assert status == 405 and res.getheader("Allow") == "POST" and "error" in e
    status, _, e = request(url, "POST", "/api/reset", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and e["error"].startswith("malformed JSON")
    _, _, r = learn(url, {"x16": DRAWN["1"].tolist(), "label": 7})
    status, _, e = learn(url, {"x16": DRAWN["1"].tolist(), "label": 7, "session": r["session"], "model": "reader"})
    assert status == 400 and "learns model 'lecun1989', not 'reader'" in e["error"]
    status, _, e = post(url, {"x16": DRAWN["1"].tolist(), "session": r["session"], "model": "reader"})
    assert status == 400 and "not 'reader'" in e["error"]


# --- the sessions, in the App ------------------------------------------------------------

def test_the_least_recently_used_session_goes_first():
    from lecun89.serve import App, ApiError

    app = App("lecun1989", None, max_sessions=2)
    body = {"x16": DRAWN["4"].tolist(), "label": 9}
    a = app.learn(body)["session"]
    b = app.learn(body)["session"]
    app.predict({"x16": DRAWN["4"].tolist(), "session": a})  # a is now more recent than b
    c = app.learn(body)["session"]
    assert len(app.sessions) == 2
    with pytest.raises(ApiError, match="unknown session") as exc:
        app.learn({**body, "session": b})
    assert exc.value.status == 404
    assert app.learn({**body, "session": a})["step"] == 2
    assert app.learn({**body, "session": c})["step"] == 2


def test_a_sessions_steps_run_one_at_a_time(app):
    body = {"x16": DRAWN["0"].tolist(), "label": 6}
    sid = app.learn(body)["session"]
    with ThreadPoolExecutor(4) as pool:
        steps = list(pool.map(lambda _: app.learn({**body, "session": sid})["step"], range(8)))
    assert sorted(steps) == list(range(2, 10))
    assert app.sessions.get(sid).learner.steps == 9
