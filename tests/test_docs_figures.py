"""Tables of figures in docs/ that restate what the code owns are checked against it."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _table(page: str, header_start: str) -> list[list[str]]:
    """The rows (cells stripped) of the markdown table whose header starts with ``header_start``."""
    lines = (DOCS / page).read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _int(cell: str) -> int | None:
    digits = re.sub(r"[*,]", "", cell)
    return int(digits) if digits else None


def test_network_md_counts_are_the_networks():
    from lecun89.config import load_config
    from lecun89.model import build_model

    net = build_model(load_config("lecun1989").model)
    want = {r["layer"]: r for r in net.summary_rows()}
    rows = _table("network.md", "| layer | maps x size")
    names = {"output": "out"}
    for row in rows[:-1]:
        r = want[names.get(row[0], row[0])]
        assert row[1] == r["shape"].replace(" x ", " x "), row
        assert _int(row[3]) == r["units"], row
        assert (_int(row[4]) or 0) == r["connections"] and (_int(row[5]) or 0) == r["params"], row
    total = rows[-1]
    assert [_int(c) for c in total[3:6]] == [net.totals()[k] for k in ("units", "connections", "params")]


def test_data_md_sizes_and_counts_are_the_registrys():
    from lecun89.data import CLASS_COUNTS, TOTALS

    sizes = {row[0].strip("`"): row[2] for row in _table("data.md", "| name | what | train / test")}
    assert sizes["usps"] == "{:,} / {:,}".format(*TOTALS[("usps", "full")])
    assert sizes["usps-mnist"] == "{:,} / {:,}".format(*TOTALS[("usps-mnist", "full")])
    assert sizes["usps-mnist-junk"] == "{:,} / {:,}".format(*TOTALS[("usps-mnist-junk", "full")])
    assert sizes["mnist16"] == "{:,} / {:,} or {:,} / {:,}".format(*TOTALS[("mnist16", "paper")],
                                                                   *TOTALS[("mnist16", "full")])
    counts = {row[0]: [int(c) for c in row[1:]] for row in _table("data.md", "| split | 0 | 1 |")}
    for split in ("train", "test"):
        expect = list(CLASS_COUNTS[("usps", "full")][split])
        assert counts[split] == expect + [sum(expect)], split
