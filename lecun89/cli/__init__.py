"""Command-line entry point: ``lecun89 <command> ...``.

Each command is a thin module of this package named as the user types it
(``lecun89.cli.train`` runs ``lecun89 train``); it exposes
``add_parser(subparsers)``, which registers the command and sets ``func`` to a
callable taking the parsed ``argparse.Namespace`` and returning an exit status.
The work itself lives in the module that owns it (``lecun89.train``,
``lecun89.data``, ...), imported inside ``func`` so that building the parser
stays cheap. Flags several commands share are declared once, in
:mod:`lecun89.cli.args`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lecun89.errors import UserError

# (module, one of its commands) in the order `lecun89 --help` lists them.
COMMAND_MODULES = tuple(f"lecun89.cli.{name}" for name in (
    "train", "sweep", "eval", "report", "summary", "gradcheck", "data", "configs", "predict", "models", "serve",
))


class _VersionAction(argparse.Action):
    """``--version``, with the git commit for a checkout (looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from lecun89.provenance import version_line

        print(version_line())
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``command`` (one of the commands), a parser of that
    command alone, which is all its arguments need (the others' parsers import
    what their help texts name: the web server, the reader's models)."""
    parser = argparse.ArgumentParser(
        prog="lecun89",
        description="LeCun et al. 1989 zip-code network, hand-written backprop in numpy.",
    )
    parser.add_argument("--version", action=_VersionAction, help="version, and the git commit of a checkout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if command is None or name == f"lecun89.cli.{command}":
            importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and f"lecun89.cli.{argv[0]}" in COMMAND_MODULES else None
    parser = build_parser(command)
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
