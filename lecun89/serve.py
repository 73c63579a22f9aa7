"""``lecun89 serve``: a local web page to draw a digit and watch the network read it.

The page (``lecun89/web/``: plain HTML, JS and CSS, no build step, nothing
fetched from the internet) sends the drawing as a PNG while the person draws;
this server reads it as :mod:`lecun89.digits_in` reads any image (ink,
deslanted, bounding box fitted into 16x16, gray levels in [-1, 1]) and answers with what
:func:`lecun89.predict.analyse` gives: the 16x16 input, every layer's units
(H1 12x8x8, H2 12x4x4, H3 30, out 10), the decision, the gap between the top
two outputs and the rejection threshold. A second tab walks through the USPS
test set, the network's mistakes first.

The JSON API (every error is a 4xx/5xx with ``{"error": "..."}``):

- ``GET /api/models``: ``{"default": name, "models": [describe() + "ranges" + "shapes"]}``.
- ``POST /api/predict`` with ``{"model"?: name}`` and one of
  ``"png": "data:image/png;base64,..."`` (any drawing or picture),
  ``"pixels": [[...]]`` (ink in [0, 1], 0 background) or ``"x16": [[...]]``
  (the network's input, 16x16 in [-1, 1]): ``analyse()`` of the digit plus
  ``"blank": false`` and ``"ranges"`` (the display range of every layer), or
  ``{"blank": true, ...}`` for a drawing without ink. With ``"row": true`` (and
  ``png``), the picture is a row of digits (:mod:`lecun89.rows`): the answer is
  :func:`lecun89.predict.analyse_row` (``digits``, ``rejected``, ``per_digit``
  with each digit's ``box`` and 16x16 ``input``) plus ``"row": true``.
- ``POST /api/backprop`` with the image fields of ``/api/predict``, an optional
  ``"model"`` and ``"label"`` (0-9): :func:`lecun89.backprop.backward_view` as
  lists: ``outputs``, ``loss``, ``delta`` (out, H3, H2, H1), ``grad`` (by name).
- ``GET /api/testset?model=NAME``: the USPS test digits in the page's order,
  misclassified first (index order within each part): ``order``, ``labels``,
  ``predictions``, ``rejected``, ``n``, ``errors``.
- ``GET /api/testset/<i>?model=NAME``: ``analyse()`` of test digit ``i`` plus
  ``index``, ``label``, ``correct``, ``ranges``.

The networks keep buffers between calls, so forward passes run one at a time
(one lock; a pass with all maps takes well under a millisecond); decoding and
normalising a drawing run in parallel.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from lecun89.errors import UserError

DEFAULT_PORT = 8089
DEFAULT_HOST = "127.0.0.1"
MAX_BODY = 1 << 20  # bytes: a 280x280 canvas PNG is a few kB
MAX_CANVAS_PIXELS = 2048 * 2048  # a PNG's size is checked before it is decoded
# An oversized body that is not much larger than the limit is read and dropped,
# so the client sees the 413; beyond this the connection is simply closed.
DRAIN_LIMIT = 8 * MAX_BODY
SIZE = 16
# The display range of each squashing function (lo -> white, hi -> black);
# None: taken from the values themselves.
ACTIVATION_RANGES = {"lecun": (-1.7159, 1.7159), "tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                 ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8"}
# The page loads nothing but its own files: no CDN, works offline.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ApiError(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str, close: bool = False, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        self.headers = headers or {}


# --- the application: models, data, the computations ---------------------------

class App:
    """The loaded models and the test set, shared by the request threads."""

    def __init__(self, model: str | None = None, data_dir: str | None = None):
        import numpy as np

        from lecun89.predict import DEFAULT_MODEL, load_model, shipped_models

        self.models = {name: load_model(name) for name in shipped_models()}
        if model is not None and str(model) not in self.models:
            m = load_model(model)  # a checkpoint path (UserError when it is neither)
            self.models[m.name] = m
            self.default = m.name
        else:
            self.default = str(model) if model is not None else DEFAULT_MODEL
        if self.default not in self.models:
            raise UserError(f"no model {self.default!r} in this install; give --model PATH/TO/model.npz", status=2)
        self.data_dir = data_dir
        self.lock = threading.Lock()  # one forward pass at a time (the layers keep buffers)
        self._data = None
        self._data_lock = threading.Lock()
        self._orders: dict[str, dict] = {}
        self._orders_lock = threading.Lock()
        blank = -np.ones((SIZE, SIZE))
        self._info = []
        for name, m in self.models.items():
            r = self.analyse(m, blank)
            d = m.describe()
            d["shapes"] = {lay["name"]: lay["shape"] for lay in r["layers"]}
            self._info.append(d)

    # -- helpers
    def model(self, name) -> object:
        if name is None:
            return self.models[self.default]
        if not isinstance(name, str):
            raise ApiError(400, f"model: expected a name (string), got {type(name).__name__}")
        if name not in self.models:
            raise ApiError(400, f"unknown model {name!r} (this server has: {', '.join(self.models)})")
        return self.models[name]

    def analyse(self, m, x16) -> dict:
        from lecun89.predict import analyse

        with self.lock:
            r = analyse(m, x16, maps=True)
        r["ranges"] = display_ranges(m, r)
        return r

    # -- routes
    def models_info(self) -> dict:
        return {"default": self.default, "models": self._info}

    def image_field(self, body, other: str) -> str:
        """Which one of png, pixels, x16 a body gives (besides model and the route's ``other``)."""
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object with one of: png, pixels, x16")
        unknown = sorted(set(body) - {"model", "png", "pixels", "x16", other})
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r} (expected: model, {other}, and one of png, pixels, x16)")
        given = [k for k in ("png", "pixels", "x16") if k in body]
        if len(given) != 1:
            raise ApiError(400, "give exactly one of png, pixels, x16" + (f" (got {', '.join(given)})" if given else ""))
        return given[0]

    def predict(self, body) -> dict:
        kind = self.image_field(body, "row")
        m = self.model(body.get("model"))
        row = body.get("row", False)
        if not isinstance(row, bool):
            raise ApiError(400, f"row: expected true or false, got {json.dumps(row)[:40]}")
        if row:
            if kind != "png":
                raise ApiError(400, "row: a row of digits is sent as png")
            return self.predict_row(m, body["png"])
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return {"blank": True, "model": m.name, "message": "blank drawing: no ink to read"}
        return {"blank": False, **self.analyse(m, x16)}

    def backprop(self, body) -> dict:
        from lecun89.backprop import as_lists, backward_view, training_loss

        kind = self.image_field(body, "label")
        label = body.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
            raise ApiError(400, f"label: expected an integer 0-9, got {json.dumps(label)[:40]}")
        m = self.model(body.get("model"))
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return {"blank": True, "model": m.name, "message": "blank drawing: no ink to read"}
        loss = training_loss(m.info.get("config"), m.net.config.output_activation == "none")
        with self.lock:
            v = backward_view(m.net, x16, label, *loss)
        return {"blank": False, "model": m.name, "label": label, "loss_kind": loss[0], **as_lists(v)}

    def predict_row(self, m, png) -> dict:
        from lecun89.predict import analyse_row

        digits = png_to_row(png)
        if digits is None:
            return {"blank": True, "row": True, "model": m.name, "message": "blank drawing: no digits to read"}
        with self.lock:
            r = analyse_row(m, digits)
        for d, x in zip(r["per_digit"], digits):
            d["input"] = x.x16.tolist()
        return {"blank": False, "row": True, **r}

    def dataset(self):
        with self._data_lock:
            if self._data is None:
                from lecun89.data import load_dataset

                try:
                    self._data = load_dataset("usps", self.data_dir)
                except UserError as exc:
                    raise ApiError(404, f"USPS test set not available: {exc}") from None
            return self._data

    def testset(self, name) -> dict:
        import numpy as np

        from lecun89.metrics import output_gap

        m = self.model(name)
        ds = self.dataset()
        with self._orders_lock:
            if m.name not in self._orders:
                with self.lock:
                    out = m.net.predict(ds.x_test)
                pred = out.argmax(axis=1)
                gap = output_gap(out)
                rejected = gap < m.threshold if m.threshold is not None else np.zeros(len(out), bool)
                y = np.asarray(ds.y_test)
                wrong = np.flatnonzero(pred != y)
                order = np.concatenate([wrong, np.flatnonzero(pred == y)])
                self._orders[m.name] = {
                    "model": m.name, "n": int(len(y)), "errors": int(len(wrong)),
                    "order": order.tolist(), "labels": y[order].tolist(),
                    "predictions": pred[order].tolist(), "rejected": rejected[order].tolist()}
            return self._orders[m.name]

    def testset_digit(self, name, index: str) -> dict:
        m = self.model(name)
        if not re.fullmatch(r"[0-9]{1,9}", index):
            raise ApiError(400, f"test digit index must be a whole number, got {index[:40]!r}")
        ds = self.dataset()
        i, n = int(index), len(ds.y_test)
        if i >= n:
            raise ApiError(404, f"no test digit {i}: the USPS test set has {n} (0..{n - 1})")
        r = self.analyse(m, ds.x_test[i, 0])
        label = int(ds.y_test[i])
        return {**r, "index": i, "label": label, "correct": r["digit"] == label, "n": n}


