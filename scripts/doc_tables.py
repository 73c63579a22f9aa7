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
- ``seven`` (README.md, docs/predict.md): ``lecun89 predict docs/seven.png``'s output.

    python scripts/doc_tables.py           # rewrite the blocks
    python scripts/doc_tables.py --check   # exit 1 and name each stale block (tests/test_doc_tables.py)
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
    "reader": "that recipe on USPS and 58,000 MNIST training digits",
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


BLOCKS = {"models-readme": (models_readme, ("README.md",)),
          "models-predict": (models_predict, ("docs/predict.md",)),
          "seven": (seven, ("README.md", "docs/predict.md"))}


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
    args = ap.parse_args()
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
