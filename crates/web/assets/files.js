// Files: the composer's attach button (and pasting a file, or dropping one on the conversation)
// stages one file in a bar above the composer; Send uploads it to the open room
// (POST /rooms/{id}/files, multipart) with the composer's text as its caption and a
// client_msg_id of its own, so sending it again after a failure stores it once. While it goes the
// bar shows its progress and the composer is read-only; a refusal (too large, not what its name
// says, empty...) is shown in the server's words and the text stays in the composer.
//
// Messages show their `attachments`: images inline (an <img> with the attachment's width and
// height, so nothing moves when it loads, scaled down into a box), opening full size in a new
// tab; other files as a card with their name, size and type that downloads them. The links are
// the server's signed ones, which need no Authorization header. Names enter the page as text.
import * as api from "./api.js";
import { $, h, randomId } from "./dom.js";
import { state } from "./store.js";

/** Types the server serves inline, so an <img> can show them. */
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);
/** The box an image is scaled down into (CSS pixels); never wider than the message either. */
const MAX_W = 360;
const MAX_H = 280;

/** The file waiting in the bar: { file, cmid }, or null. */
let staged = null;
/** The upload under way: { xhr, roomId }, or null. */
let uploading = null;

let hooks = {
  /** The stored message, as the server answered the upload. */
  delivered: () => {},
  /** The composer's text changed (it was emptied after an upload). */
  changed: () => {},
};

/** `handlers.delivered(message)`, `handlers.changed()`. Binds the button, paste and drop. */
export function bindFiles(handlers) {
  hooks = { ...hooks, ...handlers };
  const input = $("file-input");
  $("attach-btn").addEventListener("click", () => {
    if (!uploading) input.click();
  });
  input.addEventListener("change", () => {
    if (input.files && input.files.length) stage(input.files);
    // The same file can be picked again.
    input.value = "";
  });
  $("attach-remove").addEventListener("click", () => {
    if (uploading) uploading.xhr.abort();
    else unstage();
    $("composer-input").focus();
  });
  $("composer-input").addEventListener("paste", (e) => {
    const files = e.clipboardData && e.clipboardData.files;
    // Text copied from a document may come with a picture of itself: the text is what was meant.
    if (!files || !files.length || uploading || e.clipboardData.getData("text/plain")) return;
    e.preventDefault();
    stage(files);
  });
  bindDrop();
}

function carriesFiles(e) {
  return !!e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
}

/** Dropping a file on the open conversation stages it; dropped anywhere else, nothing happens. */
function bindDrop() {
  const room = $("room-view");
  let depth = 0;
  const done = () => {
    depth = 0;
    room.classList.remove("drop-target");
  };
  room.addEventListener("dragenter", (e) => {
    if (!carriesFiles(e) || uploading) return;
    e.preventDefault();
    depth++;
    room.classList.add("drop-target");
  });
  room.addEventListener("dragleave", (e) => {
    if (!carriesFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) done();
  });
  room.addEventListener("dragover", (e) => {
    if (!carriesFiles(e) || uploading) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  room.addEventListener("drop", (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    done();
    if (!uploading && e.dataTransfer.files.length) stage(e.dataTransfer.files);
  });
  // A file dropped beside the conversation must not replace the app with it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (e) => {
      if (carriesFiles(e) && !room.contains(e.target)) e.preventDefault();
    });
  }
  window.addEventListener("dragend", done);
}

/** Puts the first of `files` in the bar (one file per message). */
function stage(files) {
  if (uploading) return;
  const file = files[0];
  staged = { file, cmid: randomId() };
  setError("");
  if (files.length > 1) setError(`One file per message: “${file.name}” is ready to send.`);
  render();
  $("composer-input").focus();
}

function unstage() {
  staged = null;
  render();
}

/** Whether Send should upload a file (then it sends even without text). */
export function hasStaged() {
  return !!staged;
}

