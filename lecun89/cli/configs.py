"""``lecun89 configs [list|show NAME]``: the shipped configs and studies, listed or printed to copy and edit."""

from __future__ import annotations


def run(args) -> int:
    from lecun89.config import describe_config, shipped_configs
    from lecun89.errors import UserError
    from lecun89.studies.spec import resolve_named, shipped_studies

    if args.action == "show":
        if not args.name:
            raise UserError(f"configs show: name a config, one of: {', '.join(shipped_configs())} "
                            f"(or a study: {', '.join(shipped_studies())})", status=2)
        print(resolve_named(args.name).read_text(), end="")
        return 0
    shipped, studies = shipped_configs(), shipped_studies()
    width = max(len(n) for n in list(shipped) + list(studies))
    for name, path in shipped.items():
        print(f"{name:<{width}}  {describe_config(path)}")
    print("\n(any command takes these by name, e.g. `lecun89 train lecun1989`; "
          "`lecun89 configs show NAME > my.toml` to copy one)")
    if studies:
        print("\nstudies (`lecun89 sweep NAME` runs one):\n")
        for name, path in studies.items():
            print(f"{name:<{width}}  {describe_config(path)}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("configs", help="list the shipped configs and studies, or print one",
                       description="List the configs shipped with lecun89 (usable by name anywhere a config is "
                                   "taken) and the shipped study files (`lecun89 sweep NAME`), or print one "
                                   "to copy and edit.")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("name", nargs="?", help="config or study name for 'show', e.g. lecun1989")
    p.set_defaults(func=run)
