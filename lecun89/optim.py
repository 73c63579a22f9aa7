"""Optimizers over the model's flat parameter vector, and learning-rate schedules.

Each optimizer's ``step(lr)`` reads ``net.flat_grad`` (assigned by
``net.backward``) and updates ``net.flat`` in place: a handful of vector
operations per step, whatever the network.

SDLM is the paper's "special version of Newton's algorithm that uses a
positive, diagonal approximation of the Hessian" (stochastic diagonal
Levenberg-Marquardt): each weight moves by ``epsilon / (mu + h_kk)`` times its
gradient, h_kk being the Gauss-Newton diagonal from the second-derivative
backward pass. Two estimators of h: SN2.8's running average updated at every
pattern (the 1989 simulator) and LeNet-5's snapshot before each pass (1998).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.blas import daxpy

from lecun89 import layers as L
from lecun89 import losses


# train.schedule, train.sdlm_estimator and train.sdlm_eps_scale (see lr_at, SDLM, epsilon_scale).
SCHEDULES = ("constant", "step", "linear", "cosine")
SDLM_ESTIMATORS = ("snapshot", "running")
EPS_SCALES = ("none", "fanin", "sqrt_fanin", "sqrt_fanin_share")


def lr_at(train_cfg, pass_index: int) -> float:
    """Learning rate (SDLM: epsilon) for 0-based pass ``pass_index``."""
    t = train_cfg
    if t.schedule == "constant":
        return t.lr
    if t.schedule == "step":
        start = 0
        for n, lr in t.lr_steps:
            if n == 0 or pass_index < start + n:
                return lr
            start += n
        return t.lr_steps[-1][1]
    frac = pass_index / (t.passes - 1) if t.passes > 1 else 0.0
    if t.schedule == "linear":
        return t.lr + (t.lr_final - t.lr) * frac
    if t.schedule == "cosine":
        return t.lr_final + (t.lr - t.lr_final) * 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown schedule {t.schedule!r}")


class Optimizer:
    """Base: state arrays are kept in ``self.state`` (name -> array) for checkpoints."""

    def __init__(self, net, cfg):
        self.net, self.cfg = net, cfg
        self.state: dict[str, np.ndarray] = {}
        self.lr = 0.0

    def start_pass(self, lr: float, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
        """Called before each pass with its learning rate and the training set."""
        self.lr = lr

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """w -= lr * (g + weight_decay * w), with optional (heavy-ball) momentum."""

    def __init__(self, net, cfg):
        super().__init__(net, cfg)
        if cfg.momentum:
            self.state["velocity"] = np.zeros_like(net.flat)

    def step(self):
        w, g = self.net.flat, self.net.flat_grad
        if self.cfg.weight_decay:
            g = g + self.cfg.weight_decay * w
        if self.cfg.momentum:
            v = self.state["velocity"]
            v *= self.cfg.momentum
            v += g
            g = v
        # w += (-lr) g in one BLAS call (daxpy): at batch 1 this runs once per digit.
        daxpy(g, w, a=-self.lr)


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's formulation."""

    def __init__(self, net, cfg):
        super().__init__(net, cfg)
        self.state["m"] = np.zeros_like(net.flat)
        self.state["v"] = np.zeros_like(net.flat)
        self.state["t"] = np.zeros(1)
        self._tmp = np.empty_like(net.flat)
        self._tmp2 = np.empty_like(net.flat)

    def step(self):
        # In place, no temporaries allocated: at batch 1 this runs once per digit.
        b1, b2 = self.cfg.betas
        w, g = self.net.flat, self.net.flat_grad
        m, v, t, tmp, tmp2 = self.state["m"], self.state["v"], self.state["t"], self._tmp, self._tmp2
        t += 1
        n = t[0]
        if self.cfg.weight_decay:
            w *= 1.0 - self.lr * self.cfg.weight_decay
        np.subtract(g, m, out=tmp)          # m = b1 m + (1 - b1) g
        tmp *= 1.0 - b1
        m += tmp
        np.multiply(g, g, out=tmp)          # v = b2 v + (1 - b2) g^2
        tmp -= v
        tmp *= 1.0 - b2
        v += tmp
        # w -= lr/bc1 * m / (sqrt(v/bc2) + eps), as lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps sqrt(bc2))
        sqrt_bc2 = np.sqrt(1.0 - b2 ** n)
        np.sqrt(v, out=tmp)
        tmp += self.cfg.adam_eps * sqrt_bc2
        np.divide(m, tmp, out=tmp2)
        tmp2 *= self.lr * sqrt_bc2 / (1.0 - b1 ** n)
        w -= tmp2