/** Whether a file is going: the composer waits. */
export function isUploading() {
  return !!uploading;
}

/** Forgets the file and stops its upload (signed out). */
export function resetFiles() {
  if (uploading) uploading.xhr.abort();
  uploading = null;
  staged = null;
  setError("");
  render();
}

/** Takes away the last refusal (the composer sent something else). */
export function clearFileError() {
  if (!uploading) setError("");
}

function setError(text) {
  $("attach-error").textContent = text;
}

function render() {
  const bar = $("attach-bar");
  const s = $("message-scroll");
  const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  bar.hidden = !staged;
  const busy = !!uploading;
  $("composer-input").readOnly = busy;
  $("send-btn").disabled = busy;
  $("attach-btn").disabled = busy;
  $("attach-progress").hidden = !busy;
  $("attach-remove").setAttribute("aria-label", busy ? "Cancel the upload" : "Remove the file");
  if (staged) {
    $("attach-name").textContent = staged.file.name || "file";
    $("attach-size").textContent = humanSize(staged.file.size);
    if (!busy) $("attach-status").textContent = "";
  }
  bar.dataset.state = busy ? "uploading" : staged ? "staged" : "";
  if (atBottom) s.scrollTop = s.scrollHeight;
}

function progress(sent, total) {
  const pct = total ? Math.min(100, Math.floor((sent / total) * 100)) : 0;
  $("attach-progress").value = pct;
  $("attach-status").textContent = total ? `Uploading… ${pct} %` : "Uploading…";
}

/**
 * Uploads the staged file to the open room with the composer's text as caption. Resolves when
 * done (sent or not).
 */
export async function sendStaged() {
  const roomId = state.current;
  if (!staged || uploading || !roomId) return;
  const input = $("composer-input");
  const caption = input.value.trim();
  if (caption.length > 4000) {
    setError("Captions are at most 4000 characters.");
    return;
  }
  const item = staged;
  setError("");
  uploading = { xhr: null, roomId };
  render();
  progress(0, 0);
  const form = () => {
    const body = new FormData();
    body.append("client_msg_id", item.cmid);
    if (caption) body.append("caption", caption);
    body.append("file", item.file, item.file.name || "file");
    return body;
  };
  try {
    const msg = await api.upload(`/rooms/${roomId}/files`, form, {
      progress,
      started: (xhr) => {
        if (uploading) uploading.xhr = xhr;
      },
    });
    uploading = null;
    if (staged === item) staged = null;
    if (input.value.trim() === caption) input.value = "";
    render();
    hooks.changed();
    if (msg && msg.room_id) hooks.delivered(msg);
  } catch (e) {
    uploading = null;
    if (e.code === "aborted") {
      // Cancelled from the bar: the file goes, the text stays.
      if (staged === item) staged = null;
    } else if (refusal(e) && staged === item) {
      // This file will not be taken as it is; the text can still go on its own.
      staged = null;
    }
    render();
    if (e.code !== "aborted") setError(explain(e, item.file));
    input.focus();
  }
}

/** Whether the server refused the file itself (sending it again would not help). */
function refusal(e) {
  return e.status === 400 || e.status === 413 || e.status === 415;
}

function explain(e, file) {
  const name = file.name || "The file";
  const why = api.describe(e);
  if (e.status === 0 && e.code === "network") {
    return `“${name}” was not sent: the upload broke off. It may be larger than the server accepts, or the connection dropped. Send to try again.`;
  }
  // A proxy in front may refuse a large body before the server sees it, without its JSON.
  if (e.status === 413 && e.code !== "payload_too_large") return `“${name}” was not sent: it is larger than the server accepts.`;
  // The server's own words for what is wrong with the file.
  if (refusal(e) && e.message) {
    // "larger than the limit of 26214400 bytes": in the units the bar shows sizes in, too.
    const words = e.code === "payload_too_large" ? e.message.replace(/(\d{4,}) bytes/, (all, n) => `${all} (${humanSize(Number(n))})`) : e.message;
    return `“${name}” was not sent: ${sentence(words)}`;
  }
  return `“${name}” was not sent. ${sentence(why)} Send to try again.`;
}

