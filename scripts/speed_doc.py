"""The speed figures as the docs show them, made from one run of scripts/bench.py.

The benchmark writes every number it measured as JSON (``--json``;
docs/speed.json is the run the docs quote); this script derives the tables
from it (each workload against its floor, every target judged) and writes them
into docs/speed.md and the README between their ``<!-- begin NAME: ... -->``
and ``<!-- end NAME -->`` lines, so no figure there is copied by hand.

    python scripts/speed_doc.py                    # rewrite the blocks from docs/speed.json
    python scripts/speed_doc.py --json FILE        # from another run
    python scripts/speed_doc.py --check            # exit 1 if a block differs from what docs/speed.json gives

The benchmark prints :func:`render`'s full text; the docs take :func:`blocks`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JSON = ROOT / "docs" / "speed.json"
DOCS = (ROOT / "docs" / "speed.md", ROOT / "README.md")
COMMAND = "python scripts/speed_doc.py"

# What each in-process workload is, as the tables name it.
LABELS = {
    "sgd_b1": "SGD pass, batch 1 (`lecun1989-sgd`)",
    "sgd_b32": "SGD pass, batch 32",
    "sdlm_running": "SDLM pass, SN2.8's running curvature (`lecun1989`)",
    "sdlm_snapshot": "SDLM pass, LeNet-5's snapshot (`lecun1989-lenet5`)",
    "modern_usps": "`modern-usps` pass (ReLU, dropout, shifts, cross-entropy, AdamW)",
    "infer": "inference",
}
SNAPSHOT_SAMPLES = 500  # lecun1989-lenet5's sdlm_samples: its curvature estimate before each pass


# --- derived numbers ---------------------------------------------------------------

def _useful_flops(res: dict) -> dict:
    """Each workload's useful FLOPs (multiply-adds from the geometry, 2 FLOPs each)."""
    mac = res["macs_per_digit"]["useful"]
    n, fwd, train = res["n_train"], mac["forward"], mac["train"]
    second = 2 * train - fwd  # the training step plus the second-derivative pass (the backward again)
    return {"sgd_b1": 2 * n * train, "sgd_b32": 2 * n * train, "sdlm_running": 2 * n * second,
            "sdlm_snapshot": 2 * (n + min(SNAPSHOT_SAMPLES, n)) * train, "modern_usps": 2 * n * train,
            "infer": 2 * res["n_infer"] * fwd}


def _entries(res: dict, key: str) -> dict:
    """Every timing of one workload, by who ran it: numpy, numba, torch:<set-up>, jax."""
    out = {}
    if key == "infer":
        out = {e: res["inference"][e] for e in ("numpy", "numba") if e in res["inference"]}
    else:
        out = {e: res["lecun89"][e][key] for e in ("numpy", "numba") if key in res["lecun89"][e]}
    peer_key = {"sgd_b1": "b1", "sgd_b32": "b32", "infer": "infer"}.get(key)
    for name, t in (res["torch"].get("configs") or {}).items():
        if peer_key:
            out[f"torch:{name}"] = t[peer_key]
    if key == "sgd_b1" and "b1" in res["jax"]:
        out["jax"] = res["jax"]["b1"]
    return out


def workloads(res: dict) -> dict:
    """Each workload: its label, useful FLOPs, floor (those FLOPs at the measured
    float64 peak) and every run's best and median seconds, GFLOP/s and multiple of the floor."""
    peak = res["peak"]["float64_gflops"] * 1e9
    flops = _useful_flops(res)
    out = {}
    for key, label in LABELS.items():
        floor = flops[key] / peak
        entries = {who: {"best": t["best"], "median": t["median"], "gflops": flops[key] / t["best"] / 1e9,
                         "x_floor": t["best"] / floor} for who, t in _entries(res, key).items()}
        if entries:
            out[key] = {"label": label, "useful_flops": flops[key], "floor_seconds": floor, "runs": entries}
    return out


def _fastest_torch(row: dict) -> tuple[str, float] | None:
    torch = {k[6:]: v["best"] for k, v in row["runs"].items() if k.startswith("torch:")}
    if not torch:
        return None
    name = min(torch, key=torch.get)
    return name, torch[name]


def _target(what, value, limit, unit, higher_is_better, note=""):
    met = None if value is None else (value >= limit if higher_is_better else value <= limit)
    return {"what": what, "value": value, "limit": limit, "unit": unit,
            "op": ">=" if higher_is_better else "<=", "met": met, "note": note}


