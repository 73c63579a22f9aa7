"""Experiment configs: TOML files read with ``tomllib`` into frozen dataclasses.

A config names only what differs from the defaults below. ``--set
section.key=VALUE`` overrides are parsed as TOML values (a bare word is taken
as a string) and checked exactly like keys in a file: an unknown key, a wrong
type or an out-of-range value raises :class:`UserError` (exit status 2) naming
the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lecun89.data import DATASETS, SUBSETS
from lecun89.errors import UserError


def _config_dir() -> Path:
    """The shipped configs: the installed package ``lecun89.configs`` (the
    repository's configs/ folder, mapped at build time), else, in a source tree
    that was never installed, that folder itself."""
    try:
        return Path(str(importlib.resources.files("lecun89.configs")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "configs"


CONFIG_DIR = _config_dir()

DATASET_NAMES = tuple(DATASETS)
ARCHS = ("net1989", "fc")
ORDERS = ("fixed", "shuffle")
INITS = ("sqrt", "fanin")
BIASES = ("unit", "map", "none")
# The lists this module owns, and the data registry's (the others: see choices()).
_OWN_CHOICES = {"data.name": DATASET_NAMES, "data.subset": SUBSETS, "model.arch": ARCHS, "train.order": ORDERS,
                "model.init": INITS, "model.bias": BIASES}

# paper [open]: "not described"; the common block choice, as data.
BLOCK_TABLE = tuple(
    tuple(range(0, 8)) if m < 4 else tuple(range(4, 12)) if m < 8 else (0, 1, 2, 3, 8, 9, 10, 11)
    for m in range(12)
)


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"       # usps (the paper's digits) | mnist16 | digits (embedded) | usps-mnist
    subset: str = "paper"      # mnist16: "paper" = 7,291/2,007 seeded subset, "full" = 60,000/10,000
    subset_seed: int = 0       # mnist16: which subset
    validation: int = 0        # training digits held out for validation, stratified by class (0 = none)
    validation_seed: int = 0   # which digits are held out (not the run's seed: the same split for every seed)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "net1989"      # net1989 (the paper's net) | fc (its fully connected baseline)
    activation: str = "lecun"  # hidden units: lecun = 1.7159 tanh(2a/3) | tanh | sigmoid | relu
    output_activation: str = "lecun"  # paper: the same squashing at the output; "none" for logits
    h1_maps: int = 12
    h2_maps: int = 12
    h2_table: Any = "block"    # [open] "block" (see BLOCK_TABLE) | "full" | explicit rows of H1 maps
    h3_units: int = 30
    fc_hidden: int = 40        # arch = "fc": hidden units of the baseline
    pad_value_h1: float = -1.0  # paper: virtual background of -1 around the input
    pad_value_h2: float = -1.0  # [open] "handled as in H1"
    bias: str = "unit"         # paper: H1/H2 biases are not shared ("unit"); or "map"
    init: str = "sqrt"         # [open] U(+-scale/sqrt(F)) "sqrt" (replications) or U(+-scale/F) "fanin" (text)
    init_scale: float = 2.4
    init_fanin_bias: bool = False  # [open] F in the init counts the unit's bias (SN2.8 does); the epsilon
    #                            helpers (train.sdlm_eps_scale) always count it, as SN2.8's
    bias_init: str = "zero"    # [open] initial biases: "zero" | "uniform" (SN2.8: the weights' range)
    output_bias: float = 0.0   # [open] initial output biases (the 2022 replication: -1); bias_init "zero"
    dropout: float = 0.0       # probability, before H3 (0 = none, as in the paper)


@dataclass(frozen=True)
class TrainConfig:
    passes: int = 23
    batch_size: int = 1        # 1 = online, as in the paper
    order: str = "fixed"       # fixed (paper: constant order) | shuffle (reshuffled each pass)
    optimizer: str = "sdlm"    # sdlm (paper: diagonal Hessian "Newton") | sgd | adamw
    lr: float = 5e-4           # SGD/AdamW step; SDLM's epsilon
    schedule: str = "step"     # constant | step | linear | cosine
    lr_steps: Any = ((2, 5e-4), (3, 2e-4), (3, 1e-4), (4, 5e-5), (0, 1e-5))  # step: (passes, lr); 0 = the rest
    lr_final: float = 0.0      # linear/cosine: lr at the last pass
    momentum: float = 0.0      # sgd
    weight_decay: float = 0.0  # sgd (L2) and adamw (decoupled)
    betas: Any = (0.9, 0.999)  # adamw
    adam_eps: float = 1e-8     # adamw
    sdlm_mu: float = 0.02      # sdlm: eta = epsilon / (mu + h)
    sdlm_estimator: str = "snapshot"  # sdlm: how h is estimated: "snapshot" (LeNet-5, 1998: on sdlm_samples
    #                            patterns before each pass) | "running" (SN2.8: a running average, every step)
    sdlm_samples: int = 500    # sdlm snapshot: patterns used to re-estimate h before each pass
    sdlm_gamma: float = 0.05   # sdlm running: h <- (1 - gamma) h + gamma h(this pattern), before its step
    sdlm_eps_scale: str = "none"  # sdlm: per-weight epsilon, SN2.8's helpers: none | fanin (x/F) |
    #                            sqrt_fanin (x/sqrt F) | sqrt_fanin_share (x/sqrt(F S)); F: the unit's
    #                            fan-in with its bias, S: how many connections share the weight
    loss: str = "mse"          # mse (+-1 targets, the paper) | ce (softmax cross-entropy)
    cost_scale: str = "mean"   # mse per pattern: "mean" over the outputs (twice the paper's MSE) |
    #                            "half_sum" (SN2.8: 1/2 sum over the outputs, K/2 = 5 times "mean")
    augment: str = "none"      # none | shift (+-1 pixel, background fill) | affine | elastic (lecun89/augment.py:
    #                            every digit distorted afresh each pass, within the ranges below)
    affine_shift: float = 1.0  # affine: shift, pixels (each direction, U(+-x))
    affine_scale: float = 0.1  # affine: scale 1 + U(+-x) (< 1)
    affine_rotate: float = 10.0  # affine: rotation, degrees (U(+-x))
    affine_shear: float = 0.2  # affine: shear, x += U(+-x) y
    elastic_sigma: float = 3.0  # elastic (Simard et al. 2003): the field's Gaussian std, pixels (their 4 on
    #                            29x29 MNIST, digits ~20 px tall; USPS digits fill 16: 4 x 16/20 ~ 3)
    elastic_alpha: float = 19.0  # elastic: the field's scale (their 34 gives displacements of RMS 1.72 px on
    #                            a 20 px digit; 19 at sigma 3 gives 1.38 px, the same part of a 16 px digit)
    engine: str = "auto"       # numpy (the layers, the reference) | numba (whole online passes compiled:
    #                            the same arithmetic summed in another order, so other last bits; see
    #                            lecun89/engine/choice.py for what it covers) | auto (numba where it covers the
    #                            config, else numpy; the run's config.toml records which)


@dataclass(frozen=True)
class Config:
    name: str = "quick"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
# Keys older versions wrote into run directories' config.toml, read and ignored.
# train.eval_batch: evaluation now always runs in blocks of model.PREDICT_BATCH.
RETIRED_KEYS = {("train", "eval_batch")}


def _err(msg: str) -> UserError:
    return UserError(msg, status=2)


def _check_type(key: str, value: Any, default: Any) -> Any:
    """Coerce ``value`` to the type of the field's default, or raise."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _err(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _err(f"{key}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _err(f"{key}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str) and not isinstance(value, (list, tuple)):
        if not isinstance(value, str):
            raise _err(f"{key}: expected a string, got {value!r}")
        return value
    return value  # structured values (tables, step lists) are checked in _validate


def choices(key: str) -> tuple[str, ...]:
    """The values a config key takes, from the module that implements them (the
    one owner of each list; imported here when a config is checked, so that
    reading this module stays cheap)."""
    if key in _OWN_CHOICES:
        return _OWN_CHOICES[key]
    from lecun89 import augment, engine, layers, losses, optim

    owners = {
        "model.activation": layers.ACTIVATIONS[:-1],  # hidden units: all but "none"
        "model.output_activation": layers.ACTIVATIONS,
        "model.bias_init": layers.BIAS_INITS,
        "train.loss": tuple(losses.LOSSES),
        "train.cost_scale": losses.COST_SCALES,
        "train.optimizer": tuple(optim.OPTIMIZERS),
        "train.schedule": optim.SCHEDULES,
        "train.sdlm_estimator": optim.SDLM_ESTIMATORS,
        "train.sdlm_eps_scale": optim.EPS_SCALES,
        "train.engine": engine.ENGINES,
        "train.augment": augment.AUGMENTS,
    }
    if key not in owners:
        raise KeyError(key)
    return owners[key]


def _choice(key, value):
    allowed = choices(key)
    if value not in allowed:
        raise _err(f"{key}: {value!r} is not one of {', '.join(allowed)}")


def _loss_class(kind: str):
    from lecun89.losses import LOSSES

    return LOSSES[kind]


def _positive(key, value, allow_zero=False):
    if value < 0 or (value == 0 and not allow_zero):
        raise _err(f"{key}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _as_table(value, h1_maps, h2_maps):
    if value == "block":
        if (h1_maps, h2_maps) != (12, 12):
            raise _err("model.h2_table: 'block' needs h1_maps = h2_maps = 12; use 'full' or give the rows")
        return [list(r) for r in BLOCK_TABLE]
    if value == "full":
        return [list(range(h1_maps)) for _ in range(h2_maps)]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(r, (list, tuple)) for r in value):
        raise _err("model.h2_table: expected 'block', 'full' or a list of rows of H1 map indices")
    rows = [list(r) for r in value]
    if len(rows) != h2_maps:
        raise _err(f"model.h2_table: expected {h2_maps} rows (one per H2 map), got {len(rows)}")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width or width == 0:
            raise _err(f"model.h2_table: every row must list the same number (>0) of H1 maps; row {i} has {len(r)}")
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < h1_maps for v in r):
            raise _err(f"model.h2_table: row {i} must hold H1 map indices 0..{h1_maps - 1}, got {r}")
        if len(set(r)) != len(r):
            raise _err(f"model.h2_table: row {i} names an H1 map twice: {r}")
    return rows


