"""Write docs/backprop.md: the chain rule, from the first lesson to the paper's net.

One real USPS test digit goes through the shipped ``lecun1989`` model, forward
then backward, and the page writes out the sums at one path of units (input
pixel -> H1 -> H2 -> H3 -> output) with the network's own numbers, from
:func:`lecun89.explain.chain.unit_terms` and :func:`lecun89.explain.backprop.backward_view`.

    python scripts/backprop_walk.py --data-dir DIR           # write docs/backprop.md
    python scripts/backprop_walk.py --data-dir DIR --out -   # print it
    python scripts/backprop_walk.py --data-dir DIR --check   # exit 1 if docs/backprop.md differs

``--data-dir`` defaults as everywhere in lecun89 ($LECUN89_DATA, else the cache).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lecun89.atomic import write_text  # noqa: E402
from lecun89.explain.backprop import backward_view  # noqa: E402
from lecun89.losses import training_loss  # noqa: E402
from lecun89.explain.chain import unit_terms  # noqa: E402
from lecun89.errors import UserError  # noqa: E402

DOC = ROOT / "docs" / "backprop.md"
COMMAND = "python scripts/backprop_walk.py --data-dir DIR"
MODEL = "lecun1989"
TOP = 6  # terms of each sum shown; the rest are summed on one line


def g(v: float) -> str:
    """A number as the page prints it: 4 significant digits."""
    s = f"{float(v):.4g}"
    return "0" if s == "-0" else s


def first_read_correctly(net, x: np.ndarray, labels: np.ndarray) -> int:
    """Index of the first digit whose largest output is its label."""
    right = np.flatnonzero(net.predict(x).argmax(axis=1) == labels)
    if not len(right):
        raise UserError("the model reads none of the test digits correctly")
    return int(right[0])


def _parse(unit: str) -> tuple[str, list[int]]:
    layer, rest = unit.split("[")
    return layer, [int(v) for v in rest[:-1].split(",")]


def choose_path(net, x16, label, loss, scale) -> list[tuple[str, list[int]]]:
    """From the label's output unit down: at each unit, the input (not padding) with the
    largest |weight x input|; ties go to the first in reading order."""
    path = [("out", [label])]
    while path[-1][0] != "input":
        layer, idx = path[-1]
        terms = unit_terms(net, x16, label, layer, idx, loss, scale, top=10**6)["forward"]["terms"]
        path.append(_parse(next(t["from"] for t in terms if t["from"] != "pad")))
    return path


def walk(data_dir=None) -> tuple[str, dict]:
    """The page's markdown and its numbers (for the test to check against the layers)."""
    from lecun89.data import load_dataset
    from lecun89.reader import load_model

    ds = load_dataset("usps", data_dir)
    model = load_model(MODEL)
    net = model.net
    kind, scale = training_loss(model.info.get("config"), net.config.output_activation == "none")
    index = first_read_correctly(net, ds.x_test, ds.y_test)
    x16, label = np.array(ds.x_test[index, 0]), int(ds.y_test[index])
    view = backward_view(net, x16, label, kind, scale)
    path = choose_path(net, x16, label, kind, scale)
    units = {name(layer, idx): unit_terms(net, x16, label, layer, idx, kind, scale, TOP)
             for layer, idx in path if layer != "input"}
    names = [name(layer, idx) for layer, idx in path]
    grads = connection_grads(net, view, x16, path)
    numbers = {"index": index, "label": label, "model": MODEL, "loss": kind, "cost_scale": scale,
               "outputs": view["outputs"].tolist(), "E": view["loss"], "path": names, "units": units,
               "grads": grads}
    return render(numbers, x16, net), numbers


