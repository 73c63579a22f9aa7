// lecun89 serve: draw a digit, watch the 1989 network read it. No build step, no libraries.
"use strict";

const THROTTLE_MS = 100;      // at most one request per 100 ms while drawing (and one at stroke end)
const BRUSH = 0.09;           // brush width as a share of the pad's height: ~2 px strokes at 16x16, as USPS digits
// The drawing goes to the server at 140x140, half the pad's size: a quarter of the pixels to read,
// the same 16x16 digit in the end (the server fits the ink's bounding box into 16x16).
const SEND_SIZE = 140;
// The row pad (560x140) goes as it is: its digits are about as many pixels tall as the single digit sent,
// and the boxes the server finds are in the pad's own pixels.
const HINTS = {
  digit: "draw one digit, large, with mouse, pen or finger",
  row: "write a row of digits (a zip code), side by side, each as tall as the pad",
};
const HELDOUT = [["clean", "other writers (MNIST test, clean scans)"], ["photo", "phone-photo-like"]];
const HELDOUT_MORE = [["thick", "thick pen"], ["thin", "thin pen"]];
const CAPTIONS = {
  H1: (s) => `<b>H1</b> ${s[0]} maps ${s[1]}&times;${s[2]}<br><span>5&times;5 kernels, stride 2, on the input</span>`,
  H2: (s) => `<b>H2</b> ${s[0]} maps ${s[1]}&times;${s[2]}<br><span>5&times;5 kernels on 8 of the H1 maps</span>`,
  H3: (s) => `<b>H3</b> ${s[0]} units<br><span>fully connected to H2</span>`,
};

const $ = (id) => document.getElementById(id);
const pad = $("pad");                 // one digit
const rowPad = $("row-pad");          // a row of digits
const rowBoxes = $("row-boxes");      // over the row pad: the box of each digit read

const sendCanvas = document.createElement("canvas");
sendCanvas.width = sendCanvas.height = SEND_SIZE;

const state = {
  models: [], model: null, tab: "draw", mode: "digit",   // mode: "digit" (one) or "row" (a zip code)
  hasInk: false, epoch: 0, lastDraw: null,   // the drawing and the network's latest reading of it
  busy: 0, timer: null, lastSent: 0,
  test: null, pos: 0,                        // the test-set order for the current model, the position in it
  lastPNG: null,                             // the drawing as last sent
  session: null,                             // the page's own copy of the network, after "Learn this digit"
};
window.lecun89 = state;                      // for the browser test and the curious

// --- talking to the server ---------------------------------------------------------

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new Error("the server does not answer (is lecun89 serve still running?)");
  }
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok && res.status === 404 && state.session && body && body.session === state.session) {
    // the server keeps a few learning sessions and dropped this page's: back to the shipped weights
    state.session = null;
    $("reset").disabled = true;
    throw new Error("the server dropped this page's learned copy (it keeps a few); the shipped weights read from here on");
  }
  if (!res.ok) throw new Error((data && data.error) || `HTTP ${res.status}`);
  return data;
}

function updateState() {
  const busy = state.busy > 0 || state.timer !== null;
  document.body.dataset.state = busy ? "busy" : "idle";
}

// At most one request in flight; calls made meanwhile collapse into one, made when it returns.
function coalesced(run) {
  let inFlight = false, again = false;
  const go = async () => {
    inFlight = true; state.busy++; updateState();
    try { await run(); } catch (e) { status(e.message, true); }
    finally {
      inFlight = false; state.busy--;
      if (again) { again = false; go(); }
      updateState();
    }
  };
  return () => { if (inFlight) again = true; else go(); };
}

function status(text, isError) {
  const el = $("status");
  el.textContent = text || "";
  el.classList.toggle("error", !!isError);
}

// --- drawing -------------------------------------------------------------------------

function activePad() { return state.mode === "row" ? rowPad : pad; }

function padPNG() {
  if (state.mode === "row") return rowPad.toDataURL("image/png");
  const ctx = sendCanvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(pad, 0, 0, SEND_SIZE, SEND_SIZE);
  return sendCanvas.toDataURL("image/png");
}

