// lecun89 serve: the Train tab. A shipped config is trained by the server (POST /api/train/start; the
// trainer and engine of `lecun89 train`, in the server's background) while this page polls it
// (GET /api/train?since=K) and draws, as they change: the paper's Figure 3 (log MSE in the paper's
// convention and % error against passes, training and test, the paper's final figures dashed), the H1
// and H2 kernels, the learning rate or SDLM's step sizes, a strip of test digits with their readings,
// the digits per second. Stop, Continue (a finished run: 5 more passes), Save; "Draw on it" takes the
// network (a copy, made when the run stops or ends) to the other tabs. Uses app.js's helpers.
"use strict";

const TRAIN_POLL_MS = 150;     // while a run trains and the tab is on show
const TRAIN_IDLE_MS = 1000;    // otherwise (a page holding a run keeps polling: it holds it so)
const MORE_PASSES = 5;
const COLOURS = { train: "#1f77b4", test: "#d9480f" };

const T = {
  configs: null, run: null, owner: null, points: [], since: 0, snapshot: null, strip: null, refs: [],
  model: null,            // the latest network copy the server offers as the model "trained"
  timer: null, polls: 0, draws: 0,
};
state.train = T;             // for the browser test and the curious

function trainStatus(text, isError) {
  const e = $("train-status");
  e.textContent = text || "";
  e.classList.toggle("error", !!isError);
}

async function loadTrainConfigs() {
  if (T.configs) return;
  const r = await api("/api/train/configs");
  T.configs = r.configs;
  const sel = $("train-config");
  for (const c of r.configs) {
    const o = el("option", { value: c.name });
    o.textContent = `${c.name} (${c.data}, ${c.optimizer}, ${c.passes} passes)` + (c.available ? "" : " \u2014 no data here");
    o.disabled = !c.available;
    if (!c.available) o.title = c.why;
    sel.append(o);
  }
}

// Called by app.js's showTab when the Train tab comes up.
async function trainShown() {
  try { await loadTrainConfigs(); } catch (e) { trainStatus(e.message, true); }
  poll();
}

function schedulePoll() {
  if (T.timer !== null) clearTimeout(T.timer);
  T.timer = null;
  const live = T.run && ["starting", "running"].includes(T.run.state);
  if (state.tab !== "train" && !T.owner) return;            // a watcher off the tab stops watching
  T.timer = setTimeout(poll, live && state.tab === "train" ? TRAIN_POLL_MS : TRAIN_IDLE_MS);
}

async function poll() {
  if (T.timer !== null) { clearTimeout(T.timer); T.timer = null; }
  try {
    const q = `since=${T.since}` + (T.owner ? `&owner=${encodeURIComponent(T.owner)}` : "");
    take(await api(`/api/train?${q}`));
  } catch (e) {
    trainStatus(e.message, true);
  }
  schedulePoll();
}

// One poll's answer: new points, the latest snapshot, the run's state.
function take(r) {
  T.polls++;
  if (!r.run) {
    if (T.run) { T.run = null; T.points = []; T.since = 0; T.owner = null; }
    showTrain();
    return;
  }
  if (!T.run || r.run.id !== T.run.id) {           // a run this page has not seen: from its first point
    if (r.since !== 0) { T.since = 0; T.run = { id: null }; return; }
    T.points = []; T.strip = null; T.model = null;
    if (!r.holder) T.owner = null;
  }
  if (r.strip) { T.strip = r.strip; T.refs = r.references; buildStrip(); }
  T.run = r.run;
  T.points.length = Math.min(T.points.length, r.since);   // an answer from its K-th point on (an action's: 0)
  T.points.push(...r.points);
  T.since = r.npoints;
  T.snapshot = r.snapshot;
  T.results = r.results;
  if (r.model && (!T.model || T.model.where !== r.model.where)) { T.model = r.model; refreshModels(); }
  showTrain();
}

// --- the controls --------------------------------------------------------------------------

async function trainAct(what, body) {
  try {
    const r = await api(`/api/train/${what}`, { owner: T.owner, ...body });
    trainStatus("");
    return r;
  } catch (e) {
    trainStatus(e.message, true);
    return null;
  }
}

