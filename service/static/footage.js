// The footage view: a camera's clip (and, optionally, its tracker file) to POST /tracks, its progress
// read from the streamed answer, then the clip played with each person's box and global id drawn over
// it, and the people found, each with a strip cut from the clip and where else they were seen.
//
// Everything drawn comes from the user's own clip, decoded by the browser (a blob: URL): the service
// is sent the clip once and answers only JSON. Boxes are the tracker file's (the uploaded one, parsed
// here, or the one the service made, `tracker_file`), each track's global id from the answer.

import { $, dropZone } from "./dom.js";

const VIDEO_NAME = /\.(mp4|m4v|avi|mkv|webm|mov)$/i;
const STRIP_HEIGHT = 96; // px of a person's strip, as the gallery's thumbnails
const STRIP_CROPS = 6; // crops per strip, spread over the person's boxes
// Twelve colours that stay apart on video (Sasha Trubetskoy's list), one per person in order of
// first appearance; exact hex so the swatch in the list is the colour drawn on the clip.
const COLOURS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4",
  "#46f0f0", "#f032e6", "#bcf60c", "#fabebe", "#008080", "#e6beff"];
const SKIPPED_COLOUR = "#9aa4ae";
const LINE = 3; // box outline, in video pixels
const LINE_SELECTED = 8;

const view = {
  clip: null, // File
  clipUrl: null, // its object URL, revoked when another clip is chosen
  tracker: null, // File or null
  running: null, // AbortController of the request in flight
  result: null, // the TracksResponse shown
  fps: 0,
  frames: 0,
  boxes: new Map(), // frame (1-based) -> [{track, x, y, w, h}]
  people: [], // [{key, label, colour, tracks: [TrackResult], boxes: [{frame, ...}]}]
  personOf: new Map(), // track id -> person
  selected: null, // person
  playable: false,
  frameShown: 0,
};

let deps; // {api, ApiError, guarded, setStatus, authHeaders, card, resetThumbs}

// --- The request: a multipart form, the answer streamed as NDJSON when the service can.

function numberField(form, fields, name) {
  const value = String(fields.get(name) || "").trim();
  if (value !== "") form.append(name, value);
}

function tracksForm() {
  if (!view.clip) throw new Error("choose the clip first");
  const fields = new FormData($("footage-form"));
  const camera = String(fields.get("camera") || "").trim();
  if (!camera) throw new Error("name the camera the clip comes from");
  const form = new FormData();
  form.append("video", view.clip, view.clip.name);
  if (view.tracker) form.append("tracks", view.tracker, view.tracker.name);
  form.append("camera", camera);
  form.append("action", String(fields.get("action")));
  for (const name of ["threshold", "top_k", "ttl_seconds"]) numberField(form, fields, name);
  const template = String(fields.get("id_template") || "").trim();
  if (template) form.append("id_template", template);
  const start = fields.get("start_time");
  if (start) form.append("start_time", String(new Date(start).getTime() / 1000));
  if (fields.get("include_own_camera")) form.append("exclude_own_camera", "false");
  if (!view.tracker) {
    // the service detects and tracks: its options, and the tracker file it made to draw the boxes
    for (const name of ["detect_stride", "detect_confidence", "detect_min_width", "detect_min_height"]) {
      numberField(form, fields, name);
    }
    const roi = String(fields.get("roi") || "").replace(/\s+/g, "");
    if (roi) form.append("roi", roi);
    form.append("tracker_output", "true");
  }
  return { form, absolute: Boolean(start) };
}

async function errorOf(response) {
  let error = { code: `http_${response.status}`, message: response.statusText || `HTTP ${response.status}` };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch {
    // not JSON: keep the status line
  }
  return new deps.ApiError(response.status, error.code, error.message);
}

