"""What the page's Train tab shows of a training run between two of its steps:
the points of the paper's Figure 3 (log MSE and % error against passes,
training and test), the H1 and H2 kernels, the learning rate or SDLM's step
sizes, and a strip of test digits with their current readings.

Everything here reads the trainer (:class:`lecun89.train.Trainer`) and never
changes it: the scores are the engine's own inference (``trainer.predict``,
dropout off, no generator drawn), so a watched run trains the same numbers as
``lecun89 train``. The pass points are the trainer's own metrics row (the full
training and test sets, as ``metrics.jsonl``); the points within a pass, every
512 digits, score a fixed sample of :data:`WATCH_SAMPLE` training and test
digits (drawn by its own generator, :data:`SAMPLE_SEED`), which is what makes
the first pass visible as it learns at a cost of a few percent of its time.
MSE is the paper's convention throughout (:func:`lecun89.metrics.paper_mse`:
SN2.8's printed MSE, half the mean over the 10 outputs of (y - t)^2).
"""

from __future__ import annotations

import numpy as np

from lecun89 import losses, metrics
from lecun89.optim import lr_at

WATCH_SAMPLE = 300      # training and test digits scored every 512 steps (the curves within a pass)
STRIP_PER_CLASS = 2     # test digits of each class in the strip on show
SAMPLE_SEED = 89        # the sample's own generator: independent of every generator of the run
KERNEL_DIGITS = 5       # decimals of the kernels sent to the page (display only)


class Sample:
    """The fixed digits a run is watched on: ``train`` and ``test`` indices (at most
    :data:`WATCH_SAMPLE` each) and the ``strip`` (indices into the test set,
    :data:`STRIP_PER_CLASS` of each class, the first test digits of it in the
    sample's order; also the first entries of ``test``)."""

    def __init__(self, data, n: int = WATCH_SAMPLE, seed: int = SAMPLE_SEED):
        rng = np.random.default_rng(seed)
        y = np.asarray(data.y_test)
        order = rng.permutation(len(y))
        strip = [i for c in np.unique(y) for i in order[y[order] == c][:STRIP_PER_CLASS]]
        self.strip = np.array(sorted(strip, key=lambda i: (y[i], i)), dtype=int)
        rest = order[~np.isin(order, self.strip)]
        self.test = np.concatenate([self.strip, rest])[:max(n, len(self.strip))]
        self.train = rng.permutation(len(data.y_train))[:n]
        self.data = data
        # the digits scored every 512 steps, gathered once
        self.x_tr, self.y_tr = data.x_train[self.train], np.asarray(data.y_train)[self.train]
        self.x_te, self.y_te = data.x_test[self.test], np.asarray(data.y_test)[self.test]

    def strip_info(self) -> dict:
        """The strip's digits, once per run: ``labels``, ``indices`` (into the test
        set) and ``images`` (16x16 each, in [-1, 1])."""
        x = self.data.x_test[self.strip, 0]
        return {"indices": self.strip.tolist(), "labels": np.asarray(self.data.y_test)[self.strip].tolist(),
                "images": np.round(x, 3).tolist()}

    def readings(self, trainer) -> list[int]:
        """The strip's readings now (the most active output of each digit)."""
        return trainer.predict(self.x_te[:len(self.strip)]).argmax(axis=1).tolist()

    def point(self, trainer, x: float) -> tuple[dict, list[int]]:
        """The sample's scores at ``x`` passes (a Figure 3 point of kind "sample":
        errors, the paper's MSE, the optimizer's cost) and the strip's readings
        (the most active output of each)."""
        t = trainer.cfg.train
        squashed = trainer.net.config.output_activation != "none"
        cost = losses.make_loss(t.loss, t.cost_scale)
        out_tr, out_te = trainer.predict(self.x_tr), trainer.predict(self.x_te)
        tr = metrics.scores(out_tr, self.y_tr, squashed)
        te = metrics.scores(out_te, self.y_te, squashed)
        readings = out_te[:len(self.strip)].argmax(axis=1).tolist()
        return ({"x": x, "kind": "sample", "train_error": tr["error"], "test_error": te["error"],
                 "train_mse": tr["half_mse"], "test_mse": te["half_mse"],
                 "train_loss": float(cost.forward(out_tr, self.y_tr)),
                 "test_loss": float(cost.forward(out_te, self.y_te))}, readings)


def pass_point(row: dict) -> dict:
    """A Figure 3 point of kind "pass" from the trainer's metrics row (the full
    sets): errors as fractions, MSE in the paper's convention, the cost the
    optimizer minimised as ``train_loss`` / ``test_loss``."""
    return {"x": float(row["pass"]), "kind": "pass", "train_error": row["train_error"],
            "test_error": row["test_error"], "train_mse": metrics.paper_mse(row["train_mse"]),
            "test_mse": metrics.paper_mse(row["test_mse"]), "train_loss": row["train_loss"],
            "test_loss": row["test_loss"], "lr": row["lr"]}


def start_point(train_ev: dict, test_ev: dict) -> dict:
    """The untrained network's Figure 3 point (pass 0), from two
    :func:`lecun89.train.evaluate` answers on the full sets."""
    return {"x": 0.0, "kind": "pass", "train_error": train_ev["error"], "test_error": test_ev["error"],
            "train_mse": train_ev["half_mse"], "test_mse": test_ev["half_mse"],
            "train_loss": train_ev["loss"], "test_loss": test_ev["loss"], "lr": None}


def kernels(net) -> list[dict]:
    """The first layers' weights as the page draws them: H1's and H2's 5x5
    kernels (``shape`` [O, I, 5, 5]) for a convolutional net; for a fully
    connected one, its first layer's weights per unit as a 16x16 image
    ([O, 1, 16, 16]). ``values`` flat, rounded for display; ``span`` the
    largest size (the page's colour scale)."""
    out = []
    for lay in net.param_layers:
        w = lay.params.get("weight")
        if w is None:
            continue
        if w.ndim == 4:
            pass
        elif not out and w.ndim == 2 and w.shape[1] == 256:
            w = w.reshape(w.shape[0], 1, 16, 16)
        else:
            break
        out.append({"name": lay.name, "shape": list(w.shape), "span": float(np.abs(w).max()),
                    "values": np.round(w, KERNEL_DIGITS).ravel().tolist()})
        if len(out) == 2:
            break
    return out


def step_sizes(trainer) -> dict:
    """The optimizer's step now: ``optimizer``, ``lr`` (the pass's rate; SDLM's
    epsilon), and for SDLM per layer the spread of its per-weight steps
    epsilon / (mu + h) over the layer's weights (``layers``: name, ``median``,
    ``lo``, ``hi``)."""
    t, opt, net = trainer.cfg.train, trainer.opt, trainer.net
    lr = lr_at(t, min(trainer.passes_done, t.passes - 1))
    r = {"optimizer": t.optimizer, "lr": lr}
    if t.optimizer != "sdlm":
        return r
    h = opt.state["h"]
    eta = lr / (t.sdlm_mu + h) if t.sdlm_estimator == "running" else opt.eta
    r["mu"] = t.sdlm_mu
    r["layers"] = []
    for lay in net.param_layers:
        sl = net.slices[f"{lay.name}.weight"]
        e = eta[sl]
        r["layers"].append({"name": lay.name, "median": float(np.median(e)), "lo": float(e.min()),
                            "hi": float(e.max())})
    return r
