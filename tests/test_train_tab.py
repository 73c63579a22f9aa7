"""The page's Train tab on the server side (``/api/train...``, lecun89.serve.training):
a run is ``lecun89 train``'s (bit-identical files), one run a server, watchers,
stop and continue, a holder that goes away, bad requests, 20 watchers at once."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lecun89.testing import in_process_server, request, watch_training


def cli_run(tmp_path: Path, name: str, *args: str) -> Path:
    """``lecun89 train NAME ARGS --out DIR --no-report`` in this process -> DIR."""
    from lecun89.cli import main

    out = tmp_path / f"cli-{name}-{len(list(tmp_path.iterdir()))}"
    assert main(["train", name, *args, "--out", str(out), "--no-report", "--no-progress"]) == 0
    return out


def same_run(a: Path, b: Path) -> None:
    """model.npz arrays and metrics.jsonl (timings aside) identical."""
    za, zb = np.load(a / "model.npz"), np.load(b / "model.npz")
    assert sorted(za) == sorted(zb)
    for k in za:
        assert np.array_equal(za[k], zb[k]), k
    rows = [[{**json.loads(line), "seconds": None} for line in (d / "metrics.jsonl").read_text().splitlines()]
            for d in (a, b)]
    assert rows[0] == rows[1]


def act(url, what, body):
    return request(url, "POST", f"/api/train/{what}", body)


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # a saved run goes to runs/ here
    server, url = in_process_server(model="lecun1989")
    try:
        yield server, url
    finally:
        server.shutdown()
        server.app.training.close()
        server.server_close()


def wait_state(url, owner, states, timeout=120.0):
    return watch_training(url, owner, until=states, timeout=timeout)


def test_configs_offered(served):
    _, url = served
    status, _, r = request(url, "GET", "/api/train/configs")
    assert status == 200
    by = {c["name"]: c for c in r["configs"]}
    assert list(by)[0] == "quick" and by["quick"]["available"] and by["quick"]["data"] == "digits"
    assert by["lecun1989"]["passes"] == 23 and by["lecun1989"]["optimizer"] == "sdlm"
    assert by["modern-usps"]["constant_rate"] is False and by["lecun1989"]["constant_rate"] is True


def test_page_run_is_the_cli_run_stopped_and_continued(served, tmp_path):
    """quick seed 0 from the page, stopped in its second pass and continued, then
    continued for 2 more passes: bit-identical to ``lecun89 train quick --seed 0``
    and to ``--set train.passes=12``; the stopped network is a model of the server."""
    server, url = served
    status, _, r = act(url, "start", {"config": "quick", "seed": 0, "pace": 3000})
    assert status == 200, r
    owner, n = r["owner"], r["run"]["train_size"]
    assert r["run"]["config"] == "quick" and r["run"]["seed"] == 0
    # stop within pass 2 (after at least one of its 512-digit chunks)
    t_end = time.monotonic() + 60
    while True:
        _, _, a = request(url, "GET", f"/api/train?owner={owner}")
        s = a["snapshot"]
        if s and s["digits"] >= n + 512:
            break
        assert time.monotonic() < t_end
        time.sleep(0.02)
    status, _, r = act(url, "stop", {"owner": owner})
    assert status == 200, r
    paused = wait_state(url, owner, ("paused",))
    at = paused["snapshot"]["digits"]
    assert n + 512 <= at < 10 * n and paused["model"]["name"] == "trained"
    time.sleep(0.5)
    _, _, again = request(url, "GET", f"/api/train?owner={owner}")
    assert again["snapshot"]["digits"] == at and again["run"]["state"] == "paused"   # it waits
    # the stopped network reads digits in the other routes, as a model of the server
    _, _, models = request(url, "GET", "/api/models")
    assert "trained" in [m["name"] for m in models["models"]]
    x16 = np.full((16, 16), -1.0)
    x16[3:13, 7:9] = 1.0
    status, _, p = request(url, "POST", "/api/predict", {"model": "trained", "x16": x16.tolist()})
    assert status == 200 and p["model"] == "trained"
    stopped = server.app.models["trained"]
    weights = {k: v.copy() for k, v in stopped.net.state_dict().items()}
    status, _, r = act(url, "continue", {"owner": owner})
    assert status == 200, r
    done = wait_state(url, owner, ("done",))
    assert [p["x"] for p in done["points"] if p["kind"] == "pass"] == list(range(11))
    status, _, saved = act(url, "save", {"owner": owner})
    assert status == 200, saved
    page = Path(saved["saved"])
    assert page.is_relative_to(tmp_path / "runs" / "quick")
    for f in ("config.toml", "metrics.jsonl", "results.json", "outputs.npz", "model.npz", "meta.json",
              "report.md"):
        assert (page / f).is_file(), f
    cli = cli_run(tmp_path, "quick", "--seed", "0")
    same_run(page, cli)
    assert (page / "config.toml").read_text() == (cli / "config.toml").read_text()
    # the page's pass points are the run's metrics (the paper's MSE: half the per-output one)
    rows = [json.loads(line) for line in (cli / "metrics.jsonl").read_text().splitlines()]
    pts = [p for p in done["points"] if p["kind"] == "pass"][1:]
    assert [p["test_error"] for p in pts] == [r["test_error"] for r in rows]
    assert [p["train_mse"] for p in pts] == [r["train_mse"] / 2 for r in rows]
    # the stopped network was a copy: the run went on, it did not
    assert all(np.array_equal(v, stopped.net.state_dict()[k]) for k, v in weights.items())
    assert not np.array_equal(weights["H1.weight"], server.app.models["trained"].net.state_dict()["H1.weight"])
    # the model the other tabs got is the finished network
    final = server.app.models["trained"].net.state_dict()
    z = np.load(cli / "model.npz")
    assert all(np.array_equal(final[k], z[k]) for k in final)
    # two more passes
    status, _, r = act(url, "continue", {"owner": owner, "passes": 2})
    assert status == 200, r
    wait_state(url, owner, ("done",))
    status, _, saved = act(url, "save", {"owner": owner})
    same_run(Path(saved["saved"]), cli_run(tmp_path, "quick", "--seed", "0", "--set", "train.passes=12"))


def test_one_run_watchers_and_holders(served):
    """One trains, another watches the same points; a second start is a 409 naming
    the run; only the holder stops it; the holder may start over."""
    _, url = served
    status, _, r = act(url, "start", {"config": "quick", "seed": 3, "pace": 4000})
    owner = r["owner"]
    status, _, busy = act(url, "start", {"config": "quick", "seed": 1})
    assert status == 409 and busy["error"].startswith("busy:") and "quick (seed 3" in busy["error"]
    status, _, r = act(url, "stop", {"owner": "someone else"})
    assert status == 403
    status, _, r = act(url, "stop", {})
    assert status == 403
    seen = []
    watcher = threading.Thread(target=lambda: seen.append(watch_training(url)))
    watcher.start()
    mine = watch_training(url, owner)
    watcher.join(60)
    assert seen and seen[0]["run"]["id"] == mine["run"]["id"]
    assert seen[0]["points"] == mine["points"] and len(mine["points"]) > 11
    assert seen[0]["holder"] is False and mine["holder"] is True
    # start over (the holder's own new start replaces its run)
    status, _, r2 = act(url, "start", {"config": "quick", "seed": 4, "owner": owner})
    assert status == 200 and r2["run"]["id"] != mine["run"]["id"] and r2["run"]["seed"] == 4
    status, _, r = act(url, "drop", {"owner": r2["owner"]})
    assert status == 200
    _, _, r = request(url, "GET", "/api/train")
    assert r["run"] is None


def test_a_holder_that_goes_away(served):
    """A holder that stops polling: its run pauses, and another page may start
    (which drops it); a client that disconnects mid-request leaves the server serving."""
    server, url = served
    server.app.training.owner_gone = 1.0
    status, _, r = act(url, "start", {"config": "quick", "seed": 0, "pace": 2000})
    assert status == 200
    # a client that sends half a request and hangs up, while the run goes on
    u = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((u[0], int(u[1])), timeout=5) as s:
        s.sendall(b"POST /api/train/start HTTP/1.1\r\nContent-Length: 400\r\n\r\n{\"config\":")
    t_end = time.monotonic() + 60
    while True:   # watched (no owner), not held: it pauses itself
        _, _, a = request(url, "GET", "/api/train")
        if a["run"]["state"] == "paused":
            break
        assert time.monotonic() < t_end
        time.sleep(0.1)
    assert "stopped polling" in a["run"]["why"]
    status, _, r = act(url, "start", {"config": "quick", "seed": 2})
    assert status == 200 and r["run"]["seed"] == 2
    assert watch_training(url, r["owner"])["run"]["state"] == "done"
    # a page that closes says so (its beacon): at once, another may start
    assert act(url, "start", {"config": "quick", "seed": 5})[0] == 409
    assert act(url, "leave", {"owner": "not the holder"})[0] == 403
    assert act(url, "leave", {"owner": r["owner"]})[0] == 200
    status, _, r = act(url, "start", {"config": "quick", "seed": 5})
    assert status == 200 and r["run"]["seed"] == 5


BAD = [
    ("POST", "/api/train/start", {"config": "nope"}, 400, "config"),
    ("POST", "/api/train/start", {"config": "quick", "seed": -1}, 400, "seed"),
    ("POST", "/api/train/start", {"config": "quick", "seed": True}, 400, "seed"),
    ("POST", "/api/train/start", {"config": "quick", "pace": 1}, 400, "pace"),
    ("POST", "/api/train/start", {"config": "quick", "extra": 1}, 400, "unknown field"),
    ("POST", "/api/train/start", [1, 2], 400, "JSON object"),
    ("POST", "/api/train/start", b"{not json", 400, "malformed"),
    ("POST", "/api/train/stop", {"owner": "x"}, 404, "no training run"),
    ("POST", "/api/train/continue", {"owner": "x", "passes": 0}, 400, "passes"),
    ("POST", "/api/train/save", "owner", 400, "JSON object"),
    ("POST", "/api/train/fly", {}, 404, "unknown route"),
    ("GET", "/api/train/start", None, 405, "not allowed"),
    ("POST", "/api/train", {}, 405, "not allowed"),
    ("GET", "/api/train?since=abc", None, 400, "since"),
    ("GET", "/api/train?since=-1", None, 400, "since"),
]


@pytest.mark.parametrize("method,path,body,status,word", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests(served, method, path, body, status, word):
    _, url = served
    got, _, r = request(url, method, path, body)
    assert got == status and word in r["error"], r
    got, _, r = request(url, "GET", "/api/train/configs")
    assert got == 200


def test_bad_requests_against_a_run(served):
    _, url = served
    status, _, r = act(url, "start", {"config": "quick", "seed": 0})
    owner = r["owner"]
    status, _, e = act(url, "continue", {"owner": owner, "passes": 500})
    assert status in (400, 409)
    watch_training(url, owner)
    assert act(url, "stop", {"owner": owner})[0] == 409          # done: nothing to stop
    status, _, e = act(url, "continue", {"owner": owner, "passes": 500})
    assert status == 400 and "passes" in e["error"]
    assert act(url, "continue", {"owner": owner, "passes": "2"})[0] == 400


def test_twenty_watchers(served, tmp_path):
    """20 pages polling while the run trains: each sees the whole run's points in
    order, and the run is still ``lecun89 train``'s."""
    _, url = served
    status, _, r = act(url, "start", {"config": "quick", "seed": 0})
    owner = r["owner"]
    got: list = [None] * 20

    def one(i):
        got[i] = watch_training(url, every=0.02)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    mine = watch_training(url, owner)
    for t in threads:
        t.join(120)
    assert all(g is not None and g["points"] == mine["points"] for g in got)
    status, _, saved = act(url, "save", {"owner": owner})
    same_run(Path(saved["saved"]), cli_run(tmp_path, "quick", "--seed", "0"))


