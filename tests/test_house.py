"""The house: the package's structure, one owner per fact, and the defects found on reading it.

Each test here states a rule of the codebase (docs/contributing.md) and fails
when it is broken, so that the structure does not silently drift back.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


# --- the rules of scripts/check_house.py ---------------------------------------------------

def test_no_import_circle_no_private_import_no_long_module():
    """No circle (lazy imports count), no ``_private`` name imported across modules,
    no module over 600 lines but the layers and the kernels."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_house", REPO / "scripts" / "check_house.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.breaches() == []
    # The checker sees what it should: a circle and a private import made up for the purpose.
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert check.cycles(edges) == [["a", "b", "c"]]


# --- commands -------------------------------------------------------------------------------

def test_each_command_is_a_module_named_as_the_user_types_it():
    from lecun89 import cli

    names = [m.rsplit(".", 1)[1] for m in cli.COMMAND_MODULES]
    assert all(m.startswith("lecun89.cli.") for m in cli.COMMAND_MODULES)
    assert list(_commands(cli.build_parser())) == names
    for name in names:
        assert (REPO / "lecun89" / "cli" / f"{name}.py").is_file()


def test_a_missing_command_module_is_an_error_not_a_silently_dropped_command(monkeypatch):
    """A broken install must not lose a command without a word (the old parser skipped
    a command module it could not import)."""
    from lecun89 import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + ("lecun89.cli.nonesuch",))
    with pytest.raises(ModuleNotFoundError):
        cli.build_parser()


def test_shared_flags_are_declared_once_with_one_help():
    from lecun89.cli import build_parser
    from lecun89.cli.args import DATA_DIR_HELP

    seen = {"--data-dir": [], "--set": [], "--sort": [], "--model": []}

    def walk(p):
        for a in p._actions:
            for flag in seen:
                if flag in a.option_strings:
                    seen[flag].append(a.help)
            if isinstance(a, argparse._SubParsersAction):
                for sp in a.choices.values():
                    walk(sp)

    walk(build_parser())
    assert len(seen["--data-dir"]) >= 6 and all(h.startswith(DATA_DIR_HELP) for h in seen["--data-dir"])
    assert len(seen["--set"]) >= 4 and all(h.startswith("override a config key") for h in seen["--set"])
    for flag in ("--sort", "--model"):
        assert len(seen[flag]) == 2 and len(set(seen[flag])) == 1, (flag, seen[flag])


def test_building_the_parser_imports_no_numerical_code():
    """``lecun89 --help`` stays cheap: the work is imported when a command runs."""
    code = ("import sys; from lecun89.cli import build_parser; build_parser(); "
            "print(' '.join(sorted(m for m in ('scipy', 'matplotlib', 'torch', 'sklearn', 'numba', 'PIL', "
            "'lecun89.layers', 'lecun89.train', 'lecun89.report') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout.split()
    assert out == []


# --- one owner per fact ---------------------------------------------------------------------

def test_config_takes_each_choice_list_from_its_owner():
    from lecun89 import config, engine, layers, losses, optim
    from lecun89.studies import executors
    from lecun89.cli import build_parser

    config._validate(config.Config())  # the lists are imported where they are used
    assert tuple(config.choices("train.loss")) == tuple(losses.LOSSES)
    assert tuple(config.choices("model.output_activation")) == tuple(layers.ACTIVATIONS)
    assert tuple(config.choices("train.optimizer")) == tuple(optim.OPTIMIZERS)
    assert tuple(config.choices("train.schedule")) == tuple(optim.SCHEDULES)
    assert tuple(config.choices("train.engine")) == tuple(engine.ENGINES)
    sweep = _commands(build_parser())["sweep"]
    assert next(a for a in sweep._actions if "--executor" in a.option_strings).choices == executors.EXECUTORS


def test_the_architecture_table_has_one_writer(capsys):
    from lecun89.cli import main
    from lecun89.config import load_config
    from lecun89.model import build_model
    from lecun89.report.format import architecture_table

    assert main(["summary", "lecun1989"]) == 0
    out = capsys.readouterr().out.splitlines()
    cfg = load_config("lecun1989")
    assert out[1:] == architecture_table(build_model(cfg.model, cfg.seed).summary_rows())
    assert out[-1] == "| **total** | | **1,256** | **64,660** | **9,760** |"


def test_the_version_is_stated_once():
    import lecun89
    from lecun89.version import __version__

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "lecun89.version.__version__"}
    assert lecun89.__version__ == __version__


