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


def test_the_results_are_the_replication_studys_runs():
    """docs/results.json holds one group per config of the replication study, with
    the study's seeds (the README's table is rendered from it, test above)."""
    import json

    from lecun89.studies import find_study, read_study

    res = json.loads((ROOT / "docs" / "results.json").read_text())
    study = read_study(find_study("replication"))
    seeds: dict[str, list] = {}
    for r in study.runs:
        seeds.setdefault(r.config.name, []).append(r.config.seed)
    assert {k: v["seeds"] for k, v in res["configs"].items()} == seeds
    assert all(v["n"] == len(v["seeds"]) for v in res["configs"].values())


def test_the_nearest_neighbour_row_is_recomputed(data_dir):
    import json

    from lecun89.data import load_dataset

    if not (data_dir / "usps" / "zip.train.gz").is_file():
        import pytest

        pytest.skip(f"no USPS files under {data_dir}")
    res = json.loads((ROOT / "docs" / "results.json").read_text())["nearest_neighbour"]
    assert _script().nearest_neighbour(data_dir) == res
    assert res["data_checksum"] == load_dataset("usps", data_dir).meta["checksum"]
