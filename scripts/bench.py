#!/usr/bin/env python
"""Speed benchmark: lecun89 (float64, both engines) against the plain PyTorch loop.

One process, one thread for everything (numpy's BLAS through threadpoolctl,
torch through ``set_num_threads(1)``/``set_num_interop_threads(1)``), the same
USPS digits and the same initial weights on both sides. Workloads:

1. one SGD training pass at batch 1 over the 7,291 training digits (fixed
   order, MSE against +-1 targets, lr 0.03): lecun89 through its real training
   code, ``Trainer(cfg, data).run_pass()`` with configs/lecun1989-sgd.toml;
2. the same at batch 32 (``--set train.batch_size=32``);
3. inference over all 9,298 digits (train + test) in batches (lecun89's
   ``Network.predict`` default, 64, or ``--infer-batch``): ``net.predict(x)``
   against the same batches forward under ``torch.inference_mode()``.

With numba (a dependency), the compiled engine (``train.engine = "numba"``) runs
the batch-1 passes (SGD, and SDLM with its second-derivative pass per digit) and
the inference too. The machine's limit is measured in the same process: BLAS's
large matrix product on one thread, in GFLOP/s; each workload's floor is its
useful arithmetic at that rate, and the tables give each run as a multiple of it.

Then a breakdown of lecun89's step for each workload: every layer's forward
and backward timed alone, the BLAS products inside them timed alone, the loss
gradient and the optimizer step, against the whole step: what the time is
spent on, and how much of it is arithmetic.

The PyTorch side is the loop a PyTorch user writes (as the 2022 replication
did): parameters as leaf tensors, ``F.pad(..., value=-1)``, ``F.conv2d(stride=2)``
plus a per-unit (C, H, W) bias, the H2 connection table as sliced convolutions
concatenated, 1.7159 tanh(2a/3), ``flatten``, ``F.linear``, ``torch.mean`` of
the squared error, ``loss.backward()`` and an SGD update; the fastest of a few
plain update variants (``torch.optim.SGD`` for-loop / foreach / fused, or a
manual ``p.add_(p.grad, alpha=-lr)``) is picked on a short calibration run and
named in the output. PyTorch is timed in float32 (what its users run, and its
faster case) and, unless ``--no-float64``, in float64 as well; lecun89 always
trains in float64.

The useful arithmetic per digit follows from the geometry (multiply-adds,
biases not counted): forward H1 768x25 + H2 192x200 + H3 30x192 + out 10x30
= 63,660; training adds the weight gradients (as many again) and the input
gradients of every layer but H1 (44,460): 171,780 MACs, 2 FLOPs each.
lecun89 runs H2 with a dense 12x12-map kernel masked to the 8-of-12 table, so
it executes more FLOPs than these useful ones; GFLOP/s below are useful FLOPs.

Usage::

    python scripts/bench.py [--data-dir DIR] [--repeat N] [--quick] [--json FILE]

Exit status: 0, or 1 if a sanity check (lecun89 and PyTorch agreeing) fails,
2 if the data are missing. Timing targets are reported, never enforced.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

try:  # import torch first so that threadpoolctl also sees (and limits) its OpenMP/MKL
    import torch
    import torch.nn.functional as F
    TORCH_ERROR = None
except Exception as exc:  # pragma: no cover - depends on the environment
    torch = F = None
    TORCH_ERROR = f"{type(exc).__name__}: {exc}"

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from lecun89 import layers as L
from lecun89 import losses
from lecun89 import metrics
from lecun89.config import CONFIG_DIR, load_config
from lecun89.data import ENV_DATA, Dataset, load_dataset, resolve_data_dir
from lecun89.errors import UserError
from lecun89.train import Trainer

NUMPY = ["train.engine=numpy"]  # the reference engine, named (the default, "auto", is compiled)

N_TRAIN_FULL = 7291
N_ALL_FULL = 9298
QUICK_N = 1000

def predict_default_batch() -> int:
    """lecun89's own inference batch: ``Network.predict``'s block size."""
    from lecun89.model import PREDICT_BATCH

    return PREDICT_BATCH


def predict_in_batches(net, x, batch: int):
    """Inference in blocks of ``batch`` (``--infer-batch``): ``Network.predict``'s loop."""
    return np.concatenate([net.forward(x[i:i + batch]) for i in range(0, len(x), batch)])
LR = 0.03
CALIB_STEPS = 400

# Targets (issue 15): seconds are for the full workloads and scaled to --quick's
# size; speed-ups are against PyTorch in the same run (its float32 default, and
# its fastest set-up); each is judged on lecun89's faster engine for the workload.
TARGETS = {
    "train_b1": {"speedup": {"float32": 40.0, "fastest": 20.0}, "seconds": 0.2},
    "train_b32": {"speedup": {"fastest": 5.0}},
    "infer": {"speedup": {"float32": 1.0}, "seconds": 0.04},
}
SDLM_TARGET_SECONDS = 0.35
# The matrix product that measures the machine's limit (one thread): n x n by n x n.
PEAK_N = 1536


# ----------------------------------------------------------------------------
# arithmetic


def layer_macs(net) -> list[dict]:
    """Per parameter layer: useful forward MACs (table-sparse) and executed ones."""
    rows = []
    for lay in net.param_layers:
        if isinstance(lay, L.Conv2d):
            useful = lay.P * lay.O * lay.k_in * lay.K * lay.K
            executed = lay.P * lay.O * lay.CKK
        else:
            useful = executed = lay.n_out * lay.n_in
        rows.append({"layer": lay.name, "useful": useful, "executed": executed})
    return rows


def macs_per_digit(net) -> dict:
    """Forward, and training (forward + weight gradient + input gradient except
    for the first layer, whose input is the image) MACs per digit."""
    rows = layer_macs(net)
    out = {}
    for kind in ("useful", "executed"):
        fwd = sum(r[kind] for r in rows)
        dx = sum(r[kind] for r in rows[1:])
        out[kind] = {"forward": fwd, "train": 2 * fwd + dx}
    out["layers"] = rows
    return out


# ----------------------------------------------------------------------------
# the PyTorch network


def _h2_groups(table):
    """Consecutive H2 maps with the same input maps, as (first, last+1, runs of
    contiguous input maps): one convolution each."""
    groups = []
    rows = [list(r) for r in table]
    start = 0
    for m in range(1, len(rows) + 1):
        if m == len(rows) or rows[m] != rows[start]:
            row, runs = rows[start], []
            for c in row:
                if runs and c == runs[-1][1]:
                    runs[-1][1] += 1
                else:
                    runs.append([c, c + 1])
            groups.append((start, m, [tuple(r) for r in runs]))
            start = m
    return groups


