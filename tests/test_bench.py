"""Smoke test of scripts/bench.py: it runs on a small subset and prints its
table. No timing is asserted (the machine may be busy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "scripts" / "bench.py"


def test_bench_quick_runs_and_prints_table(data_dir, tmp_path):
    if not (data_dir / "usps" / "zip.train.gz").is_file():
        pytest.skip(f"USPS digits not found under {data_dir}")
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--repeat", "1", "--torch-configs", "float32",
         "--data-dir", str(data_dir), "--json", str(out_json)],
        capture_output=True, text=True, timeout=300, cwd=REPO)  # a cold numba compile inside
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "| workload | lecun89 numpy engine s | lecun89 numba engine s |" in out
    assert "floor (float64 peak)" in out and "x floor" in out
    for label in ("SGD pass, batch 1, 1,000 digits", "SGD pass, batch 32, 1,000 digits", "inference, 1,000 digits"):
        assert label in out
    assert "Machine:" in out and "Command:" in out
    assert "SDLM passes at batch 1" in out and "| `lecun1989` | running |" in out
    assert "| H2 |" in out and "**whole step, as the loop runs it**" in out
    res = json.loads(out_json.read_text())
    assert res["sdlm"]["lecun1989"]["ratio_to_sgd_b1"] > 0
    assert res["macs_per_digit"]["useful"]["forward"] == 63_660
    assert res["macs_per_digit"]["useful"]["train"] == 171_780
    assert res["peak"]["float64_gflops"] > 0 and res["peak"]["float32_gflops"] > 0
    for row in res["workloads"].values():
        assert row["lecun89_float64"]["best"] > 0
        # the floor is the useful FLOPs at the measured peak; each run a multiple of it
        assert row["floor_seconds"] == pytest.approx(row["useful_flops"] / res["peak"]["float64_gflops"] / 1e9)
        assert row["lecun89_float64"]["x_floor"] == pytest.approx(row["lecun89_float64"]["best"] / row["floor_seconds"])
    numba = res.get("numba")
    if numba is not None:  # the compiled engine's rows, its inference and its pieces
        assert res["workloads"]["train_b1"]["lecun89_numba"]["best"] == numba["sgd_b1"]["best"]
        assert numba["infer_max_abs_diff"] < 1e-12
        assert numba["compile"]["cold"] > 0 and len(numba["breakdown"]["pieces"]) == 9
        assert res["sdlm_floor"]["numba"]["x_floor"] > 0
        # issue 23's ratios, in the same run
        i23 = res["issue23"]
        inf = res["workloads"]["infer"]["lecun89_numba"]
        assert i23["infer_x_floor"]["value"] == pytest.approx(inf["best"] / res["workloads"]["infer"]["floor_seconds"])
        assert i23["infer_x_floor"]["met"] == (i23["infer_x_floor"]["value"] <= 3.0)
        assert i23["modern_usps_speedup"]["value"] == pytest.approx(
            numba["modern_usps"]["numpy"]["best"] / numba["modern_usps"]["numba"]["best"])
        assert numba["lecun1989_with_evals"]["best"] > 0
        if "lecun1989_vs_torch" in i23:
            assert i23["lecun1989_vs_torch"]["value"] > 0
        assert "The compiled engine's targets (issue 23)" in out and "compiled inference <= 3x floor" in out
    for key in ("train_b1", "train_b32", "infer"):
        bd = res["breakdown"][key]
        assert 0 < bd["blas_us"] < bd["sum_us"] and bd["whole_step_us"] > 0


def test_h2_groups_follow_the_table():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import bench
    finally:
        sys.path.pop(0)
    from lecun89.config import BLOCK_TABLE

    assert bench._h2_groups(BLOCK_TABLE) == [(0, 4, [(0, 8)]), (4, 8, [(4, 12)]), (8, 12, [(0, 4), (8, 12)])]
    full = [list(range(12))] * 12
    assert bench._h2_groups(full) == [(0, 12, [(0, 12)])]
