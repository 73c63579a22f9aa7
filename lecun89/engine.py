"""Engines that run a training pass: ``numpy`` (the layers, the reference) and
``numba`` (whole online passes compiled, :mod:`lecun89._numba_kernels`, and
the forward for the evaluations between passes).

The numba engine covers the paper's regime: Net-1989 with scaled-tanh units,
squared error, batch 1, no dropout or augmentation, and SGD (no momentum or
weight decay) or SDLM with SN2.8's running estimator and one epsilon.
It sums in another order than numpy's BLAS, so a run's last bits differ between
engines; runs of one engine are bit-identical. A config chooses its engine
(``train.engine``, or ``$LECUN89_ENGINE`` for every config), and the run
directory's config.toml and meta.json record it.
"""

from __future__ import annotations

import time

import numpy as np

from lecun89 import layers as L
from lecun89.errors import UserError

# The engines a config can name (train.engine): the reference first.
ENGINES = ("numpy", "numba")


def unsupported(cfg) -> str | None:
    """Why the numba engine cannot train ``cfg`` (a key and its value), or None."""
    m, t = cfg.model, cfg.train
    checks = [
        (m.arch == "net1989", f"model.arch = {m.arch!r}"),
        (m.activation in ("lecun", "tanh"), f"model.activation = {m.activation!r}"),
        (m.output_activation in ("lecun", "tanh"), f"model.output_activation = {m.output_activation!r}"),
        (m.dropout == 0, f"model.dropout = {m.dropout!r}"),
        (t.batch_size == 1, f"train.batch_size = {t.batch_size!r}"),
        (t.loss == "mse", f"train.loss = {t.loss!r}"),
        (t.augment == "none", f"train.augment = {t.augment!r}"),
        (t.optimizer in ("sgd", "sdlm"), f"train.optimizer = {t.optimizer!r}"),
        (t.optimizer != "sgd" or not t.momentum, f"train.momentum = {t.momentum!r}"),
        (t.optimizer != "sgd" or not t.weight_decay, f"train.weight_decay = {t.weight_decay!r}"),
        (t.optimizer != "sdlm" or t.sdlm_estimator == "running", f"train.sdlm_estimator = {t.sdlm_estimator!r}"),
        (t.optimizer != "sdlm" or t.sdlm_eps_scale == "none", f"train.sdlm_eps_scale = {t.sdlm_eps_scale!r}"),
    ]
    return next((what for ok, what in checks if not ok), None)


def load_kernels():
    """The compiled kernels' module; a UserError saying what to do where numba
    (a dependency of lecun89) cannot be loaded."""
    try:
        from lecun89 import _numba_kernels
    except ImportError as exc:
        raise UserError(f"train.engine = \"numba\": numba cannot be loaded here ({exc}); reinstall lecun89 "
                        "(pip install -e .), or run the numpy engine (slower, the same arithmetic to rounding): "
                        "LECUN89_ENGINE=numpy, or --set train.engine=numpy") from None
    return _numba_kernels


_PARAMS = ("H1.weight", "H1.bias", "H2.weight", "H2.bias", "H3.weight", "H3.bias", "out.weight", "out.bias")


class NumbaPass:
    """Runs online passes of a Trainer's network and optimizer with the compiled kernels."""

    def __init__(self, net, train_cfg):
        self.k = load_kernels()
        self.net = net
        h1, h2 = net.param_layers[0], net.param_layers[1]
        self.offs = np.array([net.slices[k].start if k in net.slices else 0 for k in _PARAMS], dtype=np.int64)
        self.t1 = np.zeros((h1.O, 1), dtype=np.int64)  # every H1 map reads the one input map
        self.t2 = np.ascontiguousarray(h2.table if h2.table is not None
                                       else np.tile(np.arange(h1.O), (h2.O, 1)), dtype=np.int64)
        # Everything else read off the network and the loss, not restated.
        self.bmode = {"none": 0, "map": 1, "unit": 2}[h1.bias_mode]
        self.pads = (h1.pad_value, h2.pad_value)
        tanhs = [lay for lay in net.layers if isinstance(lay, L.ScaledTanh)]
        self.act_h, self.act_o = (tanhs[0].A, tanhs[0].S), (tanhs[-1].A, tanhs[-1].S)
        # dE/dy = factor (y - t) and d2E/dy2 = factor for one pattern (layers.MSELoss)
        self.factor = L.make_loss("mse", train_cfg.cost_scale).factor(1, net.n_out)
        self.sdlm = train_cfg.optimizer == "sdlm"
        self.mu = float(train_cfg.sdlm_mu) if self.sdlm else 0.0
        self.gamma = float(train_cfg.sdlm_gamma) if self.sdlm else 0.0
        self._no_h = np.zeros(0)
        # Compile (or load from numba's on-disk cache) before any pass is timed.
        t0 = time.perf_counter()
        self.run(np.zeros((0, 16, 16)), np.zeros((0, net.n_out)), np.zeros(0, dtype=np.int64), 0.0, self._no_h,
                 np.zeros((0, net.n_out)))
        self.predict(np.zeros((1, 1, 16, 16)))
        self.compile_seconds = time.perf_counter() - t0

    def run(self, x, targets, order, lr, h, outputs=None):
        """Steps over x[order] (x (N, 16, 16)); outputs, if given, receives each
        digit's network outputs (before its own update)."""
        net = self.net
        if outputs is None:
            outputs = np.empty((len(order), net.n_out))
        self.k.run_pass(x, targets, order, net.flat, net.flat_grad, net.flat_hess, h if self.sdlm else self._no_h,
                        outputs, self.offs, self.t1, self.t2, self.bmode, self.pads[0], self.pads[1],
                        self.act_h[0], self.act_h[1], self.act_o[0], self.act_o[1], self.factor, float(lr),
                        self.sdlm, self.mu, self.gamma)
        return outputs

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs (N, 10) for digits x (N, 1, 16, 16): the compiled forward, to
        rounding the numpy layers' (``Network.predict``), bit-identical run to run."""
        x16 = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), 16, 16))
        outs = np.empty((len(x16), self.net.n_out))
        self.k.forward_many(x16, self.net.flat, self.offs, self.t1, self.t2, self.bmode, self.pads[0], self.pads[1],
                            self.act_h[0], self.act_h[1], self.act_o[0], self.act_o[1], outs)
        return outs

    def info(self) -> dict:
        import numba

        return {"name": "numba", "numba": numba.__version__, "compile_seconds": round(self.compile_seconds, 3)}
