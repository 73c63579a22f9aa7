"""Where a sweep's runs execute: ``local`` processes or a Dask cluster.

- ``local`` (the default): a process pool on this machine, ``--jobs`` processes.
  Each process trains straight into its run directory under OUT, so a run
  interrupted there resumes from its last completed pass.
- ``dask``: Dask's distributed scheduler (``dask[distributed]``, an optional
  extra), either an existing cluster (``--scheduler tcp://HOST:PORT``) or a
  ``LocalCluster`` of ``--jobs`` single-threaded worker processes. Workers need
  no shared filesystem and no data files: the client loads and checks each data
  set once and scatters it to the workers once; a task trains in the worker's
  temporary folder and returns its run directory's files, which the client
  writes under OUT (a partial run of the same config is sent along and
  resumed). A worker lost mid-run: the scheduler re-runs its task on another
  worker, from the start, to the same bits.

Both pin BLAS to one thread around every run (:func:`lecun89.threads.one_thread`),
so a run's numbers do not depend on the executor.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from lecun89 import rundir
from lecun89.errors import UserError

if TYPE_CHECKING:  # the runs' types; imported for real by the functions that run them
    from lecun89.config import Config
    from lecun89.studies.spec import PlannedRun

EXECUTORS = ("local", "dask")
CONNECT_TIMEOUT = "20s"      # reaching the scheduler
WORKER_TIMEOUT = 60          # seconds to wait for a first worker


@dataclass(frozen=True)
class Task:
    run: PlannedRun
    run_dir: Path
    resume: bool          # a partial run of the same config is there


def data_key(cfg: Config) -> tuple:
    """Runs with the same key train on the same arrays."""
    return (cfg.data.name, cfg.data.subset, cfg.data.subset_seed)


# --- local ---------------------------------------------------------------------------

def _local_task(cfg: Config, run_dir: str, data_dir, resume: bool, report: bool, extra: dict | None) -> dict:
    from lecun89.train import run_training

    # The sweep's process holds the run directory (rundir.claim) while this one writes it.
    results = run_training(cfg, Path(run_dir), data_dir, resume=resume, quiet=True, progress=False, extra=extra,
                           claim=False)
    if report:
        _report(Path(run_dir), data_dir=data_dir)
    return results


def _report(run_dir: Path, **kwargs) -> None:
    from lecun89.report import report_run

    report_run(run_dir, **kwargs)


def run_local(tasks: list[Task], on_done: Callable[[Task, dict], None], *, jobs: int, data_dir=None,
              report: bool = True, say: Callable[[str], None] = print) -> None:
    """Run ``tasks`` in ``jobs`` processes; ``on_done(task, results)`` as each finishes."""
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_local_task, t.run.config, str(t.run_dir), data_dir, t.resume, report,
                               t.run.extra_results()): t for t in tasks}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    try:
                        results = f.result()
                    except (UserError, KeyboardInterrupt):
                        raise
                    except Exception as exc:  # noqa: BLE001 (failed in its process (memory, a killed process, ...))
                        raise UserError(f"{futures[f].run.describe()} failed: {type(exc).__name__}: {exc}; "
                                        "the same command resumes the study") from None
                    on_done(futures[f], results)
        except BaseException:
            for f in pending:
                f.cancel()
            raise


# --- dask ------------------------------------------------------------------------------

def require_distributed():
    """Dask's distributed scheduler, or a one-line error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UserError("--executor dask needs Dask's distributed scheduler, an optional extra: "
                        "pip install -e '.[dask]' in a checkout, or pip install 'dask[distributed]'",
                        status=2) from None
    return distributed


def _worker_info() -> dict:
    """What decides a run's bits on a worker (run there by ``client.run``)."""
    import platform

    import numpy

    from lecun89.version import __version__

    info = {"lecun89": __version__, "numpy": numpy.__version__, "python": platform.python_version()}
    try:  # the numba engine's bits depend on it (and on the CPU it compiles for)
        import numba
    except ImportError:
        info["numba"] = None
    else:
        info["numba"] = numba.__version__
    return info


_malloc_restored = False


def _restore_malloc() -> None:
    """Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand
    freed memory back to the system sooner). On glibc that also pins the mmap
    threshold at 128 kB, so the arrays of every evaluation block (~0.8 MB) are
    mapped and unmapped afresh each time: evaluation took twice the CPU time
    (measured). Give the worker process glibc's usual thresholds back; this
    moves where memory comes from, never a result's bits."""
    global _malloc_restored
    if _malloc_restored or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _malloc_restored = True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: glibc's own ceiling for its dynamic threshold
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: twice that, as glibc keeps it
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def dask_task(cfg: Config, data, resume_files: dict | None, report: bool, extra: dict | None):
    """One run on a Dask worker, in a temporary folder: returns ``(files, results)``,
    the run directory's files as bytes and results.json's dict."""
    import tempfile

    from lecun89.threads import one_thread
    from lecun89.train import run_training

    _restore_malloc()
    with tempfile.TemporaryDirectory(prefix="lecun89-run-") as tmp, one_thread():
        run_dir = Path(tmp) / "run"
        if resume_files:
            run_dir.mkdir()
            for name, blob in resume_files.items():
                (run_dir / name).write_bytes(blob)
        results = run_training(cfg, run_dir, data=data, resume=bool(resume_files), quiet=True, progress=False,
                               extra=extra, claim=False)  # a private folder; the sweep holds the real one
        if report:
            _report(run_dir, data=data)
        files = {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}
    return files, results


def _partial_files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())
            if p.is_file() and not p.name.endswith(".tmp") and p.name != rundir.LOCK}


