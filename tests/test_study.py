"""Study files (lecun89 sweep STUDY.toml): reading and checking them, run
directory names, the summary by (config, variant), shipped studies, and the
executor choice. Runs here use the local executor; the Dask executor's tests
are in test_dask.py."""

from __future__ import annotations

import importlib.resources
import json
import sys
from pathlib import Path

import pytest

from lecun89.cli import main
from lecun89.config import CONFIG_DIR, load_config, shipped_configs
from lecun89.studies.spec import find_study, read_study, shipped_studies

REPO = Path(__file__).resolve().parent.parent

STUDY = """# A test study.
configs = ["quick"]
seeds = 2
out = "from-the-file"
[set]
train.passes = 1
[grid]
train.lr = [0.01, 0.03]
[variants.fixed]
[variants.shuffled]
train.order = "shuffle"
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LECUN89_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- reading a study -------------------------------------------------------------

def test_a_study_expands_to_configs_x_variants_x_grid_x_seeds(tmp_path):
    s = read_study(_write(tmp_path, STUDY))
    assert len(s.runs) == 2 * 2 * 2 and s.n_cells == 4 and s.out == "from-the-file"
    first = s.runs[0]
    assert first.variant == "fixed, train.lr=0.01" and first.overrides == {"train.lr": 0.01}
    assert first.rel_dir.startswith("quick/fixed+lr=0.01-") and first.rel_dir.endswith("/seed-0")
    assert first.config == load_config("quick", ["train.passes=1", "train.lr=0.01"], seed=0)
    last = s.runs[-1]
    assert last.variant == "shuffled, train.lr=0.03" and last.config.train.order == "shuffle"
    assert last.overrides == {"train.order": "shuffle", "train.lr": 0.03}
    assert len({r.rel_dir for r in s.runs}) == 8
    # The same file read again gives the same directories (names are a function of the overrides).
    assert [r.rel_dir for r in read_study(tmp_path / "study.toml").runs] == [r.rel_dir for r in s.runs]


def test_the_command_line_overrides_the_file(tmp_path):
    path = _write(tmp_path, STUDY)
    s = read_study(path, sets=["train.lr=0.1", "train.passes=2"], seeds=[7])
    # --set on a key the grid varies replaces that axis: one value, no longer in the names
    assert [r.variant for r in s.runs] == ["fixed", "shuffled"]
    assert all(r.config.train.lr == 0.1 and r.config.train.passes == 2 and r.config.seed == 7 for r in s.runs)
    assert [r.rel_dir.rsplit("/", 1)[1] for r in s.runs] == ["seed-7", "seed-7"]


def test_seeds_per_config_and_plain_layout(tmp_path):
    (tmp_path / "mine.toml").write_text('name = "mine"\n[train]\npasses = 1\n')
    sub = tmp_path / "studies"
    sub.mkdir()
    (sub / "mine.toml").write_text('name = "mine-beside-the-study"\n[train]\npasses = 1\n')
    path = _write(sub, 'configs = ["quick", "mine.toml"]\nseeds = [3, 5]\n[seeds_by_config]\nquick = 1\n')
    s = read_study(path)
    # a path is relative to the study file; a bare name is a shipped config
    assert [r.rel_dir for r in s.runs] == ["quick/seed-0", "mine-beside-the-study/seed-3",
                                           "mine-beside-the-study/seed-5"]
    assert all(r.variant is None and r.extra_results() is None for r in s.runs)


def test_long_labels_are_shortened_and_kept_unique(tmp_path):
    s = read_study(_write(tmp_path, 'configs = ["quick"]\nseeds = 1\n[grid]\n'
                                    '"train.lr_steps" = [[[1, 0.01], [0, 0.001]], [[1, 0.01], [0, 0.002]]]\n'
                                    '"model.h2_table" = ["full"]\n"train.schedule" = ["step"]\n'))
    names = [r.rel_dir.split("/")[1] for r in s.runs]
    assert len(set(names)) == 2 and all(len(n) <= 48 + 9 for n in names), names
    assert all(n.startswith("lr_steps=1,0.01,0,0.00") for n in names)
    assert s.runs[0].variant == "train.lr_steps=[[1,0.01],[0,0.001]], model.h2_table=full, train.schedule=step"


BAD = [
    ('configs = ["quick"]\nsedes = 3\n', "unknown key 'sedes'"),
    ('configs = []\n', "'configs' must be a non-empty list"),
    ('seeds = 2\n', "'configs' must be a non-empty list"),
    ('configs = ["quick"]\nseeds = 0\n', "study.toml: seeds: expected a number of seeds >= 1"),
    ('configs = ["quick"]\nseeds = [1, 1]\n', "list of distinct integers"),
    ('configs = ["nope"]\n', "no shipped config of that name"),
    ('configs = ["quick"]\n[grid]\n', "[grid]: the grid is empty"),
    ('configs = ["quick"]\n[grid]\ntrain.lr = []\n', "[grid] train.lr: expected a non-empty list of values"),
    ('configs = ["quick"]\n[grid]\ntrain.lr = 0.1\n', "[grid] train.lr: expected a non-empty list of values"),
    ('configs = ["quick"]\n[grid]\ntrain.lr = [0.1, "fast"]\n', "[grid] train.lr: train.lr: expected a number, got 'fast'"),
    ('configs = ["quick"]\n[grid]\ntrain.lrr = [0.1]\n', "[grid]: unknown key 'train.lrr'; allowed in [train]:"),
    ('configs = ["quick"]\n[grid]\nseed = [1, 2]\n', "[grid]: 'seed' cannot be set here"),
    ('configs = ["quick"]\n[grid]\nmodel.dropout = [0.5, 1.5]\n', "model.dropout: must be in [0, 1), got 1.5"),
    ('configs = ["quick"]\n[set]\ntrain.passes = "two"\n', "[set]: train.passes: expected an integer"),
    ('configs = ["quick"]\n[variants]\n', "[variants]: no variants"),
    ('configs = ["quick"]\n[variants.a]\ntrain.lr = 0.1\n[variants.a]\ntrain.lr = 0.2\n', "invalid TOML"),
    ('configs = ["quick"]\n[variants.a]\ntrain.lr = 0.1\n[variants.b]\ntrain.lr = 0.1\n',
     "quick [a] seed 0 and quick [b] seed 0 are the same run"),
    ('configs = ["quick"]\n[variants."a b"]\n', "[variants.a b]: a variant name is 1-40 letters"),
    ('configs = ["quick"]\n[variants.a]\ntrain.optimizr = "sgd"\n', "[variants.a]: unknown key 'train.optimizr'"),
    ('configs = ["quick"]\n[grid]\ntrain.lr = [0.1, 0.2]\n[variants.a]\ntrain.lr = 0.1\n',
     "[variants.a]: sets train.lr, which [grid] also varies"),
    ('configs = ["quick"]\n[grid]\ntrain.lr = [0.1, 0.1]\n', "are the same run"),
    ('configs = ["quick"]\n[grid]\ntrain.loss = ["ce"]\n[set]\ntrain.cost_scale = "half_sum"\n',
     "study.toml: config quick [train.loss=ce]: train.cost_scale"),
    ('configs = ["quick"]\nsort = "speed"\n', "study.toml: sort: 'speed' is not a summary column"),
    ('configs = ["quick"]\n[seeds_by_config]\nlecun1989 = 3\n', "[seeds_by_config] lecun1989: no config of that name"),
    ('configs = ["quick", "quick"]\n', "two configs share the name quick"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_a_bad_study_is_refused_before_anything_runs(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lecun89: error: ") and message in err[0], err
    assert str(path) in err[0] or "no shipped config" in err[0]
    assert not (tmp_path / "out").exists()


def test_bad_command_lines_are_refused(tmp_path, capsys, monkeypatch):
    path = _write(tmp_path, STUDY)
    for args, message in (
        (["sweep", str(path), "quick"], "a study runs alone"),
        (["sweep", str(path), "--sort", "nope"], "--sort: 'nope' is not a summary column"),
        (["sweep", str(path), "--executor", "local", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
        (["sweep", str(path), "--set", "train.lr=fast"], "train.lr: expected a number, got 'fast'"),
        (["report", str(tmp_path), "--sort", "nope"], "--sort: 'nope' is not a summary column"),
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (args, err)
    assert not (tmp_path / "from-the-file").exists()
    # Without Dask installed, asking for it says how to install it.
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert main(["sweep", str(path), "--executor", "dask"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e '.[dask]'" in err[0] and "dask[distributed]" in err[0]
    assert main(["sweep", "quick", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "needs Dask's distributed scheduler" in capsys.readouterr().err


# --- running a study -------------------------------------------------------------

def test_a_study_runs_resumes_and_is_summarised_by_config_and_variant(tmp_path, capsys):
    path = _write(tmp_path, STUDY.replace("seeds = 2", "seeds = 1"))
    assert main(["sweep", str(path), "--no-report", "--jobs", "2", "--sort", "test_error"]) == 0
    out = tmp_path / "from-the-file"
    stdout = capsys.readouterr().out
    assert "1 config(s), 4 cell(s), 4 runs in from-the-file (0 already done)" in stdout
    assert "quick [shuffled, train.lr=0.03] seed 0: test error" in stdout
    runs = sorted(p.parent for p in out.glob("quick/*/seed-0/results.json"))
    assert len(runs) == 4
    results = {json.loads((d / "results.json").read_text())["variant"]: json.loads((d / "results.json").read_text())
               for d in runs}
    assert results["shuffled, train.lr=0.01"]["overrides"] == {"train.order": "shuffle", "train.lr": 0.01}
    summary = json.loads((out / "summary.json").read_text())
    groups = summary["configs"]
    assert [g["n"] for g in groups] == [1, 1, 1, 1]
    errors = [g["test_error"]["mean"] for g in groups]
    assert errors == sorted(errors)  # --sort test_error
    assert {g["variant"] for g in groups} == set(results)
    md = (out / "summary.md").read_text()
    assert "| config | variant | data | n |" in md and "| quick | fixed, train.lr=0.01 | digits | 1 |" in md
    assert "sorted by test_error" in md
    # The same command again: every run done, nothing rerun.
    before = {d: (d / "results.json").stat().st_mtime_ns for d in runs}
    assert main(["sweep", str(path), "--no-report"]) == 0
    assert "(4 already done)" in capsys.readouterr().out
    assert before == {d: (d / "results.json").stat().st_mtime_ns for d in runs}
    # lecun89 report finds runs three levels down and sorts as asked.
    assert main(["report", str(out), "--sort=-test_error"]) == 0
    groups = json.loads((out / "summary.json").read_text())["configs"]
    assert [g["test_error"]["mean"] for g in groups] == sorted(errors, reverse=True)
    assert (runs[0] / "report.md").is_file()


def test_a_plain_sweep_keeps_its_layout_and_results(tmp_path, capsys):
    assert main(["sweep", "quick", "--seed-list", "4", "--set", "train.passes=1", "--no-report",
                 "--out", "plain"]) == 0
    r = json.loads((tmp_path / "plain" / "quick" / "seed-4" / "results.json").read_text())
    assert "variant" not in r and "overrides" not in r and r["seed"] == 4
    md = (tmp_path / "plain" / "summary.md").read_text()
    assert "| config | data | n |" in md and "variant" not in md


def test_run_files_from_a_worker_replace_a_partial_run_whole(tmp_path):
    from lecun89.studies.executors import write_run_files

    run = tmp_path / "out" / "quick" / "seed-0"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("partial\n")
    (run / "state.npz").write_text("old state")
    write_run_files(run, {"metrics.jsonl": b"done\n", "results.json": b"{}"})
    assert sorted(p.name for p in run.iterdir()) == ["metrics.jsonl", "results.json"]
    assert (run / "metrics.jsonl").read_text() == "done\n"
    assert sorted(p.name for p in run.parent.iterdir()) == ["seed-0"]  # nothing left in transit
    with pytest.raises(ValueError):
        write_run_files(run, {"../escape": b""})


# --- shipped studies ---------------------------------------------------------------

def test_shipped_studies_ship_in_the_package_and_resolve_by_name(tmp_path):
    installed = importlib.resources.files("lecun89.configs").joinpath("studies")
    files = {p.name: p.read_bytes() for p in installed.iterdir() if p.name.endswith(".toml")}
    repo = {p.name: p.read_bytes() for p in (REPO / "configs" / "studies").glob("*.toml")}
    assert files == repo and "replication.toml" in files
    assert not set(shipped_studies()) & set(shipped_configs())  # a bare name means one thing
    for name, path in shipped_studies().items():
        assert find_study(name) == path and find_study(f"{name}.toml") == path
        assert read_study(path).runs  # every shipped study reads and checks
    assert find_study("quick") is None and find_study(str(CONFIG_DIR / "quick.toml")) is None


def test_the_replication_study_is_the_runs_replicate_sh_made_before():
    """The same runs as the three sweeps scripts/replicate.sh ran before (20, 10 and 5
    seeds), in the same directories, so earlier replication outputs resume; then
    the validated recipe's 10 seeds (issue 25)."""
    s = read_study(shipped_studies()["replication"])
    before = ([("lecun1989", n) for n in range(20)] + [("lecun1989-lenet5", n) for n in range(10)]
              + [(c, n) for c in ("lecun1989-sgd", "fc-baseline", "karpathy2022", "modern", "modern-usps",
                                  "modern-usps-tuned") for n in range(5)]
              + [("usps-validated", n) for n in range(10)])
    assert [r.rel_dir for r in s.runs] == [f"{c}/seed-{n}" for c, n in before]
    assert [r.config for r in s.runs] == [load_config(c, seed=n) for c, n in before]
    assert s.out == "runs/replication"
    assert "sweep replication" in (REPO / "scripts" / "replicate.sh").read_text()
