"""The benchmark's PyTorch peer (scripts/bench.py): the loop a PyTorch user
writes (as the 2022 replication did): parameters as leaf tensors,
``F.pad(..., value=-1)``, ``F.conv2d(stride=2)`` plus a per-unit (C, H, W) bias,
the H2 connection table as sliced convolutions concatenated, 1.7159
tanh(2a/3), ``flatten``, ``F.linear``, ``torch.mean`` of the squared error,
``loss.backward()`` and an SGD update; the fastest of a few plain update
variants (``torch.optim.SGD`` for-loop / foreach / fused, or a manual
``p.add_(p.grad, alpha=-lr)``) is picked on a short calibration run. Timed in
float32 with PyTorch's defaults, in float64, and in float32 with oneDNN's
convolutions off (PyTorch's fastest set-up at batch 1 here).

Import this before numpy's BLAS is limited, so that threadpoolctl also sees
(and limits) torch's OpenMP and MKL pools.
"""

from __future__ import annotations

import gc
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    ERROR = None
except Exception as exc:  # noqa: BLE001 (depends on the environment)  # pragma: no cover
    torch = F = None
    ERROR = f"{type(exc).__name__}: {exc}"

# PyTorch set-ups timed: its defaults in float32 (the main comparison) and
# float64, and float32 with oneDNN (mkldnn) convolutions switched off, which at
# batch 1 is PyTorch's fastest here (oneDNN's per-call overhead dominates tiny
# convolutions) though not what a user gets by default.
CONFIGS = {
    "float32": {"dtype_name": "float32", "onednn": True},
    "float64": {"dtype_name": "float64", "onednn": True},
    "float32-no-onednn": {"dtype_name": "float32", "onednn": False},
}
STEP_VARIANTS = ("optim.SGD(foreach=False)", "optim.SGD(foreach=True)", "optim.SGD(fused=True)", "manual")
CALIB_STEPS = 400


def h2_groups(table):
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
        self.groups = h2_groups(h2)
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


def one_thread() -> None:
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (e.g. a second call in one process)
        pass


def info() -> dict:
    cfg = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in cfg.replace(",", " ").split() if part.startswith("BLAS_INFO=")),
                "?")
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        cap = "?"
    return {"torch": torch.__version__, "torch_blas": blas, "torch_cpu_capability": cap,
            "torch_threads": (torch.get_num_threads(), torch.get_num_interop_threads())}


def calibrate(state0, mcfg, X32, T32, lr: float, quick: bool) -> tuple[str, dict]:
    """The fastest plain SGD update at batch 1, float32 (PyTorch's defaults):
    (its name, microseconds per step of each variant)."""
    calib = {}
    n = min(CALIB_STEPS // 4 if quick else CALIB_STEPS, len(X32))
    for variant in STEP_VARIANTS:
        try:
            net = TorchNet(state0, mcfg, torch.float32)
            torch_pass(net, make_step(net, variant, lr), X32, T32, 1, limit=50 if quick else 100)  # warm-up
        except Exception as exc:  # noqa: BLE001 (e.g. fused SGD not available on this build)
            calib[variant] = f"unavailable ({type(exc).__name__})"
            continue
        best = float("inf")
        for _ in range(1 if quick else 2):
            net = TorchNet(state0, mcfg, torch.float32)
            step = make_step(net, variant, lr)
            gc.collect()
            t0 = time.perf_counter()
            torch_pass(net, step, X32, T32, 1, limit=n)
            best = min(best, (time.perf_counter() - t0) / n)
        calib[variant] = best * 1e6
    timed = {k: v for k, v in calib.items() if isinstance(v, float)}
    return min(timed, key=timed.get), calib


def time_config(name: str, state0, mcfg, X_np, T_np, x_all, variant: str, lr: float, repeat: int,
                repeat_inf: int, infer_batch: int, time_runs, summary) -> tuple[dict, object]:
    """One set-up's batch-1 and batch-32 passes and its inference: (their
    summaries, the network after its timed batch-1 pass)."""
    c = CONFIGS[name]
    dt = getattr(torch, c["dtype_name"])
    X, T, Xa = (torch.tensor(a, dtype=dt) for a in (X_np, T_np, x_all))
    out, net_b1 = {}, None
    with onednn(c["onednn"]):
        for b in (1, 32):
            def setup(dt=dt):
                net = TorchNet(state0, mcfg, dt)
                return net, make_step(net, variant, lr)
            net_w, step_w = setup()
            torch_pass(net_w, step_w, X, T, b, limit=256)  # warm-up
            times, (net_t, _) = time_runs(lambda s, b=b: torch_pass(s[0], s[1], X, T, b), repeat, setup)
            out[f"b{b}"] = summary(times)
            if b == 1:
                net_b1 = net_t
        torch_predict(net_b1, Xa[:infer_batch], infer_batch)  # warm-up
        times, _ = time_runs(lambda _s: torch_predict(net_b1, Xa, infer_batch), repeat_inf)
        out["infer"] = summary(times)
    return out, net_b1


def outputs(net: TorchNet, x: np.ndarray, dtype_name: str) -> np.ndarray:
    with onednn(CONFIGS[dtype_name]["onednn"] if dtype_name in CONFIGS else True):
        return torch_predict(net, torch.tensor(x, dtype=net.params[0].dtype)).double().numpy()


def weights(net: TorchNet) -> dict:
    return {k: t.detach().double().numpy() for k, t in net.p.items()}
