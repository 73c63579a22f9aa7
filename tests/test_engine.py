"""The numba engine against the numpy layers (the reference): gradients, second
derivatives and outputs to 1e-12 relative, whole passes to rounding, runs
bit-identical for the same engine."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from lecun89 import losses
from lecun89.config import config_hash, load_config, to_dict
from lecun89.errors import UserError
from lecun89.model import build_model

VARIANTS = [
    [],
    ["model.bias=map"],
    ["model.bias=none", "model.h2_table=full"],
    ["model.pad_value_h1=0.0", "model.pad_value_h2=0.0", "model.activation=tanh", "model.output_activation=tanh"],
    ["train.cost_scale=mean", "train.optimizer=sgd"],
    ["model.h1_maps=4", "model.h2_maps=6", "model.h2_table=full", "model.h3_units=7"],
    # the modern recipe's pieces: ReLU, logits and cross-entropy, dropout, shifts
    ["model.activation=relu", "model.output_activation=none", "train.loss=ce", "train.cost_scale=mean",
     "train.optimizer=adamw", "model.dropout=0.25", "train.augment=shift"],
    ["model.activation=relu", "model.output_activation=relu"],
    ["model.dropout=0.4"],
    ["train.augment=shift"],
    # the fully connected network
    ["model.arch=fc"],
    ["model.arch=fc", "model.fc_hidden=17", "model.activation=relu", "model.output_activation=none",
     "train.loss=ce", "train.cost_scale=mean", "train.optimizer=adamw", "model.dropout=0.25",
     "train.augment=shift"],
]


def _config(overrides):
    return load_config("lecun1989", ["train.engine=numba", *overrides])


def _relerr(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(scope="module")
def kernels():
    pytest.importorskip("numba", reason="numba cannot be loaded here")
    from lecun89.engine import load_kernels

    return load_kernels()


@pytest.mark.parametrize("overrides", VARIANTS, ids=lambda o: ",".join(o) or "lecun1989")
def test_gradients_second_derivatives_and_outputs_match_numpy(kernels, overrides, rng):
    """One digit at a time, the weights left alone (lr 0): outputs, dE/dw and
    (squared error: SDLM's running estimator) d2E/dw2 against the layers', with
    the same dropout masks and shifts, drawn by the engine as the numpy engine does."""
    from lecun89.engine import NumbaPass
    from lecun89.train import pad_images, shift_batch

    cfg = _config(overrides)
    net = build_model(cfg.model, seed=3)
    mse = cfg.train.loss == "mse"
    # biases too, not just the init's zeros; for cross-entropy, logits of moderate size: where a
    # probability nears 1, its gradient p - t cancels, and the last bits of numpy's vectorised exp
    # (and its pairwise sum) would show as the gradient's leading bits
    net.flat[...] = rng.uniform(-0.5, 0.5, net.flat.size) * (1.0 if mse else 0.2)
    train = dataclasses.replace(cfg.train, optimizer="sdlm", sdlm_estimator="running") if mse else cfg.train
    eng = NumbaPass(net, train)
    loss = losses.make_loss(cfg.train.loss, cfg.train.cost_scale)
    x = rng.uniform(-1, 1, (4, 16, 16))
    labels = rng.integers(0, 10, 4)
    t = loss.targets(labels)
    state = {"h": np.zeros(net.flat.size)} if mse else {}
    if train.optimizer == "adamw":
        state = {"m": np.zeros(net.flat.size), "v": np.zeros(net.flat.size), "t": np.zeros(1)}
    for i in range(4):
        # numba, lr = 0: the weights stay, grad and hess hold this digit's
        trainer_rng, net_rng = np.random.default_rng(i), net.rng.bit_generator.state
        uniforms, shifts = eng.draws(1, trainer_rng)
        assert (uniforms is None) == (cfg.model.dropout == 0) and (shifts is None) == (cfg.train.augment == "none")
        out = eng.run(x, t, np.array([i]), 0.0, state, uniforms=uniforms, shifts=shifts)
        g, h = net.flat_grad.copy(), net.flat_hess.copy()
        net.rng.bit_generator.state = net_rng  # the numpy engine's draws, from the same states
        xi = x[i][None, None]
        if shifts is not None:
            xi = shift_batch(pad_images(xi), np.random.default_rng(i))
        y = net.forward(xi, True)
        net.backward(loss.grad(y, t[i:i + 1]))
        assert _relerr(out, y) <= 1e-12
        assert _relerr(g, net.flat_grad) <= 1e-12
        for name, sl in net.slices.items():  # every parameter, not just the largest
            assert _relerr(g[sl], net.flat_grad[sl]) <= 1e-11, name
        if mse:
            net.backward_h(loss.output_curvature(*y.shape))
            assert _relerr(h, net.flat_hess) <= 1e-12



@pytest.mark.parametrize("overrides", VARIANTS, ids=lambda o: ",".join(o) or "lecun1989")
@pytest.mark.parametrize("batch", [21, 5])
def test_a_batchs_gradients_and_second_derivatives_match_numpy(kernels, overrides, batch, rng):
    """A batch at once (digits in blocks of 16: 21 is a full block and a partial
    one), the weights left alone (lr 0): every digit's outputs, dE/dw and d2E/dw2
    of the batch against the layers' on the same batch, with the same draws."""
    from lecun89.engine import NumbaPass
    from lecun89.train import pad_images, shift_batch

    cfg = _config([*overrides, f"train.batch_size={batch}"])
    net = build_model(cfg.model, seed=3)
    mse = cfg.train.loss == "mse"
    net.flat[...] = rng.uniform(-0.5, 0.5, net.flat.size) * (1.0 if mse else 0.2)
    train = dataclasses.replace(cfg.train, optimizer="sdlm", sdlm_estimator="running") if mse else cfg.train
    eng = NumbaPass(net, train)
    loss = losses.make_loss(cfg.train.loss, cfg.train.cost_scale)
    x = rng.uniform(-1, 1, (batch + 3, 16, 16))
    t = loss.targets(rng.integers(0, 10, batch + 3))
    order = rng.permutation(batch + 3)[:batch]
    state = {"h": np.zeros(net.flat.size), "m": np.zeros(net.flat.size), "v": np.zeros(net.flat.size),
             "t": np.zeros(1)}
    net_rng = net.rng.bit_generator.state
    uniforms, shifts = eng.draws(batch, np.random.default_rng(7))
    out = eng.run(x, t, order, 0.0, state, uniforms=uniforms, shifts=shifts)
    g, h = net.flat_grad.copy(), net.flat_hess.copy()
    net.rng.bit_generator.state = net_rng  # the numpy engine's draws, from the same states
    xb = x[order][:, None]
    if shifts is not None:
        xb = shift_batch(pad_images(xb), np.random.default_rng(7))
    y = net.forward(xb, True)
    net.backward(loss.grad(y, t[order]))
    assert _relerr(out, y) <= 1e-12
    for name, sl in net.slices.items():
        assert _relerr(g[sl], net.flat_grad[sl]) <= 1e-11, name
    if mse:
        net.backward_h(loss.output_curvature(*y.shape))
        for name, sl in net.slices.items():
            assert _relerr(h[sl], net.flat_hess[sl]) <= 1e-11, name

INFERENCE = [o for o in VARIANTS if not any(k.startswith("train.") for k in o)] + [
    ["model.activation=relu", "model.output_activation=none"],
    ["model.activation=tanh", "model.output_activation=none", "model.bias=none"],
    ["model.arch=fc", "model.activation=relu", "model.output_activation=none"],
    ["model.arch=fc", "model.activation=tanh", "model.output_activation=tanh", "model.fc_hidden=33"],
]


@pytest.mark.parametrize("overrides", INFERENCE, ids=lambda o: ",".join(o) or "lecun1989")
def test_compiled_inference_matches_predict(kernels, overrides, rng):
    """The engine's forward (the evaluations between passes) against Network.predict,
    output by output, on inputs over the whole tanh range."""
    from lecun89.engine import NumbaPass

    cfg = _config(overrides)
    net = build_model(cfg.model, seed=5)
    net.flat[...] = rng.uniform(-0.5, 0.5, net.flat.size)
    eng = NumbaPass(net, cfg.train)
    x = rng.uniform(-1, 1, (70, 1, 16, 16)) * rng.choice([0.01, 1.0, 30.0], (70, 1, 1, 1))
    out, ref = eng.predict(x), net.predict(x)
    assert out.shape == ref.shape == (70, net.n_out)
    assert np.abs(out - ref).max() <= 1e-12 * np.abs(ref).max()
    assert np.array_equal(eng.predict(x), out)  # the same bits twice
    # one digit at a time, or from another place in a block: no dependence on the batch
    assert np.array_equal(eng.predict(x[3:4]), out[3:4])
    assert np.array_equal(eng.predict(x[5:40]), out[5:40])


@pytest.mark.parametrize("name, batch", [("lecun1989", 1), ("lecun1989-sgd", 1), ("lecun1989-lenet5", 1),
                                         ("modern-usps", 1), ("fc-baseline", 1), ("lecun1989", 32),
                                         ("lecun1989-sgd", 24), ("modern-usps", 32)])
def test_passes_match_the_numpy_engine_to_rounding(kernels, name, batch):
    """Two shuffled passes of each engine from the same start: the same
    generator draws (order, shifts, dropout masks), the same weights to rounding."""
    from lecun89.data import load_dataset
    from lecun89.train import Trainer

    data = load_dataset("digits")
    data = dataclasses.replace(data, x_train=data.x_train[:300], y_train=data.y_train[:300])
    flats = {}
    for engine in ("numpy", "numba"):
        cfg = load_config(name, [f"train.engine={engine}", "data.name=digits", "train.order=shuffle",
                                 f"train.batch_size={batch}"])
        tr = Trainer(cfg, data)
        w0 = tr.net.flat.copy()
        flats[engine] = []
        for _ in range(2):  # two shuffled passes: the same generator draws, pass after pass
            tr.run_pass()
            flats[engine].append(tr.net.flat.copy())
        flats[engine].append(tr.state())
    for a, b in zip(flats["numba"][:2], flats["numpy"][:2], strict=True):
        assert np.abs(a - b).max() <= 1e-10 * np.abs(b - w0).max()
    # after the passes, both engines' generators stand at the same place, and so do AdamW's steps
    a, b = flats["numba"][2], flats["numpy"][2]
    assert str(a["rng"]) == str(b["rng"]) and str(a["model_rng"]) == str(b["model_rng"])
    assert sorted(a) == sorted(b)
    if "opt.t" in a:
        assert a["opt.t"][0] == b["opt.t"][0] == 2 * -(-300 // batch)


def test_runs_are_bit_identical_and_record_the_engine(kernels, tmp_path):
    from lecun89.train import run_training

    cfg = load_config("quick", ["train.passes=2", "train.engine=numba"])
    run_training(cfg, tmp_path / "a", quiet=True)
    run_training(cfg, tmp_path / "b", quiet=True)
    # resumed after one pass: the same bits as straight through
    run_training(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, passes=1)), tmp_path / "c", quiet=True)
    (tmp_path / "c" / "config.toml").write_text((tmp_path / "a" / "config.toml").read_text())
    run_training(cfg, tmp_path / "c", resume=True, quiet=True)
    rows = {}
    for run in "abc":
        with np.load(tmp_path / run / "model.npz") as z:
            rows[run] = ({k: z[k] for k in z.files if k != "config"},
                         [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                          for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()])
    for run in "bc":
        assert rows[run][1] == rows["a"][1]
        assert all(np.array_equal(rows[run][0][k], rows["a"][0][k]) for k in rows["a"][0])
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["engine"]["name"] == "numba" and meta["engine"]["compile_seconds"] >= 0
    assert 'engine = "numba"' in (tmp_path / "a" / "config.toml").read_text()


