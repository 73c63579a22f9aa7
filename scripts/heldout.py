"""The held-out-writers benchmark: how the shipped models read strangers' digits.

MNIST's digits (other writers than USPS's, another scanner) are written out as
image files in four ways a person's digit arrives (lecun89.reader.heldout.STYLES: a
clean scan, a thick pen, a thin pen, a phone photo), and with ``--styles paper`` on
pages with furniture (lecun89.reader.heldout.PAPER: ruled, squared, a form's box,
a margin line; in colour) and read by exactly
``lecun89 predict``'s reader, with and without deslanting, by every shipped
model. For each: the error (every digit counted, a digit the reader finds no
ink in counted wrong), the share rejected at the model's threshold (the
paper's criterion, set on USPS) and the error on the digits accepted.

Two groups of writers (lecun89.reader.heldout): every choice (deslanting, the
background model, the default model) is made on ``tune`` (2,000 of MNIST's
training digits) and reported on ``report`` (MNIST's 10,000 test digits, whose
writers are disjoint from the training writers).

    python scripts/heldout.py --data-dir DIR --group tune --choices --rows 500   # the choices, on the tuning writers
    python scripts/heldout.py --data-dir DIR --group report --rows 2000 --write-models
        # the tables in docs/strangers.md, and lecun89/models/heldout.json
    python scripts/heldout.py --data-dir DIR --group tune --styles '' --zip 100 --zip-choices
        # the zip codes' graph numbers (lecun89.reader.segment), on the tuning writers
    python scripts/heldout.py --data-dir DIR --group report --styles '' --zip 250
        # the zip codes' table in docs/strangers.md
    python scripts/heldout.py --data-dir DIR --group report --styles '' --zip 25 --zip-model reader \
        --zip-paper clean,ruled,ruled-photo,squared-photo   # the same zip codes on white, ruled and squared paper
    python scripts/heldout.py --data-dir DIR --group tune --styles '' --zip 100 --zip-model reader --zip-reach 0
        # the graph with straight cuts only (before curved cuts), for comparison
    python scripts/heldout.py --data-dir DIR --group tune --styles clean --junk   # pictures with no digit
    python scripts/heldout.py --data-dir DIR --group tune --styles '' --junk-rows   # the same, read as rows
    python scripts/heldout.py --data-dir DIR --group tune --styles paper,clean,photo --limit 600
        # the page furniture's choices (docs/strangers.md, "Ruled and squared paper, forms")

About 3 minutes for the report group on 2 cores here (``--jobs``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lecun89 import metrics  # noqa: E402
from lecun89.reader import heldout  # noqa: E402
from lecun89.reader.gray import image_gray  # noqa: E402
from lecun89.reader.ink import BACKGROUND_DEGREE  # noqa: E402
from lecun89.reader.pieces import ASPECT, WIDE  # noqa: E402
from lecun89.errors import UserError  # noqa: E402
from lecun89.reader import SHIPPED, load_model  # noqa: E402
from lecun89.reader.network import digit_score  # noqa: E402

BLANK = np.full((16, 16), np.nan)  # a file the reader found no digit in
ZIP_PAPER_INDEX = 100_000  # the zip codes' pages draw their furniture from indices past every digit's


def _read_chunk(args) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28), indices, style, background degree) -> inputs read
    with deslanting off and on (N, 16, 16) each; NaN where no digit was found."""
    images, indices, style, degree, furniture = args
    out = {False: [], True: []}
    for img, i in zip(images, indices, strict=True):
        data = heldout.render(img, style, int(i))
        for ds in (False, True):
            try:
                out[ds].append(heldout.read(data, deslant=ds, background_degree=degree, furniture=furniture))
            except ValueError:
                out[ds].append(BLANK)
    return np.asarray(out[False]), np.asarray(out[True])


def _map(fn, work: list, jobs: int) -> list:
    """fn over work, in order, in ``jobs`` processes (here when 1)."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            return list(ex.map(fn, work))
    return [fn(w) for w in work]


def read_style(images, indices, style, degree, jobs, furniture: bool = True) -> dict[bool, np.ndarray]:
    chunks = np.array_split(np.arange(len(indices)), max(1, 4 * jobs))
    work = [(images[c], indices[c], style, degree, furniture) for c in chunks if len(c)]
    parts = _map(_read_chunk, work, jobs)
    return {False: np.concatenate([p[0] for p in parts]), True: np.concatenate([p[1] for p in parts])}


def decisions(model, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per picture (inputs ``x`` (N, 16, 16), NaN where the reader found no
    digit): (found, wrong, rejected, not a digit). A picture with no digit found
    is wrong and rejected; the rest are rejected as unsure (the paper's gap rule)
    or as not a digit (the model's none-threshold)."""
    found = ~np.isnan(x).any(axis=(1, 2))
    out = model.net.predict(np.where(np.isnan(x), -1.0, x)[:, None])
    wrong = (out.argmax(axis=1) != labels) | ~found
    rejected = ~found
    if model.threshold is not None:
        rejected |= metrics.output_gap(out) < model.threshold
    not_digit = found & not_a_digit(model, out)
    return found, wrong, rejected | not_digit, not_digit