function sentence(text) {
  const t = String(text).trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

// ---- showing attachments --------------------------------------------------------------------

/** "812 bytes", "1.5 KB", "23 MB" (1 KB = 1024 bytes). */
export function humanSize(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1024) return `${n} byte${n === 1 ? "" : "s"}`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const shown = v < 10 ? v.toFixed(1).replace(/\.0$/, "") : String(Math.round(v));
  return `${shown} ${units[i]}`;
}

/** A link the server made: a path on this origin, nothing else. */
function sameOrigin(url) {
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}

function dimension(n) {
  return Number.isInteger(n) && n > 0 ? n : null;
}

export function isImage(a) {
  return IMAGE_TYPES.has(String(a.content_type || "").toLowerCase());
}

/** A message's attachments, or null when it has none (or was deleted). */
export function attachmentsEl(msg) {
  const list = Array.isArray(msg.attachments) ? msg.attachments.filter((a) => a && typeof a === "object") : [];
  if (msg.deleted || !list.length) return null;
  return h("div", { class: "attachments", dataset: { testid: "attachments" } }, list.map(attachmentEl));
}

function attachmentEl(a) {
  const url = sameOrigin(a.url);
  const name = String(a.name || "file");
  if (url && isImage(a)) {
    const w = dimension(a.width);
    const ht = dimension(a.height);
    const img = h("img", {
      src: url,
      alt: name,
      width: w && ht ? w : null,
      height: w && ht ? ht : null,
      loading: "lazy",
      decoding: "async",
      class: `attachment-img${w && ht ? " sized" : ""}`,
      dataset: { testid: "attachment-image" },
    });
    // Its size on screen, known before it loads: scaled down into the box, never up.
    if (w && ht) img.style.width = `${Math.max(1, Math.round(w * Math.min(1, MAX_W / w, MAX_H / ht)))}px`;
    return h(
      "a",
      {
        href: url,
        target: "_blank",
        rel: "noopener",
        class: "attachment attachment-image",
        title: `${name} (${humanSize(a.size)}): open full size`,
        dataset: { testid: "attachment", kind: "image", name },
      },
      img,
    );
  }
  const type = String(a.content_type || "");
  return h(
    url ? "a" : "span",
    {
      href: url,
      download: url ? name : null,
      class: "attachment attachment-file",
      title: url ? `Download ${name}` : name,
      dataset: { testid: "attachment", kind: "file", name },
    },
    fileIcon(),
    h(
      "span",
      { class: "attachment-text" },
      h("span", { class: "attachment-name", dataset: { testid: "attachment-name" } }, name),
      h(
        "span",
        { class: "attachment-meta" },
        h("span", { dataset: { testid: "attachment-size" } }, humanSize(a.size)),
        type ? " · " : "",
        type ? h("span", { dataset: { testid: "attachment-type" } }, type) : null,
      ),
    ),
    url ? h("span", { class: "attachment-download", "aria-hidden": "true" }, "Download") : null,
  );
}

function fileIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "attachment-icon");
  svg.setAttribute("aria-hidden", "true");
  const page = document.createElementNS(ns, "path");
  page.setAttribute("d", "M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z");
  const fold = document.createElementNS(ns, "path");
  fold.setAttribute("d", "M14 3v5h5");
  svg.append(page, fold);
  return svg;
}

/** How a message's files read where there is no room for them (announcements, quotes). */
export function attachmentSummary(msg) {
  const list = Array.isArray(msg && msg.attachments) ? msg.attachments : [];
  if (!list.length) return "";
  const names = list.map((a) => `${isImage(a) ? "image" : "file"} ${a.name}`);
  return names.join(", ");
}
