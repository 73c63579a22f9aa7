"""``lecun89 serve``: the JSON API over real HTTP, against servers the tests start
(``python -m lecun89 serve --port 0`` on 127.0.0.1) and stop by process id."""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pytest

from lecun89.testing import (STROKES, canvas_png, data_url, post, request, resolve_data_dir, start_server,
                             stop_server)
from lecun89.threads import one_thread

# --- helpers (the drawings, starting and stopping servers: lecun89.testing) ------------


def raw_exchange(url: str, data: bytes) -> tuple[int, dict]:
    """Send raw bytes, read one response (the server closes these connections)."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body)


def still_serving(url: str) -> None:
    status, _, data = request(url, "GET", "/api/models")
    assert status == 200 and data["default"] == "lecun1989"


# --- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    # The paper's network on show (the tests' numbers are its); the page's own
    # default is lecun89.reader.DEFAULT_MODEL (test_default_model_is_predicts).
    proc, url, err = start_server("--model", "lecun1989", "--data-dir", str(resolve_data_dir()))
    try:
        yield url, err
    finally:
        stop_server(proc)
        err.close()


@pytest.fixture(scope="module")
def url(server):
    return server[0]


@pytest.fixture(scope="module")
def model():
    from lecun89.reader import load_model

    return load_model("lecun1989")


def local(model, x16) -> dict:
    from lecun89.reader import analyse

    with one_thread():
        return analyse(model, x16, maps=True)


def same_as_analyse(r: dict, expected: dict) -> None:
    """The server's answer is analyse()'s, number for number, plus blank and ranges."""
    assert r["blank"] is False
    assert {k: r[k] for k in expected} == expected
    assert set(r) == set(expected) | {"blank", "ranges"}


# --- the routes -------------------------------------------------------------------------

def test_models(url):
    status, res, data = request(url, "GET", "/api/models")
    assert status == 200 and res.getheader("Content-Type") == "application/json"
    names = [m["name"] for m in data["models"]]
    assert data["default"] == "lecun1989" and "lecun1989" in names
    m = data["models"][names.index("lecun1989")]
    assert m["shapes"] == {"H1": [12, 8, 8], "H2": [12, 4, 4], "H3": [30], "out": [10]}
    assert 0 < m["threshold"] < 2 and m["outputs"] == "scaled tanh"


def test_default_model_is_predicts():
    from lecun89.reader import DEFAULT_MODEL
    from lecun89.serve import App

    app = App()
    info = app.models_info()
    assert app.default == info["default"] == DEFAULT_MODEL
    assert "lecun1989" in [m["name"] for m in info["models"]]  # the paper's network stays on offer


def test_page_and_its_files_are_local(url):
    status, res, page = request(url, "GET", "/")
    assert status == 200 and res.getheader("Content-Type").startswith("text/html")
    html = page.decode()
    for needle in ('id="pad"', 'id="prediction"', 'id="clear"', 'id="model"', 'id="input16"', 'id="outputs"'):
        assert needle in html
    assert "default-src 'self'" in res.getheader("Content-Security-Policy")
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "app.js" in refs and "style.css" in refs
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        status, res, body = request(url, "GET", "/" + name)
        assert status == 200 and res.getheader("Content-Type").startswith(ctype)
        # nothing from the internet: no CDN, the page works offline
        assert not re.search(rb"https?://", body), name
    assert not re.search(r"https?://", html)


def test_predict_x16_is_analyse(url, model, rng):
    x = np.clip(rng.normal(-0.6, 0.7, (16, 16)), -1, 1)
    status, _, r = post(url, {"x16": x.tolist()})
    assert status == 200
    same_as_analyse(r, local(model, x))
    assert len(r["layers"]) == 4 and len(r["layers"][0]["values"]) == 12
    assert r["ranges"]["H1"] == [-1.7159, 1.7159] and r["ranges"]["input"] == [-1.0, 1.0]


@pytest.mark.parametrize("digit", ["7", "0"])
def test_predict_png_is_the_local_pipeline(url, model, digit):
    from PIL import Image

    from lecun89.reader import fit_16, gray_levels, ink_map

    png = canvas_png(digit)
    status, _, r = post(url, {"png": data_url(png)})
    assert status == 200
    x16 = fit_16(ink_map(gray_levels(Image.open(io.BytesIO(png)))))
    same_as_analyse(r, local(model, x16))
    assert r["input"] == x16.tolist()
    assert r["digit"] == int(digit)  # these clear drawings are read right
    # bare base64 (no data: prefix) is the same drawing
    assert post(url, {"png": base64.b64encode(png).decode()})[2] == r


def test_predict_pixels_is_digit_from_ink(url, model):
    from lecun89.reader import digit_from_ink

    ink = np.zeros((40, 30))
    ink[5:35, 13:17] = 1.0
    ink[5:8, 10:14] = 0.5
    status, _, r = post(url, {"pixels": ink.tolist()})
    assert status == 200
    same_as_analyse(r, local(model, digit_from_ink(ink)))


def test_model_choice(url):
    _, _, info = request(url, "GET", "/api/models")
    names = [m["name"] for m in info["models"]]
    png = data_url(canvas_png("4"))
    for name in names:
        status, _, r = post(url, {"png": png, "model": name})
        assert status == 200 and r["model"] == name
    if "modern-usps" in names:
        a, b = (post(url, {"png": png, "model": n})[2] for n in ("lecun1989", "modern-usps"))
        assert a["outputs"] != b["outputs"] and a["input"] == b["input"]


def test_blank_drawing(url):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (280, 280), (255, 255, 255, 255)).save(buf, "PNG")
    for body in ({"png": data_url(buf.getvalue())}, {"pixels": np.zeros((20, 20)).tolist()}):
        status, _, r = post(url, body)
        assert status == 200 and r["blank"] is True and "digit" not in r and r["model"] == "lecun1989"


def _png_of(size, mode="1") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return data_url(buf.getvalue())


J = {"Content-Type": "application/json"}
BAD = [  # id, method, path, body, status, words in the error
    ("malformed-json", "POST", "/api/predict", b'{"x16": [[1, 2]', 400, "malformed JSON"),
    ("not-utf8", "POST", "/api/predict", b'{"png": "\xff\xfe"}', 400, "malformed JSON"),
    ("deep-nesting", "POST", "/api/predict", b"[" * 100_000, 400, "nested too deeply"),
    ("not-an-object", "POST", "/api/predict", b"[1, 2]", 400, "JSON object"),
    ("nan", "POST", "/api/predict", b'{"x16": NaN}', 400, "non-finite"),
    ("infinity", "POST", "/api/predict", b'{"pixels": [[0, -Infinity]]}', 400, "non-finite"),
    ("overflow-to-inf", "POST", "/api/predict", json.dumps({"x16": [[1e999] * 16] * 16}).encode(), 400, "non-finite"),
    ("x16-shape", "POST", "/api/predict", {"x16": [[0.0] * 16] * 15}, 400, "16x16"),
    ("x16-range", "POST", "/api/predict", {"x16": [[1.5] * 16] * 16}, 400, "[-1, 1]"),
    ("x16-1d", "POST", "/api/predict", {"x16": [0.0] * 256}, 400, "2-D"),
    ("pixels-ragged", "POST", "/api/predict", {"pixels": [[0, 1], [0]]}, 400, "same length"),
    ("pixels-strings", "POST", "/api/predict", {"pixels": [["0", "1"]]}, 400, "numbers"),
    ("pixels-null", "POST", "/api/predict", {"pixels": [[0, None]]}, 400, "numbers"),
    ("pixels-range", "POST", "/api/predict", {"pixels": [[0, 2]]}, 400, "[0, 1]"),
    ("pixels-not-list", "POST", "/api/predict", {"pixels": 3}, 400, "2-D array"),
    ("no-input", "POST", "/api/predict", {"model": "lecun1989"}, 400, "exactly one"),
    ("two-inputs", "POST", "/api/predict", {"x16": [[0]], "pixels": [[0]]}, 400, "exactly one"),
    ("unknown-field", "POST", "/api/predict", {"x16": [[0]], "modle": "x"}, 400, "unknown field 'modle'"),
    ("unknown-model", "POST", "/api/predict", {"x16": [[-1] * 16] * 16, "model": "nope"}, 400, "unknown model 'nope'"),
    ("model-not-string", "POST", "/api/predict", {"x16": [[-1] * 16] * 16, "model": 3}, 400, "model"),
    ("png-not-string", "POST", "/api/predict", {"png": [1]}, 400, "expected a string"),
    ("png-bad-base64", "POST", "/api/predict", {"png": "data:image/png;base64,@@@"}, 400, "base64"),
    ("png-empty", "POST", "/api/predict", {"png": "data:image/png;base64,"}, 400, "empty"),
    ("png-not-png", "POST", "/api/predict", {"png": base64.b64encode(b"hello there").decode()}, 400, "not a PNG"),
    ("png-jpeg-url", "POST", "/api/predict", {"png": "data:image/jpeg;base64,AAAA"}, 400, "data:image/png"),
    ("png-truncated", "POST", "/api/predict", {"png": data_url(canvas_png("7")[:300])}, 400, "cannot decode"),
    ("png-too-large", "POST", "/api/predict", {"png": _png_of((3000, 3000))}, 400, "too large"),
    ("body-over-1MB", "POST", "/api/predict", b" " * (1 << 20) + b"{}", 413, "too large"),
    ("unknown-route", "GET", "/api/nope", None, 404, "unknown route"),
    ("unknown-route-post", "POST", "/api/nope", {}, 404, "unknown route"),
    ("unknown-page", "GET", "/secret.txt", None, 404, "no such page"),
    ("traversal", "GET", "/../serve.py", None, 404, "no such page"),
    ("predict-by-get", "GET", "/api/predict", None, 405, "not allowed"),
    ("models-by-post", "POST", "/api/models", {}, 405, "not allowed"),
    ("unsupported-method", "DELETE", "/api/models", None, 501, "Unsupported method"),
    ("testset-unknown-model", "GET", "/api/testset?model=nope", None, 400, "unknown model"),
    ("testset-bad-index", "GET", "/api/testset/abc", None, 400, "whole number"),
    ("testset-negative-index", "GET", "/api/testset/-1", None, 400, "whole number"),
]


@pytest.mark.parametrize("method,path,body,status,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_request(server, method, path, body, status, words):
    url, err = server
    got, _, data = request(url, method, path, body, J if body is not None else None)
    assert got == status, data
    assert isinstance(data, dict) and words in data["error"], data
    still_serving(url)
    err.seek(0)
    assert "Traceback" not in err.read()


def test_content_length_is_checked_before_reading(url):
    # claims 50 MB and sends nothing: refused at once, not after reading
    status, data = raw_exchange(url, b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: 50000000\r\n\r\n")
    assert status == 413 and "too large" in data["error"]
    still_serving(url)


@pytest.mark.parametrize("head,status,words", [
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\n\r\n", 411, "Content-Length"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, "chunked"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "Content-Length"),
    (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n", 400, "Content-Length"),
    (b"GARBAGE\r\n\r\n", 400, "Bad request"),
    (b"GET /a /b HTTP/1.1\r\n\r\n", 400, "Bad request"),
], ids=["no-length", "chunked", "negative-length", "underscore-length", "not-http", "bad-request-line"])
def test_bad_framing(url, head, status, words):
    got, data = raw_exchange(url, head)
    assert got == status and words.lower() in data["error"].lower(), data
    still_serving(url)


def test_keep_alive_survives_an_error(url):
    """One connection: a bad request, then a good one (the body was consumed)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("POST", "/api/predict", body=b'{"x16": 5}', headers=J)
        res = conn.getresponse()
        assert res.status == 400 and "2-D" in json.loads(res.read())["error"]
        conn.request("POST", "/api/predict", body=json.dumps({"png": data_url(canvas_png("1"))}), headers=J)
        res = conn.getresponse()
        assert res.status == 200 and json.loads(res.read())["digit"] == 1
    finally:
        conn.close()


