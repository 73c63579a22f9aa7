"""``lecun89 sweep CONFIG|STUDY...``: every config x seed, or a study file's runs, each its own run directory."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from lecun89.cli.args import add_data_dir, add_no_progress, add_set, add_sort


def parse_seeds(args) -> list[int] | None:
    """--seeds / --seed-list, or None when neither is given."""
    from lecun89.errors import UserError

    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--seed-list {args.seed_list!r}: expected integers separated by commas, e.g. 1,2,3",
                            status=2) from None
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise UserError(f"--seed-list {args.seed_list!r}: expected distinct integers >= 0, e.g. 1,2,3",
                            status=2)
        return seeds
    if args.seeds is None:
        return None
    if args.seeds < 1:
        raise UserError(f"--seeds: must be >= 1, got {args.seeds}", status=2)
    return list(range(args.seeds))


def run(args) -> int:
    from lecun89.errors import UserError
    from lecun89.report import check_sort
    from lecun89.studies.sweep import load_study, run_study

    if args.jobs < 1:
        raise UserError(f"--jobs: must be >= 1, got {args.jobs}", status=2)
    executor = args.executor or ("dask" if args.scheduler else "local")
    if args.scheduler and executor != "dask":
        raise UserError("--scheduler needs --executor dask", status=2)
    seeds = parse_seeds(args)
    study = load_study(args.configs, args.set, seeds)
    sort = check_sort(args.sort, "--sort") or study.sort
    if args.out:
        out = Path(args.out)
    elif study.out:
        out = Path(study.out)
    else:
        out = Path("runs") / f"sweep-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    run_study(study, out, args.data_dir, args.jobs, report=not args.no_report,
              progress=False if args.no_progress else None, executor=executor, scheduler=args.scheduler,
              sort=sort)
    return 0


def add_parser(sub) -> None:
    from lecun89.studies.executors import EXECUTORS

    p = sub.add_parser("sweep", help="run a study (configs x variants x seeds), locally or on a Dask cluster",
                       description="Run every config with every seed, or every run of a study file (configs, "
                                   "a grid of overrides, named variants, seeds), as its own run directory "
                                   "under OUT, with a summary; re-running the same command resumes an "
                                   "interrupted sweep. Runs execute as local processes or on Dask.")
    p.add_argument("configs", nargs="+", metavar="CONFIG|STUDY",
                   help="config files or names, or one study file (a bare name: a shipped study)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: the study's, else 3)")
    g.add_argument("--seed-list", help="explicit seeds, e.g. 1,2,3")
    add_set(p, "in every run; wins over the study file")
    p.add_argument("--out", help="sweep directory (default: the study's 'out', else runs/sweep-<timestamp>)")
    p.add_argument("--executor", choices=EXECUTORS,
                   help="local processes (default) or Dask (needs the dask extra)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="dask: an existing cluster's scheduler (default: a LocalCluster of --jobs workers)")
    p.add_argument("--jobs", type=int, default=2,
                   help="local processes, or a LocalCluster's worker processes (default 2)")
    add_sort(p)
    add_data_dir(p)
    add_no_progress(p)
    p.add_argument("--no-report", action="store_true", help="no per-run reports")
    p.set_defaults(func=run)