def connection_grads(net, view: dict, x16: np.ndarray, path: list) -> list[dict]:
    """Each weight on the path: dE/dw for this one connection (delta above x input, the
    product rule) and, summed over every position the weight is used at (a shared
    kernel's 64 or 16, a full connection's one), its whole gradient; beside it
    backward_view's gradient entry."""
    rows = []
    layers = {lay.name: lay for lay in net.param_layers}
    for (upper, uidx), (lower, lidx) in zip(path, path[1:], strict=False):
        lay = layers[upper]
        w = lay.params["weight"]
        below = x16[None] if lower == "input" else view["y"][lower]
        if w.ndim == 2:
            entry = [uidx[0], int(np.ravel_multi_index(lidx, below.shape))]
            d = float(view["delta"][upper][uidx[0]])
            uses = [{"at": name(upper, uidx), "delta": d, "input": float(below[tuple(lidx)])}]
        else:
            m, r, c = uidx
            src, li, lj = ([0] + lidx) if lower == "input" else lidx
            t = src if lay.table is None else lay.table[m].tolist().index(src)
            ki, kj = li - r * lay.stride + lay.pad, lj - c * lay.stride + lay.pad
            entry = [m, t, ki, kj]
            padded = np.pad(below[src], lay.pad, constant_values=lay.pad_value)
            deltas = view["delta"][upper][m]
            uses = [{"at": name(upper, [m, i, j]), "delta": float(deltas[i, j]),
                     "input": float(padded[i * lay.stride + ki, j * lay.stride + kj])}
                    for i in range(deltas.shape[0]) for j in range(deltas.shape[1])]
        for u in uses:
            u["product"] = u["delta"] * u["input"]
        here = next(u for u in uses if u["at"] == name(upper, uidx))
        rows.append({"param": f"{upper}.weight", "entry": entry, "to": name(upper, uidx), "from": name(lower, lidx),
                     "weight": float(w[tuple(entry)]), "delta": here["delta"], "input": here["input"],
                     "product": here["product"], "uses": uses,
                     "sum": float(np.sum([u["product"] for u in uses])),
                     "grad": float(view["grad"][f"{upper}.weight"][tuple(entry)])})
    return rows


def name(layer: str, idx) -> str:
    return f"{layer}[{','.join(str(int(i)) for i in idx)}]"


INK = ".,:;-=+*#"  # background (-1) to ink (+1), for the digit drawn in text


def digit_text(x16: np.ndarray, pixel) -> str:
    rows = []
    for i in range(16):
        cells = ["@" if [i, j] == list(pixel) else INK[int(round((x16[i, j] + 1) / 2 * (len(INK) - 1)))]
                 for j in range(16)]
        rows.append(f"{i:2d} " + " ".join(cells))
    return "\n".join(["   " + " ".join(str(j % 10) for j in range(16))] + rows)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


READS = {
    "H1": "a 5x5 window of the 16x16 input (stride 2; the {n_pad} positions off the image read the padding "
          "value {pad}, listed as `pad`), through the 5x5 kernel of map {m}, which all 64 units of the map share",
    "H2": "5x5 windows (stride 2) of the {k} H1 maps its connection table gives map {m} ({maps}): {n} inputs, "
          "{n_pad} of them off the maps, reading the padding value {pad} (`pad`), through map {m}'s kernels, "
          "which its 16 units share",
    "H3": "every one of the 192 H2 units, each through a weight of its own",
    "out": "every one of the 30 H3 units, each through a weight of its own",
}


def forward_section(u: dict, below: str, net) -> list[str]:
    f, layer = u["forward"], u["layer"]
    lay = {x.name: x for x in net.param_layers}[layer]
    m = u["index"][0]
    maps, n_pad = [], 0
    if layer in ("H1", "H2"):
        maps = list(range(lay.in_shape[2])) if lay.table is None else lay.table[m].tolist()
        n_pad = len(maps) * off_map(lay, u["index"])
    reads = READS[layer].format(pad=g(getattr(lay, "pad_value", 0)), m=m, k=len(maps), n=f["n_inputs"],
                                maps=", ".join(map(str, maps)), n_pad=n_pad)
    rows = [[t["from"] + (" (path)" if t["from"] == below else ""), g(t["input"]), g(t["weight"]), g(t["product"])]
            for t in f["terms"]]
    rows += [[f"the other {f['n_others']} inputs", "", "", g(f["others"])],
             ["bias b", "", "", g(f["bias"])],
             ["**a = b + sum of w x**", "", "", f"**{g(f['a'])}**"],
             [f"**y = f(a)**, f = {f['activation']}", "", "", f"**{g(f['y'])}**"]]
    return [f"### {u['name']}", "", f"It reads {reads}. The {len(f['terms'])} largest products:", "",
            *table(["from", "input x", "weight w", "w x"], rows), ""]


def off_map(lay, idx) -> int:
    """How many of a convolution unit's K x K window positions fall off its input map."""
    H, W, _ = lay.in_shape
    r, c = idx[1:]
    rows = sum(0 <= r * lay.stride + k - lay.pad < H for k in range(lay.K))
    cols = sum(0 <= c * lay.stride + k - lay.pad < W for k in range(lay.K))
    return lay.K * lay.K - rows * cols


