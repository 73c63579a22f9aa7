#!/usr/bin/env python
"""Speed benchmark: lecun89 (float64, both engines) against PyTorch and JAX, and
lecun89's own commands as a user meets them; every target judged in the same run.

One process, one thread for everything (numpy's BLAS through threadpoolctl,
torch through ``set_num_threads(1)``, XLA on one thread), the same USPS digits
and the same initial weights on every side. In-process workloads, lecun89
through its real training code (``Trainer(cfg, data).run_pass()``):

- the SGD pass at batch 1 over the 7,291 training digits (configs/lecun1989-sgd.toml:
  fixed order, squared error against +-1 targets, lr 0.03), and at batch 32;
- the SDLM passes of ``lecun1989`` (SN2.8's running curvature: a second-derivative
  pass per digit) and ``lecun1989-lenet5`` (LeNet-5's snapshot before each pass);
- a ``modern-usps`` pass (ReLU, dropout, shifts, cross-entropy, AdamW);
- inference over all 9,298 digits;

each on the numpy engine (the layers, the reference) and the compiled one where
it covers the workload; PyTorch's plain loop (scripts/bench_torch.py) and JAX's
jitted pass (scripts/bench_jax.py, where JAX is installed) on the SGD batch-1
pass. The machine's limit is measured in the same process: BLAS's large matrix
product on one thread, in GFLOP/s; a workload's floor is its useful arithmetic
(multiply-adds from the geometry, biases not counted) at that rate.

Then lecun89's commands in fresh processes (scripts/bench_commands.py): the
first ``lecun89 train`` on a fresh install and with its caches, the time to the
first digit, a pass through the command, the first ``lecun89 train lecun1989``.
And where the time goes: each layer of the numpy engine, each piece of the
compiled step, timed alone.

Usage::

    python scripts/bench.py [--data-dir DIR] [--repeat N] [--quick] [--json FILE]

``--json FILE`` writes every number (docs/speed.json is one run's);
``python scripts/speed_doc.py`` makes docs/speed.md's and the README's speed
tables from it. Exit status: 0, or 1 if a sanity check (lecun89 and a peer
agreeing) fails, 2 if the data are missing. Targets are reported, never enforced.
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
for path in (REPO, REPO / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_torch as BT  # first: threadpoolctl then sees (and limits) torch's OpenMP/MKL pools
import bench_jax as BJ
import bench_commands
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import speed_doc
from lecun89 import layers as L
from lecun89 import losses, metrics
from lecun89.config import CONFIG_DIR, load_config
from lecun89.data import ENV_DATA, Dataset, load_dataset, resolve_data_dir
from lecun89.engine import unsupported
from lecun89.errors import UserError
from lecun89.train import Trainer

QUICK_N = 1000
LR = 0.03
PEAK_N = 1536  # the matrix product that measures the machine's limit (one thread): n x n by n x n
# The in-process workloads: (config, overrides); each runs on both engines where the compiled one covers it.
WORKLOADS = {
    "sgd_b1": ("lecun1989-sgd", []),
    "sgd_b32": ("lecun1989-sgd", ["train.batch_size=32"]),
    "sdlm_running": ("lecun1989", []),
    "sdlm_snapshot": ("lecun1989-lenet5", []),
    "modern_usps": ("modern-usps", []),
}


# --- arithmetic ---------------------------------------------------------------------

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


# --- timing ---------------------------------------------------------------------------

def summary(times: list[float]) -> dict:
    return {"best": min(times), "median": statistics.median(times), "runs": times}


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


def _us_per_call(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e6


# --- the machine --------------------------------------------------------------------------

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
    import numba

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "torch": None,
        "jax": BJ.version(),
        "platform": platform.platform(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                           "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_DEBUG_CPU_TYPE")
                if k in os.environ},
    }
    if BT.torch is not None:
        info.update(BT.info())
    return info


def loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


# --- the data ---------------------------------------------------------------------------------

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


# --- lecun89 in this process ------------------------------------------------------------------------

def workload_config(key: str, engine: str):
    """The workload's config on ``engine``, or None where that engine does not cover it."""
    name, overrides = WORKLOADS[key]
    cfg = load_config(CONFIG_DIR / f"{name}.toml", ["train.engine=numpy", *overrides])
    if engine == "numba" and unsupported(cfg) is not None:
        return None
    return load_config(CONFIG_DIR / f"{name}.toml", [f"train.engine={engine}", *overrides])


