"""lecun89 report: run and sweep reports from synthetic run directories."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lecun89 import metrics
from lecun89.cli import main
from lecun89.report import OWN_FILES, load_references, references_for, report_run
from lecun89.report import find_sweep_runs, report_sweep
from lecun89.report.format import sci

NET1989_ARCH = [
    {"layer": "input", "shape": "1 x 16x16", "units": 256, "connections": 0, "params": 0},
    {"layer": "H1", "shape": "12 x 8x8", "units": 768, "connections": 19968, "params": 1068},
    {"layer": "H2", "shape": "12 x 4x4", "units": 192, "connections": 38592, "params": 2592},
    {"layer": "H3", "shape": "30", "units": 30, "connections": 5790, "params": 5790},
    {"layer": "out", "shape": "10", "units": 10, "connections": 310, "params": 310},
]
FC_ARCH = [
    {"layer": "input", "shape": "1 x 16x16", "units": 256, "connections": 0, "params": 0},
    {"layer": "H1", "shape": "40", "units": 40, "connections": 10280, "params": 10280},
    {"layer": "out", "shape": "10", "units": 10, "connections": 410, "params": 410},
]
BLOCK_TABLE = [list(range(0, 8))] * 4 + [list(range(4, 12))] * 4 + [[0, 1, 2, 3, 8, 9, 10, 11]] * 4


@pytest.fixture(autouse=True)
def _no_data(tmp_path_factory, monkeypatch):
    """No data set files and no array cache unless a test sets them."""
    monkeypatch.setenv("LECUN89_DATA", str(tmp_path_factory.mktemp("empty-data")))
    monkeypatch.setenv("LECUN89_CACHE", "off")


def fake_outputs(labels: np.ndarray, rng: np.random.Generator, p_wrong: float) -> np.ndarray:
    """Outputs in (-1, 1) whose argmax is the label except for about p_wrong of the digits."""
    n = len(labels)
    y = np.tanh(rng.normal(-1.2, 0.4, size=(n, 10)))
    y[np.arange(n), labels] = np.tanh(rng.normal(1.0, 0.5, size=n))
    wrong = rng.random(n) < p_wrong
    other = (labels + rng.integers(1, 10, size=n)) % 10
    y[wrong, other[wrong]] = np.minimum(0.999, y[wrong, labels[wrong]] + rng.uniform(0.01, 0.5, wrong.sum()))
    return y


def make_run(root: Path, name: str = "lecun1989", seed: int = 0, *, dataset: str = "usps", arch: str = "net1989",
             n_train: int = 300, n_test: int = 200, passes: int = 4, test_labels: np.ndarray | None = None,
             data_checksum: str = "ab" * 32, p_wrong: float = 0.06, loss: str = "mse") -> Path:
    """A run directory in the format `lecun89 train` writes, with random but consistent contents."""
    rng = np.random.default_rng([seed, len(name)])
    d = root / name / f"seed-{seed}"
    d.mkdir(parents=True)
    ytr = rng.integers(0, 10, n_train)
    yte = rng.integers(0, 10, n_test) if test_labels is None else np.asarray(test_labels, dtype=np.int64)
    otr = fake_outputs(ytr, rng, p_wrong / 3)
    ote = fake_outputs(yte, rng, p_wrong)
    np.savez(d / "outputs.npz", train_outputs=otr, train_labels=ytr, test_outputs=ote, test_labels=yte)
    (d / "config.toml").write_text(
        f'name = "{name}"\nseed = {seed}\n\n[data]\nname = "{dataset}"\nsubset = "paper"\nsubset_seed = 0\n\n'
        f'[model]\narch = "{arch}"\nactivation = "lecun"\n\n'
        f'[train]\npasses = {passes}\nbatch_size = 1\noptimizer = "sdlm"\nloss = "{loss}"\n')
    rows = []
    for p in range(1, passes + 1):
        f = 1.0 / p
        rows.append({"pass": p, "train_loss": 0.05 * f, "train_error": 0.1 * f, "test_loss": 0.07 * f,
                     "test_error": 0.12 * f, "train_mse": 0.05 * f, "test_mse": 0.07 * f, "lr": 1e-3 / p,
                     "seconds": 1.0 + 0.1 * p})
    rows[-1].update(train_error=metrics.error_rate(otr, ytr), test_error=metrics.error_rate(ote, yte),
                    train_mse=metrics.mse_pm1(otr, ytr), test_mse=metrics.mse_pm1(ote, yte))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    architecture = NET1989_ARCH if arch == "net1989" else FC_ARCH
    results = {
        "config_name": name, "config_hash": hashlib.sha256(f"{name}{seed}".encode()).hexdigest(),
        "dataset": dataset, "passes": passes,
        "train_error": metrics.error_rate(otr, ytr), "test_error": metrics.error_rate(ote, yte),
        "train_misses": metrics.misses(otr, ytr), "test_misses": metrics.misses(ote, yte),
        "train_mse": metrics.mse_pm1(otr, ytr), "test_mse": metrics.mse_pm1(ote, yte),
        "train_loss": rows[-1]["train_loss"], "test_loss": rows[-1]["test_loss"],
        "train_size": n_train, "test_size": n_test, "rejection_at_1pct": metrics.rejection_at(ote, yte, 0.01),
        "units": sum(r["units"] for r in architecture), "connections": sum(r["connections"] for r in architecture),
        "params": sum(r["params"] for r in architecture), "seconds": sum(r["seconds"] for r in rows),
        "seed": seed, "data_checksum": data_checksum, "architecture": architecture,
    }
    (d / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if arch == "net1989":
        model = {"H1.weight": rng.normal(0, 0.3, (12, 1, 5, 5)), "H1.bias": rng.normal(0, 0.1, (12, 8, 8)),
                 "H2.weight": rng.normal(0, 0.1, (12, 8, 5, 5)), "H2.table": np.array(BLOCK_TABLE),
                 "H2.bias": rng.normal(0, 0.1, (12, 4, 4)), "H3.weight": rng.normal(0, 0.1, (30, 192)),
                 "H3.bias": rng.normal(0, 0.1, 30), "out.weight": rng.normal(0, 0.2, (10, 30)),
                 "out.bias": rng.normal(0, 0.1, 10)}
    else:
        model = {"H1.weight": rng.normal(0, 0.1, (40, 256)), "H1.bias": rng.normal(0, 0.1, 40),
                 "out.weight": rng.normal(0, 0.2, (10, 40)), "out.bias": rng.normal(0, 0.1, 10)}
    model["config"] = np.array(json.dumps({"arch": arch, "activation": "lecun"}))
    np.savez(d / "model.npz", **model)
    (d / "meta.json").write_text(json.dumps({
        "versions": {"python": "3.11.7", "numpy": "2.0", "lecun89": "0.1.0"}, "git_commit": None, "seed": seed,
        "data_checksum": data_checksum, "threads": [{"internal_api": "openblas", "version": "0.3", "num_threads": 1}],
        "start": "2024-01-01T00:00:00+00:00", "end": "2024-01-01T00:01:00+00:00"}, indent=2))
    (d / "state.npz").write_bytes(b"resume state, not the report's")
    return d


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """One synthetic run, reported once, for the tests that only read the report."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LECUN89_DATA", str(tmp_path_factory.mktemp("empty-data")))
        mp.setenv("LECUN89_CACHE", "off")
        d = make_run(tmp_path_factory.mktemp("shared"), p_wrong=0.08)
        report_run(d)
    return d