def backward_section(u: dict, above: str | None, target: float | None = None) -> list[str]:
    b = u["backward"]
    if "loss" in b:
        rows = [["y", g(u["forward"]["y"])]]
        if target is not None:
            rows.append(["target t", g(target)])
        rows += [["dE/dy", g(b["dE/dy"])], ["f'(a)", g(b["fprime"])],
                 ["**delta = f'(a) dE/dy**", f"**{g(b['delta'])}**"]]
        return [f"### {u['name']}", "", f"The cost: {b['loss']}.", "", *table(["", "value"], rows), ""]
    rows = [[t["to"] + (" (path)" if t["to"] == above else ""), g(t["delta"]), g(t["weight"]), g(t["product"])]
            for t in b["terms"]]
    if b["n_others"]:
        rows.append([f"the other {b['n_others']} units", "", "", g(b["others"])])
    rows += [["**dE/dy = sum of w delta**", "", "", f"**{g(b['sum'])}**"], ["f'(a)", "", "", g(b["fprime"])],
             ["**delta = f'(a) dE/dy**", "", "", f"**{g(b['fprime'] * b['sum'])}**"]]
    lines = [f"### {u['name']}", "", f"It feeds {b['n_outputs']} units; the {len(b['terms'])} largest "
             "weight x delta:", "", *table(["to", "delta there", "weight w", "w delta"], rows), "",
             f"The layers' own backward pass gives this unit delta = {g(b['delta'])}."]
    if abs(b["fprime"]) < 0.05:
        lines.append(f"Its f'(a) is small ({g(b['fprime'])}): the unit is saturated, its tanh nearly flat, "
                     "so little of the error signal passes through it.")
    return lines + [""]


