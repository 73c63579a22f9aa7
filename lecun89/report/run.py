"""The report of one run: a Markdown report of a finished run, next to the paper's figures.

:func:`report_run` reads a run directory (written by ``lecun89 train``) and
writes, into the run directory or ``out_dir``:

- ``report.md``: headline numbers beside the paper's (and, for the 2022
  replication's configs, that replication's), a one-line comparison, the
  architecture table, learning curves, confusion matrix, rejection curve,
  misclassified test digits, learned kernels and provenance;
- ``report.json``: every number ``report.md`` shows;
- ``report-*.png``: the figures ``report.md`` links.

Nothing is retrained: everything comes from the run directory, except the
digit images of the misclassified-digit grid, which need the data set (the
grid is skipped with a note when it cannot be loaded or its test labels differ
from the run's). The reference figures live in ``lecun89/references.json``,
each with its source. Output is deterministic: the same run directory gives
byte-identical ``report.md``/``report.json`` (and PNGs, which carry no date or
software metadata). Only the files named above are written or replaced.

A sweep's summary (``summary.md``, ``summary.json``, ``summary-test-error.png``)
is written by :mod:`lecun89.report.sweep`; ``lecun89 report SWEEP_DIR`` writes both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lecun89 import metrics
from lecun89.version import __version__
from lecun89.losses import training_loss
from lecun89.metrics import TARGET_ERROR
from lecun89.errors import UserError
from lecun89.report.figures import (cost_name, fig_confusion, fig_curves, fig_kernels, fig_misclassified,
                                    fig_rejection)
from lecun89.report.format import architecture_table, architecture_totals, count, dump_json, error_cell, finite, jsonable, one_line, pct, points, sci, write_text
from lecun89.report.references import references_for
from lecun89.rundir import METRIC_KEYS, read_run

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
FIG_CURVES = "report-curves.png"
FIG_CONFUSION = "report-confusion.png"
FIG_REJECTION = "report-rejection.png"
FIG_MISSES = "report-misclassified.png"
FIG_KERNELS = "report-kernels-{layer}.png"
# Every file name a report may write; a name it does not write this time
# (e.g. the digit grid, now skipped) is removed so no stale figure remains.
OWN_FILES = (REPORT_MD, REPORT_JSON, FIG_CURVES, FIG_CONFUSION, FIG_REJECTION, FIG_MISSES,
             FIG_KERNELS.format(layer="H1"), FIG_KERNELS.format(layer="H2"))

MAX_GRID = 120               # misclassified digits shown at most
HEADLINE_KEYS = ("train_error", "test_error", "train_misses", "test_misses", "train_size", "test_size",
                 "train_mse", "test_mse", "rejection_at_1pct")
# With a validation split (data.validation), also these; absent otherwise.
VALIDATION_KEYS = ("validation_error", "validation_misses", "validation_size", "validation_mse", "validation",
                   "validation_seed", "validation_indices_sha256")
VALIDATION_CURVES = ("validation_loss", "validation_error", "validation_mse")


def _load_test_images(results: dict, config: dict | None, labels: np.ndarray, data_dir, data=None):
    """``(x_test, None)`` or ``(None, note)`` explaining why the digit grid is skipped;
    ``data``: the run's already loaded data set (a sweep's worker has no data files)."""
    data_cfg = (config or {}).get("data", {}) if isinstance(config, dict) else {}
    name = data_cfg.get("name", results.get("dataset"))
    subset = data_cfg.get("subset", "paper")
    subset_seed = data_cfg.get("subset_seed", 0)
    how = "re-run 'lecun89 report' with --data-dir pointing at the data to get it"
    from lecun89.data import load_dataset

    try:
        ds = data if data is not None else load_dataset(name, data_dir, subset=subset, subset_seed=subset_seed)
    except Exception as exc:  # noqa: BLE001 (UserError (files absent or bad) or anything else: never fail the report)
        return None, f"The digit grid is skipped: the {name} data could not be loaded ({one_line(exc)}); {how}."
    y = np.asarray(ds.y_test)
    if y.shape != labels.shape or not np.array_equal(y, labels):
        return None, (f"The digit grid is skipped: the test labels of the loaded {name} data "
                      f"({len(y):,} digits) differ from outputs.npz's ({len(labels):,}); "
                      "the images would not be the run's digits.")
    want = results.get("data_checksum")
    have = (getattr(ds, "meta", None) or {}).get("checksum")
    if want and have and want != have:
        return None, (f"The digit grid is skipped: the loaded {name} data has checksum {have[:12]}..., "
                      f"the run's is {want[:12]}... (different preprocessing or files).")
    x = np.asarray(ds.x_test)
    if x.shape[0] != len(labels) or x[0].size != 256:
        return None, f"The digit grid is skipped: the {name} test images have shape {x.shape}, expected (N, 1, 16, 16)."
    return x, None


def _conv_layers(model: dict, arch_rows: list[dict]) -> list[str]:
    """Names of the layers with 4-D (convolution) weights, in network order."""
    order = [r.get("layer") for r in arch_rows]
    names = [k[:-len(".weight")] for k, v in model.items() if k.endswith(".weight") and v.ndim == 4]
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _headline_table(results: dict, rej: float, refs: list[dict]) -> list[str]:
    head = "| | this run | " + " | ".join(r["label"] for r in refs) + " |"
    lines = [head, "|---|" + "---:|" * (1 + len(refs))]

    def row(label, run_cell, ref_cell):
        lines.append(f"| {label} | {run_cell} | " + " | ".join(ref_cell(r["figures"]) for r in refs) + " |")

    splits = ("train", "validation", "test") if "validation_error" in results else ("train", "test")
    for split in splits:
        row(f"{split} error (misses)",
            error_cell(results.get(f"{split}_error"), results.get(f"{split}_misses"), results.get(f"{split}_size")),
            lambda f, s=split: error_cell(f.get(f"{s}_error"), f.get(f"{s}_misses"), f.get(f"{s}_size")))
    # The paper's MSE (metrics.paper_mse: half the mean over the outputs, as SN2.8
    # printed it), the paper's own figures beside it in the same convention.
    for split in splits:
        row(f"{split} MSE (the paper's: ½ mean of (y − t)² over the outputs)",
            sci(finite(metrics.paper_mse(results.get(f"{split}_mse")))),
            lambda f, s=split: sci(f.get(f"{s}_half_mse")))
    row(f"rejected for {pct(TARGET_ERROR, 0)} test error", pct(rej, 1),
        lambda f: pct(f.get("rejection_at_1pct"), 1))
    return lines


def _verdict(results: dict, rej: float, refs: list[dict]) -> str:
    te = results["test_error"]
    dataset = results.get("dataset")
    parts = []
    for k, ref in enumerate(refs):
        figs = ref["figures"]
        if "test_error" not in figs:
            continue
        rv = figs["test_error"]
        if k == 0:
            s = f"Test error {pct(te)} vs {pct(rv)} in {ref['short']} ({points(te - rv)}"
            band = ref.get("test_error_band")
            if band:
                lo, hi = band
                where = "inside" if lo - 1e-12 <= te <= hi + 1e-12 else ("below" if te < lo else "above")
                s += f", {where} the {pct(lo, 1)}–{pct(hi, 1)} comparison band"
            s += ")"
        else:
            s = f"vs {pct(rv)} in {ref['short']}: {points(te - rv)}"
        if ref.get("dataset") and dataset and ref["dataset"] != dataset:
            s += f" [reference on {ref['dataset']}, this run on {dataset}]"
        if k == 0 and "rejection_at_1pct" in figs:
            s += f"; rejected for 1% error: {pct(rej, 1)} vs {pct(figs['rejection_at_1pct'], 1)}"
        parts.append(s)
    if not parts:
        return f"Test error {pct(te)}; no reference test error to compare with."
    return "; ".join(parts) + "."


def _arch_lines(arch: list[dict], refs: list[dict]) -> list[str]:
    lines = architecture_table(arch)
    tot = architecture_totals(arch)
    for ref in refs[:1]:
        figs = ref["figures"]
        have = [(k, w) for k, w in (("units", "units"), ("connections", "connections"), ("params", "free parameters"))
                if k in figs]
        if have:
            same = all(tot[k] == figs[k] for k, _ in have)
            desc = ", ".join(f"{figs[k]:,} {w}" for k, w in have)
            lines += ["", f"{ref['label']}: {desc} ({'the same totals' if same else 'different totals'})."]
    return lines


def _config_line(config: dict | None, results: dict) -> str:
    c = config or {}
    m, t, d = c.get("model", {}), c.get("train", {}), c.get("data", {})
    bits = []
    if m:
        bits.append(f"{m.get('arch', '?')} ({m.get('activation', '?')} units)")
    ds = d.get("name", results.get("dataset"))
    sub = f", subset {d.get('subset')} seed {d.get('subset_seed')}" if ds == "mnist16" and d else ""
    val = ""
    if "validation_size" in results:
        val = (f" / {count(results.get('validation_size'))} validation (held out of training, "
               f"seed {results.get('validation_seed')})")
    bits.append(f"{ds}{sub}: {count(results.get('train_size'))} train{val} / {count(results.get('test_size'))} test digits")
    if t:
        bits.append(f"{t.get('optimizer', '?')}, {t.get('loss', '?')} loss, batch {t.get('batch_size', '?')}, "
                    f"{t.get('passes', results.get('passes'))} passes")
    return " · ".join(bits)


def _provenance(results: dict, meta: dict | None) -> dict:
    meta = meta or {}
    threads = meta.get("threads")
    blas = None
    if isinstance(threads, list):
        blas = ", ".join(f"{t.get('internal_api')} {t.get('version')} ({t.get('num_threads')} thread(s))"
                         for t in threads if isinstance(t, dict)) or None
    return {
        "config_name": results.get("config_name"),
        "config_hash": results.get("config_hash") or meta.get("config_hash"),
        "dataset": results.get("dataset"),
        "data_checksum": results.get("data_checksum") or meta.get("data_checksum"),
        "seed": results.get("seed", meta.get("seed")),
        "passes": results.get("passes"),
        "training_seconds": finite(results.get("seconds")),
        "versions": meta.get("versions"),
        "git_commit": meta.get("git_commit"),
        "start": meta.get("start"),
        "end": meta.get("end"),
        "blas": blas,
        "report_version": __version__,
    }


def _provenance_lines(p: dict) -> list[str]:
    lines = ["| | |", "|---|---|"]
    rows = [("config", f"`{p['config_name']}`"), ("config hash", f"`{p['config_hash']}`" if p["config_hash"] else "—"),
            ("data set", p["dataset"]), ("data checksum (sha256)", f"`{p['data_checksum']}`" if p["data_checksum"] else "—"),
            ("seed", p["seed"]), ("passes", p["passes"]),
            ("training time", "—" if p["training_seconds"] is None else f"{p['training_seconds']:.1f} s")]
    if isinstance(p["versions"], dict):
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in p["versions"].items())))
    rows += [("git commit", f"`{p['git_commit']}`" if p["git_commit"] else "—"),
             ("run started / ended", f"{p['start'] or '—'} / {p['end'] or '—'}"),
             ("BLAS", p["blas"] or "—"), ("report written by", f"lecun89 {p['report_version']}")]
    lines += [f"| {k} | {'—' if v is None else v} |" for k, v in rows]
    return lines


@dataclass
class Page:
    """What the sections of one run's report share: the run as read, where the
    figures go, the references, the figures written so far and the notes."""
    run: dict
    out: Path
    refs: list[dict]
    who: str
    notes: list[str]
    written: list[str] = field(default_factory=list)

    @property
    def results(self) -> dict:
        return self.run["results"]

    @property
    def config(self) -> dict | None:
        return self.run["config"]


def report_run(run_dir, out_dir=None, data_dir=None, data=None) -> Path:
    """Write report.md, report.json and the report-*.png figures of a run; returns report.md's path.
    ``data``: the run's data set, already loaded (else it is loaded from ``data_dir`` for the digit grid)."""
    run = read_run(run_dir)
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the report directory: {exc.strerror or exc}") from None
    results, config = run["results"], run["config"]
    arch_name = ((config or {}).get("model") or {}).get("arch")
    if arch_name is None:
        arch_name = "fc" if any(r.get("layer") == "H1" and "x" not in str(r.get("shape", ""))
                                for r in results.get("architecture", [])) else "net1989"
    refs = references_for(results["config_name"], arch_name)
    name, seed = results["config_name"], results.get("seed")
    who = f"{name}, seed {seed}" if seed is not None else name
    page = Page(run, out, refs, who, list(run["notes"]))
    rep: dict = {"report_version": __version__, "run": {"config_name": name, "seed": seed,
                 "dataset": results.get("dataset"), "arch": arch_name, "passes": results.get("passes")}}

    rej, rejection = _rejection(page)
    md = _headline_section(page, rej, rep)
    md += _architecture_section(page, rep)
    md += _curves_section(page, rep)
    md += _confusion_and_rejection_section(page, rej, rejection, rep)
    md += _misclassified_section(page, data_dir, data, rep)
    md += _kernels_section(page, rep)
    md += _provenance_section(page, rep)

    # remove stale figures of a previous report that this one does not draw
    for fname in OWN_FILES:
        if fname.endswith(".png") and fname not in page.written:
            (out / fname).unlink(missing_ok=True)
    write_text(out / REPORT_JSON, dump_json(rep))
    md_path = out / REPORT_MD
    write_text(md_path, "\n".join(md).rstrip("\n") + "\n")
    return md_path