def write_run_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a run directory received from a worker: into a hidden sibling folder,
    then renamed into place (replacing the partial run it resumed), so that a
    run directory is never half-written."""
    for name in files:
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"unexpected file name from a worker: {name!r}")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    incoming = run_dir.parent / f".{run_dir.name}.incoming"
    replaced = run_dir.parent / f".{run_dir.name}.replaced"
    for d in (incoming, replaced):
        shutil.rmtree(d, ignore_errors=True)
    incoming.mkdir()
    for name, blob in files.items():
        (incoming / name).write_bytes(blob)
    if run_dir.exists():
        run_dir.rename(replaced)
    incoming.rename(run_dir)
    shutil.rmtree(replaced, ignore_errors=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _connect(scheduler: str | None, jobs: int):
    from distributed import Client, LocalCluster

    if scheduler is None:
        import dask

        # The workers ignore Ctrl-C (a terminal sends it to every process of the group):
        # the client stops them when it is interrupted. (Ignored signals stay ignored in
        # the processes started meanwhile.) Dask's statistical profiler, which samples
        # the running task's stack every 10 ms, cost about 10% of the training time (measured).
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                       silence_logs=logging.ERROR)
        finally:
            signal.signal(signal.SIGINT, previous)
        return Client(cluster), cluster
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise UserError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({_one_line(exc)})",
                        status=2) from None
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise UserError(f"--scheduler {scheduler}: no worker joined within {WORKER_TIMEOUT} s; start some with "
                        f"`dask worker {scheduler} --nthreads 1` ({_one_line(exc)})") from None
    return client, None


def _check_workers(client, say) -> None:
    try:
        info = client.run(_worker_info)
    except Exception as exc:  # noqa: BLE001 (e.g. lecun89 not importable on a worker)
        raise UserError(f"dask: a worker cannot run lecun89 ({_one_line(exc)}); install the same lecun89 "
                        "(and numpy) on every worker") from None
    here = _worker_info()
    for addr, theirs in sorted(info.items()):
        diff = [f"{k} {theirs.get(k)} (here {v})" for k, v in here.items() if theirs.get(k) != v]
        if diff:
            say(f"dask: warning: worker {addr} has {', '.join(diff)}; its runs may differ in the last bits")


def dashboard(client) -> str:
    """Where the scheduler's dashboard is, or why there is none."""
    def _has_bokeh() -> bool:  # defined here: sent by value, the scheduler needs no lecun89
        import importlib.util

        return importlib.util.find_spec("bokeh") is not None

    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return "no dashboard"
        if not client.run_on_scheduler(_has_bokeh):
            return "no dashboard (the scheduler needs bokeh: pip install bokeh)"
        return f"dashboard {client.dashboard_link}"
    except Exception as exc:  # noqa: BLE001 (a scheduler that cannot answer)  # pragma: no cover
        return f"dashboard unknown ({_one_line(exc)})"


def run_dask(tasks: list[Task], on_done: Callable[[Task, dict], None], *, datasets: dict, scheduler: str | None,
             jobs: int, report: bool = True, say: Callable[[str], None] = print) -> dict:
    """Run ``tasks`` on a Dask cluster (see the module docstring); ``datasets`` maps
    :func:`data_key` to the loaded data. Returns byte counts of what travelled."""
    import pickle
    from concurrent.futures import CancelledError

    from distributed import KilledWorker, as_completed

    import uuid

    from lecun89.config import config_hash

    client, cluster = _connect(scheduler, jobs)
    sent = {"data_bytes": 0, "task_bytes": 0, "result_bytes": 0, "tasks": 0}
    sweep_id = uuid.uuid4().hex[:8]
    futures: dict = {}
    try:
        n_workers = len(client.scheduler_info().get("workers", {}))
        where = scheduler or "a LocalCluster"
        say(f"dask: {where}, {n_workers} worker(s), {dashboard(client)}")
        _check_workers(client, say)
        scattered = {}
        for key, ds in datasets.items():
            sent["data_bytes"] += len(pickle.dumps(ds, protocol=5))
            scattered[key] = client.scatter(ds, broadcast=True, hash=False)  # once, to every worker
        for t in tasks:
            cfg = t.run.config
            args = (cfg, scattered[data_key(cfg)], _partial_files(t.run_dir) if t.resume else None, report,
                    t.run.extra_results())
            sent["task_bytes"] += len(pickle.dumps((args[0], args[2], args[3], args[4]), protocol=5))
            # unique to this sweep: Dask merges tasks of one key, even from two clients
            key = f"lecun89-{cfg.name}-seed{cfg.seed}-{config_hash(cfg)[:12]}-{sweep_id}"
            futures[client.submit(dask_task, *args, key=key)] = t
        for fut in as_completed(list(futures)):
            t = futures.pop(fut)
            try:
                files, results = fut.result()
            except KilledWorker:
                raise UserError(f"dask: {t.run.describe()}: every worker that ran it died (Dask's KilledWorker); "
                                "see the workers' logs; the same command resumes the study") from None
            except CancelledError:
                raise UserError(f"dask: {t.run.describe()} was cancelled (the scheduler went away?); "
                                "the same command resumes the study") from None
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 (failed on its worker (memory, a missing module, ...))
                raise UserError(f"dask: {t.run.describe()} failed on its worker: {_one_line(exc)}; "
                                "the same command resumes the study") from None
            sent["result_bytes"] += sum(len(b) for b in files.values())
            sent["tasks"] += 1
            write_run_files(t.run_dir, files)
            fut.release()
            on_done(t, results)
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()
        if cluster is not None:
            cluster.close()
    return sent