def epsilon_scale(net, kind: str) -> np.ndarray | None:
    """Per-weight multiplier of SDLM's epsilon (None for "none"), as SN2.8's
    helpers set it: one value per unit, given to all of its incoming connections
    (its bias included): ``fanin`` 1/F (``epsi``), ``sqrt_fanin`` 1/sqrt(F)
    (``epsi-sqrt``), ``sqrt_fanin_share`` 1/sqrt(F S) (``mask-epsi``, for shared
    weights), with F the unit's fan-in counting its bias and S the number of
    connections that share each of its kernel weights (1 in a fully connected
    layer)."""
    if kind == "none":
        return None
    out = np.empty_like(net.flat)
    for lay in net.param_layers:
        units, connections, _ = lay.counts()
        fan_in = connections / units
        share = lay.P if isinstance(lay, L.Conv2d) else 1
        value = {"fanin": 1.0 / fan_in, "sqrt_fanin": 1.0 / math.sqrt(fan_in),
                 "sqrt_fanin_share": 1.0 / math.sqrt(fan_in * share)}[kind]
        for k in lay.params:
            out[net.slices[f"{lay.name}.{k}"]] = value
    return out


class SDLM(Optimizer):
    """Stochastic diagonal Levenberg-Marquardt: w_k -= epsilon_k / (mu + h_kk) * dE/dw_k,
    with h_kk the Gauss-Newton diagonal (summed over the connections sharing w_k).

    ``sdlm_estimator`` chooses how h is estimated:

    - ``"snapshot"`` (LeNet-5, 1998): averaged over ``sdlm_samples`` training
      patterns before each pass, then fixed for the pass;
    - ``"running"`` (SN2.8, the 1989 simulator): an exponential running average,
      h <- (1 - gamma) h + gamma h(pattern), updated from every step's own
      second-derivative pass before that step's update; h starts at 0.

    epsilon_k is the pass's learning rate times :func:`epsilon_scale`."""

    def __init__(self, net, cfg):
        super().__init__(net, cfg)
        self.state["h"] = np.zeros_like(net.flat)
        self.eta = np.zeros_like(net.flat)
        self._tmp = np.empty_like(net.flat)
        self.loss = losses.make_loss(cfg.loss, cfg.cost_scale)
        self.scale = epsilon_scale(net, cfg.sdlm_eps_scale)
        self.running = cfg.sdlm_estimator == "running"
        if self.running:  # SN2.8's estimator needs the loss's constant output curvature; CE refuses here
            self.loss.output_curvature(1, net.n_out)
        self._eps = None            # per-weight epsilon of this pass (with a scale)
        self._d2out: dict[int, np.ndarray] = {}  # d2E/dy2 per batch size (constant for MSE)

    def estimate_h(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Average per-pattern Gauss-Newton diagonal of the loss over (x, labels)."""
        net = self.net
        self.loss.forward(net.forward(x, train=True), labels)
        # The loss averages over the batch; backward_h sums over it: the result is
        # the mean of the per-pattern second derivatives.
        net.backward_h(self.loss.backward_h())
        return net.flat_hess.copy()

    def start_pass(self, lr, x, labels, rng):
        self.lr = lr
        self._eps = None if self.scale is None else lr * self.scale
        if self.running:
            return
        n = min(self.cfg.sdlm_samples, len(x))
        pick = np.sort(rng.choice(len(x), size=n, replace=False))
        self.state["h"][...] = self.estimate_h(x[pick], labels[pick])
        np.divide(lr if self._eps is None else self._eps, self.cfg.sdlm_mu + self.state["h"], out=self.eta)

    def _update_h(self) -> None:
        """This step's second-derivative pass (after its forward and backward),
        folded into the running average."""
        net = self.net
        n = net.batch
        d2out = self._d2out.get(n)
        if d2out is None:
            d2out = self._d2out[n] = self.loss.output_curvature(n, net.n_out)
        net.backward_h(d2out)
        h = self.state["h"]
        h *= 1.0 - self.cfg.sdlm_gamma
        daxpy(net.flat_hess, h, a=self.cfg.sdlm_gamma)

    def step(self):
        net, tmp = self.net, self._tmp
        if not self.running:
            np.multiply(self.eta, net.flat_grad, out=tmp)
            net.flat -= tmp
            return
        self._update_h()
        np.add(self.state["h"], self.cfg.sdlm_mu, out=tmp)
        np.divide(net.flat_grad, tmp, out=tmp)
        if self._eps is None:
            daxpy(tmp, net.flat, a=-self.lr)
        else:
            tmp *= self._eps
            net.flat -= tmp


OPTIMIZERS = {"sdlm": SDLM, "sgd": SGD, "adamw": AdamW}  # train.optimizer


def make_optimizer(net, train_cfg) -> Optimizer:
    return OPTIMIZERS[train_cfg.optimizer](net, train_cfg)
