"""``lecun89 eval MODEL``: error, misses, MSE and rejection of a saved checkpoint."""

from __future__ import annotations

import json

from lecun89.cli.args import add_data_dir, add_json


def run(args) -> int:
    from lecun89.evaluate import evaluate_checkpoint

    r = evaluate_checkpoint(args.model, args.dataset, args.split, args.data_dir)
    if args.json:
        print(json.dumps(r))
        return 0
    s = args.split
    mse = f", MSE (the paper's) {r[f'{s}_half_mse']:.3e}" if r[f"{s}_half_mse"] is not None else ""
    print(f"{args.model} on {r['dataset']} ({s}, {r[f'{s}_size']:,} digits): "
          f"error {r[f'{s}_error']:.2%} ({r[f'{s}_misses']} misses){mse}, "
          f"rejection for 1% error {r['rejection_at_1pct']:.1%}")
    return 0


def add_parser(sub) -> None:
    from lecun89.config import DATASET_NAMES

    p = sub.add_parser("eval", help="score a checkpoint (error, misses, MSE, rejection)",
                       description="Evaluate a model.npz checkpoint on a dataset split.")
    p.add_argument("model", help="checkpoint file (model.npz from a run directory)")
    p.add_argument("--dataset", choices=DATASET_NAMES,
                   help="dataset (default: the one in the run directory's config.toml)")
    p.add_argument("--split", choices=("test", "train"), default="test")
    add_data_dir(p)
    add_json(p, "print one JSON object keyed like results.json")
    p.set_defaults(func=run)
