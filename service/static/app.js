// The service's built-in page: query, enroll, browse the gallery, read the model card; and footage
// (footage.js): a camera's clip in, its people drawn on it and listed with their gallery matches.
// Plain ES modules, no framework and no build step; it talks only to the service that served it
// (the Content-Security-Policy forbids any other origin).

import { $, dropZone } from "./dom.js";
import { wireFootage } from "./footage.js";

const KEY_STORAGE = "reid.apiKey";
const PAGE_SIZE = 12;
const ARCHIVE_NAME = /\.(zip|tar|tgz|tar\.gz)$/i;
const VIDEO_NAME = /\.(mp4|m4v|avi|mkv|webm|mov)$/i;

const state = {
  files: [], // the query tracklet, as chosen or dropped
  kind: null, // "frames" | "archive" | "video": the multipart field the server expects
  previewUrls: [], // object URLs of the frame previews, revoked when the selection changes
  offset: 0,
  total: 0,
  retry: null, // the action refused for want of a key, run again once a key is given
  loaded: false, // model card and gallery loaded (once the service is ready)
};

// Object URLs of thumbnails, per list, revoked when that list is drawn again (no leaks on paging).
const thumbUrls = { results: [], gallery: [], detail: [] };

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// --- API key: in sessionStorage only, so it leaves with the tab and is never written to disk.

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function askForKey(message) {
  const hint = $("key-hint");
  hint.textContent = message;
  hint.hidden = false;
  $("key-form").classList.add("needs-key");
  $("api-key").focus();
}

function keySettled() {
  $("key-hint").hidden = true;
  $("key-form").classList.remove("needs-key");
}

// --- Calls: every error of the service is {"error": {"code", "message"}}; show its message.

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (err) {
    throw new ApiError(0, "network", `the service did not answer (${err.message})`);
  }
  const isJson = (response.headers.get("content-type") || "").includes("application/json");
  const body = isJson ? await response.json() : null;
  if (!response.ok) {
    const error = body && body.error ? body.error : { code: `http_${response.status}`, message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return body;
}

function setStatus(message, kind = "info") {
  const status = $("status");
  status.textContent = message;
  status.className = `status ${kind}`;
}

// Run a user action; a 401/403 asks for the key and keeps the action to retry once it is given.
async function guarded(label, action) {
  try {
    await action();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    setStatus(`${label} failed: ${message}`, "error");
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      state.retry = action;
      askForKey(`${label} needs an API key with the right role: enter it and press Use key.`);
    }
  }
}

// --- Readiness and the model card.

async function loadReadiness() {
  const text = $("readiness-text");
  const box = text.parentElement;
  let ready = false;
  try {
    // /readyz answers 503 with the same JSON when not ready: read it either way.
    const response = await fetch("/readyz");
    const body = await response.json();
    ready = body.ready;
    text.textContent = ready
      ? `ready · ${body.model} · ${body.providers.join(", ")} · gallery in ${body.gallery}`
      : `not ready${body.gallery_reachable ? "" : " (gallery unreachable)"} · ${body.model || "model loading"}`;
  } catch (err) {
    text.textContent = `unreachable (${err.message})`;
  }
  box.classList.toggle("ok", ready);
  box.classList.toggle("bad", !ready);
  box.dataset.ready = String(ready);
  // Poll only while not ready: a loading model turns ready by itself, and then the rest loads.
  if (!ready) {
    setTimeout(loadReadiness, 3000);
  } else if (!state.loaded) {
    state.loaded = true;
    await guarded("Loading the model card", loadModel);
    await guarded("Loading the gallery", loadGallery);
  }
}