def _rejection(page: Page) -> tuple[float | None, dict]:
    """The rejection for 1% error: recomputed from outputs.npz when it is there, else results.json's."""
    results, outputs, notes = page.results, page.run["outputs"], page.notes
    rej_results = finite(results.get("rejection_at_1pct"))
    rejection: dict = {"target_error": TARGET_ERROR, "results_json": rej_results}
    if outputs is not None:
        y, lab = outputs["test_outputs"], outputs["test_labels"]
        rej_curve, err_curve = metrics.rejection_curve(y, lab)
        rej = metrics.rejection_at(y, lab, TARGET_ERROR)
        ok = np.flatnonzero(np.isclose(rej_curve, rej, rtol=0, atol=1e-12))
        err_at = float(err_curve[ok[0]]) if rej < 1.0 and len(ok) else None
        rejection.update({"rejected_fraction": rej, "error_at_threshold": err_at, "source": "outputs.npz",
                          "curve": {"rejected_fraction": rej_curve, "error_among_accepted": err_curve}})
        if rej_results is not None and abs(rej_results - rej) > 1e-9:
            notes.append(f"results.json gives {pct(rej_results, 2)} rejected for 1% error, the outputs in "
                         f"outputs.npz give {pct(rej, 2)}; the report shows the latter.")
        if metrics.misses(y, lab) != results["test_misses"]:
            notes.append(f"outputs.npz has {metrics.misses(y, lab)} test misses, results.json "
                         f"{results['test_misses']}: the files are from different evaluations.")
    else:
        rej = rej_results
        rejection.update({"rejected_fraction": rej, "error_at_threshold": None, "source": "results.json",
                          "curve": None})
    return rej, rejection


