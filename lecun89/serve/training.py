"""The page's Train tab: a shipped config trained in the background while any
number of pages watch it (``/api/train...``, :mod:`lecun89.serve`).

A run is :func:`lecun89.train.run_training` of a shipped config and seed, the
trainer and engine of ``lecun89 train`` with the same config (``load_config``
of the name, ``$LECUN89_ENGINE`` included), into a temporary run directory,
in a thread of its own (never a request's). It is watched through
:class:`Watch`, which :func:`~lecun89.train.run_training` tells of every 512
digits and every pass; the watch only reads the trainer, so the run's
``model.npz`` and ``metrics.jsonl`` are those of ``lecun89 train CONFIG --seed
SEED`` (timings aside).

The rules a server holds to:

- **One run at a time.** A server trains one network. The page that started
  it holds it (its ``owner`` token, given by the start's answer); another
  page's start is a 409 ``busy`` naming the run and who holds it, while the
  holder is there. Anyone may watch (``GET /api/train``); only the holder stops,
  continues, saves or starts over (403 for others).
- **A closed tab.** A page that closes says so (``POST /api/train/leave``,
  sent as a beacon), and a holder that has not polled for :data:`OWNER_GONE`
  seconds has gone all the same: its run pauses at its next 512 digits, and any
  page may then start a run of its own (which drops this one). A paused or finished run
  that no page has polled for :data:`DROP_AFTER` seconds is dropped, its
  directory deleted.
- **Stop** pauses the run between two steps (the thread waits there, so
  **Continue** goes on exactly where it stopped: the run is the same as one
  never stopped). A finished run continues for more passes: ``train.passes``
  raised and the run resumed from its directory (``lecun89 train --resume``'s
  path), the same as a run of that many passes from the start where the
  learning rate does not depend on the number of passes (a constant or step
  schedule: every shipped config but ``modern-usps``).
- **Bounded memory.** One run, its points (one per 512 digits and one per
  pass, at most :data:`MAX_PASSES` passes), its latest snapshot, one data set
  and one trained model.

When a run pauses or finishes, a copy of its network becomes the model
:data:`TRAINED_MODEL` of the server (``publish``): the other tabs draw on it,
walk it backward and learn on it like a shipped model, and the training goes
on with its own network. A finished run is saved (``POST /api/train/save``)
as ``lecun89 train`` writes a run directory, report included.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

from lecun89.serve._base import ApiError

# The shipped configs the page offers, the offline one first.
TRAINABLE = ("quick", "lecun1989", "lecun1989-sgd", "fc-baseline", "modern-usps")
TRAINED_MODEL = "trained"       # the name of the model a page run gives the other tabs
OWNER_GONE = 20.0               # seconds without a poll from its holder: the run pauses, others may start
DROP_AFTER = 600.0              # seconds a paused or finished run no page polls is kept
MAX_PASSES = 200                # passes a run may reach (continued runs included)
MAX_SEED = 2**31 - 1
PACE_RANGE = (50, 1_000_000)    # digits per second a paced run may be held to
STATES = ("starting", "running", "paused", "done", "failed")


class Dropped(Exception):
    """Raised in the training thread to end a run that is dropped (started over,
    replaced, forgotten)."""


def _field(body: dict, name: str, check, what: str, default=None):
    v = body.get(name, default)
    if not check(v):
        raise ApiError(400, f"{name}: expected {what}, got {json.dumps(v)[:40]}")
    return v


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _body(body, allowed: tuple[str, ...]) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, f"expected a JSON object (fields: {', '.join(allowed)})")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r} (expected: {', '.join(allowed)})")
    return body


class Run:
    """One training run and what its watchers see: its ``points`` (Figure 3, in
    order), its latest snapshot, its state; :class:`Watch` is its side in the
    training thread."""

    def __init__(self, cfg, data, owner: str, client: str, pace: int | None, owner_gone: float = OWNER_GONE,
                 drop_after: float = DROP_AFTER):
        from lecun89.serve.snapshot import Sample

        self.id = secrets.token_urlsafe(8)
        self.cfg, self.data, self.owner, self.client, self.pace = cfg, data, owner, client, pace
        self.owner_gone, self.drop_after = owner_gone, drop_after
        self.started_at = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self.dir = Path(tempfile.mkdtemp(prefix="lecun89-train-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), True)
        self.sample = Sample(data)
        self.cond = threading.Condition()
        self.state, self.error, self.why = "starting", None, None
        self.points: list[dict] = []
        self.snap: dict | None = None          # the latest snapshot (numbers and lists)
        self.version = 0                       # bumped at every change watchers see
        self.pause_asked = self.drop_asked = False
        now = time.monotonic()
        self.owner_seen = self.seen = now
        self.thread: threading.Thread | None = None
        self.results: dict | None = None
        self.model = None                      # the latest copy of the network, a reader.Model

    # -- the training thread
    def start(self, resume: bool = False) -> None:
        self.thread = threading.Thread(target=self._train, args=(resume,), daemon=True,
                                       name=f"lecun89-train-{self.cfg.name}")
        self.thread.start()

    def _train(self, resume: bool) -> None:
        from lecun89.train import run_training

        watch = Watch(self)
        try:
            results = run_training(self.cfg, self.dir, data=self.data, resume=resume, quiet=True,
                                   progress=False, watch=watch)
        except Dropped:
            return
        except Exception as exc:  # noqa: BLE001 (a failed run is shown, the server keeps serving)
            with self.cond:
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
                self.version += 1
                self.cond.notify_all()
            return
        watch.finished(results)

    def drop(self, wait: float = 10.0) -> None:
        """End the run (at its next 512 digits or out of its pause) and delete its directory."""
        with self.cond:
            self.drop_asked = True
            self.cond.notify_all()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(wait)
        self._cleanup()

    # -- what watchers see
    def describe(self) -> dict:
        t = self.cfg.train
        last = next((p for p in reversed(self.points) if p["kind"] == "pass"), None)
        return {"id": self.id, "config": self.cfg.name, "seed": self.cfg.seed, "state": self.state,
                "why": self.why, "error": self.error, "passes": t.passes, "optimizer": t.optimizer,
                "engine": t.engine, "loss": t.loss, "cost_scale": t.cost_scale,
                "passes_done": int(last["x"]) if last else 0, "pace": self.pace,
                "train_size": int(len(self.data.y_train)), "test_size": int(len(self.data.y_test)),
                "started": self.started_at, "client": self.client}


class Watch:
    """The run's side in the training thread (:func:`lecun89.train.run_training`'s
    ``watch``): scores the sample every 512 digits, takes the snapshot, paces,
    and pauses or ends the run when asked (between two steps)."""

    def __init__(self, run: Run):
        self.run = run
        self.trainer = None
        self.last = (0, -1)
        self.t0 = time.monotonic()  # the pass's start, pauses excluded
        self.idle = 0.0             # time paced or paused in this pass

    def started(self, trainer) -> None:
        from lecun89.serve.snapshot import start_point
        from lecun89.train import evaluate

        self.trainer, run = trainer, self.run
        if not run.points:  # a new run: the untrained network, pass 0, on the full sets
            d, t = run.data, trainer.cfg.train
            tr = evaluate(trainer.net, d.x_train, d.y_train, t, trainer.predict)
            te = evaluate(trainer.net, d.x_test, d.y_test, t, trainer.predict)
            point = start_point(tr, te)
        else:
            point = None
        n = len(run.data.y_train)
        self._publish(trainer, trainer.passes_done * n, point, run.sample.readings(trainer), state="running")
        self.t0, self.idle = time.monotonic(), 0.0
        self._checkpoint()

    def chunk(self, trainer, p: int, done: int) -> None:
        if (p, done) == self.last:  # the numpy engine's last call of a pass can repeat the count
            return
        self.last = (p, done)
        run = self.run
        n = len(run.data.y_train)
        if run.pace:  # held to the pace: sleep until the digits done are due
            due = self.t0 + self.idle + done / run.pace
            wait = due - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        if done >= n:  # the pass's end: its point comes with its metrics row
            point, readings = None, run.sample.readings(trainer)
        else:
            point, readings = run.sample.point(trainer, p - 1 + done / n)
        self._publish(trainer, (p - 1) * n + done, point, readings)
        self._checkpoint()

    def passed(self, trainer, row: dict) -> None:
        from lecun89.serve.snapshot import pass_point

        n = len(self.run.data.y_train)
        self._publish(trainer, row["pass"] * n, pass_point(row), self.run.sample.readings(trainer))
        self.t0, self.idle = time.monotonic(), 0.0
        self._checkpoint()

    def finished(self, results: dict) -> None:
        run = self.run
        with run.cond:
            if run.drop_asked:
                return
        model = trained_model(run, self.trainer, f"after its {results['passes']} passes")
        with run.cond:
            run.results = results
            run.state, run.why = "done", None
            run.model = model
            run.version += 1
            run.cond.notify_all()

    # -- helpers
    def _sleep(self, seconds: float) -> None:
        t = time.monotonic()
        with self.run.cond:
            self.run.cond.wait_for(lambda: self.run.drop_asked or self.run.pause_asked, seconds)
        self.idle += time.monotonic() - t

    def _publish(self, trainer, digits: int, point: dict | None, readings: list, state: str | None = None) -> None:
        """What watchers see now: ``digits`` trained so far in the run, a new
        Figure 3 point (or None), the strip's readings, the kernels, the steps."""
        from lecun89.serve.snapshot import kernels, step_sizes

        run = self.run
        n = len(run.data.y_train)
        done = digits - trainer.passes_done * n   # into the pass under way (0 between passes)
        busy = time.monotonic() - self.t0 - self.idle
        snap = {"digits": digits, "passes": digits / n, "pass": trainer.passes_done + (1 if done else 0),
                "done": done, "kernels": kernels(trainer.net), "steps": step_sizes(trainer),
                "readings": readings, "digits_per_second": done / busy if done and busy > 0 else None}
        with run.cond:
            if point is not None:
                run.points.append(point)
            run.snap = snap
            if state is not None:
                run.state = state
            run.version += 1
            run.cond.notify_all()

    def _checkpoint(self) -> None:
        """Between two steps: end the run if dropped; pause if asked (or its holder has gone)."""
        run = self.run
        with run.cond:
            if run.drop_asked:
                raise Dropped
            if time.monotonic() - run.owner_seen > run.owner_gone and not run.pause_asked:
                run.pause_asked, run.why = True, f"its page stopped polling for {run.owner_gone:g} s"
            if not run.pause_asked:
                return
        model = trained_model(run, self.trainer, self._where())
        t = time.monotonic()
        with run.cond:
            run.model, run.state = model, "paused"
            run.version += 1
            run.cond.notify_all()
            while run.pause_asked and not run.drop_asked:
                run.cond.wait(1.0)
                if time.monotonic() - run.seen > run.drop_after:
                    run.drop_asked = True
            if run.drop_asked:
                raise Dropped
            run.state, run.why = "running", None
            run.version += 1
            run.cond.notify_all()
        self.idle += time.monotonic() - t

    def _where(self) -> str:
        p, done = self.last
        tr = self.trainer
        if done == 0 or p <= tr.passes_done or done >= len(self.run.data.y_train):
            return f"after pass {max(p, tr.passes_done) if done else tr.passes_done} of {tr.cfg.train.passes}"
        return f"{done:,} digits into pass {p} of {tr.cfg.train.passes}"


