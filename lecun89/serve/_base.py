"""What the server's modules share: the error a request is refused with.

Private to :mod:`lecun89.serve` (its names are public to the package's modules;
:mod:`lecun89.serve` re-exports :class:`ApiError`)."""

from __future__ import annotations


class ApiError(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str, close: bool = False, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        self.headers = headers or {}
