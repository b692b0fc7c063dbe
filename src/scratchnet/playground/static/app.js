// scratchnet playground: the page only draws and sends what the user did.
// Every number comes from the server, where scratchnet trains the network.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = [[245, 147, 34], [8, 119, 189], [60, 160, 80], [200, 60, 160], [120, 90, 200], [110, 110, 110]];
const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2"];
const FEATURE_LABEL = { "x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁·x₂", "sin x1": "sin x₁", "sin x2": "sin x₂" };
const ACTS = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity"];
// inputs whose values are settings: id -> [setting, parse]
const FIELDS = {
  "learning-rate": ["lr", Number], "optimizer": ["optimizer", String], "loss": ["loss", String],
  "reduction": ["reduction", String], "batch-size": ["batch_size", Number],
  "weight-decay": ["weight_decay", Number], "l1": ["l1", Number],
  "epochs-per-frame": ["epochs_per_frame", Number], "early-stopping": ["early_stopping", Number],
  "dataset": ["dataset", String], "classes": ["classes", Number], "n-points": ["n", Number],
  "noise": ["noise", Number], "train-fraction": ["train_fraction", Number], "seed": ["seed", Number],
  "init": ["init", String], "dropout": ["dropout", Number], "batchnorm": ["batchnorm", Boolean],
  "model-seed": ["model_seed", Number],
};

const pg = {  // the page's view of the session (exposed for tests as window.pg)
  ws: null, state: null, token: null, frames: 0, header: null, nextId: 1, playing: false,
  history: { epoch: [], loss: [], val_loss: [], accuracy: [], val_accuracy: [] }, version: null, selected: { layer: 0, unit: 0, input: 0 },
  weights: [], neuronData: null, pending: {},
};
window.pg = pg;

// -- connection ---------------------------------------------------------------------------
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  pg.ws = ws;
  ws.onopen = () => send({ type: "hello", settings: settingsFromHash() });
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") onMessage(JSON.parse(ev.data));
    else onFrame(ev.data);
  };
  ws.onclose = () => showError("The connection to the server is closed. Reload the page to start again.", false);
}

function send(msg) {
  msg.id = pg.nextId++;
  pg.pending[msg.id] = performance.now();
  if (pg.ws && pg.ws.readyState === 1) pg.ws.send(JSON.stringify(msg));
  return msg.id;
}

function onMessage(msg) {
  if (msg.id && pg.pending[msg.id]) {
    pg.lastLatency = performance.now() - pg.pending[msg.id];
    delete pg.pending[msg.id];
  }
  if (msg.type === "error") { showError(msg.message, false); return; }
  if (msg.type === "state") { onState(msg); clearError(); }
  else if (msg.type === "status") onStatus(msg);
  else if (msg.type === "explain") showExplain(msg);
}

function onStatus(msg) {
  setPlaying(msg.playing);
  if (msg.diverged) showError(msg.diverged, true);
  else if (msg.stopped_early) showError(msg.stopped_early, false);
  else if (msg.type === "status" && msg.message === "weight set") clearError();
}

function setPlaying(on) {
  pg.playing = on;
  $("play").hidden = on;
  $("pause").hidden = !on;
}

// -- errors -------------------------------------------------------------------------------
function showError(text, offerReset) {
  const box = $("error");
  box.textContent = text;
  if (offerReset) {
    const b = document.createElement("button");
    b.textContent = "reset";
    b.onclick = () => send({ type: "reset" });
    box.appendChild(b);
  }
  box.classList.add("show");
}
function clearError() { $("error").classList.remove("show"); $("error").textContent = ""; }

