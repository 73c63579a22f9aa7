"""The HTTP side of ``lecun89 serve``: the request handler, the server, binding.

:class:`Handler` parses requests (JSON bodies with a Content-Length, at most
:data:`MAX_BODY` bytes), routes ``/api/...`` to the :class:`~lecun89.serve.App`
and every other path to the page's static files (``lecun89/web/``), and turns
every refusal into ``{"error": ...}`` with its 4xx status.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from lecun89.errors import UserError
from lecun89.serve._base import ApiError

if TYPE_CHECKING:
    from lecun89.serve.app import App

DEFAULT_PORT = 8089
DEFAULT_HOST = "127.0.0.1"
MAX_BODY = 1 << 20  # bytes: a 280x280 canvas PNG is a few kB
# An oversized body that is not much larger than the limit is read and dropped,
# so the client sees the 413; beyond this the connection is simply closed.
DRAIN_LIMIT = 8 * MAX_BODY
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                 ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8"}
# The page loads nothing but its own files: no CDN, works offline.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


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
                timing = {"Server-Timing": f"app;dur={ms:.2f}"}
                if isinstance(obj, bytes):  # an answer the app encoded itself (the Train tab's polls)
                    self._send(200, obj, "application/json", headers={"Cache-Control": "no-store", **timing})
                else:
                    self._send_json(200, obj, headers=timing)
            else:
                self._static(path)
        except ApiError as exc:
            self._send_json(exc.status, {"error": exc.message}, close=exc.close, headers=exc.headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 (a bug: report it, keep serving)
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
        if path == "/api/unit":
            self._allow("POST")
            return app.unit(self._read_json())
        if path == "/api/learn":
            self._allow("POST")
            return app.learn(self._read_json())
        if path == "/api/reset":
            self._allow("POST")
            return app.reset(self._read_json())
        if path == "/api/train" or path.startswith("/api/train/"):
            return self._train(app.training, path)
        if path == "/api/testset":
            self._allow("GET", "HEAD")
            return app.testset(model)
        if path.startswith("/api/testset/"):
            self._allow("GET", "HEAD")
            return app.testset_digit(model, path[len("/api/testset/"):])
        raise ApiError(404, f"unknown route {method} {path[:100]}")

    def _train(self, training, path: str):
        """The Train tab's routes (:mod:`lecun89.serve.training`)."""
        if path == "/api/train":
            self._allow("GET", "HEAD")
            query = {k: v[-1] for k, v in self._split()[1].items()}
            return training.poll_json(query)
        if path == "/api/train/configs":
            self._allow("GET", "HEAD")
            return training.configs()
        actions = {"/api/train/start": lambda b: training.start(b, self.client_address[0]),
                   "/api/train/stop": training.stop, "/api/train/continue": training.resume,
                   "/api/train/save": training.save, "/api/train/drop": training.forget,
                   "/api/train/leave": training.leave}
        if path not in actions:
            raise ApiError(404, f"unknown route {self.command} {path[:100]}")
        self._allow("POST")
        return actions[path](self._read_json())

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