@pytest.mark.parametrize("override, key", [
    ("train.momentum=0.5", "train.momentum = 0.5"),
    ("train.sdlm_eps_scale=fanin", "train.sdlm_eps_scale = 'fanin'"),
    ("model.activation=sigmoid", "model.activation = 'sigmoid'"),
    ("model.output_activation=sigmoid", "model.output_activation = 'sigmoid'"),
])
def test_configs_the_engine_does_not_cover_are_refused(override, key):
    with pytest.raises(UserError, match="train.engine") as exc:
        _config([override, "train.optimizer=sgd"] if "momentum" in override else [override])
    assert key in str(exc.value)


def test_unknown_engine_is_refused():
    with pytest.raises(UserError, match="train.engine"):
        load_config("lecun1989", ["train.engine=cuda"])


def test_the_numpy_engine_leaves_older_runs_identity_unchanged(monkeypatch):
    """Runs made before the engine was a key ran numpy: a numpy run hashes as they
    did; a compiled run (the default) is another run."""
    monkeypatch.setenv("LECUN89_ENGINE", "numpy")
    cfg = load_config("lecun1989")
    d = to_dict(cfg)
    assert (d["model"].pop("bias_init"), d["model"].pop("init_fanin_bias")) == ("zero", False)  # keys added later
    assert d["train"].pop("engine") == "numpy"
    assert (d["data"].pop("validation"), d["data"].pop("validation_seed")) == (0, 0)  # keys added later still
    for key in [k for k in d["train"] if k.startswith(("affine_", "elastic_"))]:  # added later, at their defaults
        del d["train"][key]
    assert config_hash(cfg) == hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    monkeypatch.delenv("LECUN89_ENGINE")
    assert load_config("lecun1989").train.engine == "numba"
    assert config_hash(load_config("lecun1989")) != config_hash(cfg)