$("train-start").addEventListener("click", async () => {
  const seed = Number($("train-seed").value);
  const pace = $("train-pace").value;
  const body = { config: $("train-config").value, pace: pace ? Number(pace) : null };
  if ($("train-seed").value !== "") body.seed = seed;
  const r = await trainAct("start", body);
  if (!r) return;
  T.owner = r.owner;
  T.run = null;
  take(r);
  schedulePoll();
});
$("train-stop").addEventListener("click", async () => { const r = await trainAct("stop"); if (r) take(r); });
$("train-continue").addEventListener("click", async () => {
  const r = await trainAct("continue", T.run && T.run.state === "done" ? { passes: MORE_PASSES } : {});
  if (r) { take(r); schedulePoll(); }
});
$("train-save").addEventListener("click", async () => {
  trainStatus("saving the run and its report\u2026");
  const r = await trainAct("save");
  if (r) trainStatus(`saved: ${r.saved} (report: ${r.report})`);
});
$("train-use").addEventListener("click", async () => {
  await refreshModels();
  $("model").value = "trained";
  useModel("trained");
  showTab("draw");
});
$("train-cost").addEventListener("change", () => drawFigure3());

// The server's models again (the network copy "trained" is new): the model menu and, when it is on show, the views.
async function refreshModels() {
  const info = await api("/api/models");
  state.models = info.models;
  const select = $("model");
  const chosen = select.value;
  select.replaceChildren();
  for (const m of info.models) {
    const o = el("option", { value: m.name });
    o.textContent = m.name;
    select.append(o);
  }
  select.value = chosen;
  if (chosen === "trained") useModel("trained");   // the views read the new copy
}

// --- what is shown ---------------------------------------------------------------------------

function pctText(v) { return v === null || v === undefined ? "\u2014" : `${(100 * v).toFixed(2)}%`; }
function sciText(v) { return v === null || v === undefined ? "\u2014" : v.toExponential(2); }

function showTrain() {
  const panel = $("train-panel");
  const run = T.run, s = T.snapshot;
  panel.dataset.run = run ? run.id : "";
  panel.dataset.state = run ? run.state : "none";
  const mine = !!(run && T.owner);
  $("train-stop").disabled = !(mine && ["starting", "running"].includes(run.state));
  $("train-continue").disabled = !(mine && ["paused", "done"].includes(run.state));
  $("train-continue").textContent = run && run.state === "done" ? `+${MORE_PASSES} passes` : "Continue";
  $("train-save").disabled = !(mine && run.state === "done");
  $("train-use").disabled = !T.model;
  $("train-start").textContent = mine ? "Start over" : "Train";
  const line = $("train-line");
  if (!run) {
    line.textContent = "no run on this server yet: pick a config and a seed, press Train";
  } else {
    const who = mine ? "" : " (another page's run: watching)";
    const at = s ? `pass ${Math.min(s.pass, run.passes)} of ${run.passes}, ${s.digits.toLocaleString()} digits` : "";
    const speed = s && s.digits_per_second ? `, ${Math.round(s.digits_per_second).toLocaleString()} digits/s` : "";
    const last = T.points.filter((p) => p.kind === "pass").pop();
    const now = last ? `; after pass ${last.x}: train ${pctText(last.train_error)}, test ${pctText(last.test_error)}` : "";
    const why = run.why ? ` (${run.why})` : "";
    line.textContent = `${run.config}, seed ${run.seed}: ${run.state}${why}${who}; ${at}${speed}${now}`;
    if (run.state === "failed") trainStatus(run.error, true);
  }
  drawFigure3();
  if (s) { drawKernels(s.kernels); showSteps(s.steps); showReadings(s.readings); T.draws++; }
}

// Figure 3: two panels over the same passes; pass points (the full sets, as metrics.jsonl) with markers,
// the points within a pass (the sample's) on a thin line; the paper's final figures dashed.
function drawFigure3() {
  const run = T.run;
  const useCost = $("train-cost").checked;
  const mseKey = (split) => (useCost || !run || !T.points.some((p) => p[`${split}_mse`] !== null))
    ? `${split}_loss` : `${split}_mse`;
  const top = [mseKey("train"), mseKey("test")];
  const costName = run ? (run.loss === "mse" ? (run.cost_scale === "half_sum"
    ? "E = \u00bd \u03a3 over outputs (SN2.8's)" : "mean over outputs") : "cross-entropy") : "";
  const topLabel = top[0] === "train_mse" ? "MSE, the paper's (SN2.8's printed: \u00bd mean over outputs of (y\u2212t)\u00b2), log"
    : `the optimizer's cost (${costName}), log`;
  const passes = run ? run.passes : 1;
  const refs = (T.refs || []).map((r) => r.figures);
  const refLines = (key) => refs.map((f) => f[key]).filter((v) => typeof v === "number");
  const mseRefs = top[0] === "train_mse" ? [["train", refLines("train_half_mse")], ["test", refLines("test_half_mse")]] : [];
  plot($("fig3-mse"), topLabel, T.points, top, passes, true, mseRefs);
  plot($("fig3-err"), "error (%)", T.points, ["train_error", "test_error"], passes, false,
    [["train", refLines("train_error")], ["test", refLines("test_error")]]);
  const ref = T.refs && T.refs.length ? ` Dashed: ${T.refs[0].label}'s final figures.` : "";
  const box = $("fig3-legend");
  box.replaceChildren(el("span", { class: "train" }, "\u25cf training"), " ", el("span", { class: "test" }, "\u25cf test"),
    `. Dots: after each pass, on all the training and test digits (as metrics.jsonl); thin line: every 512 digits, `
    + `on a fixed sample of 300 of each.${ref}`);
}

