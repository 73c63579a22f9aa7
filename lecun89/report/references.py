"""The reference figures (``lecun89/references.json``: the paper's, the 2022
replication's, each with its source) and which a run is compared with."""

from __future__ import annotations

import json
from importlib import resources


def load_references() -> dict:
    """The parsed ``lecun89/references.json``."""
    text = resources.files("lecun89").joinpath("references.json").read_text(encoding="utf-8")
    return json.loads(text)


def references_for(config_name: str | None, arch: str | None, refs: dict | None = None) -> list[dict]:
    """The reference entries a run is compared with, primary first, each with its ``id``."""
    refs = refs or load_references()
    ids = refs["configs"].get(config_name or "")
    if ids is None:
        ids = refs["arch_default"].get(arch or "", refs["arch_default"]["net1989"])
    return [dict(refs["references"][i], id=i) for i in ids]