@pytest.mark.parametrize("method, path", [("POST", "/api/nosuch"), ("GET", "/api/models"), ("POST", "/api/models")])
def test_a_body_left_unread_does_not_spoil_the_next_request(url, method, path):
    """A request whose body the server does not read (an unknown route, a GET with
    a body, a refused method): the answer closes the connection, and the client's
    next request, on a new connection, is answered normally."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps({"x16": [[-1.0] * 16] * 16}), headers=J)
        res = conn.getresponse()
        res.read()
        assert res.getheader("Connection", "").lower() == "close"
        conn.request("GET", "/api/models")  # http.client reconnects if the server closed
        res = conn.getresponse()
        assert res.status == 200 and "models" in json.loads(res.read())
    finally:
        conn.close()


def test_concurrent_requests_match_serial(url):
    bodies = [{"png": data_url(canvas_png(d, offset=(dx, 0.0)))} for d in STROKES for dx in (-0.05, 0.05)]
    bodies = bodies[:8]
    serial = [post(url, b)[2] for b in bodies]
    assert all(r["blank"] is False for r in serial)

    def worker(i):
        return [(i, post(url, bodies[i])) for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        results = [x for chunk in pool.map(worker, range(8)) for x in chunk]
    assert len(results) == 40
    for i, (status, _, r) in results:
        assert status == 200 and r == serial[i]


# --- the USPS test set ---------------------------------------------------------------

def test_testset_order_and_digits(url, model, data_dir):
    from lecun89.data import load_dataset

    ds = load_dataset("usps", data_dir)
    status, _, t = request(url, "GET", "/api/testset?model=lecun1989")
    assert status == 200
    n, e = t["n"], t["errors"]
    assert n == len(ds.y_test) == 2007
    assert sorted(t["order"]) == list(range(n))
    with one_thread():
        pred = model.net.predict(ds.x_test).argmax(axis=1)
    assert t["predictions"] == pred[t["order"]].tolist()
    assert t["labels"] == ds.y_test[t["order"]].tolist()
    lab, prd = np.array(t["labels"]), np.array(t["predictions"])
    assert e == int((pred != ds.y_test).sum()) and e > 0
    assert np.all(lab[:e] != prd[:e]) and np.all(lab[e:] == prd[e:])  # mistakes first
    assert t["order"][:e] == sorted(t["order"][:e])
    assert len(t["rejected"]) == n and sum(t["rejected"]) > 0

    i = t["order"][0]
    status, _, r = request(url, "GET", f"/api/testset/{i}?model=lecun1989")
    assert status == 200
    assert r["index"] == i and r["label"] == int(ds.y_test[i]) and r["correct"] is False and r["n"] == n
    expected = local(model, ds.x_test[i, 0])
    assert {k: r[k] for k in expected} == expected

    status, _, r = request(url, "GET", f"/api/testset/{n}")
    assert status == 404 and f"no test digit {n}" in r["error"]


def test_testset_without_data_is_a_404(tmp_path):
    proc, url, err = start_server("--data-dir", str(tmp_path))
    try:
        for path in ("/api/testset", "/api/testset/0?model=lecun1989"):
            status, _, r = request(url, "GET", path)
            assert status == 404 and "USPS test set not available" in r["error"] and str(tmp_path) in r["error"]
        assert post(url, {"png": data_url(canvas_png("7"))})[0] == 200  # drawing still works
    finally:
        stop_server(proc)
        err.close()


# --- the command's own errors ---------------------------------------------------------

def _serve(*args: str):
    return subprocess.run([sys.executable, "-m", "lecun89", "serve", *args],
                          capture_output=True, text=True, timeout=60)


def test_bad_model_is_one_line():
    p = _serve("--port", "0", "--model", "no-such-model")
    assert p.returncode == 2
    assert p.stderr.startswith("lecun89: error: --model no-such-model") and "Traceback" not in p.stderr
    assert p.stderr.count("\n") == 1 and p.stdout == ""


def test_port_in_use_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = _serve("--port", str(port))
    assert p.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in p.stderr and "Traceback" not in p.stderr


def test_bad_port_number():
    p = _serve("--port", "70000")
    assert p.returncode == 2 and "0..65535" in p.stderr and "Traceback" not in p.stderr