def test_an_interrupted_write_leaves_the_old_file(tmp_path):
    from lecun89.atomic import replacing, write_text

    path = tmp_path / "results.json"
    write_text(path, "old\n")
    with pytest.raises(KeyboardInterrupt):
        with replacing(path, "w") as fh:
            fh.write("half of the new")
            raise KeyboardInterrupt
    assert path.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["results.json"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- the losses' interface ------------------------------------------------------------------

def test_every_layer_takes_its_callers_state_and_need_dx_as_the_network_passes_them():
    """backward(dy, cache, grads, need_dx) and backward_h(d2y, cache, hess, need_dx):
    the pass's state is the caller's, not the layer's; forward(x, cache)."""
    from lecun89 import layers as L

    classes = [L.Layer] + [c for c in vars(L).values() if isinstance(c, type) and issubclass(c, L.Layer)]
    for cls in classes:
        for method in ("backward", "backward_h"):
            params = list(inspect.signature(getattr(cls, method)).parameters)
            assert params[2] == "cache" and params[4] == "need_dx", (cls.__name__, method, params)
        assert list(inspect.signature(cls.forward).parameters)[1:] == ["x", "cache"], cls.__name__


def test_a_pass_leaves_no_state_in_the_layers():
    """Training, backward and second-derivative passes on a tape of the caller's own
    change nothing in the layer objects (no attribute set or rebound), nor the
    network's own tape: the network can be read and explained while it trains."""
    from lecun89.config import load_config
    from lecun89.losses import make_loss
    from lecun89.model import build_model

    net = build_model(load_config("modern-usps").model)  # ReLU, dropout, logits
    before = [{k: (id(v), v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(lay).items()}
              for lay in net.layers]
    own = (net.tape.flat_grad.copy(), [dict(c) for c in net.tape.caches])
    x = np.random.default_rng(0).uniform(-1, 1, (3, 1, 16, 16))
    tape = net.new_tape()
    loss = make_loss("ce")
    loss.forward(net.forward(x, train=True, tape=tape), np.array([1, 2, 3]))
    net.backward(loss.backward(), tape)
    net.backward_h(loss.backward_h(), tape)
    net.predict(x)
    for lay, was in zip(net.layers, before, strict=True):
        now = vars(lay)
        assert now.keys() == was.keys(), (lay.name, set(now) ^ set(was))
        for k, (ident, value) in was.items():
            assert id(now[k]) == ident, (lay.name, k)
            if isinstance(value, np.ndarray):
                assert np.array_equal(now[k], value), (lay.name, k)
    assert np.array_equal(net.tape.flat_grad, own[0]) and [dict(c) for c in net.tape.caches] == own[1]


def test_the_losses_give_curvature_or_refuse_it():
    from lecun89 import losses

    rng = np.random.default_rng(0)
    y, labels = rng.normal(size=(3, 10)), np.array([1, 4, 9])
    for scale in ("mean", "half_sum"):
        mse = losses.make_loss("mse", scale)
        mse.forward(y, labels)
        np.testing.assert_array_equal(mse.output_curvature(3, 10), mse.backward_h())
        np.testing.assert_array_equal(mse.grad(y, mse.targets(labels)), mse.backward())
    ce = losses.make_loss("ce")
    assert not ce.constant_curvature
    with pytest.raises(ValueError, match="snapshot"):
        ce.output_curvature(3, 10)


def test_sdlm_running_with_cross_entropy_is_refused_by_the_loss_itself():
    """Not only a config rule: an optimizer built past the config check refuses too."""
    import dataclasses

    from lecun89.config import load_config
    from lecun89.model import build_model
    from lecun89.optim import make_optimizer

    cfg = load_config("lecun1989")
    train = dataclasses.replace(cfg.train, optimizer="sdlm", sdlm_estimator="running", loss="ce", cost_scale="mean")
    net = build_model(cfg.model, 0)
    with pytest.raises(ValueError, match="output curvature"):
        make_optimizer(net, train)
    make_optimizer(net, dataclasses.replace(train, sdlm_estimator="snapshot"))


# --- defects --------------------------------------------------------------------------------

def test_predict_show_leaves_matplotlib_backend_alone(tmp_path, capsys):
    """predict --show drew with pyplot after matplotlib.use("Agg"), switching the whole
    process's backend; it now draws on a Figure of its own."""
    import matplotlib

    from lecun89.cli import main

    x = np.full((16, 16), -1.0)
    x[3:13, 7:9] = 1.0
    np.save(tmp_path / "one.npy", x)
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        assert main(["predict", str(tmp_path / "one.npy"), "--show", str(tmp_path / "show.png")]) == 0
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "show.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