def first_pass(url, owner, timeout=120.0) -> dict:
    """Poll until the run's first pass point is in; -> the answer with all its points."""
    points, since, t_end, strip = [], 0, time.monotonic() + timeout, None
    while True:
        _, _, r = request(url, "GET", f"/api/train?since={since}&owner={owner}")
        strip = r.get("strip", strip)   # in the answer from the first point on
        points += r["points"]
        since = r["npoints"]
        if any(p["kind"] == "pass" and p["x"] >= 1 for p in points):
            return {**r, "points": points, "strip": strip}
        assert r["run"]["state"] in ("starting", "running") and time.monotonic() < t_end, r["run"]
        time.sleep(0.05)


@pytest.mark.parametrize("name", ["fc-baseline", "modern-usps"])
def test_the_usps_configs_show_what_they_have(served, data_dir, name):
    """The fully connected net shows its hidden units' weights as 16x16 images; a
    cross-entropy net (no MSE) its cost, within a pass too; SDLM its step sizes, AdamW its rate."""
    if not (data_dir / "usps" / "zip.train.gz").is_file():
        pytest.skip(f"no USPS files under {data_dir}")
    _, url = served
    status, _, r = act(url, "start", {"config": name, "seed": 0})
    assert status == 200, r
    got = first_pass(url, r["owner"])
    snap, pts = got["snapshot"], got["points"]
    if name == "fc-baseline":
        assert [k["shape"] for k in snap["kernels"]] == [[40, 1, 16, 16]]
        assert snap["steps"]["optimizer"] == "sdlm" and [lay["name"] for lay in snap["steps"]["layers"]] == ["H1", "out"]
        assert all(p["train_mse"] > 0 for p in pts)
    else:
        assert [k["shape"] for k in snap["kernels"]] == [[12, 1, 5, 5], [12, 8, 5, 5]]
        assert snap["steps"]["optimizer"] == "adamw" and 1e-4 <= snap["steps"]["lr"] <= 3e-4   # its linear decay
        assert all(p["train_mse"] is None and p["train_loss"] > 0 for p in pts)
    assert any(p["kind"] == "sample" for p in pts) and len(got["strip"]["labels"]) == 20
    assert act(url, "drop", {"owner": r["owner"]})[0] == 200