def targets(res: dict) -> list[dict]:
    """The speed targets, each judged on this run's numbers (value None: not measured in it)."""
    w, cmd = res["workloads"], res.get("commands", {})
    first, paper, passes = cmd.get("first_train", {}), cmd.get("first_paper_run", {}), cmd.get("passes", {})
    sgd_cmd = passes.get("lecun1989-sgd/numba", {}).get("pass")
    mod_nb, mod_np = (passes.get(f"modern-usps/{e}", {}).get("pass") for e in ("numba", "numpy"))
    b1, b32 = w["sgd_b1"], w.get("sgd_b32")
    fast1, fast32 = _fastest_torch(b1), (_fastest_torch(b32) if b32 else None)
    jax = b1["runs"].get("jax", {}).get("best")
    best32 = min((v["best"] for k, v in b32["runs"].items() if k in ("numpy", "numba")), default=None) if b32 else None
    bench_modern = w["modern_usps"]["runs"].get("numba", {}).get("best")

    def ratio(a, b):
        return None if a is None or b is None else a / b
    return [
        _target("first `lecun89 train` on a fresh install (wall)", first.get("fresh"), 5.0, "s", False),
        _target("`lecun89 train` again, its caches filled (wall)", first.get("cached"), 1.5, "s", False),
        _target("`lecun89 train --set train.passes=1`: start-up before its first digit", first.get("start_to_first_digit"),
                0.5, "s", False),
        _target("first `lecun89 train lecun1989`: wall time beyond its training", paper.get("beyond_training"), 5.0,
                "s", False),
        _target("SGD pass through the command vs PyTorch's fastest batch-1 loop", ratio(fast1 and fast1[1], sgd_cmd),
                25.0, "x", True, fast1 and f"PyTorch {fast1[0]}"),
        _target("SGD pass through the command vs JAX's jitted pass", ratio(jax, sgd_cmd), 5.0, "x", True),
        _target("SGD pass through the command, multiple of its floor", ratio(sgd_cmd, b1["floor_seconds"]), 3.0, "x",
                False),
        _target("compiled SGD pass, multiple of its floor", b1["runs"].get("numba", {}).get("x_floor"), 3.0, "x", False),
        _target("compiled SDLM pass (`lecun1989`), multiple of its floor",
                w["sdlm_running"]["runs"].get("numba", {}).get("x_floor"), 3.0, "x", False),
        _target("`modern-usps` through the command: numpy engine's pass / compiled", ratio(mod_np, mod_nb), 3.0, "x",
                True),
        _target("`modern-usps` through the command vs the compiled pass alone", ratio(mod_nb, bench_modern), 1.15,
                "x", False),
        _target("batch 32 vs PyTorch's fastest batch-32 pass", ratio(fast32 and fast32[1], best32), 5.0, "x", True,
                fast32 and f"PyTorch {fast32[0]}"),
        _target("compiled inference, multiple of its floor", w["infer"]["runs"].get("numba", {}).get("x_floor"), 3.0,
                "x", False),
    ]


def checks(res: dict) -> dict:
    """The peers' test misses after their timed batch-1 pass against lecun89's, within each tolerance."""
    ref = res["lecun89_test_misses"]
    out = {}
    for name, c in (res["torch"].get("checks") or {}).items():
        out[f"PyTorch {name}"] = {"misses": c["torch_test_misses"], "tolerance": c["tolerance"],
                                  "ok": abs(c["torch_test_misses"] - ref) <= c["tolerance"]}
    if "check" in res["jax"]:
        c = res["jax"]["check"]
        out["JAX"] = {"misses": c["jax_test_misses"], "tolerance": c["tolerance"],
                      "ok": abs(c["jax_test_misses"] - ref) <= c["tolerance"]}
    return out


def derive(res: dict) -> None:
    """Add the derived tables to a run's results (in place)."""
    res["workloads"] = workloads(res)
    res["targets"] = targets(res)
    res["checks"] = checks(res)


# --- markdown ------------------------------------------------------------------------------

def _table(hdr: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(hdr))) + "|"] \
        + ["| " + " | ".join(r) + " |" for r in rows]


def _value(t: dict) -> str:
    if t["value"] is None:
        return "not measured"
    if t["unit"] == "s":
        return f"{t['value']:.2f} s"
    return f"{t['value']:.2f}x" if t["value"] < 10 else f"{t['value']:.1f}x"


def _verdict(t: dict) -> str:
    return "n/a" if t["met"] is None else ("met" if t["met"] else "**not met**")


