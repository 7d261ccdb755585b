// The polychrome page: draw guidance over an image and post it to /v1/colorize.
// Controls for engines and options are built from GET /v1/engines and GET /v1/options, so the
// page declares no default of its own.
"use strict";

const MASK_TINTS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
  "#f032e6", "#bfef45", "#469990", "#9a6324"];
const OWN_CONTROLS = new Set(["engine", "samples"]); // options with a control of their own
// Under "Options" first: the options of the schema a user tunes most; the rest are under "More
// options".
const MAIN_OPTIONS = ["saturation", "seed"];
// The few options of each engine that a user tunes (the service takes the others too, in
// engine_options: see GET /v1/engines). A name the engine does not have is left out.
const ENGINE_OPTIONS = { cnn: ["vividness", "temperature"], diffusion: ["steps", "guidance_scale"] };

const state = {
  file: null, // the uploaded image File
  width: 0,
  height: 0,
  drawable: false, // the browser could decode the image
  masks: [], // {id, canvas, tint, text input, row, painted}
  activeMask: null,
  nextMaskId: 1,
  hintsPainted: false,
  specs: [], // the options schema
  results: [], // data URLs of the samples
  resultName: "result-color.png",
  limits: null, // the service's limits (GET /v1/options)
  job: null, // the colorization under way ({controller}); one at a time
  history: [], // the steps that Undo takes back, oldest first (see record)
  future: [], // the steps that Redo does again, the next one last
  step: null, // the stroke being painted, until it ends
};

const HISTORY_STEPS = 30; // how many steps (strokes, Clear all, masks added or removed) Undo takes back

const $ = (id) => document.getElementById(id);

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function tool() {
  return document.querySelector('input[name="tool"]:checked').value;
}

// ------------------------------------------------------------------------ schema-driven controls

async function loadControls() {
  const [engines, schema] = await Promise.all([
    fetch("/v1/engines").then((r) => r.json()),
    fetch("/v1/options").then((r) => r.json()),
  ]);
  state.specs = schema.options;
  state.limits = schema.limits;
  const spec = (name) => state.specs.find((s) => s.name === name);

  const engineSelect = $("engine");
  for (const row of engines) {
    const option = new Option(row.available ? row.name : `${row.name} (unavailable)`, row.name);
    option.disabled = !row.available;
    option.title = row.summary;
    engineSelect.add(option);
  }
  engineSelect.value = spec("engine").default;
  if (engineSelect.selectedOptions[0]?.disabled) { // the default cannot run here: another can
    const ready = [...engineSelect.options].find((option) => !option.disabled);
    if (ready) engineSelect.value = ready.value;
  }

  const samples = spec("samples");
  const samplesSelect = $("samples");
  for (let n = samples.min; n <= samples.max; n++) samplesSelect.add(new Option(String(n), n));
  samplesSelect.value = String(samples.default);

  // An engine that does not sample gives one result: the service refuses samples > 1 with it.
  const samplingEngines = new Set(engines.filter((row) => row.samples).map((row) => row.name));
  const followEngine = () => {
    const samples = samplingEngines.has(engineSelect.value);
    samplesSelect.disabled = !samples;
    if (!samples) samplesSelect.value = "1";
    samplesSelect.title = samples ? "" : `The ${engineSelect.value} engine gives one result.`;
    for (const box of document.querySelectorAll("#engine-options [data-engine]")) {
      box.hidden = box.dataset.engine !== engineSelect.value;
    }
  };
  // The choice of engine shows only where there is a choice.
  $("engine-choice").hidden = engines.filter((row) => row.available).length < 2;

  for (const row of engines) {
    const specs = (ENGINE_OPTIONS[row.name] || [])
      .map((name) => row.options.find((o) => o.name === name))
      .filter((o) => o && !o.files);
    if (!specs.length) continue;
    const box = document.createElement("div");
    box.dataset.engine = row.name;
    for (const s of specs) box.append(optionControl(s, { engineOption: true }));
    $("engine-options").append(box);
  }
  engineSelect.addEventListener("change", followEngine);
  followEngine();

  for (const name of MAIN_OPTIONS) if (spec(name)) $("main-options").append(optionControl(spec(name)));
  const advanced = $("advanced");
  for (const s of state.specs) {
    if (OWN_CONTROLS.has(s.name) || MAIN_OPTIONS.includes(s.name)) continue;
    advanced.append(optionControl(s));
  }
}

