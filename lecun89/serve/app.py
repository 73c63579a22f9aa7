"""The application behind ``lecun89 serve``'s routes: the models, the test set,
and what each route computes (no HTTP here: :mod:`lecun89.serve.server`).

The networks keep buffers between calls, so forward passes of the shared
models run one at a time (:attr:`App.lock`; a pass with all maps takes well
under a millisecond); decoding and normalising a drawing run in parallel. A
learning session's network is its own, and its passes run under the
session's lock (:mod:`lecun89.serve.learning`).
"""

from __future__ import annotations

import json
import re
import threading

from lecun89.errors import UserError
from lecun89.serve._base import ApiError
from lecun89.serve.images import IMAGE_READERS, SIZE, png_to_row

# The display range of each squashing function (lo -> white, hi -> black);
# None: taken from the values themselves.
ACTIVATION_RANGES = {"lecun": (-1.7159, 1.7159), "tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


class App:
    """The loaded models and the test set, shared by the request threads."""

    def __init__(self, model: str | None = None, data_dir: str | None = None):
        import numpy as np

        from lecun89.predict import DEFAULT_MODEL, load_model, shipped_models

        self.models = {name: load_model(name) for name in shipped_models()}
        if model is not None and str(model) not in self.models:
            m = load_model(model)  # a checkpoint path (UserError when it is neither)
            self.models[m.name] = m
            self.default = m.name
        else:
            self.default = str(model) if model is not None else DEFAULT_MODEL
        if self.default not in self.models:
            raise UserError(f"no model {self.default!r} in this install; give --model PATH/TO/model.npz", status=2)
        self.data_dir = data_dir
        self.lock = threading.Lock()  # one forward pass at a time (the layers keep buffers)
        self._data = None
        self._data_lock = threading.Lock()
        self._orders: dict[str, dict] = {}
        self._orders_lock = threading.Lock()
        blank = -np.ones((SIZE, SIZE))
        self._info = []
        for name, m in self.models.items():
            r = self.analyse(m, blank)
            d = m.describe()
            d["shapes"] = {lay["name"]: lay["shape"] for lay in r["layers"]}
            self._info.append(d)

    # -- helpers
    def model(self, name) -> object:
        if name is None:
            return self.models[self.default]
        if not isinstance(name, str):
            raise ApiError(400, f"model: expected a name (string), got {type(name).__name__}")
        if name not in self.models:
            raise ApiError(400, f"unknown model {name!r} (this server has: {', '.join(self.models)})")
        return self.models[name]

    def analyse(self, m, x16) -> dict:
        from lecun89.predict import analyse

        with self.lock:
            r = analyse(m, x16, maps=True)
        r["ranges"] = display_ranges(m, r)
        return r

    # -- routes
    def models_info(self) -> dict:
        return {"default": self.default, "models": self._info}

    def image_field(self, body, other: str) -> str:
        """Which one of png, pixels, x16 a body gives (besides model and the route's ``other``)."""
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object with one of: png, pixels, x16")
        unknown = sorted(set(body) - {"model", "png", "pixels", "x16", other})
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r} (expected: model, {other}, and one of png, pixels, x16)")
        given = [k for k in ("png", "pixels", "x16") if k in body]
        if len(given) != 1:
            raise ApiError(400, "give exactly one of png, pixels, x16" + (f" (got {', '.join(given)})" if given else ""))
        return given[0]

    def predict(self, body) -> dict:
        kind = self.image_field(body, "row")
        m = self.model(body.get("model"))
        row = body.get("row", False)
        if not isinstance(row, bool):
            raise ApiError(400, f"row: expected true or false, got {json.dumps(row)[:40]}")
        if row:
            if kind != "png":
                raise ApiError(400, "row: a row of digits is sent as png")
            return self.predict_row(m, body["png"])
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return {"blank": True, "model": m.name, "message": "blank drawing: no ink to read"}
        return {"blank": False, **self.analyse(m, x16)}

    def backprop(self, body) -> dict:
        from lecun89.backprop import as_lists, backward_view, training_loss

        kind = self.image_field(body, "label")
        label = body.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
            raise ApiError(400, f"label: expected an integer 0-9, got {json.dumps(label)[:40]}")
        m = self.model(body.get("model"))
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return {"blank": True, "model": m.name, "message": "blank drawing: no ink to read"}
        loss = training_loss(m.info.get("config"), m.net.config.output_activation == "none")
        with self.lock:
            v = backward_view(m.net, x16, label, *loss)
        return {"blank": False, "model": m.name, "label": label, "loss_kind": loss[0], **as_lists(v)}

    def predict_row(self, m, png) -> dict:
        from lecun89.predict import analyse_row

        digits = png_to_row(png)
        if digits is None:
            return {"blank": True, "row": True, "model": m.name, "message": "blank drawing: no digits to read"}
        with self.lock:
            r = analyse_row(m, digits)
        for d, x in zip(r["per_digit"], digits):
            d["input"] = x.x16.tolist()
        return {"blank": False, "row": True, **r}

    def dataset(self):
        with self._data_lock:
            if self._data is None:
                from lecun89.data import load_dataset

                try:
                    self._data = load_dataset("usps", self.data_dir)
                except UserError as exc:
                    raise ApiError(404, f"USPS test set not available: {exc}") from None
            return self._data

    def testset(self, name) -> dict:
        import numpy as np

        from lecun89.metrics import output_gap

        m = self.model(name)
        ds = self.dataset()
        with self._orders_lock:
            if m.name not in self._orders:
                with self.lock:
                    out = m.net.predict(ds.x_test)
                pred = out.argmax(axis=1)
                gap = output_gap(out)
                rejected = gap < m.threshold if m.threshold is not None else np.zeros(len(out), bool)
                y = np.asarray(ds.y_test)
                wrong = np.flatnonzero(pred != y)
                order = np.concatenate([wrong, np.flatnonzero(pred == y)])
                self._orders[m.name] = {
                    "model": m.name, "n": int(len(y)), "errors": int(len(wrong)),
                    "order": order.tolist(), "labels": y[order].tolist(),
                    "predictions": pred[order].tolist(), "rejected": rejected[order].tolist()}
            return self._orders[m.name]

    def testset_digit(self, name, index: str) -> dict:
        m = self.model(name)
        if not re.fullmatch(r"[0-9]{1,9}", index):
            raise ApiError(400, f"test digit index must be a whole number, got {index[:40]!r}")
        ds = self.dataset()
        i, n = int(index), len(ds.y_test)
        if i >= n:
            raise ApiError(404, f"no test digit {i}: the USPS test set has {n} (0..{n - 1})")
        r = self.analyse(m, ds.x_test[i, 0])
        label = int(ds.y_test[i])
        return {**r, "index": i, "label": label, "correct": r["digit"] == label, "n": n}


def display_ranges(m, r: dict) -> dict:
    """name -> [lo, hi]: the page draws lo white and hi black (the input: -1 white
    background, +1 black ink, as the paper's digit figures)."""
    cfg = m.net.config
    ranges = {"input": [-1.0, 1.0]}
    last = r["layers"][-1]["name"]
    for lay in r["layers"]:
        act = cfg.output_activation if lay["name"] == last else cfg.activation
        fixed = ACTIVATION_RANGES.get(act)
        if fixed is not None:
            ranges[lay["name"]] = list(fixed)
            continue
        vals = _flat(lay["values"])
        hi = max(abs(v) for v in vals) or 1.0
        ranges[lay["name"]] = [0.0, hi] if act == "relu" else [-hi, hi]
    return ranges


def _flat(v) -> list[float]:
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [v]