def targets_table(res: dict) -> list[str]:
    rows = [[t["what"] + (f" ({t['note']})" if t.get("note") else ""), _value(t),
             f"{t['op']} {t['limit']:g}" + (" s" if t["unit"] == "s" else "x"), _verdict(t)] for t in res["targets"]]
    return _table(["target", "this run", "target", ""], rows)


WHO = {"numpy": "lecun89, numpy engine", "numba": "lecun89, compiled engine", "jax": "JAX, jitted pass (float32)",
       "torch:float32": "PyTorch float32", "torch:float64": "PyTorch float64",
       "torch:float32-no-onednn": "PyTorch float32, oneDNN off"}


def workloads_table(res: dict) -> list[str]:
    """Each workload's runs: seconds (best of the run's repeats) and, in brackets, the multiple of its floor."""
    whos = [w for w in WHO if any(w in row["runs"] for row in res["workloads"].values())]
    rows = []
    for key, row in res["workloads"].items():
        n = res["n_infer"] if key == "infer" else res["n_train"]
        cells = [f"{row['label']}, {n:,} digits", f"{row['floor_seconds']:.3f} s"]
        for who in whos:
            t = row["runs"].get(who)
            cells.append("" if t is None else f"{t['best']:.3f} s ({t['x_floor']:.1f}x)")
        rows.append(cells)
    return _table(["workload", "floor"] + [WHO[w] for w in whos], rows)


def commands_table(res: dict) -> list[str]:
    cmd = res.get("commands", {})
    first, paper = cmd.get("first_train", {}), cmd.get("first_paper_run", {})
    rows = []
    if first:
        rows += [["`lecun89 train` on a fresh install (no numba cache, no array cache)", f"{first['fresh']:.2f} s"],
                 ["`lecun89 train` again, caches filled", f"{first['cached']:.2f} s"],
                 ["the same without its report (`--no-report`)", f"{first['cached_no_report']:.2f} s"],
                 ["`lecun89 train --set train.passes=1`, start-up before its first digit",
                  f"{first['start_to_first_digit']:.2f} s"]]
    if paper:
        rows.append([f"first `lecun89 train lecun1989 --set train.passes={paper['passes']}` (no numba cache): "
                     f"wall, of which training", f"{paper['wall']:.1f} s, {paper['training']:.1f} s"])
    for key, p in cmd.get("passes", {}).items():
        config, engine = key.split("/")
        n = p.get("passes_long", 6)
        rows.append([f"a `{config}` pass through the command, {engine} engine (({n} passes - 1 pass) / {n - 1} of "
                     "whole runs, evaluations included): CPU seconds (wall)",
                     f"{p['pass']:.3f} s ({p.get('pass_wall', p['pass']):.3f} s)"])
    return _table(["command", "wall"], rows)


def pieces_table(res: dict) -> list[str]:
    bd = res["breakdown"]["numba"]
    rows = [[r["piece"], f"{r['us']:.2f}"] for r in bd["pieces"]]
    nb = res["lecun89"]["numba"]
    for key, name in (("sgd_b1", "SGD"), ("sdlm_running", "SDLM")):
        if key in nb:
            rows.append([f"**whole {name} step** (the pass / digits)", f"{nb[key]['best'] / res['n_train'] * 1e6:.2f}"])
    return _table(["piece of the compiled step", "us a digit"], rows)


def numpy_table(res: dict) -> list[str]:
    bd = res["breakdown"]["numpy"]
    b1, b32 = bd["train_b1"], bd["train_b32"]
    f = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
    rows = []
    for r1, r32 in zip(b1["layers"], b32["layers"], strict=True):
        rows.append([r1["layer"], f(r1["forward_us"]), f(r1.get("backward_us")), f(r32["forward_us"]),
                     f(r32.get("backward_us"))])
    rows.append(["loss gradient and optimizer step", "", f(b1["loss_grad_us"] + b1["step_us"]), "",
                 f(b32["loss_grad_us"] + b32["step_us"])])
    rows.append(["**whole step, as the loop runs it**", f(b1["whole_step_us"]), "", f(b32["whole_step_us"]), ""])
    return _table(["layer", "batch 1 forward us", "backward us", "batch 32 forward us", "backward us"], rows)


