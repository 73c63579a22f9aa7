"""The application behind ``lecun89 serve``'s routes: the models, the test set,
and what each route computes (no HTTP here: :mod:`lecun89.serve.server`).

The shared models are read and explained by any number of requests at once:
a forward pass keeps nothing in the network, and a backward view runs on a
tape of its own (:class:`lecun89.model.Tape`), so no request waits for
another's pass. A learning session's network is its own, and its steps and
passes run under the session's lock (:mod:`lecun89.serve.learning`): a step
changes its weights.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading

from lecun89.errors import UserError
from lecun89.serve._base import ApiError
from lecun89.serve.images import (IMAGE_READERS, SIZE, furniture, image_to_picture, picture_digit, picture_row,
                                  png_to_row)
from lecun89.serve.learning import MAX_SESSIONS, Sessions
from lecun89.serve.training import Training


class App:
    """The loaded models, the test set and the learning sessions (at most
    ``max_sessions``), shared by the request threads."""

    def __init__(self, model: str | None = None, data_dir: str | None = None, max_sessions: int = MAX_SESSIONS):
        import numpy as np

        from lecun89.reader import DEFAULT_MODEL, load_model, shipped_models

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
        self.sessions = Sessions(max_sessions)
        self.training = Training(data_dir, publish=self.add_model)  # the Train tab (lecun89.serve.training)
        self._data = None
        self._data_lock = threading.Lock()
        self._orders: dict[str, dict] = {}
        self._orders_lock = threading.Lock()
        blank = -np.ones((SIZE, SIZE))
        self._info = []
        for m in self.models.values():
            r = self.analyse(m, blank)
            d = m.describe()
            d["shapes"] = {lay["name"]: lay["shape"] for lay in r["layers"]}
            self._info.append(d)

    def add_model(self, m) -> None:
        """Offer ``m`` (a :class:`lecun89.reader.Model`) to every route, in place of
        a model of the same name (the Train tab's network, each time its run
        pauses or finishes)."""
        import numpy as np

        r = self.analyse(m, -np.ones((SIZE, SIZE)))
        d = m.describe()
        d["shapes"] = {lay["name"]: lay["shape"] for lay in r["layers"]}
        with self._orders_lock:
            self.models[m.name] = m
            self._orders.pop(m.name, None)
            self._info = [i for i in self._info if i["name"] != m.name] + [d]

    # -- helpers
    def model(self, name) -> object:
        if name is None:
            return self.models[self.default]
        if not isinstance(name, str):
            raise ApiError(400, f"model: expected a name (string), got {type(name).__name__}")
        if name not in self.models:
            raise ApiError(400, f"unknown model {name!r} (this server has: {', '.join(self.models)})")
        return self.models[name]

    def analyse(self, m, x16, lock=None) -> dict:
        """:func:`lecun89.reader.analyse` with all maps, under ``lock`` (a learning
        session's; a shared model needs none), plus the display ranges."""
        from lecun89.reader import analyse

        with lock or contextlib.nullcontext():
            r = analyse(m, x16, maps=True)
        r["ranges"] = display_ranges(m, r)
        return r

    # -- routes
    def models_info(self) -> dict:
        return {"default": self.default, "models": self._info, "row_digits": row_count_taken()}

    def image_field(self, body, *others: str) -> str:
        """Which one of png, pixels, x16, image a body gives (besides model and the route's ``others``)."""
        fields = ("png", "pixels", "x16", "image")
        if not isinstance(body, dict):
            raise ApiError(400, f"expected a JSON object with one of: {', '.join(fields)}")
        unknown = sorted(set(body) - {"model", *fields, *others})
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r} (expected: model, {', '.join(others)}, "
                                f"and one of {', '.join(fields)})")
        given = [k for k in fields if k in body]
        if len(given) != 1:
            raise ApiError(400, f"give exactly one of {', '.join(fields)}" + (f" (got {', '.join(given)})" if given else ""))
        return given[0]

    @staticmethod
    def label(body, n_out: int) -> int:
        """The body's ``label``: an integer naming one of the model's ``n_out`` outputs."""
        label = body.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_out:
            raise ApiError(400, f"label: expected an integer 0-{n_out - 1}, got {json.dumps(label)[:40]}")
        return label

    def session(self, body) -> tuple:
        """(the model a body names, its session or None): with ``"session"``, that
        session and its model (400 when the body names another model)."""
        if "session" not in body:
            return self.model(body.get("model")), None
        s = self.sessions.get(body["session"], self.model(body["model"]) if body.get("model") is not None else None)
        return s.model, s

    def reader(self, body) -> tuple:
        """(the model a body reads with, the lock its passes run under, its
        session id or None): its session's copy and lock when it names one,
        else the shared model, which needs no lock."""
        m, s = self.session(body)
        return (m, contextlib.nullcontext(), None) if s is None else (s.reader(), s.lock, s.id)

    @staticmethod
    def blank(m, sid=None) -> dict:
        extra = {} if sid is None else {"session": sid}
        return {"blank": True, "model": m.name, **extra, "message": "blank drawing: no ink to read"}

    def predict(self, body) -> dict:
        kind = self.image_field(body, "row", "session", "digits")
        row = body.get("row", False)
        if not isinstance(row, bool):
            raise ApiError(400, f"row: expected true or false, got {json.dumps(row)[:40]}")
        if row and "session" in body:
            raise ApiError(400, "session: a session reads one digit, not a row (leave out \"row\" or \"session\")")
        if "digits" in body and not row:
            raise ApiError(400, "digits: a digit count is for a row (give \"row\": true)")
        m, lock, sid = self.reader(body)
        if row:
            if kind not in ("png", "image"):
                raise ApiError(400, "row: a row of digits is sent as png or image")
            return self.predict_row(m, body[kind], kind, row_count(body.get("digits")))
        if kind == "image":
            return self.predict_picture(m, body["image"], lock, sid)
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return self.blank(m, sid)
        extra = {} if sid is None else {"session": sid}
        return {"blank": False, **self.analyse(m, x16, lock), **extra}

    def predict_picture(self, m, image, lock, sid) -> dict:
        """One digit in a person's picture (the ``image`` field): the reading as
        ``lecun89 predict FILE`` gives it for the same file, the picture's size as
        read (after its EXIF turn) and what was removed from it as page furniture."""
        gray, rgb = image_to_picture(image)
        picture = {"picture": {"width": int(gray.shape[1]), "height": int(gray.shape[0])}}
        extra = {} if sid is None else {"session": sid}
        x16, cleaned = picture_digit(gray, rgb)
        if x16 is None:
            return {**self.blank(m, sid), **picture, **furniture(cleaned), "message": "no ink found in the picture"}
        return {"blank": False, **self.analyse(m, x16, lock), **extra, **picture, **furniture(cleaned)}

    def backprop(self, body) -> dict:
        from lecun89.explain.backprop import as_lists, backward_view
        from lecun89.losses import training_loss

        kind = self.image_field(body, "label", "session")
        m, lock, sid = self.reader(body)
        label = self.label(body, m.net.n_out)
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return self.blank(m, sid)
        loss = training_loss(m.info.get("config"), m.net.config.output_activation == "none")
        with lock:
            v = backward_view(m.net, x16, label, *loss)
        extra = {} if sid is None else {"session": sid}
        return {"blank": False, "model": m.name, **extra, "label": label, "loss_kind": loss[0], **as_lists(v)}

    def unit(self, body) -> dict:
        """The chain rule written out at one unit (:func:`lecun89.explain.chain.unit_terms`):
        its forward sum and, for the body's label, its backward sum."""
        from lecun89.explain.chain import LAYERS, unit_terms
        from lecun89.losses import training_loss

        kind = self.image_field(body, "label", "session", "layer", "index", "top")
        m, lock, sid = self.reader(body)
        label = self.label(body, m.net.n_out)
        layer, index, top = body.get("layer"), body.get("index"), body.get("top", 8)
        if not isinstance(layer, str):
            raise ApiError(400, f"layer: expected one of {', '.join(LAYERS)}, got {json.dumps(layer)[:40]}")
        if not isinstance(index, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
            raise ApiError(400, f"index: expected a list of integers ([map, row, col] or [unit]), "
                                f"got {json.dumps(index)[:40]}")
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 64:
            raise ApiError(400, f"top: expected an integer 0-64, got {json.dumps(top)[:40]}")
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:
            return self.blank(m, sid)
        loss = training_loss(m.info.get("config"), m.net.config.output_activation == "none")
        try:
            with lock:
                r = unit_terms(m.net, x16, label, layer, index, *loss, top=top)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        extra = {} if sid is None else {"session": sid}
        return {"blank": False, "model": m.name, **extra, "label": label, **r}

    def learn(self, body) -> dict:
        """One step of the model's own optimizer on the body's digit and label, on
        its session's copy (a new session without ``"session"``): see
        :mod:`lecun89.explain.learn` and :mod:`lecun89.serve.learning`."""
        kind = self.image_field(body, "label", "session")
        m, s = self.session(body)
        label = self.label(body, m.net.n_out)
        x16 = IMAGE_READERS[kind](body[kind])
        if x16 is None:  # no step, and no new session
            return {**self.blank(m), "session": s.id if s else None}
        if s is None:
            s = self.sessions.new(m)
        with s.lock:
            r = s.learner.step(x16, label)
        lr_from = ("the first pass of the model's train config" if m.info.get("config")
                   else "the first pass of the default train config (the model has no config)")
        return {"blank": False, "session": s.id, "model": m.name, "label": label, "step": r["step"],
                "optimizer": r["optimizer"], "lr": r["lr"], "lr_from": lr_from, "loss_kind": s.learner.train.loss,
                "outputs_before": r["outputs_before"].tolist(), "outputs_after": r["outputs_after"].tolist(),
                "loss_before": r["loss_before"], "loss_after": r["loss_after"],
                "moved": {k: v.tolist() for k, v in r["moved"].items()},
                "most_moved": {k: int(v.argmax()) for k, v in r["moved"].items()}}

    def reset(self, body) -> dict:
        """Forget a learning session: ``{"session": id}``."""
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object: {\"session\": id}")
        unknown = sorted(set(body) - {"session"})
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r} (expected: session)")
        if "session" not in body:
            raise ApiError(400, "session: give the id of the session to forget")
        self.sessions.drop(body["session"])
        return {"session": body["session"], "reset": True}

    def predict_row(self, m, value, kind: str = "png", n_digits=None) -> dict:
        """A row of digits (a drawing, or with ``kind="image"`` a person's picture,
        with its size and what was removed from it): :func:`lecun89.reader.analyse_row`,
        each digit's 16x16 input added; ``n_digits`` (a count, or counts such as
        [5, 9]) passed on to the reader."""
        from lecun89.reader import analyse_row

        picture, cleaned = {}, []
        if kind == "png":
            digits = png_to_row(value)
        else:
            gray, rgb = image_to_picture(value)
            picture = {"picture": {"width": int(gray.shape[1]), "height": int(gray.shape[0])}}
            digits, cleaned = picture_row(gray, rgb, kind)
            picture.update(furniture(cleaned))
        if digits is None:
            what = "drawing" if kind == "png" else "picture"
            return {"blank": True, "row": True, "model": m.name, **picture,
                    "message": f"blank {what}: no digits to read"}
        try:
            r = analyse_row(m, digits) if n_digits is None else analyse_row(m, digits, n_digits=n_digits)
        except ValueError as exc:  # no way through the row with that many digits
            raise ApiError(400, f"{'digits' if n_digits is not None else kind}: {exc}") from None
        inputs = row_inputs(digits, r)
        if inputs is not None and len(inputs) == len(r["per_digit"]):
            for d, x in zip(r["per_digit"], inputs, strict=True):
                d.setdefault("input", x.tolist())
        return {"blank": False, "row": True, **r, **picture}

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