function fact(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

// Three decimals, as the README and docs/model.md write them (0.920, not 92.0%).
const fig = (x) => x.toFixed(3);

async function loadModel() {
  const card = await api("/model");
  const list = $("model");
  list.replaceChildren();
  fact(list, "name", card.name);
  fact(list, "version", card.version);
  fact(list, "input", `${card.height}×${card.width} RGB, ${card.frames_per_chunk} frames per chunk`);
  fact(list, "embedding", `${card.embedding_dim}-d, ${card.similarity}`);
  fact(list, "runs on", `${card.device} (${card.providers.join(", ")})`);
  const ev = card.evaluation;
  if (ev) {
    // the file's own figures, measured when it was exported (the README's table: through POST /embed)
    fact(list, `${ev.dataset} figures (the file, at export)`,
      `rank-1 ${fig(ev.rank1)} · rank-5 ${fig(ev.rank5)} · rank-10 ${fig(ev.rank10)} · mAP ${fig(ev.mAP)}`);
  } else {
    fact(list, "figures", "none recorded");
  }
  list.dataset.modelId = card.id;
  $("model-use").textContent = `Intended use: ${card.intended_use}`;
  $("model-data").textContent = `Training data: ${card.training_data}`;
  $("model-license").textContent = `Licence: ${card.license}`;
}

// --- The query tracklet: the multipart field follows what was chosen (the server checks the bytes).

function kindOf(file) {
  if (ARCHIVE_NAME.test(file.name) || /zip|x-tar|gzip/.test(file.type)) return "archive";
  if (VIDEO_NAME.test(file.name) || file.type.startsWith("video/")) return "video";
  return "frames";
}

const sizeText = (n) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`);

function choose(fileList) {
  const files = Array.from(fileList);
  state.previewUrls.forEach((url) => URL.revokeObjectURL(url));
  state.previewUrls = [];
  const preview = $("preview");
  preview.replaceChildren();
  state.files = [];
  state.kind = null;
  if (!files.length) {
    $("selection").textContent = "Nothing chosen yet.";
    return;
  }
  const kinds = new Set(files.map(kindOf));
  if (kinds.size > 1 || (!kinds.has("frames") && files.length > 1)) {
    $("selection").textContent = "Choose either images, or one archive, or one video.";
    setStatus("One tracklet at a time: several images, or one .zip/.tar, or one video.", "error");
    return;
  }
  state.files = files;
  state.kind = [...kinds][0];
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (state.kind === "frames") {
    $("selection").textContent = `${files.length} frame${files.length > 1 ? "s" : ""} (${sizeText(total)}), in this order:`;
    // Decoded by the browser from the user's own files: nothing is uploaded until Match or Enroll.
    for (const file of files) {
      const url = URL.createObjectURL(file);
      state.previewUrls.push(url);
      const item = document.createElement("li");
      const img = document.createElement("img");
      img.src = url;
      img.alt = file.name;
      img.title = file.name;
      item.append(img);
      preview.append(item);
    }
  } else {
    $("selection").textContent = `${state.kind}: ${files[0].name} (${sizeText(total)}); the service picks its frames.`;
  }
}

function trackletForm() {
  if (!state.files.length) throw new Error("drop or choose the tracklet first");
  const form = new FormData();
  for (const file of state.files) form.append(state.kind, file, file.name);
  return form;
}

// --- Cards: a thumbnail strip and what the service knows of the entry.

function when(seconds) {
  if (seconds === null || seconds === undefined) return "time unknown";
  return new Date(seconds * 1000).toLocaleString();
}

// Thumbnails are fetched (not <img src>) so that the key goes along when reads need one; a 404
// (enrolled from an embedding, or thumbnails off) shows a placeholder instead of a broken image.
async function showThumb(img, id, list) {
  try {
    const response = await fetch(`/gallery/${encodeURIComponent(id)}/thumbnail`, { headers: authHeaders() });
    if (!response.ok) throw new Error(String(response.status));
    const url = URL.createObjectURL(await response.blob());
    thumbUrls[list].push(url);
    img.src = url;
    img.alt = `frames of ${id}`;
  } catch {
    img.replaceWith(Object.assign(document.createElement("div"), { className: "thumb placeholder", textContent: "no picture" }));
  }
}

function card(entry, list) {
  const node = $("card-template").content.firstElementChild.cloneNode(true);
  node.dataset.id = entry.id;
  node.querySelector(".id").textContent = entry.id;
  node.querySelector(".where").textContent = [entry.camera ? `camera ${entry.camera}` : "camera ?", entry.label]
    .filter(Boolean).join(" · ");
  node.querySelector(".when").textContent = when(entry.timestamp);
  showThumb(node.querySelector("img"), entry.id, list);
  return node;
}

function resetThumbs(list) {
  thumbUrls[list].forEach((url) => URL.revokeObjectURL(url));
  thumbUrls[list] = [];
}

// --- Match: ranked results, best first, as the service returns them.

async function match() {
  const form = trackletForm();
  const fields = new FormData($("match-form"));
  form.append("top_k", fields.get("top_k") || "5");
  const exclude = (fields.get("exclude_camera") || "").trim();
  if (exclude) form.append("exclude_camera", exclude);
  setStatus("Matching…");
  const result = await api("/match", { method: "POST", body: form });
  resetThumbs("results");
  const list = $("results");
  list.replaceChildren();
  result.matches.forEach((m, i) => {
    const node = card(m, "results");
    node.dataset.testid = "match-card";
    node.dataset.rank = String(i + 1);
    node.querySelector(".score").textContent =
      `#${i + 1} · similarity ${m.similarity.toFixed(3)} · distance ${m.distance.toFixed(3)}`;
    list.append(node);
  });
  $("results-summary").textContent = result.matches.length
    ? `${result.matches.length} best of the gallery for ${result.frames_used} of ${result.frames_received} frames received (${result.seconds.toFixed(2)} s).`
    : "The gallery holds nobody that fits.";
  setStatus(`Matched: ${result.matches.length} result${result.matches.length === 1 ? "" : "s"}.`, "ok");
}