// A control of one option, from its schema (GET /v1/options, or an engine's options in GET
// /v1/engines with engineOption): a choice, a checkbox, a number or a text, its range and its help.
function optionControl(spec, { engineOption = false } = {}) {
  const box = document.createElement("div");
  box.className = "option";
  const id = engineOption ? `engine-opt-${spec.name}` : `opt-${spec.name}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  const words = spec.name.replaceAll("_", " ");
  label.textContent = words[0].toUpperCase() + words.slice(1);
  let input;
  if (spec.choices) {
    input = document.createElement("select");
    for (const choice of spec.choices) input.add(new Option(choice, choice));
  } else {
    input = document.createElement("input");
    const kind = spec.type || typeof spec.default;
    if (kind === "bool" || kind === "boolean") {
      input.type = "checkbox";
    } else if (kind === "str" || kind === "string") {
      input.type = "text";
    } else {
      input.type = "number";
      if (spec.min != null) input.min = spec.min;
      if (spec.max != null) input.max = spec.max;
      input.step = spec.type === "int" ? "1" : "any";
    }
  }
  input.id = id;
  if (engineOption) input.dataset.engineOption = spec.name;
  else input.dataset.option = spec.name;
  if (input.type === "checkbox") input.checked = Boolean(spec.default);
  else input.value = spec.default;
  input.dataset.default = input.type === "checkbox" ? String(input.checked) : input.value;
  const help = document.createElement("small");
  help.id = `${id}-help`;
  help.textContent = spec.help;
  input.setAttribute("aria-describedby", help.id);
  box.append(label, input, help);
  return box;
}

// The value of an option's control as it is sent; a number the browser cannot read (typed
// letters) is refused here, since the browser would give it as empty.
function optionValue(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.validity.badInput) {
    const name = document.querySelector(`label[for="${input.id}"]`).textContent;
    throw new Error(`${name} must be a number: open Options and correct it.`);
  }
  return input.value;
}

// The options of the chosen engine that differ from their defaults, as the service reads them:
// the others are left to the service, which may have been started with its own.
function engineOptions() {
  const chosen = {};
  const box = document.querySelector(`#engine-options [data-engine="${$("engine").value}"]`);
  if (!box) return chosen;
  for (const input of box.querySelectorAll("[data-engine-option]")) {
    const value = optionValue(input);
    if (String(value) === input.dataset.default) continue;
    if (value === "") continue;
    chosen[input.dataset.engineOption] = input.type === "number" ? Number(value) : value;
  }
  return chosen;
}

// ------------------------------------------------------------------------ image and layers

function newLayer(parent) {
  const canvas = document.createElement("canvas");
  canvas.width = state.width;
  canvas.height = state.height;
  if (parent) parent.append(canvas);
  return canvas;
}

async function openImage(file) {
  // A colorization of the previous image is abandoned: its answer must not show over this one.
  if (state.job) {
    state.job.controller.abort();
    state.job = null;
  }
  state.file = file;
  state.results = [];
  $("result").hidden = true;
  setNotes([]);
  setStatus("");
  clearMasks();
  forgetHistory();
  if (!(await isImageFile(file))) {
    state.drawable = false;
    $("stage").hidden = true;
    $("empty").hidden = false;
    $("empty").textContent = "Choose an image to start.";
    $("colorize").disabled = true;
    setStatus(`${file.name} is not a PNG, JPEG, TIFF or WebP image: choose another file.`, true);
    return;
  }
  const url = URL.createObjectURL(file);
  $("before").src = url;
  $("before").classList.remove("stand-in");
  const img = new Image();
  try {
    img.src = url;
    await img.decode();
  } catch {
    state.drawable = false;
    $("stage").hidden = true;
    $("empty").hidden = false;
    $("empty").textContent = "This browser cannot show this file, so you cannot paint on it; "
      + "it can still be colorized with a description or references.";
    $("colorize").disabled = false;
    return;
  }
  state.drawable = true;
  state.width = img.naturalWidth;
  state.height = img.naturalHeight;
  fitTo(state.width, state.height);
  for (const id of ["base", "hint-layer"]) {
    $(id).width = state.width;
    $(id).height = state.height;
  }
  $("base").getContext("2d").drawImage(img, 0, 0);
  clearHints();
  resetKeyboard();
  $("stage").hidden = false;
  $("empty").hidden = true;
  const pixels = state.width * state.height;
  const limit = state.limits ? state.limits.max_pixels : Infinity;
  if (pixels > limit) {
    setStatus(`${file.name} is ${state.width} × ${state.height} = ${pixels.toLocaleString("en")} `
      + `pixels, more than this service's limit of ${limit.toLocaleString("en")}: make it `
      + "smaller first.", true);
    $("colorize").disabled = true;
    return;
  }
  $("colorize").disabled = false;
  setStatus(`${file.name}: ${state.width} × ${state.height}`);
}