def _headline_section(page: Page, rej: float | None, rep: dict) -> list[str]:
    """The title, the config, the verdict against the references and the headline table."""
    results, refs = page.results, page.refs
    headline = {k: jsonable(results.get(k)) for k in HEADLINE_KEYS}
    headline["rejection_at_1pct"] = rej
    headline.update({k: jsonable(results.get(k)) for k in VALIDATION_KEYS if k in results})
    verdict = _verdict(results, rej if rej is not None else float("nan"), refs)
    rep.update({"headline": headline, "verdict": verdict,
                "references": [{"id": r["id"], "label": r["label"], "source": r["source"],
                                "dataset": r.get("dataset"), "figures": r["figures"],
                                "test_error_band": r.get("test_error_band"), "band_source": r.get("band_source")}
                               for r in refs]})
    md = [f"# Run report: {page.who}", "", _config_line(page.config, results), "", f"**{verdict}**", "",
          "## Headline figures", ""]
    md += _headline_table(results, rej, refs)
    md += ["", "Sources:"]
    for r in refs:
        band = ""
        if r.get("test_error_band"):
            band = f" Comparison band {pct(r['test_error_band'][0], 1)}–{pct(r['test_error_band'][1], 1)}: {r['band_source']}."
        md.append(f"- {r['label']}: {r['source']}.{band}")
    md += ["- This run: results.json (errors, misses, MSE); the rejection figure is recomputed from outputs.npz "
           "(rejecting the digits with the smallest gap between the two most active outputs, thresholds set "
           "on the test set, as the paper did).", ""]
    return md