// The answer's lines: progress reports, then one result or one error (docs/tracks.md).
async function readStream(response, onProgress) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let result = null;
  const take = (line) => {
    if (!line.trim()) return;
    const event = JSON.parse(line);
    if (event.event === "progress") onProgress(event);
    else if (event.event === "result") result = event.result;
    else if (event.event === "error") {
      const error = event.error || {};
      throw new deps.ApiError(event.status || 500, error.code || "error", error.message || "the work failed");
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop();
    lines.forEach(take);
  }
  take(buffered + decoder.decode());
  if (!result) throw new Error("the service ended its answer before the result");
  return result;
}

function showProgress(text, fraction) {
  $("footage-progress").hidden = false;
  $("footage-progress-text").textContent = text;
  const bar = $("footage-bar");
  if (fraction === null) bar.removeAttribute("value");
  else bar.value = Math.min(1, Math.max(0, fraction));
}

function duration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m < 60 ? `${m} min ${String(s).padStart(2, "0")} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function progressText(p) {
  const stage = p.stage === "embedding" ? "Embedding the people" : "Finding and tracking people";
  const total = p.frames_total ? ` of ${p.frames_total}` : "";
  const percent = p.frames_total ? ` (${Math.floor((100 * p.frames_done) / p.frames_total)}%)` : "";
  const left = p.seconds_left === null || p.seconds_left === undefined ? "" : ` · about ${duration(p.seconds_left)} left`;
  return `${stage}: frame ${p.frames_done}${total}${percent} · ${p.people} ${p.people === 1 ? "person" : "people"}${left}`;
}

async function findPeople() {
  const { form, absolute } = tracksForm();
  const controller = new AbortController();
  view.running = controller;
  $("footage-cancel").hidden = false;
  $("footage-submit").disabled = true;
  showProgress(`Sending the clip (${(view.clip.size / 1048576).toFixed(1)} MB)…`, null);
  deps.setStatus("Finding people in the clip…");
  try {
    let response;
    try {
      response = await fetch("/tracks", {
        method: "POST",
        body: form,
        signal: controller.signal,
        headers: { ...deps.authHeaders(), Accept: "application/x-ndjson, application/json" },
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new deps.ApiError(0, "network", `the service did not answer (${err.message})`);
    }
    if (!response.ok) throw await errorOf(response);
    const type = response.headers.get("content-type") || "";
    const result = type.includes("ndjson")
      ? await readStream(response, (p) => showProgress(progressText(p), p.frames_total ? p.frames_done / p.frames_total : null))
      : await response.json();
    const trackerText = view.tracker ? await view.tracker.text() : result.tracker_file || "";
    $("footage-progress").hidden = true;
    await show(result, trackerText, absolute);
  } catch (err) {
    $("footage-progress").hidden = true;
    if (err.name === "AbortError") {
      deps.setStatus("Cancelled: the service stopped the work; nothing was stored.", "info");
      return;
    }
    throw err;
  } finally {
    view.running = null;
    $("footage-cancel").hidden = true;
    $("footage-submit").disabled = false;
  }
}

// --- Tracker files, as docs/tracks.md defines them: MOTChallenge lines or a JSON list of boxes.

function parseTracker(text) {
  const boxes = [];
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (!trimmed) return boxes;
  if (trimmed.startsWith("[")) {
    for (const b of JSON.parse(trimmed)) {
      boxes.push({ frame: b.frame, track: b.track_id, x: b.x, y: b.y, w: b.w, h: b.h });
    }
    return boxes;
  }
  for (const line of trimmed.split(/\r?\n/)) {
    const p = line.trim().split(/[\s,]+/).map(Number);
    if (p.length < 6 || p.slice(0, 6).some((v) => !Number.isFinite(v))) continue;
    boxes.push({ frame: Math.round(p[0]), track: Math.round(p[1]), x: p[2], y: p[3], w: p[4], h: p[5] });
  }
  return boxes;
}

// --- The answer: people, by global id (match-or-enroll and enroll), else by track.

function groupPeople(result, boxes) {
  const byKey = new Map();
  const skipped = [];
  for (const track of result.tracks) {
    if (track.skipped) {
      skipped.push(track);
      continue;
    }
    const key = track.gallery_id || `track ${track.track_id}`;
    if (!byKey.has(key)) byKey.set(key, { key, label: key, tracks: [], boxes: [] });
    byKey.get(key).tracks.push(track);
  }
  const people = [...byKey.values()];
  people.forEach((person, i) => {
    person.colour = COLOURS[i % COLOURS.length];
    person.index = i;
  });
  const personOf = new Map();
  for (const person of people) for (const t of person.tracks) personOf.set(t.track_id, person);
  for (const box of boxes) {
    const person = personOf.get(box.track);
    if (person) person.boxes.push(box);
  }
  for (const person of people) person.boxes.sort((a, b) => a.frame - b.frame);
  return { people, personOf, skipped };
}

function clipTime(seconds, absolute) {
  if (absolute) return new Date(seconds * 1000).toLocaleString();
  return `${seconds.toFixed(1)} s`;
}

function seenHere(person, result, absolute) {
  const first = Math.min(...person.tracks.map((t) => t.first_seen));
  const last = Math.max(...person.tracks.map((t) => t.last_seen));
  const tracks = person.tracks.map((t) => t.track_id).join(", ");
  const span = absolute ? `${clipTime(first, true)} – ${clipTime(last, true)}` : `${clipTime(first)} – ${clipTime(last)} into the clip`;
  return `camera ${result.camera} · ${span} · track${person.tracks.length > 1 ? "s" : ""} ${tracks}`;
}

// What the gallery says of the person: one line, and the entries to show in the detail.
function outcome(person, result) {
  const t = person.tracks;
  const matched = t.filter((x) => x.result === "matched");
  const enrolled = t.some((x) => x.result === "enrolled");
  if (enrolled && matched.length) {
    // enrolled by one of this clip's tracks, and later tracks of the clip taken as the same person
    const also = matched.map((x) => `track ${x.track_id} (${x.similarity.toFixed(3)})`).join(", ");
    return { line: `new: enrolled as ${person.key}; taken as them too: ${also}`, kind: "enrolled" };
  }
  if (matched.length) {
    const best = matched.reduce((a, b) => (b.similarity > a.similarity ? b : a));
    return { line: `matched ${best.gallery_id} · similarity ${best.similarity.toFixed(3)}`, kind: "matched" };
  }
  if (enrolled) return { line: `new: enrolled as ${person.key}`, kind: "enrolled" };
  const searched = t.find((x) => x.matches);
  if (searched) {
    const best = searched.matches[0];
    return best
      ? { line: `best match ${best.id} · similarity ${best.similarity.toFixed(3)}`, kind: "searched" }
      : { line: "no match in the gallery", kind: "searched" };
  }
  return { line: result.action === "embed" ? "embedded, not compared" : t[0].result, kind: t[0].result };
}

function personItem(person, result, absolute) {
  const item = document.createElement("li");
  item.className = "person";
  item.dataset.testid = "person";
  item.dataset.id = person.key;
  item.tabIndex = 0;
  item.setAttribute("role", "button");
  item.setAttribute("aria-pressed", "false");
  const head = document.createElement("div");
  head.className = "person-head";
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.dataset.testid = "swatch";
  swatch.style.backgroundColor = person.colour; // CSSOM, allowed by the CSP (no inline style)
  const name = document.createElement("strong");
  name.className = "id";
  name.textContent = person.label;
  head.append(swatch, name);
  const strip = document.createElement("canvas");
  strip.className = "strip";
  strip.dataset.testid = "strip";
  strip.height = STRIP_HEIGHT;
  strip.width = 1;
  person.strip = strip;
  const where = document.createElement("span");
  where.className = "where";
  where.dataset.testid = "seen-here";
  where.textContent = seenHere(person, result, absolute);
  const gallery = document.createElement("span");
  gallery.className = "outcome";
  gallery.dataset.testid = "outcome";
  gallery.textContent = outcome(person, result).line;
  item.append(head, strip, where, gallery);
  item.addEventListener("click", () => select(view.selected === person ? null : person));
  item.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(view.selected === person ? null : person);
    }
  });
  person.item = item;
  return item;
}

async function show(result, trackerText, absolute) {
  view.result = result;
  view.absolute = absolute;
  view.fps = result.video.fps;
  view.frames = result.video.frames_decoded;
  const boxes = parseTracker(trackerText);
  view.boxes = new Map();
  for (const box of boxes) {
    if (!view.boxes.has(box.frame)) view.boxes.set(box.frame, []);
    view.boxes.get(box.frame).push(box);
  }
  const { people, personOf, skipped } = groupPeople(result, boxes);
  view.people = people;
  view.personOf = personOf;
  view.selected = null;
  $("person-detail").hidden = true;
  $("show-all").hidden = true;
  const list = $("people");
  list.replaceChildren(...people.map((p) => personItem(p, result, absolute)));
  const enrolled = result.enrolled.length;
  $("people-summary").textContent = people.length
    ? `${people.length} ${people.length === 1 ? "person" : "people"} in ${result.tracks.length} tracks` +
      (enrolled ? `, ${enrolled} enrolled` : "") +
      (skipped.length ? `; ${skipped.length} track${skipped.length === 1 ? "" : "s"} not used (${skipped.map((t) => `track ${t.track_id}: ${t.skipped}`).join("; ")})` : "") +
      ". Click a person to show them in the clip."
    : `Nobody usable in the clip (${skipped.length} track${skipped.length === 1 ? "" : "s"} not used).`;
  const v = result.video;
  $("footage-summary").textContent =
    `${v.width}×${v.height}, ${v.frames_decoded} frames at ${v.fps} frames/s · ${result.boxes} boxes` +
    `${found(result)} · ${result.action} on camera ${result.camera}` +
    ` · ${result.seconds.toFixed(1)} s` + (result.threshold !== null && result.threshold !== undefined
      ? ` · threshold ${result.threshold.toFixed(3)} (${result.threshold_from})` : "");
  deps.setStatus(`Found ${people.length} ${people.length === 1 ? "person" : "people"} in ${view.clip.name}.`, "ok");
  if (enrolled) deps.galleryChanged();
  const overlay = $("overlay");
  overlay.width = v.width;
  overlay.height = v.height;
  draw();
  if (view.playable) cutStrips(people);
  else people.forEach((p) => placeholderStrip(p.strip));
}

function found(result) {
  const d = result.detection;
  if (!d) return " from the tracker file";
  const every = d.stride === 1 ? "every frame" : `every ${d.stride} frames`;
  return ` found by ${d.detector} and ${d.tracker} (${every}, confidence ${d.confidence}` +
    `${d.roi ? `, region ${d.roi.join(",")}` : ""}; ${d.seconds.toFixed(1)} s)`;
}

// --- The overlay: boxes of the frame on screen, the selected person's thick, everyone else's thin.

function frameAt(seconds) {
  if (!view.fps) return 0;
  const frame = Math.floor(seconds * view.fps + 1e-3) + 1;
  return Math.min(Math.max(frame, 1), view.frames || frame);
}

function draw(mediaTime) {
  const overlay = $("overlay");
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!view.result) return;
  const video = $("footage-video");
  const frame = frameAt(mediaTime === undefined ? video.currentTime : mediaTime);
  view.frameShown = frame;
  $("frame-info").textContent = `frame ${frame} of ${view.frames} · ${((frame - 1) / view.fps).toFixed(2)} s`;
  const font = Math.max(12, Math.round(overlay.width / 48));
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  const boxes = view.boxes.get(frame) || [];
  // the selected person last, on top
  const ordered = [...boxes].sort((a, b) => Number(view.personOf.get(a.track) === view.selected) - Number(view.personOf.get(b.track) === view.selected));
  for (const box of ordered) {
    const person = view.personOf.get(box.track);
    const chosen = view.selected !== null && person === view.selected;
    const dimmed = view.selected !== null && !chosen;
    ctx.globalAlpha = dimmed ? 0.45 : 1;
    ctx.strokeStyle = person ? person.colour : SKIPPED_COLOUR;
    ctx.lineWidth = chosen ? LINE_SELECTED : LINE;
    ctx.setLineDash(person ? [] : [6, 4]);
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    ctx.setLineDash([]);
    if (!person && view.selected !== null) continue;
    const label = person ? person.label : `track ${box.track}`;
    const width = ctx.measureText(label).width + 8;
    const top = box.y - font - 6 >= 0 ? box.y - font - 6 - ctx.lineWidth / 2 : box.y + box.h + ctx.lineWidth / 2;
    const left = Math.max(0, Math.min(box.x - ctx.lineWidth / 2, overlay.width - width));
    ctx.fillStyle = person ? person.colour : SKIPPED_COLOUR;
    ctx.fillRect(left, top, width, font + 6);
    ctx.fillStyle = "#000";
    ctx.fillText(label, left + 4, top + 3);
  }
  ctx.globalAlpha = 1;
}

// Redraw on every frame the video presents (requestVideoFrameCallback gives its exact media time),
// else on time updates and animation frames while playing.
function followVideo() {
  const video = $("footage-video");
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (_now, metadata) => {
      draw(metadata.mediaTime);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    const tick = () => {
      draw();
      if (!video.paused && !video.ended) requestAnimationFrame(tick);
    };
    video.addEventListener("play", () => requestAnimationFrame(tick));
    video.addEventListener("timeupdate", () => draw());
  }
  video.addEventListener("seeked", () => draw());
}

// The middle of a frame, so that the decoder lands on it whatever its rounding.
const timeOf = (frame) => (frame - 0.5) / view.fps;

function select(person) {
  view.selected = person;
  for (const p of view.people) {
    p.item.classList.toggle("selected", p === person);
    p.item.setAttribute("aria-pressed", String(p === person));
  }
  $("show-all").hidden = person === null;
  if (person === null) {
    $("person-detail").hidden = true;
    draw();
    return;
  }
  const video = $("footage-video");
  const first = person.boxes.length ? person.boxes[0].frame : Math.min(...person.tracks.map((t) => t.first_frame));
  if (view.playable) {
    video.pause();
    video.currentTime = timeOf(first);
  }
  draw(view.playable ? timeOf(first) : undefined);
  showDetail(person);
}

// --- A person's detail: where they were seen here, and their entries in the gallery.

function fact(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function entryTime(entry) {
  const tags = entry.tags || {};
  if (tags.first_seen && tags.time_base === "clip") {
    return `${Number(tags.first_seen).toFixed(1)} – ${Number(tags.last_seen).toFixed(1)} s into its clip`;
  }
  if (entry.timestamp !== null && entry.timestamp !== undefined) return new Date(entry.timestamp * 1000).toLocaleString();
  return "time unknown";
}

function galleryCard(entry, score) {
  const node = deps.card(entry, "detail");
  node.dataset.testid = "detail-entry";
  node.querySelector(".score").textContent = score;
  node.querySelector(".when").textContent = entryTime(entry);
  return node;
}

async function showDetail(person) {
  const result = view.result;
  $("person-detail").hidden = false;
  $("detail-title").textContent = person.label;
  const strip = $("detail-strip");
  copyStrip(person.strip, strip);
  person.detailStrip = strip;
  const facts = $("detail-facts");
  facts.replaceChildren();
  fact(facts, "seen here", seenHere(person, result, view.absolute));
  for (const t of person.tracks) {
    const how = t.result === "matched" ? `matched, similarity ${t.similarity.toFixed(3)}` : t.result;
    fact(facts, `track ${t.track_id}`, `frames ${t.first_frame}–${t.last_frame}, ${t.frames_used} crops embedded · ${how}`);
  }
  fact(facts, "gallery", outcome(person, result).line);
  deps.resetThumbs("detail");
  const list = $("detail-gallery");
  list.replaceChildren();
  const note = $("detail-gallery-note");
  const enrolled = result.enrolled.find((e) => e.id === person.key);
  const matched = enrolled ? null : person.tracks.find((t) => t.result === "matched");
  const searched = person.tracks.filter((t) => t.matches);
  if (matched) {
    note.textContent = `Seen before: the gallery's ${matched.gallery_id}, similarity ${matched.similarity.toFixed(3)}.`;
    const local = result.enrolled.find((e) => e.id === matched.gallery_id);
    try {
      const entry = local || (await deps.api(`/gallery/${encodeURIComponent(matched.gallery_id)}`));
      if (view.selected !== person) return;
      list.append(galleryCard(entry, `similarity ${matched.similarity.toFixed(3)}`));
    } catch (err) {
      note.textContent += ` Its entry could not be read: ${err.message}`;
    }
  } else if (searched.length) {
    const matches = searched.flatMap((t) => t.matches);
    matches.sort((a, b) => b.similarity - a.similarity);
    const seen = new Set();
    const best = matches.filter((m) => !seen.has(m.id) && seen.add(m.id));
    note.textContent = best.length ? `${best.length} best of the gallery, most similar first.` : "Nobody in the gallery is similar enough.";
    best.forEach((m, i) => list.append(galleryCard(m, `#${i + 1} · similarity ${m.similarity.toFixed(3)}`)));
  } else if (enrolled) {
    note.textContent = "Not seen before: enrolled now as a new person.";
    list.append(galleryCard(enrolled, `new · ${enrolled.count} tracklet${enrolled.count === 1 ? "" : "s"}`));
  } else {
    note.textContent = result.action === "embed" ? "Not compared with the gallery (action embed)." : "";
  }
}

