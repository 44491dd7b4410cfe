// Small DOM helpers. User text only ever enters the page as text nodes or attribute values
// (textContent, setAttribute), never as HTML, so nothing a user types can inject markup.

/** Creates an element: h("button", {class: "x", onclick: fn, text: "Go"}, child, ...). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

/** The room-kind mark: a padlock for private rooms, "#" for public ones. */
export function roomMark(room) {
  if (!room.is_private) return h("span", { class: "room-mark", "aria-hidden": "true" }, "#");
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "lock");
  svg.setAttribute("aria-hidden", "true");
  const body = document.createElementNS(ns, "rect");
  for (const [k, v] of Object.entries({ x: "3", y: "7", width: "10", height: "7", rx: "1.5" })) body.setAttribute(k, v);
  const shackle = document.createElementNS(ns, "path");
  shackle.setAttribute("d", "M5 7V5a3 3 0 0 1 6 0v2");
  svg.append(body, shackle);
  return h("span", { class: "room-mark", title: "Private room" }, svg, h("span", { class: "visually-hidden" }, "Private: "));
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function show(el, visible) {
  el.hidden = !visible;
}

/** A stable, readable colour for a user. */
export function hue(id) {
  return (Number(id) * 137) % 360;
}

export function initials(user) {
  const name = (user && (user.display_name || user.username)) || "?";
  return Array.from(name.trim())[0]?.toUpperCase() || "?";
}

export function avatar(user, extra = "") {
  const el = h("span", { class: `avatar ${extra}`.trim(), "aria-hidden": "true" }, initials(user));
  el.style.setProperty("--hue", String(hue(user ? user.id : 0)));
  return el;
}

export function displayName(user) {
  if (!user) return "someone";
  return user.display_name || user.username;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });

/** "14:03" today, "Mar 3, 14:03" otherwise. */
export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** "14:03": the time of day alone (a day separator above says which day). */
export function clockTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : timeFmt.format(d);
}

export function fullTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : fullFmt.format(d);
}

/** A random id for client_msg_id and refs. */
export function randomId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
