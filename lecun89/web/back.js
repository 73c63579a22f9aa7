// lecun89 serve: the backward view. For the digit on show and a label (by default the network's
// reading; a click on an output unit says "this is a 4"), the server runs the network's backward pass
// (POST /api/backprop) and this draws, left to right as the forward view, the error signal dE/da
// (delta) at every layer and the gradient of the shared kernels; "Learn this digit" takes one step of
// the model's own optimizer on the page's copy of the network (POST /api/learn, /api/reset); hovering
// a unit writes out its sum with the network's numbers (POST /api/unit). Uses app.js's helpers.
"use strict";

// The rule that produced each backward panel, as a line under it.
const RULES = {
  out: {
    mse: "δ = f′(a) × (y − target), target +1 for the label, −1 else",
    ce: "δ = softmax(a) − target, target 1 for the label, 0 else",
  },
  hidden: "δ = f′(a) × Σ weight × δ above",
  H1: "δ = f′(a) × Σ weight × δ of the H2 units over it",
  kernelH1: "shared: Σ over its 64 positions of δ × input pixel",
  kernelH2: "shared: Σ over its 16 positions of δ × H1 value",
};
const OPTIMIZERS = { sgd: "SGD", sdlm: "SDLM", adamw: "AdamW" };
const NEG = [33, 102, 172];   // the diverging scale: negative blue, zero white, positive red
const POS = [178, 24, 43];

const back = {
  image: null,      // the digit on show, as the request fields ({png} or {x16})
  label: null,      // the label the backward pass uses
  chosen: null,     // a label the person clicked (null: follow the default)
  fallback: null,   // [label, why] for the digit on show
  epoch: 0,         // a new digit, label or network: older answers are dropped
  shapes: "",       // the panels built, by their shapes
  last: null,       // the last backward answer
  moved: null,      // most_moved of the last learning step
};
state.back = back;

function signed(v, digits) {
  if (v === 0) return "0";
  const s = Math.abs(v) >= 1e-3 || digits === 2 ? Math.abs(v).toFixed(digits || 3) : Math.abs(v).toExponential(1);
  return (v >= 0 ? "+" : "\u2212") + s;
}

function spanOf(values) {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m || 1;
}

function diverging(v, span) {
  const t = Math.max(-1, Math.min(1, v / span));
  const c = t >= 0 ? POS : NEG;
  const a = Math.abs(t);
  return c.map((x) => Math.round(255 + (x - 255) * a));
}