// -- state: settings, data, the network's shape -----------------------------------------------
function onState(st) {
  pg.state = st;
  pg.token = st.token;
  $("epoch").textContent = st.epoch;
  setPlaying(st.playing);
  const s = st.settings;
  for (const [id, [key]] of Object.entries(FIELDS)) {
    const el = $(id);
    if (el === document.activeElement && el.type === "number") continue;
    if (el.type === "checkbox") el.checked = !!s[key];
    else el.value = s[key];
  }
  $("dataset").querySelector("[value=upload]").disabled = !st.upload;
  $("loss").querySelector("[value=mse]").disabled = st.task !== "regression";
  $("loss").querySelector("[value=softmax_cross_entropy]").disabled = st.task === "regression";
  $("loss").querySelector("[value=binary_cross_entropy]").disabled =
    st.task === "regression" || (st.classes && st.classes.length !== 2);
  const pc = $("point-class");
  const old = pc.value;
  pc.innerHTML = "";
  if (st.task === "regression") {
    for (const v of [st.value_range[0], (st.value_range[0] + st.value_range[1]) / 2, st.value_range[1]]) {
      pc.add(new Option(`value ${v.toFixed(2)}`, v));
    }
  } else {
    st.classes.forEach((c, i) => pc.add(new Option(`class ${c}`, i)));
  }
  if ([...pc.options].some((o) => o.value === old)) pc.value = old;
  $("data-note").textContent = (st.upload ? `Data: ${st.upload}. ` : "") +
    (st.points_added ? `${st.points_added} clicked point(s). ` : "") +
    "Clicked and uploaded points are not in the URL.";
  for (const [which, tag] of [["download-model", "model.npz"], ["download-data", "data.csv"], ["download-script", "replay.py"]]) {
    $(which).href = `/download/${st.token}/${tag}`;
  }
  if (pg.version !== st.version) {
    pg.version = st.version;
    pg.history = { epoch: [], loss: [], val_loss: [], accuracy: [], val_accuracy: [] };
  }
  buildFeatures(s);
  buildLayerControls(s);
  buildNetwork(st);
  writeHash(s);
  drawPoints();
}

// -- frames ------------------------------------------------------------------------------------
function onFrame(buf) {
  const t0 = performance.now();
  drawFrame(buf);
  pg.scriptMs = (pg.scriptMs || 0) + performance.now() - t0;  // script time, for the benchmark
  // the next frame only once this one is on screen: frames are dropped, never queued
  requestAnimationFrame(() => { if (pg.ws.readyState === 1) pg.ws.send('{"type":"ack"}'); });
}