// The image and its result are shown whole: as wide as the column allows and no taller than the
// window, a small image scaled up as much as a big one is scaled down (style.css, --aspect).
function fitTo(width, height) {
  $("work").style.setProperty("--aspect", String(width / height));
}

// Whether a file starts as the images the service reads do (PNG, JPEG, TIFF or BigTIFF, WebP:
// polychrome.io's _sniff_format): another file (a text, a PDF, a GIF) is caught on opening rather
// than after painting. A file that starts right but is broken is the service's to refuse.
async function isImageFile(file) {
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const starts = (bytes, at = 0) => bytes.every((b, i) => head[at + i] === b);
  const text = (word) => [...word].map((c) => c.charCodeAt(0));
  return starts([0x89, ...text("PNG\r\n"), 0x1a, 0x0a]) || starts([0xff, 0xd8, 0xff])
    || ["II*\0", "MM\0*", "II+\0", "MM\0+"].some((tiff) => starts(text(tiff)))
    || (starts(text("RIFF")) && starts(text("WEBP"), 8));
}

function clearHints() {
  const hints = $("hint-layer");
  hints.getContext("2d").clearRect(0, 0, hints.width, hints.height);
  state.hintsPainted = false;
}

function clearMasks() {
  for (const mask of state.masks) {
    mask.canvas.remove();
    mask.row.remove();
  }
  state.masks = [];
  state.activeMask = null;
}

// Add a mask and select it (Undo takes it away again, with what was painted on it since).
function addMask() {
  if (!state.drawable) return;
  penUp();
  const before = state.activeMask;
  const id = state.nextMaskId++;
  const tint = MASK_TINTS[(id - 1) % MASK_TINTS.length];
  const canvas = newLayer($("mask-layers"));
  const row = document.createElement("li");
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = tint;
  const text = document.createElement("input");
  text.type = "text";
  text.placeholder = "e.g. red car";
  text.setAttribute("aria-label", `Text of mask ${id}`);
  text.className = "mask-text";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "×";
  remove.title = "Remove this mask";
  remove.setAttribute("aria-label", `Remove mask ${id}`);
  row.append(swatch, text, " ", remove);
  $("mask-list").append(row);
  const mask = { id, canvas, tint, text, row, painted: false };
  state.masks.push(mask);
  const activate = () => selectMask(mask);
  text.addEventListener("focus", activate);
  text.addEventListener("input", () => {
    setTint(mask, cssColor(text.value) || tint);
    swatch.style.background = mask.tint;
  });
  swatch.addEventListener("click", activate);
  remove.addEventListener("click", () => removeMask(mask));
  selectMask(mask);
  document.querySelector('input[name="tool"][value="mask"]').checked = true;
  text.focus();
  const place = state.masks.length - 1;
  record({
    what: `adding mask ${id}`,
    undo: () => {
      mask.canvas.remove();
      mask.row.remove();
      state.masks = state.masks.filter((m) => m !== mask);
      if (state.activeMask === mask) {
        selectMask(state.masks.includes(before) ? before : state.masks.at(-1) || null);
      }
    },
    redo: () => {
      putMask(mask, Math.min(place, state.masks.length));
      selectMask(mask);
    },
  });
}

