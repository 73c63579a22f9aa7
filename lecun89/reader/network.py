"""The last stage of the reader: the network's reading of a 16x16 digit, or of a row.

:func:`analyse` gives a digit's outputs, the decision, the top two and their
gap, the paper's rejection (the gap under the model's threshold) and, for the
page, every layer's units; :func:`analyse_row` reads a row digit by digit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lecun89.metrics import output_gap

if TYPE_CHECKING:
    from lecun89.reader.models import Model


def analyse(model: Model, x16: np.ndarray, maps: bool = True) -> dict:
    """The network's reading of one digit (16x16 in [-1, 1]): outputs, decision,
    top two and their gap, rejection, and (``maps``) every layer's units."""
    x = np.asarray(x16, dtype=np.float64).reshape(1, 1, 16, 16)
    acts = model.net.activations(x)
    out = acts[model.net.param_layers[-1].name][0]
    order = np.argsort(-out, kind="stable")
    d1, d2 = int(order[0]), int(order[1])
    gap = float(output_gap(out[None])[0])
    r = {
        "model": model.name,
        "digit": d1,
        "outputs": out.tolist(),
        "top2": [[d1, float(out[d1])], [d2, float(out[d2])]],
        "gap": gap,
        "threshold": model.threshold,
        "rejected": bool(model.threshold is not None and gap < model.threshold),
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
    return {"model": model.name, "digits": "".join(str(r["digit"]) for r in per),
            "rejected": any(r["rejected"] for r in per), "per_digit": per}