class TorchNet:
    """Net-1989 in plain PyTorch, from lecun89's ``state_dict`` (PyTorch layout)."""

    def __init__(self, state: dict, mcfg, dtype):
        self.p = {k: torch.tensor(np.asarray(v), dtype=dtype).requires_grad_(True)
                  for k, v in state.items() if not k.endswith(".table")}
        self.params = list(self.p.values())
        h2 = state.get("H2.table")
        if h2 is None:
            h2 = [list(range(state["H2.weight"].shape[1]))] * state["H2.weight"].shape[0]
        self.groups = _h2_groups(h2)
        self.pad1, self.pad2 = float(mcfg.pad_value_h1), float(mcfg.pad_value_h2)

    @staticmethod
    def act(a):
        return 1.7159 * torch.tanh(a * (2.0 / 3.0))

    def forward(self, x):
        p = self.p
        x = F.pad(x, (2, 2, 2, 2), value=self.pad1)
        x = self.act(F.conv2d(x, p["H1.weight"], stride=2) + p["H1.bias"])
        x = F.pad(x, (2, 2, 2, 2), value=self.pad2)
        w2 = p["H2.weight"]
        parts = []
        for o0, o1, runs in self.groups:
            xin = x[:, runs[0][0]:runs[0][1]] if len(runs) == 1 else torch.cat([x[:, a:b] for a, b in runs], 1)
            parts.append(F.conv2d(xin, w2[o0:o1], stride=2))
        x = self.act(torch.cat(parts, 1) + p["H2.bias"])
        x = x.flatten(1)
        x = self.act(F.linear(x, p["H3.weight"], p["H3.bias"]))
        return self.act(F.linear(x, p["out.weight"], p["out.bias"]))


def make_step(net: TorchNet, variant: str, lr: float):
    """The SGD update (and gradient reset) after ``loss.backward()``."""
    params = net.params
    if variant == "manual":
        def step():
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-lr)
                    p.grad = None
        return step
    kw = {"foreach": False} if variant == "optim.SGD(foreach=False)" else \
         {"foreach": True} if variant == "optim.SGD(foreach=True)" else {"fused": True}
    opt = torch.optim.SGD(params, lr=lr, **kw)

    def step():
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


STEP_VARIANTS = ("optim.SGD(foreach=False)", "optim.SGD(foreach=True)", "optim.SGD(fused=True)", "manual")

# PyTorch set-ups timed: its defaults in float32 (the main comparison) and
# float64, and float32 with oneDNN (mkldnn) convolutions switched off, which at
# batch 1 is PyTorch's fastest here (oneDNN's per-call overhead dominates tiny
# convolutions) though not what a user gets by default.
TORCH_CONFIGS = {
    "float32": {"dtype_name": "float32", "onednn": True},
    "float64": {"dtype_name": "float64", "onednn": True},
    "float32-no-onednn": {"dtype_name": "float32", "onednn": False},
}


def onednn(enabled: bool):
    """``torch.backends.mkldnn.flags(enabled=...)``, quietly (it warns about TF32 on Intel GPUs)."""
    import contextlib
    import warnings

    if enabled:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", UserWarning)
    stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
    return stack


def torch_pass(net: TorchNet, step, X, T, batch: int, limit: int | None = None) -> None:
    """One pass of the plain loop over (X, T) in order."""
    n = len(X) if limit is None else min(limit, len(X))
    forward = net.forward
    for i in range(0, n, batch):
        y = forward(X[i:i + batch])
        loss = torch.mean((y - T[i:i + batch]) ** 2)
        loss.backward()
        step()


def torch_predict(net: TorchNet, X, batch: int = 1000):
    with torch.inference_mode():
        return torch.cat([net.forward(X[i:i + batch]) for i in range(0, len(X), batch)])


# ----------------------------------------------------------------------------
# timing


def time_runs(run, repeat: int, setup=None) -> tuple[list[float], object]:
    """Seconds of ``run(setup())`` ``repeat`` times (setup untimed); also the last state."""
    times, state = [], None
    for _ in range(repeat):
        state = setup() if setup is not None else None
        gc.collect()
        t0 = time.perf_counter()
        run(state)
        times.append(time.perf_counter() - t0)
    return times, state


def pass_with_evals(name: str, ds: Dataset, ds_full: Dataset, warm: Dataset, repeat: int) -> dict:
    """``lecun89 train NAME``'s pass on the numba engine as the training loop
    runs it: the pass, then its evaluations on the training and the test
    digits (train.evaluate with the engine's inference), best / median of ``repeat``."""
    from lecun89.train import evaluate

    cfg = load_config(CONFIG_DIR / f"{name}.toml", ["train.engine=numba"])
    Trainer(cfg, warm).run_pass()  # warm-up

    def run(t):
        t.run_pass()
        evaluate(t.net, ds.x_train, ds.y_train, cfg.train, t.predict)
        evaluate(t.net, ds_full.x_test, ds_full.y_test, cfg.train, t.predict)
    times, _ = time_runs(run, repeat, lambda: Trainer(cfg, ds))
    return dict(summary(times), config=name)


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def numba_compile_seconds() -> dict:
    """The numba engine's set-up in a fresh process: with an empty cache (compiling)
    and again with the cache that run wrote."""
    import subprocess
    import tempfile

    code = ("from lecun89.config import load_config; from lecun89.model import build_model; "
            "from lecun89.engine import NumbaPass; c = load_config('lecun1989', ['train.engine=numba']); "
            "print(NumbaPass(build_model(c.model), c.train).compile_seconds)")
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for key in ("cold", "cached"):
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[key] = float(proc.stdout.strip().splitlines()[-1])
    return out


def summary(times: list[float]) -> dict:
    return {"best": min(times), "median": statistics.median(times), "runs": times}


