"""``lecun89 summary [CONFIG]``: the paper's architecture table for a config's network."""

from __future__ import annotations

from lecun89.cli.args import add_config, add_set


def run(args) -> int:
    from lecun89.config import load_config
    from lecun89.model import build_model
    from lecun89.report.format import architecture_table

    cfg = load_config(args.config, args.set)
    net = build_model(cfg.model, cfg.seed)
    print(f"{cfg.name}: {cfg.model.arch}, activation {cfg.model.activation}, bias {cfg.model.bias}")
    print("\n".join(architecture_table(net.summary_rows())))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("summary", help="per-layer units, connections and free parameters",
                       description="Print the architecture table (units, connections, free parameters) of a config's model.")
    add_config(p)
    add_set(p)
    p.set_defaults(func=run)