def _architecture_section(page: Page, rep: dict) -> list[str]:
    results = page.results
    arch = results.get("architecture") or []
    rep["architecture"] = {"layers": arch, "totals": {k: results.get(k) for k in ("units", "connections", "params")}}
    md = ["## Architecture", ""]
    md += _arch_lines(arch, page.refs) if arch else ["results.json has no architecture table."]
    md.append("")
    return md


def _curves_section(page: Page, rep: dict) -> list[str]:
    md = ["## Learning curves", ""]
    rows = page.run["metrics"]
    logits = ((page.config or {}).get("model") or {}).get("output_activation") == "none"
    loss_kind, _ = training_loss(page.config, logits)
    loss_name = {"mse": "MSE", "ce": "cross-entropy"}.get(loss_kind, loss_kind)
    if rows:
        curves = {"pass": [int(r["pass"]) for r in rows]}
        for k in METRIC_KEYS:
            curves[k] = [finite(r.get(k)) for r in rows]
        if any("validation_error" in r for r in rows):
            for k in VALIDATION_CURVES:
                curves[k] = [finite(r.get(k)) for r in rows]
        rep["curves"] = curves
        rep["figure3"] = fig_curves(page.out / FIG_CURVES, curves, page.refs, loss_name,
                                    f"{page.who}: learning curves")
        page.written.append(FIG_CURVES)
        last = rows[-1]
        cost = cost_name((page.config or {}).get("train"))
        rep["cost"] = cost
        shown = ("the paper's MSE (SN2.8's printed: half the mean over the outputs)" if loss_name == "MSE"
                 else "that cost")
        md += [f"![Learning curves as the paper's Figure 3: log MSE and % error per pass]({FIG_CURVES})", "",
               f"After pass {last['pass']}: train error {pct(finite(last.get('train_error')))}, "
               + (f"validation error {pct(finite(last.get('validation_error')))}, " if "validation_error" in curves else "")
               + "test error "
               f"{pct(finite(last.get('test_error')))}. The optimizer minimised {cost}: train "
               f"{sci(finite(last.get('train_loss')))}, test {sci(finite(last.get('test_loss')))} after the last "
               f"pass; the figure's top panel is {shown}. Per-pass numbers: report.json, `curves`; the figure's "
               "plotted numbers: `figure3`.", ""]
    else:
        rep["curves"] = None
        md += ["No per-pass metrics (metrics.jsonl missing or empty).", ""]
    return md