def _us_per_call(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e6


def breakdown(trainer: Trainer, x: np.ndarray, batch: int, train: bool, reps: int) -> dict:
    """Where the time of one step goes: each layer's forward (and backward) timed
    alone on a real batch, in microseconds per call (best of 3 loops of ``reps``),
    of which BLAS products (the conv layers' im2col GEMMs, the linear layers'
    GEMMs, timed alone on the same arrays); then the loss gradient and the
    optimizer step; and the whole step (forward, loss, backward, step) as the
    training loop runs it, whose excess over the sum is the loop's own cost."""
    net, opt = trainer.net, trainer.opt
    opt.lr = trainer.cfg.train.lr  # (a zero rate would let BLAS skip the update)
    xb = x[:batch]
    tb = trainer._targets[:batch]
    grad = trainer._grad
    rows, inputs = [], []
    caches = [{} if train else None for _ in net.layers]  # each layer's training state (the layers keep none)
    grads = [lay.param_zeros() for lay in net.layers]
    h = xb
    for lay, cache in zip(net.layers, caches):
        inputs.append(h)
        h = lay.forward(h, cache)
    out = h
    for i, lay in enumerate(net.layers):
        row = {"layer": lay.name or type(lay).__name__, "kind": type(lay).__name__,
               "forward_us": _us_per_call(lambda lay=lay, a=inputs[i], c=caches[i]: lay.forward(a, c), reps)}
        if isinstance(lay, L.Conv2d):
            c = caches[i] if train else {}
            if not train:
                lay.forward(inputs[i], c)
            row["blas_forward_us"] = _us_per_call(lambda c=c: np.dot(c["cols"], c["wd"].T), reps)
        elif isinstance(lay, L.Linear):
            row["blas_forward_us"] = _us_per_call(
                lambda lay=lay, a=inputs[i]: np.dot(a, lay.params["weight"].T), reps)
        rows.append(row)
    res = {"batch": batch, "train": train, "layers": rows}
    if train:
        for lay, a, cache in zip(net.layers, inputs, caches):  # every layer's state of this digit again
            lay.forward(a, cache)
        d = grad(out, tb)
        dys = {}
        first = net.layers.index(net.param_layers[0])
        for i in range(len(net.layers) - 1, first - 1, -1):
            dys[i] = d
            d = net.layers[i].backward(d, caches[i], grads[i], i != first)
        for i, dy in dys.items():
            lay = net.layers[i]
            rows[i]["backward_us"] = _us_per_call(
                lambda lay=lay, dy=dy, i=i: lay.backward(dy, caches[i], grads[i], i != first), reps)
        res["loss_grad_us"] = _us_per_call(lambda: grad(out, tb), reps)
        flat0 = net.flat.copy()
        res["step_us"] = _us_per_call(opt.step, reps)
        net.flat[...] = flat0

        def whole():
            net.backward(grad(net.forward(xb, True), tb))
            opt.step()
        res["whole_step_us"] = _us_per_call(whole, reps)
        net.flat[...] = flat0
    else:
        res["whole_step_us"] = _us_per_call(lambda: net.forward(xb), reps)
    parts = sum(r["forward_us"] + r.get("backward_us", 0.0) for r in rows)
    res["sum_us"] = parts + res.get("loss_grad_us", 0.0) + res.get("step_us", 0.0)
    res["blas_us"] = sum(r.get("blas_forward_us", 0.0) for r in rows)
    return res


# ----------------------------------------------------------------------------
# machine


def numba_breakdown(eng, x16: np.ndarray, reps: int = 2000) -> dict:
    """Where the numba engine's time per digit goes: each piece of its compiled
    step (the same kernels, on a real digit and the engine's weights) timed alone
    in a compiled loop of ``reps``, microseconds per call, best of 3; against the
    whole step (one digit of a pass, SGD and SDLM). Pieces timed alone run
    without the whole step's inlining and cache traffic, so their sum and the
    step differ a little."""
    import numba

    k = eng.k
    jit = numba.njit(fastmath={"reassoc", "contract"}, boundscheck=False, error_model="numpy")  # as the kernels
    net = eng.net
    p = k._params(net.flat, eng.offs, eng.t1, eng.t2)
    bufs = k._forward_buffers(eng.t1.shape[0], eng.t2.shape[0], eng.offs[6] - eng.offs[5], eng.n_feat, *eng.pads)
    k._forward(x16[0], p, eng.t1, eng.t2, eng.bmode, eng.acts, bufs, True, np.zeros(0))
    acts = (eng.acts[1], eng.acts[2], eng.acts[4], eng.acts[5])  # (A, S) of the hidden and the output units
    xp, y1p, cols1, cols2, a1, y1, f1, a2, y2, f2, a3, y3, f3, a4, y4, f4, scratch, feat = bufs
    w1, b1, w2, b2, w3, b3, w4, b4 = p
    g = k._params(net.flat_grad, eng.offs, eng.t1, eng.t2)
    d2, d1, dcols, dy1p = f2.copy(), f1.copy(), np.zeros_like(cols2), np.zeros((len(eng.t1), 12, 12))
    d3, d4, dy2 = f3.copy(), f4.copy(), np.zeros(y2.size)
    bmode, t1, t2 = eng.bmode, eng.t1, eng.t2
    flat, grad, h = net.flat.copy(), net.flat_grad.copy(), np.ones(net.flat.size)
    wsq = np.empty_like(flat)

    # (arrays go in as arguments: numba would freeze closed-over arrays read-only)
    @jit
    def h1_forward(n, xp, cols1, w1, b1, t1, a1, y1, f1, scratch, acts, bmode):
        for _ in range(n):
            k._im2col(xp, 8, cols1)
            k._conv_fwd(cols1, w1, b1, bmode, t1, a1)
            k.tanh_layer(a1.ravel(), acts[0], acts[1], y1.ravel(), f1.ravel(), scratch)

    @jit
    def h2_forward(n, y1p, cols2, w2, b2, t2, a2, y2, f2, scratch, acts, bmode):
        for _ in range(n):
            k._im2col(y1p, 4, cols2)
            k._conv_fwd(cols2, w2, b2, bmode, t2, a2)
            k.tanh_layer(a2.ravel(), acts[0], acts[1], y2.ravel(), f2.ravel(), scratch[:a2.size])

    @jit
    def h3_out_forward(n, y2, w3, b3, a3, y3, f3, w4, b4, a4, y4, f4, scratch, acts):
        for _ in range(n):
            k._linear_fwd(y2.ravel(), w3, b3, a3)
            k.tanh_layer(a3, acts[0], acts[1], y3, f3, scratch[:a3.size])
            k._linear_fwd(y3, w4, b4, a4)
            k.tanh_layer(a4, acts[2], acts[3], y4, f4, scratch[:a4.size])

    @jit
    def out_h3_backward(n, y2, y3, w3, w4, d3, d4, dy2, g):
        for _ in range(n):
            k._linear_bwd(y3, w4, d4, g[6], g[7], d3, True)
            k._linear_bwd(y2.ravel(), w3, d3, g[4], g[5], dy2, True)

    @jit
    def h2_backward(n, cols2, w2, t2, d2, g, dcols, dy1p, bmode):
        for _ in range(n):
            k._conv_bwd(cols2, w2, bmode, t2, d2, g[2], g[3], dcols, True)
            k._col2im(dcols, 4, dy1p)

    @jit
    def h1_backward(n, cols1, w1, t1, d1, g, dcols, bmode):
        for _ in range(n):
            k._conv_bwd(cols1, w1, bmode, t1, d1, g[0], g[1], dcols, False)

    @jit
    def sgd_update(n, flat, grad):
        for _ in range(n):
            k._sgd_step(flat, grad, 1e-9)

    @jit
    def squares(n, flat, wsq, cols1, sq1, cols2, sq2):
        for _ in range(n):
            k._square(flat, wsq)
            k._square(cols1, sq1)
            k._square(cols2, sq2)

    @jit
    def sdlm_update(n, flat, grad, hess, h):
        for _ in range(n):
            k._sdlm_step(flat, grad, hess, h, 1e-9, 0.01, 0.02)

    pieces = [("H1 forward (windows, products, tanh)", h1_forward,
               (xp, cols1, w1, b1, t1, a1, y1, f1, scratch, acts, bmode)),
              ("H2 forward (windows, products, tanh)", h2_forward,
               (y1p, cols2, w2, b2, t2, a2, y2, f2, scratch, acts, bmode)),
              ("H3 and output forward", h3_out_forward, (y2, w3, b3, a3, y3, f3, w4, b4, a4, y4, f4, scratch, acts)),
              ("output and H3 backward", out_h3_backward, (y2, y3, w3, w4, d3, d4, dy2, g)),
              ("H2 backward (weight and input gradients, windows summed back)", h2_backward,
               (cols2, w2, t2, d2, g, dcols, dy1p, bmode)),
              ("H1 backward (weight gradients)", h1_backward, (cols1, w1, t1, d1, g, dcols, bmode)),
              ("SGD update of all weights", sgd_update, (flat, grad)),
              ("SDLM: weights and inputs squared for the second-derivative pass", squares,
               (flat, wsq, cols1, cols1.copy(), cols2, cols2.copy())),
              ("SDLM: running curvature and divided update", sdlm_update, (flat, grad, np.abs(grad), h))]
    rows = []
    for name, fn, args in pieces:
        fn(1, *args)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            fn(reps, *args)
            best = min(best, (time.perf_counter() - t0) / reps * 1e6)
        rows.append({"piece": name, "us": best})
    return {"pieces": rows, "reps": reps}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict]:
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{k: d[k] for k in keep if d.get(k) is not None} for d in threadpool_info()]