def render(n: dict, x16: np.ndarray, net) -> str:
    """The page, from :func:`walk`'s numbers."""
    path, units = n["path"], n["units"]
    pixel = _parse(path[-1])[1]
    out_unit = units[path[0]]
    outs = n["outputs"]
    hand_f = (-2 + 5) * -4
    nudged = (-2 + 0.001 + 5) * -4
    lines = [
        "# The chain rule, from the first lesson to the paper's net", "",
        f"Made by `{COMMAND}` (DIR holds usps/zip.test.gz); with `--check` it tells whether this page "
        "is still what the code makes.", "",
        "Backpropagation is the chain rule of calculus, applied unit by unit from the cost back to the "
        "weights. This page does it twice: by hand on a function of three numbers, then on one real USPS "
        f"digit through the paper's network (the shipped `{n['model']}` model), with the network's own "
        "numbers, from `lecun89.explain.chain.unit_terms` and `lecun89.explain.backprop.backward_view`.", "",
        "## 1. By hand: f(x, y, z) = (x + y) z", "",
        "Take x = -2, y = 5, z = -4, and name the sum q = x + y. Forward, from the inputs up:", "",
        *table(["step", "value"], [["q = x + y", f"-2 + 5 = {-2 + 5}"], ["f = q z", f"3 x (-4) = {hand_f}"]]), "",
        "Backward, from the output down: each step is one local rule times the gradient from above.", "",
        *table(["gradient", "rule", "value"], [
            ["df/df", "where it starts", "1"],
            ["df/dz", "product: the other factor, q, times the gradient above", "3 x 1 = 3"],
            ["df/dq", "product: the other factor, z, times the gradient above", "-4 x 1 = -4"],
            ["df/dx", "sum: the gradient above, unchanged", "-4"],
            ["df/dy", "sum: the gradient above, unchanged", "-4"]]), "",
        f"Check: x = -1.999 gives f = {nudged:.3f}, a change of {nudged - hand_f:.3f} = -4 x 0.001.", "",
        "Two rules did all the work:", "",
        "- **sum rule**: an addition passes the gradient from above unchanged to each of its terms; and a "
        "value used in several places receives the sum of the gradients coming back from each of them;",
        "- **product rule**: a product sends each factor the other factor times the gradient from above.", "",
        "## 2. A unit is a sum of products", "",
        "Every unit of Net-1989 adds up its inputs x times their weights w, plus a bias b, and squashes "
        "the sum a with f, here the paper's f(a) = 1.7159 tanh(2a/3):", "",
        "    a = b + sum of w x,    y = f(a)", "",
        "Backward, each unit keeps its error signal delta = dE/da, the cost's gradient at its sum a:", "",
        "- through f: delta = f'(a) dE/dy;",
        "- product rule: one connection's weight gets dE/dw = delta x (its input x), the bias dE/db = delta;",
        "- product rule again: one connection sends its input w x delta; sum rule: a unit that feeds "
        "several units gets dE/dy = the sum of w x delta over them.", "",
        "## 3. The digit", "",
        f"USPS test digit number {n['index']} (counting from 0): the first test digit the model reads "
        f"correctly. Its true label is {n['label']}; the model's outputs:", "",
        *table(["output"] + [str(k) for k in range(10)], [["y"] + [g(v) for v in outs]]), "",
        f"The largest is output {int(np.argmax(outs))}: the model reads {int(np.argmax(outs))}. The cost it was "
        f"trained with is {out_unit['backward']['loss']}; for this digit E = {g(n['E'])}.", "",
        "The digit, rows and columns counted from 0 at the top left (gray levels from -1, `.`, to +1, `#`), "
        f"the path's input pixel {path[-1]} marked `@`:", "",
        "```", digit_text(x16, pixel), "```", "",
        "## 4. The path", "",
        "Rule: start at the output unit of the true label; at each unit, go down to the input with the "
        "largest |weight x input| in its sum (padding is not a unit: it is passed over; a tie goes to "
        "the first in reading order). That input pulls the unit's sum hardest, up or down.", "",
        "    " + " -> ".join(reversed(path)), "",
        "## 5. Forward: the sums, from the pixel up", "",
        "At each unit of the path, its inputs times their weights (the largest first, `(path)` marks the "
        "path's unit below), the rest summed on one line, the bias, a and f(a). Every row is the "
        "network's own number; bias + all products gives a to rounding.", "",
    ]
    for upper, below in reversed(list(zip(path[:-1], path[1:], strict=True))):
        lines += forward_section(units[upper], below, net)
    lines += ["## 6. Backward: the error signal, from the output down", "",
              "The output unit's delta comes from the cost; each unit below gets dE/dy as the sum of "
              "weight x delta over the units it feeds (the sum rule), then delta = f'(a) dE/dy. `(path)` marks "
              "the path's unit above when it is among the largest terms.", ""]
    for k, unit in enumerate(path[:-1]):
        target = (1.0 if k == 0 else None) if n["loss"] == "mse" else None  # the path starts at the label
        lines += backward_section(units[unit], path[k - 1] if k else None, target)
    lines += ["## 7. The weights' gradients", "",
              "By the product rule a weight's gradient for one connection is delta above x the input below. "
              "A weight of H3 or the output layer serves one connection, so that is its whole gradient. A "
              "kernel weight of H1 or H2 is shared by every unit of its map: its gradient is the sum of "
              "delta x input over every position the kernel is applied at. The last column is the "
              "gradient the layers' backward pass assigned (`backward_view(...)[\"grad\"]`).", "",
              *table(["weight", "joins", "delta x input, this connection", "used at", "sum: dE/dw",
                      "backward pass"],
                     [[f"{r['param']}[{','.join(map(str, r['entry']))}]", f"{r['from']} -> {r['to']}",
                       f"{g(r['delta'])} x {g(r['input'])} = {g(r['product'])}", str(len(r["uses"])),
                       g(r["sum"]), g(r["grad"])] for r in reversed(n["grads"])]), ""]
    k1 = n["grads"][-1]
    top = sorted(k1["uses"], key=lambda u: -abs(u["product"]))[:TOP]
    rest = [u["product"] for u in sorted(k1["uses"], key=lambda u: -abs(u["product"]))[TOP:]]
    lines += [f"The H1 kernel weight {k1['param']}[{','.join(map(str, k1['entry']))}] in full: the {len(k1['uses'])} units of "
              f"map {k1['entry'][0]} each apply it to the input under the same kernel offset. The "
              f"{TOP} largest delta x input:", "",
              *table(["at", "delta", "input", "delta x input"],
                     [[u["at"] + (" (path)" if u["at"] == k1["to"] else ""), g(u["delta"]), g(u["input"]),
                       g(u["product"])] for u in top]
                     + [[f"the other {len(rest)} positions", "", "", g(float(np.sum(rest)))],
                        ["**dE/dw, the sum**", "", "", f"**{g(k1['sum'])}**"],
                        ["the backward pass's entry", "", "", g(k1["grad"])]]), "",
              "A unit's bias is its own (Net-1989 shares kernels, not biases), so each bias gradient is "
              "simply that unit's delta.", ""]
    return "\n".join(lines + ON_THE_PAGE)