def _confusion_and_rejection_section(page: Page, rej: float | None, rejection: dict, rep: dict) -> list[str]:
    outputs, out, refs = page.run["outputs"], page.out, page.refs
    md: list[str] = []
    if outputs is not None:
        y, lab = outputs["test_outputs"], outputs["test_labels"]
        n_cls = y.shape[1]
        cm = metrics.confusion_matrix(y, lab, n_cls)
        errs = int(cm.sum() - np.trace(cm))
        rep["confusion_matrix"] = {"rows": "true digit", "columns": "predicted digit", "counts": cm}
        fig_confusion(out / FIG_CONFUSION, cm, f"Test set: {errs:,} of {int(cm.sum()):,} digits misclassified")
        page.written.append(FIG_CONFUSION)
        md += ["## Confusion matrix (test set)", "", f"![Confusion matrix]({FIG_CONFUSION})", "",
               "Rows: true digit; columns: predicted digit (most active output).", "",
               "| true \\ predicted | " + " | ".join(str(q) for q in range(n_cls)) + " | errors |",
               "|---:|" + "---:|" * (n_cls + 1)]
        for t in range(n_cls):
            row_tot = int(cm[t].sum())
            e = row_tot - int(cm[t, t])
            cells = [f"**{cm[t, q]}**" if q == t else (str(cm[t, q]) if cm[t, q] else "·") for q in range(n_cls)]
            rate = f" ({pct(e / row_tot, 1)})" if row_tot else ""
            md.append(f"| **{t}** | " + " | ".join(cells) + f" | {e}{rate} |")
        md.append("")

        rej_title = f"Rejection: {pct(rej, 1)} of the test digits rejected for {pct(TARGET_ERROR, 0)} error"
        if rej >= 1.0:
            rej_title = f"Rejection: {pct(TARGET_ERROR, 0)} error is not reached before rejecting every digit"
        fig_rejection(out / FIG_REJECTION, rejection["curve"]["rejected_fraction"],
                      rejection["curve"]["error_among_accepted"], rej, rejection["error_at_threshold"], refs,
                      rej_title)
        page.written.append(FIG_REJECTION)
        ref_rej = [f"{pct(r['figures']['rejection_at_1pct'], 1)} in {r['short']}" for r in refs
                   if "rejection_at_1pct" in r["figures"]]
        md += ["## Rejection", "", f"![Rejection curve]({FIG_REJECTION})", ""]
        if rej < 1.0:
            md.append(f"Rejecting the {pct(rej, 1)} of test digits with the smallest gap between the two most "
                      f"active outputs leaves {pct(rejection['error_at_threshold'])} error on the rest"
                      + (f" ({', '.join(ref_rej)})." if ref_rej else "."))
        else:
            md.append("No gap threshold brings the error on the accepted digits to 1%.")
        md.append("")
    else:
        rep["confusion_matrix"] = None
        md += ["## Confusion matrix and rejection", "",
               f"outputs.npz is missing: no confusion matrix or rejection curve; results.json gives "
               f"{pct(rej, 1)} rejected for 1% error.", ""]
    rep["rejection"] = rejection
    return md


