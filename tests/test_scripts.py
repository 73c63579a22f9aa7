"""The scripts in scripts/ that tests can run cheaply.

scripts/fidelity.py: its study (26 variants, 180 USPS runs) takes hours, so the
test swaps in two variants of the quick config (embedded digits, one pass) and
runs its training step, ``run``, which writes the sweep's summary.
"""

from __future__ import annotations

import argparse
import importlib.util
import json

import pytest

from lecun89.config import CONFIG_DIR
from lecun89.testing import REPO


def load_script(name: str):
    """scripts/<name>.py as a module of its own (not importable by name)."""
    path = REPO / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lecun89_script_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fidelity(monkeypatch):
    module = load_script("fidelity")
    monkeypatch.setattr(module, "BASE", CONFIG_DIR / "quick.toml")
    monkeypatch.setattr(module, "VARIANTS", [
        ("one", "plain", "the quick config", ["train.passes=1"], [0, 1]),
        ("one", "shuffled", "reshuffled every pass", ["train.passes=1", "train.order=shuffle"], [0]),
        ("two", "lr-0.01", "learning rate 0.01", ["train.passes=1", "train.lr=0.01"], [1]),
    ])
    return module


def _summary(out) -> tuple[dict, str]:
    s = json.loads((out / "summary.json").read_text())
    return {g["config_name"]: g["seeds"] for g in s["configs"]}, (out / "summary.md").read_text()


def test_fidelity_summary_covers_every_variant(fidelity, tmp_path):
    out = tmp_path / "fidelity"
    args = argparse.Namespace(out=out, data_dir=None, jobs=2, only=["one"])
    assert fidelity.run(args) == ["plain", "shuffled"]
    groups, md = _summary(out)
    assert groups == {"plain": [0, 1], "shuffled": [0]}
    assert "3 run(s) of 2 config(s)" in md
    assert sorted(p.parent.relative_to(out).as_posix() for p in out.glob("*/seed-*/results.json")) == [
        "plain/seed-0", "plain/seed-1", "shuffled/seed-0"]

    # Another group later: the summary is over every variant's runs in OUT, not this call's alone.
    args.only = ["two"]
    assert fidelity.run(args) == ["lr-0.01"]
    groups, md = _summary(out)
    assert groups == {"plain": [0, 1], "shuffled": [0], "lr-0.01": [1]}
    assert "4 run(s) of 3 config(s)" in md

    # Everything at once: nothing left to train, the same summary.
    args.only = None
    assert fidelity.run(args) == ["plain", "shuffled", "lr-0.01"]
    assert _summary(out) == (groups, md)


def test_fidelity_only_names_a_group(fidelity, tmp_path):
    from lecun89.errors import UserError

    args = argparse.Namespace(out=tmp_path, data_dir=None, jobs=1, only=["nope"])
    with pytest.raises(UserError, match="no such group; one of one, two"):
        fidelity.run(args)


def test_the_fidelity_study_stays_on_the_numpy_engine(monkeypatch):
    """docs/fidelity.md was made on the numpy engine; its command still runs there
    (the default engine, compiled, would give other runs), but a variant may
    name its own."""
    monkeypatch.delenv("LECUN89_ENGINE", raising=False)
    module = load_script("fidelity")
    runs = module.plan().runs
    numba = module.plan(["bias"]).runs  # the last leads: their group on the compiled engine, baseline included
    assert len(runs) == 180 and len(numba) == 40 and {r.config.train.engine for r in numba} == {"numba"}
    assert {r.config.train.engine for r in runs if r not in numba} == {"numpy"}
    assert len([r for r in runs if r.config.train.engine == "numpy"]) == 140
    assert module.variant_config("x", ["train.engine=numba"]).train.engine == "numba"