def score(model, x: np.ndarray, labels: np.ndarray) -> dict:
    found, wrong, rejected, not_digit = decisions(model, x, labels)
    accepted = ~rejected
    return {"error": float(wrong.mean()), "misses": int(wrong.sum()), "no_digit": int((~found).sum()),
            "not_a_digit": float(not_digit.mean()),
            "rejected": float(rejected.mean()),
            "error_accepted": float(wrong[accepted].mean()) if accepted.any() else None, "n": int(len(labels))}


def not_a_digit(model, out: np.ndarray) -> np.ndarray:
    """Where the model's none-threshold says a picture is not a digit (all False without one)."""
    if model.none_threshold is None:
        return np.zeros(len(out), dtype=bool)
    return digit_score(model, out) < model.none_threshold


def read_junk(group: str, models: dict, clean: np.ndarray | None, limit: int | None = None, data_dir=None) -> dict:
    """The group's no-digit set (lecun89.reader.junk.junk_of: files read as `lecun89 predict`
    reads them), per model: the share taken as a digit (read and not refused as "not a
    digit") and the share accepted (not rejected by either rule), per kind for each;
    and, for the default model, the curve of junk taken against clean digits
    refused over the none-threshold (``clean``: the group's clean digits, read)."""
    from lecun89.reader import DEFAULT_MODEL
    from lecun89.reader.junk import junk_of

    x, kinds = junk_of(group, data_dir, limit=limit)
    found = ~np.isnan(x).any(axis=(1, 2))
    res = {"n": int(len(x)), "refused_by_the_ink_stage": float(np.mean(~found)), "models": {}}
    print(f"\nno-digit pictures ({len(x):,} files; {np.mean(~found):.1%} found blank by the ink stage)")
    print("| model | none-threshold | taken as a digit | accepted as a digit |")
    print("|---|---:|---:|---:|")
    for name, model in models.items():
        out = model.net.predict(np.where(found[:, None, None], x, -1.0)[:, None])
        taken = found & ~not_a_digit(model, out)
        accepted = taken.copy()
        if model.threshold is not None:
            accepted &= metrics.output_gap(out) >= model.threshold
        by_kind = {k: {"n": int(np.sum(kinds == k)), "taken": float(taken[kinds == k].mean()),
                       "accepted": float(accepted[kinds == k].mean())} for k in np.unique(kinds)}
        res["models"][name] = {"none_threshold": model.none_threshold, "taken": float(taken.mean()),
                               "accepted": float(accepted.mean()), "by_kind": by_kind}
        t = "-" if model.none_threshold is None else f"{model.none_threshold:.4f}"
        print(f"| `{name}` | {t} | {pct(taken.mean())} | {pct(accepted.mean())} |", flush=True)
    model = models[DEFAULT_MODEL]
    print(f"\n`{DEFAULT_MODEL}` by kind:\n| kind | files | taken as a digit | accepted |\n|---|---:|---:|---:|")
    for k, v in res["models"][DEFAULT_MODEL]["by_kind"].items():
        print(f"| {k} | {v['n']} | {pct(v['taken'])} | {pct(v['accepted'])} |")
    if clean is not None:
        ok = ~np.isnan(clean).any(axis=(1, 2))
        sc = digit_score(model, model.net.predict(clean[ok][:, None]))
        sj = np.where(found, digit_score(model, model.net.predict(np.where(found[:, None, None], x, -1.0)[:, None])),
                      -np.inf)
        res["curve"] = []
        print(f"\n`{DEFAULT_MODEL}`: the none-threshold's curve (digit score: the largest softmax probability)")
        print("| none-threshold | clean digits refused as not a digit | junk taken as a digit |\n|---:|---:|---:|")
        for t in sorted({0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8} | (
                {model.none_threshold} if model.none_threshold is not None else set())):
            row = {"threshold": t, "clean_refused": float(np.mean(sc < t)), "junk_taken": float(np.mean(sj >= t))}
            res["curve"].append(row)
            mark = " (shipped)" if t == model.none_threshold else ""
            print(f"| {t:.4f}{mark} | {pct(row['clean_refused'])} | {pct(row['junk_taken'])} |")
    return res


# The junk kinds that hold no digit at all: read as a row, half a digit, a pair
# and a digit with its neighbour's stroke are (pieces of) digits.
NO_DIGIT_KINDS = ("noise", "ruled", "squared", "box", "photo", "scribble", "blot", "sign")


