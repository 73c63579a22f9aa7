"""Study files: a whole sweep (configs, a grid of overrides, variants, seeds) in one TOML file.

    # Learning rate x connection table on the embedded digits.   (the description)
    configs = ["quick"]        # config files (relative to this file) or shipped config names
    seeds = 3                  # seeds 0..N-1, or a list: [0, 5, 7]
    out = "runs/lr-table"      # the default output folder (relative to the working directory)
    sort = "test_error"        # optional: order of the summary ("-test_error": descending)

    [set]                      # overrides for every run
    train.passes = 5

    [grid]                     # every combination of these values (cartesian product)
    train.lr = [0.01, 0.03]
    model.h2_table = ["block", "full"]

    [variants.shuffled]        # named override sets, each crossed with the grid
    train.order = "shuffle"
    [variants.fixed]           # an empty variant: the config as it is

    [seeds_by_config]          # a config's own seeds (by its name), instead of `seeds`
    quick = 5

Every run is checked (keys, types, ranges, duplicates) when the file is read,
before anything runs. A run's directory is ``<config>/seed-<seed>`` when no
variant or grid value applies to it, else ``<config>/<label>-<hash>/seed-<seed>``:
the label names the variant and grid values readably (shortened past 48
characters) and the hash (8 hex digits of the run's overrides) keeps it unique.
On the command line ``--set``, ``--seeds``/``--seed-list`` and ``--out``
override the file; a ``--set`` on a key the grid varies replaces that axis.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lecun89.config import (CONFIG_DIR, SECTIONS, Config, config_hash, load_config, parse_override, read_toml,
                            resolve_config)
from lecun89.errors import UserError

STUDY_DIR = CONFIG_DIR / "studies"
TOP_KEYS = ("configs", "seeds", "seeds_by_config", "out", "sort", "set", "grid", "variants")
VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
LABEL_CHARS = 48


def _err(msg: str) -> UserError:
    return UserError(msg, status=2)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study: a resolved config (with its seed) and where it goes."""

    config: Config
    rel_dir: str                    # "<config>/seed-<s>" or "<config>/<label>-<hash>/seed-<s>"
    variant: str | None = None      # readable label: "shuffled, train.lr=0.01"; None: the config as is
    overrides: dict = field(default_factory=dict)  # the variant's and grid's overrides, "section.key" -> value

    def extra_results(self) -> dict | None:
        """What results.json records besides the numbers (nothing for a plain run)."""
        return None if self.variant is None else {"variant": self.variant, "overrides": self.overrides}

    def describe(self) -> str:
        v = f" [{self.variant}]" if self.variant else ""
        return f"{self.config.name}{v} seed {self.config.seed}"


@dataclass
class Study:
    source: str                     # the study file, or "command line"
    runs: list[PlannedRun]
    n_configs: int
    n_cells: int                    # (config, variant, grid point) cells
    out: str | None = None
    sort: str | None = None


# --- finding study files ---------------------------------------------------------

def shipped_studies() -> dict[str, Path]:
    """Name -> file of every shipped study (configs/studies/*.toml), sorted by name."""
    return {p.stem: p for p in sorted(STUDY_DIR.glob("*.toml"))}


def find_study(spec: str) -> Path | None:
    """The study file ``spec`` names, or None when it names a config: an existing
    file is a study when it has a study's top-level key (``configs``, ``grid``,
    ...: none of them is a config key); a bare name that is no file is a
    shipped study's name."""
    path = Path(spec)
    if path.is_file():
        return path if set(read_toml(path)) & set(TOP_KEYS) else None
    if not path.exists() and path.parent == Path(".") and path.suffix in ("", ".toml"):
        return shipped_studies().get(path.stem)
    return None


# --- values, labels, directory names ---------------------------------------------

def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_fmt(x) for x in v) + "]"
    return repr(v)


def _safe(text: str) -> str:
    """A folder-name-safe form: letters, digits and . , = + - _ only."""
    return re.sub(r"[^A-Za-z0-9.,=+_-]+", "", text.replace("[", "").replace("]", "").replace(" ", ""))