def _validate(cfg: Config) -> Config:
    """Every key checked (a one-line UserError naming the first bad one), in the order
    data, model, train; the engine resolved; the structured values normalised."""
    d, m, t = cfg.data, cfg.model, cfg.train
    if cfg.seed < 0:
        raise _err(f"seed: must be an integer >= 0, got {cfg.seed}")
    _choice("data.name", d.name)
    _choice("data.subset", d.subset)
    _positive("data.validation", d.validation, allow_zero=True)  # its upper bound: when the data loads
    _positive("data.validation_seed", d.validation_seed, allow_zero=True)
    table = _check_model(m)
    steps, betas = _check_train(t)
    t = _check_engine(cfg, dataclasses.replace(m, h2_table=table), t)
    if isinstance(table, list):
        table = tuple(tuple(r) for r in table)
    return dataclasses.replace(
        cfg,
        model=dataclasses.replace(m, h2_table=table),
        train=dataclasses.replace(t, lr_steps=steps, betas=tuple(float(b) for b in betas)),
    )


def _check_model(m: ModelConfig):
    """The model section's keys; its H2 table as rows (the config's value for the fc network)."""
    _choice("model.arch", m.arch)
    _choice("model.activation", m.activation)
    _choice("model.output_activation", m.output_activation)
    _choice("model.bias", m.bias)
    _choice("model.init", m.init)
    _choice("model.bias_init", m.bias_init)
    if m.bias_init == "uniform" and m.output_bias != 0.0:
        raise _err(f"model.output_bias: sets the output biases with bias_init = \"zero\"; with \"uniform\" "
                   f"they are drawn (leave it at 0), got {m.output_bias!r}")
    for key in ("h1_maps", "h2_maps", "h3_units", "fc_hidden"):
        _positive(f"model.{key}", getattr(m, key))
    _positive("model.init_scale", m.init_scale)
    if not 0.0 <= m.dropout < 1.0:
        raise _err(f"model.dropout: must be in [0, 1), got {m.dropout!r}")
    return _as_table(m.h2_table, m.h1_maps, m.h2_maps) if m.arch == "net1989" else m.h2_table