def _junk_rows(args) -> list[tuple[str, bool, bool]]:
    """Some of the benchmark's junk files read as ``lecun89 predict --row`` reads
    them -> per file (kind, accepted, accepted were the rules of what is not a
    row off: the paper's share and the cuts through solid ink)."""
    from PIL import Image

    from lecun89.reader import analyse_row, load_model
    from lecun89.reader.gray import image_gray_rgb
    from lecun89.reader.junk import bench_junk_file
    from lecun89.reader.pipeline import row_graph, row_ink

    items, seed, images, labels, name = args
    model = load_model(name)
    out = []
    for i, kind in items:
        with Image.open(io.BytesIO(bench_junk_file(i, kind, seed, images, labels))) as img:
            gray, rgb = image_gray_rgb(img)
        try:
            g = row_graph(row_ink(gray, rgb))
        except ValueError:  # blank, no digits found, too many pieces: refused before the network
            out.append((kind, False, False))
            continue
        accepted = not analyse_row(model, g)["rejected"]
        g.paper, g.column_runs = 1.0, None
        out.append((kind, accepted, not analyse_row(model, g)["rejected"]))
    return out


def read_junk_rows(group: str, limit: int | None = None, data_dir=None, jobs: int = 1) -> dict:
    """The group's no-digit pictures (:data:`NO_DIGIT_KINDS` of lecun89.reader.junk.JUNK_GROUPS'
    files) read as rows by the default model, as ``lecun89 predict --row`` reads them:
    the share accepted as a row of digits, per kind, with the rules of what is
    not a row (lecun89.reader.ink.ROW_PAPER, sliced) and without them."""
    from lecun89.reader import DEFAULT_MODEL
    from lecun89.reader.heldout import GROUPS, group_digits
    from lecun89.reader.junk import JUNK_GROUPS, junk_kinds

    writers, n, seed = JUNK_GROUPS[group]
    images, labels, _ = group_digits(GROUPS[writers], data_dir)
    kinds = junk_kinds(n if limit is None else min(n, limit), seed)
    items = [(i, k) for i, k in enumerate(kinds) if k in NO_DIGIT_KINDS]
    work = [([items[j] for j in c], seed, images, labels, DEFAULT_MODEL)
            for c in np.array_split(np.arange(len(items)), max(1, 4 * jobs)) if len(c)]
    got = [r for part in _map(_junk_rows, work, jobs) for r in part]
    res = {"n": len(got), "model": DEFAULT_MODEL, "by_kind": {}}
    print(f"\nno-digit pictures read as a row (`lecun89 predict --row`, `{DEFAULT_MODEL}`): {len(got)} files")
    print("| kind | files | accepted as a row | without the paper and solid-cut rules |\n|---|---:|---:|---:|")
    for k in [*NO_DIGIT_KINDS, "all"]:
        rows = [r for r in got if k in ("all", r[0])]
        v = {"n": len(rows), "accepted": float(np.mean([r[1] for r in rows])),
             "accepted_without_the_rules": float(np.mean([r[2] for r in rows]))}
        res["by_kind"][k] = v
        print(f"| {k} | {v['n']} | {pct(v['accepted'])} | {pct(v['accepted_without_the_rules'])} |", flush=True)
    return res


def read_rows(images, labels, n: int, models: dict, wide: float = WIDE, aspect: float = ASPECT) -> dict:
    """``n`` rows of 3-6 of the group's digits (lecun89.reader.heldout.random_row, seed 89),
    read by ``lecun89 predict --row``'s code: per model, the share of rows read
    wrong, of rows whose digits were not all found (too many or too few), and
    the digit error (a row with the wrong count has all its digits wrong);
    ``wide``, ``aspect``: the row cutter's two numbers (lecun89.reader.pieces)."""
    from PIL import Image

    from lecun89.reader import ink_map, read_row

    rng = np.random.default_rng(89)
    rows = []
    for _ in range(n):
        data, truth = heldout.random_row(images, labels, rng)
        with Image.open(io.BytesIO(data)) as img:
            gray = image_gray(img)
        x = np.asarray([d.x16 for d in read_row(ink_map(gray), wide=wide, aspect=aspect)])[:, None]
        rows.append((x, truth))
    out = {}
    print(f"\nrows of digits: {n} rows of 3-6 digits ({sum(len(t) for _, t in rows):,} digits)")
    print("| model | rows read wrong | rows with a digit missed or split | digit error | rows rejected |")
    print("|---|---:|---:|---:|---:|")
    for name, model in models.items():
        wrong = miscount = dwrong = rejected = 0
        total = 0
        for x, truth in rows:
            o = model.net.predict(x)
            read = "".join(str(d) for d in o.argmax(axis=1))
            total += len(truth)
            wrong += read != truth
            if len(read) != len(truth):
                miscount += 1
                dwrong += len(truth)
            else:
                dwrong += sum(a != b for a, b in zip(read, truth, strict=False))  # a misread row may hold fewer or more digits
            if model.threshold is not None:
                rejected += bool((metrics.output_gap(o) < model.threshold).any())
        out[name] = {"rows": n, "digits": total, "row_error": wrong / n, "miscounted": miscount / n,
                     "digit_error": dwrong / total, "rows_rejected": rejected / n}
        r = out[name]
        print(f"| `{name}` | {pct(r['row_error'])} | {pct(r['miscounted'])} | {pct(r['digit_error'])} | "
              f"{pct(r['rows_rejected'])} |", flush=True)
    return out