function drawFrame(buf) {
  const view = new DataView(buf);
  const n = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const base = 4 + n;
  const section = (name) => {
    const [off, len, dtype] = header.sections[name];
    return dtype === "uint8" ? new Uint8Array(buf, base + off, len) : new Float32Array(buf, base + off, len);
  };
  pg.header = header;
  pg.frames += 1;
  if (header.version === pg.version || pg.version === null) {
    if (header.history_from === 0) pg.history = { epoch: [], loss: [], val_loss: [], accuracy: [], val_accuracy: [] };
    for (const k of ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"]) pg.history[k].push(...header.history[k]);
  }
  $("epoch").textContent = header.epoch;
  setNumber("train-loss", header.train_loss, 4);
  setNumber("test-loss", header.test_loss, 4);
  setNumber("train-accuracy", header.train_accuracy, 4);
  setNumber("test-accuracy", header.test_accuracy, 4);
  pg.output = section("output");
  pg.channels = header.output_channels;
  drawOutput();
  pg.neuronData = section("neurons");
  pg.featureData = section("features");
  drawNeurons();
  pg.weights = [];
  for (let k = 0; header.sections[`W${k}`]; k++) pg.weights.push({ W: section(`W${k}`), b: section(`b${k}`) });
  drawLinks();
  drawChart();
  drawConfusion(header.confusion);
  if (header.diverged) showError(header.diverged, true);
}

function setNumber(id, v, digits) { $(id).textContent = (v === null || v === undefined) ? "" : v.toFixed(digits); }

function classColor(probs, k, C) {  // blend of class colours by probability
  let r = 0, g = 0, b = 0;
  for (let c = 0; c < C; c++) { const p = probs[k * C + c] / 255; r += p * PALETTE[c][0]; g += p * PALETTE[c][1]; b += p * PALETTE[c][2]; }
  return [r, g, b];
}

// colour look-up tables (RGBA packed as little-endian uint32): drawing is table look-ups
const pack = (rgb) => (255 << 24) | (Math.round(rgb[2]) << 16) | (Math.round(rgb[1]) << 8) | Math.round(rgb[0]);
const LUT_DIVERGING = new Uint32Array(256).map((_, v) => pack(diverging((v - 127.5) / 127.5)));
const LUT_OUTPUT2 = new Uint32Array(256).map((_, v) => pack(diverging((v / 255) * 2 - 1, 0.75)));
const LUT_OUTPUT2_DISC = new Uint32Array(256).map((_, v) => pack(diverging(v > 127 ? 0.75 : -0.75)));
const LUT_VALUE_DISC = new Uint32Array(256).map((_, v) => pack(diverging(Math.round((v / 255) * 4) / 2 - 1)));

function drawOutput() {
  const st = pg.state, data = pg.output;
  if (!st || !data) return;
  const size = st.output_size, C = pg.channels, n = size * size;
  const ctx = $("output").getContext("2d");
  const img = ctx.createImageData(size, size);
  const px = new Uint32Array(img.data.buffer);
  const disc = $("discretize").checked;
  if (st.task === "regression") {
    const lut = disc ? LUT_VALUE_DISC : LUT_DIVERGING;
    for (let k = 0; k < n; k++) px[k] = lut[data[k]];
  } else if (C === 2) {
    const lut = disc ? LUT_OUTPUT2_DISC : LUT_OUTPUT2;
    for (let k = 0; k < n; k++) px[k] = lut[data[2 * k + 1]];
  } else {
    for (let k = 0; k < n; k++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (data[k * C + c] > data[k * C + best]) best = c;
      const conf = disc ? 1 : (data[k * C + best] / 255 - 1 / C) / (1 - 1 / C);
      px[k] = pack(mix(PALETTE[best], [255, 255, 255], 0.25 + 0.675 * (1 - conf)));
    }
  }
  ctx.putImageData(img, 0, 0);
}

function mix(a, b, t) { return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]; }
function diverging(v, strength = 1) {  // -1 orange .. 0 white .. 1 blue
  const t = Math.min(1, Math.abs(v)) * strength;
  return mix([255, 255, 255], v < 0 ? PALETTE[0] : PALETTE[1], t);
}

