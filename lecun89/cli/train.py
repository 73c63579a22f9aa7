"""``lecun89 train [CONFIG]``: train the network a config describes into a run directory."""

from __future__ import annotations

from pathlib import Path

from lecun89.cli.args import add_config, add_data_dir, add_no_progress, add_set


def run(args) -> int:
    from lecun89.config import config_from_dict, load_config, read_toml
    from lecun89.errors import UserError
    from lecun89.rundir import claim
    from lecun89.train import default_out_dir, run_training

    if args.resume:
        if args.config or args.set or args.seed is not None:
            raise UserError("--resume DIR continues a run with its saved config; "
                            "give no CONFIG, --set or --seed with it", status=2)
        out_dir = Path(args.resume)
        if not (out_dir / "config.toml").is_file():
            raise UserError(f"--resume {out_dir}: no config.toml there; not a run directory", status=2)
        cfg = config_from_dict(read_toml(out_dir / "config.toml"), str(out_dir / "config.toml"))
    else:
        cfg = load_config(args.config, args.set, seed=args.seed)
        out_dir = Path(args.out) if args.out else default_out_dir(cfg)
    # The run and its report, with the run directory held by this process throughout.
    with claim(out_dir):
        run_training(cfg, out_dir, args.data_dir, resume=bool(args.resume),
                     progress=None if not args.no_progress else False, claim=False)
        if not args.no_report:
            from lecun89.report import report_run  # (matplotlib: only when a report is written)

            print(f"report: {report_run(out_dir, data_dir=args.data_dir)}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a network from a config (default: the quick offline run)",
                       description="Train the network a config describes and write a run directory "
                                   "(config, per-pass metrics, results, checkpoint, report).")
    add_config(p)
    add_set(p)
    p.add_argument("--seed", type=int, help="random seed (overrides the config's)")
    add_data_dir(p)
    p.add_argument("--out", help="run directory (default: runs/<config-name>/<timestamp>)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR")
    add_no_progress(p)
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.set_defaults(func=run)
