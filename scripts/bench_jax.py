"""The benchmark's JAX peer (scripts/bench.py): Net-1989 in JAX, with the whole
online pass compiled: one SGD step at batch 1 under ``jax.grad``, the pass one
``lax.scan`` over the digits, jitted by XLA, float32 (JAX's default), on one
core; H2 as a dense 12x12-map convolution with the missing connections masked
to zero (their gradients are then zero too, so they stay zero). The same
initial weights as lecun89's (its ``state_dict``), the same squared error
against +-1 targets averaged over the outputs, the same rate.

An optional peer: where JAX is not installed (``pip install -e ".[jax]"``),
:func:`available` says why and the benchmark times the others.
"""

from __future__ import annotations

import os

# One core: XLA's CPU client runs a computation on one thread with these, set
# before jax is imported (a user's own XLA_FLAGS are kept).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402


def available() -> str | None:
    """None where JAX loads, else why not."""
    try:
        import jax  # noqa: F401
    except Exception as exc:  # noqa: BLE001 (depends on the environment)  # pragma: no cover
        return f"{type(exc).__name__}: {exc}"
    return None


def version() -> str | None:
    try:
        import jax
    except Exception:  # noqa: BLE001 (JAX absent or broken here: the peer is skipped)
        return None
    return jax.__version__


def _mask(state: dict) -> np.ndarray:
    """H2's table as a (12, 12, 1, 1) 0/1 mask over a dense kernel."""
    w2 = np.asarray(state["H2.weight"])
    table = state.get("H2.table")
    n_in = 12 if table is not None else w2.shape[1]
    mask = np.zeros((w2.shape[0], n_in, 1, 1), dtype=np.float32)
    rows = np.asarray(table) if table is not None else np.tile(np.arange(n_in), (w2.shape[0], 1))
    for o, row in enumerate(rows):
        mask[o, row] = 1.0
    return mask


def params_from(state: dict) -> tuple[dict, object]:
    """JAX arrays (float32) of lecun89's parameters, H2's kernel made dense;
    and H2's mask."""
    import jax.numpy as jnp

    p = {k: jnp.asarray(np.asarray(v, dtype=np.float32)) for k, v in state.items() if not k.endswith(".table")}
    mask = _mask(state)
    table = state.get("H2.table")
    if table is not None:  # the compact (O, k, 5, 5) kernel scattered into a dense (O, 12, 5, 5) one
        w2 = np.zeros((mask.shape[0], mask.shape[1], 5, 5), dtype=np.float32)
        for o, row in enumerate(np.asarray(table)):
            w2[o, row] = np.asarray(state["H2.weight"][o], dtype=np.float32)
        p["H2.weight"] = jnp.asarray(w2)
    return p, jnp.asarray(mask)


def make_forward(mask, pad1: float, pad2: float):
    """forward(params, x (N, 1, 16, 16)) -> outputs (N, 10), 1.7159 tanh(2a/3) at every unit."""
    import jax.numpy as jnp
    from jax import lax

    def act(a):
        return 1.7159 * jnp.tanh(a * (2.0 / 3.0))

    def conv(x, w, pad):
        x = jnp.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=pad)
        return lax.conv_general_dilated(x, w, (2, 2), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def forward(p, x):
        h1 = act(conv(x, p["H1.weight"], pad1) + p["H1.bias"])
        h2 = act(conv(h1, p["H2.weight"] * mask, pad2) + p["H2.bias"])
        h3 = act(h2.reshape(x.shape[0], -1) @ p["H3.weight"].T + p["H3.bias"])
        return act(h3 @ p["out.weight"].T + p["out.bias"])

    return forward


def make_pass(forward, lr: float):
    """pass(params, X (N, 1, 16, 16), T (N, 10)) -> params after N SGD steps at
    batch 1, the loop one lax.scan, the whole compiled once by XLA."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def loss(p, x, t):
        return jnp.mean((forward(p, x[None]) - t[None]) ** 2)

    grad = jax.grad(loss)

    def step(p, xt):
        g = grad(p, *xt)
        return jax.tree_util.tree_map(lambda w, d: w - lr * d, p, g), None

    @jax.jit
    def run(p, X, T):
        return lax.scan(step, p, (X, T))[0]

    return run


def make_predict(forward, batch: int = 1000):
    import jax
    import jax.numpy as jnp

    fwd = jax.jit(forward)

    def predict(p, X):
        return jnp.concatenate([fwd(p, X[i:i + batch]) for i in range(0, len(X), batch)])

    return predict


def to_device(x: np.ndarray):
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(x, dtype=np.float32))


def block(tree):
    """Wait for JAX's asynchronous results (a pytree)."""
    import jax

    return jax.block_until_ready(tree)


def to_numpy(tree) -> dict:
    return {k: np.asarray(v, dtype=np.float64) for k, v in tree.items()}