def machine_lines(res: dict) -> list[str]:
    m, p = res["machine"], res["peak"]
    load = lambda t: "n/a" if t is None else " ".join(f"{v:.2f}" for v in t)  # noqa: E731
    blas = "; ".join(" ".join(x for x in (b.get("internal_api"), b.get("version"),
                                          f"({b['architecture']})" if "architecture" in b else None) if x)
                     for b in res["blas"])
    return [f"Command: `{res['command']}`", "",
            f"Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}; Python "
            f"{m['python']}, numpy {m['numpy']}, numba {m['numba']}, torch {m.get('torch') or 'not installed'}"
            + (f" (BLAS {m['torch_blas']}, {m['torch_cpu_capability']})" if m.get("torch") else "")
            + f", JAX {m.get('jax') or 'not installed'}; BLAS {blas}; load average {load(res['load_start'])} at the "
            f"start, {load(res['load_end'])} at the end. Its limit on one thread: BLAS's {p['n']}x{p['n']} matrix "
            f"product, {p['float64_gflops']:.1f} GFLOP/s in float64 ({p['float32_gflops']:.1f} in float32). "
            f"Seconds are the best of {res['repeat']} runs (inference: of {res['repeat_inference']})."]


def readme_text(res: dict) -> list[str]:
    """The README's speed sentence: the compiled SGD pass against its strongest peer."""
    row = res["workloads"]["sgd_b1"]["runs"]
    nb, npy = row["numba"]["best"], row["numpy"]["best"]
    fast = _fastest_torch(res["workloads"]["sgd_b1"])
    peers = []
    if "jax" in row:
        peers.append(f"{row['jax']['best'] / nb:.1f}x faster than the same pass in JAX, jitted whole (float32)")
    if fast:
        peers.append(f"{fast[1] / nb:.0f}x faster than PyTorch's plain loop at its fastest set-up")
    text = (f"**Fast**: an online pass over the 7,291 real digits takes {nb:.3f} s on one core of the project's "
            f"machine with the compiled engine, the default ({npy:.3f} s with the numpy layers, the reference), "
            + ", and ".join(peers) + " ([Speed](docs/speed.md); the Results table's run times: "
            "[What we found](docs/findings.md#run-times-of-the-results-table)).")
    return textwrap.wrap(text, 78, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False)


def blocks(res: dict) -> dict[str, list[str]]:
    """The generated blocks of docs/speed.md and the README, by name."""
    return {"speed-machine": machine_lines(res), "speed-targets": targets_table(res),
            "speed-workloads": workloads_table(res), "speed-commands": commands_table(res),
            "speed-pieces": pieces_table(res), "speed-numpy": numpy_table(res), "speed-readme": readme_text(res)}


def render(res: dict) -> str:
    """The benchmark's whole report (what it prints)."""
    b = blocks(res)
    out = ["## lecun89 against PyTorch and JAX, one thread", ""] + b["speed-machine"]
    for title, name in (("Targets", "speed-targets"), ("Passes and inference: seconds (multiple of the floor)",
                                                       "speed-workloads"),
                        ("lecun89's commands, whole processes", "speed-commands"),
                        ("Where the compiled step's time goes", "speed-pieces"),
                        ("Where the numpy engine's time goes", "speed-numpy")):
        out += ["", f"### {title}", ""] + b[name]
    out += ["", "### Sanity", ""]
    out += [f"- test misses after the timed batch-1 pass: lecun89 {res['lecun89_test_misses']}, " + ", ".join(
        f"{k} {c['misses']} (tolerance {c['tolerance']}): {'ok' if c['ok'] else 'MISMATCH'}"
        for k, c in res["checks"].items())]
    out += [f"- compiled inference within {res['inference']['max_abs_diff']:.1e} of the numpy engine's outputs"]
    return "\n".join(out)


# --- the docs ---------------------------------------------------------------------------------

def _block_re(name: str):
    return re.compile(rf"(<!-- begin {re.escape(name)}: {re.escape(COMMAND)} -->\n)(.*?)(<!-- end {re.escape(name)} -->)",
                      re.S)


def fill(text: str, res: dict) -> str:
    """text with every generated block it holds made from res."""
    for name, lines in blocks(res).items():
        text = _block_re(name).sub(lambda m, lines=lines: m.group(1) + "\n".join(lines) + "\n" + m.group(3), text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=str(JSON), help="the benchmark's JSON (default docs/speed.json)")
    p.add_argument("--check", action="store_true", help="exit 1 if a doc's blocks differ from the JSON's")
    args = p.parse_args(argv)
    res = json.loads(Path(args.json).read_text())
    stale = []
    for doc in DOCS:
        text = doc.read_text()
        new = fill(text, res)
        if new != text:
            stale.append(doc.name)
            if not args.check:
                doc.write_text(new)
    if args.check and stale:
        print(f"stale: {', '.join(stale)} (python scripts/speed_doc.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
