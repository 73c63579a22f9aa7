"""Net-1989 and the paper's fully connected baseline, built from :mod:`lecun89.layers`.

All parameters live in one flat float64 vector (``model.flat``); each layer's
``params`` are views into it. An optimizer step is then a few vector
operations, whatever the architecture.

A pass's state belongs to its caller, in a :class:`Tape`: each layer's cache
(what its backward needs) and the flat gradient and second-derivative vectors
the backward passes assign, with each layer's named views into them. The
network's own tape (``net.tape``: ``net.flat_grad``, ``net.flat_hess``) is its
trainer's; a reader needs none (``forward`` without ``train`` keeps nothing)
and anyone else who explains or checks the network takes a tape of their own
(:meth:`Network.new_tape`), so one network can be read and explained by
several threads while it trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lecun89 import layers as L
from lecun89.config import ModelConfig, config_from_dict, to_dict
from lecun89.data import IMAGE_SHAPE
from lecun89.atomic import save_npz
from lecun89.errors import UserError
from lecun89.threads import one_thread

# The paper: 16x16 grey levels in [-1, 1], one map: every data set's images (the data's contract).
INPUT_SHAPE = IMAGE_SHAPE
N_CLASSES = 10
# Inference runs in blocks of this many digits: small enough to stay in cache
# (fastest here), and fixed, so every caller gets the same bits.
PREDICT_BATCH = 64


def one_digit(x16) -> np.ndarray:
    """One digit (16x16, or already (1, 16, 16)) as a batch of one, (1, 1, 16, 16) float64."""
    return np.asarray(x16, dtype=np.float64).reshape((1,) + INPUT_SHAPE)


class Tape:
    """One caller's pass state for a network: each layer's cache (filled by a
    training forward, read by the backward passes), the number of patterns of
    the last training forward (``batch``), and the flat vectors the backward
    passes assign, ``flat_grad`` (dE/dw) and ``flat_hess`` (d2E/dw2), with each
    layer's named views into them (``grads[i]``, ``hess[i]``). ``dropout``:
    whether the training forward applies the network's dropout (off: the
    network as it reads, as the page explains it). A tape serves one caller at
    a time; its arrays are reused from pass to pass."""

    def __init__(self, net: "Network", dropout: bool = True):
        n = net.flat.size
        self.flat_grad, self.flat_hess = np.zeros(n), np.zeros(n)
        self.grads = [self._views(net, lay, self.flat_grad) for lay in net.layers]
        self.hess = [self._views(net, lay, self.flat_hess) for lay in net.layers]
        self.caches: list[dict] = [{} for _ in net.layers]
        self.batch = 0
        self.dropout = dropout

    @staticmethod
    def _views(net, lay, flat) -> dict[str, np.ndarray] | None:
        if not lay.param_shapes:
            return None
        return {k: flat[net.slices[f"{lay.name}.{k}"]].reshape(s) for k, s in lay.param_shapes.items()}


class Network:
    """A stack of layers with named parameters in one flat vector."""

    def __init__(self, layers: list[L.Layer], config: ModelConfig, rng: np.random.Generator):
        self.layers = layers
        self.config = config
        self.rng = rng
        self.param_layers = [lay for lay in layers if lay.param_shapes]
        specs = [(lay, k, s) for lay in self.param_layers for k, s in lay.param_shapes.items()]
        total = sum(int(np.prod(s)) for _, _, s in specs)
        self.flat = np.zeros(total)
        self.slices: dict[str, slice] = {}
        off = 0
        for lay, k, s in specs:
            n = int(np.prod(s))
            sl = slice(off, off + n)
            self.slices[f"{lay.name}.{k}"] = sl
            lay.params[k] = self.flat[sl].reshape(s)
            off += n
        # The first layer with parameters never needs dE/dx (its input is the image).
        self._first = self.layers.index(self.param_layers[0])
        self.n_out = N_CLASSES
        self.tape = Tape(self)  # the trainer's: its optimizer reads flat_grad and flat_hess

    def new_tape(self, dropout: bool = True) -> Tape:
        """A tape of the caller's own (its caches and gradient vectors), for passes
        that must not touch the trainer's (``dropout=False``: dropout off)."""
        return Tape(self, dropout)

    @property
    def flat_grad(self) -> np.ndarray:
        """dE/dw of the network's own tape's last backward (the optimizer's input)."""
        return self.tape.flat_grad

    @property
    def flat_hess(self) -> np.ndarray:
        """d2E/dw2 of the network's own tape's last ``backward_h``."""
        return self.tape.flat_hess

    @property
    def batch(self) -> int:
        """Patterns in the network's own tape's last training forward."""
        return self.tape.batch

    # --- parameters -------------------------------------------------------
    def named_params(self) -> dict[str, np.ndarray]:
        return {f"{lay.name}.{k}": v for lay in self.param_layers for k, v in lay.params.items()}

    def named_grads(self, tape: Tape | None = None) -> dict[str, np.ndarray]:
        """dE/dw by name, views into ``tape``'s (default: the network's own) gradient vector."""
        return self._named((tape or self.tape).grads)

    def named_hess(self, tape: Tape | None = None) -> dict[str, np.ndarray]:
        """d2E/dw2 by name, views into ``tape``'s (default: the network's own) vector."""
        return self._named((tape or self.tape).hess)

    def _named(self, views: list) -> dict[str, np.ndarray]:
        return {f"{lay.name}.{k}": v for lay, d in zip(self.layers, views, strict=True) if d for k, v in d.items()}

    def init_params(self, rng: np.random.Generator) -> None:
        """Every layer's weights from U(-r, r) (``model.init``, ``init_scale``; F
        counting the bias if ``init_fanin_bias``), drawn layer by layer in order;
        then the biases: 0 and the output biases ``output_bias``
        (``bias_init = "zero"``), or, for ``"uniform"`` (SN2.8), each layer's
        biases from its weights' range, drawn after all the weights, layer by
        layer in order: the weights are the same draws either way."""
        c = self.config
        for lay in self.param_layers:
            lay.init_params(rng, c.init, c.init_scale, c.init_fanin_bias)
        if c.bias_init == "uniform":
            for lay in self.param_layers:
                lay.init_bias_uniform(rng, c.init, c.init_scale, c.init_fanin_bias)
        else:
            self.param_layers[-1].params["bias"][...] = c.output_bias

    # --- passes -----------------------------------------------------------
    def forward(self, x: np.ndarray, train: bool = False, tape: Tape | None = None) -> np.ndarray:
        """x (N, 1, 16, 16) -> outputs (N, 10). ``train``: a training pass, whose
        state (what the backward passes need) goes into ``tape`` (default: the
        network's own), with dropout on unless the tape turns it off. Without
        ``train`` nothing is kept anywhere: any number of callers may read at once."""
        if not train:
            for lay in self.layers:
                x = lay.forward(x)
            return x
        tape = tape or self.tape
        tape.batch = len(x)
        for lay, cache in zip(self.layers, tape.caches, strict=True):
            x = lay.forward(x, cache if tape.dropout or not lay.stochastic else None)
        return x

    def backward(self, dout: np.ndarray, tape: Tape | None = None) -> None:
        """Assigns every parameter's dE/dw, from dE/d(outputs) (N, 10), into
        ``tape``'s gradient vector (default: the network's own)."""
        tape = tape or self.tape
        d = dout
        for i in range(len(self.layers) - 1, self._first - 1, -1):
            d = self.layers[i].backward(d, self._cache(tape, i), tape.grads[i], i != self._first)

    def backward_h(self, d2out: np.ndarray, tape: Tape | None = None) -> None:
        """Assigns every parameter's Gauss-Newton d2E/dw2, from d2E/d(outputs)2,
        into ``tape``'s second-derivative vector (default: the network's own)."""
        tape = tape or self.tape
        d = d2out
        for i in range(len(self.layers) - 1, self._first - 1, -1):
            d = self.layers[i].backward_h(d, self._cache(tape, i), tape.hess[i], i != self._first)

    def _cache(self, tape: Tape, i: int) -> dict | None:
        """Layer i's cache in ``tape``: none for a stochastic layer the tape runs without."""
        return tape.caches[i] if tape.dropout or not self.layers[i].stochastic else None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs (N, 10) in inference mode, bit-identical for the same weights and
        digits whatever the caller's thread settings: computed with one BLAS thread
        (:mod:`lecun89.threads`), in blocks of :data:`PREDICT_BATCH` digits (a BLAS
        product's rounding can depend on how many rows it gets)."""
        if not len(x):
            return np.zeros((0, N_CLASSES))
        with one_thread():
            return np.concatenate([self.forward(x[i:i + PREDICT_BATCH]) for i in range(0, len(x), PREDICT_BATCH)])

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each parameter layer's units after their squashing function, for up to
        :data:`PREDICT_BATCH` digits in inference mode, keyed by layer name (H1,
        H2, H3, out): feature maps as (N, maps, rows, cols), the rest (N, units).
        The last entry is what :meth:`predict` returns, bit for bit."""
        if len(x) > PREDICT_BATCH:
            raise ValueError(f"activations: at most {PREDICT_BATCH} digits at a time, got {len(x)}")
        out: dict[str, np.ndarray] = {}
        squashes = self.squashing()
        with one_thread():
            for i, lay in enumerate(self.layers):
                x = lay.forward(x)
                if i in squashes:
                    out[squashes[i]] = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
        return out

    def squashing(self) -> dict[int, str]:
        """Index in ``layers`` of each squashing function -> the name of the
        parameter layer whose weighted sums it squashes (H1, H2, H3, out)."""
        owners, owner = {}, None
        for i, lay in enumerate(self.layers):
            if lay.param_shapes:
                owner = lay.name
            elif owner is not None and isinstance(lay, L.Activation):
                owners[i] = owner
                owner = None
        return owners

    # --- the paper's table ------------------------------------------------
    def summary_rows(self) -> list[dict]:
        c, h, w = INPUT_SHAPE
        rows = [{"layer": "input", "shape": f"{c} x {h}x{w}", "units": c * h * w, "connections": 0, "params": 0}]
        for lay in self.param_layers:
            units, conns, params = lay.counts()
            if isinstance(lay, L.Conv2d):
                shape = f"{lay.O} x {lay.OH}x{lay.OW}"
            else:
                shape = f"{lay.n_out}"
            rows.append({"layer": lay.name, "shape": shape, "units": units, "connections": conns, "params": params})
        return rows

    def totals(self) -> dict:
        rows = self.summary_rows()
        return {k: sum(r[k] for r in rows) for k in ("units", "connections", "params")}

    # --- checkpoints ------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {k: v.copy() for k, v in self.named_params().items()}
        for lay in self.param_layers:
            if isinstance(lay, L.Conv2d) and lay.table is not None:
                state[f"{lay.name}.table"] = lay.table.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], source: str = "checkpoint") -> None:
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected) - {"config"})
        if missing or extra:
            raise UserError(f"{source}: parameter names do not match the model (missing: {missing or 'none'}, "
                            f"unexpected: {extra or 'none'})")
        for k, ref in expected.items():
            if np.shape(state[k]) != ref.shape:
                raise UserError(f"{source}: {k} has shape {np.shape(state[k])}, the model expects {ref.shape}")
            if np.asarray(state[k]).dtype.kind not in "iuf":
                raise UserError(f"{source}: {k} has dtype {np.asarray(state[k]).dtype}, expected real numbers")
            if k.endswith(".table"):
                if not np.array_equal(state[k], ref):
                    raise UserError(f"{source}: {k} differs from the model's connection table")
                continue
        params = self.named_params()
        for k, v in params.items():
            v[...] = state[k]


def build_model(config: ModelConfig, seed: int = 0, init: bool = True) -> Network:
    """The network a model config describes, initialised from ``seed``."""
    rng = np.random.default_rng(seed)
    c = config
    act, out_act = c.activation, c.output_activation
    if c.arch == "net1989":
        n_in, h, w = INPUT_SHAPE
        conv1 = L.Conv2d("H1", (h, w, n_in), c.h1_maps, 5, 2, 2, c.pad_value_h1, None, c.bias)
        table = np.asarray(c.h2_table, dtype=np.int64)
        full = table.shape[1] == c.h1_maps and all(list(r) == list(range(c.h1_maps)) for r in table.tolist())
        conv2 = L.Conv2d("H2", conv1.out_shape(None), c.h2_maps, 5, 2, 2, c.pad_value_h2,
                         None if full else table, c.bias)
        layers = [
            L.ChannelsLast(),
            conv1, L.make_activation(act),
            conv2, L.make_activation(act),
            L.Flatten(),
        ]
        if c.dropout > 0:
            layers.append(L.Dropout("dropout", c.dropout, rng))
        layers += [
            L.Linear("H3", conv2.P * conv2.O, c.h3_units), L.make_activation(act),
            L.Linear("out", c.h3_units, N_CLASSES), L.make_activation(out_act),
        ]
    elif c.arch == "fc":
        layers = [L.ChannelsLast(), L.Flatten()]
        if c.dropout > 0:
            layers.append(L.Dropout("dropout", c.dropout, rng))
        layers += [
            L.Linear("H1", int(np.prod(INPUT_SHAPE)), c.fc_hidden), L.make_activation(act),
            L.Linear("out", c.fc_hidden, N_CLASSES), L.make_activation(out_act),
        ]
    else:
        raise ValueError(f"unknown arch {c.arch!r}")
    net = Network(layers, config, rng)
    if init:
        net.init_params(rng)
    return net


# --- the checkpoint file: model.npz ---------------------------------------

def save_checkpoint(net: Network, path: str | Path) -> None:
    """Named arrays in PyTorch layout plus the model config as JSON text."""
    path = Path(path)
    arrays = net.state_dict()
    arrays["config"] = np.array(json.dumps(to_dict(net.config), sort_keys=True))
    save_npz(path, arrays)


def load_checkpoint(path: str | Path) -> Network:
    """Rebuild the network a ``model.npz`` describes and load its weights."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # noqa: BLE001 (zipfile.BadZipFile, ValueError (pickled), OSError)
        raise UserError(f"{path}: not a lecun89 checkpoint (.npz of named arrays): {exc}") from None
    if "config" not in arrays or arrays["config"].dtype.kind != "U":
        raise UserError(f"{path}: not a lecun89 checkpoint (no 'config' entry with the model config)")
    try:
        model_dict = json.loads(str(arrays["config"]))
        cfg = config_from_dict({"model": model_dict}, f"{path}: config").model
    except (json.JSONDecodeError, UserError) as exc:
        raise UserError(f"{path}: its 'config' entry is not a valid model config: {exc}") from None
    net = build_model(cfg, init=False)
    net.load_state_dict(arrays, str(path))
    return net