def read_rows_graph(images, labels, n: int, models: dict) -> dict:
    """The same ``n`` rows as :func:`read_rows` (seed 89) read through the
    network's graph (``lecun89 predict --row``): per model, rows read wrong,
    digit error (a row with the wrong count has all its digits wrong), rows rejected."""
    from PIL import Image

    from lecun89.reader import analyse_row, ink_map, row_graph

    rng = np.random.default_rng(89)
    rows = []
    for _ in range(n):
        data, truth = heldout.random_row(images, labels, rng)
        with Image.open(io.BytesIO(data)) as img:
            rows.append((row_graph(ink_map(image_gray(img))), truth))
    print(f"\nrows of digits through the graph: {n} rows of 3-6 digits")
    print("| model | rows read wrong | digit error | rows rejected |")
    print("|---|---:|---:|---:|")
    out = {}
    for name, model in models.items():
        wrong = dwrong = rejected = total = 0
        for g, truth in rows:
            r = analyse_row(model, g)
            total += len(truth)
            wrong += r["digits"] != truth
            dwrong += len(truth) if len(r["digits"]) != len(truth) else sum(
                a != b for a, b in zip(r["digits"], truth, strict=True))
            rejected += r["rejected"]
        out[name] = {"rows": n, "row_error": wrong / n, "digit_error": dwrong / total, "rows_rejected": rejected / n}
        print(f"| `{name}` | {pct(wrong / n)} | {pct(dwrong / total)} | {pct(rejected / n)} |", flush=True)
    return out


def _zip_work(*head) -> list[tuple]:
    """The zip codes' work, a piece per kind and length: ``head`` + (seed,
    kind, length); a piece's codes are drawn from seed 89 + its seed, so that
    zip_inks and zip_alone draw the same codes."""
    return [(*head, seed, kind, length) for seed, (kind, length) in
            enumerate((k, n_) for k in heldout.ZIP_GAPS for n_ in heldout.ZIP_LENGTHS)]


def _zip_kind(args) -> list[tuple[np.ndarray, str, str]]:
    """One kind and length of the zip codes (zip_inks' work, for a process)."""
    from PIL import Image

    from lecun89.reader.gray import image_gray_rgb
    from lecun89.reader.pipeline import row_ink

    images, labels, n, paper, seed, kind, length = args
    rng = np.random.default_rng(89 + seed)
    out = []
    for k in range(n):
        data, truth = heldout.zip_row(images, labels, rng, length, kind, paper=paper,
                                      index=ZIP_PAPER_INDEX + seed * n + k)
        with Image.open(io.BytesIO(data)) as img:
            gray, rgb = image_gray_rgb(img)
        out.append((row_ink(gray, rgb), truth, f"{kind}/{length}"))
    return out


def zip_inks(images, labels, n: int, paper: str | None = None, jobs: int = 1) -> list[tuple[np.ndarray, str, str]]:
    """``n`` zip codes of each kind and length (lecun89.reader.heldout.zip_row:
    spaced and touching, 5 and 9 digits; seeds 89, 90, ...) of the group's
    digits, on white paper or on a page of the ``paper`` style (the same rows),
    read as ``lecun89 predict --row`` reads the file up to its graph (the page
    furniture removed, then the ink) -> [(ink, digits, "kind/length")]."""
    return [r for part in _map(_zip_kind, _zip_work(images, labels, n, paper), jobs) for r in part]


def _alone_kind(args) -> list[tuple[np.ndarray, str, str]]:
    """One kind and length of the zip codes, each digit read alone (zip_alone's work, for a process)."""
    images, labels, n, seed, kind, length = args
    rng = np.random.default_rng(89 + seed)
    out = []
    for _ in range(n):
        layers, shape, truth = heldout.zip_layers(images, labels, rng, length, kind)
        xs = []
        for data in heldout.digits_alone(layers, shape):
            try:
                xs.append(heldout.read(data))
            except ValueError:
                xs.append(BLANK)
        out.append((np.asarray(xs), truth, f"{kind}/{length}"))
    return out


