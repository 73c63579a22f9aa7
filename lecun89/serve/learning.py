"""Learning sessions: each a private copy of one model's network that learns a
digit at a time (``POST /api/learn``), read by ``/api/predict`` and
``/api/backprop`` with ``"session"``, forgotten by ``POST /api/reset``.

A session is created by its first ``/api/learn`` (from the shipped weights:
:class:`lecun89.explain.learn.Learner` copies the model's network; the shared model
and the files are never changed). Its id is :func:`secrets.token_urlsafe`. The
server keeps at most ``max_sessions`` of them; the least recently used is
dropped first, and its id is then unknown (404), as is a reset one.

Each session has its own lock: its steps and passes run one at a time, and
sessions run in parallel with each other and with the shared models' passes.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from lecun89.serve._base import ApiError

MAX_SESSIONS = 16  # private network copies a server keeps (each ~80 kB of weights plus optimizer state)


@dataclass
class Session:
    """One learning session: its id, the model it started from (a
    :class:`lecun89.reader.Model`), its :class:`~lecun89.explain.learn.Learner`, and the
    lock its passes run under."""

    id: str
    model: object
    learner: object
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reader(self):
        """The session's network as a :class:`~lecun89.reader.Model` (the
        model's name, threshold and info; the session's weights)."""
        return replace(self.model, net=self.learner.net)


class Sessions:
    """The server's learning sessions, by id, least recently used first."""

    def __init__(self, max_sessions: int = MAX_SESSIONS):
        if max_sessions < 1:
            raise ValueError(f"max_sessions: expected at least 1, got {max_sessions!r}")
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def new(self, model) -> Session:
        """A session learning from ``model`` (its network copied now); the least
        recently used session goes when there are ``max_sessions`` already."""
        from lecun89.explain.learn import Learner

        s = Session(secrets.token_urlsafe(16), model, Learner(model.net, model.info.get("config")))
        with self._lock:
            self._sessions[s.id] = s
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return s

    def get(self, sid, model=None) -> Session:
        """The session ``sid`` (now the most recently used). 400 for an id that is
        not a string or a session of another model than ``model`` (a model, or
        None: any); 404 for an id this server does not know (never given, reset,
        or dropped for newer sessions)."""
        if not isinstance(sid, str):
            raise ApiError(400, f"session: expected an id (string), got {type(sid).__name__}")
        with self._lock:
            s = self._sessions.get(sid)
            if s is not None:
                self._sessions.move_to_end(sid)
        if s is None:
            raise ApiError(404, f"unknown session {sid[:60]!r} (never started, reset, or dropped for newer "
                                f"sessions: a server keeps {self.max_sessions}); learn without \"session\" to start one")
        if model is not None and model.name != s.model.name:
            raise ApiError(400, f"session {sid[:60]!r} learns model {s.model.name!r}, not {model.name!r}")
        return s

    def drop(self, sid) -> None:
        """Forget session ``sid`` (404 when it is unknown)."""
        self.get(sid)
        with self._lock:
            self._sessions.pop(sid, None)
