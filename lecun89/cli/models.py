"""``lecun89 models``: the trained networks shipped with lecun89, with their errors."""

from __future__ import annotations

import json

from lecun89.cli.args import add_json


def run(args) -> int:
    from lecun89.reader import DEFAULT_MODEL, load_model, shipped_models

    shipped = shipped_models()
    if args.json:
        print(json.dumps([load_model(n).describe() for n in shipped]))
        return 0
    for name in shipped:
        d = load_model(name).describe()
        held = d["heldout"]
        strangers = (f"; other writers (MNIST test): clean {held['clean']:.2%}, photo {held['photo']:.2%}"
                     if held else "")
        default = " (default)" if name == DEFAULT_MODEL else ""
        none = (f"; not a digit when its score < {d['none_threshold']:.3f}"
                if d.get("none_threshold") is not None else "")
        print(f"{name + default:<22} USPS test error {d['test_error']:.2%}, reject gap < {d['threshold']:.3f} "
              f"({d['rejection_at_1pct']:.1%} of test digits) for 1% error{none}{strangers}; {d['description']}")
    return 0


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list the shipped trained models",
                       description="The trained networks shipped with lecun89 (used by predict and serve).")
    add_json(m, "one JSON list")
    m.set_defaults(func=run)
