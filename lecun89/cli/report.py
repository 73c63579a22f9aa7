"""``lecun89 report RUN_DIR...``: the report of each run, or of each run of a sweep and its summary."""

from __future__ import annotations

import os
from pathlib import Path

from lecun89.cli.args import add_data_dir, add_sort


def _unique_names(dirs: list[Path]) -> list[str]:
    """Short, distinct folder names for ``--out`` with several runs: the shortest
    unique tails of their paths, joined with '-'."""
    parts = [Path(os.path.abspath(d)).parts for d in dirs]
    for k in range(1, max(len(p) for p in parts) + 1):
        names = ["-".join(p[-k:]).strip("/") or "run" for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"run-{i}" for i in range(len(dirs))]


def _run(args) -> int:
    from lecun89.report import check_sort, find_runs, report_run, report_sweep

    check_sort(args.sort, "--sort")
    dirs = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else None
    targets = _unique_names(dirs) if len(dirs) > 1 else [None]
    for d, sub in zip(dirs, targets, strict=True):
        target = None if out is None else (out / sub if sub else out)
        if d.is_dir() and not (d / "results.json").exists():
            runs = find_runs(d)
            if runs:
                paths = {}
                for r in runs:
                    rel = Path(os.path.relpath(r, d))
                    paths[r] = report_run(r, None if target is None else target / rel, args.data_dir)
                    print(f"report: {paths[r]}")
                path = report_sweep(d if target is None else target, runs, paths, sort=args.sort)
                print(f"summary: {path}")
                continue
        path = report_run(d, target, args.data_dir)
        print(f"report: {path}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="Markdown report of a run (or a sweep) beside the paper's figures",
                       description="Write report.md, report.json and report-*.png for each run directory "
                                   "(from its files alone; the data set is needed only for the "
                                   "misclassified-digit images). A directory holding no results.json but "
                                   "run directories below it is treated as a sweep: each run's report plus "
                                   "summary.md, summary.json and summary-test-error.png.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by 'lecun89 train'")
    p.add_argument("--out", help="write the report here instead of into the run directory "
                                 "(several runs: one subfolder per run)")
    add_data_dir(p, "only the misclassified-digit images need it")
    add_sort(p)
    p.set_defaults(func=_run)
