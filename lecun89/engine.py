"""Engines that run a training pass: ``numpy`` (the layers, the reference) and
``numba`` (whole online passes compiled, :mod:`lecun89._numba_kernels`, and
the forward for the evaluations between passes).

The numba engine covers every shipped config: Net-1989 or the fully connected
network, with scaled-tanh, tanh or ReLU units (outputs also none: logits),
squared error or softmax cross-entropy, batch 1, dropout and the +-1-pixel
shifts (drawn from the same generators, in the same order, as the numpy
engine), every augmentation (the affine and elastic distortions are applied
to the training set in Python before each pass, :mod:`lecun89.augment`, and
the pass runs on the distorted digits as they are), and SGD (no momentum or weight decay), SDLM (SN2.8's running
estimator or LeNet-5's snapshot, one epsilon for every weight), or AdamW.
It sums in another order than numpy's BLAS, so a run's last bits differ between
engines; runs of one engine are bit-identical. A config chooses its engine
(``train.engine``, or ``$LECUN89_ENGINE`` for every config), and the run
directory's config.toml and meta.json record it; ``"auto"`` is resolved to one
of the two when the config is read (:func:`resolve`), and the run records the
engine it resolved to.
"""

from __future__ import annotations

import time

import numpy as np

from lecun89 import layers as L
from lecun89.errors import UserError

# The engines a config can name (train.engine): the reference first; "auto"
# is numba where it covers the config (and numba loads), else numpy: see resolve.
ENGINES = ("numpy", "numba", "auto")


def _numba_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def resolve(cfg) -> str:
    """train.engine = "auto" made concrete for ``cfg``: "numba" where it covers
    the config (:func:`unsupported`) and numba is installed, else "numpy"."""
    return "numba" if unsupported(cfg) is None and _numba_installed() else "numpy"


def _model_checks(m) -> list[tuple[bool, str]]:
    """The networks the compiled kernels run (a model config): (covered, key = value)."""
    return [(m.arch in ("net1989", "fc"), f"model.arch = {m.arch!r}"),
            (m.activation in ("lecun", "tanh", "relu"), f"model.activation = {m.activation!r}"),
            (m.output_activation in ("lecun", "tanh", "relu", "none"),
             f"model.output_activation = {m.output_activation!r}")]


def unsupported(cfg) -> str | None:
    """Why the numba engine cannot train ``cfg`` (a key and its value), or None."""
    t = cfg.train
    checks = [
        *_model_checks(cfg.model),
        (t.batch_size == 1, f"train.batch_size = {t.batch_size!r}"),
        (t.loss in ("mse", "ce"), f"train.loss = {t.loss!r}"),
        (t.optimizer in ("sgd", "sdlm", "adamw"), f"train.optimizer = {t.optimizer!r}"),
        (t.optimizer != "sgd" or not t.momentum, f"train.momentum = {t.momentum!r}"),
        (t.optimizer != "sgd" or not t.weight_decay, f"train.weight_decay = {t.weight_decay!r}"),
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


_CONV_PARAMS = ("H1.weight", "H1.bias", "H2.weight", "H2.bias", "H3.weight", "H3.bias", "out.weight", "out.bias")
_FC_PARAMS = (None, None, None, None, "H1.weight", "H1.bias", "out.weight", "out.bias")


def _units(lay, k) -> tuple[int, float, float]:
    """A units layer as the kernels (module k) take it: (kind, A, S)."""
    if isinstance(lay, L.ScaledTanh):
        return k.SCALED_TANH, float(lay.A), float(lay.S)
    return {"relu": k.RELU, "none": k.IDENTITY}[lay.kind], 1.0, 1.0


class CompiledForward:
    """The batched compiled forward of a network (:mod:`lecun89._numba_forward`):
    its inference, for the evaluations between passes and ``lecun89 eval``."""

    def __init__(self, net):
        self.k = load_kernels()
        from lecun89 import _numba_forward

        self.fwd = _numba_forward
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
        x256 = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(x), 256))
        outs = np.empty((len(x256), self.net.n_out))
        kh, Ah, Sh, ko, Ao, So = self.acts
        self.fwd.forward_blocks(x256, self.net.flat, self.offs, self.t1, self.t2, self.bmode, self.pads[0],
                                self.pads[1], self.conv, kh, Ah, Sh, ko, Ao, So, outs)
        return outs


def forward_unsupported(net) -> str | None:
    """Why the compiled forward cannot run ``net`` (a key and its value), or None."""
    return next((what for ok, what in _model_checks(net.config) if not ok), None)


