"""lecun89: LeCun et al. 1989 (zip-code digits, Net-1989) in hand-written numpy backprop.

The handful of names a notebook needs (each imports its module when called, so
``import lecun89`` stays light):

- :func:`load_config`: a shipped config by name, or a TOML file, with overrides;
- :func:`fit`: train a config into a run directory, get its results (``fit``, not
  ``train``: ``lecun89.train`` is the training module);
- :func:`load_dataset`: a data set as arrays (``usps``, ``mnist16``, ``digits``, ...);
- :func:`build_model`, :func:`load_checkpoint`: a network, new or from ``model.npz``;
- :func:`load_model`, :func:`read_digit`: a shipped trained model, and its reading
  of a person's digit image.

A session, on the embedded digits (no data files needed):

>>> import lecun89
>>> cfg = lecun89.load_config("quick", ["train.passes=2"])
>>> result = lecun89.fit(cfg, getfixture("tmp_path") / "run")
>>> result["passes"], result["test_error"] < 0.5
(2, True)
>>> lecun89.read_digit("docs/seven.png")["digit"]
7
"""

from __future__ import annotations

from lecun89.version import __version__  # noqa: F401 (lecun89.__version__)

__all__ = ["build_model", "load_checkpoint", "load_config", "load_dataset", "load_model", "read_digit", "fit"]


def load_config(name_or_path=None, overrides=(), seed: int | None = None):
    """A config: a shipped one by name (``"lecun1989"``, ``"quick"``, ...; default
    ``quick``) or a TOML file, with ``SECTION.KEY=VALUE`` overrides.

    >>> cfg = load_config("lecun1989", ["train.passes=3"], seed=7)
    >>> cfg.name, cfg.seed, cfg.train.passes, cfg.train.optimizer
    ('lecun1989', 7, 3, 'sdlm')
    """
    from lecun89.config import load_config as _load

    return _load(name_or_path, list(overrides), seed=seed)


def fit(config, out_dir, data_dir=None, quiet: bool = True) -> dict:
    """Train ``config`` into the run directory ``out_dir`` (as ``lecun89 train``
    does, without the report); returns its results.json as a dict.
    ``data_dir``: where the data files are (for usps and mnist16)."""
    from pathlib import Path

    from lecun89.train import run_training

    return run_training(config, Path(out_dir), data_dir, quiet=quiet)


def load_dataset(name: str, data_dir=None, **options):
    """A data set by name: ``x_train`` (N, 1, 16, 16) in [-1, 1], ``y_train``,
    ``x_test``, ``y_test``; options as :func:`lecun89.data.load_dataset`.

    >>> ds = load_dataset("digits")
    >>> ds.x_train.shape, ds.x_test.shape, int(ds.y_train.max())
    ((1347, 1, 16, 16), (450, 1, 16, 16), 9)
    """
    from lecun89.data import load_dataset as _load

    return _load(name, data_dir, **options)


def build_model(model_config=None, seed: int = 0):
    """A new network with its initial weights, from a config's ``model`` section
    (default: ``lecun1989``'s, the paper's Net-1989).

    >>> net = build_model()
    >>> net.totals()
    {'units': 1256, 'connections': 64660, 'params': 9760}
    """
    from lecun89.model import build_model as _build

    return _build(model_config if model_config is not None else load_config("lecun1989").model, seed=seed)


def load_checkpoint(path):
    """A network from a run's ``model.npz``."""
    from lecun89.model import load_checkpoint as _load

    return _load(path)


def load_model(name=None):
    """A shipped trained model by name (default: ``lecun89 predict``'s), or a
    ``model.npz`` / run directory; ``.net`` is the network, ``.threshold`` its
    rejection gap.

    >>> m = load_model("lecun1989")
    >>> m.name, round(m.threshold, 3)
    ('lecun1989', 1.269)
    """
    from lecun89.reader import load_model as _load

    return _load(name)


def read_digit(path, model=None, deslant: bool = True) -> dict:
    """A person's digit image, read as ``lecun89 predict`` reads it: the digit,
    the ten outputs, the gap between the top two and whether it is rejected,
    and ``input`` (the 16x16 the network saw)."""
    from lecun89.reader import analyse
    from lecun89.reader import read_digit as _read

    m = model if hasattr(model, "net") else load_model(model)
    x16, _ = _read(path, deslant=deslant)
    return {**analyse(m, x16, maps=False), "input": x16.tolist()}
