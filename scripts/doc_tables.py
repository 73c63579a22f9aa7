"""The figures in the README and docs/ that come from files the package ships, written into them.

Each generated block sits between two markers in its page::

    <!-- begin NAME: python scripts/doc_tables.py -->
    ...
    <!-- end NAME -->

and is made from the shipped files alone (``lecun89/models/*.json``,
``lecun89/models/heldout.json``, the shipped models reading ``docs/seven.png``):
no hand-copied number. Blocks:

- ``models-readme`` (README.md): the shipped models, their USPS test error and
  their errors on the held-out writers (clean and photo-like pictures);
- ``models-predict`` (docs/predict.md): the same with their configs, rejection
  and thresholds;
- ``seven`` (README.md, docs/predict.md): ``lecun89 predict docs/seven.png``'s output;
- ``results`` (README.md): the Results table, from ``docs/results.json`` (the
  replication's figures, copied from its summary by ``--results``) and the
  reference figures of ``lecun89/references.json``.

    python scripts/doc_tables.py           # rewrite the blocks
    python scripts/doc_tables.py --check   # exit 1 and name each stale block (tests/test_doc_tables.py)
    bash scripts/replicate.sh --data-dir DIR && python scripts/doc_tables.py --results runs/replication --data-dir DIR
        # docs/results.json from the replication's summary.json (and the 1-NN row on the same USPS files)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# What each model was trained on, in a few words (the configs say it in full).
TRAINED_ON = {
    "lecun1989": "the paper, as SN2.8 trained it (USPS)",
    "modern-usps": "the 2022 modern recipe (USPS)",
    "reader": "that recipe on USPS, 58,000 MNIST training digits and 20,000 pictures with no digit",
}


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:.2f}%"


def _models() -> list[tuple[str, dict, dict]]:
    """(name, shipped json, held-out errors by style) for each shipped model, in listing order."""
    from lecun89.reader import SHIPPED, heldout_errors, models_dir

    held = heldout_errors()
    return [(n, json.loads((models_dir() / f"{n}.json").read_text()), held.get(n, {})) for n in SHIPPED]


def _name(n: str) -> str:
    from lecun89.reader import DEFAULT_MODEL

    return f"`{n}`" + (" (default)" if n == DEFAULT_MODEL else "")


def models_readme() -> str:
    lines = ["| model | trained on | USPS test error | other writers, clean | other writers, photo |",
             "|---|---|---|---|---|"]
    for n, info, held in _models():
        lines.append(f"| {_name(n)} | {TRAINED_ON.get(n, info['description'])} | "
                     f"{_pct(info['results']['test_error'])} | {_pct(held.get('clean'))} | {_pct(held.get('photo'))} |")
    return "\n".join(lines)


def models_predict() -> str:
    lines = ["| model | config (training digits) | USPS test error | rejects for 1% error | reject when gap < "
             "| other writers, clean | other writers, photo |",
             "|---|---|---|---|---|---|---|"]
    for n, info, held in _models():
        logits = info["config"]["model"]["output_activation"] == "none"
        r = info["results"]
        lines.append(f"| {_name(n)} | `{n}.toml`: {TRAINED_ON.get(n, info['description'])} | {_pct(r['test_error'])} | "
                     f"{100 * r['rejection_at_1pct']:.1f}% | {info['reject_gap']:.3f}{' (logits)' if logits else ''} | "
                     f"{_pct(held.get('clean'))} | {_pct(held.get('photo'))} |")
    return "\n".join(lines)


def seven() -> str:
    """``lecun89 predict docs/seven.png`` as the reader prints it, run here."""
    import os

    from lecun89.cli import main

    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            main(["predict", "docs/seven.png"])
    finally:
        os.chdir(cwd)
    text = out.getvalue().rstrip("\n").splitlines()
    return "\n".join(["    $ lecun89 predict docs/seven.png        # a 7 drawn with lines, in the repository"]
                     + ["    " + line for line in text])


RESULTS = ROOT / "docs" / "results.json"
# The Results table's rows: a config (its label after the name, the data) or a reference (italics).
RESULT_ROWS = (("ref", "paper-net1989", "paper (1989), Net-1989"),
               ("config", "lecun1989", "SDLM as SN2.8 ran it"),
               ("config", "lecun1989-lenet5", "LeNet-5's SDLM recipe"),
               ("config", "lecun1989-sgd", None),
               ("ref", "paper-fc", "paper (1989), fully connected"),
               ("config", "fc-baseline", None),
               ("knn", None, None),
               ("ref", "repro2022-1989", "2022 replication, 1989 recipe"),
               ("config", "karpathy2022", None),
               ("ref", "repro2022-modern", "2022 replication, modern recipe"),
               ("config", "modern", None),
               ("config", "modern-usps", None),
               ("config", "modern-usps-tuned", None),
               ("config", "usps-validated", "every choice on a validation split"),
               ("ref", "human", "human error"))
RESULT_FIELDS = ("test_error", "train_error", "test_misses", "train_misses", "test_mse", "train_mse",
                 "rejection_at_1pct")


def _sci(v: float, d: int) -> str:
    return f"{v:.{d}e}".replace("e-0", "e-").replace("e+0", "e+")


def _ref_pct(v) -> str:
    if v is None:
        return ""
    t = f"{100 * v:.2f}".rstrip("0")
    return f"*{t + '0' if t.endswith('.') else t}%*"


def _stat_cell(st: dict | None, kind: str) -> str:
    """mean ± std of a config's field over its seeds, as the README writes it; the MSEs in the paper's convention."""
    if not st or st.get("mean") is None:
        return ""
    mean, std = st["mean"], st.get("std")
    if kind == "mse":
        from lecun89.metrics import paper_mse

        mean, std = paper_mse(mean), paper_mse(std)
        return _sci(mean, 2) + ("" if std is None else f" ± {_sci(std, 1)}")
    if kind == "count":
        return f"{mean:.1f}" + ("" if std is None else f" ± {std:.1f}")
    d = 1 if kind == "rej" else 2
    return f"{100 * mean:.{d}f}" + ("" if std is None else f" ± {100 * std:.{d}f}") + "%"


def results() -> str:
    """The README's Results table from docs/results.json and the references."""
    from lecun89.report.references import load_references

    res = json.loads(RESULTS.read_text())
    refs = load_references()["references"]
    kinds = {"test_error": "pct", "train_error": "pct", "test_misses": "count", "train_misses": "count",
             "test_mse": "mse", "train_mse": "mse", "rejection_at_1pct": "rej"}
    lines = ["| config | data | test error | train error | test misses | train misses | test MSE | train MSE "
             "| rejected for 1% error |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, name, label in RESULT_ROWS:
        if kind == "ref":
            f = refs[name]["figures"]
            cells = [_ref_pct(f.get("test_error")), _ref_pct(f.get("train_error")),
                     f"*{f['test_misses']}*" if "test_misses" in f else "",
                     f"*{f['train_misses']}*" if "train_misses" in f else "",
                     f"*{_sci(f['test_half_mse'], 1)}*" if "test_half_mse" in f else "",
                     f"*{_sci(f['train_half_mse'], 1)}*" if "train_half_mse" in f else "",
                     _ref_pct(f.get("rejection_at_1pct")).replace(".10%", ".1%")]
            lines.append(f"| *{label}* | {refs[name].get('dataset', '')} | " + " | ".join(cells) + " |")
        elif kind == "knn":
            k = res["nearest_neighbour"]
            cells = [f"{100 * k['test_error']:.2f}%", "", str(k["test_misses"]), "", "", "", ""]
            lines.append("| 1-nearest neighbour on the pixels | usps | " + " | ".join(cells) + " |")
        else:
            c = res["configs"][name]
            note = ", ".join(x for x in (label, f"{c['n']} seeds") if x)
            cells = [_stat_cell(c.get(k), kinds[k]) for k in RESULT_FIELDS]
            lines.append(f"| `{name}` ({note}) | {c['dataset']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_results(run_dir: Path, data_dir) -> None:
    """docs/results.json from a replication's summary.json: each config's data set,
    seeds and statistics over them; and the 1-NN baseline on the same USPS files."""
    summary = json.loads((run_dir / "summary.json").read_text())
    configs = {}
    for g in summary["configs"]:
        if g.get("variant"):
            continue
        configs[g["config_name"]] = {"dataset": g["dataset"], "n": g["n"], "seeds": g["seeds"],
                                     **{k: {"mean": g[k]["mean"], "std": g[k]["std"]} for k in RESULT_FIELDS if k in g}}
    RESULTS.write_text(json.dumps({"made_by": "bash scripts/replicate.sh --data-dir DIR && python "
                                              "scripts/doc_tables.py --results runs/replication --data-dir DIR",
                                   "configs": configs, "nearest_neighbour": nearest_neighbour(data_dir)},
                                  indent=1) + "\n")


def nearest_neighbour(data_dir) -> dict:
    """1-NN on the USPS pixels (Euclidean, scikit-learn's), trained on the 7,291, tested on the 2,007."""
    from sklearn.neighbors import KNeighborsClassifier

    from lecun89.data import load_dataset

    d = load_dataset("usps", data_dir)
    pred = KNeighborsClassifier(n_neighbors=1).fit(d.x_train.reshape(len(d.x_train), -1), d.y_train).predict(
        d.x_test.reshape(len(d.x_test), -1))
    wrong = int((pred != d.y_test).sum())
    return {"test_error": wrong / len(d.y_test), "test_misses": wrong, "data_checksum": d.meta.get("checksum")}


BLOCKS = {"models-readme": (models_readme, ("README.md",)),
          "models-predict": (models_predict, ("docs/predict.md",)),
          "seven": (seven, ("README.md", "docs/predict.md")),
          "results": (results, ("README.md",))}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- begin {re.escape(name)}: python scripts/doc_tables.py -->\n)(.*?)(<!-- end {re.escape(name)} -->)",
                      re.S)


