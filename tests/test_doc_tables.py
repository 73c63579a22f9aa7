"""The README's and docs' figures made from the shipped files are what those files give
(scripts/doc_tables.py; run it after re-shipping a model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("doc_tables", ROOT / "scripts" / "doc_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_generated_blocks_are_current():
    assert _script().stale() == [], "run: python scripts/doc_tables.py"


def test_a_hand_edited_number_is_found_stale():
    dt = _script()
    page = (ROOT / "docs" / "predict.md").read_text()
    body = dt.models_predict()
    assert dt.render(page, "models-predict", body, "docs/predict.md") == page
    edited = page.replace(body.splitlines()[2], body.splitlines()[2].replace("%", "0%", 1))
    assert edited != page
    assert dt.render(edited, "models-predict", body, "docs/predict.md") == page  # put back by the generator