function drawPoints() {
  const st = pg.state;
  if (!st) return;
  const cv = $("points"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  const [x0, x1, y0, y1] = st.domain;
  const sx = (x) => (x - x0) / (x1 - x0) * cv.width, sy = (y) => (y1 - y) / (y1 - y0) * cv.height;
  const many = st.train.label.length + st.test.label.length;
  const r = many > 4000 ? 2.2 : many > 1000 ? 3 : 4;
  const sets = [[st.train, false]];
  if ($("show-test").checked) sets.push([st.test, true]);
  for (const [pts, test] of sets) {
    for (let k = 0; k < pts.label.length; k++) {
      const lab = pts.label[k];
      const col = st.task === "regression"
        ? diverging(((lab - st.value_range[0]) / (st.value_range[1] - st.value_range[0])) * 2 - 1)
        : PALETTE[lab % PALETTE.length];
      ctx.beginPath();
      ctx.arc(sx(pts.x[2 * k]), sy(pts.x[2 * k + 1]), r, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${col[0]},${col[1]},${col[2]})`;
      ctx.fill();
      ctx.lineWidth = test ? 1.5 : 0.6;
      ctx.strokeStyle = test ? "#000" : "#fff";
      ctx.stroke();
    }
  }
}

$("points").addEventListener("click", (ev) => {
  const st = pg.state;
  if (!st) return;
  const rect = ev.target.getBoundingClientRect();
  const [x0, x1, y0, y1] = st.domain;
  const x = x0 + (ev.clientX - rect.left) / rect.width * (x1 - x0);
  const y = y1 - (ev.clientY - rect.top) / rect.height * (y1 - y0);
  send({ type: "add_point", x1: x, x2: y, label: Number($("point-class").value), test: $("add-to-test").checked });
});

// -- features -------------------------------------------------------------------------------
function buildFeatures(s) {
  const box = $("features");
  if (box.childElementCount !== FEATURES.length) {
    box.innerHTML = "";
    for (const f of FEATURES) {
      const row = document.createElement("label");
      row.className = "feature";
      row.innerHTML = `<input type="checkbox" data-feature="${f}"><canvas width="20" height="20"></canvas><span>${FEATURE_LABEL[f]}</span>`;
      row.querySelector("input").addEventListener("change", () => {
        const on = [...box.querySelectorAll("input:checked")].map((i) => i.dataset.feature);
        if (!on.length) { showError("keep at least one feature", false); onState(pg.state); return; }
        send({ type: "settings", changes: { features: on } });
      });
      box.appendChild(row);
    }
  }
  for (const row of box.children) {
    const f = row.querySelector("input").dataset.feature;
    row.querySelector("input").checked = s.features.includes(f);
    row.classList.toggle("off", !s.features.includes(f));
  }
}

// -- network ----------------------------------------------------------------------------------
function buildLayerControls(s) {
  const box = $("layer-controls");
  box.innerHTML = "";
  s.hidden.forEach((units, i) => {
    const d = document.createElement("div");
    d.className = "layer-ctl";
    d.innerHTML = `<div class="units"><button data-d="-1">−</button><span>${units}</span><button data-d="1">+</button></div>`;
    const sel = document.createElement("select");
    for (const a of ACTS) sel.add(new Option(a, a));
    sel.value = s.activation[i];
    sel.className = "activation";
    sel.onchange = () => { const acts = [...s.activation]; acts[i] = sel.value; send({ type: "settings", changes: { activation: acts } }); };
    d.appendChild(sel);
    d.querySelectorAll("button").forEach((b) => b.onclick = () => {
      const hidden = [...s.hidden];
      hidden[i] = Math.max(1, Math.min(64, hidden[i] + Number(b.dataset.d) * (hidden[i] >= 16 ? 8 : 1)));
      send({ type: "settings", changes: { hidden } });
    });
    box.appendChild(d);
  });
  $("layer-count").textContent = `${s.hidden.length} hidden layer${s.hidden.length === 1 ? "" : "s"}`;
}

$("add-layer").onclick = () => {
  const s = pg.state.settings;
  if (s.hidden.length >= 6) { showError("at most 6 hidden layers", false); return; }
  send({ type: "settings", changes: { hidden: [...s.hidden, 4], activation: [...s.activation, s.activation[s.activation.length - 1] || "relu"] } });
};
$("remove-layer").onclick = () => {
  const s = pg.state.settings;
  if (!s.hidden.length) return;
  send({ type: "settings", changes: { hidden: s.hidden.slice(0, -1), activation: s.activation.slice(0, -1) } });
};

function buildNetwork(st) {
  const net = $("network"), svg = $("links"), box = $("neurons");
  const W = net.clientWidth || 600, H = net.clientHeight || 440;
  const widths = st.widths;  // features, hidden..., outputs
  const cols = widths.length;
  const size = 22, gap = 3, top = 18;
  const perCol = Math.max(1, Math.floor((H - top - 6) / (size + gap)));
  const xStep = (W - 60) / Math.max(1, cols - 1);
  pg.layout = widths.map((n, li) => {
    const sub = Math.ceil(n / perCol);
    const rows = Math.min(n, perCol);
    const cx = 30 + li * xStep;
    const y0 = top + (H - top - rows * (size + gap)) / 2;
    return Array.from({ length: n }, (_, u) => ({
      x: cx + (Math.floor(u / perCol) - (sub - 1) / 2) * (size + gap),
      y: y0 + (u % perCol) * (size + gap) + size / 2,
    }));
  });
  box.innerHTML = "";
  pg.neuronCanvases = [];
  const names = ["features", ...st.settings.hidden.map((_, i) => `layer ${i + 1}`), "output"];
  widths.forEach((n, li) => {
    const label = document.createElement("div");
    label.className = "layer-label";
    label.style.left = `${Math.max(30 + li * xStep, 40)}px`;
    label.style.top = "0px";
    label.textContent = `${names[li]} (${n})`;
    box.appendChild(label);
    if (li === cols - 1) return;  // outputs: the big heatmap shows them
    pg.layout[li].forEach((p, u) => {
      const c = document.createElement("canvas");
      c.width = c.height = st.neuron_size;
      Object.assign(c.style, { left: `${p.x - size / 2}px`, top: `${p.y - size / 2}px`, width: `${size}px`, height: `${size}px` });
      c.dataset.layer = li; c.dataset.unit = u;
      c.addEventListener("mouseenter", (ev) => showNeuronCard(ev, li, u));
      c.addEventListener("mouseleave", hideCard);
      if (li > 0) c.addEventListener("click", () => select({ layer: li - 1, unit: u, input: null }));
      box.appendChild(c);
      pg.neuronCanvases.push(c);
    });
  });
  // the output column: small dots
  pg.layout[cols - 1].forEach((p) => {
    const dot = document.createElement("div");
    Object.assign(dot.style, { position: "absolute", left: `${p.x - 5}px`, top: `${p.y - 5}px`, width: "10px", height: "10px", borderRadius: "50%", background: "#183d4e" });
    box.appendChild(dot);
  });
  svg.innerHTML = "";
  pg.links = [];
  pg.linksDirty = true;  // new lines: drawn at the next frame whatever the throttle
  const NS = "http://www.w3.org/2000/svg";
  for (let li = 0; li < cols - 1; li++) {
    for (let i = 0; i < widths[li]; i++) {
      for (let j = 0; j < widths[li + 1]; j++) {
        const a = pg.layout[li][i], b = pg.layout[li + 1][j];
        const line = document.createElementNS(NS, "line");
        line.setAttribute("x1", a.x + size / 2); line.setAttribute("y1", a.y);
        line.setAttribute("x2", b.x - (li + 1 === cols - 1 ? 5 : size / 2)); line.setAttribute("y2", b.y);
        line.dataset.layer = li; line.dataset.i = i; line.dataset.j = j;
        line.li = li; line.i = i; line.j = j;
        svg.appendChild(line);
        pg.links.push(line);
      }
    }
  }
  [...$("layer-controls").children].forEach((ctl, i) => { ctl.style.left = `${30 + (i + 1) * xStep}px`; });
  markSelected();
}

function drawNeurons() {
  const data = pg.neuronData;
  if (!data || !pg.neuronCanvases) return;
  const n = pg.state.neuron_size, px = n * n;
  pg.neuronCanvases.forEach((c, k) => {
    if ((k + 1) * px > data.length) return;
    paintNeuron(c.getContext("2d"), data.subarray(k * px, (k + 1) * px), n);
  });
}

function paintNeuron(ctx, values, n) {
  const img = ctx.createImageData(n, n);
  const px = new Uint32Array(img.data.buffer);
  for (let k = 0; k < n * n; k++) px[k] = LUT_DIVERGING[values[k]];
  ctx.putImageData(img, 0, 0);
}

function drawLinks() {
  if (!pg.links || !pg.weights.length) return;
  // links change slowly and repainting the SVG costs the browser more than the rest of a
  // frame: every 4th frame (every 8th with thousands of lines), and only changed lines
  if (pg.playing && !pg.linksDirty && pg.frames % (pg.links.length > 1500 ? 8 : 4) !== 1) return;
  pg.linksDirty = false;
  const widths = pg.state.widths;
  let maxAbs = 1e-9;
  for (const w of pg.weights) for (let k = 0; k < w.W.length; k++) { const a = Math.abs(w.W[k]); if (a > maxAbs) maxAbs = a; }
  for (const line of pg.links) {
    const w = pg.weights[line.li] ? pg.weights[line.li].W[line.i * widths[line.li + 1] + line.j] : 0;
    const t = Math.round(Math.abs(w) / maxAbs * 20);  // 21 looks: only changed lines are touched
    const look = w >= 0 ? t : -1 - t;
    if (line.look === look) continue;
    line.look = look;
    line.setAttribute("stroke", w >= 0 ? "#0877bd" : "#f59322");
    line.setAttribute("stroke-width", (0.3 + 0.16 * t).toFixed(2));
    line.setAttribute("stroke-opacity", (0.15 + 0.0375 * t).toFixed(2));
  }
  drawFeatureThumbs();
}

function drawFeatureThumbs() {  // every feature's little heatmap beside its checkbox
  const data = pg.featureData, st = pg.state;
  if (!data || !st) return;
  const n = st.neuron_size, px = n * n;
  FEATURES.forEach((f, k) => {
    const row = document.querySelector(`#features input[data-feature="${CSS.escape(f)}"]`);
    if (row) paintNeuron(row.parentElement.querySelector("canvas").getContext("2d"), data.subarray(k * px, (k + 1) * px), n);
  });
}

// -- hover cards, editing, selection ---------------------------------------------------------------
function showNeuronCard(ev, li, u) {
  const card = $("hover-card"), n = pg.state.neuron_size;
  const names = ["feature", ...pg.state.settings.hidden.map((_, i) => `layer ${i + 1}`)];
  const what = li === 0 ? FEATURE_LABEL[pg.state.settings.features[u]] : `${names[li]}, unit ${u}`;
  card.innerHTML = `<div>${what}</div><canvas width="${n}" height="${n}"></canvas>` + (li > 0 ? "<div>click: explain this neuron</div>" : "");
  const k = pg.neuronCanvases.findIndex((c) => +c.dataset.layer === li && +c.dataset.unit === u);
  if (k >= 0 && pg.neuronData) paintNeuron(card.querySelector("canvas").getContext("2d"), pg.neuronData.subarray(k * n * n, (k + 1) * n * n), n);
  placeCard(card, ev);
}
function placeCard(card, ev) { card.hidden = false; card.style.left = `${ev.clientX + 14}px`; card.style.top = `${ev.clientY + 14}px`; }
function hideCard() { $("hover-card").hidden = true; }

function weightValue(li, i, j) {
  const w = pg.weights[li];
  return w ? w.W[i * pg.state.widths[li + 1] + j] : NaN;
}

$("links").addEventListener("mousemove", (ev) => {
  const line = ev.target.closest("line");
  if (!line) { hideCard(); return; }
  const li = +line.dataset.layer, i = +line.dataset.i, j = +line.dataset.j;
  $("hover-card").innerHTML = `W${li + 1}[${i}, ${j}] = ${weightValue(li, i, j).toPrecision(5)}<br>click to edit and explain`;
  placeCard($("hover-card"), ev);
});
$("links").addEventListener("mouseleave", hideCard);
$("links").addEventListener("click", (ev) => {
  const line = ev.target.closest("line");
  if (!line) return;
  const li = +line.dataset.layer, i = +line.dataset.i, j = +line.dataset.j;
  select({ layer: li, unit: j, input: i });
  const ed = $("weight-editor");
  ed.hidden = false;
  ed.style.left = `${ev.clientX + 10}px`; ed.style.top = `${ev.clientY + 10}px`;
  $("weight-name").textContent = `W${li + 1}[${i}, ${j}]`;
  $("weight-value").value = weightValue(li, i, j).toPrecision(6);
  $("weight-value").focus();
});
$("weight-editor").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const s = pg.selected;
  send({ type: "set_weight", layer: s.layer, i: s.input, j: s.unit, value: Number($("weight-value").value) });
  $("weight-editor").hidden = true;
});
$("weight-cancel").onclick = () => { $("weight-editor").hidden = true; };

