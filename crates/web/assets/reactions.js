// Emoji reactions: the chips under a message (emoji and count; who reacted in the title; yours
// highlighted; a click toggles yours), a picker of common emoji, and the live `reaction.added` /
// `reaction.removed` events applied to the shown message.
import { $, h, displayName } from "./dom.js";
import { state } from "./store.js";

export const COMMON = ["👍", "❤️", "😂", "🎉", "😄", "😮", "😢", "🙏", "👀", "🔥", "✅", "👎"];
/** How many names a chip's title lists before "and N others". */
const NAMED = 10;

let hooks = {
  /** Sends the change: a promise (rejects with an error to show). */
  react: async () => {},
  /** A message's reactions changed: store and show it. */
  update: () => {},
  /** An error to show. */
  error: () => {},
};

/** `handlers.react(msg, emoji, on)`, `handlers.update(msg)`, `handlers.error(e)`. */
export function bindReactions(handlers) {
  hooks = { ...hooks, ...handlers };
  const picker = $("reaction-picker");
  for (const emoji of COMMON) {
    picker.append(
      h("button", { type: "button", class: "reaction-pick", "aria-label": `React with ${emoji}`, title: emoji, dataset: { testid: "reaction-pick", emoji }, onclick: () => pick(emoji) }, emoji),
    );
  }
  picker.addEventListener("keydown", onPickerKey);
  document.addEventListener("mousedown", (e) => {
    if (!picker.hidden && !picker.contains(e.target) && !e.target.closest("[data-reaction-add]")) closePicker(false);
  });
  $("message-scroll").addEventListener("scroll", () => closePicker(false));
  window.addEventListener("resize", () => closePicker(false));
}

/** A message's reactions with `me` worked out from `user_ids` where the server left it false. */
export function normalize(msg) {
  if (!Array.isArray(msg.reactions)) return { ...msg, reactions: [] };
  const me = state.me && state.me.id;
  return {
    ...msg,
    reactions: msg.reactions
      .filter((r) => r && r.emoji && r.count > 0)
      .map((r) => ({ ...r, user_ids: Array.isArray(r.user_ids) ? r.user_ids : [], me: !!r.me || (Array.isArray(r.user_ids) && r.user_ids.includes(me)) })),
  };
}

function nameOf(userId) {
  const u = state.users.get(userId);
  return u ? displayName(u) : `user ${userId}`;
}

/** "You, Ann and 3 others reacted with 👍" (you first, as "You"). */
export function whoReacted(r) {
  const me = state.me && state.me.id;
  const names = r.user_ids
    .filter((id) => id !== me)
    .slice(0, NAMED)
    .map(nameOf);
  if (r.me) names.unshift("You");
  const rest = r.count - names.length;
  let who;
  if (rest > 0) who = `${names.join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
  else if (names.length > 1) who = `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  else who = names[0] || "Someone";
  return `${who} reacted with ${r.emoji}`;
}

/** The chips of a message, with an "add" button after them; null when it has none. */
export function reactionsEl(msg) {
  if (msg.deleted || !msg.reactions || !msg.reactions.length) return null;
  return h(
    "div",
    { class: "reactions", dataset: { testid: "reactions" } },
    msg.reactions.map((r) =>
      h(
        "button",
        {
          type: "button",
          class: `reaction${r.me ? " mine" : ""}`,
          title: whoReacted(r),
          "aria-pressed": String(!!r.me),
          "aria-label": `${whoReacted(r)}. ${r.me ? "Remove yours" : "Add yours"}`,
          dataset: { testid: "reaction", emoji: r.emoji, count: String(r.count) },
          onclick: () => toggle(msg, r.emoji, !r.me),
        },
        h("span", { class: "reaction-emoji", "aria-hidden": "true" }, r.emoji),
        h("span", { class: "reaction-count", "aria-hidden": "true" }, String(r.count)),
      ),
    ),
    addButton(msg, "reaction add-reaction", "+"),
  );
}

/** The button that opens the picker for a message. */
export function addButton(msg, cls = "tiny", label = "React") {
  return h(
    "button",
    {
      type: "button",
      class: cls,
      "aria-label": "Add reaction",
      "aria-haspopup": "dialog",
      title: "Add reaction",
      dataset: { testid: "add-reaction", reactionAdd: "1" },
      onclick: (e) => openPicker(e.currentTarget, msg),
    },
    label,
  );
}

// ---- changing ------------------------------------------------------------------------------

