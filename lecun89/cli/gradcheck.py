"""``lecun89 gradcheck [CONFIG]``: every parameter gradient against float64 finite differences."""

from __future__ import annotations

from lecun89.cli.args import add_config, add_set


def run(args) -> int:
    from lecun89.gradcheck import check_config

    return check_config(args.config, args.set, args.batch, args.tol)


def add_parser(sub) -> None:
    from lecun89.gradcheck import TOLERANCE

    p = sub.add_parser("gradcheck", help="check every parameter gradient against finite differences",
                       description="Check the network's backward pass against float64 central differences; "
                                   "exits non-zero when a tensor's max relative error exceeds the tolerance.")
    add_config(p)
    add_set(p)
    p.add_argument("--batch", type=int, default=2, help="digits in the checked batch (default 2)")
    p.add_argument("--tol", type=float, default=TOLERANCE, help=f"tolerance (default {TOLERANCE:g})")
    p.set_defaults(func=run)
