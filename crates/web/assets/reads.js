// Read state, as the server keeps it: how far you have read each room (`last_read_seq`), its
// unread and mention counts (from GET /rooms?mine=true), the "new messages" line where you left
// off, and "Seen by" under your own last message (read receipts of those who share them).
//
// A room's counts are the server's answer at one point (`base`: the room's last seq then, and
// the unread and mention counts up to it) plus what arrived live after that point (`live`,
// keyed by seq, so a message and its `mention` frame count once). Reading moves `mark`; what is
// at or below it counts no more. When the mark stops inside the server's part, only the server
// can tell what is left: the counts are fetched again.
import * as api from "./api.js";
import { h, displayName } from "./dom.js";
import { state } from "./store.js";

/** At most one read mark sent per room this often; the latest one goes when the time is up. */
const SEND_EVERY_MS = 1000;
const REFRESH_AFTER_MS = 300;

let hooks = {
  /** Sends a `read` frame over the socket: a promise of the reply, or null when offline. */
  send: () => null,
  /** The counts changed: the room list shows them. */
  render: () => {},
};

/** `handlers.send(frame)`, `handlers.render()` (see above). */
export function bindReads(handlers) {
  hooks = { ...hooks, ...handlers };
}

function entry(roomId) {
  let e = state.reads.get(roomId);
  if (!e) {
    const room = state.rooms.get(roomId);
    const seq = room ? room.last_seq || 0 : 0;
    // Not known from the server yet (a room just joined or made): nothing before now counts
    // until it says (`known`).
    e = { known: false, mark: 0, sent: 0, base: { seq, unread: 0, mentions: 0 }, live: new Map(), openMark: null };
    state.reads.set(roomId, e);
  }
  return e;
}

function prune(e) {
  for (const seq of e.live.keys()) if (seq <= e.mark || seq <= e.base.seq) e.live.delete(seq);
}

function mentionsMe(msg) {
  if (!state.me || !msg || msg.author.id === state.me.id) return false;
  return msg.mentions_room === true || (Array.isArray(msg.mentions) && msg.mentions.includes(state.me.id));
}

// ---- the counts ---------------------------------------------------------------------------------

function count(roomId, pick) {
  const e = state.reads.get(roomId);
  if (!e) return 0;
  let n = e.mark >= e.base.seq ? 0 : pick(e.base);
  const from = Math.max(e.mark, e.base.seq);
  for (const [seq, item] of e.live) if (seq > from && pick(item)) n += 1;
  return n;
}

/** Messages by others after your mark (not deleted). */
export function unreadCount(roomId) {
  return count(roomId, (x) => (x.unread === undefined ? 1 : x.unread));
}

/** Messages after your mark that mention you (or @room). */
export function mentionCount(roomId) {
  return count(roomId, (x) => (x.mentions === undefined ? (x.mention ? 1 : 0) : x.mentions));
}

/** The server's read state of your rooms: GET /rooms?mine=true items (or `ready`'s rooms). */
export function applyServer(items) {
  let again = false;
  for (const item of items) {
    const roomId = item.id !== undefined ? item.id : item.room_id;
    if (typeof item.last_read_seq !== "number" || !state.rooms.has(roomId)) continue;
    const e = entry(roomId);
    const seq = item.last_seq || 0;
    // Without a mention count (`ready` has none yet), the mentions known up to there stay.
    const mentions = typeof item.mention_count === "number" ? item.mention_count : mentionsUpTo(e, seq, item.last_read_seq);
    e.known = true;
    e.base = { seq, unread: item.unread_count || 0, mentions };
    e.sent = Math.max(e.sent, item.last_read_seq);
    // A mark of ours still on its way: the answer counted what it covers; ask again after it.
    const s = sending.get(roomId);
    if (e.mark > item.last_read_seq && e.mark < seq && s && (s.busy || s.timer)) again = true;
    e.mark = Math.max(e.mark, item.last_read_seq);
    prune(e);
  }
  if (again) refresh();
}

/** The mentions an entry counts at or below `seq`, after the mark `read` (or its own). */
function mentionsUpTo(e, seq, read) {
  const mark = Math.max(e.mark, read);
  let n = mark >= e.base.seq ? 0 : e.base.mentions;
  for (const [s, item] of e.live) if (s > mark && s > e.base.seq && s <= seq && item.mention) n += 1;
  return n;
}

