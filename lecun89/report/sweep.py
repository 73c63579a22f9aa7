"""Sweep summaries: ``summary.md``, ``summary.json`` and ``summary-test-error.png``.

:func:`report_sweep` reads the results.json of every run of a sweep (or a study)
and writes mean +- sample standard deviation (ddof=1) over seeds per (config,
variant), optionally sorted by any column, with the reference figures as
extra rows. (:mod:`lecun89.report.run`
writes the report of one run.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lecun89.version import __version__
from lecun89.errors import UserError
from lecun89.metrics import paper_mse
from lecun89.report.figures import fig_sweep
from lecun89.report.format import dump_json, finite, pct, write_text
from lecun89.report.references import load_references, references_for
from lecun89.report.run import REPORT_MD
from lecun89.rundir import read_json

SUMMARY_MD = "summary.md"


SUMMARY_JSON = "summary.json"


FIG_SWEEP = "summary-test-error.png"


SWEEP_FIELDS = (("test_error", "test error", "pct2"), ("train_error", "train error", "pct2"),
                ("rejection_at_1pct", "rejected for 1% error", "pct1"), ("seconds", "training seconds", "sec"))


# A second table: the paper also reports misses and the mean squared error (shown in the
# paper's convention, metrics.paper_mse, from results.json's mean over the outputs).
SWEEP_MORE = (("test_misses", "test misses", "count"), ("train_misses", "train misses", "count"),
              ("test_mse", "test MSE", "mse"), ("train_mse", "train MSE", "mse"))


# A column shown after the train error only when some run held out a validation split (data.validation).
VALIDATION_FIELD = ("validation_error", "validation error", "pct2")


# Columns the summary can be sorted by (``--sort``, a study's ``sort``; "-" first: descending).
SORT_KEYS = ("config", "variant", "data", "n") + tuple(k for k, _, _ in SWEEP_FIELDS + SWEEP_MORE) \
    + (VALIDATION_FIELD[0],)


def _stat(values: list[float]) -> dict:
    a = np.asarray([v for v in values if v is not None], dtype=float)
    return {"n": int(len(a)), "mean": float(a.mean()) if len(a) else None,
            "std": float(a.std(ddof=1)) if len(a) > 1 else None, "values": a.tolist()}


def _stat_table(groups: list[dict], fields) -> list[str]:
    """A markdown table: one row per (config, variant) group, mean ± std of each field;
    a variant column only when some group has a variant."""
    variants = any(g["variant"] for g in groups)
    lines = ["| config | " + ("variant | " if variants else "") + "data | n | "
             + " | ".join(lbl for _, lbl, _ in fields) + " |",
             "|---|" + ("---|" if variants else "") + "---|---:|" + "---:|" * len(fields)]
    for g in groups:
        lines.append(f"| {g['config_name']} | " + (f"{g['variant'] or '—'} | " if variants else "")
                     + f"{g['dataset']} | {g['n']} | "
                     + " | ".join(_fmt_stat(g[k], kind) for k, _, kind in fields) + " |")
    return lines


def check_sort(key: str | None, where: str) -> str | None:
    """``key`` when it names a summary column (:data:`SORT_KEYS`, "-" first for
    descending) or is None; else a one-line UserError (exit status 2) naming ``where``."""
    if key is None:
        return None
    if not isinstance(key, str) or key.lstrip("-") not in SORT_KEYS:
        raise UserError(f"{where}: {key!r} is not a summary column; one of {', '.join(SORT_KEYS)} "
                        "(a leading '-' sorts descending)", status=2)
    return key


def _sort_groups(groups: list[dict], sort: str | None) -> list[dict]:
    """Groups in first-seen order, or sorted by a column (groups without a value last)."""
    if not sort:
        return groups
    key = check_sort(sort, "sort").lstrip("-")
    field = {"config": "config_name", "data": "dataset"}.get(key, key)

    def value(g):
        v = g.get(field)
        return v["mean"] if isinstance(v, dict) else ("" if v is None else v)

    have = [g for g in groups if value(g) is not None]
    return sorted(have, key=value, reverse=sort.startswith("-")) + [g for g in groups if value(g) is None]


def _fmt_stat(s: dict, kind: str) -> str:
    if s["mean"] is None:
        return "—"
    if kind in ("sec", "count"):
        d = 1 if kind == "count" or s["mean"] >= 10 else 2
        f = lambda v: f"{v:.{d}f}"  # noqa: E731
    elif kind == "mse":  # the paper's MSE: half the mean over the outputs (std halves with it)
        mean, std = paper_mse(s["mean"]), paper_mse(s["std"])
        return f"{mean:.2e}" if std is None else f"{mean:.2e} ± {std:.1e}"
    else:
        d = 2 if kind == "pct2" else 1
        f = lambda v: f"{100 * v:.{d}f}"  # noqa: E731
    unit = "" if kind in ("sec", "count") else "%"
    return f"{f(s['mean'])}{unit}" if s["std"] is None else f"{f(s['mean'])} ± {f(s['std'])}{unit}"


def report_sweep(sweep_dir, run_dirs, report_paths: dict | None = None, sort: str | None = None) -> Path:
    """Write summary.md, summary.json and summary-test-error.png into ``sweep_dir``;
    returns summary.md's path. Runs are grouped by results.json's config name
    and variant (a study's label, none for a plain sweep), in first-seen order or
    sorted by the column ``sort`` (one of :data:`SORT_KEYS`, "-" first for
    descending); statistics are mean and sample standard deviation (ddof=1) over the seeds.
    Each run's row links ``report_paths[run_dir]`` if given, else its
    ``run_dir/report.md`` when that exists."""
    sweep_dir = Path(sweep_dir)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{sweep_dir}: cannot create the summary directory: {exc.strerror or exc}") from None
    run_dirs = [Path(d) for d in run_dirs]
    refs_all = load_references()
    runs, notes = _read_runs(sweep_dir, run_dirs, report_paths)
    if not runs:
        raise UserError(f"{sweep_dir}: no finished runs (no results.json in any of {len(run_dirs)} "
                        "run directories)")
    has_val = any("validation_error" in r for r in runs)
    fields = SWEEP_FIELDS[:2] + (VALIDATION_FIELD,) + SWEEP_FIELDS[2:] if has_val else SWEEP_FIELDS
    groups = _sort_groups(_groups(runs, fields, refs_all, notes), sort)
    runs_sorted = [r for g in groups for r in g.pop("_members")]
    ref_rows = [dict(refs_all["references"][i], id=i) for i in refs_all["sweep_rows"]]
    md = _summary_md(sweep_dir, runs, groups, runs_sorted, fields, ref_rows, notes, sort, has_val)
    fig_sweep(sweep_dir / FIG_SWEEP, groups, runs_sorted, refs_all, sweep_dir.name)
    summary = {"report_version": __version__, "std": "sample standard deviation (ddof=1); null for n = 1",
               "configs": groups, "runs": runs_sorted,
               "references": [{"id": r["id"], "label": r["label"], "source": r["source"],
                               "dataset": r.get("dataset"), "figures": r["figures"]} for r in ref_rows],
               "figure": FIG_SWEEP, "notes": notes}
    write_text(sweep_dir / SUMMARY_JSON, dump_json(summary))
    path = sweep_dir / SUMMARY_MD
    write_text(path, "\n".join(md) + "\n")
    return path


def _read_runs(sweep_dir: Path, run_dirs: list[Path], report_paths: dict | None) -> tuple[list[dict], list[str]]:
    """Each finished run's row for the summary (from its results.json), and notes on those left out."""
    notes: list[str] = []
    runs: list[dict] = []
    for d in run_dirs:
        d = Path(d)
        path = d / "results.json"
        if not path.is_file():
            notes.append(f"{_rel(d, sweep_dir)}: no results.json (not finished); left out.")
            continue
        r = read_json(path)
        missing = [k for k in ("config_name", "test_error", "train_error") if k not in r]
        if missing:
            raise UserError(f"{path}: missing key(s) {', '.join(missing)}; not a lecun89 results file")
        report = Path((report_paths or {}).get(d, d / REPORT_MD))
        arch_rows = r.get("architecture") or []
        arch = "fc" if any(a.get("layer") == "H1" and "x" not in str(a.get("shape", "")) for a in arch_rows) \
            else "net1989"
        runs.append({"config_name": r["config_name"], "variant": r.get("variant"), "seed": r.get("seed"),
                     "dataset": r.get("dataset"), "arch": arch, "overrides": r.get("overrides"),
                     "config_hash": r.get("config_hash"), "test_error": finite(r["test_error"]),
                     "train_error": finite(r["train_error"]), "rejection_at_1pct": finite(r.get("rejection_at_1pct")),
                     "seconds": finite(r.get("seconds")), "passes": r.get("passes"), "dir": _rel(d, sweep_dir),
                     **{k: finite(r.get(k)) for k, _, _ in SWEEP_MORE},
                     **({"validation_error": finite(r["validation_error"])} if "validation_error" in r else {}),
                     "report": _rel(report, sweep_dir) if report.is_file() else None})
    return runs, notes


def _groups(runs: list[dict], fields, refs_all: dict, notes: list[str]) -> list[dict]:
    """The (config, variant) groups in first-seen order, each with its statistics and
    members (``_members``); notes (appended to ``notes``) on groups that mix data sets or overrides."""
    order: list[tuple] = []
    for r in runs:
        if (r["config_name"], r["variant"]) not in order:
            order.append((r["config_name"], r["variant"]))
    groups = []
    for name, variant in order:
        members = sorted((r for r in runs if (r["config_name"], r["variant"]) == (name, variant)),
                         key=lambda r: (r["seed"] is None, r["seed"] if isinstance(r["seed"], int) else 0))
        who = name if variant is None else f"{name} [{variant}]"
        datasets = sorted({str(r["dataset"]) for r in members})
        if len(datasets) > 1:
            notes.append(f"{who}: runs on different data sets ({', '.join(datasets)}) are grouped together.")
        if len({json.dumps(r["overrides"], sort_keys=True) for r in members}) > 1:
            notes.append(f"{who}: runs with different overrides under the same label are grouped together.")
        g = {"config_name": name, "variant": variant, "dataset": ", ".join(datasets), "n": len(members),
             "references": [r["id"] for r in references_for(name, members[0]["arch"], refs_all)],
             "seeds": [r["seed"] for r in members]}
        for key, _, _ in fields + SWEEP_MORE:
            g[key] = _stat([r.get(key) for r in members])
        g["_members"] = members
        groups.append(g)
    return groups


def _summary_md(sweep_dir: Path, runs, groups, runs_sorted, fields, ref_rows, notes, sort, has_val) -> list[str]:
    """summary.md's lines: the statistics tables, the reference figures, every run, the notes."""
    variants = any(g["variant"] for g in groups)
    md = [f"# Sweep summary: {sweep_dir.name}", "",
          f"{len(runs)} run(s) of {len(groups)} {'(config, variant) group(s)' if variants else 'config(s)'}"
          + (f", sorted by {sort}" if sort else "") + ". Mean ± sample standard deviation (ddof=1) over "
          "seeds; n = number of seeds. Errors in percent of the test / training set"
          + (" / validation split (training digits held out, data.validation)" if has_val else "")
          + "; rejection: percent of "
          "the test digits rejected (smallest output gap first) to reach 1% error on the rest.", "",
          *_stat_table(groups, fields),
          "", "Misses (wrongly classified digits) and the paper's MSE (half the squared error against ±1 "
          "targets averaged over the 10 outputs, as SN2.8 printed it; — for logit outputs):", "",
          *_stat_table(groups, SWEEP_MORE)]
    md += ["", f"![Test error per config]({FIG_SWEEP})", "", "## Reference figures", "",
           "| reference | data | test error | train error | rejected for 1% error | source |",
           "|---|---|---:|---:|---:|---|"]
    for ref in ref_rows:
        f = ref["figures"]
        md.append(f"| {ref['label']} | {ref.get('dataset', '')} | {pct(f.get('test_error'))} | "
                  f"{pct(f.get('train_error'))} | {pct(f.get('rejection_at_1pct'), 1)} | {ref['source']} |")
    md += ["", "## Runs", "", "| config | " + ("variant | " if variants else "")
           + "seed | test error | train error | " + ("validation error | " if has_val else "")
           + "rejected for 1% error | seconds | report |",
           "|---|" + ("---|" if variants else "") + "---:|---:|---:|" + ("---:|" if has_val else "") + "---:|---:|---|"]
    for r in runs_sorted:
        link = f"[report]({r['report']})" if r["report"] else "—"
        secs = "—" if r["seconds"] is None else f"{r['seconds']:.{2 if r['seconds'] < 10 else 1}f}"
        md.append(f"| {r['config_name']} | " + (f"{r['variant'] or '—'} | " if variants else "")
                  + f"{r['seed']} | {pct(r['test_error'])} | {pct(r['train_error'])} | "
                  + (f"{pct(r.get('validation_error'))} | " if has_val else "")
                  + f"{pct(r['rejection_at_1pct'], 1)} | {secs} | {link} |")
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return md


def _rel(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()
    except ValueError:  # different drives
        return Path(path).as_posix()