// Remove a mask (Undo puts it back where it was, with what it holds).
function removeMask(mask) {
  penUp();
  const place = state.masks.indexOf(mask);
  const wasActive = state.activeMask === mask;
  const take = () => {
    mask.canvas.remove();
    mask.row.remove();
    state.masks = state.masks.filter((m) => m !== mask);
    if (state.activeMask === mask) selectMask(state.masks.at(-1) || null);
  };
  take();
  record({
    what: `removing mask ${mask.id}`,
    undo: () => {
      putMask(mask, place);
      if (wasActive) selectMask(mask);
    },
    redo: take,
  });
}

// Put a removed mask back at its place in the list (and among the layers).
function putMask(mask, place) {
  const before = state.masks[place];
  $("mask-list").insertBefore(mask.row, before ? before.row : null);
  $("mask-layers").insertBefore(mask.canvas, before ? before.canvas : null);
  state.masks.splice(place, 0, mask);
}

// Clear all: every stroke and mask goes (Undo brings them back).
function clearAll() {
  penUp();
  const hints = $("hint-layer");
  if (!state.drawable || (!state.masks.length && !hasPixels(hints))) return;
  const strokes = copyOf(hints, 0, 0, hints.width, hints.height);
  const masks = [...state.masks];
  const active = state.activeMask;
  const take = () => {
    clearHints();
    clearMasks();
  };
  take();
  record({
    what: "Clear all",
    undo: () => {
      hints.getContext("2d").drawImage(strokes, 0, 0);
      state.hintsPainted = true;
      masks.forEach((mask, k) => putMask(mask, k));
      selectMask(active);
    },
    redo: take,
  });
}

// The CSS color a mask's text names ("red car" -> red, "dark green" -> darkgreen), or null.
function cssColor(text) {
  const words = text.toLowerCase().replaceAll("-", " ").split(/\s+/).filter(Boolean);
  for (const candidate of [words.join(""), ...words]) {
    if (CSS.supports("color", candidate)) return candidate;
  }
  return null;
}

// Show a mask in a new tint (what is painted keeps its shape).
function setTint(mask, tint) {
  mask.tint = tint;
  const ctx = mask.canvas.getContext("2d");
  ctx.save();
  ctx.globalCompositeOperation = "source-in";
  ctx.fillStyle = tint;
  ctx.fillRect(0, 0, mask.canvas.width, mask.canvas.height);
  ctx.restore();
}

function selectMask(mask) {
  state.activeMask = mask;
  for (const m of state.masks) m.row.classList.toggle("active", m === mask);
}

// ------------------------------------------------------------------------ drawing

// The layers a pointer stroke paints on: the strokes, the active mask, or (eraser) all of them.
function activeLayers() {
  const mode = tool();
  if (mode === "mask") return state.activeMask ? [state.activeMask.canvas] : [];
  if (mode === "erase") return [$("hint-layer"), ...state.masks.map((m) => m.canvas)];
  return [$("hint-layer")];
}

function toImage(canvas, event) {
  const box = canvas.getBoundingClientRect();
  return [
    ((event.clientX - box.left) / box.width) * state.width,
    ((event.clientY - box.top) / box.height) * state.height,
  ];
}

// The brush's width in pixels of the image: the slider gives it in CSS pixels of the image as
// shown, but never less than 2 pixels of the image (a small image is shown scaled up, and a
// thinner line would cover no pixel enough to count: see hasPixels).
function brushWidth() {
  return Math.max(2, Number($("brush-size").value) * (state.width / $("hint-layer").clientWidth));
}

// Paint on each layer with the current tool, color and brush: draw(ctx) makes the path.
function paintWith(layers, draw) {
  const mode = tool();
  const color = mode === "mask" ? state.activeMask.tint : $("stroke-color").value;
  for (const layer of layers) {
    const ctx = layer.getContext("2d");
    ctx.globalCompositeOperation = mode === "erase" ? "destination-out" : "source-over";
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = brushWidth();
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    draw(ctx);
  }
  if (mode === "stroke") state.hintsPainted = true;
  if (mode === "mask") state.activeMask.painted = true;
}

// A line between two points of the image (pixels). Where they are equal it paints nothing.
function paintSegment(layers, from, to) {
  touchStep([from, to]);
  paintWith(layers, (ctx) => {
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  });
}