def display_ranges(m, r: dict) -> dict:
    """name -> [lo, hi]: the page draws lo white and hi black (the input: -1 white
    background, +1 black ink, as the paper's digit figures)."""
    cfg = m.net.config
    ranges = {"input": [-1.0, 1.0]}
    last = r["layers"][-1]["name"]
    for lay in r["layers"]:
        act = cfg.output_activation if lay["name"] == last else cfg.activation
        fixed = ACTIVATION_RANGES.get(act)
        if fixed is not None:
            ranges[lay["name"]] = list(fixed)
            continue
        vals = _flat(lay["values"])
        hi = max(abs(v) for v in vals) or 1.0
        ranges[lay["name"]] = [0.0, hi] if act == "relu" else [-hi, hi]
    return ranges


def _flat(v) -> list[float]:
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [v]


# --- reading the inputs ------------------------------------------------------------

def _number_array(value, what: str):
    import numpy as np

    if not isinstance(value, list):
        raise ApiError(400, f"{what}: expected a 2-D array (a list of rows of numbers), got {type(value).__name__}")
    try:
        a = np.array(value)
    except (ValueError, TypeError):
        raise ApiError(400, f"{what}: rows must be lists of numbers, all of the same length") from None
    if a.dtype.kind not in "iuf":
        raise ApiError(400, f"{what}: expected numbers only")
    if a.ndim != 2 or min(a.shape) < 1:
        raise ApiError(400, f"{what}: expected a 2-D array, got shape {list(a.shape)}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ApiError(400, f"{what}: non-finite numbers")
    return a


def check_x16(value):
    a = _number_array(value, "x16")
    if a.shape != (SIZE, SIZE):
        raise ApiError(400, f"x16: expected a 16x16 array, got shape {list(a.shape)}")
    if a.min() < -1.0 or a.max() > 1.0:
        raise ApiError(400, f"x16: values must be in [-1, 1] (background -1), got [{a.min():.3g}, {a.max():.3g}]")
    return a


def pixels_to_16(value):
    """Ink (H, W) in [0, 1] -> 16x16, or None for a blank drawing."""
    from lecun89.digits_in import MAX_PIXELS, digit_from_ink

    a = _number_array(value, "pixels")
    if a.size > MAX_PIXELS:
        raise ApiError(400, f"pixels: too many ({a.size:,}; at most {MAX_PIXELS:,})")
    if a.min() < 0.0 or a.max() > 1.0:
        raise ApiError(400, f"pixels: values must be in [0, 1] (0 background, 1 ink), got [{a.min():.3g}, {a.max():.3g}]")
    if a.max() == 0.0:
        return None
    try:
        return digit_from_ink(a)
    except ValueError as exc:
        if "blank" in str(exc):
            return None
        raise ApiError(400, f"pixels: {exc}") from None


_DATA_URL = re.compile(r"data:([^;,]*)(;base64)?,", re.IGNORECASE)


def png_to_16(value):
    """A PNG (data URL or bare base64) -> 16x16 (deslanted, as lecun89 predict
    reads a file), or None for a blank drawing."""
    from lecun89.digits_in import digit_from_gray

    gray = png_to_gray(value)
    try:
        return digit_from_gray(gray)
    except ValueError:  # ink_map and fit_16 raise it for a drawing with no ink
        return None


IMAGE_READERS = {"png": png_to_16, "pixels": pixels_to_16, "x16": check_x16}  # field -> 16x16 input (None: no ink)


def png_to_row(value):
    """A PNG of a row of digits -> their lecun89.rows.Digit list, or None for a
    drawing without ink or without a digit."""
    from lecun89.digits_in import ink_map
    from lecun89.rows import read_row

    gray = png_to_gray(value)
    try:
        return read_row(ink_map(gray))
    except ValueError as exc:
        if "blank" in str(exc) or "no digits" in str(exc):
            return None
        raise ApiError(400, f"png: {exc}") from None


def png_to_gray(value):
    """A PNG (data URL or bare base64) -> its gray levels, as lecun89 predict reads a file."""
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    from lecun89.digits_in import TooLarge, image_gray

    if not isinstance(value, str):
        raise ApiError(400, f"png: expected a string (data:image/png;base64,...), got {type(value).__name__}")
    head = _DATA_URL.match(value)
    if head:
        if head.group(1).lower() != "image/png" or not head.group(2):
            raise ApiError(400, f"png: expected a data:image/png;base64 URL, got {value[:head.end()][:60]!r}")
        value = value[head.end():]
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "png: not valid base64") from None
    if not raw:
        raise ApiError(400, "png: empty")
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as img:
            gray = image_gray(img, MAX_CANVAS_PIXELS)  # as lecun89 predict reads a file
    except TooLarge as exc:
        raise ApiError(400, f"png: {exc}") from None
    except UnidentifiedImageError:
        raise ApiError(400, "png: not a PNG image") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ApiError(400, f"png: cannot decode the image: {exc}") from None
    return gray