# Section 8: the same numbers, live, on `lecun89 serve` (text only: no number of the walk in it).
ON_THE_PAGE = [
    "## 8. On the page: your own digit", "",
    "`lecun89 serve` shows the same passes for any digit you draw (or any USPS test digit), "
    "below the forward view, left to right as the network is drawn:", "",
    "![lecun89 serve's backprop view: a drawn 3 labelled 5, the error signal at every layer, "
    "the kernels' gradients, a hover box and two learning steps](backprop.png)", "",
    "- **The label**: the digit the network read (for a test digit, its true label); click another "
    "output unit to say \"this is a 5\".",
    "- **The panels**: delta = dE/da at the 10 outputs, the 30 H3 units, the 12 H2 maps of 4x4 and the "
    "12 H1 maps of 8x8, and dE/dw of the 12 H1 kernels and the 12x8 H2 kernels (5x5), each on a "
    "diverging scale centred on zero (blue negative, red positive, its largest size under it), with "
    "the rule that made it.",
    "- **Hover a unit**: forward, its sum written out (the largest inputs x weights, the rest summed, "
    "the bias, a, then f(a)); backward, the weights x deltas above it, their sum dE/dy, f'(a) and "
    "delta, the numbers of sections 5 and 6 for whatever unit is under the pointer.",
    "- **Learn this digit** takes one step of the model's own optimizer (SDLM with its running "
    "curvature for `lecun1989`, AdamW for the modern models, at the learning rate of the config's "
    "first pass) on this digit and label, on the page's own copy of the network, and shows the "
    "outputs and the cost before and after and outlines the kernels that moved most. **Reset** "
    "returns to the shipped weights; the shipped model is never changed.", "",
    "The screenshot is the browser test's (`LECUN89_BACKPROP_SCREENSHOT=docs/backprop.png python -m "
    "pytest tests/test_browser.py -k backprop`); the JSON routes behind it (`/api/backprop`, "
    "`/api/unit`, `/api/learn`, `/api/reset`) are in [predict.md](predict.md).", "",
    "## 9. Watch it learn: the Train tab, and a notebook", "",
    "One step on one digit is the chain rule's whole work; the paper is 7,291 digits teaching the "
    "network over 23 passes. The page's **Train** tab runs that: pick a shipped config (`quick` needs "
    "no files; `lecun1989`, `lecun1989-sgd`, `fc-baseline`, `modern-usps` where the server has the "
    "USPS files) and a seed, press **Train**, and watch the paper's Figure 3 grow (log MSE in the "
    "paper's convention and % error against passes, training and test, the paper's final figures "
    "dashed), the H1 and H2 kernels turn from noise into stroke detectors, SDLM's step sizes, and a "
    "strip of test digits misread fewer and fewer, every 512 digits. **Stop** pauses it, **Continue** "
    "goes on (or for 5 more passes once it is done), **Draw on it** takes the network to the other "
    "tabs, **Save run** writes the run directory `lecun89 train` writes. The run is `lecun89 train`'s "
    "own trainer on its own engine: its model and metrics are bit-identical to `lecun89 train CONFIG "
    "--seed SEED`'s ([predict.md](predict.md#watch-it-learn-the-train-tab)).", "",
    "![The Train tab: lecun1989, seed 0, after its 23 passes: Figure 3, the kernels, SDLM's step "
    "sizes, the test digits read now](train.png)", "",
    "The same walk as code, to run and change: [the tutorial notebook](tutorial.ipynb) (the chain rule "
    "on one unit, one layer's backward pass by hand against the library's, the whole network on one "
    "digit, a short training and its curves, reading a drawn digit, a small study), executed by the "
    "test suite so that every output in it is what the code prints today.", "",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="directory with usps/ (default: $LECUN89_DATA, else the cache)")
    ap.add_argument("--out", default=str(DOC), help="where to write the page ('-': print it; default docs/backprop.md)")
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it; exit 1 on a difference")
    args = ap.parse_args(argv)
    try:
        text, _ = walk(args.data_dir)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        old = Path(args.out).read_text() if Path(args.out).is_file() else None
        if old != text:
            print(f"{args.out} differs from what {COMMAND} makes now: run it to update the page", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