def _check_train(t: TrainConfig) -> tuple[tuple, Any]:
    """The train section's keys (but the engine); its learning-rate steps as (passes, lr)
    pairs, and its betas."""
    _positive("train.passes", t.passes)
    _positive("train.batch_size", t.batch_size)
    _choice("train.order", t.order)
    _choice("train.optimizer", t.optimizer)
    _positive("train.lr", t.lr)
    _choice("train.schedule", t.schedule)
    _positive("train.lr_final", t.lr_final, allow_zero=True)
    steps = _lr_steps(t.lr_steps)
    if not 0.0 <= t.momentum < 1.0:
        raise _err(f"train.momentum: must be in [0, 1), got {t.momentum!r}")
    _positive("train.weight_decay", t.weight_decay, allow_zero=True)
    betas = t.betas
    if (not isinstance(betas, (list, tuple)) or len(betas) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise _err(f"train.betas: expected two numbers in [0, 1), got {betas!r}")
    _positive("train.adam_eps", t.adam_eps)
    _positive("train.sdlm_mu", t.sdlm_mu, allow_zero=True)
    _choice("train.sdlm_estimator", t.sdlm_estimator)
    _positive("train.sdlm_samples", t.sdlm_samples)
    if not 0.0 < t.sdlm_gamma <= 1.0:
        raise _err(f"train.sdlm_gamma: must be in (0, 1], got {t.sdlm_gamma!r}")
    _choice("train.sdlm_eps_scale", t.sdlm_eps_scale)
    _choice("train.loss", t.loss)
    _choice("train.cost_scale", t.cost_scale)
    if t.loss == "ce" and t.cost_scale != "mean":
        raise _err(f"train.cost_scale: {t.cost_scale!r} applies to loss = \"mse\"; cross-entropy takes \"mean\"")
    if t.optimizer == "sdlm" and t.sdlm_estimator == "running" and not _loss_class(t.loss).constant_curvature:
        raise _err("train.sdlm_estimator: \"running\" (SN2.8) is implemented for loss = \"mse\"; "
                   "use \"snapshot\" with cross-entropy")
    _choice("train.augment", t.augment)
    for key in ("affine_shift", "affine_scale", "affine_rotate", "affine_shear", "elastic_sigma", "elastic_alpha"):
        _positive(f"train.{key}", getattr(t, key), allow_zero=True)
    if t.affine_scale >= 1.0:
        raise _err(f"train.affine_scale: must be < 1 (a scale of 1 +- x), got {t.affine_scale!r}")
    return steps, betas


def _lr_steps(steps) -> tuple[tuple[int, float], ...]:
    if not isinstance(steps, (list, tuple)) or not steps or not all(
        isinstance(s, (list, tuple)) and len(s) == 2 for s in steps
    ):
        raise _err("train.lr_steps: expected a list of [passes, lr] pairs, e.g. [[2, 5e-4], [0, 1e-5]]")
    for n, lr in steps:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise _err(f"train.lr_steps: pass counts must be integers >= 0, got {n!r}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
            raise _err(f"train.lr_steps: learning rates must be numbers > 0, got {lr!r}")
    return tuple((int(n), float(lr)) for n, lr in steps)


def _check_engine(cfg: Config, m: ModelConfig, t: TrainConfig) -> TrainConfig:
    """train.engine checked, ``auto`` resolved for the config (its model ``m``, H2 table as rows)."""
    _choice("train.engine", t.engine)
    if t.engine == "auto":
        from lecun89.engine import resolve

        t = dataclasses.replace(t, engine=resolve(dataclasses.replace(cfg, model=m)))
    if t.engine == "numba":
        from lecun89.engine import unsupported

        why = unsupported(dataclasses.replace(cfg, model=m))
        if why:
            by_env = f" (from ${ENV_ENGINE})" if os.environ.get(ENV_ENGINE) == "numba" else ""
            raise _err(f"train.engine: \"numba\"{by_env} does not run {why} (it runs SGD, SDLM or AdamW at any batch size: "
                       "lecun89/engine/choice.py); use train.engine = \"numpy\"")
    return t


def _build(raw: dict, source: str) -> Config:
    top = {f.name: f for f in fields(Config)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in top:
            allowed = ", ".join(top)
            raise _err(f"{source}: unknown key {key!r} (allowed at the top: {allowed})")
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise _err(f"{source}: [{key}] must be a table")
            cls = SECTIONS[key]
            sub_fields = {f.name: f for f in fields(cls)}
            sub = {}
            for k, v in value.items():
                if (key, k) in RETIRED_KEYS:
                    continue
                if k not in sub_fields:
                    raise _err(f"{source}: unknown key '{key}.{k}' (allowed: {', '.join(sub_fields)})")
                sub[k] = _check_type(f"{key}.{k}", v, sub_fields[k].default)
            kwargs[key] = cls(**sub)
        else:
            kwargs[key] = _check_type(key, value, top[key].default)
    return Config(**kwargs)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_override(text: str) -> dict:
    """``section.key=VALUE`` (or ``key=VALUE`` at the top) -> nested dict."""
    if "=" not in text:
        raise _err(f"--set {text!r}: expected section.key=VALUE")
    key, _, value = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not key or len(parts) > 2 or not all(parts):
        raise _err(f"--set {text!r}: expected section.key=VALUE, e.g. train.lr=0.01")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # a bare word is a string
    out: dict = {parts[-1]: parsed}
    if len(parts) == 2:
        out = {parts[0]: out}
    return out


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise _err(f"config {path}: no such file") from None
    except IsADirectoryError:
        raise _err(f"config {path}: is a directory, expected a .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise _err(f"config {path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _err(f"config {path}: cannot read: {exc}") from None


def shipped_configs() -> dict[str, Path]:
    """Name -> file of every shipped config, sorted by name."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.toml"))}


def resolve_config(spec: str | Path) -> Path:
    """A config argument as a file: a path that exists wins; else a bare name
    (``lecun1989`` or ``lecun1989.toml``) is a shipped config."""
    path = Path(spec)
    if path.exists():
        return path
    shipped = shipped_configs()
    if path.parent == Path(".") and path.suffix in ("", ".toml") and path.stem in shipped:
        return shipped[path.stem]
    names = ", ".join(shipped) or "none found"
    raise _err(f"config {spec}: no such file, and no shipped config of that name (shipped: {names})")


def describe_config(path: Path) -> str:
    """A config file's one-line description: its leading comment's first
    paragraph (up to a bare "#" line)."""
    lines = []
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#") or not line.lstrip("#").strip():
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines).rstrip(".")


# The engine every config runs on, before a study's or --set's own choice: e.g.
# LECUN89_ENGINE=numpy where numba cannot be loaded (the numpy layers compute
# the same to rounding, slower). The run's config.toml records the engine.
ENV_ENGINE = "LECUN89_ENGINE"


def load_config(path: str | Path | None = None, overrides: list[str] = (), seed: int | None = None,
                layers: list[tuple[str, dict]] = ()) -> Config:
    """Read a config (a file, or a shipped config's name; default: the shipped
    ``quick``), apply ``$LECUN89_ENGINE`` (a train.engine for every config: see
    :data:`ENV_ENGINE`), then ``layers`` (``(where, nested dict)`` pairs of
    overrides, as a study file gives them), then ``--set`` overrides and an
    optional seed, validate, and return the frozen :class:`Config`."""
    path = resolve_config("quick" if path is None else path)
    raw = read_toml(path)
    raw = dict(raw)
    raw.setdefault("name", Path(path).stem)
    source = str(path)
    cfg = _build(raw, source)
    engine = os.environ.get(ENV_ENGINE)
    if engine:
        if engine not in choices("train.engine"):
            raise _err(f"{ENV_ENGINE}: {engine!r} is not one of {', '.join(choices('train.engine'))}")
        raw = _merge(raw, {"train": {"engine": engine}})
        cfg = _build(raw, f"{ENV_ENGINE}={engine}")
    for where, over in layers:
        raw = _merge(raw, over)
        cfg = _build(raw, where)
    for text in overrides:
        raw = _merge(raw, parse_override(text))
        cfg = _build(raw, f"--set {text}")
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    return _validate(cfg)


def config_from_dict(raw: dict, source: str = "config") -> Config:
    return _validate(_build(raw, source))


def to_dict(cfg) -> dict:
    """Plain nested dict (tuples as lists), for JSON/TOML."""

    def conv(v):
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v

    return {k: (conv(v) if not isinstance(v, dict) else {kk: conv(vv) for kk, vv in v.items()})
            for k, v in dataclasses.asdict(cfg).items()}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(cfg: Config) -> str:
    """The resolved config as TOML text that :func:`load_config` reads back equal."""
    d = to_dict(cfg)
    lines = [f"name = {_toml_value(d['name'])}", f"seed = {_toml_value(d['seed'])}", ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in d[section].items()]
        lines.append("")
    return "\n".join(lines)


# Keys added after run directories existed: hashed only when set away from their
# default, so every older run keeps its identity (and a sweep still resumes it).
HASH_IF_SET = {("train", "engine"): "numpy", ("data", "validation"): 0, ("data", "validation_seed"): 0,
               **{("train", f.name): f.default for f in fields(TrainConfig) if f.name.startswith(("affine_", "elastic_"))}}

HASH_IF_SET.update({("model", "init_fanin_bias"): False, ("model", "bias_init"): "zero"})  # SN2.8's init, off


def config_hash(cfg: Config) -> str:
    """sha256 of the resolved config (canonical JSON); the run's identity."""
    d = to_dict(cfg)
    for (section, key), default in HASH_IF_SET.items():
        if d[section].get(key) == default:
            del d[section][key]
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
