"""One network, several callers at once: readers and explainers never disturb each
other nor a training of the same network (a pass's state is the caller's tape)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lecun89.config import load_config
from lecun89.data import load_dataset
from lecun89.explain import backward_view, unit_terms
from lecun89.model import build_model
from lecun89.train import Trainer


def _digits(n=24, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 16, 16))


def test_explaining_and_reading_from_many_threads_gives_the_serial_answers():
    net = build_model(load_config("modern-usps").model, seed=1)  # dropout, ReLU: the page's hardest case
    xs = _digits()
    serial = [(backward_view(net, x, i % 10, "ce"), net.predict(x[None, None])) for i, x in enumerate(xs)]

    def work(i):
        out = []
        for _ in range(4):
            v = backward_view(net, xs[i], i % 10, "ce")
            u = unit_terms(net, xs[i], i % 10, "H2", [3, 1, 2], "ce")
            out.append((v, net.predict(xs[i][None, None]), u))
        return i, out

    with ThreadPoolExecutor(8) as pool:
        for i, runs in pool.map(work, range(len(xs))):
            want, want_out = serial[i]
            for v, out, u in runs:
                assert np.array_equal(out, want_out)
                assert v["loss"] == want["loss"]
                for k in want["grad"]:
                    assert np.array_equal(v["grad"][k], want["grad"][k]), k
                for k in want["delta"]:
                    assert np.array_equal(v["delta"][k], want["delta"][k]), k
                assert u["forward"]["a"] == float(want["a"]["H2"][3, 1, 2])


def test_a_training_explained_while_it_runs_is_the_training_alone():
    """The numpy engine's passes of `quick`, with threads reading and explaining the
    very network being trained all along: the same weights, bit for bit, as the
    same training with nobody watching (on the old layers the explainer wrote
    the trainer's gradient buffers and batch size)."""
    cfg = load_config("quick", ["train.passes=2", "train.engine=numpy"])
    data = load_dataset(cfg.data.name)
    alone = Trainer(cfg, data)
    for _ in range(cfg.train.passes):
        alone.run_pass()

    watched = Trainer(cfg, data)
    stop = threading.Event()
    seen = []

    def watch(k):
        x = _digits(4, seed=k)
        while not stop.is_set():
            v = backward_view(watched.net, x[k % 4], k % 10)
            seen.append(v["loss"])
            watched.net.predict(x[:, None])

    threads = [threading.Thread(target=watch, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(cfg.train.passes):
            watched.run_pass()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(seen) > 10  # they did watch
    assert np.array_equal(watched.net.flat, alone.net.flat)
