"""docs/tutorial.ipynb stays true: run, its outputs are the committed ones (what the
code prints today). Needs the notebook extra (pip install -e ".[notebook]"); skips without it."""

from __future__ import annotations

import pytest

pytest.importorskip("nbclient", reason="the notebook extra is not installed (pip install -e \".[notebook]\")")
pytest.importorskip("nbformat", reason="the notebook extra is not installed (pip install -e \".[notebook]\")")
pytest.importorskip("ipykernel", reason="the notebook extra is not installed (pip install -e \".[notebook]\")")

from lecun89.testing import REPO, execute_notebook, notebook_outputs  # noqa: E402

NOTEBOOK = REPO / "docs" / "tutorial.ipynb"


def test_tutorial_prints_what_is_committed():
    import nbformat

    committed = nbformat.read(str(NOTEBOOK), as_version=4)
    ran = execute_notebook(NOTEBOOK)
    want, got = notebook_outputs(committed), notebook_outputs(ran)
    assert len(want) == len(got)
    for i, (a, b) in enumerate(zip(want, got, strict=True)):
        assert a == b, f"code cell {i + 1} prints otherwise today: run python scripts/tutorial.py"
    assert not any(o.startswith("error:") for cell in got for o in cell)
    assert "<image/png>" in [o for cell in got for o in cell]   # the Figure 3 it draws


def test_a_changed_output_is_found(tmp_path):
    """The comparison fails on a notebook whose committed output is not today's."""
    import nbformat

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "read_digit" in c.source)
    cell.outputs[0]["text"] = cell.outputs[0]["text"].replace("read 7", "read 1")
    assert notebook_outputs(nb) != notebook_outputs(nbformat.read(str(NOTEBOOK), as_version=4))