function padClear() {
  for (const c of [pad, rowPad]) {
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
  }
  rowBoxes.getContext("2d").clearRect(0, 0, rowBoxes.width, rowBoxes.height);
}

function padPoint(c, e) {
  const r = c.getBoundingClientRect();
  return [(e.clientX - r.left) * c.width / r.width, (e.clientY - r.top) * c.height / r.height];
}

function stroke(c, a, b) {
  const ctx = c.getContext("2d");
  ctx.strokeStyle = "#000";
  ctx.lineWidth = BRUSH * Math.min(c.width, c.height);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0], b[1]);
  ctx.stroke();
}

let pointer = null, last = null;

for (const c of [pad, rowPad]) {
  c.addEventListener("pointerdown", (e) => {
    if (pointer !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    pointer = e.pointerId;
    c.setPointerCapture(e.pointerId);
    last = padPoint(c, e);
    stroke(c, last, last);
    state.hasInk = true;
    schedule(false);
  });

  c.addEventListener("pointermove", (e) => {
    if (e.pointerId !== pointer || c !== activePad()) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of (events.length ? events : [e])) {
      const p = padPoint(c, ev);
      stroke(c, last, p);
      last = p;
    }
    schedule(false);
  });

  c.addEventListener("pointerup", strokeEnd);
  c.addEventListener("pointercancel", strokeEnd);
}

function strokeEnd(e) {
  if (e.pointerId !== pointer) return;
  pointer = null;
  schedule(true);
}

// Throttled: a request at most every THROTTLE_MS while drawing, and one at once at a stroke's end.
function schedule(now) {
  if (!state.hasInk) return;
  const wait = THROTTLE_MS - (performance.now() - state.lastSent);
  if (now || wait <= 0) {
    if (state.timer !== null) { clearTimeout(state.timer); state.timer = null; }
    state.lastSent = performance.now();
    sendDrawing();
  } else if (state.timer === null) {
    state.timer = setTimeout(() => {
      state.timer = null;
      state.lastSent = performance.now();
      sendDrawing();
    }, wait);
  }
  updateState();
}

const sendDrawing = coalesced(async () => {
  if (!state.hasInk) return;
  const epoch = state.epoch;
  let image;                                  // the drawing, or a picture opened on the page (photo.js)
  if (photoOpen()) image = { image: photo.url };
  else { state.lastPNG = padPNG(); image = { png: state.lastPNG }; }
  const body = { model: state.model, ...image };
  if (state.mode === "row") {
    body.row = true;
    const n = rowCount();
    if (n !== null) body.digits = n;
  } else if (state.session) body.session = state.session;
  const r = await api("/api/predict", body);
  if (epoch !== state.epoch) return;          // cleared (or the mode switched) meanwhile
  r.image = image;                            // what the backward view sends
  state.lastDraw = r;
  if (state.tab !== "draw") return;
  status("");
  showDraw(r);
});

function showDraw(r) {
  if (r.blank) {
    resetViews();
    status(photoOpen() ? r.message : r.row ? "no digits found yet" : "nothing drawn yet");
  } else if (r.row) renderRow(r);
  else {
    render(r);
    if (r.digit === null) backClear();        // not a digit: no label to walk back from
    else backFor(r.image, r.digit, photoOpen() ? "the digit the network read in the picture" : "the digit the network read");
  }
  if (photoOpen()) photoMarks(r);
}

// The row's digit count (the "digits" box, when this reader takes one): null for any, 5, or [5, 9].
function rowCount() {
  const box = $("row-count");
  const text = box.value.trim();
  if (!text || $("row-count-box").hidden) return null;
  if (!/^[0-9]{1,2}(\s*,\s*[0-9]{1,2})*$/.test(text)) throw new Error(`digit count: write a number such as 5, or 5,9 for either (got "${text.slice(0, 20)}")`);
  const counts = text.split(",").map(Number);
  return counts.length === 1 ? counts[0] : counts;
}

