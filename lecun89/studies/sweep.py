"""``lecun89 sweep``: every config x seed (or a study file's runs) as its own run directory.

Layout: ``OUT/<config-name>/seed-<seed>/`` per run (a normal run directory; a
study's runs with a variant or grid values: ``OUT/<config-name>/<label>-<hash>/seed-<seed>/``,
see :mod:`lecun89.studies.spec`), and ``OUT/summary.md``, ``OUT/summary.json`` over
all of them. Runs execute as local processes or on a Dask cluster
(:mod:`lecun89.studies.executors`), each with one BLAS thread. A run whose results.json
is there for the same resolved config is skipped, and one that was interrupted
is resumed, so re-running an interrupted sweep finishes it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from lecun89 import rundir
from lecun89.config import Config, config_hash
from lecun89.errors import UserError
from lecun89.studies.spec import PlannedRun, Study, find_study, plain_study, read_study


def run_status(run_dir: Path, cfg: Config) -> str:
    """'done' (results for this exact config), 'partial' (resumable), 'new', or 'other'."""
    results = run_dir / rundir.RESULTS
    if results.is_file():
        try:
            r = rundir.read_json(results)
        except UserError:
            return "partial"
        if r.get("config_hash") == config_hash(cfg) and r.get("passes") == cfg.train.passes:
            return "done"
        return "other"
    if (run_dir / rundir.CONFIG).is_file():
        try:
            saved = rundir.read_config(run_dir / rundir.CONFIG)
        except UserError:
            return "other"
        return "partial" if config_hash(saved) == config_hash(cfg) else "other"
    if rundir.has_files(run_dir):
        return "other"
    return "new"


def _task(run: PlannedRun, run_dir: Path):
    """The executor's task for a planned run (resuming a partial one), None when it is done;
    a UserError when its directory holds another config's run."""
    from lecun89.studies.executors import Task

    status = run_status(run_dir, run.config)
    if status == "other":
        raise UserError(f"sweep: {run_dir} holds a run of a different config; "
                        "use another --out or remove it", status=2)
    return None if status == "done" else Task(run, run_dir, status == "partial")


def run_study(study: Study, out: Path, data_dir=None, jobs: int = 2, report: bool = True,
              progress: bool | None = None, executor: str = "local", scheduler: str | None = None,
              sort: str | None = None) -> list[Path]:
    """Run a study's runs not already done (see the module docstring) and write the summary."""
    from lecun89.studies import executors

    if executor == "dask":
        executors.require_distributed()
    plan = [_task(r, out / r.rel_dir) for r in study.runs]
    # Check the data of every config before starting anything (and keep it for Dask's workers).
    from lecun89.data import check_validation
    from lecun89.train import load_data

    datasets = {}
    for r in study.runs:
        key = executors.data_key(r.config)
        if key not in datasets:
            datasets[key] = load_data(r.config, data_dir)
        check_validation(r.config.data.validation, len(datasets[key].y_train), r.config.data.name)
    out.mkdir(parents=True, exist_ok=True)
    todo = [t for t in plan if t is not None]
    n, n_done = len(plan), len(plan) - len(todo)
    how = f"{jobs} process(es)" if executor == "local" else \
        (f"dask scheduler {scheduler}" if scheduler else f"dask LocalCluster, {jobs} worker(s)")
    what = (f"{study.source}: {study.n_configs} config(s), {study.n_cells} cell(s)"
            if study.n_cells != study.n_configs else f"{study.n_configs} config(s)")
    print(f"sweep: {what}, {n} runs in {out} ({n_done} already done), {how}", flush=True)
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, initial=n_done, desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True)
    say = print if bar is None else bar.write

    def on_done(task, r: dict) -> None:
        line = (f"{task.run.describe()}: test error {r['test_error']:.2%}, train error {r['train_error']:.2%}, "
                f"rejection {r['rejection_at_1pct']:.1%}, {r['seconds']:.1f}s")
        say(line)
        if bar is not None:
            bar.update(1)
        sys.stdout.flush()

    t0 = time.perf_counter()
    held = contextlib.ExitStack()  # the run directories this sweep writes, claimed for its process
    try:
        for t in todo:
            held.enter_context(rundir.claim(t.run_dir))
        # Claimed: what another process did to them before is settled (a run it finished is done).
        todo = [t for t in (_task(t.run, t.run_dir) for t in todo) if t is not None]
        if todo and executor == "dask":
            sent = executors.run_dask(todo, on_done, datasets={executors.data_key(t.run.config):
                                                               datasets[executors.data_key(t.run.config)]
                                                               for t in todo},
                                      scheduler=scheduler, jobs=jobs, report=report, say=say)
            say(f"dask: data {sent['data_bytes'] / 1e6:.1f} MB, scattered once to the workers; "
                f"{sent['task_bytes'] / max(1, len(todo)) / 1e3:.1f} kB per task; received "
                f"{sent['result_bytes'] / max(1, sent['tasks']) / 1e3:.0f} kB of files per run")
        elif todo:
            executors.run_local(todo, on_done, jobs=jobs, data_dir=data_dir, report=report, say=say)
    finally:
        held.close()
        if bar is not None:
            bar.close()
    if todo:
        print(f"sweep: {len(todo)} run(s) in {time.perf_counter() - t0:.1f} s", flush=True)
    run_dirs = [out / r.rel_dir for r in study.runs]
    write_summary(out, run_dirs, sort)
    return run_dirs


def write_summary(out: Path, run_dirs: list[Path], sort: str | None = None) -> Path:
    from lecun89.report import report_sweep

    path = report_sweep(out, run_dirs, sort=sort)
    print(f"summary: {path}")
    return path


def load_study(specs: list[str], sets: list[str], seeds: list[int] | None) -> Study:
    """The study a command line names: one study file, or configs x seeds."""
    studies = [find_study(s) for s in specs]
    if any(studies):
        if len(specs) > 1:
            raise UserError(f"sweep: {specs[[bool(s) for s in studies].index(True)]} is a study file; "
                            "a study runs alone (lecun89 sweep STUDY.toml)", status=2)
        return read_study(studies[0], sets, seeds)
    return plain_study(specs, seeds if seeds is not None else list(range(3)), sets)