def test_the_engine_variable_sets_every_configs_engine_before_set(monkeypatch):
    monkeypatch.setenv("LECUN89_ENGINE", "numpy")
    assert load_config("lecun1989").train.engine == "numpy"
    assert load_config("lecun1989", ["train.engine=numba"]).train.engine == "numba"  # --set wins
    monkeypatch.setenv("LECUN89_ENGINE", "numba")
    assert load_config("lecun1989").train.engine == "numba"
    assert load_config("modern").train.engine == "numba"
    assert load_config("lecun1989", ["train.batch_size=32"]).train.engine == "numba"  # any batch size
    with pytest.raises(UserError, match=r"\(from \$LECUN89_ENGINE\) does not run model.activation = 'sigmoid'"):
        load_config("lecun1989", ["model.activation=sigmoid"])
    monkeypatch.setenv("LECUN89_ENGINE", "fast")
    with pytest.raises(UserError, match="LECUN89_ENGINE: 'fast' is not one of numpy, numba") as e:
        load_config("lecun1989")
    assert e.value.status == 2


def test_where_numba_cannot_load_the_error_names_the_way_out(monkeypatch):
    import sys

    import lecun89.engine
    from lecun89.engine import load_kernels

    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    monkeypatch.delitem(sys.modules, "lecun89.engine._kernels", raising=False)  # as if never imported
    monkeypatch.delattr(lecun89.engine, "_kernels", raising=False)
    with pytest.raises(UserError, match=r"numba cannot be loaded here .*LECUN89_ENGINE=numpy"):
        load_kernels()