# --- HTTP ----------------------------------------------------------------------

def _no_constant(name):
    raise ApiError(400, f"non-finite number {name} in the JSON body (NaN and Infinity are not JSON)")


class Handler(BaseHTTPRequestHandler):
    server_version = "lecun89"
    protocol_version = "HTTP/1.1"  # keep-alive: the page's requests reuse one connection
    timeout = 30  # seconds a client may stall before its connection is dropped
    disable_nagle_algorithm = True  # small answers go out at once (no 40 ms delayed-ACK stall)

    # -- plumbing
    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if self.server.access_log:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def send_error(self, code, message=None, explain=None):
        """The base class's errors (bad request line, unsupported method, ...) as JSON."""
        phrase = self.responses.get(code, ("error",))[0]
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # an unparsable request line still gets a status line
        self._send_json(code, {"error": message or phrase}, close=True)

    def _unread_body(self) -> bool:
        """The request came with a body this handler did not read: left in the
        socket it would be taken for the next request, so the connection closes."""
        if getattr(self, "_body_read", True):
            return False
        length = (self.headers.get("Content-Length") or "").strip() if self.headers else ""
        chunked = bool(self.headers and self.headers.get("Transfer-Encoding"))
        return chunked or (length not in ("", "0"))

    def _send(self, status: int, body: bytes, ctype: str, close: bool = False, headers: dict | None = None):
        close = close or self._unread_body()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj, close: bool = False, headers: dict | None = None):
        body = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json", close, {"Cache-Control": "no-store", **(headers or {})})

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def _dispatch(self):
        self._body_read = False
        try:
            path, query = self._split()
            if path.startswith("/api/"):
                t0 = time.perf_counter()
                obj = self._api(path, query)
                ms = (time.perf_counter() - t0) * 1000
                self._send_json(200, obj, headers={"Server-Timing": f"app;dur={ms:.2f}"})
            else:
                self._static(path)
        except ApiError as exc:
            self._send_json(exc.status, {"error": exc.message}, close=exc.close, headers=exc.headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug: report it, keep serving
            sys.stderr.write(f"lecun89 serve: internal error on {self.command} {self.path[:200]}: "
                             f"{type(exc).__name__}: {exc}\n")
            try:
                self._send_json(500, {"error": f"internal error: {type(exc).__name__}: {exc}"}, close=True)
            except OSError:
                self.close_connection = True

    def _split(self) -> tuple[str, dict]:
        url = urlsplit(self.path)
        return url.path, parse_qs(url.query)

    # -- routes
    def _api(self, path: str, query: dict):
        app = self.server.app
        method = self.command
        model = query.get("model", [None])[-1]
        if path == "/api/models":
            self._allow("GET", "HEAD")
            return app.models_info()
        if path == "/api/predict":
            self._allow("POST")
            return app.predict(self._read_json())
        if path == "/api/backprop":
            self._allow("POST")
            return app.backprop(self._read_json())
        if path == "/api/testset":
            self._allow("GET", "HEAD")
            return app.testset(model)
        if path.startswith("/api/testset/"):
            self._allow("GET", "HEAD")
            return app.testset_digit(model, path[len("/api/testset/"):])
        raise ApiError(404, f"unknown route {method} {path[:100]}")

    def _allow(self, *methods: str):
        if self.command not in methods:
            allowed = ", ".join(methods)
            raise ApiError(405, f"{self.command} not allowed here (use {allowed})", close=self.command == "POST",
                           headers={"Allow": allowed})

    def _read_json(self):
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "send the body with a Content-Length (chunked transfer is not supported)", close=True)
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "Content-Length required", close=True)
        if not re.fullmatch(r"[0-9]{1,15}", length.strip()):
            raise ApiError(400, f"bad Content-Length {length[:40]!r}", close=True)
        n = int(length)
        if n > MAX_BODY:
            if n <= DRAIN_LIMIT:  # read and drop it, so the client gets to read the answer
                self._drain(n)
            raise ApiError(413, f"request body too large ({n:,} bytes; at most {MAX_BODY:,})", close=True)
        data = self.rfile.read(n)
        self._body_read = True
        if len(data) < n:
            raise ApiError(400, "request body shorter than its Content-Length", close=True)
        try:
            return json.loads(data, parse_constant=_no_constant)
        except RecursionError:
            raise ApiError(400, "malformed JSON: nested too deeply") from None
        except ValueError as exc:  # includes a body that is not UTF-8
            raise ApiError(400, f"malformed JSON: {exc}") from None

    def _drain(self, n: int):
        self.connection.settimeout(2.0)
        try:
            while n > 0:
                chunk = self.rfile.read(min(n, 1 << 16))
                if not chunk:
                    break
                n -= len(chunk)
        except OSError:
            pass

    def _static(self, path: str):
        if self.command not in ("GET", "HEAD"):
            raise ApiError(405, f"{self.command} not allowed on pages (use GET)", close=True, headers={"Allow": "GET, HEAD"})
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        files = self.server.web_files
        if name not in files:
            raise ApiError(404, f"no such page: {path[:100]}")
        body = files[name].read_bytes()
        ext = name[name.rfind("."):]
        headers = {"Cache-Control": "no-cache"}
        if ext == ".html":
            headers["Content-Security-Policy"] = CSP
        self._send(200, body, CONTENT_TYPES.get(ext, "application/octet-stream"), headers=headers)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, app: App, access_log: bool = False):
        from importlib import resources

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.access_log = access_log
        web = resources.files("lecun89") / "web"
        self.web_files = {p.name: p for p in web.iterdir() if p.is_file() and not p.name.startswith(".")}
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn): slow, and not needed.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        sys.stderr.write(f"lecun89 serve: error with a request from {client_address[0]}: "
                         f"{type(exc).__name__}: {exc}\n")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(app: App, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, access_log: bool = False) -> Server:
    """Bind (port 0: any free port); bind problems are UserErrors with the fix."""
    try:
        return Server((host, port), app, access_log)
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: unknown address ({exc.strerror})", status=2) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use (choose another --port, or --port 0 for a free one)",
                            status=2) from None
        if exc.errno == errno.EACCES:
            raise UserError(f"no permission to listen on {host}:{port} (ports under 1024 need privileges)",
                            status=2) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"--host {host}: not an address of this machine", status=2) from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", status=2) from None