// A dot of the brush's size at a point of the image (pixels).
function paintDot(layers, [x, y]) {
  touchStep([[x, y]]);
  paintWith(layers, (ctx) => {
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
  });
}

// ------------------------------------------------------------------------ undo and redo

// A step of Undo is {what, undo(), redo()}: a stroke (a pointer's press to its release, a
// keyboard stroke, a dot), Clear all, or a mask added or removed. A new step forgets what Redo
// had.
function record(step) {
  state.history.push(step);
  if (state.history.length > HISTORY_STEPS) state.history.shift();
  state.future = [];
  showHistory();
}

function showHistory() {
  $("undo").disabled = state.history.length === 0;
  $("redo").disabled = state.future.length === 0;
}

// When a stroke starts, a copy of each layer it paints on is kept; when it ends, the copies are
// cut down to the box the stroke touched, so that a step holds little more than the pixels it
// changed. Undo puts the box's old pixels back (keeping its new ones for Redo).
function beginStep(layers) {
  endStep();
  state.step = {
    parts: layers.map((canvas) => ({ canvas, copy: copyOf(canvas, 0, 0, canvas.width, canvas.height) })),
    box: null, // [x0, y0, x1, y1] in pixels of the image
  };
}

function touchStep(points) {
  const step = state.step;
  if (!step) return;
  const r = brushWidth() / 2 + 2; // the brush's reach and its antialiased edge
  for (const [x, y] of points) {
    const [x0, y0, x1, y1] = step.box || [x, y, x, y];
    step.box = [Math.min(x0, x - r), Math.min(y0, y - r), Math.max(x1, x + r), Math.max(y1, y + r)];
  }
}

function endStep() {
  const step = state.step;
  state.step = null;
  if (!step || !step.box) return;
  const x0 = Math.max(0, Math.floor(step.box[0]));
  const y0 = Math.max(0, Math.floor(step.box[1]));
  const x1 = Math.min(state.width, Math.ceil(step.box[2]));
  const y1 = Math.min(state.height, Math.ceil(step.box[3]));
  if (x1 <= x0 || y1 <= y0) return;
  const box = [x0, y0, x1 - x0, y1 - y0];
  const parts = step.parts.map(({ canvas, copy }) => ({ canvas, before: copyOf(copy, ...box) }));
  const put = (which) => {
    for (const part of parts) {
      const { canvas } = part;
      if (which === "before") part.after = copyOf(canvas, ...box);
      const ctx = canvas.getContext("2d");
      ctx.globalCompositeOperation = "source-over";
      ctx.clearRect(x0, y0, box[2], box[3]);
      ctx.drawImage(part[which], x0, y0);
      const mask = state.masks.find((m) => m.canvas === canvas);
      if (mask) setTint(mask, mask.tint); // its tint may have changed since
      if (canvas === $("hint-layer")) state.hintsPainted = true;
    }
  };
  record({ what: "the last stroke", undo: () => put("before"), redo: () => put("after") });
}

function copyOf(canvas, x, y, width, height) {
  const copy = document.createElement("canvas");
  copy.width = width;
  copy.height = height;
  copy.getContext("2d").drawImage(canvas, x, y, width, height, 0, 0, width, height);
  return copy;
}

// Take back the last step. A keyboard stroke under way ends first (and is that step).
function undo() {
  if (penUp()) $("key-cursor").hidden = true;
  const step = state.history.pop();
  if (!step) return;
  step.undo();
  state.future.push(step);
  showHistory();
  announce(`Undid ${step.what}${state.history.length ? "." : ": nothing more to undo."}`);
}

// Do again the last step that Undo took back.
function redo() {
  if (penUp()) $("key-cursor").hidden = true;
  const step = state.future.pop();
  if (!step) return;
  step.redo();
  state.history.push(step);
  showHistory();
  announce(`Redid ${step.what}.`);
}

function forgetHistory() {
  state.history = [];
  state.future = [];
  state.step = null;
  showHistory();
}

