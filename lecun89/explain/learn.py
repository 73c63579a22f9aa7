"""One learning step on one digit: what training does to a network, a digit at a time.

A :class:`Learner` holds a private copy of a model's network and the optimizer
the model was trained with, built from its config's ``train`` section
(``optimizer``: SGD, SDLM or AdamW, with their hyper-parameters; ``loss`` and
``cost_scale``). Each :meth:`Learner.step` is one step of the training loop of
:mod:`lecun89.train` on one digit and its label (batch 1): the forward pass,
the loss's dE/dy, the backward pass, the optimizer's ``step``. The learning
rate is the one of the config's first pass (``optim.lr_at(train, 0)``): SDLM's
epsilon, SGD's or AdamW's step.

- SDLM: the optimizer's own curvature machinery. With SN2.8's running
  estimator (the ``lecun1989`` model) each step's second-derivative pass is
  folded into the running average h before the step, and h persists across
  the learner's steps as it does across a training pass's digits; with the
  snapshot estimator (LeNet-5's), each step is a pass of one digit, its h
  estimated on that digit.
- AdamW's moments and step count, and SGD's momentum, persist across steps.

Dropout is off (the step is deterministic, the view of the network as it
reads). A model without a config (a bare ``model.npz``) learns with the
defaults of :class:`lecun89.config.TrainConfig`, its loss the one
:func:`lecun89.losses.training_loss` assumes (cross-entropy for logit
outputs, else the mean squared error). The model's own network and its files
are never changed.
"""

from __future__ import annotations

import numpy as np

from lecun89 import layers as L
from lecun89 import losses
from lecun89.losses import training_loss
from lecun89.config import config_from_dict
from lecun89.model import build_model, one_digit
from lecun89.optim import lr_at, make_optimizer
from lecun89.threads import one_thread


def train_config(config: dict | None, logits: bool):
    """The :class:`~lecun89.config.TrainConfig` a model learns with: its config's
    ``train`` section, else the defaults with the loss of
    :func:`lecun89.losses.training_loss`."""
    train = dict((config or {}).get("train") or {})
    train.pop("engine", None)  # how a pass is computed: one step here is always the layers'
    if not train:
        train["loss"], train["cost_scale"] = training_loss(config, logits)
    return config_from_dict({"train": train}, "the model's train config").train


def kernel_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per output map of a convolution's weights (O, k, K, K): the norm of each
    KxK kernel's change, summed over the k input maps the output map reads."""
    d = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    return np.sqrt(np.square(d).sum(axis=(2, 3))).sum(axis=1)


class Learner:
    """A private copy of ``net`` and the optimizer of ``config`` (a model's
    config as a dict, None: the defaults); ``steps`` counts the steps taken."""

    def __init__(self, net, config: dict | None = None):
        self.net = build_model(net.config, init=False)
        self.net.load_state_dict(net.state_dict(), "the model's network")
        self.net.tape.dropout = False  # the copy only ever learns and reads: dropout stays off
        self.train = train_config(config, net.config.output_activation == "none")
        self.lr = lr_at(self.train, 0)
        self.optimizer = self.train.optimizer
        self.opt = make_optimizer(self.net, self.train)
        self.loss = losses.make_loss(self.train.loss, self.train.cost_scale)
        self.rng = np.random.default_rng(0)  # SDLM's snapshot draws its digits (here: the one) with it
        self.steps = 0

    def outputs(self, x16: np.ndarray) -> np.ndarray:
        """The copy's 10 outputs for one 16x16 digit, in inference mode."""
        with one_thread():
            return self.net.forward(one_digit(x16))[0].copy()

    def step(self, x16: np.ndarray, label: int) -> dict:
        """One optimizer step on one 16x16 digit (in [-1, 1]) with target ``label``.

        Returns ``step`` (1 on the first), ``optimizer``, ``lr``, the outputs and
        the loss before and after the step (``outputs_before``, ``outputs_after``:
        arrays of 10; ``loss_before``, ``loss_after``), and ``moved``: for each
        convolution layer (H1, H2), per output map the norm of its 5x5 kernels'
        change in this step, summed over the maps it reads."""
        net = self.net
        if not 0 <= int(label) < net.n_out:
            raise ValueError(f"label: expected an integer 0-{net.n_out - 1}, got {label!r}")
        x, labels = one_digit(x16), np.array([int(label)])
        convs = [lay for lay in net.param_layers if isinstance(lay, L.Conv2d)]
        kernels = {lay.name: lay.params["weight"].copy() for lay in convs}
        with one_thread():
            self.opt.start_pass(self.lr, x, labels, self.rng)
            y = net.forward(x, train=True)
            before = y[0].copy()
            loss_before = float(self.loss.forward(y, labels))
            net.backward(self.loss.grad(y, self.loss.targets(labels, net.n_out)))
            self.opt.step()
            after = net.forward(x)[0].copy()
        self.steps += 1
        return {"step": self.steps, "optimizer": self.optimizer, "lr": float(self.lr),
                "outputs_before": before, "outputs_after": after, "loss_before": loss_before,
                "loss_after": float(self.loss.forward(after[None], labels)),
                "moved": {lay.name: kernel_change(kernels[lay.name], lay.params["weight"]) for lay in convs}}
