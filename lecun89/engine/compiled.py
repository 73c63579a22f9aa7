"""The compiled engine: the numba kernels (:mod:`lecun89.engine._kernels`, whole
passes at batch 1; :mod:`lecun89.engine._batch`, at batch > 1;
:mod:`lecun89.engine._forward`, the batched inference) behind the network they
compute, read off a :class:`lecun89.model.Network` (its flat parameter vector,
its connection table, its units).

:class:`CompiledForward` is the inference of the evaluations between passes and
of ``lecun89 eval``; :class:`NumbaPass` runs a trainer's passes. The
kernels sum in another order than numpy's BLAS, so results agree with the
numpy layers to rounding, and runs of one engine are bit-identical.
"""

from __future__ import annotations

import time

import numpy as np

from lecun89 import layers as L
from lecun89 import losses
from lecun89.errors import UserError


def load_kernels():
    """The compiled kernels' module; a UserError saying what to do where numba
    (a dependency of lecun89) cannot be loaded."""
    try:
        from lecun89.engine import _kernels
    except ImportError as exc:
        raise UserError(f"train.engine = \"numba\": numba cannot be loaded here ({exc}); reinstall lecun89 "
                        "(pip install -e .), or run the numpy engine (slower, the same arithmetic to rounding): "
                        "LECUN89_ENGINE=numpy, or --set train.engine=numpy") from None
    return _kernels


_CONV_PARAMS = ("H1.weight", "H1.bias", "H2.weight", "H2.bias", "H3.weight", "H3.bias", "out.weight", "out.bias")
_FC_PARAMS = (None, None, None, None, "H1.weight", "H1.bias", "out.weight", "out.bias")


def _units(lay, k) -> tuple[int, float, float]:
    """A units layer as the kernels (module k) take it: (kind, A, S)."""
    if isinstance(lay, L.ScaledTanh):
        return k.SCALED_TANH, float(lay.A), float(lay.S)
    return {"relu": k.RELU, "none": k.IDENTITY}[lay.kind], 1.0, 1.0


class CompiledForward:
    """The batched compiled forward of a network (:mod:`lecun89.engine._forward`):
    its inference, for the evaluations between passes and ``lecun89 eval``."""

    def __init__(self, net):
        self.k = load_kernels()
        from lecun89.engine import _forward, build

        self.fwd, self.build = _forward, build
        self.net = net
        self.conv = net.config.arch == "net1989"
        names = _CONV_PARAMS if self.conv else _FC_PARAMS
        self.offs = np.array([net.slices[k].start if k in net.slices else 0 for k in names], dtype=np.int64)
        if self.conv:
            h1, h2 = net.param_layers[0], net.param_layers[1]
            self.t1 = np.zeros((h1.O, 1), dtype=np.int64)  # every H1 map reads the one input map
            self.t2 = np.ascontiguousarray(h2.table if h2.table is not None
                                           else np.tile(np.arange(h1.O), (h2.O, 1)), dtype=np.int64)
            self.bmode = {"none": 0, "map": 1, "unit": 2}[h1.bias_mode]
            self.pads = (h1.pad_value, h2.pad_value)
        else:
            self.t1 = self.t2 = np.zeros((0, 1), dtype=np.int64)
            self.bmode, self.pads = 0, (0.0, 0.0)
        # Everything else read off the network, not restated.
        units = [lay for lay in net.layers if isinstance(lay, L.Activation)]
        self.acts = (*_units(units[0], self.k), *_units(units[-1], self.k))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs (N, 10) for digits x (N, 1, 16, 16): the batched compiled
        forward (digits across the vector registers), to rounding the numpy
        layers' (``Network.predict``), bit-identical run to run and for any N."""
        x256 = _writable(np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), 256)))
        outs = np.empty((len(x256), self.net.n_out))
        kh, Ah, Sh, ko, Ao, So = self.acts
        self.build.call(("forward",), x256, self.net.flat, self.offs, self.t1, self.t2, self.bmode, self.pads[0],
                                self.pads[1], self.conv, kh, Ah, Sh, ko, Ao, So, outs)
        return outs