def inference(net, engine: str = "auto"):
    """(the engine's name, its forward) for scoring ``net``: the compiled
    forward for "numba", and for "auto" where it covers the network and numba
    is installed; the numpy layers' ``Network.predict`` otherwise."""
    if engine == "auto":
        engine = "numba" if forward_unsupported(net) is None and _numba_installed() else "numpy"
    return (engine, CompiledForward(net).predict) if engine == "numba" else ("numpy", net.predict)


class NumbaPass(CompiledForward):
    """Runs online passes of a Trainer's network and optimizer with the compiled
    kernels, and its inference with the batched forward."""

    def __init__(self, net, train_cfg):
        super().__init__(net)
        drop = [lay for lay in net.layers if isinstance(lay, L.Dropout)]
        self.dropout = drop[0] if drop else None
        self.n_feat = (self.offs[5] - self.offs[4]) // (self.offs[6] - self.offs[5])
        self.ce = train_cfg.loss == "ce"
        # dE/dy = factor (y - t) and d2E/dy2 = factor for one pattern (layers.MSELoss)
        self.factor = 0.0 if self.ce else L.make_loss("mse", train_cfg.cost_scale).factor(1, net.n_out)
        self.opt = {"sgd": 0, "sdlm": 1, "adamw": 2}[train_cfg.optimizer]
        if self.opt == 1 and train_cfg.sdlm_estimator == "snapshot":
            self.opt = 3
        t = train_cfg
        self.hyper = np.array([t.sdlm_gamma, t.sdlm_mu] if self.opt == 1 else
                              [t.betas[0], t.betas[1], t.adam_eps, t.weight_decay] if self.opt == 2 else [],
                              dtype=np.float64)
        self.augment = t.augment == "shift"
        self._none = np.zeros(0)
        # Compile (or load from numba's on-disk cache) before any pass is timed.
        t0 = time.perf_counter()
        state = {"h": np.zeros(net.flat.size), "m": np.zeros(net.flat.size), "v": np.zeros(net.flat.size),
                 "t": np.zeros(1)}
        self.run(np.zeros((0, 16, 16)), np.zeros((0, net.n_out)), np.zeros(0, dtype=np.int64), 0.0, state,
                 eta=np.zeros(net.flat.size),
                 masks=np.zeros((0, self.n_feat)) if self.dropout else None,
                 shifts=np.zeros((0, 2), dtype=np.int64) if self.augment else None)
        self.predict(np.zeros((1, 1, 16, 16)))
        self.compile_seconds = time.perf_counter() - t0

    def draws(self, n: int, rng) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The random numbers the numpy engine draws over n steps, drawn alike:
        each digit's (dy, dx) shift from the trainer's ``rng`` (train.shift_batch's
        calls), and each digit's dropout mask from the network's generator
        (layers.Dropout's), in step order."""
        shifts = rng.integers(-1, 2, size=2 * n).reshape(n, 2) if self.augment else None
        masks = None
        if self.dropout is not None:
            q = self.dropout.p
            masks = (self.dropout.rng.random((n, self.n_feat)) >= q) / (1.0 - q)
        return masks, shifts

    def run(self, x, targets, order, lr, state, outputs=None, masks=None, shifts=None, eta=None):
        """Steps over x[order] (x (N, 16, 16)); ``state``: the optimizer's
        arrays (optim's ``state``); masks, shifts: :meth:`draws`'s for these
        steps; eta: the snapshot SDLM's step sizes for the pass (optim.SDLM's
        ``eta``); outputs, if given, receives each digit's network outputs
        (before its own update)."""
        net, none = self.net, self._none
        if outputs is None:
            outputs = np.empty((len(order), net.n_out))
        s1 = eta if self.opt == 3 else state.get("h", state.get("m", none))
        self.k.run_pass(x, targets, order, net.flat, net.flat_grad, net.flat_hess, s1, state.get("v", none),
                        state.get("t", none), outputs, self.offs, self.t1, self.t2, self.bmode, self.pads[0],
                        self.pads[1], self.conv, self.acts, self.ce, self.factor, self.opt, float(lr), self.hyper,
                        none.reshape(0, 0) if masks is None else masks,
                        np.zeros((0, 0), dtype=np.int64) if shifts is None else shifts)
        return outputs

    def info(self) -> dict:
        import numba

        return {"name": "numba", "numba": numba.__version__, "compile_seconds": round(self.compile_seconds, 3)}
