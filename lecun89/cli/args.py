"""Arguments that several commands take, each declared once.

Every command module builds its parser from these so that a flag means the
same thing, with the same help, wherever it appears. Nothing here imports
numerical code at import time: building the whole parser stays cheap.
"""

from __future__ import annotations

import argparse

DATA_DIR_HELP = "data directory, the folder holding usps/ and mnist/ (default: $LECUN89_DATA, else the user cache)"


def add_data_dir(p: argparse.ArgumentParser, purpose: str = "") -> None:
    """``--data-dir DIR``; ``purpose`` says what the command reads there, when that is narrower."""
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help=DATA_DIR_HELP if not purpose else f"{DATA_DIR_HELP}; {purpose}")


def add_set(p: argparse.ArgumentParser, scope: str = "") -> None:
    """``--set SECTION.KEY=VALUE``, repeatable."""
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key, e.g. --set train.passes=5 (repeatable" + (f"; {scope})" if scope else ")"))


def add_config(p: argparse.ArgumentParser) -> None:
    """The optional CONFIG positional: a file or a shipped name."""
    p.add_argument("config", nargs="?",
                   help="config file or shipped name (default: configs/quick.toml, the embedded digits)")


def add_model(p: argparse.ArgumentParser) -> None:
    """``--model NAME|PATH``: a shipped model or a run's checkpoint (predict, serve)."""
    from lecun89.reader import DEFAULT_MODEL, SHIPPED

    p.add_argument("--model", metavar="NAME|PATH",
                   help=f"a shipped model ({', '.join(SHIPPED)}; default {DEFAULT_MODEL}) "
                        "or a model.npz / run directory")


def add_sort(p: argparse.ArgumentParser) -> None:
    """``--sort COLUMN`` for a sweep's summary (checked by lecun89.report.check_sort)."""
    p.add_argument("--sort", metavar="COLUMN",
                   help="order a sweep's summary by a column, e.g. test_error (--sort=-test_error: descending; "
                        "default: the study's sort, else the order of the runs)")


def add_no_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_json(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=what)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def int_between(lo: int, hi: int):
    """argparse type: an integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer {lo}-{hi}, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer {lo}-{hi}, got {text!r}")
        return v

    return parse