def time_passes(ds: Dataset, warm: Dataset, repeat: int, say) -> tuple[dict, dict]:
    """Every workload's pass on both engines: {engine: {workload: summary}}, and
    the numpy engine's trainer after its timed SGD batch-1 pass."""
    out: dict = {"numpy": {}, "numba": {}}
    trained = None
    for key in WORKLOADS:
        for engine in ("numpy", "numba"):
            cfg = workload_config(key, engine)
            if cfg is None:
                continue
            Trainer(cfg, warm).run_pass()  # warm-up (and for numba: compile, or load its cache)
            times, tr = time_runs(lambda t: t.run_pass(), repeat, lambda c=cfg: Trainer(c, ds))
            out[engine][key] = dict(summary(times), config=WORKLOADS[key][0])
            if key == "sgd_b1" and engine == "numpy":
                trained = tr
            say(f"# lecun89 {engine} engine, {key} ({WORKLOADS[key][0]}): "
                f"{out[engine][key]['best']:.3f} / {out[engine][key]['median']:.3f} s")
    return out, trained


def time_inference(trained: Trainer, x_all: np.ndarray, repeat_inf: int) -> dict:
    """Inference over x_all with the trained weights: the numpy layers'
    ``Network.predict`` and the compiled forward, and how far apart they are."""
    from lecun89.engine import CompiledForward

    net = trained.net
    net.predict(x_all[:64])
    times, _ = time_runs(lambda _s: net.predict(x_all), repeat_inf)
    out = {"numpy": summary(times)}
    fwd = CompiledForward(net)
    fwd.predict(x_all[:64])
    times, _ = time_runs(lambda _s: fwd.predict(x_all), repeat_inf)
    out["numba"] = summary(times)
    out["max_abs_diff"] = float(np.max(np.abs(fwd.predict(x_all) - net.predict(x_all))))
    return out


def breakdown(trainer: Trainer, x: np.ndarray, batch: int, train: bool, reps: int) -> dict:
    """Where the numpy engine's time of one step goes: each layer's forward (and
    backward) timed alone on a real batch, in microseconds per call (best of 3
    loops of ``reps``), of which BLAS products (the conv layers' im2col GEMMs,
    the linear layers' GEMMs, timed alone on the same arrays); then the loss
    gradient and the optimizer step; and the whole step (forward, loss,
    backward, step) as the training loop runs it."""
    net, opt = trainer.net, trainer.opt
    opt.lr = trainer.cfg.train.lr  # (a zero rate would let BLAS skip the update)
    xb, tb, grad = x[:batch], trainer._targets[:batch], trainer._grad
    rows, inputs = [], []
    caches = [{} if train else None for _ in net.layers]  # each layer's training state (the layers keep none)
    h = xb
    for lay, cache in zip(net.layers, caches, strict=True):
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
            row["blas_forward_us"] = _us_per_call(lambda lay=lay, a=inputs[i]: np.dot(a, lay.params["weight"].T),
                                                  reps)
        rows.append(row)
    res = {"batch": batch, "train": train, "layers": rows}
    if train:
        _backward_breakdown(net, inputs, caches, grad(out, tb), reps, rows)
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


def _backward_breakdown(net, inputs, caches, d, reps, rows) -> None:
    """Each layer's backward timed alone (into rows), from every layer's forward state of this batch."""
    grads = [lay.param_zeros() for lay in net.layers]
    for lay, a, cache in zip(net.layers, inputs, caches, strict=True):  # every layer's state of this batch again
        lay.forward(a, cache)
    dys = {}
    first = net.layers.index(net.param_layers[0])
    for i in range(len(net.layers) - 1, first - 1, -1):
        dys[i] = d
        d = net.layers[i].backward(d, caches[i], grads[i], i != first)
    for i, dy in dys.items():
        lay = net.layers[i]
        rows[i]["backward_us"] = _us_per_call(
            lambda lay=lay, dy=dy, i=i: lay.backward(dy, caches[i], grads[i], i != first), reps)


def numba_breakdown(ds: Dataset, reps: int = 2000) -> dict:
    """Where the compiled step's time goes (lecun1989-sgd's network and a real
    digit): each piece of it (the same kernels) timed alone in a compiled loop
    of ``reps``, microseconds per call, best of 3. Pieces timed alone run
    without the whole step's inlining and cache traffic, so their sum and the
    step differ a little."""
    import bench_pieces

    return bench_pieces.pieces(load_config(CONFIG_DIR / "lecun1989-sgd.toml", ["train.engine=numba"]), ds, reps)