function clearDrawing() {
  photoClose();                                // photo.js: back to the pads
  state.epoch++;
  state.hasInk = false;
  state.lastDraw = null;
  backForget();
  pointer = null;                              // a stroke under way ends here
  if (state.timer !== null) { clearTimeout(state.timer); state.timer = null; }
  padClear();
  resetViews();
  status("");
  updateState();
}

$("clear").addEventListener("click", clearDrawing);

// One digit or a row of them: the row has its own wide pad, and its digits one by one in place of the layers.
function setMode(mode) {
  if (mode === state.mode) return;
  state.mode = mode;
  $("mode-digit").setAttribute("aria-pressed", String(mode === "digit"));
  $("mode-row").setAttribute("aria-pressed", String(mode === "row"));
  $("draw-hint").textContent = HINTS[mode];
  if (photoOpen()) {                           // the picture stays: read again, as one digit or as a row
    state.epoch++;
    state.lastDraw = null;
    backForget();
    resetViews();
    showPads();
    schedule(true);
  } else {
    clearDrawing();
    showPads();
  }
  updateView();
}

// The pad for the mode, or the picture opened in its place (photo.js); the digit count for a row.
function showPads() {
  const open = photoOpen();
  pad.hidden = open || state.mode === "row";
  $("row-wrap").hidden = open || state.mode !== "row";
  $("photo-wrap").hidden = !open;
  $("row-count-box").hidden = !(state.rowDigits && state.mode === "row");
  document.body.classList.toggle("photo-view", open);
}

$("mode-digit").addEventListener("click", () => setMode("digit"));
$("mode-row").addEventListener("click", () => setMode("row"));

function updateView() {
  const rowView = state.tab === "draw" && state.mode === "row";
  document.body.classList.toggle("row-view", rowView);
  $("net").hidden = rowView;
  $("row-net").hidden = !rowView;
}

// --- the network's views -----------------------------------------------------------------

function el(tag, attrs, html) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (html !== undefined) e.innerHTML = html;
  return e;
}

// The panels for a model's layers (all but the output, drawn as bars).
function buildViews(shapes) {
  const box = $("hidden-layers");
  box.replaceChildren();
  const names = Object.keys(shapes);
  for (const name of names.slice(0, -1)) {
    const s = shapes[name];
    const fig = el("figure", { class: "layer", id: `layer-${name}` });
    const known = CAPTIONS[name] && s.length === (name === "H3" ? 1 : 3);   // the paper's layers
    const cap = known ? CAPTIONS[name](s) : `<b>${name}</b> ${s.join("&times;")}`;
    fig.append(el("figcaption", {}, cap));
    if (s.length === 3) {
      const grid = el("div", { class: "maps" });
      for (let k = 0; k < s[0]; k++) {
        grid.append(el("canvas", { class: "map", "data-layer": name, "data-map": k, width: s[2], height: s[1] }));
      }
      fig.append(grid);
    } else {
      const n = s.reduce((a, b) => a * b, 1);
      const c = el("canvas", { class: "strip", "data-layer": name, width: 1, height: n });
      c.style.height = `${Math.min(9 * n, 360)}px`;
      fig.append(c);
    }
    box.append(fig);
  }
  const out = $("outputs");
  out.replaceChildren();
  const n = shapes[names[names.length - 1]][0];
  for (let d = 0; d < n; d++) {
    const row = el("div", { class: "bar-row", "data-digit": d });
    row.append(el("span", { class: "digit" }, String(d)));
    const track = el("div", { class: "track" });
    track.append(el("div", { class: "zero" }), el("div", { class: "bar" }));
    row.append(track, el("span", { class: "val" }, ""));
    out.append(row);
  }
}

function gray(v, lo, hi) {
  const t = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
  return Math.round(255 * (1 - t));      // lo white, hi black
}

