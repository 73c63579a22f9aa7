"""Training: the loop, the run directory, and ``lecun89 train``.

A run directory holds everything needed to read, resume and report a run:

- ``config.toml``   the resolved config (reloads to the same config);
- ``metrics.jsonl`` one JSON object per pass (train/test loss, error, MSE over the outputs
                    (twice the paper's MSE: metrics.paper_mse), lr, seconds; with
                    ``data.validation``, the validation loss, error, misses, MSE);
- ``results.json``  the final numbers (the paper's table), see :func:`final_results`;
- ``outputs.npz``   final network outputs on both splits (for reports, rejection), and
                    with ``data.validation`` on the held-out digits (``validation_outputs``,
                    ``validation_labels``);
- ``model.npz``     the checkpoint (PyTorch layout, the paper's names);
- ``state.npz``     everything else needed to resume bit-identically (optimizer
                    state, random generators, passes done);
- ``meta.json``     versions, git commit, seed, data checksum, threads, times.

Every file is written to a temporary name and renamed, after each pass, so an
interrupted run (Ctrl-C, a kill) always leaves the last completed pass behind,
and ``--resume`` continues from it to the same result as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lecun89 import metrics, rundir
from lecun89.version import __version__
from lecun89 import losses
from lecun89.atomic import save_npz, write_text
from lecun89.augment import DISTORTIONS, distort, params_of
from lecun89.config import Config, config_hash, to_toml
from lecun89.data.validation import with_validation
from lecun89.errors import UserError
from lecun89.model import Network, build_model, save_checkpoint
from lecun89.optim import lr_at, make_optimizer
from lecun89.provenance import source
from lecun89.threads import one_thread, thread_info

RUNS_DIR = Path("runs")
# A set-up of the numba engine longer than this was a compile (not a load from
# numba's cache): the terminal is told why the run took that long to start.
COMPILE_NOTICE_SECONDS = 1.0


# --- data ----------------------------------------------------------------------

def load_data(cfg: Config, data_dir=None):
    from lecun89.data import load_dataset

    return load_dataset(cfg.data.name, data_dir, subset=cfg.data.subset, subset_seed=cfg.data.subset_seed)


def pad_images(x: np.ndarray, background: float = -1.0) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H+2, W+2) with a 1-pixel border of background."""
    h, w = x.shape[-2:]
    padded = np.full(x.shape[:-2] + (h + 2, w + 2), background)
    padded[..., 1:h + 1, 1:w + 1] = x
    return padded


