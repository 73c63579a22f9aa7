"""``lecun89 eval``: error, misses, MSE and rejection of a saved checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from lecun89 import metrics, rundir
from lecun89.errors import UserError


def evaluate_checkpoint(model_path, dataset: str | None = None, split: str = "test", data_dir=None,
                        subset: str | None = None, subset_seed: int | None = None) -> dict:
    """Scores of ``model.npz`` on a dataset split, keyed like results.json."""
    from lecun89.config import ENV_ENGINE
    from lecun89.data import load_dataset
    from lecun89.engine import inference
    from lecun89.model import load_checkpoint

    model_path = Path(model_path)
    net = load_checkpoint(model_path)
    # The run directory's config says which data the model was trained on, and
    # the engine whose forward scored it between passes (the same bits here).
    data_cfg, engine = {}, "auto"
    cfg_path = model_path.parent / rundir.CONFIG
    if cfg_path.is_file():
        try:
            run_cfg = rundir.read_config(cfg_path)
            data_cfg, engine = run_cfg.data.__dict__, run_cfg.train.engine
        except UserError:
            data_cfg = {}
    engine, predict = inference(net, os.environ.get(ENV_ENGINE) or engine)
    name = dataset or data_cfg.get("name")
    if name is None:
        raise UserError(f"{model_path}: no config.toml beside it says which data it was trained on; "
                        "give --dataset NAME", status=2)
    same = name == data_cfg.get("name")
    data = load_dataset(
        name, data_dir,
        subset=subset or (data_cfg.get("subset", "paper") if same else "paper"),
        subset_seed=subset_seed if subset_seed is not None else (data_cfg.get("subset_seed", 0) if same else 0),
    )
    x, y = (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)
    out = predict(x)
    sc = metrics.scores(out, y, net.config.output_activation != "none")
    return {
        "dataset": name,
        "split": split,
        f"{split}_size": int(len(y)),
        **{f"{split}_{k}": sc[k] for k in ("error", "misses", "mse", "half_mse")},  # half_mse: SN2.8's printed error
        "rejection_at_1pct": metrics.rejection_at(out, y, 0.01),
        "units": net.totals()["units"],
        "connections": net.totals()["connections"],
        "params": net.totals()["params"],
        "data_checksum": data.meta.get("checksum"),
        "engine": engine,
    }
