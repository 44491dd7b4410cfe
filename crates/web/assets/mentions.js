// Mentions: `@username` and `@room` in bodies as highlighted spans (made with DOM APIs, the text
// set as text, like links.js does for links), a message that mentions you marked as such, "@"
// completion in the composer from the open room's members, and a browser notification for a
// mention while the tab is hidden, when the user turned them on (the permission is asked from
// that toggle, a user gesture, never on load).
import { $, h, clear, avatar, displayName } from "./dom.js";
import { state, canManage } from "./store.js";

/** A candidate: "@" not inside a word or an address, then username characters. */
const TOKEN = /(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]+)/g;
const NAME = /^[A-Za-z0-9_.-]{3,32}$/;
const SHOWN = 8;

function userByName(lower) {
  for (const u of state.users.values()) if (u.username && u.username.toLowerCase() === lower) return u;
  return null;
}

/** Whether the message names you: your id in `mentions`, or `mentions_room` (not your own). */
export function mentionsMe(msg) {
  if (!state.me || !msg || msg.deleted || (msg.author && msg.author.id === state.me.id)) return false;
  return msg.mentions_room === true || (Array.isArray(msg.mentions) && msg.mentions.includes(state.me.id));
}

/**
 * Whether a token is a mention to highlight: the server's `mentions` / `mentions_room` decide
 * when the message has them; until then every well-formed one is.
 */
function isMention(lower, msg) {
  if (lower === "room") return msg.mentions_room !== false;
  if (!Array.isArray(msg.mentions)) return true;
  const u = userByName(lower);
  return u ? msg.mentions.includes(u.id) : msg.mentions.length > 0;
}

/** The mention at the start of `name` (a token's characters), or null. */
function mentionName(name) {
  if (NAME.test(name) && userByName(name.toLowerCase())) return name;
  // "@ann." at the end of a sentence: the dot is not part of the name.
  const trimmed = name.replace(/[.-]+$/, "");
  return NAME.test(trimmed) ? trimmed : null;
}

function splitText(text, msg) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(TOKEN)) {
    const name = mentionName(m[2]);
    if (!name || !isMention(name.toLowerCase(), msg)) continue;
    const start = m.index + m[1].length;
    if (start > at) out.push(document.createTextNode(text.slice(at, start)));
    const lower = name.toLowerCase();
    const me = lower === "room" || (state.me && state.me.username.toLowerCase() === lower);
    out.push(h("span", { class: `mention${me ? " mention-me" : ""}`, dataset: { testid: "mention" } }, `@${name}`));
    at = start + 1 + name.length;
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}

/** Highlights the mentions in a body's nodes (text nodes and links, from linkify). */
export function highlightMentions(nodes, msg) {
  const out = [];
  for (const node of nodes) {
    if (node.nodeType === Node.TEXT_NODE) out.push(...splitText(node.textContent, msg));
    else out.push(node);
  }
  return out;
}

// ---- completion in the composer ----------------------------------------------------------------

/** The list shown: [{ user } | { room: true }], which is highlighted, and the "@..." it replaces. */
let comp = { items: [], active: -1, start: 0, end: 0 };

/** Binds the composer's "@" completion (once, at boot). */
export function bindMentions() {
  const input = $("composer-input");
  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("blur", closeCompletion);
  // A click on a suggestion keeps the focus in the composer.
  $("mention-suggestions").addEventListener("mousedown", (e) => e.preventDefault());
  bindNotifyToggle();
}

function candidates(prefix) {
  const members = state.members.get(state.current);
  const out = [];
  if (members) {
    const me = state.me && state.me.id;
    const matches = (u) => u.username.toLowerCase().startsWith(prefix) || displayName(u).toLowerCase().split(/\s+/).some((w) => w.startsWith(prefix));
    const users = Array.from(members.values())
      .map((m) => m.user)
      .filter((u) => u.id !== me && matches(u))
      .sort((a, b) => {
        const ua = a.username.toLowerCase().startsWith(prefix) ? 0 : 1;
        const ub = b.username.toLowerCase().startsWith(prefix) ? 0 : 1;
        return ua - ub || displayName(a).localeCompare(displayName(b));
      });
    for (const user of users) out.push({ user });
  }
  const room = state.rooms.get(state.current);
  if (room && room.kind !== "direct" && canManage(room.id) && "room".startsWith(prefix)) out.push({ room: true });
  return out.slice(0, SHOWN);
}

function update() {
  const input = $("composer-input");
  const caret = input.selectionStart;
  if (caret !== input.selectionEnd || !state.current) return closeCompletion();
  const before = input.value.slice(0, caret);
  const m = /(^|\s)@([A-Za-z0-9_.-]{0,32})$/.exec(before);
  if (!m) return closeCompletion();
  const items = candidates(m[2].toLowerCase());
  if (!items.length) return closeCompletion();
  comp = { items, active: 0, start: caret - m[2].length - 1, end: caret };
  render();
}