function plot(canvas, label, points, keys, passes, log, refs) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 62, R = 12, Tp = 20, B = 30;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#1b1b1b";
  ctx.fillText(label, L, 13);
  const xmax = Math.max(passes, ...points.map((p) => p.x), 1);
  const vals = [];
  for (const p of points) for (const k of keys) if (typeof p[k] === "number" && (!log || p[k] > 0)) vals.push(p[k]);
  for (const [, vs] of refs) vals.push(...vs.filter((v) => !log || v > 0));
  const f = log ? Math.log10 : (v) => 100 * v;
  let lo, hi;
  if (log) {
    lo = vals.length ? Math.floor(Math.log10(Math.min(...vals))) : -3;
    hi = vals.length ? Math.ceil(Math.log10(Math.max(...vals))) : 0;
    if (hi <= lo) hi = lo + 1;
  } else {   // after the first passes, the range of the later ones (the first pass leaves through the top)
    const later = points.filter((p) => p.x >= 1);
    const vs = (later.length >= 2 ? later : points).flatMap((p) => keys.map((k) => p[k])).filter((v) => typeof v === "number");
    for (const [, r] of refs) vs.push(...r);
    lo = 0;
    hi = vs.length ? 105 * Math.max(...vs) : 100;
    hi = Math.max(hi, 1);
  }
  const X = (x) => L + (W - L - R) * x / xmax;
  const Y = (v) => Tp + (H - Tp - B) * (1 - (f(v) - lo) / (hi - lo));
  // axes, grid, ticks
  ctx.strokeStyle = "#d4d4d4";
  ctx.lineWidth = 1;
  ctx.fillStyle = "#666";
  const yt = log ? Array.from({ length: hi - lo + 1 }, (_, i) => lo + i) : niceTicks(hi);
  for (const t of yt) {
    const y = log ? Tp + (H - Tp - B) * (1 - (t - lo) / (hi - lo)) : Tp + (H - Tp - B) * (1 - t / hi);
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(W - R, y); ctx.stroke();
    ctx.fillText(log ? `1e${t}` : `${t}`, 4, y + 4);
  }
  const step = xmax > 40 ? 10 : xmax > 12 ? 5 : 1;
  for (let x = 0; x <= xmax; x += step) {
    ctx.beginPath(); ctx.moveTo(X(x), Tp); ctx.lineTo(X(x), H - B); ctx.stroke();
    ctx.fillText(String(x), X(x) - 3, H - B + 13);
  }
  ctx.fillText("passes", W - R - 40, H - 4);
  ctx.save();
  ctx.beginPath(); ctx.rect(L, Tp, W - L - R, H - Tp - B); ctx.clip();
  // the paper's final figures
  ctx.setLineDash([6, 4]);
  for (const [split, vs] of refs) {
    for (const v of vs) {
      ctx.strokeStyle = COLOURS[split];
      ctx.globalAlpha = 0.7;
      ctx.beginPath(); ctx.moveTo(L, Y(v)); ctx.lineTo(W - R, Y(v)); ctx.stroke();
    }
  }
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
  for (const k of keys) {
    const split = k.startsWith("train") ? "train" : "test";
    const pts = points.filter((p) => typeof p[k] === "number" && (!log || p[k] > 0));
    ctx.strokeStyle = COLOURS[split];
    ctx.lineWidth = 1;
    ctx.globalAlpha = 0.45;
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(X(p.x), Y(p[k])) : ctx.moveTo(X(p.x), Y(p[k]))));
    ctx.stroke();
    ctx.globalAlpha = 1;
    ctx.lineWidth = 2;
    const full = pts.filter((p) => p.kind === "pass");
    ctx.beginPath();
    full.forEach((p, i) => (i ? ctx.lineTo(X(p.x), Y(p[k])) : ctx.moveTo(X(p.x), Y(p[k]))));
    ctx.stroke();
    ctx.fillStyle = COLOURS[split];
    for (const p of full) { ctx.beginPath(); ctx.arc(X(p.x), Y(p[k]), 2.6, 0, 2 * Math.PI); ctx.fill(); }
  }
  ctx.restore();
}

