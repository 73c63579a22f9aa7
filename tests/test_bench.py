"""scripts/bench.py on a small subset (no timing is asserted: the machine may be
busy), and the speed docs as scripts/speed_doc.py makes them from the committed
run (docs/speed.json)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from lecun89.testing import REPO

BENCH = REPO / "scripts" / "bench.py"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"lecun89_script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_quick_runs_and_judges_every_target(data_dir, tmp_path):
    if not (data_dir / "usps" / "zip.train.gz").is_file():
        pytest.skip(f"USPS digits not found under {data_dir}")
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--repeat", "1", "--torch-configs", "float32",
         "--data-dir", str(data_dir), "--json", str(out_json)],
        capture_output=True, text=True, timeout=900, cwd=REPO)  # a cold numba compile inside
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for heading in ("### Targets", "### Passes and inference", "### lecun89's commands", "### Where the compiled step",
                    "### Where the numpy engine", "### Sanity"):
        assert heading in out
    assert "Machine:" in out and "Command:" in out and "--data-dir DIR" in out and str(data_dir) not in out
    res = json.loads(out_json.read_text())
    mac = res["macs_per_digit"]["useful"]
    assert (mac["forward"], mac["train"]) == (63_660, 171_780)
    peak = res["peak"]["float64_gflops"]
    for row in res["workloads"].values():  # the floor is the useful FLOPs at the measured peak; each run a multiple of it
        assert row["floor_seconds"] == pytest.approx(row["useful_flops"] / peak / 1e9)
        for t in row["runs"].values():
            assert t["x_floor"] == pytest.approx(t["best"] / row["floor_seconds"])
    w = res["workloads"]
    assert {"numpy", "numba"} <= set(w["sgd_b1"]["runs"]) and "torch:float32" in w["sgd_b1"]["runs"]
    assert res["inference"]["max_abs_diff"] < 1e-12
    assert len(res["breakdown"]["numba"]["pieces"]) == 12
    first = res["commands"]["first_train"]
    assert first["fresh"] > 0 and first["cached"] > 0 and 0 < first["start_to_first_digit"] < first["cached"]
    paper = res["commands"]["first_paper_run"]
    assert paper["from_cache"] is False and paper["beyond_training"] == pytest.approx(paper["wall"] - paper["training"])
    targets = {t["what"]: t for t in res["targets"]}
    assert len(targets) == 13
    for t in targets.values():  # each judged where measured, against its limit
        assert (t["met"] is None) == (t["value"] is None)
        if t["value"] is not None:
            assert t["met"] == (t["value"] >= t["limit"] if t["op"] == ">=" else t["value"] <= t["limit"])
    assert targets["compiled SGD pass, multiple of its floor"]["value"] == w["sgd_b1"]["runs"]["numba"]["x_floor"]
    assert all(c["ok"] for c in res["checks"].values()) and "PyTorch float32" in res["checks"]


def test_h2_groups_follow_the_table():
    torch_peer = _script("bench_torch")
    from lecun89.config import BLOCK_TABLE

    assert torch_peer.h2_groups(BLOCK_TABLE) == [(0, 4, [(0, 8)]), (4, 8, [(4, 12)]), (8, 12, [(0, 4), (8, 12)])]
    full = [list(range(12))] * 12
    assert torch_peer.h2_groups(full) == [(0, 12, [(0, 12)])]


def test_the_speed_docs_are_what_the_committed_run_gives():
    """docs/speed.md's and the README's speed tables are made from docs/speed.json
    (python scripts/speed_doc.py), none copied by hand; the record names no
    place on the machine it ran on."""
    doc = _script("speed_doc")
    text = doc.JSON.read_text()
    assert "/work/" not in text and "/tmp/" not in text and "/home/" not in text
    res = json.loads(text)
    for path in doc.DOCS:
        page = path.read_text()
        assert doc.fill(page, res) == page, f"{path.name} is stale: python scripts/speed_doc.py"
    speed = (REPO / "docs" / "speed.md").read_text()
    for name in ("speed-machine", "speed-targets", "speed-workloads", "speed-commands", "speed-pieces", "speed-numpy"):
        block = doc._block_re(name).search(speed)
        assert block and block.group(2).strip(), name  # every block there, and filled
    assert doc._block_re("speed-readme").search((REPO / "README.md").read_text()).group(2).startswith("- **Fast**")
    assert len(res["targets"]) == 13 and all(t["met"] is not None for t in res["targets"])  # a full run: all measured
