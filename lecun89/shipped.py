"""``lecun89 configs``: the shipped configs, listed or printed to copy and edit."""

from __future__ import annotations

from lecun89.config import describe_config, resolve_config, shipped_configs
from lecun89.errors import UserError


def _run(args) -> int:
    if args.action == "show":
        if not args.name:
            raise UserError(f"configs show: name a config, one of: {', '.join(shipped_configs())}", status=2)
        print(resolve_config(args.name).read_text(), end="")
        return 0
    shipped = shipped_configs()
    width = max(len(n) for n in shipped)
    for name, path in shipped.items():
        print(f"{name:<{width}}  {describe_config(path)}")
    print("\n(any command takes these by name, e.g. `lecun89 train lecun1989`; "
          "`lecun89 configs show NAME > my.toml` to copy one)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("configs", help="list the shipped configs, or print one",
                       description="List the configs shipped with lecun89 (usable by name anywhere a config is "
                                   "taken), or print one to copy and edit.")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("name", nargs="?", help="config name for 'show', e.g. lecun1989")
    p.set_defaults(func=_run)