// A (rows x cols) canvas from a flat list; `tiles`: that many w-wide blocks side by side, 1 px apart.
function paintDiverging(canvas, flat, span, tiles, w) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  const n = tiles || 1, tw = w || canvas.width, th = canvas.height;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < th; i++) {
      for (let j = 0; j < tw; j++) {
        const [r, g, b] = diverging(flat[k * tw * th + i * tw + j], span);
        const p = 4 * (i * canvas.width + k * (tw + 1) + j);
        img.data[p] = r; img.data[p + 1] = g; img.data[p + 2] = b; img.data[p + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

// --- the panels ---------------------------------------------------------------------------------

function backFigure(id, title, rule) {
  const fig = el("figure", { class: "layer back-layer", id });
  fig.append(el("figcaption", {}, `${title}<br><span class="rule">${rule}</span><br><span class="span"></span>`));
  return fig;
}

// Backward canvases say what they hold in data-delta (a layer's dE/da) or data-grad (a kernel's dE/dw):
// data-layer stays the forward view's.
function mapGrid(attr, layer, n, w, h, cls) {
  const grid = el("div", { class: `maps ${cls || ""}` });
  for (let k = 0; k < n; k++) {
    grid.append(el("canvas", { class: "map", [attr]: layer, "data-map": k, width: w, height: h }));
  }
  return grid;
}

// Built once per set of shapes: [H1 kernels] [δ H1] [H2 kernels] [δ H2] [δ H3] [δ out].
function buildBack(r) {
  const box = $("back-layers");
  box.replaceChildren();
  const names = Object.keys(r.delta).reverse();   // the answer goes output first; the panels input side first
  for (const name of names) {
    const d = r.delta[name];
    const kernel = r.grad[`${name}.weight`];
    if (name !== "out" && Array.isArray(kernel) && Array.isArray(kernel[0]) && Array.isArray(kernel[0][0])) {
      const [nk, kh, kw] = [kernel[0].length, kernel[0][0].length, kernel[0][0][0].length];
      const fig = backFigure(`back-${name}-kernels`, `<b>dE/dw ${name}</b> ${kernel.length}&times;${nk} kernels ${kh}&times;${kw}`,
        name === "H1" ? RULES.kernelH1 : RULES.kernelH2);
      fig.append(mapGrid("data-grad", `${name}.weight`, kernel.length, nk * (kw + 1) - 1, kh, nk > 1 ? "tiled" : "kernels"));
      box.append(fig);
    }
    let fig;
    if (name === "out") {
      fig = backFigure("back-out", `<b>&delta; output</b> ${d.length}`, "");
      const rows = el("div", { id: "back-outputs", "data-delta": "out" });
      for (let k = 0; k < d.length; k++) {
        const row = el("div", { class: "bar-row", "data-digit": k });
        const track = el("div", { class: "track" });
        track.append(el("div", { class: "zero" }), el("div", { class: "bar" }));
        row.append(el("span", { class: "digit" }, String(k)), track, el("span", { class: "val" }, ""));
        rows.append(row);
      }
      fig.append(rows);
    } else if (Array.isArray(d[0])) {
      fig = backFigure(`back-${name}`, `<b>&delta; ${name}</b> ${d.length} maps ${d[0].length}&times;${d[0][0].length}`,
        name === "H1" ? RULES.H1 : RULES.hidden);
      fig.append(mapGrid("data-delta", name, d.length, d[0][0].length, d[0].length));
    } else {
      fig = backFigure(`back-${name}`, `<b>&delta; ${name}</b> ${d.length} units`, RULES.hidden);
      const c = el("canvas", { class: "strip", "data-delta": name, width: 1, height: d.length });
      c.style.height = `${Math.min(9 * d.length, 360)}px`;
      fig.append(c);
    }
    box.append(fig);
  }
}

function renderBack(r) {
  const key = JSON.stringify([Object.entries(r.delta).map(([k, v]) => [k, shape(v)]),
    Object.entries(r.grad).map(([k, v]) => [k, shape(v)])]);
  if (key !== back.shapes) { buildBack(r); back.shapes = key; }
  back.last = r;
  const section = $("back");
  section.hidden = false;
  for (const [name, d] of Object.entries(r.delta)) {
    const flat = d.flat(3);
    const span = spanOf(flat);
    const fig = name === "out" ? $("back-out") : $(`back-${name}`);
    fig.querySelector(".span").textContent = `largest |δ| ${signed(span).slice(1)}`;
    if (name === "out") {
      fig.querySelector(".rule").textContent = RULES.out[r.loss_kind] || RULES.out.mse;
      fig.querySelectorAll(".bar-row").forEach((row, k) => {
        const v = d[k], w = Math.min(1, Math.abs(v) / span) * 50;
        const bar = row.querySelector(".bar");
        bar.style.left = `${v >= 0 ? 50 : 50 - w}%`;
        bar.style.width = `${w}%`;
        bar.style.background = `rgb(${diverging(v, span).join(",")})`;
        row.querySelector(".val").textContent = signed(v, 3);
        row.classList.toggle("label", k === r.label);
      });
    } else if (Array.isArray(d[0])) {
      fig.querySelectorAll("canvas").forEach((c, k) => paintDiverging(c, d[k].flat(), span));
    } else {
      paintDiverging(fig.querySelector("canvas"), d, span);
    }
    const kernel = r.grad[`${name}.weight`];
    const kfig = $(`back-${name}-kernels`);
    if (kfig && kernel) {
      const kspan = spanOf(kernel.flat(3));
      kfig.querySelector(".span").textContent = `largest |dE/dw| ${signed(kspan).slice(1)}`;
      kfig.querySelectorAll("canvas").forEach((c, k) => {
        const kw = kernel[k][0][0].length;
        paintDiverging(c, kernel[k].flat(2), kspan, kernel[k].length, kw);
        c.classList.toggle("moved", !!back.moved && back.moved[name] === k);
      });
    }
  }
  $("loss-line").textContent = `loss E = ${r.loss.toPrecision(4)} (${r.loss_kind === "ce" ? "cross-entropy" : "squared error"}`
    + `, the model's training cost${state.session ? ", the page's copy after learning" : ""})`;
  $("back-label").textContent = String(r.label);
  document.querySelectorAll("#outputs .bar-row").forEach((row, k) => row.classList.toggle("label", k === r.label));
}

function shape(a) {
  const s = [];
  for (let x = a; Array.isArray(x); x = x[0]) s.push(x.length);
  return s.join("x");
}

// --- requests -----------------------------------------------------------------------------------

function backBody(extra) {
  const body = { ...back.image, model: state.model, label: back.label, ...extra };
  if (state.session) body.session = state.session;
  return body;
}

const refreshBack = coalesced(async () => {
  if (!back.image) return;
  const epoch = back.epoch;
  const r = await api("/api/backprop", backBody());
  if (epoch !== back.epoch || !back.image) return;   // another digit, label or network meanwhile
  if (r.blank) { backClear(); return; }
  renderBack(r);
});

// app.js: a single digit is on show (`image`: its request fields), with its default label and why.
function backFor(image, label, why) {
  back.image = image;
  back.fallback = [label, why];
  back.label = back.chosen === null ? label : back.chosen;
  $("back-label-why").textContent = back.chosen === null ? `(${why}; click an output unit to choose another)`
    : "(your choice; click another output unit to change it)";
  back.epoch++;
  $("learn").disabled = false;
  refreshBack();
}

// app.js: nothing (or a row) on show.
function backClear() {
  back.image = null;
  back.last = null;
  back.epoch++;
  $("back").hidden = true;
  $("learn").disabled = true;
  hideTip();
}

// app.js: a new digit: the label follows the network again.
function backForget() {
  back.chosen = null;
  back.moved = null;
  $("learn-result").hidden = true;
}

// An output unit clicked: "this is a 4".
$("outputs").addEventListener("click", (e) => {
  const row = e.target.closest(".bar-row");
  if (!row || !back.image) return;
  back.chosen = Number(row.dataset.digit);
  backFor(back.image, ...back.fallback);
});

// --- learning on the page's copy ----------------------------------------------------------------

const learn = coalesced(async () => {
  if (!back.image) return;
  const model = state.model;
  const r = await api("/api/learn", backBody());
  if (model !== state.model) return;
  if (r.blank) return;
  state.session = r.session;
  state.learned = r;
  back.moved = r.most_moved;
  back.chosen = r.label;   // keep learning the same label
  $("reset").disabled = false;
  showLearned(r);
  redrawForward();          // app.js: the forward view (then this view) from the page's copy
});

function showLearned(r) {
  const box = $("learn-result");
  box.hidden = false;
  box.replaceChildren();
  const k = r.label;
  box.append(el("p", {}, `<b>step ${r.step}</b> of ${OPTIMIZERS[r.optimizer] || r.optimizer} on this digit, label ${k} `
    + `(learning rate ${r.lr}, the model's first-pass rate): loss ${r.loss_before.toPrecision(4)} &rarr; `
    + `<b>${r.loss_after.toPrecision(4)}</b>; output ${k} ${signed(r.outputs_before[k])} &rarr; `
    + `<b>${signed(r.outputs_after[k])}</b>. Kernels that moved most: H1 map ${r.most_moved.H1}, `
    + `H2 map ${r.most_moved.H2} (outlined). Only this page's copy changed; Reset returns to the shipped weights.`));
  const table = el("table", { class: "before-after" });
  const head = el("tr", {}, "<th>output</th>" + r.outputs_before.map((_, d) => `<th>${d}</th>`).join(""));
  const row = (name, vals) => el("tr", {}, `<th>${name}</th>`
    + vals.map((v, d) => `<td${d === k ? " class=\"label\"" : ""}>${signed(v, 2)}</td>`).join(""));
  table.append(head, row("before", r.outputs_before), row("after", r.outputs_after));
  box.append(table);
}

$("learn").addEventListener("click", () => learn());

$("reset").addEventListener("click", async () => {
  await forgetSession();
  back.moved = null;
  $("learn-result").hidden = true;
  redrawForward();
});

// Drop the page's copy (a new model, Reset); errors are not the person's concern.
async function forgetSession() {
  const id = state.session;
  state.session = null;
  $("reset").disabled = true;
  if (id) {
    try { await api("/api/reset", { session: id }); } catch (e) { /* gone already */ }
  }
}

// --- hover: a unit's sum written out -------------------------------------------------------------

const tip = $("tip");
const hover = { key: null, target: null, cache: new Map() };

function hideTip() { tip.hidden = true; hover.key = null; }

// The unit under the pointer: [layer, index, direction] or null.
function unitAt(e) {
  const t = e.target;
  const direction = t.closest("#back-layers") ? "backward" : t.closest("#net") ? "forward" : null;
  if (!direction) return null;
  const row = t.closest(".bar-row");
  if (row) return ["out", [Number(row.dataset.digit)], direction];
  const layer = direction === "forward" ? t.dataset.layer : t.dataset.delta;
  if (t.tagName !== "CANVAS" || !layer || layer === "input") return null;
  const r = t.getBoundingClientRect();
  const col = Math.min(t.width - 1, Math.floor((e.clientX - r.left) * t.width / r.width));
  const rowI = Math.min(t.height - 1, Math.floor((e.clientY - r.top) * t.height / r.height));
  if (t.classList.contains("strip")) return [layer, [rowI], direction];
  return [layer, [Number(t.dataset.map), rowI, col], direction];
}

const fetchUnit = coalesced(async () => {
  const want = hover.target;
  if (!want || !back.image) return;
  const [layer, index, direction, key] = want;
  let r = hover.cache.get(key);
  if (!r) {
    r = await api("/api/unit", backBody({ layer, index }));
    hover.cache.set(key, r);
    if (hover.cache.size > 200) hover.cache.delete(hover.cache.keys().next().value);
  }
  if (hover.key !== key) return;   // the pointer moved on
  showTip(r, direction);
});

document.addEventListener("pointermove", (e) => {
  const u = back.image ? unitAt(e) : null;
  if (!u) { hideTip(); return; }
  tip.style.left = `${Math.min(e.clientX + 14, window.innerWidth - 330)}px`;
  tip.style.top = `${e.clientY + 14}px`;
  const key = JSON.stringify([u, back.epoch, state.session, back.label, back.last && back.last.loss]);
  if (key === hover.key) return;
  hover.key = key;
  hover.target = [...u, key];
  tip.hidden = true;          // not another unit's sum meanwhile
  fetchUnit();
});

function termLine(from, x, w, p) {
  return el("tr", {}, `<td>${from}</td><td>${signed(x)}</td><td>&times;</td><td>${signed(w)}</td>`
    + `<td>=</td><td>${signed(p)}</td>`);
}

function showTip(r, direction) {
  tip.replaceChildren();
  tip.dataset.direction = direction;
  tip.dataset.unit = r.name;
  const f = r.forward, b = r.backward;
  if (direction === "forward") {
    tip.append(el("p", {}, `<b>${r.name}</b> forward: a = &Sigma; input &times; weight + bias`));
    const t = el("table", {});
    t.append(el("tr", {}, "<th>from</th><th>input</th><th></th><th>weight</th><th></th><th>product</th>"));
    for (const x of f.terms) t.append(termLine(x.from, x.input, x.weight, x.product));
    if (f.n_others) t.append(el("tr", {}, `<td colspan="5">+ ${f.n_others} more inputs</td><td>${signed(f.others)}</td>`));
    t.append(el("tr", {}, `<td colspan="5">+ bias</td><td>${signed(f.bias)}</td>`));
    t.append(el("tr", { class: "total" }, `<td colspan="5">a</td><td>${signed(f.a)}</td>`));
    tip.append(t, el("p", {}, `y = f(a) = ${signed(f.y)} <span class="hint">${f.activation}</span>`));
  } else if (!b.terms) {
    tip.append(el("p", {}, `<b>${r.name}</b> backward (an output unit)`),
      el("p", {}, `dE/dy = ${signed(b["dE/dy"])}; f&prime;(a) = ${signed(b.fprime)}<br>`
        + `&delta; = f&prime;(a) &times; dE/dy = <b>${signed(b.delta)}</b>`));
  } else {
    tip.append(el("p", {}, `<b>${r.name}</b> backward: dE/dy = &Sigma; weight &times; &delta; above`));
    const t = el("table", {});
    t.append(el("tr", {}, "<th>to</th><th>&delta;</th><th></th><th>weight</th><th></th><th>product</th>"));
    for (const x of b.terms) t.append(termLine(x.to, x.delta, x.weight, x.product));
    if (b.n_others) t.append(el("tr", {}, `<td colspan="5">+ ${b.n_others} more</td><td>${signed(b.others)}</td>`));
    t.append(el("tr", { class: "total" }, `<td colspan="5">dE/dy</td><td>${signed(b.sum)}</td>`));
    tip.append(t, el("p", {}, `&delta; = f&prime;(a) &times; dE/dy = ${signed(b.fprime)} &times; ${signed(b.sum)} `
      + `= <b>${signed(b.delta)}</b>`));
  }
  tip.hidden = false;
}