let refreshTimer = null;
let refreshing = false;

/** Fetches the counts of every room again, soon (calls close together make one fetch). */
export function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    if (refreshing) return refresh();
    refreshing = true;
    try {
      const rooms = await api.listAll("/rooms?mine=true");
      if (state.me) {
        applyServer(rooms);
        hooks.render();
      }
    } catch {
      // The next change or reconnect asks again.
    } finally {
      refreshing = false;
    }
  }, REFRESH_AFTER_MS);
}

// ---- live changes ---------------------------------------------------------------------------

/** A message arrived (live or replayed by `sync`). */
export function noteMessage(msg) {
  if (!state.me || msg.deleted || !state.rooms.has(msg.room_id)) return;
  const e = entry(msg.room_id);
  if (msg.seq <= e.base.seq || msg.seq <= e.mark) return;
  const mine = msg.author.id === state.me.id;
  const was = e.live.get(msg.seq);
  const mention = (was && was.mention) || mentionsMe(msg);
  // Your own messages are not unread; the server does not count them either.
  if (mine) e.live.delete(msg.seq);
  else e.live.set(msg.seq, { mention });
}

/** A `mention` frame: someone mentioned you in `message`. */
export function noteMention(roomId, message) {
  if (!state.rooms.has(roomId) || !message) return;
  const e = entry(roomId);
  if (message.seq <= e.base.seq || message.seq <= e.mark) return;
  e.live.set(message.seq, { mention: true });
}

/** A message was deleted: it counts no more. */
export function noteDeleted(roomId, seq) {
  const e = state.reads.get(roomId);
  if (!e || seq <= e.mark) return;
  if (e.live.delete(seq)) return;
  // Inside the server's part: only the server knows whether it was counted.
  if (seq <= e.base.seq) refresh();
}

/** A `read.updated` event: yours (from any tab or device), or a shared receipt of someone else. */
export function onReadUpdated(f) {
  if (!state.me) return false;
  if (f.user_id !== state.me.id) {
    const r = state.receipts.get(f.room_id);
    if (r) r.set(f.user_id, Math.max(r.get(f.user_id) || 0, f.last_read_seq));
    return false;
  }
  if (!state.rooms.has(f.room_id)) return false;
  const e = entry(f.room_id);
  e.sent = Math.max(e.sent, f.last_read_seq);
  if (f.last_read_seq <= e.mark) return false;
  e.mark = f.last_read_seq;
  if (e.mark < e.base.seq) refresh();
  prune(e);
  return true;
}

// ---- reading ----------------------------------------------------------------------------------

const sending = new Map();

/**
 * You have seen a room up to `seq`: the counts drop at once, and the mark goes to the server
 * (the `read` frame, or PUT /rooms/{id}/read offline), at most once a second per room. Returns
 * whether the counts changed.
 */
export function markRead(roomId, seq) {
  if (!state.rooms.has(roomId) || !seq) return false;
  const e = entry(roomId);
  const changed = seq > e.mark;
  if (changed) {
    e.mark = seq;
    if (e.mark < e.base.seq) refresh();
    prune(e);
  }
  if (seq > e.sent) schedule(roomId);
  return changed;
}

function schedule(roomId) {
  let s = sending.get(roomId);
  if (!s) {
    s = { at: 0, timer: null, busy: false };
    sending.set(roomId, s);
  }
  if (s.timer || s.busy) return;
  const wait = s.at + SEND_EVERY_MS - Date.now();
  s.timer = setTimeout(() => send(roomId, s), Math.max(0, wait));
}

async function send(roomId, s) {
  s.timer = null;
  const e = state.reads.get(roomId);
  if (!e || !state.rooms.has(roomId) || e.mark <= e.sent) return;
  const seq = e.mark;
  s.busy = true;
  s.at = Date.now();
  try {
    const reply = hooks.send({ type: "read", room_id: roomId, seq });
    const answer = reply ? await reply : await api.request("PUT", `/rooms/${roomId}/read`, { seq });
    if (answer && typeof answer.last_read_seq === "number") e.sent = Math.max(e.sent, answer.last_read_seq);
    else e.sent = Math.max(e.sent, seq);
  } catch {
    // Sent again the next time the room is seen.
  } finally {
    s.busy = false;
  }
  if (state.reads.get(roomId) === e && e.mark > e.sent && e.mark > seq) schedule(roomId);
}