def machine_peak(repeat: int = 5) -> dict:
    """The machine's limit, as one thread sees it: GFLOP/s of BLAS's large square
    matrix product (PEAK_N), float64 and float32, best of ``repeat``. A
    workload's floor is its useful FLOPs at this rate."""
    out = {"n": PEAK_N}
    rng = np.random.default_rng(0)
    for dt in ("float64", "float32"):
        a = rng.standard_normal((PEAK_N, PEAK_N)).astype(dt)
        b = rng.standard_normal((PEAK_N, PEAK_N)).astype(dt)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        out[f"{dt}_gflops"] = 2 * PEAK_N ** 3 / best / 1e9
    return out


def machine_info() -> dict:
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "platform": platform.platform(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                           "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_DEBUG_CPU_TYPE")
                if k in os.environ},
    }
    if torch is not None:
        cfg = torch.__config__.show()
        blas = next((part.split("=", 1)[1] for part in cfg.replace(",", " ").split() if part.startswith("BLAS_INFO=")),
                    "?")
        try:
            cap = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            cap = "?"
        info["torch_blas"] = blas
        info["torch_cpu_capability"] = cap
        info["torch_threads"] = (torch.get_num_threads(), torch.get_num_interop_threads())
    return info


def loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


# ----------------------------------------------------------------------------
# data


def find_data_dir(arg: str | None) -> Path:
    """--data-dir, else $LECUN89_DATA, else lecun89's default if it has the USPS
    files, else the workspace's shared/data beside the repository."""
    path = resolve_data_dir(arg)
    if arg or os.environ.get(ENV_DATA) or (path / "usps").is_dir():
        return path
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else path


def subset(ds: Dataset, n_train: int, n_test: int) -> Dataset:
    return Dataset(ds.name, ds.x_train[:n_train], ds.y_train[:n_train], ds.x_test[:n_test], ds.y_test[:n_test],
                   meta={**ds.meta, "subset": f"first {n_train} / {n_test}"})


# ----------------------------------------------------------------------------
# the benchmark


def fmt_s(s: dict | None) -> str:
    if s is None:
        return "-"
    return f"{s['best']:.3f} / {s['median']:.3f}"