def _hash(overrides: dict) -> str:
    text = json.dumps(overrides, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def cell_label(variant: str | None, grid: dict) -> str | None:
    parts = ([variant] if variant else []) + [f"{k}={_fmt(v)}" for k, v in grid.items()]
    return ", ".join(parts) or None


def cell_dir(variant: str | None, grid: dict, overrides: dict) -> str | None:
    """The run directory's extra component, or None for the config as is."""
    if variant is None and not grid:
        return None
    short = [k.split(".")[-1] for k in grid]
    keys = [s if short.count(s) == 1 else k for s, k in zip(short, grid, strict=True)]
    parts = ([variant] if variant else []) + [f"{k}={_safe(_fmt(v))}" for k, v in zip(keys, grid.values(), strict=True)]
    readable = "+".join(parts)
    if len(readable) > LABEL_CHARS:
        readable = readable[:LABEL_CHARS].rstrip("+,=.")
    return f"{readable}-{_hash(overrides)}"


# --- override tables -----------------------------------------------------------

def _flatten(table: dict, where: str) -> dict[str, Any]:
    """An override table (``train.lr = 1``, ``"train.lr" = 1`` or ``[x.train] lr = 1``)
    as ``{"train.lr": 1}``; keys are checked to be config keys."""
    flat: dict[str, Any] = {}
    for k, v in table.items():
        if k in SECTIONS and isinstance(v, dict):
            for kk, vv in v.items():
                flat[f"{k}.{kk}"] = vv
        else:
            flat[k] = v
    for key in flat:
        section, _, name = key.partition(".")
        if key in ("name", "seed"):
            raise _err(f"{where}: {key!r} cannot be set here (the seeds come from 'seeds', the name from the config)")
        if section not in SECTIONS or name not in {f.name for f in fields(SECTIONS[section])}:
            hint = f"; allowed in [{section}]: {', '.join(f.name for f in fields(SECTIONS[section]))}" \
                if section in SECTIONS else f"; expected section.key with section one of {', '.join(SECTIONS)}"
            raise _err(f"{where}: unknown key {key!r}{hint}")
    return flat


def _nest(flat: dict[str, Any]) -> dict:
    out: dict = {}
    for key, v in flat.items():
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = v
    return out


def _load(spec, where: str, layers: list[tuple[str, dict]], sets: list[str] = (), seed: int | None = None) -> Config:
    """A config with override layers, its errors prefixed with the place in the study."""
    try:
        return load_config(spec, sets, seed=seed, layers=[(w, _nest(o)) for w, o in layers])
    except UserError as exc:
        msg = str(exc)
        raise _err(msg if msg.startswith(where) else f"{where}: {msg}") from None


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise _err(f"{where}: expected a number of seeds >= 1 or a list of seeds, got {value}")
        return list(range(value))
    if (isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in value) and len(set(value)) == len(value)):
        return list(value)
    raise _err(f"{where}: expected a number of seeds (e.g. 5) or a list of distinct integers >= 0, got {value!r}")


# --- reading a study -------------------------------------------------------------

def _config_spec(spec: str, base: Path | None) -> str | Path:
    if base is not None and (base / spec).is_file():
        return base / spec
    return spec


def read_study(path: str | Path, sets: list[str] = (), seeds: list[int] | None = None) -> Study:
    """Read and check a study file; ``sets`` (``--set``) and ``seeds`` override it."""
    path = Path(path)
    raw = read_toml(path)
    src = str(path)
    specs = _check_top(raw, src)
    from lecun89.report.sweep import check_sort  # the summary's columns are the report's to name

    sort = check_sort(raw.get("sort"), f"{src}: sort")
    base_seeds = _seeds(raw.get("seeds", 3), f"{src}: seeds")
    common = _flatten(raw.get("set", {}), f"{src} [set]")
    cli = {}
    for text in sets:
        cli.update(_flatten(parse_override(text), f"--set {text}"))
    grid = _grid(raw, src, cli)
    variants = _variants(raw, src, grid)
    resolved = [(s, _load(s, f"{src}: configs", [])) for s in (_config_spec(spec, path.parent) for spec in specs)]
    names = [c.name for _, c in resolved]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _err(f"{src}: configs: two configs share the name {', '.join(dup)}; give them distinct names "
                   "(the top-level 'name' key)")
    per_config = {}
    for name, value in raw.get("seeds_by_config", {}).items():
        if name not in names:
            raise _err(f"{src} [seeds_by_config] {name}: no config of that name in 'configs' ({', '.join(names)})")
        per_config[name] = _seeds(value, f"{src} [seeds_by_config] {name}")

    # Each value alone first, so that an error names the place it comes from.
    for s, _ in resolved:
        load_config(s, sets)
        if common:
            _load(s, f"{src} [set]", [(f"{src} [set]", common)])
        for key, values in grid.items():
            for v in values:
                _load(s, f"{src} [grid] {key}", [(f"{src} [grid]", {key: v})])
        for name, over in variants.items():
            _load(s, f"{src} [variants.{name}]", [(f"{src} [variants.{name}]", over)])

    cells = [(vname, dict(zip(grid, values, strict=True))) for vname in (list(variants) or [None])
             for values in itertools.product(*grid.values())]
    runs = []
    for s, cfg0 in resolved:
        for vname, point in cells:
            overrides = {**(variants[vname] if vname else {}), **point}
            label = cell_label(vname, point)
            where = f"{src}: config {cfg0.name}" + (f" [{label}]" if label else "")
            layers = [(f"{src} [set]", common), (where, overrides)]
            sub = cell_dir(vname, point, overrides)
            chosen = seeds if seeds is not None else per_config.get(cfg0.name, base_seeds)
            for seed in chosen:
                cfg = _load(s, where, layers, sets=list(sets), seed=seed)
                rel = f"{cfg.name}/{sub}/seed-{seed}" if sub else f"{cfg.name}/seed-{seed}"
                runs.append(PlannedRun(cfg, rel, label, overrides))
    _check_unique(runs, src)
    return Study(src, runs, len(resolved), len(resolved) * len(cells), raw.get("out"), sort)


