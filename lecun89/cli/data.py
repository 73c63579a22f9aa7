"""``lecun89 data``: placeholder while lecun89.data becomes a package."""

from lecun89.data import add_parser  # noqa: F401