// --- Strips: crops cut from the clip in the browser, at frames spread over each person's boxes.

function placeholderStrip(canvas) {
  canvas.width = 64;
  canvas.height = STRIP_HEIGHT;
  canvas.classList.add("placeholder");
  canvas.title = "the browser cannot play this clip";
}

function copyStrip(from, to) {
  to.width = from.width;
  to.height = from.height;
  to.classList.toggle("placeholder", from.classList.contains("placeholder"));
  to.getContext("2d").drawImage(from, 0, 0);
}

function spread(items, count) {
  if (items.length <= count) return items;
  return Array.from({ length: count }, (_, i) => items[Math.round((i * (items.length - 1)) / (count - 1))]);
}

function seekTo(video, seconds) {
  return new Promise((resolve, reject) => {
    const done = () => {
      video.removeEventListener("seeked", done);
      video.removeEventListener("error", fail);
      resolve();
    };
    const fail = () => {
      video.removeEventListener("seeked", done);
      reject(new Error("the clip could not be read"));
    };
    video.addEventListener("seeked", done);
    video.addEventListener("error", fail, { once: true });
    video.currentTime = seconds;
  });
}

async function cutStrips(people) {
  const result = view.result;
  const jobs = []; // [frame, person, box, slot]
  for (const person of people) {
    const picked = spread(person.boxes, STRIP_CROPS);
    const widths = picked.map((b) => Math.max(8, Math.round((b.w / b.h) * STRIP_HEIGHT)));
    person.strip.width = Math.max(1, widths.reduce((a, b) => a + b + 2, -2));
    let x = 0;
    picked.forEach((box, i) => {
      jobs.push({ frame: box.frame, person, box, x, width: widths[i] });
      x += widths[i] + 2;
    });
  }
  jobs.sort((a, b) => a.frame - b.frame);
  // a second, hidden player of the same clip: the one on screen is left to the user
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  video.src = view.clipUrl;
  try {
    await new Promise((resolve, reject) => {
      video.addEventListener("loadeddata", resolve, { once: true });
      video.addEventListener("error", () => reject(new Error("the clip could not be read")), { once: true });
    });
    let at = 0;
    for (const job of jobs) {
      if (view.result !== result) return; // another answer came meanwhile
      if (job.frame !== at) {
        await seekTo(video, timeOf(job.frame));
        at = job.frame;
      }
      const { box } = job;
      const sx = Math.max(0, box.x);
      const sy = Math.max(0, box.y);
      const sw = Math.min(box.w, video.videoWidth - sx);
      const sh = Math.min(box.h, video.videoHeight - sy);
      if (sw > 0 && sh > 0) job.person.strip.getContext("2d").drawImage(video, sx, sy, sw, sh, job.x, 0, job.width, STRIP_HEIGHT);
    }
    for (const person of people) {
      person.strip.dataset.ready = "true";
      if (view.selected === person) copyStrip(person.strip, $("detail-strip"));
    }
  } catch (err) {
    people.forEach((p) => placeholderStrip(p.strip));
    deps.setStatus(`The strips could not be cut: ${err.message}`, "error");
  } finally {
    video.removeAttribute("src");
    video.load();
  }
}