def _check_top(raw: dict, src: str) -> list[str]:
    """The file's top-level keys and their types checked; its configs' specs."""
    for key in raw:
        if key not in TOP_KEYS:
            raise _err(f"{src}: unknown key {key!r} (allowed: {', '.join(TOP_KEYS)})")
    specs = raw.get("configs")
    if not isinstance(specs, list) or not specs or not all(isinstance(s, str) and s for s in specs):
        raise _err(f"{src}: 'configs' must be a non-empty list of config files or names, e.g. [\"quick\"]")
    for key, kind in (("out", str), ("sort", str)):
        if key in raw and not isinstance(raw[key], kind):
            raise _err(f"{src}: '{key}' must be a string, got {raw[key]!r}")
    for key in ("set", "grid", "variants", "seeds_by_config"):
        if key in raw and not isinstance(raw[key], dict):
            raise _err(f"{src}: '{key}' must be a table ([{key}]), got {raw[key]!r}")
    return specs


def _grid(raw: dict, src: str, cli: dict) -> dict[str, list]:
    """The [grid] table's axes (key -> values); a --set on a grid key replaces that axis."""
    grid: dict[str, list] = {}
    if "grid" in raw:
        flat = _flatten(raw["grid"], f"{src} [grid]")
        if not flat:
            raise _err(f"{src} [grid]: the grid is empty; give each key a list of values, or leave [grid] out")
        for key, values in flat.items():
            if not isinstance(values, list) or not values:
                raise _err(f"{src} [grid] {key}: expected a non-empty list of values, got {values!r}")
            if key not in cli:
                grid[key] = values
    return grid


def _variants(raw: dict, src: str, grid: dict) -> dict[str, dict]:
    """The [variants.NAME] tables (name -> flat overrides), none setting a key the grid varies."""
    variants: dict[str, dict] = {}
    if "variants" in raw:
        if not raw["variants"]:
            raise _err(f"{src} [variants]: no variants; add [variants.NAME] tables, or leave [variants] out")
        for name, table in raw["variants"].items():
            where = f"{src} [variants.{name}]"
            if not VARIANT_NAME.fullmatch(name):
                raise _err(f"{where}: a variant name is 1-40 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
            if not isinstance(table, dict):
                raise _err(f"{where}: expected a table of overrides, e.g. [variants.{name}] train.lr = 0.01")
            variants[name] = _flatten(table, where)
            clash = sorted(set(variants[name]) & set(grid))
            if clash:
                raise _err(f"{where}: sets {', '.join(clash)}, which [grid] also varies; leave it to one of them")
    return variants


def plain_study(specs: list[str], seeds: list[int], sets: list[str] = ()) -> Study:
    """``lecun89 sweep CONFIG...``: every config with every seed, no variants."""
    configs = [load_config(s, sets) for s in specs]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise _err(f"sweep: two configs share the name {sorted({n for n in names if names.count(n) > 1})}; "
                   "give them distinct names (the top-level 'name' key)")
    runs = [PlannedRun(load_config(s, sets, seed=seed), f"{c.name}/seed-{seed}")
            for s, c in zip(specs, configs, strict=True) for seed in seeds]
    return Study("command line", runs, len(configs), len(configs))


def _check_unique(runs: list[PlannedRun], src: str) -> None:
    seen: dict[str, PlannedRun] = {}
    dirs: dict[str, PlannedRun] = {}
    for r in runs:
        h = config_hash(r.config)
        if h in seen:
            a, b = seen[h], r
            raise _err(f"{src}: {a.describe()} and {b.describe()} are the same run (the same config and seed); "
                       "remove one of them")
        if r.rel_dir in dirs:  # pragma: no cover - the hash in the name prevents it
            raise _err(f"{src}: two runs would share the directory {r.rel_dir}")
        seen[h], dirs[r.rel_dir] = r, r


def resolve_named(spec: str) -> Path:
    """A config or study by name or path (for ``lecun89 configs show``)."""
    study = find_study(spec)
    return study if study is not None else resolve_config(spec)
