"""The last stage of the reader: the network's reading of a 16x16 digit, or of a row.

:func:`analyse` gives a digit's outputs, the decision, the top two and their
gap, the rejection and its reason, and, for the page, every layer's units;
:func:`analyse_row` reads a row digit by digit. :func:`read_batch` gives the
outputs of many 16x16 pictures at once, :func:`digit_score` how much each
looks like a whole digit.

The decision, in two steps: a picture whose digit score is under the model's
none-threshold (a model trained with the junk set carries one in its json)
is not a digit (``"digit": None``); otherwise the largest output is the digit,
rejected as unsure when the gap between the two largest is under the model's
gap threshold (the paper's rule). A model without a none-threshold (lecun1989,
modern-usps, a run directory) answers every picture with a digit, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lecun89.metrics import output_gap

if TYPE_CHECKING:
    from lecun89.reader.models import Model


def read_batch(model: Model, x16s: np.ndarray) -> np.ndarray:
    """The network's outputs (N, 10) for N pictures (N, 16, 16) in [-1, 1], in one forward."""
    x = np.asarray(x16s, dtype=np.float64).reshape(-1, 1, 16, 16)
    return model.net.predict(x)


def digit_score(model: Model, outputs: np.ndarray) -> np.ndarray:
    """How much each picture looks like a whole digit (N,), from its outputs (N, 10):
    the largest softmax probability for a network with logit outputs, the largest
    output for scaled tanh ones. Higher is more digit-like; a model's
    none-threshold is set on it (scripts/ship_models.py)."""
    out = np.atleast_2d(np.asarray(outputs, dtype=np.float64))
    if model.net.config.output_activation != "none":
        return out.max(axis=1)
    z = out - out.max(axis=1, keepdims=True)
    return 1.0 / np.exp(z).sum(axis=1)  # the top class's probability: e^0 / sum e^z


def decide(model: Model, outputs: np.ndarray) -> dict:
    """The decision on one picture's outputs (10,): ``digit`` (None: not a digit),
    ``rejected``, ``reason`` (None when accepted), ``score`` (:func:`digit_score`)
    and the model's ``none_threshold``."""
    out = np.asarray(outputs, dtype=np.float64)
    score = float(digit_score(model, out[None])[0])
    gap = float(output_gap(out[None])[0])
    none_t = getattr(model, "none_threshold", None)
    r = {"digit": int(np.argmax(out)), "score": score, "none_threshold": none_t, "rejected": False, "reason": None}
    if none_t is not None and score < none_t:
        r.update(digit=None, rejected=True, reason=f"not a digit (score {score:.3f} < {none_t:.3f})")
    elif model.threshold is not None and gap < model.threshold:
        r.update(rejected=True, reason=f"unsure (gap {gap:.3f} < {model.threshold:.3f})")
    return r


def analyse(model: Model, x16: np.ndarray, maps: bool = True) -> dict:
    """The network's reading of one digit (16x16 in [-1, 1]): outputs, decision
    (:func:`decide`: the digit or None, rejected, the reason), top two and their
    gap, and (``maps``) every layer's units."""
    x = np.asarray(x16, dtype=np.float64).reshape(1, 1, 16, 16)
    acts = model.net.activations(x)
    out = acts[model.net.param_layers[-1].name][0]
    order = np.argsort(-out, kind="stable")
    d1, d2 = int(order[0]), int(order[1])
    gap = float(output_gap(out[None])[0])
    d = decide(model, out)
    r = {
        "model": model.name,
        "digit": d["digit"],
        "outputs": out.tolist(),
        "top2": [[d1, float(out[d1])], [d2, float(out[d2])]],
        "gap": gap,
        "threshold": model.threshold,
        "rejected": d["rejected"],
        "reason": d["reason"],
        "score": d["score"],
        "none_threshold": d["none_threshold"],
    }
    if maps:
        r["input"] = x[0, 0].tolist()
        r["layers"] = [{"name": k, "shape": list(v.shape[1:]), "values": v[0].tolist()} for k, v in acts.items()]
    return r


def analyse_row(model: Model, digits) -> dict:
    """The network's reading of a row (:func:`lecun89.reader.pipeline.read_row`'s digits,
    left to right): the digits as a string, rejected when any digit is (as the
    paper's system rejected a zip code), and each digit's reading with its box."""
    per = [{**analyse(model, d.x16, maps=False), "box": list(d.box)} for d in digits]
    return {"model": model.name, "digits": "".join("?" if r["digit"] is None else str(r["digit"]) for r in per),
            "rejected": any(r["rejected"] for r in per), "per_digit": per}