def test_the_compiled_tanh_is_numpys_to_1e15_relative(kernels):
    """The polynomial exponential behind the engine's tanh, over the whole range:
    saturation, the middle, and tiny arguments (where 1 - 2/(e^2z + 1) would lose
    every digit)."""
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.uniform(-60, 60, 200_000), rng.standard_normal(100_000) * 1e-3,
                        10.0 ** rng.uniform(-300, 0, 20_000) * rng.choice([-1, 1], 20_000),
                        [0.0, -0.0, 5e-324, 30.0, -30.0, 31.0, -31.0]])
    A, S = 1.7159, 2 / 3
    y, fp, scratch = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    # a read-only input: a signature of its own, so that the helper compiled here on its own
    # is not the one the kernels loaded later in this process call (lecun89.engine.build)
    a.setflags(write=False)
    kernels.tanh_layer(a, A, S, y, fp, scratch)
    ref = A * np.tanh(S * a)
    rel = np.abs(y - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny)
    assert rel.max() <= 1e-15 * 2
    assert np.abs(fp - A * S * (1 - np.tanh(S * a) ** 2)).max() <= 1e-15 * 2


def test_auto_is_numba_where_it_covers_the_config_else_numpy(kernels, monkeypatch):
    from lecun89.engine import unsupported

    for name in ("lecun1989", "modern-usps", "fc-baseline", "lecun1989-lenet5", "quick"):
        cfg = load_config(name, ["train.engine=auto"])
        assert cfg.train.engine == "numba" and unsupported(cfg) is None
    cfg = load_config("lecun1989", ["train.engine=auto", "model.activation=sigmoid"])
    assert cfg.train.engine == "numpy"  # not refused: resolved to the reference
    assert config_hash(cfg) == config_hash(load_config("lecun1989", ["model.activation=sigmoid"]))
    assert load_config("lecun1989", ["train.engine=auto", "train.batch_size=8"]).train.engine == "numba"
    monkeypatch.setenv("LECUN89_ENGINE", "auto")
    assert load_config("lecun1989").train.engine == "numba"
    assert load_config("lecun1989", ["train.momentum=0.5", "train.optimizer=sgd"]).train.engine == "numpy"
    monkeypatch.setenv("LECUN89_ENGINE", "numpy")  # still forces the reference over a config's "auto"
    assert load_config("lecun1989").train.engine == "numpy"