# --- the peers ---------------------------------------------------------------------------------

def time_torch(state0, mcfg, ds: Dataset, ds_full: Dataset, x_all, args, repeat, repeat_inf, infer_batch,
               trained, say) -> dict:
    """PyTorch's set-ups (scripts/bench_torch.py) with lecun89's initial weights,
    and each one's test misses after its timed batch-1 pass against lecun89's."""
    targets = losses.MSELoss().targets(ds.y_train)
    X32, T32 = (BT.torch.tensor(a, dtype=BT.torch.float32) for a in (ds.x_train, targets))
    variant, calib = BT.calibrate(state0, mcfg, X32, T32, LR, args.quick)
    say("# PyTorch SGD update variants, batch 1 float32, us per step: "
        + ", ".join(f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}" for k, v in calib.items())
        + f" -> {variant}")
    out: dict = {"variant": variant, "calibration_us": calib, "configs": {}, "checks": {}}
    lec_out = trained.net.predict(ds_full.x_test)
    lec_params = trained.net.named_params()
    for name in args.torch_configs:
        res, net_b1 = BT.time_config(name, state0, mcfg, ds.x_train, targets, x_all, variant, LR, repeat,
                                     repeat_inf, infer_batch, time_runs, summary)
        out["configs"][name] = res
        say(f"# PyTorch {name}: batch 1 {res['b1']['best']:.3f} s, batch 32 {res['b32']['best']:.3f} s, "
            f"inference {res['infer']['best']:.3f} s")
        o = BT.outputs(net_b1, ds_full.x_test, name)
        tol = 1 if name == "float64" else 10
        out["checks"][name] = {
            "torch_test_misses": metrics.misses(o, ds_full.y_test), "tolerance": tol,
            "outputs_max_abs_diff": float(np.max(np.abs(o - lec_out))),
            "weights_max_abs_diff": max(float(np.max(np.abs(w - lec_params[k]))) for k, w in BT.weights(net_b1).items())}
    return out


def time_jax(state0, mcfg, ds: Dataset, ds_full: Dataset, repeat: int, say) -> dict:
    """JAX's jitted batch-1 pass (scripts/bench_jax.py), its compile untimed, and
    its test misses after the timed pass."""
    params, mask = BJ.params_from(state0)
    forward = BJ.make_forward(mask, float(mcfg.pad_value_h1), float(mcfg.pad_value_h2))
    run = BJ.make_pass(forward, LR)
    X = BJ.to_device(ds.x_train)
    T = BJ.to_device(losses.MSELoss().targets(ds.y_train))
    t0 = time.perf_counter()
    BJ.block(run(params, X, T))  # compiles for this shape, then runs once
    compile_and_first = time.perf_counter() - t0
    times, last = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        last = BJ.block(run(params, X, T))
        times.append(time.perf_counter() - t0)
    out = {"version": BJ.version(), "b1": summary(times), "compile_and_first_pass": compile_and_first}
    o = np.asarray(BJ.make_predict(forward)(last, BJ.to_device(ds_full.x_test)), dtype=np.float64)
    out["check"] = {"jax_test_misses": metrics.misses(o, ds_full.y_test), "tolerance": 10}
    say(f"# JAX jitted pass, batch 1: {out['b1']['best']:.3f} / {out['b1']['median']:.3f} s")
    return out


# --- the run ------------------------------------------------------------------------------------

def setup(args) -> dict:
    """The data, its subsets and the run's fixed facts."""
    data_dir = find_data_dir(args.data_dir)
    ds_full = load_dataset("usps", data_dir)
    n_train = QUICK_N if args.quick else len(ds_full.y_train)
    ds = subset(ds_full, n_train, len(ds_full.y_test)) if args.quick else ds_full
    x_all = np.concatenate([ds_full.x_train, ds_full.x_test])[:QUICK_N if args.quick else None]
    base = load_config(CONFIG_DIR / "lecun1989-sgd.toml", ["train.engine=numpy"])
    t, m = base.train, base.model
    assert t.lr == LR and t.order == "fixed" and t.loss == "mse" and t.cost_scale == "mean", t
    assert m.arch == "net1989" and m.activation == m.output_activation == "lecun" and m.bias == "unit", m
    return {"data_dir": data_dir, "ds_full": ds_full, "ds": ds, "x_all": x_all, "base": base,
            "warm": subset(ds, min(256, n_train), 0)}