def _misclassified_section(page: Page, data_dir, data, rep: dict) -> list[str]:
    outputs = page.run["outputs"]
    md = ["## Misclassified test digits", ""]
    grid = {"shown": False, "note": None, "digits": None}
    if outputs is not None:
        y, lab = outputs["test_outputs"], outputs["test_labels"]
        pred = y.argmax(axis=1)
        gap = metrics.output_gap(y)
        wrong = np.flatnonzero(pred != lab)
        grid["digits"] = [{"index": int(i), "true": int(lab[i]), "predicted": int(pred[i]), "gap": float(gap[i])}
                          for i in wrong]
        if len(wrong) == 0:
            grid["note"] = "No test digit is misclassified."
        else:
            x, note = _load_test_images(page.results, page.config, lab, data_dir, data)
            if x is None:
                grid["note"] = note
            else:
                shown = wrong[:MAX_GRID]
                more = f" (the first {len(shown)} of {len(wrong)})" if len(shown) < len(wrong) else ""
                fig_misclassified(page.out / FIG_MISSES, x[shown], lab[shown], pred[shown], gap[shown],
                                  f"Misclassified test digits{more}: true→predicted, "
                                  "gap between the two most active outputs")
                page.written.append(FIG_MISSES)
                grid["shown"] = True
                grid["shown_count"] = int(len(shown))
                md += [f"![Misclassified test digits]({FIG_MISSES})", "",
                       f"{len(wrong):,} misclassified test digits{more}, in test-set order; each titled "
                       "true→predicted and the gap between the two most active outputs (small gap: a digit "
                       "the rejection criterion drops first). Indices and gaps: report.json, `misclassified`.", ""]
    else:
        grid["note"] = "outputs.npz is missing: the misclassified digits are unknown."
    if grid["note"]:
        md += [grid["note"], ""]
    rep["misclassified"] = grid
    return md


def _kernels_section(page: Page, rep: dict) -> list[str]:
    md = ["## Learned kernels", ""]
    model = page.run["model"]
    arch = page.results.get("architecture") or []
    kernels: dict = {"layers": [], "note": None}
    if model is not None:
        conv = _conv_layers(model, arch)
        if not conv:
            kernels["note"] = ("No kernel images: this network has no convolution (its weights are 2-D, "
                               "fully connected).")
        prev = "input"
        for layer in conv:
            w = np.asarray(model[f"{layer}.weight"], dtype=float)
            table = model.get(f"{layer}.table")
            if table is not None and table.shape != w.shape[:2]:
                table = None
            fname = FIG_KERNELS.format(layer=layer)
            k = w.shape[-1]
            if w.shape[1] == 1:
                title = f"{layer}: {w.shape[0]} learned {k}x{k} kernels (shared weights of each map)"
                desc = f"{layer}'s {w.shape[0]} {k}x{k} kernels, one per feature map."
            else:
                title = (f"{layer}: {w.shape[0]} maps x {w.shape[1]} {k}x{k} kernels; "
                         f"each titled with the {prev} map it reads")
                desc = (f"{layer}'s kernels, one row per {layer} map, one column per {prev} map it reads "
                        f"(titled with that {prev} map's index{' from the connection table' if table is not None else ''}).")
            fig_kernels(page.out / fname, w, layer, prev, table, title)
            page.written.append(fname)
            kernels["layers"].append({"layer": layer, "shape": list(w.shape), "figure": fname,
                                      "abs_max": float(np.abs(w).max()),
                                      "table": table if table is not None else None})
            md += [f"![{layer} kernels]({fname})", "", desc + " Red positive, blue negative, one colour scale "
                   f"per figure (|w| up to {np.abs(w).max():.2f}).", ""]
            prev = layer
    else:
        kernels["note"] = "model.npz is missing: no kernel images."
    if kernels["note"]:
        md += [kernels["note"], ""]
    rep["kernels"] = kernels
    return md


def _provenance_section(page: Page, rep: dict) -> list[str]:
    """Provenance, the notes gathered by every section, and the list of figures."""
    prov = _provenance(page.results, page.run["meta"])
    rep["provenance"] = prov
    md = ["## Provenance", ""] + _provenance_lines(prov) + [""]
    rep["notes"] = page.notes
    if page.notes:
        md += ["## Notes", ""] + [f"- {n}" for n in page.notes] + [""]
    rep["figures"] = page.written
    return md
