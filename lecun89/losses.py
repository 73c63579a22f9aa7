"""The training costs: squared error against +-1 targets and softmax cross-entropy.

Every loss answers the same questions (:class:`Loss`), so the optimizer and the
training loop never ask which loss they have: the cost over a batch, its
gradient dE/dy, its Gauss-Newton second derivative d2E/dy2, and, where it
does not depend on the outputs, that second derivative on its own (SN2.8's
running SDLM estimator needs it).

A label :data:`lecun89.metrics.NONE` (a picture with no digit) asks for none of
the ten: all outputs at the low target (-1) for squared error, the uniform
distribution (1/K each) for cross-entropy. Both engines read the target rows
(``targets``), so they train it alike.
"""

from __future__ import annotations

import numpy as np

from lecun89.metrics import targets_pm1


class Loss:
    """The training cost over a batch of outputs ``y`` (N, K) and their labels.

    Every loss gives:

    - ``targets(labels)``: the target rows the fast path compares ``y`` with;
    - ``forward(y, labels)`` -> the cost, then ``backward()`` -> dE/dy and
      ``backward_h()`` -> the Gauss-Newton diagonal d2E/dy2 at those outputs;
    - ``grad(y, t)``: dE/dy from precomputed targets (the training loop's fast path);
    - ``output_curvature(n, k)``: d2E/dy2 at every output of a batch of ``n``
      patterns, for a loss whose second derivative does not depend on the
      outputs (``constant_curvature``). SN2.8's running SDLM estimator needs it;
      a loss without one refuses it with a ValueError.
    """

    kind = ""
    constant_curvature = False

    def targets(self, labels, n_classes=10):
        raise NotImplementedError

    def forward(self, y, labels) -> float:
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def backward_h(self):
        raise NotImplementedError

    def grad(self, y, t):
        raise NotImplementedError

    def output_curvature(self, n: int, k: int) -> np.ndarray:
        raise ValueError(f"the {self.kind!r} loss has no output curvature independent of the outputs; "
                         "SDLM's running estimator (SN2.8) needs one: use sdlm_estimator = \"snapshot\"")


class MSELoss(Loss):
    """Squared error against +-1 targets (:func:`lecun89.metrics.targets_pm1`),
    averaged over patterns. Per pattern, the cost is scaled one of two ways
    (``cost_scale``):

    - ``"mean"``: mean over the K output units, E = mean((y - t)^2) (twice the
      paper's MSE, :func:`lecun89.metrics.paper_mse`); dE/dy = 2 (y - t) / (N K),
      d2E/dy2 = 2 / (N K);
    - ``"half_sum"``: SN2.8's cost, E = 1/2 sum over outputs of (y - t)^2 (K times
      the paper's MSE); dE/dy = (y - t) / N, d2E/dy2 = 1 / N (1 at each output, per pattern).

    The two differ by the factor K/2 (5 for 10 outputs), in the gradient and the
    second derivative alike. The second derivative is exact and the same at
    every output, so the Gauss-Newton term is the whole of it."""

    kind = "mse"
    constant_curvature = True

    def __init__(self, cost_scale: str = "mean"):
        if cost_scale not in COST_SCALES:
            raise ValueError(f"unknown cost_scale {cost_scale!r}")
        self.half_sum = cost_scale == "half_sum"

    def factor(self, n: int, k: int) -> float:
        """d2E/dy2 at every output of a batch of n patterns of k outputs; dE/dy = factor * (y - t)."""
        return 1.0 / n if self.half_sum else 2.0 / (n * k)

    def forward(self, y, labels):
        self.diff = y - targets_pm1(labels, y.shape[1])
        self.scale = self.factor(*y.shape)
        return float(np.vdot(self.diff, self.diff)) / (2 * len(y) if self.half_sum else y.size)

    def backward(self):
        return self.diff * self.scale

    def targets(self, labels, n_classes=10):
        return targets_pm1(labels, n_classes)

    def grad(self, y, t):
        """dE/dy from precomputed targets: the training loop's fast path."""
        d = y - t
        d *= self.factor(*y.shape)
        return d

    def output_curvature(self, n: int, k: int) -> np.ndarray:
        return np.full((n, k), self.factor(n, k))

    def backward_h(self):
        return np.full_like(self.diff, self.scale)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy over the outputs taken as logits, averaged over patterns.
    Its second derivative, p(1 - p) per output, depends on the outputs: it has
    no ``output_curvature`` and only ``cost_scale = "mean"``."""

    kind = "ce"

    def __init__(self, cost_scale: str = "mean"):
        if cost_scale != "mean":
            raise ValueError("the cross-entropy loss has no cost_scale other than 'mean'")

    def forward(self, y, labels):
        z = y - y.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        self.p = e / s
        self.t = self.targets(labels, y.shape[1])
        # -sum_k t_k log p_k: the one-hot target's -log p_label, or the uniform's mean of -log p
        return float(np.mean(np.log(s[:, 0]) - (self.t * z).sum(axis=1)))

    def targets(self, labels, n_classes=10):
        """One-hot rows; a :data:`~lecun89.metrics.NONE` label's row is uniform (1/K each)."""
        labels = np.asarray(labels)
        t = np.zeros((len(labels), n_classes))
        d = np.flatnonzero(labels >= 0)
        t[d, labels[d]] = 1.0
        t[labels < 0] = 1.0 / n_classes
        return t

    def grad(self, y, t):
        """dE/dy from precomputed target rows: the training loop's fast path."""
        e = np.exp(y - y.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        e -= t
        e /= len(y)
        return e

    def backward(self):
        return (self.p - self.t) / len(self.t)

    def backward_h(self):
        # Diagonal of the softmax's Gauss-Newton matrix, p(1-p), per pattern.
        return self.p * (1.0 - self.p) / len(self.t)


# The losses a config can name (train.loss), and MSE's two cost scales (train.cost_scale).
LOSSES = {"mse": MSELoss, "ce": CrossEntropyLoss}
COST_SCALES = ("mean", "half_sum")


def make_loss(kind: str, cost_scale: str = "mean") -> Loss:
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}")
    return LOSSES[kind](cost_scale)


def training_loss(config: dict | None, logits: bool) -> tuple[str, str]:
    """(loss, cost_scale): the cost a model was trained with, the one owner of
    that rule (the page's backward view and learning step, the run report):
    its config's ``train`` section when known (a config as a dict), else
    cross-entropy for logit outputs and the mean squared error otherwise."""
    train = (config or {}).get("train") or {}
    kind = train.get("loss") or ("ce" if logits else "mse")
    return kind, train.get("cost_scale", "mean") if kind == "mse" else "mean"