def run_bench(args) -> dict:
    def say(*a):
        print(*a, file=sys.stderr, flush=True)

    s = setup(args)
    ds, ds_full, x_all = s["ds"], s["ds_full"], s["x_all"]
    repeat, repeat_inf = args.repeat, max(5, 5 * args.repeat)
    res: dict = {"n_train": len(ds.y_train), "n_infer": len(x_all),
                 "quick": args.quick, "repeat": repeat, "repeat_inference": repeat_inf, "load_start": loadavg()}
    with threadpool_limits(limits=1):
        if BT.torch is not None:
            BT.one_thread()
        res["machine"], res["blas"], res["peak"] = machine_info(), blas_info(), machine_peak()
        say(f"# the machine's limit, one thread: {res['peak']['float64_gflops']:.1f} GFLOP/s float64, "
            f"{res['peak']['float32_gflops']:.1f} float32 (BLAS, {PEAK_N}^2 matrices)")
        net0 = Trainer(s["base"], ds).net
        res["macs_per_digit"] = macs_per_digit(net0)
        state0 = net0.state_dict()
        res["lecun89"], trained = time_passes(ds, s["warm"], repeat, say)
        res["inference"] = time_inference(trained, x_all, repeat_inf)
        say(f"# inference: numpy {res['inference']['numpy']['best']:.3f} s, compiled "
            f"{res['inference']['numba']['best']:.3f} s")
        res["breakdown"] = {"numpy": {
            "train_b1": breakdown(Trainer(s["base"], ds), ds.x_train, 1, True, 2000),
            "train_b32": breakdown(Trainer(workload_config("sgd_b32", "numpy"), ds), ds.x_train, 32, True, 200)},
            "numba": numba_breakdown(ds)}
        res["lecun89_test_misses"] = metrics.misses(trained.net.predict(ds_full.x_test), ds_full.y_test)
        if BT.torch is not None:
            res["torch"] = time_torch(state0, s["base"].model, ds, ds_full, x_all, args, repeat, repeat_inf,
                                      64, trained, say)
        else:
            res["torch"] = {"error": BT.ERROR}
        why = BJ.available()
        res["jax"] = {"error": why} if why else time_jax(state0, s["base"].model, ds, ds_full, repeat, say)
    res["commands"] = bench_commands.measure(s["data_dir"], repeat, args.quick, say)
    res["load_end"] = loadavg()
    speed_doc.derive(res)
    return res


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help=f"data directory (default: ${ENV_DATA}, else lecun89's default, "
                                      "else <repo>/../shared/data)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per workload (default 3; "
                                                         "inference: max(5, 5 x this))")
    p.add_argument("--quick", action="store_true", help=f"the first {QUICK_N:,} digits only, for a smoke run")
    p.add_argument("--torch-configs", default=",".join(BT.CONFIGS), metavar="LIST",
                   help=f"PyTorch set-ups to time, comma-separated, from {', '.join(BT.CONFIGS)} "
                        f"(default: all; float32 is the main comparison)")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON (docs/speed.json: "
                                                  "python scripts/speed_doc.py makes the docs' tables from it)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    args.torch_configs = [c.strip() for c in args.torch_configs.split(",") if c.strip()]
    bad = [c for c in args.torch_configs if c not in BT.CONFIGS]
    if bad or not args.torch_configs:
        p.error(f"--torch-configs: unknown {', '.join(bad) or '(empty)'}; choose from {', '.join(BT.CONFIGS)}")
    if "float32" not in args.torch_configs:
        p.error("--torch-configs must include float32 (the main comparison)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if BT.torch is None:
        print(f"PyTorch not available ({BT.ERROR}): timing it is skipped.", file=sys.stderr)
    try:
        res = run_bench(args)
    except UserError as exc:
        print(f"bench: {exc}\n(the benchmark looks in --data-dir, else ${ENV_DATA}, else lecun89's default "
              f"{resolve_data_dir(None)}, else {REPO.parent / 'shared' / 'data'})", file=sys.stderr)
        return 2
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in res["machine"]["env"].items())
    given = list(sys.argv[1:] if argv is None else argv)
    for i, a in enumerate(given):  # the data's place on this machine is not part of the record
        if a == "--data-dir" and i + 1 < len(given):
            given[i + 1] = "DIR"
        elif a.startswith("--data-dir="):
            given[i] = "--data-dir=DIR"
    res["command"] = (prefix + " " if prefix else "") + " ".join(shlex.quote(a) for a in ["python", "scripts/bench.py",
                                                                                          *given])
    print(speed_doc.render(res), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n")
    return 0 if all(c["ok"] for c in res["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
