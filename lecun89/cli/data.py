"""``lecun89 data {list,check,show,fetch}``: the data sets, their files and a look at their digits."""

from __future__ import annotations

import argparse

from lecun89.cli.args import add_data_dir, int_between, non_negative_int
from lecun89.data import DATASETS, SUBSETS

MAX_SHOW = 400


def _cmd_list(args) -> int:
    from lecun89.data import list_datasets

    list_datasets(args.data_dir)
    return 0


def _cmd_check(args) -> int:
    from lecun89.data import check_dataset

    check_dataset(args.name, args.data_dir, subset=args.subset, subset_seed=args.subset_seed)
    return 0


def _cmd_show(args) -> int:
    from lecun89.data import load_dataset, save_grid

    ds = load_dataset(args.name, args.data_dir, subset=args.subset, subset_seed=args.subset_seed)
    out = save_grid(ds, args.out, split=args.split, n=args.n)
    print(f"wrote {out}")
    return 0


def _cmd_fetch(args) -> int:
    from lecun89.data import fetch

    fetch(args.name, args.data_dir)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``lecun89 data`` and its sub-commands."""
    p = subparsers.add_parser(
        "data", help="list, check, show or fetch the data sets",
        description="Data sets: " + "; ".join(f"{k}: {v}" for k, v in DATASETS.items()) + ".")
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    def common(sp, name=True, subset=True):
        if name:
            sp.add_argument("name", choices=list(DATASETS), metavar="NAME",
                            help="data set: " + ", ".join(DATASETS))
        add_data_dir(sp)
        if subset:
            sp.add_argument("--subset", choices=SUBSETS, default="paper",
                            help="mnist16: 'paper' (7,291/2,007 seeded subset) or 'full' (default: paper)")
            sp.add_argument("--subset-seed", type=non_negative_int, default=0, metavar="N",
                            help="mnist16 paper subset seed (default: 0)")

    sp = sub.add_parser("list", help="each data set: found/missing, where, sizes")
    common(sp, name=False, subset=False)
    sp.set_defaults(func=_cmd_list)

    sp = sub.add_parser("check", help="verify checksums, row counts and per-class counts")
    common(sp)
    sp.set_defaults(func=_cmd_check)

    sp = sub.add_parser("show", help="save a PNG grid of sample digits with their labels")
    common(sp)
    sp.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    sp.add_argument("--split", choices=("train", "test"), default="train")
    sp.add_argument("--n", type=int_between(1, MAX_SHOW), default=64, metavar="N",
                    help=f"how many digits, 1-{MAX_SHOW} (default: 64)")
    sp.set_defaults(func=_cmd_show)

    sp = sub.add_parser("fetch", help="download a data set's files (the only command that uses the network)")
    common(sp, subset=False)
    sp.set_defaults(func=_cmd_fetch)
    return p
