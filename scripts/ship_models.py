"""Make (or check) the trained models shipped in the package, lecun89/models/.

Each shipped model is one shipped config trained with seed 0 on the real USPS
digits; it travels as ``<name>.npz`` (the run's model.npz, ~80 KB) and
``<name>.json``: the config, the run's results, the output-gap threshold that
leaves 1% error on the test set (the paper's rejection criterion), and where and
how it was made. The seed is fixed by the issue that asked for them, not chosen
by results.

    python scripts/ship_models.py --data-dir DIR           # train and write lecun89/models/
    python scripts/ship_models.py --data-dir DIR --check   # train again; compare with what is shipped

Runs go under ``--work`` (default runs/ship-models/<config>/seed-0, the layout
of `lecun89 sweep`); a finished run there of exactly the same resolved config
is reused, e.g. ``--work runs/replication`` after scripts/replicate.sh.
Training takes about 8 s (lecun1989), 22 s (modern-usps) and 36 s (reader) here
on the compiled engine, the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lecun89 import metrics  # noqa: E402
from lecun89.config import config_hash, load_config, to_dict  # noqa: E402
from lecun89.errors import UserError  # noqa: E402
from lecun89.reader import SHIPPED  # noqa: E402

DESCRIPTIONS = {
    "lecun1989": "the paper's network trained as SN2.8 did (configs/lecun1989.toml, seed 0)",
    "modern-usps": "the paper's network with the 2022 replication's modern recipe "
                   "(configs/modern-usps.toml, seed 0)",
    "reader": "the paper's network with the modern recipe trained on USPS and 58,000 MNIST training digits "
              "as lecun89 predict reads them and 20,000 pictures with no digit (configs/reader.toml, seed 0)",
}
RESULT_KEYS = ("config_name", "config_hash", "dataset", "passes", "seed", "train_error", "test_error",
               "train_misses", "test_misses", "train_mse", "test_mse", "train_half_mse", "test_half_mse",
               "rejection_at_1pct", "data_checksum")


def train(name: str, work: Path, data_dir) -> Path:
    from lecun89.studies.sweep import run_status
    from lecun89.train import run_training

    cfg = dataclasses.replace(load_config(name), seed=0)
    run_dir = work / cfg.name / "seed-0"
    status = run_status(run_dir, cfg)
    if status == "other":
        raise UserError(f"{run_dir} holds a run of a different config; use another --work")
    if status == "done":
        print(f"{name}: reusing {run_dir} (same resolved config, finished)", flush=True)
    else:
        print(f"{name}: training into {run_dir}", flush=True)
        run_training(cfg, run_dir, data_dir, resume=status == "partial", quiet=True)
    return run_dir


def describe(name: str, run_dir: Path, data_dir) -> dict:
    from lecun89.data import load_dataset
    from lecun89.model import load_checkpoint
    from lecun89.provenance import source

    results = json.loads((run_dir / "results.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    # The threshold is set on the outputs of the numpy layers, the forward that
    # `lecun89 predict`, `models` and `serve` read with: the run's own outputs
    # (the compiled engine's, by default) agree to rounding, and a digit whose
    # gap is the threshold itself must fall on the same side in both.
    usps = load_dataset("usps", data_dir)
    with np.load(run_dir / "outputs.npz", allow_pickle=False) as z:
        if not np.array_equal(z["test_labels"], usps.y_test):
            raise UserError(f"{run_dir}: its test digits are not USPS's 2,007")
    out = load_checkpoint(run_dir / "model.npz").predict(usps.x_test)
    threshold = metrics.gap_threshold(out, usps.y_test, 0.01)
    cfg = load_config(name)
    none = none_threshold_of(run_dir / "model.npz", data_dir) if cfg.data.name.endswith("-junk") else {}
    return {
        "name": name,
        "description": DESCRIPTIONS[name],
        "config": to_dict(dataclasses.replace(cfg, seed=0)),
        "results": {k: results.get(k) for k in RESULT_KEYS},
        "reject_gap": threshold,
        "reject_note": "a digit is rejected when the gap between its two largest outputs is below "
                       "reject_gap: halfway between the smallest gap the paper's criterion accepts for 1% "
                       "error on the 2,007 USPS test digits and the largest gap it rejects",
        **none,
        "made": {
            "by": "python scripts/ship_models.py",
            "trained": {k: meta.get(k) for k in ("end", "git_commit", "git_dirty", "versions", "threads")},
            "shipped_from": source(),
            "shipped": dt.date.today().isoformat(),
        },
    }


def none_threshold_of(model_path: Path, data_dir) -> dict:
    """A junk-trained model's none-threshold and how it was chosen: the digit score
    (lecun89.reader.network.digit_score) under which at most NONE_REJECT of the
    tuning writers' clean digits fall, read as `lecun89 predict` reads them;
    with what it leaves of the tuning junk (lecun89.reader.junk.JUNK_GROUPS)."""
    from lecun89.model import load_checkpoint
    from lecun89.reader import heldout
    from lecun89.reader.junk import JUNK_GROUPS, NONE_REJECT, junk_of, none_threshold
    from lecun89.reader.models import Model
    from lecun89.reader.network import digit_score, read_batch

    model = Model("candidate", load_checkpoint(model_path), None)
    images, labels, idx = heldout.group_digits(heldout.TUNE, data_dir)
    clean = heldout.read_group(images, idx, "clean")
    ok = ~np.isnan(clean).any(axis=(1, 2))
    scores = digit_score(model, read_batch(model, clean[ok]))
    t = none_threshold(scores, NONE_REJECT)
    junk, _ = junk_of("tune", data_dir)
    found = ~np.isnan(junk).any(axis=(1, 2))
    taken = int(np.count_nonzero(digit_score(model, read_batch(model, junk[found])) >= t))
    return {"none_threshold": t,
            "none_note": f"a picture is not a digit when its digit score (the largest softmax probability) is "
                         f"below none_threshold: halfway between two tuning digits' scores, rejecting at most "
                         f"{NONE_REJECT:.2%} of the {int(ok.sum()):,} tuning writers' clean digits "
                         f"(heldout.TUNE, read as lecun89 predict reads them)",
            "none_tuning": {"clean_rejected": float(np.mean(scores < t)), "junk": int(len(junk)),
                            "junk_seed": JUNK_GROUPS["tune"][2], "junk_taken_as_digit": taken / len(junk)}}


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="directory with usps/ (default: $LECUN89_DATA, else the user cache)")
    ap.add_argument("--work", default="runs/ship-models", help="where the training runs go")
    ap.add_argument("--check", action="store_true", help="compare a fresh training with the shipped files")
    ap.add_argument("--only", choices=SHIPPED, action="append", help="one model (repeatable)")
    args = ap.parse_args()
    dest = ROOT / "lecun89" / "models"
    bad = 0
    try:
        for name in args.only or SHIPPED:
            run_dir = train(name, Path(args.work), args.data_dir)
            info = describe(name, run_dir, args.data_dir)
            if args.check:
                shipped = json.loads((dest / f"{name}.json").read_text())
                a, b = arrays(run_dir / "model.npz"), arrays(dest / f"{name}.npz")
                same_w = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
                same_cfg = shipped["results"]["config_hash"] == config_hash(
                    dataclasses.replace(load_config(name), seed=0))
                # The threshold sits halfway between two digits' gaps (metrics.gap_threshold): a
                # retraining agrees with it to rounding, and accepts the same digits.
                same_thr = abs(shipped["reject_gap"] - info["reject_gap"]) <= 1e-9 * max(1.0, abs(info["reject_gap"]))
                if "none_threshold" in info or "none_threshold" in shipped:  # recomputed from the tuning writers
                    same_thr = same_thr and abs(shipped.get("none_threshold", np.nan) - info.get(
                        "none_threshold", np.nan)) <= 1e-9
                ok = same_w and same_cfg and same_thr
                bad += not ok
                print(f"{name}: weights {'identical' if same_w else 'DIFFER'}, config "
                      f"{'same' if same_cfg else 'CHANGED'}, threshold {'same' if same_thr else 'DIFFERS'}")
                continue
            dest.mkdir(exist_ok=True)
            (dest / f"{name}.npz").write_bytes((run_dir / "model.npz").read_bytes())
            (dest / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
            r = info["results"]
            none = f", none-threshold {info['none_threshold']:.4f}" if "none_threshold" in info else ""
            print(f"{name}: test error {r['test_error']:.2%}, reject gap {info['reject_gap']:.4f} "
                  f"({r['rejection_at_1pct']:.1%} rejected){none} -> {dest / name}.npz")
    except UserError as exc:
        print(f"ship_models: error: {exc}", file=sys.stderr)
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