// ---- the "new messages" line ----------------------------------------------------------------

/**
 * A room was opened: the line goes after the mark it had then (none in a room just joined,
 * whose whole history is new). Receipts are loaded.
 */
export function opened(roomId) {
  const e = entry(roomId);
  e.openMark = e.known ? e.mark : null;
  loadReceipts(roomId);
}

/**
 * A message by someone else arrived in the open room while you watched (at the bottom, tab
 * visible): with no line shown, none starts above it.
 */
export function seenLive(roomId, seq, list) {
  const e = state.reads.get(roomId);
  if (!e || list.querySelector(".new-line")) return;
  e.openMark = Math.max(e.openMark || 0, seq);
}

/** After reading the open room: with no line shown, the line's place follows the mark. */
export function followMark(roomId, list) {
  const e = state.reads.get(roomId);
  if (e && !list.querySelector(".new-line")) e.openMark = Math.max(e.openMark || 0, e.mark);
}

/** Puts the "New messages" line above the first message by someone else after the open mark. */
export function placeNewLine(list) {
  const old = list.querySelector(".new-line");
  const e = state.reads.get(state.current);
  let first = null;
  if (e && e.openMark !== null && state.me) {
    let lowest = null;
    for (const el of list.children) {
      if (!el.classList.contains("msg")) continue;
      const seq = Number(el.dataset.seq);
      if (lowest === null) lowest = seq;
      if (seq > e.openMark && el.dataset.authorId !== String(state.me.id)) {
        first = el;
        break;
      }
    }
    // The first message after the mark is not loaded yet (further back): no line until it is.
    if (lowest !== null && lowest > e.openMark + 1) first = null;
  }
  if (!first) {
    if (old) old.remove();
    return;
  }
  // Right above the message (below its day separator, if any).
  if (old && old.nextElementSibling === first) return;
  if (old) old.remove();
  list.insertBefore(h("li", { class: "new-line", role: "separator", dataset: { testid: "new-messages-line" } }, h("span", {}, "New messages")), first);
}

// ---- "Seen by" ----------------------------------------------------------------------------

let receiptsHook = () => {};

/** `fn()` runs when the open room's receipts arrive. */
export function onReceipts(fn) {
  receiptsHook = fn;
}

async function loadReceipts(roomId) {
  try {
    const page = await api.request("GET", `/rooms/${roomId}/reads`);
    if (!state.rooms.has(roomId)) return;
    const r = new Map();
    for (const item of page.items || []) r.set(item.user_id, item.last_read_seq);
    // Live updates that came meanwhile are at least as new.
    const live = state.receipts.get(roomId);
    if (live) for (const [id, seq] of live) r.set(id, Math.max(r.get(id) || 0, seq));
    state.receipts.set(roomId, r);
    if (state.current === roomId) receiptsHook();
  } catch {
    // No "Seen by" this time.
  }
}

function nameOf(userId) {
  const u = state.users.get(userId);
  return u ? displayName(u) : `user ${userId}`;
}

/** "Seen by N" under your own last message: who else has read up to it (names in the title). */
export function placeSeenBy(list) {
  for (const el of list.querySelectorAll(".seen-by")) el.remove();
  const r = state.receipts.get(state.current);
  if (!r || !state.me) return;
  const own = list.querySelectorAll("li.msg.own:not(.deleted)");
  const last = own[own.length - 1];
  if (!last) return;
  const seq = Number(last.dataset.seq);
  const who = [];
  for (const [id, read] of r) if (id !== state.me.id && read >= seq) who.push(nameOf(id));
  if (!who.length) return;
  who.sort((a, b) => a.localeCompare(b));
  const main = last.querySelector(".msg-main");
  if (main) {
    main.append(h("p", { class: "seen-by", title: `Seen by ${who.join(", ")}`, dataset: { testid: "seen-by" } }, `Seen by ${who.length}`));
  }
}