function paint(canvas, rows, lo, hi) {     // rows: a 2-D array (or a flat list for a 1-pixel-wide strip)
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  const flat = rows.flat();
  for (let i = 0; i < flat.length; i++) {
    const g = gray(flat[i], lo, hi);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function fmt(v) { return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toFixed(2); }

function render(r) {
  paint($("input16"), r.input, -1, 1);
  const outLayer = r.layers[r.layers.length - 1];
  for (const layer of r.layers.slice(0, -1)) {
    const [lo, hi] = r.ranges[layer.name];
    const canvases = document.querySelectorAll(`canvas[data-layer="${layer.name}"]`);
    if (layer.shape.length === 3) {
      canvases.forEach((c, k) => paint(c, layer.values[k], lo, hi));
    } else if (canvases.length) {
      paint(canvases[0], layer.values, lo, hi);
    }
  }
  // outputs: bars from zero, to the right for positive values
  const [lo, hi] = r.ranges[outLayer.name];
  const span = Math.max(Math.abs(lo), Math.abs(hi));
  const zero = lo < 0 ? 50 : 0;                     // % of the track where 0 sits
  const scale = lo < 0 ? 50 : 100;
  document.querySelectorAll("#outputs .bar-row").forEach((row, d) => {
    const v = r.outputs[d];
    const w = Math.min(1, Math.abs(v) / span) * scale;
    const bar = row.querySelector(".bar");
    bar.style.left = `${v >= 0 ? zero : zero - w}%`;
    bar.style.width = `${w}%`;
    row.querySelector(".zero").style.left = `${zero}%`;
    row.querySelector(".val").textContent = fmt(v);
    row.classList.toggle("top", d === r.digit);
    row.classList.toggle("second", d === r.top2[1][0]);
    row.classList.toggle("neg", v < 0);
  });
  // the decision (no digit at all: the reader says why)
  const p = $("prediction");
  p.textContent = r.digit === null ? "\u2013" : String(r.digit);
  p.dataset.model = r.model;
  p.dataset.row = "false";
  const dec = $("decision");
  dec.classList.toggle("rejected", r.rejected);
  dec.classList.remove("row-read");
  dec.classList.add("shown");
  const [[a, va], [b, vb]] = r.top2;
  $("reason").textContent = r.reason || "";
  if (r.digit === null) {
    $("verdict").textContent = "not a digit";
    $("gap").textContent = `top two: ${a} (${fmt(va)}), ${b} (${fmt(vb)})`;
  } else if (r.threshold === null) {
    $("verdict").textContent = "read (this model has no rejection threshold)";
    $("gap").textContent = `gap ${r.gap.toFixed(3)} between ${a} (${fmt(va)}) and ${b} (${fmt(vb)})`;
  } else {
    $("verdict").textContent = r.rejected ? "rejected" : "accepted";
    $("gap").textContent = `gap ${r.gap.toFixed(3)} ${r.rejected ? "<" : "\u2265"} threshold ${r.threshold.toFixed(3)}; `
      + `top two: ${a} (${fmt(va)}), ${b} (${fmt(vb)})`;
  }
  legend(r.ranges);
}

// A row: the digits read (the unsure ones struck through), the row's verdict, each digit's input and reading.
function renderRow(r) {
  const digits = r.per_digit;
  const p = $("prediction");
  p.replaceChildren(...digits.map((d) => el("span", d.rejected ? { class: "unsure" } : {},
    d.digit === null ? "?" : String(d.digit))));
  p.dataset.model = r.model;
  p.dataset.row = "true";
  const dec = $("decision");
  dec.classList.toggle("rejected", r.rejected);
  dec.classList.add("shown", "row-read");
  const threshold = digits[0].threshold;
  const least = digits.reduce((a, d) => Math.min(a, d.gap), Infinity);
  const n = `${digits.length} digit${digits.length === 1 ? "" : "s"}`;
  if (threshold === null) {
    $("verdict").textContent = "read (this model has no rejection threshold)";
    $("gap").textContent = `${n}; smallest gap ${least.toFixed(3)}`;
  } else if (r.rejected) {
    const unsure = digits.map((d, k) => (d.rejected ? `#${k + 1}` : null)).filter((k) => k !== null);
    $("verdict").textContent = "REJECTED";
    $("gap").textContent = `${n}; ${unsure.length === 1 ? "digit" : "digits"} ${unsure.join(", ")} `
      + `with gap < threshold ${threshold.toFixed(3)}`;
  } else {
    $("verdict").textContent = "accepted";
    $("gap").textContent = `${n}, every gap \u2265 threshold ${threshold.toFixed(3)} (smallest ${least.toFixed(3)})`;
  }
  // what the reader adds when it cuts the row itself: why it refused it, the path it nearly took
  const why = [];
  if (r.reason) why.push(r.reason);
  if (r.runner_up) {
    why.push(`runner-up: ${r.runner_up.digits}` + (typeof r.runner_up.score === "number"
      ? ` (score ${r.runner_up.score.toFixed(3)}${typeof r.score === "number" ? ` against ${r.score.toFixed(3)}` : ""})` : ""));
  }
  $("reason").textContent = why.join("; ");

  const box = $("row-digits");
  box.replaceChildren();
  digits.forEach((d, k) => {
    const fig = el("figure", { class: `row-digit${d.rejected ? " rejected" : ""}`, "data-digit": d.digit });
    const c = el("canvas", { class: "map", "data-layer": "row-input", width: 16, height: 16 });
    paint(c, d.input, -1, 1);
    const [[a, va], [b, vb]] = d.top2;
    const word = d.digit === null ? "not a digit" : d.threshold === null ? "read" : d.rejected ? "rejected" : "accepted";
    fig.title = `digit ${k + 1}: top two ${a} (${fmt(va)}), ${b} (${fmt(vb)})` + (d.reason ? `; ${d.reason}` : "");
    fig.append(c, el("figcaption", {}, `<b class="read">${d.digit === null ? "?" : d.digit}</b>`
      + `<span class="gap">gap ${d.gap.toFixed(2)}</span><span class="verdict">${word}</span>`));
    box.append(fig);
  });
  if (!photoOpen()) drawBoxes(digits, r);      // a picture's are drawn over it (photo.js)
  $("legend-text").textContent = "white \u2192 black: input \u22121 \u2192 +1";
}

// Each digit's box on the row pad (the boxes are in the pad's pixels: it is sent as it is).
function drawBoxes(digits, r) {
  const ctx = rowBoxes.getContext("2d");
  ctx.clearRect(0, 0, rowBoxes.width, rowBoxes.height);
  rowMarks(ctx, { ...r, per_digit: digits }, 1, rowBoxes.height);
}

// On a canvas over the row (``scale``: its pixels per picture pixel): each digit's box, and where the
// reader gives them, the cuts it chose (solid) and the runner-up's (dotted).
function rowMarks(ctx, r, scale, height) {
  const pad = 4.5;
  ctx.lineWidth = 1.5;
  ctx.setLineDash([5, 3]);
  for (const d of r.per_digit) {
    const [x0, y0, x1, y1] = d.box.map((v) => v * scale);
    ctx.strokeStyle = d.rejected ? "#b3261e" : "#2a5db0";
    ctx.strokeRect(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad);
  }
  const line = (xs, color, dash) => {
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    for (const x of xs || []) {
      ctx.beginPath();
      ctx.moveTo(x * scale, 0);
      ctx.lineTo(x * scale, height);
      ctx.stroke();
    }
  };
  if (r.runner_up) line(r.runner_up.cuts, "#c77700", [2, 3]);
  line(r.cuts, "#1e7a3a", []);
  ctx.setLineDash([]);
}

function resetViews() {
  backClear();
  document.querySelectorAll("#net canvas").forEach((c) => c.getContext("2d").clearRect(0, 0, c.width, c.height));
  $("row-digits").replaceChildren();
  rowBoxes.getContext("2d").clearRect(0, 0, rowBoxes.width, rowBoxes.height);
  document.querySelectorAll("#outputs .bar-row").forEach((row) => {
    row.classList.remove("top", "second", "neg");
    row.querySelector(".bar").style.width = "0";
    row.querySelector(".val").textContent = "";
  });
  const p = $("prediction");
  p.textContent = "";
  p.dataset.model = "";
  p.dataset.row = "false";
  $("decision").classList.remove("rejected", "shown", "row-read");
  $("verdict").textContent = "";
  $("gap").textContent = "";
  $("reason").textContent = "";
  photoMarks(null);
}

function legend(ranges) {
  const hidden = Object.entries(ranges).filter(([k]) => k !== "input");
  const parts = [];
  const seen = new Set();
  for (const [name, [lo, hi]] of hidden) {
    const key = `${lo.toFixed(3)}|${hi.toFixed(3)}`;
    if (seen.has(key)) { parts[parts.length - 1][0].push(name); continue; }
    seen.add(key);
    parts.push([[name], lo, hi]);
  }
  $("legend-text").textContent = "white \u2192 black: input \u22121 \u2192 +1; "
    + parts.map(([names, lo, hi]) => `${names.join(", ")} ${fmt(lo)} \u2192 ${fmt(hi)}`).join("; ");
}

// --- the USPS test set ---------------------------------------------------------------------

async function loadTestOrder() {
  state.test = null;
  $("test-summary").textContent = "loading the USPS test set\u2026";
  const model = state.model;
  state.busy++;
  updateState();
  let t;
  try {
    t = await api(`/api/testset?model=${encodeURIComponent(model)}`);
  } catch (e) {
    if (model !== state.model) return;
    $("test-summary").textContent = e.message;
    $("test-info").textContent = "";
    $("test-digit").getContext("2d").clearRect(0, 0, 16, 16);
    if (state.tab === "test") resetViews();   // not the drawing's views, when the draw tab is back meanwhile
    return;
  } finally {
    state.busy--;
    updateState();
  }
  if (model !== state.model) return;   // another model chosen meanwhile
  state.test = t;
  $("test-slider").max = String(t.n - 1);
  $("test-summary").textContent = `${state.model}: ${t.errors} of ${t.n} test digits misclassified `
    + `(${(100 * t.errors / t.n).toFixed(2)}%); they come first, then the ones it reads right.`;
  state.pos = 0;
  backForget();
  showTest();
}

const fetchTest = coalesced(async () => {
  const t = state.test;
  if (!t || state.tab !== "test") return;
  const pos = state.pos, model = state.model;
  let r = await api(`/api/testset/${t.order[pos]}?model=${encodeURIComponent(model)}`);
  if (state.session) {                        // after learning: the page's copy reads it
    const s = await api("/api/predict", { model, x16: r.input, session: state.session });
    r = { ...s, index: r.index, label: r.label, correct: s.digit === r.label, n: r.n };
  }
  if (state.tab !== "test" || state.test !== t || pos !== state.pos) return;  // moved on meanwhile
  status("");
  render(r);
  backFor({ x16: r.input }, r.label, "the test digit's label");
  paint($("test-digit"), r.input, -1, 1);
  const part = pos < t.errors ? `mistake ${pos + 1} of ${t.errors}` : `read right (${pos + 1 - t.errors} of ${t.n - t.errors})`;
  const info = $("test-info");
  info.replaceChildren();
  info.append(el("span", {}, `test digit #${r.index}: label <b>${r.label}</b>, network <b>${r.digit}</b> `));
  info.append(el("span", { class: r.correct ? "ok" : "wrong" }, r.correct ? "right" : "wrong"));
  info.append(el("br"), el("span", { class: "hint" }, `position ${pos + 1} of ${t.n}: ${part}`));
  info.dataset.label = r.label;
  info.dataset.index = r.index;
});

function showTest() {
  if (!state.test) return;
  $("test-slider").value = String(state.pos);
  fetchTest();
}

function step(d) {
  if (!state.test) return;
  backForget();
  state.pos = Math.min(state.test.n - 1, Math.max(0, state.pos + d));
  showTest();
}

$("prev").addEventListener("click", () => step(-1));
$("next").addEventListener("click", () => step(1));
$("test-slider").addEventListener("input", (e) => { backForget(); state.pos = Number(e.target.value); showTest(); });
document.addEventListener("keydown", (e) => {
  if (state.tab !== "test" || ["INPUT", "SELECT"].includes(e.target.tagName)) return;
  if (e.key === "ArrowLeft") step(-1);
  if (e.key === "ArrowRight") step(1);
});

// --- tabs and models -------------------------------------------------------------------------

function showTab(tab) {
  state.tab = tab;
  document.body.dataset.tab = tab;             // the Train tab's panel shows in place of the others (style.css)
  for (const t of ["draw", "test", "train"]) $(`tab-${t}`).setAttribute("aria-selected", String(tab === t));
  $("draw-panel").hidden = tab !== "draw";
  $("test-panel").hidden = tab !== "test";
  $("train-panel").hidden = tab !== "train";
  updateView();
  status("");
  resetViews();
  if (tab === "train") {
    trainShown();                              // train.js
  } else if (tab === "test") {
    if (state.test && state.test.model === state.model) showTest(); else loadTestOrder();
  } else if (state.lastDraw && state.lastDraw.model === state.model && !state.lastDraw.blank) {
    showDraw(state.lastDraw);
  } else if (state.hasInk) {
    schedule(true);
  }
}

$("tab-draw").addEventListener("click", () => showTab("draw"));
$("tab-test").addEventListener("click", () => showTab("test"));

function useModel(name) {
  state.model = name;
  forgetSession();                            // the page's copy was of the other model
  backForget();
  const info = state.models.find((m) => m.name === name);
  buildViews(info.shapes);
  resetViews();
  const err = info.test_error === null || info.test_error === undefined ? "" : `, test error ${(100 * info.test_error).toFixed(2)}%`;
  $("model").title = `${info.description}${err}`;
  modelLine(info);
  if (state.tab === "test") loadTestOrder();
  else if (state.hasInk) schedule(true);
}

$("model").addEventListener("change", (e) => useModel(e.target.value));

// After a learning step or a reset (back.js): the digit on show read again, by the page's copy or the shipped model.
function redrawForward() {
  if (state.tab === "test") fetchTest();
  else if (state.hasInk && state.mode === "digit") schedule(true);
}

// The model on show, its USPS test error and its error on writers outside USPS (when measured).
function modelLine(info) {
  const pct = (v) => `${(100 * v).toFixed(2)}%`;
  const known = (v) => typeof v === "number" && Number.isFinite(v);
  const parts = [];
  if (known(info.test_error)) parts.push(`USPS test error ${pct(info.test_error)}`);
  const held = info.heldout || {};
  const shown = HELDOUT.filter(([k]) => known(held[k])).map(([k, text]) => `${text} ${pct(held[k])}`);
  if (shown.length) parts.push(shown.join(", "));
  const line = $("model-line");
  line.replaceChildren(el("b", {}, ""), parts.length ? `: ${parts.join("; ")}` : "");
  line.firstChild.textContent = info.name;
  line.dataset.model = info.name;
  const more = HELDOUT_MORE.filter(([k]) => known(held[k])).map(([k, text]) => `${text} ${pct(held[k])}`);
  line.title = `${info.description}`
    + (Object.keys(held).length ? `\nother writers: MNIST's test digits written out as images`
      + (more.length ? `; also ${more.join(", ")}` : "") + " (docs/strangers.md)" : "");
}

async function start() {
  padClear();
  const ramp = $("legend-ramp");
  paint(ramp, [Array.from({ length: ramp.width }, (_, i) => i / (ramp.width - 1))], 0, 1);
  try {
    const info = await api("/api/models");
    state.models = info.models;
    state.rowDigits = info.row_digits === true;   // the reader takes a row's digit count
    showPads();
    const select = $("model");
    for (const m of info.models) {
      const o = el("option", { value: m.name });
      o.textContent = m.name;
      select.append(o);
    }
    select.value = info.default;
    useModel(info.default);
  } catch (e) {
    status(e.message, true);
  }
  updateState();
}

document.addEventListener("DOMContentLoaded", start);   // after back.js too