function select(sel) {
  pg.selected = sel;
  $("explain-target").textContent = sel.input === null ? `b${sel.layer + 1}[${sel.unit}] (neuron ${sel.unit} of layer ${sel.layer + 1})` : `W${sel.layer + 1}[${sel.input}, ${sel.unit}]`;
  markSelected();
}
function markSelected() {
  const s = pg.selected;
  for (const l of pg.links || []) l.classList.toggle("selected", s.input !== null && +l.dataset.layer === s.layer && +l.dataset.i === s.input && +l.dataset.j === s.unit);
  for (const c of pg.neuronCanvases || []) c.classList.toggle("selected", s.input === null && +c.dataset.layer === s.layer + 1 && +c.dataset.unit === s.unit);
}

// -- explain --------------------------------------------------------------------------------------
$("explain").onclick = () => send({ type: "explain", ...pg.selected });
function showExplain(msg) {
  const box = $("explain-output");
  box.innerHTML = "";
  const head = document.createElement("p");
  head.textContent = `The next batch step (batch of ${msg.batch_size}) for ${msg.parameter}: row 0 of the batch shown; the numbers are the engine's.`;
  box.appendChild(head);
  for (const st of msg.steps) {
    const d = document.createElement("div");
    d.className = "eq";
    const h = document.createElement("h4");
    const a = document.createElement("a");
    a.href = `/math#${st.doc}`; a.target = "_blank"; a.textContent = st.title;
    h.appendChild(a);
    const eq = document.createElement("code"); eq.textContent = st.equation;
    const num = document.createElement("code"); num.className = "num"; num.textContent = st.numbers;
    d.append(h, eq, num);
    box.appendChild(d);
  }
}

