"""Formatting for reports: numbers as the tables show them, JSON as the reports write it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lecun89 import atomic
from lecun89.errors import UserError


def finite(x) -> float | None:
    """A JSON-safe float (None for missing or NaN)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def pct(x, digits: int = 2) -> str:
    return "—" if x is None or x != x else f"{100 * x:.{digits}f}%"


def count(n) -> str:
    return "—" if n is None else f"{int(n):,}"


def sci(x) -> str:
    return "—" if x is None else f"{x:.2e}"


def points(diff: float) -> str:
    pts = 100 * diff
    if abs(pts) < 0.005:
        return "equal to two decimals"
    return f"{abs(pts):.2f} points {'lower' if pts < 0 else 'higher'}"


def error_cell(err, misses, size) -> str:
    if err is None:
        return "—"
    if misses is not None and size is not None:
        return f"{pct(err)} ({count(misses)} of {count(size)})"
    return pct(err)


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return finite(obj)
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def dump_json(obj) -> str:
    return json.dumps(jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def write_text(path: Path, text: str) -> None:
    try:
        atomic.write_text(path, text)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror or exc}") from None


def architecture_table(rows: list[dict]) -> list[str]:
    """The paper's architecture table in Markdown: each layer's maps, units,
    connections and free parameters (``Network.summary_rows()``), and the totals."""
    lines = ["| layer | maps x size | units | connections | free parameters |", "|---|---|---:|---:|---:|"]
    for r in rows:
        conns = f"{r['connections']:,}" if r.get("connections") else ""
        params = f"{r['params']:,}" if r.get("params") else ""
        lines.append(f"| {r.get('layer', '')} | {r.get('shape', '')} | {r.get('units', 0):,} | {conns} | {params} |")
    tot = architecture_totals(rows)
    lines.append(f"| **total** | | **{tot['units']:,}** | **{tot['connections']:,}** | **{tot['params']:,}** |")
    return lines


def architecture_totals(rows: list[dict]) -> dict[str, int]:
    return {k: sum(int(r.get(k) or 0) for r in rows) for k in ("units", "connections", "params")}
