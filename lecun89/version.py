"""The version of lecun89: stated here only (pyproject.toml reads it)."""

__version__ = "0.1.0"
