"""``lecun89 summary``: the paper's architecture table for a config."""

from __future__ import annotations


def format_table(rows: list[dict]) -> str:
    """Markdown table of layers with units, connections and free parameters, and totals."""
    lines = ["| layer | maps x size | units | connections | free params |", "|---|---|---:|---:|---:|"]
    for r in rows:
        conns = f"{r['connections']:,}" if r["connections"] else ""
        params = f"{r['params']:,}" if r["params"] else ""
        lines.append(f"| {r['layer']} | {r['shape']} | {r['units']:,} | {conns} | {params} |")
    tot = {k: sum(r[k] for r in rows) for k in ("units", "connections", "params")}
    lines.append(f"| **total** | | **{tot['units']:,}** | **{tot['connections']:,}** | **{tot['params']:,}** |")
    return "\n".join(lines)


def _run(args) -> int:
    from lecun89.config import load_config
    from lecun89.model import build_model

    cfg = load_config(args.config, args.set)
    net = build_model(cfg.model, cfg.seed)
    print(f"{cfg.name}: {cfg.model.arch}, activation {cfg.model.activation}, bias {cfg.model.bias}")
    print(format_table(net.summary_rows()))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("summary", help="per-layer units, connections and free parameters",
                       description="Print the architecture table (units, connections, free parameters) of a config's model.")
    p.add_argument("config", nargs="?", help="config file (default: configs/quick.toml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key")
    p.set_defaults(func=_run)