def row_inputs(digits, r: dict) -> list | None:
    """Each digit's 16x16 input on the row's reading: the digits already cut (a
    list), or the chosen candidates (``r["candidates"]``) of the reader's graph."""
    if isinstance(digits, list):
        return [d.x16 for d in digits]
    if "candidates" in r and hasattr(digits, "x16"):
        return [digits.x16[e] for e in r["candidates"]]
    return None


def row_count_taken() -> bool:
    """Whether this install's :func:`lecun89.reader.analyse_row` takes a digit count (``n_digits``)."""
    import inspect

    from lecun89.reader import analyse_row

    return "n_digits" in inspect.signature(analyse_row).parameters


def row_count(value):
    """A body's ``digits`` (how many digits the row holds: 5, or [5, 9] for either)
    -> what :func:`lecun89.reader.analyse_row` takes as ``n_digits`` (None: any)."""
    if value is None:
        return None
    from lecun89.reader.pieces import MAX_DIGITS

    counts = value if isinstance(value, list) else [value]
    if not counts or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_DIGITS for n in counts):
        raise ApiError(400, f"digits: expected a whole number 1-{MAX_DIGITS} or a list of them (such as [5, 9]), "
                            f"got {json.dumps(value)[:40]}")
    if not row_count_taken():
        raise ApiError(400, "digits: this reader cannot be told how many digits a row holds (leave \"digits\" out)")
    return counts[0] if len(counts) == 1 else counts


def display_ranges(m, r: dict) -> dict:
    """name -> [lo, hi]: the page draws lo white and hi black (the input: -1 white
    background, +1 black ink, as the paper's digit figures)."""
    from lecun89.layers import ACTIVATION_RANGES

    cfg = m.net.config
    ranges = {"input": [-1.0, 1.0]}
    last = r["layers"][-1]["name"]
    for lay in r["layers"]:
        act = cfg.output_activation if lay["name"] == last else cfg.activation
        fixed = ACTIVATION_RANGES.get(act)  # a bounded squashing function: its own range
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