function render() {
  const list = $("mention-suggestions");
  const input = $("composer-input");
  clear(list);
  comp.items.forEach((item, i) => {
    const label = item.room ? "room" : item.user.username;
    list.append(
      h(
        "li",
        {
          id: `mention-option-${i}`,
          class: "suggestion",
          role: "option",
          "aria-selected": String(i === comp.active),
          dataset: { testid: "mention-suggestion", username: label },
          onclick: () => pick(i),
        },
        item.room ? h("span", { class: "avatar small", "aria-hidden": "true" }, "@") : avatar(item.user, "small"),
        h(
          "span",
          { class: "suggestion-text" },
          h("span", { class: "suggestion-name" }, item.room ? "Everyone in the room" : displayName(item.user)),
          h("span", { class: "suggestion-username" }, `@${label}`),
        ),
      ),
    );
  });
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
  input.setAttribute("aria-activedescendant", `mention-option-${comp.active}`);
  const active = list.children[comp.active];
  if (active) active.scrollIntoView({ block: "nearest" });
}

export function closeCompletion() {
  comp = { items: [], active: -1, start: 0, end: 0 };
  const list = $("mention-suggestions");
  if (list.hidden) return;
  clear(list);
  list.hidden = true;
  $("composer-input").setAttribute("aria-expanded", "false");
  $("composer-input").removeAttribute("aria-activedescendant");
}

function pick(i) {
  const item = comp.items[i];
  if (!item) return;
  const input = $("composer-input");
  const text = `@${item.room ? "room" : item.user.username} `;
  const { start, end } = comp;
  input.value = input.value.slice(0, start) + text + input.value.slice(end);
  const caret = start + text.length;
  input.setSelectionRange(caret, caret);
  closeCompletion();
  input.focus();
  // The composer's own handlers (size, typing notice) see the change.
  input.dispatchEvent(new Event("input"));
}

/** The composer's keys while the list is open: arrows move, Enter or Tab picks, Escape closes. */
export function onCompletionKey(e) {
  if ($("mention-suggestions").hidden || !comp.items.length || e.isComposing) return false;
  const n = comp.items.length;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    comp.active = (comp.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
    render();
  } else if (e.key === "Enter" || e.key === "Tab") {
    pick(comp.active < 0 ? 0 : comp.active);
  } else if (e.key === "Escape") {
    closeCompletion();
  } else {
    return false;
  }
  e.preventDefault();
  e.stopPropagation();
  return true;
}

// ---- browser notifications ------------------------------------------------------------------

function notifyKey() {
  return `huddle.notify.${state.me ? state.me.id : "anon"}`;
}

function supported() {
  return typeof window.Notification === "function";
}

function wanted() {
  return !!state.me && supported() && Notification.permission === "granted" && localStorage.getItem(notifyKey()) === "1";
}

/** The profile's toggle shows whether mentions notify on this device. */
export function renderNotifyToggle() {
  const box = $("notify-toggle");
  box.checked = wanted();
  box.disabled = !supported();
  $("notify-hint").textContent = !supported()
    ? "This browser cannot show notifications."
    : Notification.permission === "denied"
      ? "Notifications are blocked for this site in the browser's settings."
      : "While this tab is in the background, on this device.";
}

function bindNotifyToggle() {
  $("notify-toggle").addEventListener("change", async (e) => {
    const box = e.currentTarget;
    if (!box.checked) {
      localStorage.setItem(notifyKey(), "0");
      return renderNotifyToggle();
    }
    if (!supported()) return renderNotifyToggle();
    // Asked here, in answer to the click, never on load.
    let permission = Notification.permission;
    if (permission === "default") {
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = "denied";
      }
    }
    localStorage.setItem(notifyKey(), permission === "granted" ? "1" : "0");
    renderNotifyToggle();
  });
}

/**
 * A mention arrived: a browser notification when the tab is hidden and the user wants them.
 * `open()` shows the message when it is clicked.
 */
export function notifyMention(roomTitle, message, open) {
  if (document.visibilityState !== "hidden" || !wanted() || !message) return;
  try {
    const body = String(message.body || "").slice(0, 200);
    const n = new Notification(`${displayName(message.author)} mentioned you in ${roomTitle}`, { body, tag: `huddle-mention-${message.room_id}` });
    n.onclick = () => {
      window.focus();
      open();
      n.close();
    };
  } catch {
    // Some browsers only show them from a service worker; the badge still counts it.
  }
}