def trained_model(run: Run, trainer, where: str):
    """A copy of the trainer's network as a :class:`lecun89.reader.Model` named
    :data:`TRAINED_MODEL` (its config, the threshold that leaves 1% error on the
    run's test digits now, its test error), taken in the training thread between
    two steps."""
    import numpy as np

    from lecun89.config import to_dict
    from lecun89.metrics import TARGET_ERROR, error_rate, gap_threshold
    from lecun89.model import build_model
    from lecun89.reader import Model

    net = build_model(trainer.net.config, init=False)
    net.load_state_dict(trainer.net.state_dict(), "the run's network")
    out = trainer.predict(run.data.x_test)
    y = np.asarray(run.data.y_test)
    desc = f"trained on this page: {run.cfg.name}, seed {run.cfg.seed}, {where}"
    info = {"description": desc, "config": to_dict(run.cfg),
            "results": {"test_error": error_rate(out, y)}, "where": where}
    return Model(TRAINED_MODEL, net, gap_threshold(out, y, TARGET_ERROR), info)


class Training:
    """The server's Train tab: at most one :class:`Run`, the configs it offers,
    the data set last loaded. ``publish(model)`` is called with each trained
    model (:data:`TRAINED_MODEL`) when a run pauses or finishes."""

    def __init__(self, data_dir=None, publish=None, owner_gone: float = OWNER_GONE, drop_after: float = DROP_AFTER):
        self.data_dir = data_dir
        self.owner_gone, self.drop_after = owner_gone, drop_after
        self.publish = publish or (lambda model: None)
        self.run: Run | None = None
        self._lock = threading.Lock()
        self._data: tuple | None = None   # (key, data set)
        self._published = None
        self._snap_json: tuple | None = None   # (the snapshot, its JSON): encoded once a snapshot
        self._json_lock = threading.Lock()

    # -- the configs
    def configs(self) -> dict:
        from lecun89.config import load_config
        from lecun89.data import source_status

        out, status = [], {}
        for name in TRAINABLE:
            cfg = load_config(name)
            if cfg.data.name not in status:
                status[cfg.data.name] = source_status(cfg.data.name, self.data_dir)
            state, where = status[cfg.data.name]
            ok = state in ("ok", "builtin")
            t = cfg.train
            out.append({"name": name, "data": cfg.data.name, "available": ok,
                        "why": None if ok else f"{cfg.data.name}: {state} ({where})",
                        "passes": t.passes, "optimizer": t.optimizer, "engine": t.engine, "seed": cfg.seed,
                        "constant_rate": t.schedule in ("constant", "step")})
        return {"configs": out, "max_passes": MAX_PASSES, "pace_range": list(PACE_RANGE),
                "owner_gone": self.owner_gone, "drop_after": self.drop_after}

    def _load(self, cfg):
        from lecun89.errors import UserError
        from lecun89.train import load_data

        key = (cfg.data.name, cfg.data.subset, cfg.data.subset_seed)
        if self._data is not None and self._data[0] == key:
            return self._data[1]
        try:
            data = load_data(cfg, self.data_dir)
        except UserError as exc:
            raise ApiError(404, f"{cfg.name}: its data ({cfg.data.name}) is not on this server: {exc}") from None
        self._data = (key, data)
        return data

    # -- the routes
    def start(self, body, client: str = "") -> dict:
        """``POST /api/train/start`` ``{"config", "seed"?, "pace"?, "owner"?}``."""
        from lecun89.config import load_config

        body = _body(body, ("config", "seed", "pace", "owner"))
        name = _field(body, "config", lambda v: v in TRAINABLE, f"one of {', '.join(TRAINABLE)}")
        seed = _field(body, "seed", lambda v: v is None or (_is_int(v) and 0 <= v <= MAX_SEED),
                      f"an integer 0-{MAX_SEED} (or leave it out: the config's)")
        pace = _field(body, "pace", lambda v: v is None or (_is_int(v) and PACE_RANGE[0] <= v <= PACE_RANGE[1]),
                      f"digits per second, an integer {PACE_RANGE[0]}-{PACE_RANGE[1]}, or null (full speed)")
        owner = body.get("owner")
        with self._lock:
            old = self.run
            if old is not None and old.owner != owner and self._present(old):
                raise ApiError(409, self._busy(old))
            cfg = load_config(name, seed=seed)
            data = self._load(cfg)
            if old is not None:
                old.drop()
            run = Run(cfg, data, secrets.token_urlsafe(16), client, pace, self.owner_gone, self.drop_after)
            self.run = run
            run.start()
        return {**self.poll({"owner": run.owner}), "owner": run.owner}

    def _present(self, run: Run) -> bool:
        return run.state in STATES[:4] and time.monotonic() - run.owner_seen <= run.owner_gone

    @staticmethod
    def _busy(run: Run) -> str:
        d = run.describe()
        who = f"another page{' at ' + run.client if run.client else ''}, since {run.started_at}"
        return (f"busy: this server trains one network at a time, and {d['config']} (seed {d['seed']}, "
                f"{d['state']}, pass {d['passes_done']} of {d['passes']}) is held by {who}; watch it, "
                f"or start yours once that page has gone ({run.owner_gone:g} s without a poll)")

    def _own(self, body, allowed=("owner",)) -> Run:
        body = _body(body, allowed)
        run = self.run
        if run is None:
            raise ApiError(404, "no training run on this server (start one)")
        if body.get("owner") != run.owner:
            raise ApiError(403, "only the page that started this run can change it (this page may watch it)")
        run.owner_seen = run.seen = time.monotonic()
        return run

    def stop(self, body) -> dict:
        """``POST /api/train/stop`` ``{"owner"}``: pause at the next 512 digits."""
        run = self._own(body)
        with run.cond:
            if run.state not in ("starting", "running"):
                raise ApiError(409, f"the run is {run.state}, not running")
            run.pause_asked, run.why = True, "stopped by its page"
            run.cond.notify_all()
        return self.poll({"owner": run.owner})

    def resume(self, body) -> dict:
        """``POST /api/train/continue`` ``{"owner", "passes"?}``: a paused run goes
        on; a finished one goes on for ``passes`` more (default 5)."""
        import dataclasses

        body = _body(body, ("owner", "passes"))
        more = _field(body, "passes", lambda v: _is_int(v) and v >= 1, "a whole number of passes, at least 1", 5)
        run = self._own(body, ("owner", "passes"))
        with self._lock, run.cond:
            if run.state == "paused":
                run.pause_asked = False
                run.cond.notify_all()
                return self._poll(run, 0, True)
            if run.state != "done":
                raise ApiError(409, f"the run is {run.state}: only a paused or finished run continues")
            total = run.cfg.train.passes + more
            if total > MAX_PASSES:
                raise ApiError(400, f"passes: {run.cfg.train.passes} + {more} is over this server's "
                                    f"{MAX_PASSES} passes a run")
            from lecun89 import rundir
            from lecun89.atomic import write_text
            from lecun89.config import to_toml

            run.cfg = dataclasses.replace(run.cfg, train=dataclasses.replace(run.cfg.train, passes=total))
            write_text(run.dir / rundir.CONFIG, to_toml(run.cfg))   # as the run directory of that many passes
            run.state, run.results, run.why = "starting", None, None
            run.version += 1
        run.start(resume=True)
        return self.poll({"owner": run.owner})

    def save(self, body) -> dict:
        """``POST /api/train/save`` ``{"owner"}``: a finished run copied to a new
        run directory under ``runs/`` (the server's folder), as ``lecun89 train``
        names and writes it, with its report."""
        from lecun89.report import report_run
        from lecun89.train import default_out_dir

        run = self._own(body)
        if run.state != "done":
            raise ApiError(409, f"the run is {run.state}: a run is saved when it has finished its passes")
        out = default_out_dir(run.cfg)
        tmp = out.with_name(out.name + ".partial")
        shutil.copytree(run.dir, tmp)
        tmp.rename(out)
        report = report_run(out, data_dir=self.data_dir)
        return {"saved": str(out.resolve()), "report": str(Path(report).resolve())}

    def leave(self, body) -> dict:
        """``POST /api/train/leave`` ``{"owner"}`` (the holder's page closing, by a
        beacon): the run is held no more; it pauses at its next 512 digits and any
        page may start one."""
        run = self._own(body)
        run.owner_seen = -math.inf
        return {"left": run.id}

    def forget(self, body) -> dict:
        """``POST /api/train/drop`` ``{"owner"}``: end the run and forget it."""
        run = self._own(body)
        with self._lock:
            if self.run is run:
                self.run = None
        run.drop()
        return {"dropped": run.id}

    def poll(self, query: dict) -> dict:
        """``GET /api/train?since=K&owner=T``: the run's state, its points from the
        K-th on, its latest snapshot; a poll with the holder's ``owner`` keeps it
        held. ``{"run": null}`` when the server has none."""
        since = query.get("since", 0)
        if isinstance(since, str):
            if not since.isdigit() or len(since) > 9:
                raise ApiError(400, f"since: expected a whole number, got {since[:40]!r}")
            since = int(since)
        run = self.run
        now = time.monotonic()
        if run is not None and run.state in ("done", "failed") and now - run.seen > run.drop_after:
            with self._lock:   # a finished run no page has polled for DROP_AFTER: forgotten
                if self.run is run:
                    self.run = None
            run.drop()
            run = None
        if run is None:
            return {"run": None}
        run.seen = now
        owner = query.get("owner")
        if owner is not None and owner == run.owner:
            run.owner_seen = now
        with run.cond:
            published = run.model
            r = self._poll(run, since, owner == run.owner)
        if published is not None and published is not self._published:
            self._published = published
            self.publish(published)
        return r

    def poll_json(self, query: dict) -> bytes:
        """:meth:`poll`'s answer encoded, the snapshot's JSON made once for every
        watcher (it changes every 512 digits; 20 pages poll it several times a second)."""
        r = self.poll(query)
        snap = r.pop("snapshot", None)
        if snap is None:
            return json.dumps(r if r["run"] is None else {**r, "snapshot": None}, allow_nan=False,
                              separators=(",", ":")).encode()
        head = json.dumps(r, allow_nan=False, separators=(",", ":"))
        with self._json_lock:
            if self._snap_json is None or self._snap_json[0] is not snap:
                self._snap_json = (snap, json.dumps(snap, allow_nan=False, separators=(",", ":")))
            body = self._snap_json[1]
        return (head[:-1] + ',"snapshot":' + body + "}").encode()

    def _poll(self, run: Run, since: int, holder: bool) -> dict:
        from lecun89.report.references import references_for

        model = run.model
        r = {"run": run.describe(), "holder": holder, "version": run.version, "since": since,
             "npoints": len(run.points), "points": run.points[since:], "snapshot": run.snap,
             "model": None if model is None else {"name": model.name, "where": model.info["where"],
                                                  "test_error": model.info["results"]["test_error"]},
             "results": run.results}
        if since == 0:
            r["strip"] = run.sample.strip_info()
            r["references"] = [{"label": ref["label"], "short": ref["short"], "figures": ref["figures"]}
                               for ref in references_for(run.cfg.name, run.cfg.model.arch)
                               if ref.get("dataset") == run.cfg.data.name]
        return r

    def close(self) -> None:
        """Drop the run (the server is closing)."""
        if self.run is not None:
            self.run.drop(wait=2.0)