function niceTicks(hi) {
  const raw = hi / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let t = 0; t <= hi + 1e-9; t += step) out.push(Number(t.toPrecision(3)));
  return out;
}

// Kernels [O, I, k, k] on one canvas: one row of tiles for I = 1 (H1), else O rows of I tiles (H2).
function drawKernels(kernels) {
  [1, 2].forEach((slot, j) => {
    const c = $(`kernels-${slot}`);
    const k = kernels[j];
    c.parentElement.hidden = !k;
    if (!k) return;
    const [O, I, kh, kw] = k.shape;
    const cols = I === 1 ? Math.min(O, kh > 5 ? 10 : 12) : I;
    const rows = I === 1 ? Math.ceil(O / cols) : O;
    const scale = kh > 5 ? 2 : I === 1 ? 6 : 4, gap = 2;
    const w = cols * (kw * scale + gap), h = rows * (kh * scale + gap);
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(w, h);
    img.data.fill(255);
    const span = k.span || 1;
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < I; i++) {
        const tile = I === 1 ? o : o * I + i;
        const r = Math.floor(tile / cols), col = tile % cols;
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            const rgb = diverging(k.values[((o * I + i) * kh + y) * kw + x], span);
            for (let dy = 0; dy < scale; dy++) {
              for (let dx = 0; dx < scale; dx++) {
                const px = col * (kw * scale + gap) + x * scale + dx, py = r * (kh * scale + gap) + y * scale + dy;
                const q = 4 * (py * w + px);
                img.data[q] = rgb[0]; img.data[q + 1] = rgb[1]; img.data[q + 2] = rgb[2];
              }
            }
          }
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    $(`k${slot}-name`).textContent = k.name;
    $(`k${slot}-cap`).textContent = (I === 1 ? `${O} ${kh === 5 ? "kernels, 5\u00d75" : `units' weights as ${kh}\u00d7${kw} images`}`
      : `${O} maps \u00d7 the ${I} maps each reads, 5\u00d75`) + `; blue \u2212, red +, largest ${span.toFixed(3)}`;
  });
}

function showSteps(steps) {
  const box = $("train-steps");
  const opt = OPTIMIZERS[steps.optimizer] || steps.optimizer;
  if (!steps.layers) {
    box.textContent = `${opt}: learning rate ${steps.lr.toExponential(2)} this pass`;
    return;
  }
  const rows = steps.layers.map((l) => `<tr><td>${l.name}</td><td>${l.median.toExponential(2)}</td>`
    + `<td>${l.lo.toExponential(2)} \u2013 ${l.hi.toExponential(2)}</td></tr>`).join("");
  box.innerHTML = `<b>SDLM's step sizes</b> <span class="hint">\u03b5 / (\u03bc + h) per weight, \u03b5 = `
    + `${steps.lr.toExponential(1)}, \u03bc = ${steps.mu}</span><table><tr><th>layer</th><th>median</th>`
    + `<th>smallest \u2013 largest</th></tr>${rows}</table>`;
}

function buildStrip() {
  const box = $("train-strip");
  box.replaceChildren();
  T.strip.images.forEach((img, i) => {
    const fig = el("figure", { "data-label": T.strip.labels[i] });
    const c = el("canvas", { width: 16, height: 16 });
    paint(c, img, -1, 1);
    fig.append(c, el("figcaption", {}, "<b></b>"));
    box.append(fig);
  });
}

function showReadings(readings) {
  if (!T.strip || !readings) return;
  document.querySelectorAll("#train-strip figure").forEach((fig, i) => {
    const label = T.strip.labels[i], read = readings[i];
    fig.classList.toggle("wrong", read !== label);
    fig.querySelector("b").textContent = read === label ? String(read) : `${read} (${label})`;
    fig.title = `test digit #${T.strip.indices[i]}: label ${label}, read ${read}`;
  });
}

$("tab-train").addEventListener("click", () => showTab("train"));
// A page that closes lets go of its run at once (else the server waits for its polls to stop).
window.addEventListener("pagehide", () => {
  if (T.owner) navigator.sendBeacon("/api/train/leave", JSON.stringify({ owner: T.owner }));
});