/** The loaded message: by its seq when known (events carry it), else by its id. */
function stored(roomId, seq, messageId) {
  const m = state.msgs.get(roomId);
  if (!m) return null;
  const msg = seq !== undefined ? m.bySeq.get(seq) : null;
  if (msg && (messageId === undefined || msg.id === messageId)) return msg;
  if (messageId === undefined) return null;
  for (const other of m.bySeq.values()) if (other.id === messageId) return other;
  return null;
}

/**
 * One user's reaction added or removed (`on`), applied once: a second time changes nothing.
 * Your own is known by `me`; others' by `user_ids` (which names the first 20).
 */
function applied(msg, emoji, userId, on) {
  const me = state.me && userId === state.me.id;
  const list = msg.reactions ? msg.reactions.map((r) => ({ ...r, user_ids: r.user_ids.slice() })) : [];
  let r = list.find((x) => x.emoji === emoji);
  if (on) {
    if (r && (me ? r.me : r.user_ids.includes(userId))) return null;
    if (!r) {
      r = { emoji, count: 0, user_ids: [], me: false };
      list.push(r);
    }
    r.count += 1;
    if (!r.user_ids.includes(userId)) r.user_ids.push(userId);
    if (me) r.me = true;
  } else {
    if (!r) return null;
    const listed = r.user_ids.includes(userId);
    if (me ? !r.me : !listed && r.count <= r.user_ids.length) return null;
    r.count -= 1;
    r.user_ids = r.user_ids.filter((id) => id !== userId);
    if (me) r.me = false;
  }
  return { ...msg, reactions: list.filter((x) => x.count > 0) };
}

/** A live `reaction.added` / `reaction.removed` event. */
export function applyEvent(f) {
  const msg = stored(f.room_id, f.seq, f.message_id);
  if (!msg) return;
  const next = applied(msg, f.emoji, f.user_id, f.type === "reaction.added");
  if (next) hooks.update(next);
}

/** Adds (`on`) or removes your reaction, and shows it once the server took it. */
async function toggle(msg, emoji, on) {
  try {
    await hooks.react(msg, emoji, on);
  } catch (e) {
    hooks.error(e);
    return;
  }
  const latest = stored(msg.room_id, msg.seq, msg.id);
  const next = latest && state.me && applied(latest, emoji, state.me.id, on);
  if (next) hooks.update(next);
}

// ---- the picker ------------------------------------------------------------------------------

let picking = null;

function openPicker(anchor, msg) {
  const picker = $("reaction-picker");
  if (!picker.hidden && picking && picking.msg.id === msg.id) {
    closePicker(true);
    return;
  }
  picking = { msg, anchor };
  picker.hidden = false;
  const a = anchor.getBoundingClientRect();
  const p = picker.getBoundingClientRect();
  const left = Math.max(8, Math.min(a.left, window.innerWidth - p.width - 8));
  const top = a.top - p.height - 6 >= 8 ? a.top - p.height - 6 : Math.min(a.bottom + 6, window.innerHeight - p.height - 8);
  picker.style.left = `${left}px`;
  picker.style.top = `${top}px`;
  const first = picker.querySelector("button");
  if (first) first.focus();
}

/** Closes the picker; `refocus` puts the focus back on the button that opened it. */
export function closePicker(refocus) {
  const picker = $("reaction-picker");
  if (picker.hidden) return;
  picker.hidden = true;
  const anchor = picking && picking.anchor;
  picking = null;
  if (refocus && anchor && anchor.isConnected) anchor.focus();
}

function pick(emoji) {
  const p = picking;
  closePicker(true);
  if (!p) return;
  const latest = stored(p.msg.room_id, p.msg.seq, p.msg.id) || p.msg;
  const r = (latest.reactions || []).find((x) => x.emoji === emoji);
  // Picking one you have already given takes it back, as its chip would.
  toggle(latest, emoji, !(r && r.me));
}

function onPickerKey(e) {
  const buttons = Array.from($("reaction-picker").querySelectorAll("button"));
  const i = buttons.indexOf(document.activeElement);
  if (e.key === "Escape") {
    e.preventDefault();
    e.stopPropagation();
    closePicker(true);
  } else if (e.key === "ArrowRight" || e.key === "ArrowDown") {
    e.preventDefault();
    buttons[(i + 1) % buttons.length].focus();
  } else if (e.key === "ArrowLeft" || e.key === "ArrowUp") {
    e.preventDefault();
    buttons[(i - 1 + buttons.length) % buttons.length].focus();
  } else if (e.key === "Tab") {
    closePicker(false);
  }
}

/** Closes the picker (signed out, another room opened). */
export function resetReactions() {
  closePicker(false);
}
