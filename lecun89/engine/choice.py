"""Which engine runs a config: ``numpy`` (the layers, the reference) or ``numba``
(the compiled kernels, :mod:`lecun89.engine.compiled`), and for ``"auto"`` the
rule that picks one.

The numba engine covers every shipped config: Net-1989 or the fully connected
network, with scaled-tanh, tanh or ReLU units (outputs also none: logits),
squared error or softmax cross-entropy, at any batch size, dropout and the +-1-pixel
shifts (drawn from the same generators, in the same order, as the numpy
engine), every augmentation (the affine and elastic distortions are applied
to the training set in Python before each pass, :mod:`lecun89.augment`, and
the pass runs on the distorted digits as they are), and SGD (no momentum or
weight decay), SDLM (SN2.8's running estimator or LeNet-5's snapshot, one
epsilon for every weight), or AdamW. A config chooses its engine
(``train.engine``, or ``$LECUN89_ENGINE`` for every config), and the run
directory's config.toml and meta.json record it; ``"auto"`` is resolved to one
of the two when the config is read (:func:`resolve`), and the run records the
engine it resolved to. Nothing here imports numba.
"""

from __future__ import annotations


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
        (t.loss in ("mse", "ce"), f"train.loss = {t.loss!r}"),
        (t.optimizer in ("sgd", "sdlm", "adamw"), f"train.optimizer = {t.optimizer!r}"),
        (t.optimizer != "sgd" or not t.momentum, f"train.momentum = {t.momentum!r}"),
        (t.optimizer != "sgd" or not t.weight_decay, f"train.weight_decay = {t.weight_decay!r}"),
        (t.optimizer != "sdlm" or t.sdlm_eps_scale == "none", f"train.sdlm_eps_scale = {t.sdlm_eps_scale!r}"),
    ]
    return next((what for ok, what in checks if not ok), None)


def forward_unsupported(net) -> str | None:
    """Why the compiled forward cannot run ``net`` (a key and its value), or None."""
    return next((what for ok, what in _model_checks(net.config) if not ok), None)


def inference(net, engine: str = "auto"):
    """(the engine's name, its forward) for scoring ``net``: the compiled
    forward for "numba", and for "auto" where it covers the network and numba
    is installed; the numpy layers' ``Network.predict`` otherwise."""
    if engine == "auto":
        engine = "numba" if forward_unsupported(net) is None and _numba_installed() else "numpy"
    if engine != "numba":
        return "numpy", net.predict
    from lecun89.engine.compiled import CompiledForward

    return engine, CompiledForward(net).predict