def test_every_shipped_config_but_quick_runs_compiled_by_default_and_the_variable_forces_either(monkeypatch):
    """quick, the first command's run, chooses the numpy engine in its file (it trains
    in about the time numba takes to load); every other shipped config runs compiled."""
    from lecun89.config import CONFIG_DIR, TrainConfig

    assert TrainConfig().engine == "auto"
    monkeypatch.delenv("LECUN89_ENGINE", raising=False)
    paths = sorted(CONFIG_DIR.glob("*.toml"))
    assert len(paths) >= 10
    for path in paths:
        assert load_config(path).train.engine == ("numpy" if path.stem == "quick" else "numba"), path.name
    assert 'engine = "numpy"' in (CONFIG_DIR / "quick.toml").read_text()
    for engine in ("numpy", "numba"):
        monkeypatch.setenv("LECUN89_ENGINE", engine)
        for path in paths:
            assert load_config(path).train.engine == engine, path.name


def test_an_auto_run_records_the_engine_it_ran_and_says_when_it_compiled(kernels, tmp_path, monkeypatch, capsys):
    from lecun89 import train

    monkeypatch.setattr(train, "COMPILE_NOTICE_SECONDS", -1.0)  # as if numba had compiled (its cache may be warm)
    cfg = load_config("quick", ["train.passes=1", "train.engine=auto"])
    train.run_training(cfg, tmp_path / "a", progress=False)
    err = capsys.readouterr().err.splitlines()
    notice = [line for line in err if line.startswith("compiling the numba engine")]
    assert len(notice) == 1 and notice[0].endswith(" s")
    assert 'engine = "numba"' in (tmp_path / "a" / "config.toml").read_text()
    assert json.loads((tmp_path / "a" / "meta.json").read_text())["engine"]["name"] == "numba"
    monkeypatch.setattr(train, "COMPILE_NOTICE_SECONDS", 1e9)
    train.run_training(cfg, tmp_path / "b", progress=False)
    assert "compiling" not in capsys.readouterr().err


def _run_digest(run) -> tuple[dict, list]:
    """A run directory's weights (model.npz's arrays) and metrics rows, timings aside."""
    with np.load(run / "model.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "config"}
    rows = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]
    return arrays, rows


def test_a_run_is_the_same_whether_numbas_cache_is_cold_or_warm(kernels, tmp_path):
    """The first run on a fresh install compiles the kernels (in a child process,
    lecun89.engine.build), later ones load them from numba's cache: the same
    engine, model, metrics and outputs either way. (Before the child, a CPU LLVM
    names rocketlake rounded otherwise in a run that compiled the kernels, whose
    calls went to the helpers compiled on their own, than in one that loaded the
    kernels' own copies of them from the cache.)"""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    env.pop("LECUN89_ENGINE", None)
    runs = {}
    for which in ("cold", "warm"):
        out = tmp_path / which
        subprocess.run([sys.executable, "-m", "lecun89", "train", "quick", "--set", "train.engine=numba",
                        "--set", "train.passes=2", "--no-report", "--no-progress", "--out", str(out)],
                       env=env, check=True, capture_output=True, text=True, timeout=600)
        engine = json.loads((out / "meta.json").read_text())["engine"]
        assert engine["name"] == "numba" and engine["from_cache"] == (which == "warm"), engine
        assert engine.get("compiled_in") == (None if which == "warm" else "a child process"), engine
        runs[which] = _run_digest(out)
        with np.load(out / "outputs.npz") as z:
            runs[which] += ({k: z[k] for k in z.files},)
    (wa, ra, oa), (wb, rb, ob) = runs["cold"], runs["warm"]
    assert ra == rb and sorted(wa) == sorted(wb) and sorted(oa) == sorted(ob)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa) and all(np.array_equal(oa[k], ob[k]) for k in oa)


