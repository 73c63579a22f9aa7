"""A run directory, as ``lecun89 train`` writes it and everything else reads it:
``results.json``, ``config.toml``, ``metrics.jsonl``, ``outputs.npz``,
``model.npz``, ``meta.json`` (and ``state.npz`` for resuming); finding the
runs below a sweep's folder; and claiming a run directory for one process
(:func:`claim`). The file names are stated here only.

Readers raise :class:`~lecun89.errors.UserError` (one line, naming the file)
for a file that is there but unreadable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from pathlib import Path

import numpy as np

from lecun89.errors import UserError

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
OUTPUTS = "outputs.npz"
MODEL = "model.npz"
STATE = "state.npz"
META = "meta.json"
# Held (locked) by the process writing the run, removed when it is done (:func:`claim`).
LOCK = ".lock"

# results.json keys every finished run has; metrics.jsonl's per-pass columns.
RESULT_KEYS = ("config_name", "dataset", "passes", "train_error", "test_error", "train_misses", "test_misses",
               "train_size", "test_size")


METRIC_KEYS = ("train_loss", "train_error", "test_loss", "test_error", "train_mse", "test_mse", "lr", "seconds")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_json(path: Path) -> dict:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_metrics(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "pass" not in row:
            raise UserError(f"{path}: line {n} is not a per-pass record (no 'pass' key)")
        rows.append(row)
    return rows


def read_config(path: Path):
    """The :class:`~lecun89.config.Config` a run's config.toml holds (validated)."""
    from lecun89.config import config_from_dict, read_toml

    return config_from_dict(read_toml(path), str(path))


def read_npz(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 (BadZipFile, ValueError (pickled objects), OSError, EOFError)
        raise UserError(f"{path}: cannot read as .npz of named arrays: {type(exc).__name__}: {exc}") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise UserError(f"{path}: missing array(s) {', '.join(missing)}")
    return arrays


def read_run(run_dir) -> dict:
    """Everything a report needs from a run directory; missing optional files
    give ``None`` (and a note); present but unreadable files raise UserError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory (expected a run directory written by 'lecun89 train')")
    results_path = run_dir / RESULTS
    if not results_path.is_file():
        raise UserError(f"{results_path}: not found; {run_dir} is not a finished run directory "
                        f"(finish an interrupted run with 'lecun89 train --resume {run_dir}')")
    results = read_json(results_path)
    missing = [k for k in RESULT_KEYS if k not in results]
    if missing:
        raise UserError(f"{results_path}: missing key(s) {', '.join(missing)}; not a lecun89 results file")
    bad = [k for k in RESULT_KEYS[2:] if isinstance(results[k], bool) or not isinstance(results[k], (int, float))]
    if bad:
        raise UserError(f"{results_path}: {', '.join(bad)} must be numbers")
    run = {"dir": run_dir, "results": results, "notes": [], "config": None, "metrics": None,
           "outputs": None, "model": None, "meta": None}
    notes = run["notes"]

    cfg_path = run_dir / CONFIG
    if cfg_path.is_file():
        try:
            run["config"] = tomllib.loads(read_text(cfg_path))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{cfg_path}: not valid TOML ({exc})") from None
    else:
        notes.append("config.toml is missing: the data set is taken from results.json with its default subset.")

    m_path = run_dir / METRICS
    if m_path.is_file():
        run["metrics"] = read_metrics(m_path)
    else:
        notes.append("metrics.jsonl is missing: no learning curves.")

    o_path = run_dir / OUTPUTS
    if o_path.is_file():
        out = read_npz(o_path, ("test_outputs", "test_labels"))
        y, lab = out["test_outputs"], out["test_labels"]
        if y.ndim != 2 or lab.ndim != 1 or len(y) != len(lab) or y.shape[1] < 2:
            raise UserError(f"{o_path}: test_outputs {y.shape} and test_labels {lab.shape} do not match "
                            "(expected (N, 10) and (N,))")
        if lab.dtype.kind not in "iu" or (len(lab) and (lab.min() < 0 or lab.max() >= y.shape[1])):
            raise UserError(f"{o_path}: test_labels must be integers 0-{y.shape[1] - 1}")
        run["outputs"] = {"test_outputs": np.asarray(y, dtype=np.float64), "test_labels": lab.astype(np.int64)}
    else:
        notes.append("outputs.npz is missing: no confusion matrix, rejection curve or misclassified digits; "
                     "the rejection figure is results.json's.")

    model_path = run_dir / MODEL
    if model_path.is_file():
        run["model"] = read_npz(model_path)
    else:
        notes.append("model.npz is missing: no kernel images.")

    meta_path = run_dir / META
    if meta_path.is_file():
        run["meta"] = read_json(meta_path)
    else:
        notes.append("meta.json is missing: provenance is partial.")
    return run


def find_runs(directory) -> list[Path]:
    """Run directories one to three levels below ``directory`` (``<config>/seed-<n>/``, a
    study's ``<config>/<variant>-<hash>/seed-<n>/``), sorted; folders whose names start
    with '.' (a sweep's files in transit) are not runs."""
    d = Path(directory)
    found = {p.parent for pattern in ("*/results.json", "*/*/results.json", "*/*/*/results.json")
             for p in d.glob(pattern)
             if not any(part.startswith(".") for part in p.parent.relative_to(d).parts)}
    return sorted(found, key=lambda p: p.as_posix())


def has_files(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds anything but a claim's lock file."""
    return run_dir.is_dir() and any(p.name != LOCK for p in run_dir.iterdir())


@contextlib.contextmanager
def claim(run_dir: Path):
    """Hold ``run_dir`` for this process while the block runs: a lock on
    ``run_dir/.lock`` (the directory is made if need be), taken at once or not
    at all. A second process claiming the same directory (two ``lecun89 train
    --out D``, two ``--resume D``, two sweeps into one folder) gets a one-line
    UserError naming it instead of writing into it too. The lock is the
    kernel's (``flock``): a process that dies, however, lets go of it; the
    file is removed when the block ends, and so is the directory when the
    claim made it and nothing was written into it (a refused or failed run
    leaves no empty folder)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an exclusive create, removed at the end
        fcntl = None
    run_dir = Path(run_dir)
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    while True:
        if fcntl is None:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                raise _in_use(run_dir, path) from None
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _in_use(run_dir, path) from None
        # The file locked must still be the one at the path: a holder that was
        # letting go may have removed it just before.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield run_dir
    finally:
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)
        if made:
            with contextlib.suppress(OSError):  # not empty (the run wrote), or already gone
                run_dir.rmdir()


def _in_use(run_dir: Path, path: Path) -> UserError:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    who = f"another lecun89 process (pid {pid})" if pid.isdigit() else "another lecun89 process"
    return UserError(f"{run_dir}: in use by {who}; wait for it to finish, or choose another --out", status=2)