def render(text: str, name: str, body: str, page: str) -> str:
    pat = _pattern(name)
    if not pat.search(text):
        raise SystemExit(f"doc_tables: {page} has no block {name!r} (its begin/end markers)")
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(3), text)


def stale() -> list[str]:
    """The (page, block) pairs whose committed text is not what the shipped files give."""
    out = []
    for name, (make, pages) in BLOCKS.items():
        body = make()
        for page in pages:
            text = (ROOT / page).read_text()
            if render(text, name, body, page) != text:
                out.append(f"{page}: block {name}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a block is not what the shipped files give")
    ap.add_argument("--results", type=Path, metavar="RUN_DIR",
                    help="first write docs/results.json from this replication's summary.json")
    ap.add_argument("--data-dir", help="the USPS files, for --results's 1-NN row (default: $LECUN89_DATA)")
    args = ap.parse_args()
    if args.results:
        save_results(args.results, args.data_dir)
    if args.check:
        bad = stale()
        for b in bad:
            print(f"stale: {b} (python scripts/doc_tables.py)")
        return 1 if bad else 0
    for name, (make, pages) in BLOCKS.items():
        body = make()
        for page in pages:
            path = ROOT / page
            path.write_text(render(path.read_text(), name, body, page))
    print("wrote " + ", ".join(sorted({p for _, pages in BLOCKS.values() for p in pages})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