def zip_alone(images, labels, n: int, jobs: int = 1) -> list[tuple[np.ndarray, str, str]]:
    """The same zip codes as zip_inks' (white paper), each digit alone where it
    lies (lecun89.reader.heldout.digits_alone) read as `lecun89 predict` reads a
    digit -> [(its digits' inputs (n_digits, 16, 16), NaN where none was found;
    digits; "kind/length")]."""
    return [r for part in _map(_alone_kind, _zip_work(images, labels, n), jobs) for r in part]


def _graphs(args) -> list:
    from lecun89.reader.pipeline import row_graph

    inks, cutting = args
    out = []
    for ink in inks:
        try:
            out.append(row_graph(ink, **cutting))
        except ValueError:  # no digits found (a page whose writing went with its lines), too many pieces
            out.append(None)
    return out


def zip_graphs(inks, jobs: int = 1, **cutting) -> list:
    """Each zip code's graph of candidate digits (lecun89.reader.pipeline.row_graph)."""
    chunks = np.array_split(np.arange(len(inks)), max(1, 4 * jobs))
    work = [([inks[i][0] for i in c], cutting) for c in chunks if len(c)]
    return [g for part in _map(_graphs, work, jobs) for g in part]


def path_reading(graph, outputs, logits: bool, counts=None, **costs) -> tuple[str, list[int], np.ndarray]:
    """The cheapest path's reading through one graph with the given costs
    (lecun89.reader.segment.candidate_cost's keywords) -> (digits, path, costs)."""
    from lecun89.reader import segment

    cost = segment.candidate_cost(graph, outputs, logits, **costs)
    paths = segment.best_paths(graph.n_nodes, graph.spans, cost, counts, k=1)
    if not paths:
        return "", [], cost
    path = paths[0][1]
    return "".join(str(int(np.argmax(outputs[e]))) for e in path), path, cost