def png_links(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def snapshot(d: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in d.iterdir() if p.is_file()}


# --- the run report ----------------------------------------------------------------

def test_report_numbers_match_the_run_files(reported):
    d = reported
    md_path = d / "report.md"
    rep = json.loads((d / "report.json").read_text())
    results = json.loads((d / "results.json").read_text())
    for k in ("train_error", "test_error", "train_misses", "test_misses", "train_mse", "test_mse",
              "train_size", "test_size"):
        assert rep["headline"][k] == results[k], k
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    for k in ("pass", "train_error", "test_error", "train_loss", "test_loss", "train_mse", "test_mse", "lr",
              "seconds"):
        assert rep["curves"][k] == [r[k] for r in rows], k
    assert rep["architecture"]["layers"] == results["architecture"]
    assert rep["architecture"]["totals"] == {"units": 1256, "connections": 64660, "params": 9760}
    z = np.load(d / "outputs.npz")
    cm = metrics.confusion_matrix(z["test_outputs"], z["test_labels"])
    assert rep["confusion_matrix"]["counts"] == cm.tolist()
    wrong = np.flatnonzero(z["test_outputs"].argmax(1) != z["test_labels"])
    assert [m["index"] for m in rep["misclassified"]["digits"]] == wrong.tolist()
    md = md_path.read_text()
    assert f"{100 * results['test_error']:.2f}% ({results['test_misses']} of 200)" in md
    assert "5.00% (102 of 2,007)" in md and "0.14% (10 of 7,291)" in md and "12.1%" in md
    assert "2.50e-03" in md and "1.80e-02" in md
    # One MSE convention, the paper's (half the mean over the outputs), the paper's figure
    # beside the run's in the same row; no other MSE row.
    paper = {"train": "2.50e-03", "test": "1.80e-02"}
    mse_rows = [ln for ln in md.splitlines() if ln.startswith("|") and " MSE" in ln.split("|")[1]]
    assert len(mse_rows) == 2
    for split in ("train", "test"):
        line = next(ln for ln in mse_rows if ln.startswith(f"| {split} MSE (the paper's"))
        assert line.split("|")[2:4] == [f" {metrics.paper_mse(results[f'{split}_mse']):.2e} ", f" {paper[split]} "]
    assert results["config_hash"] in md and results["data_checksum"] in md


def test_rejection_figure_is_recomputed_from_outputs(reported):
    d = reported
    rep = json.loads((d / "report.json").read_text())
    z = np.load(d / "outputs.npz")
    expected = metrics.rejection_at(z["test_outputs"], z["test_labels"], 0.01)
    assert rep["rejection"]["rejected_fraction"] == expected
    assert rep["headline"]["rejection_at_1pct"] == expected
    assert rep["rejection"]["source"] == "outputs.npz"
    rej, err = metrics.rejection_curve(z["test_outputs"], z["test_labels"])
    assert rep["rejection"]["curve"]["rejected_fraction"] == rej.tolist()
    assert rep["rejection"]["curve"]["error_among_accepted"] == err.tolist()
    assert rep["rejection"]["error_at_threshold"] <= 0.01
    assert f"{100 * expected:.1f}%" in (d / "report.md").read_text()


def test_linked_pngs_exist_and_are_not_empty(reported):
    d = reported
    md = (d / "report.md").read_text()
    links = png_links(md)
    assert {"report-curves.png", "report-confusion.png", "report-rejection.png", "report-kernels-H1.png",
            "report-kernels-H2.png"} <= set(links)
    for name in links:
        data = (d / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
    rep = json.loads((d / "report.json").read_text())
    assert sorted(rep["figures"]) == sorted(links)


def test_report_is_deterministic(tmp_path):
    d = make_run(tmp_path)
    report_run(d)
    first = {p.name: p.read_bytes() for p in d.glob("report*")}
    report_run(d)
    second = {p.name: p.read_bytes() for p in d.glob("report*")}
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name


def test_other_files_are_untouched(tmp_path):
    d = make_run(tmp_path)
    (d / "notes.txt").write_text("mine")
    (d / "report-mine.txt").write_text("also mine")
    before = snapshot(d)
    report_run(d)
    after = snapshot(d)
    for name, value in before.items():
        assert after[name] == value, name
    assert set(after) - set(before) <= set(OWN_FILES)


def test_digit_grid_skipped_with_a_note_without_data(reported):
    d = reported  # usps, LECUN89_DATA an empty folder
    md = (d / "report.md").read_text()
    rep = json.loads((d / "report.json").read_text())
    assert rep["misclassified"]["shown"] is False
    assert "digit grid is skipped" in rep["misclassified"]["note"]
    assert "digit grid is skipped" in md
    assert "report-misclassified.png" not in md
    assert not (d / "report-misclassified.png").exists()


def _digits_or_skip():
    from lecun89.data import load_dataset

    return load_dataset("digits")  # embedded in scikit-learn: always there


def test_digit_grid_drawn_when_the_data_matches(tmp_path):
    ds = _digits_or_skip()
    d = make_run(tmp_path, dataset="digits", n_test=len(ds.y_test), test_labels=ds.y_test,
                 data_checksum=ds.meta.get("checksum"))
    md = report_run(d).read_text()
    rep = json.loads((d / "report.json").read_text())
    assert rep["misclassified"]["shown"] is True
    assert "report-misclassified.png" in png_links(md)
    assert (d / "report-misclassified.png").stat().st_size > 1000


def test_digit_grid_skipped_when_labels_differ(tmp_path):
    ds = _digits_or_skip()
    labels = np.roll(np.asarray(ds.y_test), 1)
    d = make_run(tmp_path, dataset="digits", n_test=len(labels), test_labels=labels,
                 data_checksum=ds.meta.get("checksum"))
    md = report_run(d).read_text()
    assert "test labels of the loaded digits data" in md
    assert not (d / "report-misclassified.png").exists()


def test_fc_baseline_against_the_papers_fc_figures_into_out_dir(tmp_path):
    d = make_run(tmp_path, name="fc-baseline", arch="fc")
    before = snapshot(d)
    out = tmp_path / "elsewhere"
    path = report_run(d, out_dir=out)
    assert path == out / "report.md" and snapshot(d) == before
    md = path.read_text()
    rep = json.loads((out / "report.json").read_text())
    assert all((out / name).stat().st_size > 1000 for name in png_links(md))
    assert [r["id"] for r in rep["references"]] == ["paper-fc"]
    assert "8.10%" in md and "1.60%" in md and "19.4%" in md
    assert rep["kernels"]["layers"] == [] and "fully connected" in rep["kernels"]["note"]
    assert not any("kernels" in name for name in png_links(md))


def test_2022_configs_show_the_2022_figures(tmp_path):
    d = make_run(tmp_path, name="karpathy2022", dataset="mnist16")
    md = report_run(d).read_text()
    rep = json.loads((d / "report.json").read_text())
    assert [r["id"] for r in rep["references"]] == ["paper-net1989", "repro2022-1989"]
    assert "4.09%" in md and "0.62%" in md and "2022" in rep["verdict"]
    d2 = make_run(tmp_path, name="modern", dataset="mnist16", loss="ce")
    md2 = report_run(d2).read_text()
    assert "1.59%" in md2 and "cross-entropy" in md2


def test_verdict_states_the_band(reported):
    d = reported
    rep = json.loads((d / "report.json").read_text())
    te = rep["headline"]["test_error"]
    where = "inside" if 0.04 <= te <= 0.06 else ("below" if te < 0.04 else "above")
    assert f"{where} the 4.0%–6.0% comparison band" in rep["verdict"]
    assert rep["verdict"] in (d / "report.md").read_text()


def test_references_file_is_consistent():
    refs = load_references()
    ids = set(refs["references"])
    for entry in refs["references"].values():
        assert entry["source"] and entry["label"] and entry["short"] and entry["figures"]
        for k, v in entry["figures"].items():
            assert isinstance(v, (int, float)), k
    for lst in list(refs["configs"].values()) + list(refs["arch_default"].values()) + [refs["sweep_rows"]]:
        assert set(lst) <= ids
    paper = refs["references"]["paper-net1989"]["figures"]
    assert (paper["train_error"], paper["test_error"], paper["test_misses"], paper["rejection_at_1pct"]) == \
        (0.0014, 0.05, 102, 0.121)
    assert [r["id"] for r in references_for("quick", "net1989")] == ["paper-net1989"]
    assert [r["id"] for r in references_for("my-fc", "fc")] == ["paper-fc"]


# --- errors and the CLI ---------------------------------------------------------------

def test_cli_dir_without_results_is_a_one_line_error(tmp_path, capsys):
    d = tmp_path / "not-a-run"
    d.mkdir()
    (d / "config.toml").write_text('name = "x"\n')
    rc = main(["report", str(d)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1 and err[0].startswith("lecun89: error:") and "results.json" in err[0]


def test_cli_unreadable_file_names_it(tmp_path, capsys):
    d = make_run(tmp_path)
    (d / "outputs.npz").write_bytes(b"not a zip file")
    rc = main(["report", str(d)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "outputs.npz" in err[0] and err[0].startswith("lecun89: error:")
    (d / "outputs.npz").unlink()
    (d / "results.json").write_text("{broken")
    assert main(["report", str(d)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results.json" in err[0]


def test_cli_several_runs_with_out(tmp_path, capsys):
    a = make_run(tmp_path / "a", name="lecun1989", seed=0, passes=2)
    b = make_run(tmp_path / "b", name="lecun1989", seed=0, passes=2)
    before = snapshot(a)
    out = tmp_path / "reports"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    assert snapshot(a) == before
    made = sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("report.md"))
    assert len(made) == 2 and made[0] != made[1]
    assert not (a / "report.md").exists() and not (b / "report.md").exists()
    assert capsys.readouterr().out.count("report: ") == 2


def test_missing_optional_files_give_notes(tmp_path):
    d = make_run(tmp_path)
    for name in ("outputs.npz", "model.npz", "metrics.jsonl", "meta.json"):
        (d / name).unlink()
    md = report_run(d).read_text()
    rep = json.loads((d / "report.json").read_text())
    results = json.loads((d / "results.json").read_text())
    assert rep["rejection"]["source"] == "results.json"
    assert rep["headline"]["rejection_at_1pct"] == results["rejection_at_1pct"]
    assert png_links(md) == []
    assert "outputs.npz is missing" in md and "model.npz is missing" in md


# --- sweep summary ------------------------------------------------------------------

def test_sweep_summary_statistics(tmp_path):
    sweep = tmp_path / "sweep"
    dirs = [make_run(sweep, name=n, seed=s, passes=2, p_wrong=pw)
            for n, pw in (("lecun1989", 0.05), ("fc-baseline", 0.09)) for s in (0, 1, 2)]
    path = report_sweep(sweep, dirs)
    assert path == sweep / "summary.md"
    summary = json.loads((sweep / "summary.json").read_text())
    assert [g["config_name"] for g in summary["configs"]] == ["lecun1989", "fc-baseline"]
    for g in summary["configs"]:
        res = [json.loads((sweep / g["config_name"] / f"seed-{s}" / "results.json").read_text()) for s in (0, 1, 2)]
        assert g["n"] == 3 and g["seeds"] == [0, 1, 2]
        for key in ("test_error", "train_error", "rejection_at_1pct", "seconds", "test_misses", "train_misses",
                    "test_mse", "train_mse"):
            vals = np.array([r[key] for r in res])
            assert g[key]["mean"] == pytest.approx(np.mean(vals), rel=1e-12, abs=1e-15)
            assert g[key]["std"] == pytest.approx(np.std(vals, ddof=1), rel=1e-12, abs=1e-15)
    md = path.read_text()
    m = summary["configs"][0]["test_error"]
    assert f"{100 * m['mean']:.2f} ± {100 * m['std']:.2f}%" in md
    m = summary["configs"][1]["test_misses"]
    assert "| fc-baseline | " in md and f"{m['mean']:.1f} ± {m['std']:.1f} |" in md
    assert "5.00%" in md and "4.09%" in md and "8.10%" in md
    assert "![Test error per config](summary-test-error.png)" in md
    assert (sweep / "summary-test-error.png").stat().st_size > 1000
    first = {n: (sweep / n).read_bytes() for n in ("summary.md", "summary.json", "summary-test-error.png")}
    report_sweep(sweep, dirs)
    assert first == {n: (sweep / n).read_bytes() for n in first}


def test_cli_report_on_a_sweep_dir(tmp_path):
    sweep = tmp_path / "sweep"
    for s in (0, 1):
        make_run(sweep, name="lecun1989", seed=s, passes=2)
    (sweep / "lecun1989" / "seed-9").mkdir()  # unfinished: no results.json
    assert find_sweep_runs(sweep) == [sweep / "lecun1989" / "seed-0", sweep / "lecun1989" / "seed-1"]
    assert main(["report", str(sweep)]) == 0
    assert (sweep / "summary.md").is_file()
    assert (sweep / "lecun1989" / "seed-0" / "report.md").is_file()
    assert "[report](lecun1989/seed-0/report.md)" in (sweep / "summary.md").read_text()


# --- the learning curves: the paper's Figure 3, checked by its plotted numbers -------------

def check_figure3(d) -> None:
    """The curves figure draws the run's numbers in the paper's convention: its top
    panel the paper's MSE per pass (half the per-output MSE of metrics.jsonl), ending
    on the headline table's MSE; its bottom panel % error, ending on the table's
    errors; the paper's figures as its lines."""
    rep = json.loads((d / "report.json").read_text())
    results = json.loads((d / "results.json").read_text())
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    fig = rep["figure3"]
    top, bottom = fig["mse"], fig["error"]
    assert "the paper's" in top["ylabel"] and top["yscale"] == "log" and "error (%)" in bottom["ylabel"]
    passes = [float(r["pass"]) for r in rows]
    for split, name in (("train", "training"), ("test", "test")):
        mse = top["lines"][name]
        assert [x for x, _ in mse] == passes
        assert [y for _, y in mse] == pytest.approx([metrics.paper_mse(r[f"{split}_mse"]) for r in rows], rel=1e-12)
        assert mse[-1][1] == pytest.approx(metrics.paper_mse(results[f"{split}_mse"]), rel=1e-12)   # the table's
        assert sci(mse[-1][1]) in (d / "report.md").read_text()
        err = bottom["lines"][name]
        assert [y for _, y in err] == pytest.approx([100 * r[f"{split}_error"] for r in rows], rel=1e-12)
        assert err[-1][1] == pytest.approx(100 * results[f"{split}_error"], rel=1e-12)
    paper = {k: v for k, v in top["lines"].items() if "the paper" in k}
    assert sorted(v[0][1] for v in paper.values()) == [0.0025, 0.018]


def test_curves_are_figure3_in_the_papers_convention(reported):
    check_figure3(reported)
    md = (reported / "report.md").read_text()
    assert "The optimizer minimised the squared error averaged over the 10 outputs" in md


def test_figure3_check_fails_on_a_figure_in_other_units(tmp_path, monkeypatch):
    """A curves figure drawn in the per-output MSE (twice the paper's), as one was
    before, is a valid PNG well over 1 kB: the figure's numbers are what fail it."""
    from lecun89.report import figures

    d = make_run(tmp_path, p_wrong=0.08)
    monkeypatch.setattr(figures, "paper_mse", lambda v: v)
    report_run(d)
    assert (d / "report-curves.png").stat().st_size > 1000
    with pytest.raises(AssertionError):
        check_figure3(d)


def test_report_names_sn28s_cost(tmp_path):
    d = make_run(tmp_path, p_wrong=0.08)
    cfg = (d / "config.toml").read_text().replace('loss = "mse"\n', 'loss = "mse"\ncost_scale = "half_sum"\n')
    (d / "config.toml").write_text(cfg)
    report_run(d)
    md = (d / "report.md").read_text()
    assert "The optimizer minimised SN2.8's cost, E = ½ Σ over the 10 outputs" in md
    check_figure3(d)