def run_bench(args) -> dict:
    def say(*a, **k):
        print(*a, **k, flush=True)
    data_dir = find_data_dir(args.data_dir)
    ds_full = load_dataset("usps", data_dir)
    n_train = QUICK_N if args.quick else len(ds_full.y_train)
    ds = subset(ds_full, n_train, len(ds_full.y_test)) if args.quick else ds_full
    x_all = np.concatenate([ds_full.x_train, ds_full.x_test])
    if args.quick:
        x_all = x_all[:QUICK_N]
    n_all = len(x_all)
    scale_b = n_train / N_TRAIN_FULL
    scale_i = n_all / N_ALL_FULL
    repeat = args.repeat
    repeat_inf = max(5, 5 * repeat)
    infer_batch = args.infer_batch or predict_default_batch()

    # The numpy engine's rows name it: the default engine ("auto") is the compiled one.
    base = load_config(CONFIG_DIR / "lecun1989-sgd.toml", NUMPY)
    cfgs = {1: base, 32: load_config(CONFIG_DIR / "lecun1989-sgd.toml", [*NUMPY, "train.batch_size=32"])}
    m = base.model
    assert base.train.lr == LR and base.train.order == "fixed" and base.train.loss == "mse", base.train
    assert base.train.engine == "numpy" and cfgs[32].train.engine == "numpy", "the numpy rows run the numpy engine"
    assert m.arch == "net1989" and m.activation == m.output_activation == "lecun" and m.bias == "unit", m

    res: dict = {"data_dir": str(data_dir), "n_train": n_train, "n_infer": n_all, "quick": args.quick,
                 "repeat": repeat, "repeat_inference": repeat_inf,
                 "infer_batch": infer_batch, "config": "configs/lecun1989-sgd.toml",
                 "workloads": {}, "checks": {}}
    load_start = loadavg()

    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:  # already set (e.g. a second call in one process)
                pass
        res["machine"] = machine_info()
        res["blas"] = blas_info()
        res["peak"] = machine_peak()
        say(f"# the machine's limit, one thread: {res['peak']['float64_gflops']:.1f} GFLOP/s float64, "
            f"{res['peak']['float32_gflops']:.1f} float32 (BLAS, {PEAK_N}^2 matrices)", file=sys.stderr)

        net0 = Trainer(base, ds).net
        mac = macs_per_digit(net0)
        res["macs_per_digit"] = mac
        state0 = net0.state_dict()

        # ---------------- lecun89 ----------------
        warm = subset(ds, min(256, n_train), 0)
        lec: dict = {}
        trainers: dict = {}
        for b in (1, 32):
            Trainer(cfgs[b], warm).run_pass()  # warm-up
            times, tr = time_runs(lambda t: t.run_pass(), repeat, lambda b=b: Trainer(cfgs[b], ds))
            lec[b] = summary(times)
            trainers[b] = tr
            say(f"# lecun89 float64 batch {b}: {fmt_s(lec[b])} s (best / median of {repeat})", file=sys.stderr)
        # SDLM at batch 1: SN2.8's running-average estimator adds a second-derivative
        # pass per digit; LeNet-5's snapshot one a batched estimate per pass.
        sdlm = {}
        for name in ("lecun1989", "lecun1989-lenet5"):
            cfg_s = load_config(CONFIG_DIR / f"{name}.toml", NUMPY)
            Trainer(cfg_s, warm).run_pass()  # warm-up
            times, _ = time_runs(lambda t: t.run_pass(), repeat, lambda c=cfg_s: Trainer(c, ds))
            sdlm[name] = dict(summary(times), estimator=cfg_s.train.sdlm_estimator,
                              ratio_to_sgd_b1=summary(times)["best"] / lec[1]["best"])
            say(f"# lecun89 float64 SDLM ({name}, {cfg_s.train.sdlm_estimator}) batch 1: {fmt_s(sdlm[name])} s",
                file=sys.stderr)
        res["sdlm"] = sdlm
        # The compiled engine (train.engine = "numba") on the same two batch-1 workloads.
        if numba_available():
            eng: dict = {}
            for key, name, ref in (("sgd_b1", "lecun1989-sgd", lec[1]), ("sdlm_running", "lecun1989",
                                                                         sdlm["lecun1989"])):
                cfg_n = load_config(CONFIG_DIR / f"{name}.toml", ["train.engine=numba"])
                Trainer(cfg_n, warm).run_pass()  # warm-up (and compile, or load numba's cache)
                times, _ = time_runs(lambda t: t.run_pass(), repeat, lambda c=cfg_n: Trainer(c, ds))
                eng[key] = dict(summary(times), config=name, numpy=ref["best"],
                                speedup_vs_numpy=ref["best"] / min(times))
                say(f"# lecun89 numba engine, {name} batch 1: {fmt_s(eng[key])} s "
                    f"({eng[key]['speedup_vs_numpy']:.2f}x the numpy engine)", file=sys.stderr)
            # Its inference (a numba-engine run's evaluations): the same trained weights as the numpy row.
            eng_inf = Trainer(load_config(CONFIG_DIR / "lecun1989-sgd.toml", ["train.engine=numba"]), warm).engine
            eng_inf.predict(x_all[:64])  # warm-up
            eng_inf_x = np.ascontiguousarray(ds.x_train[:1, 0], dtype=np.float64)
            eng_inf.net.flat[...] = trainers[1].net.flat
            times, _ = time_runs(lambda _s: eng_inf.predict(x_all), repeat_inf)
            eng["infer"] = summary(times)
            eng["infer_max_abs_diff"] = float(np.max(np.abs(eng_inf.predict(x_all) - trainers[1].net.predict(x_all))))
            say(f"# lecun89 numba engine inference: {fmt_s(eng['infer'])} s", file=sys.stderr)
            eng["breakdown"] = numba_breakdown(eng_inf, eng_inf_x)
            eng["compile"] = numba_compile_seconds()
            say(f"# numba compile: {eng['compile']['cold']:.1f} s cold, {eng['compile']['cached']:.2f} s "
                "from its cache", file=sys.stderr)
            # Issue 23: the paper's pass with its evaluations (train and test), compiled, and
            # modern-usps's pass (ReLU, dropout, shifts, cross-entropy, AdamW) on both engines.
            eng["lecun1989_with_evals"] = pass_with_evals("lecun1989", ds, ds_full, warm, repeat)
            say(f"# lecun89 numba engine, lecun1989 pass + evaluations: {fmt_s(eng['lecun1989_with_evals'])} s",
                file=sys.stderr)
            modern = {}
            for engine in ("numpy", "numba"):
                cfg_m = load_config(CONFIG_DIR / "modern-usps.toml", [f"train.engine={engine}"])
                Trainer(cfg_m, warm).run_pass()  # warm-up
                times, _ = time_runs(lambda t: t.run_pass(), repeat, lambda c=cfg_m: Trainer(c, ds))
                modern[engine] = summary(times)
                say(f"# lecun89 {engine} engine, modern-usps pass: {fmt_s(modern[engine])} s", file=sys.stderr)
            modern["speedup"] = modern["numpy"]["best"] / modern["numba"]["best"]
            eng["modern_usps"] = modern
            res["numba"] = eng
        net_inf = trainers[1].net
        predict_in_batches(net_inf, x_all[:infer_batch], infer_batch)  # warm-up
        if args.infer_batch is None:  # what users run: predict's own default
            times, _ = time_runs(lambda _s: net_inf.predict(x_all), repeat_inf)
        else:
            times, _ = time_runs(lambda _s: predict_in_batches(net_inf, x_all, infer_batch), repeat_inf)
        lec["infer"] = summary(times)
        say(f"# lecun89 float64 inference: {fmt_s(lec['infer'])} s", file=sys.stderr)
        res["breakdown"] = {
            "train_b1": breakdown(Trainer(cfgs[1], ds), ds.x_train, 1, True, 2000),
            "train_b32": breakdown(Trainer(cfgs[32], ds), ds.x_train, 32, True, 200),
            "infer": breakdown(Trainer(base, ds), x_all, infer_batch, False, 200),
        }
        lec_out_test = trainers[1].net.predict(ds_full.x_test)
        lec_test_misses = metrics.misses(lec_out_test, ds_full.y_test)

        # ---------------- PyTorch ----------------
        tor: dict = {}
        if torch is not None:
            configs = [TORCH_CONFIGS[c] | {"name": c, "dtype": getattr(torch, TORCH_CONFIGS[c]["dtype_name"])}
                       for c in args.torch_configs]
            targets_np = losses.MSELoss().targets(ds.y_train)
            # Initial outputs agree?
            init_diff = {}
            for c in configs:
                with onednn(c["onednn"]):
                    dt = c["dtype"]
                    y_t = torch_predict(TorchNet(state0, m, dt), torch.tensor(ds_full.x_test[:500], dtype=dt))
                init_diff[c["name"]] = float(np.max(np.abs(y_t.double().numpy() - net0.predict(ds_full.x_test[:500]))))
            res["checks"]["initial_outputs_max_abs_diff"] = init_diff

            # Calibration: the fastest plain SGD update at batch 1, float32 (PyTorch's defaults).
            X32 = torch.tensor(ds.x_train, dtype=torch.float32)
            T32 = torch.tensor(targets_np, dtype=torch.float32)
            calib = {}
            calib_n = min(CALIB_STEPS // 4 if args.quick else CALIB_STEPS, n_train)
            calib_reps = 1 if args.quick else 2
            for variant in STEP_VARIANTS:
                try:
                    net_c = TorchNet(state0, m, torch.float32)
                    step = make_step(net_c, variant, LR)
                    torch_pass(net_c, step, X32, T32, 1, limit=50 if args.quick else 100)  # warm-up
                except Exception as exc:  # e.g. fused SGD not available on this build
                    calib[variant] = f"unavailable ({type(exc).__name__})"
                    continue
                best = float("inf")
                for _ in range(calib_reps):
                    net_c = TorchNet(state0, m, torch.float32)
                    step = make_step(net_c, variant, LR)
                    gc.collect()
                    t0 = time.perf_counter()
                    torch_pass(net_c, step, X32, T32, 1, limit=calib_n)
                    best = min(best, (time.perf_counter() - t0) / calib_n)
                calib[variant] = best * 1e6  # microseconds per step
            timed = {k: v for k, v in calib.items() if isinstance(v, float)}
            variant = min(timed, key=timed.get)
            res["torch_step_variant"] = variant
            res["torch_step_calibration_us"] = calib
            say("# PyTorch SGD update variants, batch 1 float32, us per step: "
                + ", ".join(f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}" for k, v in calib.items())
                + f" -> {variant}", file=sys.stderr)

            checks = {}
            for c in configs:
                name, dt = c["name"], c["dtype"]
                X = torch.tensor(ds.x_train, dtype=dt)
                T = torch.tensor(targets_np, dtype=dt)
                Xa = torch.tensor(x_all, dtype=dt)
                tor[name] = {}
                with onednn(c["onednn"]):
                    net_b1 = None
                    for b in (1, 32):
                        def setup(dt=dt):
                            net = TorchNet(state0, m, dt)
                            return net, make_step(net, variant, LR)
                        net_w, step_w = setup()
                        torch_pass(net_w, step_w, X, T, b, limit=256)  # warm-up
                        times, (net_t, _) = time_runs(lambda s, X=X, T=T, b=b: torch_pass(s[0], s[1], X, T, b),
                                                      repeat, setup)
                        tor[name][b] = summary(times)
                        say(f"# PyTorch {name} batch {b}: {fmt_s(tor[name][b])} s", file=sys.stderr)
                        if b == 1:
                            net_b1 = net_t
                    torch_predict(net_b1, Xa[:infer_batch], infer_batch)  # warm-up
                    times, _ = time_runs(lambda _s, n=net_b1, Xa=Xa: torch_predict(n, Xa, infer_batch), repeat_inf)
                    tor[name]["infer"] = summary(times)
                    say(f"# PyTorch {name} inference: {fmt_s(tor[name]['infer'])} s", file=sys.stderr)
                    # Sanity: after the timed batch-1 pass, the test errors agree.
                    out = torch_predict(net_b1, torch.tensor(ds_full.x_test, dtype=dt)).double().numpy()
                miss = metrics.misses(out, ds_full.y_test)
                lec_params = trainers[1].net.named_params()
                w_diff = max(float(np.max(np.abs(t.detach().double().numpy() - lec_params[k])))
                             for k, t in net_b1.p.items())
                tol = 1 if dt == torch.float64 else 10
                checks[name] = {"lecun89_test_misses": lec_test_misses, "torch_test_misses": miss,
                                "n_test": len(ds_full.y_test), "tolerance": tol,
                                "outputs_max_abs_diff": float(np.max(np.abs(out - lec_out_test))),
                                "weights_max_abs_diff": w_diff,
                                "ok": abs(miss - lec_test_misses) <= tol}
            res["checks"]["after_batch1_pass"] = checks
        else:
            res["torch_error"] = TORCH_ERROR

    res["load_start"] = load_start
    res["load_end"] = loadavg()

    # ---------------- numbers per workload ----------------
    flops_train = 2 * mac["useful"]["train"]
    flops_fwd = 2 * mac["useful"]["forward"]
    exec_train = 2 * mac["executed"]["train"]
    exec_fwd = 2 * mac["executed"]["forward"]
    wl = [
        ("train_b1", f"SGD pass, batch 1, {n_train:,} digits", 1, n_train * flops_train, n_train * exec_train),
        ("train_b32", f"SGD pass, batch 32, {n_train:,} digits", 32, n_train * flops_train, n_train * exec_train),
        ("infer", f"inference, {n_all:,} digits (batches of {infer_batch})", "infer", n_all * flops_fwd,
         n_all * exec_fwd),
    ]
    eng = res.get("numba") or {}
    numba_times = {"train_b1": eng.get("sgd_b1"), "infer": eng.get("infer")}
    peak64 = res["peak"]["float64_gflops"]
    for key, label, k, useful, executed in wl:
        row = {"label": label, "useful_flops": useful, "lecun89_executed_flops": executed,
               "floor_seconds": useful / peak64 / 1e9,
               "lecun89_float64": {kk: v for kk, v in lec[k].items()}}
        if numba_times.get(key):
            row["lecun89_numba"] = {kk: v for kk, v in numba_times[key].items()
                                    if kk in ("best", "median", "runs")}
        engines = [e for e in ("lecun89_float64", "lecun89_numba") if e in row]
        for e in engines:
            row[e]["gflops"] = useful / row[e]["best"] / 1e9
            row[e]["x_floor"] = row[e]["best"] / row["floor_seconds"]
        best_e = min(engines, key=lambda e: row[e]["best"])
        best = row[best_e]["best"]
        row["lecun89_best"] = best_e
        for name in tor:
            row[f"torch_{name}"] = {kk: v for kk, v in tor[name][k].items()}
            row[f"torch_{name}"]["gflops"] = useful / tor[name][k]["best"] / 1e9
            row[f"speedup_vs_torch_{name}"] = tor[name][k]["best"] / best
        if tor:
            fastest = min(tor, key=lambda n: tor[n][k]["best"])
            row["torch_fastest"] = fastest
            row["speedup_vs_torch_fastest"] = tor[fastest][k]["best"] / best
        tgt = TARGETS[key]
        verdicts = []
        scale = scale_i if key == "infer" else scale_b
        engine_name = "numba engine" if best_e == "lecun89_numba" else "numpy engine"
        for ref, want in tgt.get("speedup", {}).items():
            value = row.get(f"speedup_vs_torch_{ref}")
            who = "PyTorch float32" if ref == "float32" else "PyTorch's fastest"
            verdicts.append({"what": f">= {want:g}x {who}" if want > 1 else f"ahead of {who}",
                             "met": None if value is None else (value >= want if want > 1 else value > 1),
                             "value": value, "unit": "x", "engine": engine_name})
        if "seconds" in tgt:
            limit = tgt["seconds"] * scale
            what = f"<= {limit:.3g} s" + (f" (scaled from {tgt['seconds']:g} s)" if scale != 1 else "")
            verdicts.append({"what": what, "met": best <= limit, "value": best, "unit": "s", "engine": engine_name})
        row["targets"] = verdicts
        res["workloads"][key] = row
    # The SDLM pass: the training arithmetic plus the second-derivative pass (the
    # backward again, with squared weights and inputs): 2 x training - forward MACs.
    sdlm_flops = n_train * 2 * (2 * mac["useful"]["train"] - mac["useful"]["forward"])
    times = [t for t in (res["sdlm"]["lecun1989"], eng.get("sdlm_running")) if t]
    best = min(t["best"] for t in times)
    res["sdlm_floor"] = {"useful_flops": sdlm_flops, "floor_seconds": sdlm_flops / peak64 / 1e9,
                         "target": {"what": f"<= {SDLM_TARGET_SECONDS * scale_b:.3g} s", "met":
                                    best <= SDLM_TARGET_SECONDS * scale_b, "value": best}}
    for e, t in (("numpy", res["sdlm"]["lecun1989"]), ("numba", eng.get("sdlm_running"))):
        if t:
            res["sdlm_floor"][e] = {"best": t["best"], "gflops": sdlm_flops / t["best"] / 1e9,
                                    "x_floor": t["best"] / res["sdlm_floor"]["floor_seconds"]}
    res["issue23"] = issue23_targets(res)
    return res


# Issue 23's targets for the compiled engine: its inference within this many
# times the floor, and modern-usps's pass at least this much faster than numpy's.
INFER_X_FLOOR_TARGET = 3.0
MODERN_SPEEDUP_TARGET = 3.0


def issue23_targets(res: dict) -> dict:
    """The compiled engine's inference against the floor, the paper's pass with
    its evaluations against PyTorch's fastest batch-1 pass, and modern-usps's
    pass against the numpy engine's; each judged where the run measured it."""
    eng, wls = res.get("numba") or {}, res["workloads"]
    out = {}
    inf = wls["infer"].get("lecun89_numba")
    if inf:
        out["infer_x_floor"] = {"what": f"compiled inference <= {INFER_X_FLOOR_TARGET:g}x floor",
                                "value": inf["x_floor"], "met": inf["x_floor"] <= INFER_X_FLOOR_TARGET}
    pe = eng.get("lecun1989_with_evals")
    tb1 = wls["train_b1"]
    if pe and tb1.get("torch_fastest"):
        fastest = tb1[f"torch_{tb1['torch_fastest']}"]["best"]
        out["lecun1989_vs_torch"] = {"what": "lecun1989 pass + evaluations (numba) vs PyTorch's fastest "
                                             f"batch-1 SGD pass ({tb1['torch_fastest']}, no evaluations)",
                                     "value": fastest / pe["best"], "met": None, "seconds": pe["best"],
                                     "torch_seconds": fastest}
    mu = eng.get("modern_usps")
    if mu:
        out["modern_usps_speedup"] = {"what": f"modern-usps pass, numba >= {MODERN_SPEEDUP_TARGET:g}x numpy",
                                      "value": mu["speedup"], "met": mu["speedup"] >= MODERN_SPEEDUP_TARGET,
                                      "seconds": {"numpy": mu["numpy"]["best"], "numba": mu["numba"]["best"]}}
    return out


def _verdict(t: dict) -> str:
    word = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
    if t["value"] is None:
        return word
    value = f"{t['value']:.1f}x" if t.get("unit") == "x" else f"{t['value']:.3f} s"
    return f"{word} ({value}" + (f", {t['engine']})" if t.get("engine") else ")")


def _table(hdr: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"] + \
        ["| " + " | ".join(r) + " |" for r in rows]


def render(res: dict) -> str:
    out = []
    mach = res["machine"]
    wls = res["workloads"]
    names = [n for n in TORCH_CONFIGS if f"torch_{n}" in wls["train_b1"]]
    load = lambda t: "n/a" if t is None else " ".join(f"{v:.2f}" for v in t)  # noqa: E731
    out.append("## lecun89 vs PyTorch, one thread")
    out.append("")
    out.append(f"Command: `{res['command']}`")
    out.append("")
    out.append(f"Machine: {mach['cpu']}, {mach['cores']} cores ({mach['usable_cores']} usable), "
               f"Python {mach['python']}, numpy {mach['numpy']}, torch {mach['torch'] or 'not installed'}; "
               f"load average {load(res['load_start'])} at start, {load(res['load_end'])} at end")
    blas = "; ".join(
        " ".join(x for x in (b.get("internal_api"), b.get("version"),
                             f"({b['architecture']})" if "architecture" in b else None,
                             f"[{b.get('prefix')}]", f"threads {b.get('num_threads')}") if x)
        for b in res["blas"])
    out.append(f"Thread pools (threadpoolctl, inside the limit): {blas}")
    env = " ".join(f"{k}={v}" for k, v in mach["env"].items()) or "none set"
    out.append(f"BLAS environment variables: {env}")
    if mach.get("torch"):
        out.append(f"PyTorch: BLAS {mach['torch_blas']}, CPU capability {mach['torch_cpu_capability']}, "
                   f"threads (intra, inter-op) {mach['torch_threads']}; SGD update used: {res['torch_step_variant']}"
                   f" (fastest of: " + ", ".join(
                       f"{k} {v:.0f} us/step" if isinstance(v, float) else f"{k} {v}"
                       for k, v in res["torch_step_calibration_us"].items()) + ", batch 1 float32)")
    else:
        out.append(f"PyTorch: not available ({res.get('torch_error')}); lecun89 timed alone")
    out.append(f"Data: USPS from {res['data_dir']}" + (" (--quick: first digits only)" if res["quick"] else "")
               + f". Seconds, best / median of {res['repeat']} (inference: of {res['repeat_inference']}). "
               f"lecun89 trains in float64; the main PyTorch column is float32 with PyTorch's defaults.")
    out.append("")
    hdr = ["workload", "lecun89 numpy engine s", "lecun89 numba engine s"]
    if names:
        hdr += ["PyTorch float32 s", "speed-up (PyTorch/lecun89)", "fastest PyTorch s", "speed-up vs fastest"]
    hdr += ["target", "met"]
    rows = []
    for row in wls.values():
        cells = [row["label"], fmt_s(row["lecun89_float64"]), fmt_s(row.get("lecun89_numba"))]
        if names:
            f32 = row.get("torch_float32")
            cells += [fmt_s(f32), f"{row['speedup_vs_torch_float32']:.1f}x" if f32 else "-",
                      f"{fmt_s(row['torch_' + row['torch_fastest']])} ({row['torch_fastest']})",
                      f"{row['speedup_vs_torch_fastest']:.1f}x"]
        cells += ["; ".join(t["what"] for t in row["targets"]), "; ".join(_verdict(t) for t in row["targets"])]
        rows.append(cells)
    out += _table(hdr, rows)
    out.append("")
    out.append("Speed-ups and targets are judged on lecun89's faster engine for each workload (the numba engine "
               "covers batch 1 and inference, not batch 32).")
    mac = res["macs_per_digit"]
    peak = res["peak"]
    out.append("")
    out.append(f"Useful arithmetic per digit, from the geometry (biases not counted): forward "
               f"{mac['useful']['forward']:,} MACs; training {mac['useful']['train']:,} MACs (forward + weight "
               f"gradients + input gradients of every layer but H1); the SDLM pass adds the second-derivative "
               f"pass ({mac['useful']['train'] - mac['useful']['forward']:,} more); 2 FLOPs per MAC. The numpy "
               f"engine computes H2 with a dense 12x12-map kernel masked to the 8-of-12 table, so it executes "
               f"{mac['executed']['forward']:,} / {mac['executed']['train']:,} MACs per digit; GFLOP/s count useful "
               f"FLOPs only (best times). The machine's limit, one thread: BLAS's {peak['n']}x{peak['n']} matrix "
               f"product runs {peak['float64_gflops']:.1f} GFLOP/s in float64 ({peak['float32_gflops']:.1f} in "
               f"float32); a workload's floor is its useful FLOPs at the float64 rate, and \"x floor\" how many "
               f"times that a run takes.")
    out.append("")
    hdr = ["workload", "useful GFLOP", "floor (float64 peak)", "numpy engine", "numba engine"] + \
          [f"PyTorch {n}" for n in names]

    def at(t):
        return "-" if not t else f"{fmt_s(t)} s, {t['gflops']:.2f} GFLOP/s, {t['x_floor']:.1f}x floor"
    rows = []
    for row in wls.values():
        rows.append([row["label"], f"{row['useful_flops'] / 1e9:.3f}", f"{row['floor_seconds']:.3f} s",
                     at(row["lecun89_float64"]), at(row.get("lecun89_numba"))]
                    + [f"{fmt_s(row[f'torch_{n}'])} s, {row[f'torch_{n}']['gflops']:.2f} GFLOP/s"
                       for n in names])
    sf = res.get("sdlm_floor")
    if sf:
        f = lambda t: "-" if not t else f"{t['best']:.3f} s, {t['gflops']:.2f} GFLOP/s, {t['x_floor']:.1f}x floor"  # noqa: E731
        rows.append([f"SDLM pass (`lecun1989`, running), batch 1, {res['n_train']:,} digits",
                     f"{sf['useful_flops'] / 1e9:.3f}", f"{sf['floor_seconds']:.3f} s", f(sf.get("numpy")),
                     f(sf.get("numba"))] + ["" for _ in names])
    out += _table(hdr, rows)
    if sf:
        out.append("")
        out.append(f"SDLM pass target {sf['target']['what']}: {_verdict(sf['target'])}.")
    if res.get("sdlm"):
        out.append("")
        out.append(f"SDLM passes at batch 1 (lecun89 only, {res['n_train']:,} digits), against the SGD batch-1 pass "
                   "above: the second-derivative pass per digit may at most double it.")
        out.append("")
        out += _table(["config", "curvature estimate", "seconds (best / median)", "x SGD batch-1 pass"],
                      [[f"`{n}`", r["estimator"], fmt_s(r), f"{r['ratio_to_sgd_b1']:.2f}x"]
                       for n, r in res["sdlm"].items()])
    eng = res.get("numba")
    if eng:
        out.append("")
        out.append(f"The compiled engine (`train.engine = \"numba\"`, {res['n_train']:,} digits, batch 1) against "
                   f"the numpy engine in the same run; numba's set-up in a fresh process: "
                   f"{eng['compile']['cold']:.1f} s compiling, {eng['compile']['cached']:.2f} s from its cache.")
        out.append("")
        rows = []
        for key, label in (("sgd_b1", "SGD pass"), ("sdlm_running", "SDLM pass (running, SN2.8)")):
            r = eng[key]
            extra = f", {wls['train_b1']['lecun89_numba']['gflops']:.2f} GFLOP/s" if key == "sgd_b1" else ""
            rows.append([f"{label}, `{r['config']}`", f"{r['numpy']:.3f} s", fmt_s(r) + " s" + extra,
                         f"{r['speedup_vs_numpy']:.2f}x"])
        if eng.get("infer"):
            ref = wls["infer"]["lecun89_float64"]["best"]
            rows.append([f"inference, {res['n_infer']:,} digits", f"{ref:.3f} s", fmt_s(eng["infer"]) + " s "
                         f"(outputs within {eng['infer_max_abs_diff']:.1e} of the numpy engine's)",
                         f"{ref / eng['infer']['best']:.2f}x"])
        out += _table(["workload", "numpy engine (best)", "numba engine (best / median)", "speed-up"], rows)
    i23 = res.get("issue23")
    if i23:
        out += ["", "The compiled engine's targets (issue 23), measured in this run:", ""]
        rows = []
        for key, t in i23.items():
            value = f"{t['value']:.2f}x" + (" floor" if key == "infer_x_floor" else "")
            if key == "lecun1989_vs_torch":
                value += f" ({t['torch_seconds']:.3f} s / {t['seconds']:.3f} s)"
            elif key == "modern_usps_speedup":
                value += f" ({t['seconds']['numpy']:.3f} s / {t['seconds']['numba']:.3f} s)"
            rows.append([t["what"], value, "n/a (no target)" if t["met"] is None else
                         ("met" if t["met"] else "NOT met")])
        out += _table(["ratio", "measured", "target"], rows)
    if eng and eng.get("breakdown"):
        n = res["n_train"]
        out += ["", f"Where the numba engine's time per digit goes: each piece of its compiled step timed alone in "
                f"a compiled loop of {eng['breakdown']['reps']:,} (the same kernels, a real digit, the trained "
                "weights), microseconds per call, best of 3; against the whole step as the pass runs it.", ""]
        rows = [[r["piece"], f"{r['us']:.1f}"] for r in eng["breakdown"]["pieces"]]
        rows.append(["**whole SGD step** (the SGD pass / digits)", f"{eng['sgd_b1']['best'] / n * 1e6:.1f}"])
        rows.append(["**whole SDLM step** (the SDLM pass / digits)", f"{eng['sdlm_running']['best'] / n * 1e6:.1f}"])
        out += _table(["piece", "us"], rows)
    bd = res.get("breakdown")
    if bd:
        out += [""] + render_breakdown(bd)
    checks = res["checks"].get("after_batch1_pass")
    if checks:
        out.append("")
        init = res["checks"]["initial_outputs_max_abs_diff"]
        out.append("Sanity, same initial weights: outputs on 500 test digits, max |PyTorch - lecun89|: "
                   + ", ".join(f"{k} {v:.1e}" for k, v in init.items()))
        for n, c in checks.items():
            out.append(f"Sanity ({n}), after the timed batch-1 pass: test errors lecun89 "
                       f"{c['lecun89_test_misses']}/{c['n_test']}, PyTorch {c['torch_test_misses']}/{c['n_test']} "
                       f"(tolerance {c['tolerance']}); max |diff| weights {c['weights_max_abs_diff']:.1e}, "
                       f"test outputs {c['outputs_max_abs_diff']:.1e}: " + ("ok" if c["ok"] else "MISMATCH"))
    return "\n".join(out)


def render_breakdown(bd: dict) -> list[str]:
    cols = [("train_b1", "batch 1 step"), ("train_b32", "batch 32 step"),
            ("infer", f"inference, batch {bd['infer']['batch']}")]
    f = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
    out = ["Where lecun89's time goes: each layer's forward (and backward) timed alone on real digits, "
           "microseconds per call, best of 3 loops; in brackets the BLAS products alone (the conv layers' "
           "im2col GEMM, the linear layers' GEMM) on the same arrays.", ""]
    hdr = ["layer"] + [f"{lbl}: {d}" for _, lbl in cols[:2] for d in ("forward", "backward")] + \
          [f"{cols[2][1]}: forward"]

    def fwd(r):
        return f(r["forward_us"]) + (f" [{r['blas_forward_us']:.1f}]" if "blas_forward_us" in r else "")
    rows = []
    for i, r1 in enumerate(bd["train_b1"]["layers"]):
        cells = [r1["layer"]]
        for key, _ in cols[:2]:
            r = bd[key]["layers"][i]
            cells += [fwd(r), f(r.get("backward_us"))]
        rows.append(cells + [fwd(bd["infer"]["layers"][i])])
    b1, b32, inf = bd["train_b1"], bd["train_b32"], bd["infer"]
    rows.append(["loss gradient", "", f(b1["loss_grad_us"]), "", f(b32["loss_grad_us"]), ""])
    rows.append(["optimizer step (SGD)", "", f(b1["step_us"]), "", f(b32["step_us"]), ""])
    rows.append(["**sum of the parts**", f"{b1['sum_us']:.1f} [{b1['blas_us']:.1f}]", "",
                 f"{b32['sum_us']:.1f} [{b32['blas_us']:.1f}]", "", f"{inf['sum_us']:.1f} [{inf['blas_us']:.1f}]"])
    rows.append(["**whole step, as the loop runs it**", f(b1["whole_step_us"]), "", f(b32["whole_step_us"]), "",
                 f(inf["whole_step_us"])])
    rows.append(["per digit", f(b1["whole_step_us"]), "", f(b32["whole_step_us"] / 32), "",
                 f(inf["whole_step_us"] / inf["batch"])])
    return out + _table(hdr, rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help=f"data directory (default: ${ENV_DATA}, else lecun89's default, "
                                      "else <repo>/../shared/data)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per training workload (default 3; "
                                                         "inference: max(5, 5 x this))")
    p.add_argument("--quick", action="store_true", help=f"the first {QUICK_N:,} digits only, for a smoke run")
    p.add_argument("--torch-configs", default=",".join(TORCH_CONFIGS), metavar="LIST",
                   help=f"PyTorch set-ups to time, comma-separated, from {', '.join(TORCH_CONFIGS)} "
                        f"(default: all; float32 is the main comparison)")
    p.add_argument("--infer-batch", type=int, metavar="N",
                   help="inference batch size for both (default: lecun89's Network.predict default)")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.infer_batch is not None and args.infer_batch < 1:
        p.error("--infer-batch must be >= 1")
    args.torch_configs = [c.strip() for c in args.torch_configs.split(",") if c.strip()]
    bad = [c for c in args.torch_configs if c not in TORCH_CONFIGS]
    if bad or not args.torch_configs:
        p.error(f"--torch-configs: unknown {', '.join(bad) or '(empty)'}; choose from {', '.join(TORCH_CONFIGS)}")
    if "float32" not in args.torch_configs:
        p.error("--torch-configs must include float32 (the main comparison)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if torch is None:
        print(f"PyTorch not available ({TORCH_ERROR}): timing lecun89 alone.", file=sys.stderr)
    try:
        res = run_bench(args)
    except UserError as exc:
        print(f"bench: {exc}\n(the benchmark looks in --data-dir, else ${ENV_DATA}, else lecun89's default "
              f"{resolve_data_dir(None)}, else {REPO.parent / 'shared' / 'data'})", file=sys.stderr)
        return 2
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in res["machine"]["env"].items())
    cmd = ["python", "scripts/bench.py", *(sys.argv[1:] if argv is None else argv)]
    res["command"] = (prefix + " " if prefix else "") + " ".join(shlex.quote(a) for a in cmd)
    sys.stderr.flush()
    print(render(res), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2, default=str)
            fh.write("\n")
    checks = res["checks"].get("after_batch1_pass", {})
    return 0 if all(c["ok"] for c in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