// Ctrl+Z (Cmd+Z) undoes, Ctrl+Shift+Z (Cmd+Shift+Z) and Ctrl+Y redo, except in a text field,
// where they are the field's own.
function onUndoKey(event) {
  if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
  const key = event.key.toLowerCase();
  const action = key === "z" ? (event.shiftKey ? redo : undo)
    : key === "y" && !event.shiftKey ? redo : null;
  if (!action) return;
  const target = event.target;
  if (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
  event.preventDefault();
  action();
}

function installDrawing() {
  const surface = $("hint-layer");
  let last = null;
  let layers = [];
  // A press paints a dot (a click alone paints), each move a segment from the last point.
  const paint = (event) => {
    const xy = toImage(surface, event);
    if (last) paintSegment(layers, last, xy);
    else paintDot(layers, xy);
    last = xy;
  };
  surface.addEventListener("pointerdown", (event) => {
    keyCursorToPointer(toImage(surface, event));
    layers = activeLayers();
    if (!layers.length) {
      setStatus("Add a mask first (Add mask), then paint it.", true);
      return;
    }
    surface.setPointerCapture(event.pointerId);
    last = null;
    beginStep(layers);
    paint(event);
  });
  surface.addEventListener("pointermove", (event) => {
    if (layers.length && surface.hasPointerCapture(event.pointerId)) paint(event);
  });
  const stop = () => {
    if (last) keyCursorToPointer(last); // the keyboard goes on from where the pointer stopped
    endStep();
    layers = [];
    last = null;
  };
  surface.addEventListener("pointerup", stop);
  surface.addEventListener("pointercancel", stop);
}

// ------------------------------------------------------------------------ keyboard painting

// The keyboard's cursor, at a pixel of the image (it paints at the pixel's center). While the
// pen is down, each move paints a stroke on the layers the tool chose when the pen went down.
const keyboard = { x: 0, y: 0, penDown: false, layers: [] };

const KEY_MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

function announce(text, isError = false) {
  const el = $("paint-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function resetKeyboard() {
  keyboard.x = Math.floor(state.width / 2);
  keyboard.y = Math.floor(state.height / 2);
  keyboard.penDown = false;
  keyboard.layers = [];
  $("key-cursor").hidden = true;
  announce("");
}

// A step is 1% of the image's longer side, and 10% with Shift.
function keyStep(big) {
  const step = Math.max(1, Math.round(Math.max(state.width, state.height) / 100));
  return big ? 10 * step : step;
}

function keyPoint() {
  return [keyboard.x + 0.5, keyboard.y + 0.5];
}

function keyPlace() {
  const across = Math.round((100 * (keyboard.x + 0.5)) / state.width);
  const down = Math.round((100 * (keyboard.y + 0.5)) / state.height);
  return `x ${keyboard.x}, y ${keyboard.y} (${across}% across, ${down}% down)`;
}

// What the tool paints with, in words: "color #d0302b", "mask 1", "the eraser".
function toolWords() {
  const mode = tool();
  if (mode === "mask") return `mask ${state.activeMask.id}`;
  if (mode === "erase") return "the eraser";
  return `color ${$("stroke-color").value}`;
}

function showKeyCursor() {
  const cursor = $("key-cursor");
  const [x, y] = keyPoint();
  cursor.style.left = `${(100 * x) / state.width}%`;
  cursor.style.top = `${(100 * y) / state.height}%`;
  cursor.style.setProperty("--brush", `${(brushWidth() * $("hint-layer").clientWidth) / state.width}px`);
  cursor.classList.toggle("pen-down", keyboard.penDown);
  cursor.hidden = false;
}

// A pointer press moves the keyboard's cursor there (and hides it until a key is pressed).
function keyCursorToPointer([x, y]) {
  keyboard.x = Math.min(state.width - 1, Math.max(0, Math.floor(x)));
  keyboard.y = Math.min(state.height - 1, Math.max(0, Math.floor(y)));
  penUp();
  $("key-cursor").hidden = true;
}

// The layers the tool paints on, or null (and says why) when there are none.
function keyLayers() {
  const layers = activeLayers();
  if (layers.length) return layers;
  announce("Add a mask first (Add mask), then paint it.", true);
  return null;
}

function penUp() {
  const wasDown = keyboard.penDown;
  keyboard.penDown = false;
  keyboard.layers = [];
  if (wasDown) endStep();
  return wasDown;
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || !state.drawable) return;
  if (event.key in KEY_MOVES) {
    const [dx, dy] = KEY_MOVES[event.key];
    const step = keyStep(event.shiftKey);
    const from = keyPoint();
    keyboard.x = Math.min(state.width - 1, Math.max(0, keyboard.x + dx * step));
    keyboard.y = Math.min(state.height - 1, Math.max(0, keyboard.y + dy * step));
    if (keyboard.penDown) {
      paintSegment(keyboard.layers, from, keyPoint());
      announce(`Stroke to ${keyPlace()}.`);
    } else {
      announce(`Cursor at ${keyPlace()}.`);
    }
  } else if (event.key === " ") {
    const layers = keyLayers();
    if (layers) {
      beginStep(layers);
      paintDot(layers, keyPoint());
      endStep();
      const verb = tool() === "erase" ? "Erased a dot" : `Painted a dot with ${toolWords()}`;
      announce(`${verb} at ${keyPlace()}.`);
    }
  } else if (event.key === "Enter") {
    if (penUp()) {
      announce(`Stroke ended at ${keyPlace()}.`);
    } else {
      const layers = keyLayers();
      if (layers) {
        keyboard.penDown = true;
        keyboard.layers = layers;
        beginStep(layers);
        paintDot(layers, keyPoint());
        announce(`Stroke with ${toolWords()} started at ${keyPlace()}: the arrow keys paint, `
          + "Enter or Escape ends it.");
      }
    }
  } else if (event.key === "Escape" && keyboard.penDown) {
    penUp();
    announce(`Stroke ended at ${keyPlace()}.`);
  } else {
    return;
  }
  event.preventDefault(); // the arrow keys and Space would scroll the page
  showKeyCursor();
}

function installKeyboard() {
  const surface = $("hint-layer");
  surface.addEventListener("keydown", onKey);
  surface.addEventListener("focus", () => {
    if (!surface.matches(":focus-visible")) return; // a pointer's press: no cursor
    showKeyCursor();
    announce(`Cursor at ${keyPlace()}.`);
  });
  surface.addEventListener("blur", () => {
    const ended = penUp();
    $("key-cursor").hidden = true;
    if (ended) announce(`Stroke ended at ${keyPlace()}.`);
  });
  $("brush-size").addEventListener("input", () => {
    if (!$("key-cursor").hidden) showKeyCursor();
  });
  $("keyboard-paint").addEventListener("click", () => {
    if (!state.drawable) {
      announce("Choose an image first: there is nothing to paint on yet.", true);
      return;
    }
    surface.focus({ focusVisible: true });
    showKeyCursor();
    announce(`Cursor at ${keyPlace()}.`);
  });
}

// ------------------------------------------------------------------------ posting

function toBlob(canvas) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

function hasPixels(canvas) {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 127) return true;
  return false;
}

