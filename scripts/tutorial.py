"""Run docs/tutorial.ipynb and write its outputs into it (what the code prints today).

    python scripts/tutorial.py            # execute, write the outputs into docs/tutorial.ipynb
    python scripts/tutorial.py --check    # execute, compare with the committed outputs (exit 1 if they differ)

Needs the notebook extra: pip install -e ".[notebook]". tests/test_tutorial.py runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lecun89.testing import REPO, execute_notebook, notebook_outputs

NOTEBOOK = REPO / "docs" / "tutorial.ipynb"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed outputs; write nothing")
    ap.add_argument("--notebook", type=Path, default=NOTEBOOK)
    args = ap.parse_args(argv)
    import nbformat

    ran = execute_notebook(args.notebook)
    if args.check:
        committed = notebook_outputs(nbformat.read(str(args.notebook), as_version=4))
        now = notebook_outputs(ran)
        if committed != now:
            for i, (a, b) in enumerate(zip(committed, now, strict=False)):
                if a != b:
                    print(f"code cell {i + 1}: committed {a!r}\n  prints today {b!r}", file=sys.stderr)
            print(f"{args.notebook}: outputs are not what the code prints today; run python scripts/tutorial.py",
                  file=sys.stderr)
            return 1
        print(f"{args.notebook}: current")
        return 0
    for cell in ran.cells:   # no run-dependent metadata in the committed file
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(ran, str(args.notebook))
    print(f"wrote {args.notebook}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