def read_zips(inks, models: dict, graphs=None, paper: str | None = None, jobs: int = 1, alone=None) -> dict:
    """The zip codes read by ``lecun89 predict --row``'s graph (and, as the
    baseline, by the old cutter, lecun89.reader.pipeline.read_row), per model:
    rows read right (touching, spaced, all), the digit error (a row with the
    wrong count has all its digits wrong) and the rows rejected. ``alone``
    (zip_alone's, the same rows): also each row's digits read alone, cut where
    the writer's digits meet: the most the graph could read right with this
    model, were none of its cuts wrong."""
    from lecun89.reader import analyse_row, read_row

    graphs = graphs or zip_graphs(inks, jobs)
    kinds = sorted({k for _, _, k in inks})
    print(f"\nzip codes{'' if paper is None else ' on ' + paper + ' paper'}: {len(inks)} rows "
          f"({', '.join(f'{sum(k == x for *_, k in inks)} {x}' for x in kinds)})")
    print("| model | reader | touching right | spaced right | all right | digit error | rows rejected | "
          "error on accepted rows |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    out, solid = {}, []
    for name, model in models.items():
        if alone is not None:
            out[f"{name} (each digit alone)"] = res = read_alone(model, alone)
            _print_zip_row(name, "each digit alone", res)
        for how in ("old cutter", "graph", "graph, --digits 5,9"):
            right, digits, dwrong, rejected, acc_wrong, no_paper = {}, 0, 0, 0, 0, 0
            for (ink, truth, kind), g in zip(inks, graphs, strict=True):
                r = {"digits": "", "rejected": True}  # no digits found, too many pieces, no path of the count
                try:
                    if how == "old cutter":
                        r = analyse_row(model, read_row(ink))
                    elif g is not None:
                        r = analyse_row(model, g, n_digits=None if how == "graph" else heldout.ZIP_LENGTHS)
                except ValueError:
                    pass
                ok = r["digits"] == truth
                if how == "graph" and ok and g is not None and g.column_runs is not None and r.get("cuts"):
                    solid.append(sorted((g.solid_at(x) for x in r["cuts"]), reverse=True) + [0.0])
                right.setdefault(kind.split("/")[0], []).append(ok)
                digits += len(truth)
                dwrong += len(truth) if len(r["digits"]) != len(truth) else sum(
                    a != b for a, b in zip(r["digits"], truth, strict=True))
                rejected += r["rejected"]
                no_paper += (r.get("reason") or "").startswith("not a row of digits")
                acc_wrong += (not ok) and not r["rejected"]
            res = {**_zip_summary(right, dwrong, digits, rejected, acc_wrong, len(inks)),
                   "rows_not_on_paper": no_paper}  # refused as not a row (lecun89.reader.ink.ROW_PAPER, sliced)
            out[f"{name} ({how})"] = res
            _print_zip_row(name, how, res)
    refused = {k: v["rows_not_on_paper"] for k, v in out.items() if v.get("rows_not_on_paper")}
    shares = [g.paper for g in graphs if g is not None]
    print("rows refused as not a row of digits (lecun89.reader.ink.ROW_PAPER, sliced): "
          + (", ".join(f"{k}: {v}" for k, v in refused.items()) if refused else "none")
          + (f"; the paper's share of a row's picture: lowest {min(shares):.3f}, "
             f"median {np.median(shares):.3f}" if shares else "")
          + (f"; the solid ink a right row's chosen cuts run through (lecun89.reader.ink.SOLID_CUT, SOLID_SHARE): "
             f"its most solid cut at most {max(c[0] for c in solid):.2f} of the ink's height, its second most "
             f"solid at most {max(c[1] for c in solid):.2f}" if solid else ""))
    return out


def read_alone(model, alone) -> dict:
    """The zip codes' digits read alone (zip_alone's) by ``model``: a row is
    read right when every digit is, rejected when any digit is (decisions: no
    ink found, not a digit, or unsure)."""
    right, dwrong, digits, rejected, acc_wrong = {}, 0, 0, 0, 0
    for x, truth, kind in alone:
        _, wrong, refused, _ = decisions(model, x, np.array([int(c) for c in truth]))
        right.setdefault(kind.split("/")[0], []).append(not wrong.any())
        dwrong, digits = dwrong + int(wrong.sum()), digits + len(truth)
        rejected += bool(refused.any())
        acc_wrong += bool(wrong.any()) and not refused.any()
    return _zip_summary(right, dwrong, digits, rejected, acc_wrong, len(alone))


def _zip_summary(right: dict, dwrong: int, digits: int, rejected: int, acc_wrong: int, n: int) -> dict:
    """A zip-code table's row: rows read right by kind ({"touching": [bool], ...})
    and in all, the digit error, the rows rejected and the error on the rows accepted."""
    return {"touching": float(np.mean(right.get("touching", [np.nan]))),
            "spaced": float(np.mean(right.get("spaced", [np.nan]))),
            "all": float(np.mean([v for vs in right.values() for v in vs])),
            "digit_error": dwrong / digits, "rows_rejected": rejected / n,
            "error_accepted": acc_wrong / max(1, n - rejected), "rows": n}


def _print_zip_row(name: str, how: str, res: dict) -> None:
    print(f"| `{name}` | {how} | {pct(res['touching'])} | {pct(res['spaced'])} | {pct(res['all'])} | "
          f"{pct(res['digit_error'])} | {pct(res['rows_rejected'])} | {pct(res['error_accepted'])} |", flush=True)


def zip_choices(inks, model, jobs: int = 1) -> dict:
    """The graph's numbers chosen on the tuning writers' zip codes for ``model``:
    the cutting (min_segment, max_run) and the path's costs, by rows read right
    (ties: the first in the grid, the simplest); then the weak path's bound
    WEAK: the 99th percentile of the costliest chosen digit over the rows read
    right."""
    import itertools

    logits = model.net.config.output_activation == "none"
    grid = {"digit_cost": [-0.5, 0.0, 0.5], "stroke_cost": [0.0, 0.5], "join_cost": [1.0, 3.0],
            "wide_ok": [0.9, 1.1, 1.3, 1.5]}
    print("\n| min_segment | max_run | s/row | digit_cost | stroke_cost | join_cost | wide_ok | rows right |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    trials, best = [], None
    for ms, mr in ((0.12, 3), (0.12, 4), (0.2, 3), (0.2, 4)):
        import time

        t = time.perf_counter()
        graphs = zip_graphs(inks, jobs, min_segment=ms, max_run=mr)
        outs = [model.net.predict(g.x16[:, None]) for g in graphs]
        per_row = (time.perf_counter() - t) / len(inks)
        for vals in itertools.product(*grid.values()):
            costs = dict(zip(grid, vals, strict=True))
            right = np.mean([path_reading(g, o, logits, **costs)[0] == truth
                             for g, o, (_, truth, _) in zip(graphs, outs, inks, strict=True)])
            trial = {"min_segment": ms, "max_run": mr, "seconds_per_row": per_row, **costs, "right": float(right)}
            trials.append(trial)
            if best is None or trial["right"] > best[0]["right"]:
                best = (trial, graphs, outs)
            print(f"| {ms} | {mr} | {per_row:.3f} | {' | '.join(str(v) for v in vals)} | {pct(right)} |", flush=True)
    trial, graphs, outs = best
    costs = {k: trial[k] for k in grid}
    worst = []
    for g, o, (_, truth, _) in zip(graphs, outs, inks, strict=True):
        text, path, cost = path_reading(g, o, logits, **costs)
        if text == truth:
            worst.append(float(cost[path].max() - trial["digit_cost"]))
    weak = float(np.quantile(worst, 0.99))
    print(f"\nchosen: {trial}; WEAK = {weak:.2f} (99th percentile of the costliest digit on the rows read right)")
    return {"trials": trials, "chosen": trial, "WEAK": weak}


def _zips(images, labels, n: int, choices: bool, models: dict, model: str | None = None,
          papers: list[str] | None = None, jobs: int = 1, reach: float | None = None) -> dict:
    if not n:
        return {}
    if choices:
        from lecun89.reader import DEFAULT_MODEL

        inks = zip_inks(images, labels, n, jobs=jobs)
        return {"zip_choices": zip_choices(inks, load_model(model) if model else models[DEFAULT_MODEL], jobs)}
    chosen = {model: load_model(model)} if model else models
    out = {}
    for paper in papers or [None]:
        key = "zip_codes" if paper is None else f"zip_codes_{paper}"
        inks = zip_inks(images, labels, n, paper, jobs)
        graphs = None if reach is None else zip_graphs(inks, jobs, reach=reach)
        alone = zip_alone(images, labels, n, jobs) if paper is None else None
        out[key] = read_zips(inks, chosen, graphs, paper=paper, jobs=jobs, alone=alone)
    return out


def pct(v) -> str:
    return "" if v is None else f"{100 * v:.2f}%"


def write_models(results: dict, styles: list[str], models: dict) -> None:
    """lecun89/models/heldout.json: the report group's numbers, by model and style."""
    rows = [r for r in results["rows"] if r["background_degree"] == BACKGROUND_DEGREE]
    shipped = {
        "about": "each shipped model on MNIST's 10,000 test digits (writers outside USPS) written out in "
                 "four styles and read by lecun89 predict's reader; made by python scripts/heldout.py "
                 "--group report --write-models",
        "styles": results["styles"],
        "models": {n: {s: {("deslanted" if r["deslant"] else "as_written"): {
            k: r[k] for k in ("error", "rejected", "error_accepted")}
            for r in rows if r["model"] == n and r["style"] == s} for s in styles} for n in models},
    }
    dest = ROOT / "lecun89" / "models" / "heldout.json"
    dest.write_text(json.dumps(shipped, indent=1) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}")


def read_styles(images, idx, labels, styles, degrees, models, results, jobs,
                furniture: bool = True) -> np.ndarray | None:
    """Every style read and scored by every model (rows appended to ``results["rows"]``,
    printed); returns the clean style's inputs (deslanted), None without it."""
    clean = None
    for style in styles:
        for degree in (degrees if style == "photo" else degrees[-1:]):
            xs = read_style(images, idx, style, degree, jobs, furniture)
            if style == "clean":
                clean = xs[True]
            for name, model in models.items():
                for ds in (False, True):
                    r = {"model": name, "style": style, "deslant": ds, "background_degree": degree,
                         **score(model, xs[ds], labels)}
                    results["rows"].append(r)
                    print(f"| `{name}` | {style} | {'yes' if ds else 'no'} | {degree} | {pct(r['error'])} | "
                          f"{r['misses']} | {pct(r['rejected'])} | {pct(r['error_accepted'])} |", flush=True)
    return clean


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="directory with mnist/ (default: $LECUN89_DATA)")
    ap.add_argument("--group", choices=tuple(heldout.GROUPS), default="tune")
    ap.add_argument("--styles", default=",".join(heldout.STYLES),
                    help="comma-separated styles (default: the four without page furniture; 'paper': the page "
                         f"furniture styles {', '.join(heldout.PAPER)}; 'all': both)")
    ap.add_argument("--limit", type=int, help="only the first N digits of the group (a quick look)")
    ap.add_argument("--choices", action="store_true",
                    help="also compare the background models (BACKGROUND_DEGREE 0, 1, 2) on the photos, and "
                         "(with --rows) the row cutter's WIDE and ASPECT")
    ap.add_argument("--no-furniture", dest="furniture", action="store_false",
                    help="read the pictures without removing page furniture (the reader before it)")
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--rows", type=int, default=0, metavar="N",
                    help="also read N rows of 3-6 of the group's digits (as `lecun89 predict --row`)")
    ap.add_argument("--rows-graph", action="store_true",
                    help="with --rows: read the rows through the network's graph (as `lecun89 predict --row` now "
                         "does) instead of the old cutter")
    ap.add_argument("--zip", type=int, default=0, metavar="N",
                    help="also read N zip codes of each kind (spaced, touching) and length (5, 9) of the group's "
                         "digits, by the old cutter and by the graph (as `lecun89 predict --row`)")
    ap.add_argument("--zip-choices", action="store_true",
                    help="with --zip on the tuning group: choose the graph's cutting and costs for the default model")
    ap.add_argument("--zip-model", metavar="MODEL",
                    help="with --zip-choices: choose for this model (a shipped name or a run's directory; default: "
                         "the default model); without it: read the zip codes with this model only")
    ap.add_argument("--zip-reach", type=float, metavar="R",
                    help="with --zip: how far the graph's cuts may step aside (lecun89.reader.segment.CUT_REACH, "
                         "its default; 0: straight cuts only, the graph before curved cuts)")
    ap.add_argument("--zip-paper", default="", metavar="STYLES",
                    help="with --zip: read the same zip codes on these page-furniture styles instead of white "
                         f"paper (comma-separated, of {', '.join(heldout.PAPER)}; 'clean' for white paper)")
    ap.add_argument("--junk", action="store_true",
                    help="also read the group's no-digit pictures (lecun89.reader.junk.JUNK_GROUPS: 1,000 files) "
                         "and, with the clean style, the none-threshold's curve")
    ap.add_argument("--junk-rows", action="store_true",
                    help="also read the group's no-digit pictures as rows (`lecun89 predict --row`), with and "
                         "without the paper rule")
    ap.add_argument("--json", help="write every number to this JSON file")
    ap.add_argument("--write-models", action="store_true",
                    help="write lecun89/models/heldout.json (the report group's numbers, shown by "
                         "`lecun89 models` and the page)")
    args = ap.parse_args()
    groups = {"paper": list(heldout.PAPER), "all": list(heldout.ALL_STYLES)}
    styles = [t for s in args.styles.split(",") if s for t in groups.get(s, [s])]
    bad = [s for s in styles if s not in heldout.ALL_STYLES]
    if bad:
        print(f"heldout: error: unknown style {bad[0]!r}; choose from {', '.join(heldout.ALL_STYLES)}, "
              "paper, all", file=sys.stderr)
        return 2
    papers = [None if s == "clean" else s for s in args.zip_paper.split(",") if s]
    bad = [s for s in papers if s is not None and s not in heldout.PAPER]
    if bad or (papers and (not args.zip or args.zip_choices)):
        print(f"heldout: error: --zip-paper takes --zip N (not --zip-choices) and styles of "
              f"{', '.join(heldout.PAPER)} or clean" + (f"; got {bad[0]!r}" if bad else ""), file=sys.stderr)
        return 2
    if args.zip_reach is not None and (not args.zip or args.zip_choices or args.zip_reach < 0):
        print("heldout: error: --zip-reach takes --zip N (not --zip-choices) and a reach of 0 or more", file=sys.stderr)
        return 2
    if args.write_models and (args.group != "report" or args.limit or set(styles) != set(heldout.STYLES)
                              or not args.furniture):
        print("heldout: error: --write-models needs the whole report group and every style (without --styles paper)", file=sys.stderr)
        return 2
    from lecun89.data import mnist_raw

    try:
        x_tr, y_tr, x_te, y_te = mnist_raw(args.data_dir)
    except UserError as exc:
        print(f"heldout: error: {exc}", file=sys.stderr)
        return 2
    group = heldout.GROUPS[args.group]
    idx = heldout.group_indices(group)[:args.limit]
    images, labels = (x_tr, y_tr) if group[1] == "train" else (x_te, y_te)
    images, labels = images[idx], labels[idx]
    models = {n: load_model(n) for n in SHIPPED}
    degrees = [BACKGROUND_DEGREE]
    if args.choices:
        degrees = sorted({0, 1, 2} | set(degrees))
    results = {"group": args.group, "mnist_split": group[1], "n": int(len(idx)), "reader": {
        "BACKGROUND_DEGREE": BACKGROUND_DEGREE, "furniture": args.furniture}, "styles": {s: heldout.ALL_STYLES[s] for s in styles},
        "rows": []}
    print(f"{args.group} group: {len(idx):,} digits of MNIST's {group[1]} set", flush=True)
    print("| model | style | deslant | background | error | misses | rejected | error on accepted |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    clean = read_styles(images, idx, labels, styles, degrees, models, results, args.jobs, args.furniture)
    if args.rows and args.choices:  # the row cutter's two numbers, for the default model
        from lecun89.reader import DEFAULT_MODEL

        results["row_choices"] = []
        for wide in (1.0, 1.1, 1.2):
            for aspect in (0.6, 0.7, 0.8):
                print(f"\nwide = {wide}, aspect = {aspect}:")
                r = read_rows(images, labels, args.rows, {DEFAULT_MODEL: models[DEFAULT_MODEL]}, wide, aspect)
                results["row_choices"].append({"WIDE": wide, "ASPECT": aspect, **r[DEFAULT_MODEL]})
    elif args.rows:
        results["rows_of_digits"] = (read_rows_graph if args.rows_graph else read_rows)(images, labels, args.rows,
                                                                                      models)
    results.update(_zips(images, labels, args.zip, args.zip_choices, models, args.zip_model, papers, args.jobs,
                         args.zip_reach))
    if args.junk:
        results["junk"] = read_junk(args.group, models, clean, args.limit, args.data_dir)
    if args.junk_rows:
        results["junk_rows"] = read_junk_rows(args.group, args.limit, args.data_dir, args.jobs)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.write_models:
        write_models(results, styles, models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
