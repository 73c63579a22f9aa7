"""Start-up: a command imports the heavy libraries it uses and no others.

``lecun89 train`` on the default ``quick`` config (the numpy engine, the
embedded digits already in the array cache) needs numpy and scipy's BLAS and
sparse matrices, not scikit-learn (its version for meta.json comes from the
package metadata), matplotlib (no report asked for) or numba (not its engine).
A compiled run loads numba, still neither of the others. No timing is asserted:
the figures are the benchmark's (scripts/bench.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "matplotlib", "numba", "torch", "jax", "PIL")


def _imported(args: list[str], tmp_path) -> list[str]:
    code = ("import sys; from lecun89.cli import main; status = main(sys.argv[1:]); "
            f"print('IMPORTED', sorted(m for m in {HEAVY!r} if m in sys.modules)); sys.exit(status)")
    env = {k: v for k, v in os.environ.items() if k != "LECUN89_ENGINE"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("IMPORTED"))
    return json.loads(line.split(" ", 1)[1].replace("'", '"'))


@pytest.fixture(scope="module", autouse=True)
def digits_in_the_cache():
    from lecun89.data import load_dataset

    load_dataset("digits")  # the first load builds the array cache with scikit-learn; later ones read it


def test_the_default_train_imports_neither_sklearn_nor_matplotlib_nor_numba(tmp_path):
    args = ["train", "--set", "train.passes=1", "--no-report", "--no-progress", "--out", str(tmp_path / "r")]
    assert _imported(args, tmp_path) == []
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert meta["engine"] == {"name": "numpy"} and meta["versions"]["scikit-learn"]


def test_a_compiled_run_imports_numba_and_nothing_else_heavy(tmp_path):
    pytest.importorskip("numba", reason="numba cannot be loaded here")
    args = ["train", "--set", "train.passes=1", "--set", "train.engine=numba", "--no-report", "--no-progress",
            "--out", str(tmp_path / "r")]
    assert _imported(args, tmp_path) == ["numba"]