// -- chart and confusion matrix -------------------------------------------------------------------
function drawChart() {
  const cv = $("chart"), ctx = cv.getContext("2d"), h = pg.history;
  ctx.clearRect(0, 0, cv.width, cv.height);
  let max = -Infinity, min = 0;
  for (const series of [h.loss, h.val_loss]) for (const v of series) if (v !== null && isFinite(v)) { if (v > max) max = v; if (v < min) min = v; }
  if (h.epoch.length < 2 || max === -Infinity) return;
  const last = h.epoch[h.epoch.length - 1], first = h.epoch[0];
  const X = (e) => 4 + (e - first) / Math.max(1, last - first) * (cv.width - 8);
  const Y = (v) => cv.height - 14 - (v - min) / (max - min || 1) * (cv.height - 22);
  for (const [key, color] of [["loss", "#555"], ["val_loss", "#f59322"]]) {
    ctx.beginPath();
    h[key].forEach((v, k) => { if (v === null) return; if (k === 0) ctx.moveTo(X(h.epoch[k]), Y(v)); else ctx.lineTo(X(h.epoch[k]), Y(v)); });
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.stroke();
  }
  // accuracies on their own 0..1 scale, dashed
  const A = (v) => cv.height - 14 - v * (cv.height - 22);
  ctx.setLineDash([4, 3]);
  for (const [key, color] of [["accuracy", "#555"], ["val_accuracy", "#f59322"]]) {
    if (!h[key].some((v) => v !== null)) continue;
    ctx.beginPath();
    h[key].forEach((v, k) => { if (v === null) return; if (k === 0) ctx.moveTo(X(h.epoch[k]), A(v)); else ctx.lineTo(X(h.epoch[k]), A(v)); });
    ctx.strokeStyle = color; ctx.lineWidth = 1; ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText(`loss (solid, max ${max.toPrecision(3)}), accuracy 0–1 (dashed): train grey, test orange`, 6, cv.height - 3);
}

function drawConfusion(m) {
  const box = $("confusion"), key = JSON.stringify(m);
  if (key === pg.confusionKey) return;  // rebuilding the table costs a layout: only on change
  pg.confusionKey = key;
  if (!m) { box.innerHTML = ""; return; }
  const classes = pg.state.classes || [];
  let html = "<table><tr><th>true \\ predicted</th>" + classes.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  m.forEach((row, i) => { html += `<tr><th>${classes[i]}</th>` + row.map((v) => `<td>${v}</td>`).join("") + "</tr>"; });
  box.innerHTML = html + "</table>";
}

// -- controls -----------------------------------------------------------------------------------
$("play").onclick = () => send({ type: "play" });
$("pause").onclick = () => { setPlaying(false); send({ type: "pause" }); };
$("step").onclick = () => send({ type: "step" });
$("step-batch").onclick = () => send({ type: "step_batch" });
$("reset").onclick = () => send({ type: "reset" });
$("regenerate").onclick = () => send({ type: "regenerate" });
$("preset-tutorial").onclick = () => send({ type: "preset", name: "tutorial" });
$("preset-defaults").onclick = () => send({ type: "preset", name: "defaults" });
$("show-test").onchange = () => { drawPoints(); writeHash(pg.state.settings); };
$("discretize").onchange = () => { drawOutput(); writeHash(pg.state.settings); };
$("hide-controls").onchange = () => { document.body.classList.toggle("hide-controls", $("hide-controls").checked); writeHash(pg.state.settings); };

for (const [id, [key, parse]] of Object.entries(FIELDS)) {
  $(id).addEventListener("change", () => {
    const el = $(id);
    const value = el.type === "checkbox" ? el.checked : parse(el.value);
    if (el.type === "number" && (el.value === "" || !isFinite(value))) { showError(`${key.replace("_", " ")}: enter a number`, false); return; }
    send({ type: "settings", changes: { [key]: value } });
  });
}

// uploads: the header picks the columns, the server reads the file
$("upload").addEventListener("change", async () => {
  const file = $("upload").files[0];
  if (!file) return;
  if (file.size > 10 * 1024 * 1024) { showError(`${file.name} is larger than the upload limit of 10 MB`, false); return; }
  const text = await file.text();
  const header = text.split("\n", 1)[0].split(",").map((h) => h.trim());
  for (const [id, pick] of [["csv-x1", 0], ["csv-x2", 1], ["csv-label", header.length - 1]]) {
    const sel = $(id);
    sel.innerHTML = "";
    header.forEach((h) => sel.add(new Option(h, h)));
    sel.value = header[Math.max(0, pick)];
  }
  $("csv-columns").hidden = header.length < 3;
  pg.uploadText = text; pg.uploadName = file.name;
  await sendUpload();
});
for (const id of ["csv-x1", "csv-x2", "csv-label"]) $(id).addEventListener("change", sendUpload);

async function sendUpload() {
  if (!pg.uploadText || !pg.token) return;
  const q = new URLSearchParams({ filename: pg.uploadName, x1: $("csv-x1").value, x2: $("csv-x2").value, label: $("csv-label").value });
  try {
    const r = await fetch(`/upload/${pg.token}?${q}`, { method: "POST", body: pg.uploadText, headers: { "Content-Type": "text/csv" } });
    const body = await r.json();
    if (!r.ok) showError(body.error, false);
  } catch (e) { showError(`upload failed: ${e}`, false); }
}

// -- the URL: every setting and the data's seed ---------------------------------------------------
function writeHash(s) {
  if (!s) return;
  const parts = [];
  for (const [k, v] of Object.entries(s)) {
    if (k === "dataset" && v === "upload") continue;
    parts.push(`${k}=${encodeURIComponent(Array.isArray(v) ? v.join(",") : v)}`);
  }
  for (const id of ["show-test", "discretize", "hide-controls"]) if ($(id).checked) parts.push(`${id}=1`);
  history.replaceState(null, "", "#" + parts.join("&"));
}

function settingsFromHash() {
  const out = {};
  const lists = { features: String, hidden: Number, activation: String };
  for (const part of location.hash.slice(1).split("&")) {
    if (!part) continue;
    const [k, raw] = part.split("=");
    const v = decodeURIComponent(raw || "");
    if (["show-test", "discretize", "hide-controls"].includes(k)) {
      $(k).checked = v === "1";
      if (k === "hide-controls") document.body.classList.toggle("hide-controls", v === "1");
      continue;
    }
    if (k in lists) out[k] = v === "" ? [] : v.split(",").map(lists[k]);
    else if (v === "true" || v === "false") out[k] = v === "true";
    else if (v !== "" && !isNaN(Number(v))) out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

// a link pasted into this tab: apply its settings (our own replaceState fires no hashchange)
// (what the link leaves out goes back to its default)
window.addEventListener("hashchange", () => send({ type: "settings", changes: { ...pg.state.defaults, ...settingsFromHash() } }));
window.addEventListener("resize", () => { if (pg.state) { buildNetwork(pg.state); drawNeurons(); drawLinks(); } });
connect();
