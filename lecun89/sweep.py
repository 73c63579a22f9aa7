"""``lecun89 sweep``: every config x seed as its own run directory, in parallel.

Layout: ``OUT/<config-name>/seed-<seed>/`` per run (a normal run directory),
and ``OUT/summary.md``, ``OUT/summary.json`` over all of them. Each run is a
separate process with one BLAS thread. A run whose results.json is there for
the same resolved config is skipped, and one that was interrupted is resumed,
so re-running an interrupted sweep finishes it.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from lecun89.config import Config, config_hash, load_config
from lecun89.errors import UserError


def _parse_seeds(args) -> list[int]:
    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--seed-list {args.seed_list!r}: expected integers separated by commas, e.g. 1,2,3",
                            status=2) from None
        if not seeds or len(set(seeds)) != len(seeds):
            raise UserError(f"--seed-list {args.seed_list!r}: expected distinct integers, e.g. 1,2,3", status=2)
        return seeds
    if args.seeds < 1:
        raise UserError(f"--seeds: must be >= 1, got {args.seeds}", status=2)
    return list(range(args.seeds))


def run_status(run_dir: Path, cfg: Config) -> str:
    """'done' (results for this exact config), 'partial' (resumable), 'new', or 'other'."""
    results = run_dir / "results.json"
    if results.is_file():
        try:
            r = json.loads(results.read_text())
        except (OSError, json.JSONDecodeError):
            return "partial"
        if r.get("config_hash") == config_hash(cfg) and r.get("passes") == cfg.train.passes:
            return "done"
        return "other"
    if (run_dir / "config.toml").is_file():
        from lecun89.config import config_from_dict, read_toml

        try:
            saved = config_from_dict(read_toml(run_dir / "config.toml"))
        except UserError:
            return "other"
        return "partial" if config_hash(saved) == config_hash(cfg) else "other"
    if run_dir.exists() and any(run_dir.iterdir()):
        return "other"
    return "new"


def _worker(cfg: Config, run_dir: str, data_dir, resume: bool, report: bool) -> dict:
    from lecun89.train import run_training

    results = run_training(cfg, Path(run_dir), data_dir, resume=resume, quiet=True, progress=False)
    if report:
        try:
            from lecun89.report import report_run
        except ImportError:
            pass
        else:
            report_run(Path(run_dir), data_dir=data_dir)
    return results


def run_sweep(configs: list[Config], seeds: list[int], out: Path, data_dir=None, jobs: int = 2,
              report: bool = True, progress: bool | None = None) -> list[Path]:
    import dataclasses

    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise UserError(f"sweep: two configs share the name {sorted({n for n in names if names.count(n) > 1})}; "
                        "give them distinct names (the top-level 'name' key)", status=2)
    plan = []
    for cfg in configs:
        for seed in seeds:
            c = dataclasses.replace(cfg, seed=seed)
            run_dir = out / c.name / f"seed-{seed}"
            status = run_status(run_dir, c)
            if status == "other":
                raise UserError(f"sweep: {run_dir} holds a run of a different config; "
                                "use another --out or remove it", status=2)
            plan.append((c, run_dir, status))
    # Check the data of every config before starting anything.
    from lecun89.train import load_data

    for key in {(c.data.name, c.data.subset, c.data.subset_seed) for c, _, _ in plan}:
        load_data(next(c for c, _, _ in plan if (c.data.name, c.data.subset, c.data.subset_seed) == key),
                  data_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [(c, d, s) for c, d, s in plan if s != "done"]
    print(f"sweep: {len(configs)} config(s) x {len(seeds)} seed(s) = {len(plan)} runs in {out} "
          f"({len(plan) - len(todo)} already done), {jobs} process(es)", flush=True)
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc="sweep", unit="run", file=sys.stderr)
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_worker, c, str(d), data_dir, s == "partial", report): (c, d)
                       for c, d, s in todo}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        c, d = futures[f]
                        r = f.result()
                        line = (f"{c.name} seed {c.seed}: test error {r['test_error']:.2%}, "
                                f"train error {r['train_error']:.2%}, rejection {r['rejection_at_1pct']:.1%}, "
                                f"{r['seconds']:.1f}s")
                        if bar is not None:
                            bar.write(line)
                            bar.update(1)
                        else:
                            print(line, flush=True)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
    if bar is not None:
        bar.close()
    run_dirs = [d for _, d, _ in plan]
    write_summary(out, run_dirs)
    return run_dirs


def write_summary(out: Path, run_dirs: list[Path]) -> Path:
    from lecun89.sweep_report import report_sweep

    path = report_sweep(out, run_dirs)
    print(f"summary: {path}")
    return path


def _run(args) -> int:
    seeds = _parse_seeds(args)
    configs = [load_config(p, args.set) for p in args.configs]
    if args.jobs < 1:
        raise UserError(f"--jobs: must be >= 1, got {args.jobs}", status=2)
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    run_sweep(configs, seeds, out, args.data_dir, args.jobs, report=not args.no_report,
              progress=False if args.no_progress else None)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run configs x seeds in parallel, with a summary",
                       description="Run every config with every seed as its own run directory under OUT, "
                                   "in parallel processes; re-running the same command resumes an "
                                   "interrupted sweep.")
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="config files")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    g.add_argument("--seed-list", help="explicit seeds, e.g. 1,2,3")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a key in every config (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--out", help="sweep directory (default: runs/sweep-<timestamp>)")
    p.add_argument("--data-dir", help="data directory (default: $LECUN89_DATA, else the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="no per-run reports")
    p.set_defaults(func=_run)