// A mask as the service reads it: white where painted (opaque), transparent elsewhere.
function maskImage(canvas) {
  const out = newLayer(null);
  const ctx = out.getContext("2d");
  ctx.drawImage(canvas, 0, 0);
  const pixels = ctx.getImageData(0, 0, out.width, out.height);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    data[i] = data[i + 1] = data[i + 2] = 255;
    data[i + 3] = data[i + 3] > 127 ? 255 : 0;
  }
  ctx.putImageData(pixels, 0, 0);
  return out;
}

async function buildForm() {
  const form = new FormData();
  form.append("image", state.file, state.file.name);
  if (state.drawable && state.hintsPainted && hasPixels($("hint-layer"))) {
    form.append("hints", await toBlob($("hint-layer")), "strokes.png");
  }
  for (const [k, mask] of state.masks.entries()) {
    const text = mask.text.value.trim();
    if (!text) throw new Error(`Mask ${k + 1} has no text: name it ("car") or color it ("red").`);
    if (!hasPixels(mask.canvas)) throw new Error(`Mask ${k + 1} ("${text}") is not painted.`);
    form.append("label_mask", await toBlob(maskImage(mask.canvas)), `mask-${k + 1}.png`);
    form.append("label", text);
  }
  const description = $("description").value.trim();
  if (description) form.append("description", description);
  for (const file of $("reference-input").files) form.append("reference", file, file.name);
  form.append("engine", $("engine").value);
  form.append("samples", $("samples").value);
  for (const input of document.querySelectorAll("#options [data-option]")) {
    const value = optionValue(input);
    if (value !== "") form.append(input.dataset.option, String(value));
  }
  const chosen = engineOptions();
  if (Object.keys(chosen).length) form.append("engine_options", JSON.stringify(chosen));
  form.append("format", "json");
  return form;
}