def _writable(x: np.ndarray) -> np.ndarray:
    """x, copied where it is read-only (a data set's arrays, which the evaluations
    score): numba compiles a kernel for read-only arrays apart, and the same
    arithmetic twice costs a second compile on a fresh install (the outputs are
    bit for bit the same, tested). The trainer's digits are its own copy already."""
    return x if x.flags.writeable else x.copy()


def h2_groups(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """H2's connection table (O2, k) as the kernels walk it: the groups of maps
    that read the same H1 maps in the same order (gmaps (G, O2): each group's
    maps, -1 after its gn[g] of them), and each group's row cut into runs of
    consecutive H1 maps (gruns (G, k, 2): first map and count, gr[g] of them)."""
    rows = [tuple(r) for r in np.asarray(table).tolist()]
    distinct = list(dict.fromkeys(rows))
    gmaps = np.full((len(distinct), len(rows)), -1, dtype=np.int64)
    gn = np.zeros(len(distinct), dtype=np.int64)
    gruns = np.zeros((len(distinct), len(rows[0]), 2), dtype=np.int64)
    gr = np.zeros(len(distinct), dtype=np.int64)
    for g, row in enumerate(distinct):
        maps = [o for o, r in enumerate(rows) if r == row]
        gmaps[g, :len(maps)], gn[g] = maps, len(maps)
        runs: list[list[int]] = []
        for c in row:
            if runs and c == runs[-1][0] + runs[-1][1]:
                runs[-1][1] += 1
            else:
                runs.append([c, 1])
        gruns[g, :len(runs)], gr[g] = runs, len(runs)
    return gmaps, gn, gruns, gr


class NumbaPass(CompiledForward):
    """Runs online passes of a Trainer's network and optimizer with the compiled
    kernels, and its inference with the batched forward."""

    def __init__(self, net, train_cfg):
        super().__init__(net)
        k = self.k
        drop = [lay for lay in net.layers if isinstance(lay, L.Dropout)]
        self.dropout = drop[0] if drop else None
        self.n_feat = int((self.offs[5] - self.offs[4]) // (self.offs[6] - self.offs[5]))
        n3 = int(self.offs[6] - self.offs[5])
        ce = train_cfg.loss == "ce"
        # dE/dy = factor (y - t) and d2E/dy2 = factor for one pattern (losses.MSELoss)
        self.factor = 0.0 if ce else losses.make_loss("mse", train_cfg.cost_scale).factor(1, net.n_out)
        opt = {"sgd": k.SGD, "sdlm": k.SDLM_RUNNING, "adamw": k.ADAMW}[train_cfg.optimizer]
        if opt == k.SDLM_RUNNING and train_cfg.sdlm_estimator == "snapshot":
            opt = k.SDLM_SNAPSHOT
        self.opt = opt
        t = train_cfg
        self.hyper = np.array([t.sdlm_gamma, t.sdlm_mu] if opt == k.SDLM_RUNNING else
                              [t.betas[0], t.betas[1], t.adam_eps, t.weight_decay] if opt == k.ADAMW else [],
                              dtype=np.float64)
        self.augment = t.augment == "shift"
        if self.conv:
            self.groups = h2_groups(self.t2)
            self.dims = np.array([len(self.t1), len(self.t2), self.t2.shape[1], n3, self.n_feat, self.bmode],
                                 dtype=np.int64)
        else:
            self.groups = (np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=np.int64),
                           np.zeros((0, 1, 2), dtype=np.int64), np.zeros(0, dtype=np.int64))
            self.dims = np.array([0, 0, 0, n3, self.n_feat, 0], dtype=np.int64)
        self.batch = int(t.batch_size)
        self.half_sum = t.cost_scale == "half_sum"
        variant = (opt, ce, self.conv, self.dropout is not None, self.augment)
        # batch > 1: digits in blocks across the vector lanes (lecun89/engine/_batch.py)
        self.spec = ("pass" if self.batch == 1 else "batch", *variant)
        self.kernel = self.build.dispatcher_of(self.spec)
        self._none = np.zeros(0)
        # Compile (or load from numba's on-disk cache) before any pass is timed.
        t0 = time.perf_counter()
        state = {"h": np.zeros(net.flat.size), "m": np.zeros(net.flat.size), "v": np.zeros(net.flat.size),
                 "t": np.zeros(1)}
        self.run(np.zeros((0, 16, 16)), np.zeros((0, net.n_out)), np.zeros(0, dtype=np.int64), 0.0, state,
                 eta=np.zeros(net.flat.size), uniforms=np.zeros((0, self.n_feat)) if self.dropout else None,
                 shifts=np.zeros((0, 2), dtype=np.int64) if self.augment else None)
        self.predict(np.zeros((1, 1, 16, 16)))
        self.compile_seconds = time.perf_counter() - t0

    def draws(self, n: int, rng) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The random numbers the numpy engine draws over n steps, drawn alike:
        each digit's (dy, dx) shift from the trainer's ``rng`` (train.shift_batch's
        calls), and the uniform draws of each digit's dropout mask from the
        network's generator (layers.Dropout's), in step order; the kernel makes
        the masks from them as layers.Dropout does."""
        shifts = None
        if self.augment:  # per batch of m digits, the numpy engine draws m dy's then m dx's (one call of 2m)
            v, b = rng.integers(-1, 2, size=2 * n), self.batch
            shifts = np.empty((n, 2), dtype=v.dtype)
            for s in range(0, n, b):
                m = min(b, n - s)
                shifts[s:s + m] = v[2 * s:2 * s + 2 * m].reshape(2, m).T
        uniforms = self.dropout.rng.random((n, self.n_feat)) if self.dropout is not None else None
        return uniforms, shifts

    def run(self, x, targets, order, lr, state, outputs=None, uniforms=None, shifts=None, eta=None):
        """Steps over x[order] (x (N, 16, 16)), a batch of train.batch_size digits
        each (the last shorter where the order runs out); ``state``: the
        optimizer's arrays (optim's ``state``); uniforms, shifts: :meth:`draws`'s
        for these steps; eta: the snapshot SDLM's step sizes for the pass
        (optim.SDLM's ``eta``); outputs, if given, receives each digit's network
        outputs (before its batch's update)."""
        net, none, k = self.net, self._none, self.k
        if outputs is None:
            outputs = np.empty((len(order), net.n_out))
        s1 = eta if self.opt == k.SDLM_SNAPSHOT else state.get("h", state.get("m", none))
        draws = (none.reshape(0, 0) if uniforms is None else uniforms,
                 self.dropout.p if self.dropout is not None else 0.0,
                 np.zeros((0, 0), dtype=np.int64) if shifts is None else shifts)
        if self.batch == 1:
            self.build.call(self.spec, x, targets, order, net.flat, net.flat_grad, net.flat_hess, s1, state.get("v", none),
                        state.get("t", none), outputs, self.offs, self.dims, *self.groups, self.pads[0],
                        self.pads[1], self.acts, self.factor, float(lr), self.hyper, *draws)
        else:
            self.build.call(self.spec, x, targets, order, self.batch, net.flat, net.flat_grad, net.flat_hess, s1,
                        state.get("v", none), state.get("t", none), outputs, self.offs, self.t1, self.t2, self.bmode,
                        self.pads[0], self.pads[1], self.acts, self.half_sum, float(lr), self.hyper, *draws)
        return outputs

    def from_cache(self) -> bool:
        """Whether numba's on-disk cache held both kernels this engine runs (its
        pass's and the inference's), so that neither was compiled while this
        process ran. Either way the process runs the cache's machine code
        (:mod:`lecun89.engine.build`): a run's numbers do not depend on it."""
        return not any(d in self.build.COMPILED for d in (self.kernel, self.fwd.forward_blocks))

    def info(self) -> dict:
        import numba

        where = sorted({self.build.COMPILED[d] for d in (self.kernel, self.fwd.forward_blocks) if d in self.build.COMPILED})
        return {"name": "numba", "numba": numba.__version__, "compile_seconds": round(self.compile_seconds, 3),
                "from_cache": self.from_cache(), **({"compiled_in": " and ".join(where)} if where else {})}