// --- Choosing the clip and the tracker file.

function chooseClip(file) {
  if (view.clipUrl) URL.revokeObjectURL(view.clipUrl);
  view.clip = file || null;
  view.clipUrl = null;
  view.playable = false;
  view.result = null;
  const video = $("footage-video");
  if (!file) {
    video.removeAttribute("src");
    video.load();
    describeSelection();
    return;
  }
  if (!VIDEO_NAME.test(file.name) && !file.type.startsWith("video/")) {
    deps.setStatus(`${file.name} does not look like a video (mp4, webm, mkv, avi)`, "error");
  }
  view.clipUrl = URL.createObjectURL(file);
  video.src = view.clipUrl;
  const camera = document.querySelector('[data-testid="footage-camera"]');
  if (!camera.value) camera.value = file.name.replace(/\.[^.]+$/, "").replace(/[^\w.:@-]+/g, "-").slice(0, 64);
  describeSelection();
  draw();
}

function describeSelection() {
  const parts = [];
  if (view.clip) parts.push(`clip ${view.clip.name} (${(view.clip.size / 1048576).toFixed(1)} MB)`);
  else parts.push("No clip chosen yet");
  parts.push(view.tracker ? `boxes from ${view.tracker.name}` : "the service finds the people itself");
  if (view.clip && view.clipUrl && !view.playable && view.unplayable) {
    parts.push("this browser cannot play the clip: the people are listed, but not drawn on it");
  }
  $("footage-selection").textContent = `${parts.join(" · ")}.`;
}

export function wireFootage(dependencies) {
  deps = dependencies;
  const video = $("footage-video");
  video.addEventListener("loadeddata", () => {
    view.playable = true;
    view.unplayable = false;
    describeSelection();
    draw();
  });
  video.addEventListener("error", () => {
    if (!view.clipUrl) return;
    view.playable = false;
    view.unplayable = true;
    describeSelection();
    $("footage-summary").textContent =
      "This browser cannot play the clip (its codec): the service reads it all the same, and the people " +
      "found are listed, but boxes and strips need a clip the browser plays (WebM VP8/VP9, or MP4 H.264).";
  });
  followVideo();
  const clip = $("clip");
  clip.addEventListener("change", () => chooseClip(clip.files[0]));
  const tracker = $("tracker-file");
  tracker.addEventListener("change", () => {
    view.tracker = tracker.files[0] || null;
    describeSelection();
  });
  dropZone(clip.closest(".drop"), (files) => chooseClip(files[0]));
  $("footage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (view.running) return;
    deps.guarded("Finding people", findPeople);
  });
  $("footage-cancel").addEventListener("click", () => {
    if (view.running) view.running.abort();
  });
  $("show-all").addEventListener("click", () => select(null));
}
