"""Command-line entry point: ``lecun89 <command> ...``.

Each command lives in the module that owns its job; that module exposes
``add_parser(subparsers)``, which registers the command and sets ``func`` to a
callable taking the parsed ``argparse.Namespace`` and returning an exit status.
Modules keep heavy imports (matplotlib, torch) inside functions so that the CLI
starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lecun89.errors import UserError

# (module, one of its commands) in the order `lecun89 --help` lists them.
COMMAND_MODULES = (
    "lecun89.train",
    "lecun89.sweep",
    "lecun89.evaluate",
    "lecun89.cli.report",
    "lecun89.summary",
    "lecun89.gradcheck",
    "lecun89.cli.data",
    "lecun89.shipped",
    "lecun89.predict",
    "lecun89.serve",
)


class _VersionAction(argparse.Action):
    """``--version``, with the git commit for a checkout (looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from lecun89.provenance import version_line

        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lecun89",
        description="LeCun et al. 1989 zip-code network, hand-written backprop in numpy.",
    )
    parser.add_argument("--version", action=_VersionAction, help="version, and the git commit of a checkout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command still being built
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from lecun89.threads import one_thread

    try:
        # Every command computes with one BLAS thread: bit-identical numbers on any machine.
        with one_thread():
            return int(args.func(args) or 0)
    except UserError as exc:
        print(f"lecun89: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("lecun89: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