async function colorize() {
  if (state.job) return; // one colorization at a time (a double click sends one request)
  const button = $("colorize");
  const job = { controller: new AbortController() };
  state.job = job;
  button.disabled = true;
  setNotes([]);
  const current = () => state.job === job; // false once another image is opened
  let form;
  try {
    form = await buildForm();
  } catch (error) {
    if (current()) setStatus(error.message, true);
    return finish();
  }
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(0);
  setStatus("Colorizing…");
  const ticker = setInterval(() => current() && setStatus(`Colorizing… ${seconds()} s`), 1000);
  try {
    const response = await fetch("/v1/colorize", {
      method: "POST", body: form, signal: job.controller.signal,
    });
    const body = await response.json().catch(() => ({}));
    if (!current()) return;
    if (!response.ok) {
      const hint = body.suggestions && body.suggestions.length
        ? ` (did you mean ${body.suggestions.join(", ")}?)` : "";
      const detail = body.detail || `${response.status} ${response.statusText}`.trim();
      setStatus(`${detail}${hint}`, true);
      return;
    }
    state.results = body.images.map((b64) => `data:${body.media_type};base64,${b64}`);
    state.resultName = body.filename;
    showResults();
    $("result").scrollIntoView({ block: "nearest" }); // it is below the image: bring it in view
    const took = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(`Done in ${took} s (${body.metadata.engine}, seed ${body.metadata.seed}).`);
    setNotes(body.notes || []);
  } catch (error) {
    if (current()) setStatus(`The request failed: ${error.message}`, true);
  } finally {
    clearInterval(ticker);
    finish();
  }

  function finish() {
    if (!current()) return;
    state.job = null;
    button.disabled = false;
  }
}

// What the guidance left unused (a word of the description, a label no phrase names), under
// the status line.
function setNotes(notes) {
  const list = $("notes");
  list.replaceChildren(...notes.map((note) => {
    const item = document.createElement("li");
    item.textContent = note;
    return item;
  }));
  list.hidden = notes.length === 0;
}

// ------------------------------------------------------------------------ results

function showResults() {
  const list = $("sample-list");
  list.replaceChildren();
  if (state.results.length > 1) {
    state.results.forEach((_, k) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `Sample ${k + 1}`;
      b.addEventListener("click", () => showSample(k));
      list.append(b);
    });
  }
  $("result").hidden = false;
  showSample(0);
}

function showSample(k) {
  $("after").src = state.results[k];
  if (!state.drawable) {
    // The browser cannot show the input (a TIFF, say): the result in gray stands in for it,
    // since the service keeps the input's luminance.
    $("before").src = state.results[k];
    $("before").classList.add("stand-in");
  }
  const download = $("download");
  download.href = state.results[k];
  download.download = state.results.length > 1
    ? state.resultName.replace(/\.png$/, `-${k + 1}.png`) : state.resultName;
  [...$("sample-list").children].forEach((b, i) => b.classList.toggle("active", i === k));
  moveSlider();
}

function moveSlider() {
  const v = Number($("slider").value);
  $("after").style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  $("divider").style.left = `calc(${v}% - 1px)`;
}

// ------------------------------------------------------------------------ start

function start() {
  $("image-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) openImage(file);
  });
  $("add-mask").addEventListener("click", addMask);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  document.addEventListener("keydown", onUndoKey);
  $("after").addEventListener("load", () => {
    const after = $("after");
    if (!state.drawable) fitTo(after.naturalWidth, after.naturalHeight); // no size till now
  });
  $("clear").addEventListener("click", clearAll);
  $("colorize").addEventListener("click", colorize);
  $("slider").addEventListener("input", moveSlider);
  installDrawing();
  installKeyboard();
  loadControls().catch((error) => setStatus(`Cannot reach the service: ${error.message}`, true));
}

start();
