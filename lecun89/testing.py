"""What the tests (tests/) and the benchmark scripts (scripts/bench_*.py) share.

Not part of lecun89's API: helpers for checking it.

- :data:`REPO`, :func:`resolve_data_dir`: the source checkout and the data sets' folder;
- :data:`STROKES`, :func:`canvas_png`, :func:`data_url`, :func:`draw_plain`: drawn digits;
- :func:`start_server`, :func:`stop_server`, :func:`request`, :func:`post`:
  ``python -m lecun89 serve`` on 127.0.0.1, stopped by its process id;
  :func:`in_process_server` the same server in this process, and
  :func:`watch_training` a page watching its Train tab;
- :func:`execute_notebook`, :func:`notebook_outputs`: docs/tutorial.ipynb run and read;
- :data:`CHROMIUM`: where the browser tests look for Debian's Chromium;
- :class:`DaskCluster`, :func:`quick_study`, :func:`stop_process`,
  :func:`free_port`: a ``dask scheduler`` and ``dask worker`` processes on
  127.0.0.1, stopped by their process ids, and a small study to run on them.

Heavy or optional imports (dask, http, subprocess, PIL) happen inside the functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

# --- where things are ---------------------------------------------------------------

# The source checkout lecun89 is imported from (the folder holding lecun89/, configs/, scripts/).
REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's (apt-get install chromium); Playwright cannot download one here


def resolve_data_dir() -> Path:
    """The data sets' folder: ``$LECUN89_DATA`` if set, else ``<repo>/../shared/data``
    (the layout of the project's workspace). It may not exist."""
    env = os.environ.get("LECUN89_DATA")
    if env:
        return Path(env).expanduser()
    return REPO.parent / "shared" / "data"


# --- drawn digits ---------------------------------------------------------------------

# A few digits as polylines in the unit square (x right, y down), as a person draws them.
STROKES = {
    "1": [[(0.52, 0.15), (0.50, 0.85)]],
    "7": [[(0.25, 0.18), (0.75, 0.18), (0.42, 0.85)]],
    "4": [[(0.60, 0.85), (0.60, 0.15), (0.22, 0.62), (0.80, 0.62)]],
    "0": [[(0.5 + 0.22 * np.cos(t), 0.5 + 0.33 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 25)]],
    "2": [[(0.27, 0.30), (0.40, 0.17), (0.60, 0.17), (0.70, 0.30), (0.66, 0.45), (0.28, 0.83), (0.75, 0.83)]],
    "3": [[(0.5 + 0.2 * np.cos(a), 0.32 + 0.15 * np.sin(a)) for a in np.linspace(-0.8 * np.pi, 0.5 * np.pi, 20)],
          [(0.5 + 0.22 * np.cos(a), 0.65 + 0.17 * np.sin(a)) for a in np.linspace(-0.5 * np.pi, 0.8 * np.pi, 20)]],
}


def canvas_png(digit, size: int = 280, width: float = 0.09, offset=(0.0, 0.0)) -> bytes:
    """A drawing as the page's canvas sends it: black strokes ``width`` of the
    canvas wide, round ends, on white, ``size`` x ``size`` pixels. ``digit``: a
    key of :data:`STROKES`, or strokes of its own form."""
    import io

    from PIL import Image, ImageDraw

    strokes = STROKES[digit] if isinstance(digit, str) else digit
    img = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    d = ImageDraw.Draw(img)
    w = max(1, round(width * size))
    for line in strokes:
        pts = [((x + offset[0]) * size, (y + offset[1]) * size) for x, y in line]
        d.line(pts, fill=(0, 0, 0, 255), width=w, joint="curve")
        for x, y in pts:
            d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=(0, 0, 0, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def data_url(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def draw_plain(digit: int, size: int, width: int, dark_on_light: bool = True, alpha: bool = False):
    """A plain 1, 7 or 0 drawn with lines, about 70% of a size x size picture high
    (a PIL image: gray, or RGBA strokes on a transparent sheet with ``alpha``)."""
    from PIL import Image, ImageDraw

    bg, fg = (255, 0) if dark_on_light else (0, 255)
    img = Image.new("L", (size, size), bg)
    d = ImageDraw.Draw(img)
    top, bottom, c = 0.15 * size, 0.85 * size, size / 2
    if digit == 1:
        d.line([(c + 0.04 * size, top), (c - 0.04 * size, bottom)], fill=fg, width=width)
    elif digit == 7:
        d.line([(c - 0.24 * size, top), (c + 0.24 * size, top), (c - 0.06 * size, bottom)], fill=fg, width=width,
               joint="curve")
    elif digit == 0:
        d.ellipse([c - 0.24 * size, top, c + 0.24 * size, bottom], outline=fg, width=width)
    if not alpha:
        return img
    ink = 255 - np.asarray(img) if dark_on_light else np.asarray(img)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = 0 if dark_on_light else 255
    rgba[..., 3] = ink  # strokes opaque on a transparent sheet, like a drawing canvas
    return Image.fromarray(rgba, "RGBA")


# --- lecun89 serve ----------------------------------------------------------------------

def start_server(*args: str, timeout: float = 60.0):
    """Start ``python -m lecun89 serve --port 0 ARGS`` on 127.0.0.1 -> (process,
    the URL it printed, its stderr as an open temporary file). Stop it with
    :func:`stop_server`."""
    import re
    import subprocess
    import tempfile
    import threading

    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "lecun89", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=err, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    m = re.search(r"http://127\.0\.0\.1:\d+/", line[0]) if line else None
    if not m:
        stop_server(proc)
        err.seek(0)
        raise AssertionError(f"server did not print its URL: {line!r}; stderr: {err.read()[-2000:]}")
    return proc, m.group(0), err


def stop_server(proc) -> None:
    """Stop a server :func:`start_server` started, by its process id (SIGTERM, then SIGKILL)."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


def request(url: str, method: str, path: str, body=None, headers: dict | None = None):
    """One request on a connection of its own -> (status, the response, parsed
    JSON or raw bytes). A body that is not bytes is sent as JSON."""
    import http.client
    import json
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        if res.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return res.status, res, data
    finally:
        conn.close()


def post(url: str, obj):
    """POST ``obj`` as JSON to ``/api/predict`` -> as :func:`request`."""
    return request(url, "POST", "/api/predict", obj)


def in_process_server(**app_args):
    """``lecun89 serve``'s server in this process, on 127.0.0.1 and a free port,
    served from a thread -> (the server, its URL); stop it with
    ``server.shutdown()`` (and ``server.app.training.close()``)."""
    import threading

    from lecun89.serve import App, make_server

    server = make_server(App(**app_args), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.url


def watch_training(url: str, owner: str | None = None, until=("done", "failed"), timeout: float = 300.0,
                   every: float = 0.05, on_poll=None) -> dict:
    """Poll ``GET /api/train`` (as the run's holder with ``owner``) every
    ``every`` seconds until the run's state is one of ``until`` -> the last
    answer, its ``points`` the whole run's (gathered with ``since``).
    ``on_poll(answer)`` sees every answer."""
    import time

    points, since, run_id = [], 0, None
    t_end = time.monotonic() + timeout
    while True:
        q = f"/api/train?since={since}" + (f"&owner={owner}" if owner else "")
        status, _, r = request(url, "GET", q)
        assert status == 200, r
        if r["run"] is not None and r["run"]["id"] != run_id:   # a new run: from its first point
            run_id, points, since = r["run"]["id"], [], 0
            if r["since"] != 0:
                continue
        points += r["points"]
        since = r["npoints"]
        if on_poll is not None:
            on_poll(r)
        if r["run"] is None or r["run"]["state"] in until:
            return {**r, "points": points}
        if time.monotonic() > t_end:
            raise AssertionError(f"training still {r['run']['state']} after {timeout} s")
        time.sleep(every)


# --- the tutorial notebook ----------------------------------------------------------

def execute_notebook(path: Path, timeout: float = 300.0):
    """Run a notebook (nbclient, a python3 kernel of this interpreter) in its own
    folder -> the executed notebook (nbformat's); the file is not changed."""
    import nbclient
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    env = {"MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def notebook_outputs(nb) -> list[list[str]]:
    """Each code cell's outputs as text: streams and text results as printed,
    errors by name and message, pictures as ``<image/png>`` (their bytes vary
    with the plotting library's version, their presence does not)."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = []
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                outs.append(f"{o['name']}: {o['text']}")
            elif o["output_type"] == "error":
                outs.append(f"error: {o['ename']}: {o['evalue']}")
            elif "image/png" in o.get("data", {}):
                outs.append("<image/png>")
            else:
                outs.append(str(o.get("data", {}).get("text/plain", "")))
        cells.append(outs)
    return cells


# --- processes and a Dask cluster -----------------------------------------------------

def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, grace: float = 0.0) -> None:
    """Stop a process started with ``start_new_session=True``, and its process
    group, by its id: SIGKILL at once, or with ``grace`` seconds, SIGTERM first
    and SIGKILL if it is still there after them."""
    import signal
    import subprocess

    def send(sig) -> None:
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass

    if proc.poll() is None:
        if grace > 0:
            send(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                send(signal.SIGKILL)
        else:
            send(signal.SIGKILL)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


def dask_command(what: str) -> list[str]:
    """``dask scheduler`` / ``dask worker`` of this Python."""
    exe = Path(sys.executable).parent / "dask"
    if exe.is_file():
        return [str(exe), what]
    return [sys.executable, "-m", f"distributed.cli.dask_{what}"]


class DaskCluster:
    """A ``dask scheduler`` and ``n_workers`` single-threaded ``dask worker``
    processes on 127.0.0.1 (logs in ``base``), each in a session of its own and
    stopped by its process id.

    ``nanny``: workers with a nanny process (Dask's default); ``own_tmpdir``:
    each worker's ``TMPDIR`` is ``base/worker-<i>`` (where lecun89's runs train
    on it); ``worker_env``: more environment variables for the workers.
    :attr:`workers` holds (process, its TMPDIR or None) pairs."""

    def __init__(self, base: Path, n_workers: int = 2, *, nanny: bool = True, own_tmpdir: bool = False,
                 worker_env: dict | None = None, timeout: float = 60.0):
        self.base = Path(base)
        self.n_workers = n_workers
        self.nanny, self.own_tmpdir, self.worker_env, self.timeout = nanny, own_tmpdir, worker_env, timeout
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: list = []
        self.workers: list[tuple] = []

    def _start(self, cmd: list[str], log: Path, env=None):
        import subprocess

        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self) -> DaskCluster:
        """Start the processes and wait until every worker has joined; a
        RuntimeError with the logs' ends if they do not within ``timeout`` s."""
        import time

        from distributed import Client

        port = self.address.rsplit(":", 1)[1]
        self._start(dask_command("scheduler") + ["--host", "127.0.0.1", "--port", port, "--no-dashboard"],
                    self.base / "scheduler.log")
        for i in range(self.n_workers):
            env = dict(os.environ, **(self.worker_env or {}))
            tmp = None
            if self.own_tmpdir:
                tmp = self.base / f"worker-{i}"
                tmp.mkdir()
                env["TMPDIR"] = str(tmp)
            proc = self._start(dask_command("worker") + [self.address, "--nthreads", "1",
                                                         *([] if self.nanny else ["--no-nanny"]),
                                                         "--host", "127.0.0.1", "--no-dashboard",
                                                         "--name", f"worker-{i}"],
                               self.base / f"worker-{i}.log", env=env)
            self.workers.append((proc, tmp))
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with Client(self.address, timeout="5s") as client:
                    client.wait_for_workers(self.n_workers, timeout=self.timeout)
                return self
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                    raise RuntimeError("the Dask cluster did not start:\n" + "\n".join(
                        p.read_text(errors="replace")[-2000:] for p in self.base.glob("*.log"))) from None
                time.sleep(0.5)

    def stop(self, grace: float = 0.0) -> None:
        """Stop every process, workers first (see :func:`stop_process`)."""
        for proc in reversed(self.procs):
            stop_process(proc, grace)

    def __enter__(self) -> DaskCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def quick_study(seeds: int, passes: int) -> str:
    """A study file's text: the quick config (embedded digits, no data files),
    ``passes`` passes a run, two variants (fixed and shuffled order) x ``seeds`` seeds."""
    return f"""# The quick config, two variants (fixed and shuffled order) x {seeds} seeds.
configs = ["quick"]
seeds = {seeds}
[set]
train.passes = {passes}
[variants.fixed]
[variants.shuffled]
train.order = "shuffle"
"""