// --- Enroll the query tracklet under an id.

async function enroll() {
  const form = trackletForm();
  const fields = new FormData($("enroll-form"));
  for (const name of ["id", "camera", "label", "ttl_seconds"]) {
    const value = (fields.get(name) || "").trim();
    if (value) form.append(name, value);
  }
  const seen = fields.get("seen_at");
  if (seen) form.append("timestamp", String(new Date(seen).getTime() / 1000));
  setStatus("Enrolling…");
  const entry = await api("/gallery", { method: "POST", body: form });
  setStatus(`Enrolled ${entry.id} (${entry.count} tracklet${entry.count === 1 ? "" : "s"}).`, "ok");
  await loadGallery();
}

// --- The gallery, a page at a time, by id.

async function loadGallery() {
  const page = await api(`/gallery?offset=${state.offset}&limit=${PAGE_SIZE}`);
  // The last page may have emptied (a delete): step back to one that has entries.
  if (!page.items.length && page.total && state.offset > 0) {
    state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
    return loadGallery();
  }
  state.total = page.total;
  resetThumbs("gallery");
  const list = $("gallery");
  list.replaceChildren();
  for (const entry of page.items) {
    const node = card(entry, "gallery");
    node.dataset.testid = "gallery-card";
    node.querySelector(".score").textContent =
      `${entry.count} tracklet${entry.count === 1 ? "" : "s"}${entry.expires_at ? ` · erased ${when(entry.expires_at)}` : ""}`;
    node.querySelector(".meta").append(deleteButton(entry.id));
    list.append(node);
  }
  const first = page.total ? state.offset + 1 : 0;
  $("page-info").textContent = `${first}–${state.offset + page.items.length} of ${page.total}`;
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE_SIZE >= page.total;
}

// Two clicks to delete (no modal dialog): the first arms the button for a few seconds.
function deleteButton(id) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "delete";
  button.textContent = "Delete";
  button.dataset.testid = "delete";
  button.setAttribute("aria-label", `Delete ${id}`);
  let timer = null;
  button.addEventListener("click", () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = "Really delete?";
      timer = setTimeout(() => {
        button.classList.remove("armed");
        button.textContent = "Delete";
      }, 5000);
      return;
    }
    clearTimeout(timer);
    guarded(`Deleting ${id}`, async () => {
      const done = await api(`/gallery/${encodeURIComponent(id)}`, { method: "DELETE" });
      setStatus(`Deleted ${done.deleted}.`, "ok");
      await loadGallery();
    });
  });
  return button;
}

// --- Views: the tracklet (query, gallery, model) and the footage, as tabs; the URL's hash keeps the
// one shown (#footage), so a reload or a link opens it.

function showView(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
}

function wireViews() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      const name = tab.id.replace("tab-", "");
      history.replaceState(null, "", name === "tracklet" ? location.pathname : `#${name}`);
      showView(name);
    });
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      next.click();
    });
  }
  showView(location.hash === "#footage" ? "footage" : "tracklet");
}

// --- Wiring.

function busy(button, action) {
  return async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  };
}

function wire() {
  const input = $("files");
  input.addEventListener("change", () => choose(input.files));
  dropZone($("drop"), choose);

  $("match-form").addEventListener("submit", busy($("match-button"), () => guarded("Matching", match)));
  $("enroll-form").addEventListener("submit", busy($("enroll-button"), () => guarded("Enrolling", enroll)));

  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    guarded("Loading the gallery", loadGallery);
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    guarded("Loading the gallery", loadGallery);
  });
  $("refresh").addEventListener("click", () => guarded("Loading the gallery", loadGallery));

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    keySettled();
    setStatus(key ? "API key set for this tab." : "No API key.", "ok");
    const retry = state.retry;
    state.retry = null;
    if (retry) guarded("Retrying", retry);
  });
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    state.retry = null;
    setStatus("API key forgotten.", "ok");
  });
  $("api-key").value = apiKey();
}

wire();
wireViews();
wireFootage({
  api, ApiError, guarded, setStatus, authHeaders, card, resetThumbs,
  galleryChanged: () => guarded("Loading the gallery", loadGallery),
});
loadReadiness();