# quick's 2 passes on the numpy engine: sha256 of model.npz's arrays (name, bytes, in name
# order) and of its metrics rows without timings, as the numpy engine gave them before the
# compiled engine's re-layout (main at 3e1b0f6), by OpenBLAS's kernel family (threadpoolctl's
# "architecture"): a CPU on which OpenBLAS picks another family rounds its sums otherwise.
# The numpy engine is the reference: on a family pinned here its bits do not move. The
# SkylakeX pair was recorded on a SkylakeX machine (this commit), the Haswell pair on a Haswell one.
NUMPY_QUICK_2_PASSES = {
    "Haswell": ("005dced324ef43f4ee84a57e04e13fd0d7598f5a1029158d8626998942865489",
                "75f3e06eaf288c98e4e389dee8e0b83e46fd4de961cda15989a204a047d3d9b8"),
    "SkylakeX": ("331b79bef61267b125445d6d057cfc4743240b6fa669a19cc47371f661378e63",
                 "82b577c92d274e06121c6f33b83f558e06d3e76b734ffd1d8a1c281098866d8e"),
}


def openblas_family() -> str | None:
    """The kernel family of numpy's OpenBLAS (None when numpy uses another BLAS)."""
    import threadpoolctl

    fams = {i.get("architecture") for i in threadpoolctl.threadpool_info()
            if i.get("internal_api") == "openblas" and "numpy" in i.get("filepath", "")}
    return fams.pop() if len(fams) == 1 else None


def test_the_numpy_engine_gives_the_same_bits_as_before(tmp_path, monkeypatch):
    from lecun89.train import run_training

    family = openblas_family()
    if family not in NUMPY_QUICK_2_PASSES:
        pytest.skip(f"no bits pinned for OpenBLAS's {family} kernels (pinned: {', '.join(NUMPY_QUICK_2_PASSES)})")
    monkeypatch.setenv("LECUN89_ENGINE", "numpy")
    run_training(load_config("quick", ["train.passes=2"]), tmp_path / "r", quiet=True)
    arrays, rows = _run_digest(tmp_path / "r")
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    got = (h.hexdigest(), hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest())
    assert got == NUMPY_QUICK_2_PASSES[family]


@pytest.mark.parametrize("child_ok", [False, True], ids=["child-fails", "cache-unwritten"])
def test_a_kernel_the_cache_cannot_give_is_compiled_here(kernels, monkeypatch, child_ok):
    """lecun89.engine.build: where the child process fails, or its kernel is not
    in numba's cache afterwards (here: a function numba does not cache), the
    kernel is compiled in this process, and says so; the call's result is the
    kernel's either way."""
    import numba

    from lecun89.engine import build

    @numba.njit(cache=False)
    def twice(a):
        return 2.0 * a

    asked = []
    monkeypatch.setattr(build, "dispatcher_of", lambda spec: twice)
    monkeypatch.setattr(build, "_compile_in_child", lambda spec, types: asked.append(types) or child_ok)
    assert build.call(("test",), 1.5) == 3.0
    assert build.COMPILED.pop(twice) == "this process" and asked == [(numba.float64,)]
    assert build.call(("test",), 2.5) == 5.0 and twice not in build.COMPILED  # compiled now: no second build


def test_read_only_digits_are_scored_by_the_forward_compiled_for_writable_ones(kernels, rng):
    """A data set's arrays are read-only; the compiled forward copies them rather
    than have numba compile it a second time for read-only arrays (a second
    compile on a fresh install): the same outputs, bit for bit."""
    from lecun89.engine import CompiledForward
    from lecun89.engine._forward import forward_blocks

    x = rng.uniform(-1, 1, (40, 1, 16, 16))
    frozen = x.copy()
    frozen.setflags(write=False)
    fwd = CompiledForward(build_model(_config([]).model, seed=3))
    assert np.array_equal(fwd.predict(x), fwd.predict(frozen))
    assert not any(getattr(arg, "readonly", False) for sig in forward_blocks.signatures for arg in sig)