def shift_batch(padded: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift each image by -1, 0 or +1 pixel in each direction (drawn per image),
    from images padded by :func:`pad_images` so that background fills the gap."""
    n = len(padded)
    h, w = padded.shape[-2] - 2, padded.shape[-1] - 2
    dy, dx = rng.integers(-1, 2, size=(2, n))
    if n == 1:  # a view: the online case costs no copy
        return padded[:, :, 1 - dy[0]:1 - dy[0] + h, 1 - dx[0]:1 - dx[0] + w]
    out = np.empty(padded.shape[:-2] + (h, w))
    for i in range(n):
        out[i] = padded[i, :, 1 - dy[i]:1 - dy[i] + h, 1 - dx[i]:1 - dx[i] + w]
    return out


# --- evaluation ------------------------------------------------------------------

def evaluate(net: Network, x: np.ndarray, labels: np.ndarray, train_cfg, predict=None) -> dict:
    """Outputs and scores of the network on (x, labels), in inference mode
    (``predict``: the engine's forward, by default ``net.predict``).

    ``loss`` is the training cost (the one the optimizer minimises); ``half_mse``
    is the paper's MSE and ``mse`` the mean over the outputs, twice it
    (:mod:`lecun89.metrics`), both None for a network whose outputs are
    unsquashed logits, where they would mean nothing."""
    out = (predict or net.predict)(x)
    loss = losses.make_loss(train_cfg.loss, train_cfg.cost_scale).forward(out, labels) if len(labels) else float("nan")
    return {"outputs": out, "loss": loss, **metrics.scores(out, labels, net.config.output_activation != "none")}


# --- the training loop -----------------------------------------------------------

class Trainer:
    """Owns the network, optimizer and random generators of one run."""

    def __init__(self, cfg: Config, data):
        self.cfg, self.data = cfg, data
        self.net = build_model(cfg.model, cfg.seed)
        self.opt = make_optimizer(self.net, cfg.train)
        # Independent streams for data order/augmentation/SDLM sampling; the
        # model's own generator (dropout) was seeded by build_model.
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.passes_done = 0
        loss = losses.make_loss(cfg.train.loss, cfg.train.cost_scale)
        self._grad = loss.grad
        self._targets = loss.targets(data.y_train)
        self.engine = None
        self.predict = self.net.predict  # the engine's inference, for the evaluations between passes
        if cfg.train.engine == "numba":
            from lecun89.engine import NumbaPass

            self.engine = NumbaPass(self.net, cfg.train)
            self.predict = self.engine.predict
            # A writeable copy: the compiled pass is specialised for writeable arrays
            # (and was compiled for them before the first pass).
            self._x16 = np.array(data.x_train[:, 0], dtype=np.float64, order="C", copy=True)

    # -- state for resume --
    def state(self) -> dict[str, np.ndarray]:
        s = {"flat": self.net.flat.copy(), "passes_done": np.array(self.passes_done)}
        for k, v in self.opt.state.items():
            s[f"opt.{k}"] = v.copy()
        s["rng"] = np.array(json.dumps(self.rng.bit_generator.state))
        s["model_rng"] = np.array(json.dumps(self.net.rng.bit_generator.state))
        return s

    def load_state(self, s: dict) -> None:
        self.net.flat[...] = s["flat"]
        self.passes_done = int(s["passes_done"])
        for k in self.opt.state:
            self.opt.state[k][...] = s[f"opt.{k}"]
        self.rng.bit_generator.state = json.loads(str(s["rng"]))
        self.net.rng.bit_generator.state = json.loads(str(s["model_rng"]))

    # -- one pass --
    def run_pass(self, progress=None) -> float:
        """One pass over the training set; returns its learning rate."""
        cfg, net, opt = self.cfg.train, self.net, self.opt
        x, t = self.data.x_train, self._targets
        if cfg.augment in DISTORTIONS:  # first: the whole set distorted, in data order, for either engine
            x = distort(x, cfg.augment, params_of(cfg), self.rng)
        lr = lr_at(cfg, self.passes_done)
        opt.start_pass(lr, x, self.data.y_train, self.rng)
        if self.engine is not None:
            return self._compiled_pass(lr, progress, None if x is self.data.x_train else x)
        if cfg.order == "shuffle":
            perm = self.rng.permutation(len(x))
            x, t = x[perm], t[perm]
        n, b = len(x), cfg.batch_size
        augment = cfg.augment == "shift"
        if augment:
            x = pad_images(x)
        forward, backward, step, grad = net.forward, net.backward, opt.step, self._grad
        report_every = max(1, 512 // b) * b
        for start in range(0, n, b):
            xb = x[start:start + b]
            if augment:
                xb = shift_batch(xb, self.rng)
            backward(grad(forward(xb, True), t[start:start + b]))
            step()
            if progress is not None and (start + b) % report_every == 0:
                progress(start + b)
        if progress is not None:
            progress(n)
        self.passes_done += 1
        return lr

    def _compiled_pass(self, lr: float, progress=None, distorted=None) -> float:
        """The same pass with the numba engine: the same order (and generator
        draws), in chunks so progress shows and Ctrl-C lands between digits;
        on ``distorted`` (the pass's distorted training set), if given."""
        x16 = self._x16 if distorted is None else np.ascontiguousarray(distorted[:, 0])
        n = len(x16)
        order = self.rng.permutation(n) if self.cfg.train.order == "shuffle" else np.arange(n)
        chunk = max(1, 512 // self.cfg.train.batch_size) * self.cfg.train.batch_size  # whole batches
        for start in range(0, n, chunk):
            steps = order[start:start + chunk]
            uniforms, shifts = self.engine.draws(len(steps), self.rng)
            self.engine.run(x16, self._targets, steps, lr, self.opt.state, uniforms=uniforms, shifts=shifts,
                            eta=getattr(self.opt, "eta", None))
            if progress is not None:
                progress(min(n, start + chunk))
        self.passes_done += 1
        return lr


# --- run directory -------------------------------------------------------------

def _versions() -> dict:
    from importlib.metadata import version  # the installed version, without importing scikit-learn (a second)

    return {"python": platform.python_version(), "numpy": np.__version__,
            "scikit-learn": version("scikit-learn"), "lecun89": __version__,
            "platform": platform.platform()}


def validation_results(data, val_ev: dict | None) -> dict:
    """results.json's validation keys: none without a validation split."""
    if val_ev is None:
        return {}
    split = data.meta["validation"]
    return {"validation_error": val_ev["error"], "validation_misses": val_ev["misses"],
            "validation_mse": val_ev["mse"], "validation_half_mse": val_ev["half_mse"],
            "validation_loss": val_ev["loss"], "validation_size": int(len(data.y_val)),
            "validation": split["n"], "validation_seed": split["seed"],
            "validation_indices_sha256": split["indices_sha256"]}


def validation_row(val_ev: dict | None) -> dict:
    """metrics.jsonl's validation columns: none without a validation split."""
    if val_ev is None:
        return {}
    return {"validation_loss": val_ev["loss"], "validation_error": val_ev["error"],
            "validation_misses": val_ev["misses"], "validation_mse": val_ev["mse"]}


def final_results(cfg: Config, net: Network, train_ev: dict, test_ev: dict, data, seconds: float) -> dict:
    tot = net.totals()
    return {
        "config_name": cfg.name,
        "config_hash": config_hash(cfg),
        "dataset": cfg.data.name,
        "passes": cfg.train.passes,
        "train_error": train_ev["error"],
        "test_error": test_ev["error"],
        "train_misses": train_ev["misses"],
        "test_misses": test_ev["misses"],
        "train_mse": train_ev["mse"],
        "test_mse": test_ev["mse"],
        "train_half_mse": train_ev["half_mse"],
        "test_half_mse": test_ev["half_mse"],
        "train_loss": train_ev["loss"],
        "test_loss": test_ev["loss"],
        "train_size": int(len(data.y_train)),
        "test_size": int(len(data.y_test)),
        "rejection_at_1pct": metrics.rejection_at(test_ev["outputs"], data.y_test, 0.01),
        "units": tot["units"],
        "connections": tot["connections"],
        "params": tot["params"],
        "seconds": seconds,
        "seed": cfg.seed,
        "data_checksum": data.meta.get("checksum"),
        "architecture": net.summary_rows(),
    }


def default_out_dir(cfg: Config) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RUNS_DIR / cfg.name / stamp
    i = 1
    while out.exists():
        i += 1
        out = RUNS_DIR / cfg.name / f"{stamp}-{i}"
    return out


@dataclass
class Progress:
    """A tqdm bar per pass on a terminal; nothing per digit otherwise."""

    enabled: bool

    def bar(self, total: int, desc: str):
        if not self.enabled:
            return None, lambda done: None
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="digit", leave=False, file=sys.stderr,
                   dynamic_ncols=True, mininterval=0.2)

        def update(done):
            bar.update(done - bar.n)

        return bar, update


def run_training(cfg: Config, out_dir: Path, data_dir=None, resume: bool = False, quiet: bool = False,
                 progress: bool | None = None, data=None, extra: dict | None = None, claim: bool = True,
                 watch=None) -> dict:
    """Train ``cfg`` into ``out_dir`` (see the module docstring); returns results.json's dict.

    ``data``: the data set, already loaded (else it is loaded from ``data_dir``);
    ``extra``: more keys for results.json (a study's variant and overrides).
    The run directory is claimed for this process first (:func:`lecun89.rundir.claim`),
    so that no other run, resume or sweep writes into it meanwhile; ``claim=False``
    when the caller holds it (a sweep claims its runs' directories itself).
    ``watch``: an onlooker (the page's Train tab, :mod:`lecun89.serve.training`),
    told ``watch.started(trainer)`` before the first pass, ``watch.chunk(trainer,
    p, done)`` every 512 digits of pass ``p`` (``done`` digits into it) and
    ``watch.passed(trainer, row)`` after each pass's row is written. It sees the
    trainer between two steps, must not change it, and may raise to end the run
    there: the run directory then keeps the last completed pass, as after Ctrl-C."""
    out_dir = Path(out_dir)
    if data is None:
        data = load_data(cfg, data_dir)  # fails before anything is written
    if resume and not (out_dir / rundir.CONFIG).exists():
        raise UserError(f"--resume {out_dir}: no config.toml there; not a run directory")
    with rundir.claim(out_dir) if claim else contextlib.nullcontext():
        return _train_into(cfg, out_dir, data, resume, quiet, progress, extra, watch)


def _train_into(cfg: Config, out_dir: Path, data, resume: bool, quiet: bool, progress: bool | None,
                extra: dict | None, watch=None) -> dict:
    """:func:`run_training`'s work, in a run directory this process holds."""
    say = (lambda *a, **k: None) if quiet else (lambda *a, **k: print(*a, **k, flush=True))
    data = with_validation(data, cfg.data.validation, cfg.data.validation_seed)
    trainer = Trainer(cfg, data)
    if trainer.engine is not None and trainer.engine.compile_seconds > COMPILE_NOTICE_SECONDS and not quiet:
        print(f"compiling the numba engine (once; later runs load numba's cache)... "
              f"{trainer.engine.compile_seconds:.1f} s", file=sys.stderr, flush=True)
    metrics_path = out_dir / rundir.METRICS
    state_path = out_dir / rundir.STATE
    rows: list[dict] = []
    if resume:
        if state_path.exists():
            trainer.load_state(rundir.read_npz(state_path))
        if metrics_path.exists():
            rows = rundir.read_metrics(metrics_path)
        rows = rows[:trainer.passes_done]
        say(f"resuming {out_dir} after pass {trainer.passes_done} of {cfg.train.passes}")
    else:
        if rundir.has_files(out_dir):
            raise UserError(f"--out {out_dir}: directory exists and is not empty; "
                            f"choose another --out or continue it with --resume {out_dir}")
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text(out_dir / rundir.CONFIG, to_toml(cfg))
    meta_path = out_dir / rundir.META
    meta = rundir.read_json(meta_path) if resume and meta_path.exists() else {
        "start": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in rows))

    if progress is None:
        progress = sys.stderr.isatty() and not quiet
    prog = Progress(progress)
    t_cfg = cfg.train
    n_train = len(data.y_train)
    say(f"{cfg.name}: {cfg.model.arch} on {cfg.data.name} ({n_train:,} train / {len(data.y_test):,} test), "
        f"{t_cfg.optimizer}, batch {t_cfg.batch_size}, {t_cfg.passes} passes, seed {cfg.seed} -> {out_dir}")
    train_seconds = sum(r["seconds"] for r in rows)
    tr = te = va = None
    has_val = data.y_val is not None
    with one_thread():
        threads = thread_info()
        if watch is not None:
            watch.started(trainer)
        while trainer.passes_done < t_cfg.passes:
            p = trainer.passes_done + 1
            bar, update = prog.bar(n_train, f"pass {p}/{t_cfg.passes}")
            if watch is not None:
                update = _watched(update, watch, trainer, p)
            t0 = time.perf_counter()
            try:
                lr = trainer.run_pass(update)
            finally:
                if bar is not None:
                    bar.close()
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            tr = evaluate(trainer.net, data.x_train, data.y_train, t_cfg, trainer.predict)
            te = evaluate(trainer.net, data.x_test, data.y_test, t_cfg, trainer.predict)
            va = evaluate(trainer.net, data.x_val, data.y_val, t_cfg, trainer.predict) if has_val else None
            row = {"pass": p, "train_loss": tr["loss"], "train_error": tr["error"], "test_loss": te["loss"],
                   "test_error": te["error"], "train_mse": tr["mse"], "test_mse": te["mse"], "lr": lr,
                   "seconds": seconds, **validation_row(va)}
            rows.append(row)
            # Checkpoint the pass: model, then resume state, then the metrics row.
            save_checkpoint(trainer.net, out_dir / rundir.MODEL)
            save_npz(state_path, trainer.state())
            with open(metrics_path, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            val = f"val err {va['error']:7.2%}  " if has_val else ""
            say(f"pass {p:>3}/{t_cfg.passes}  lr {lr:.2e}  train loss {tr['loss']:.4f} err {tr['error']:7.2%}  "
                f"{val}test loss {te['loss']:.4f} err {te['error']:7.2%}  ({seconds:.2f}s)")
            if watch is not None:
                watch.passed(trainer, row)
        if tr is None:  # resumed a finished run: evaluate the saved weights
            tr = evaluate(trainer.net, data.x_train, data.y_train, t_cfg, trainer.predict)
            te = evaluate(trainer.net, data.x_test, data.y_test, t_cfg, trainer.predict)
            va = evaluate(trainer.net, data.x_val, data.y_val, t_cfg, trainer.predict) if has_val else None
    results = final_results(cfg, trainer.net, tr, te, data, train_seconds)
    results.update(validation_results(data, va))
    results.update(extra or {})
    val_out = {"validation_outputs": va["outputs"], "validation_labels": data.y_val} if has_val else {}
    save_npz(out_dir / rundir.OUTPUTS, {"train_outputs": tr["outputs"], "train_labels": data.y_train,
                                        "test_outputs": te["outputs"], "test_labels": data.y_test, **val_out})
    meta.update({
        "versions": _versions(), "git_commit": source()["git_commit"], "install": source()["install"],
        "git_dirty": source()["git_dirty"], "seed": cfg.seed,
        "config_hash": config_hash(cfg), "data": data.meta, "data_checksum": data.meta.get("checksum"),
        "threads": threads, "blas_threads": 1,
        "engine": trainer.engine.info() if trainer.engine is not None else {"name": "numpy"},
        "end": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    })
    write_text(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_text(out_dir / rundir.RESULTS, json.dumps(results, indent=2) + "\n")
    say(format_results(results))
    return results


def _watched(update, watch, trainer, p):
    """The progress callback of pass ``p`` that also tells ``watch`` (see :func:`run_training`)."""
    def both(done):
        update(done)
        watch.chunk(trainer, p, done)

    return both


def format_results(r: dict) -> str:
    mse = (f"MSE (the paper's) {r['train_half_mse']:.2e} / {r['test_half_mse']:.2e}, "
           if r.get("train_half_mse") is not None else "")
    return (f"{r['config_name']} on {r['dataset']}, {r['passes']} passes, seed {r['seed']}: "
            f"train error {r['train_error']:.2%} ({r['train_misses']} of {r['train_size']:,}), "
            + (f"validation error {r['validation_error']:.2%} ({r['validation_misses']} of {r['validation_size']:,}), "
               if "validation_error" in r else "")
            + f"test error {r['test_error']:.2%} ({r['test_misses']} of {r['test_size']:,}), "
            f"{mse}"
            f"rejection for 1% test error {r['rejection_at_1pct']:.1%}, {r['seconds']:.1f}s training")
