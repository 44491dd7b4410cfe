// The open room's message history: the newest page, older pages on scroll-back, and a window
// around one message (a search result) with newer pages loaded as you scroll down from it.
//
// The loaded messages of a room are always one run of seqs with no gap. Below a window that does
// not reach the newest message (`hasNewer`), live messages are not stored (their seq still moves
// the room's `last_seq`): scrolling down, "Jump to latest" or sending loads them from the server.
// Each load takes a number (`gen`); a load overtaken by a newer one drops its answer.
import * as api from "./api.js";
import { $ } from "./dom.js";
import { normalize } from "./reactions.js";
import { state, roomMsgs, rememberUser } from "./store.js";
import * as views from "./views.js";

const PAGE = 50;
/** Messages loaded on each side of a message shown from a search. */
const AROUND = 25;
const FLASH_MS = 2500;
/** Pages of scroll-back a reply's quote loads to reach the message it quotes. */
const REVEAL_PAGES = 4;

let hooks = { onError: () => {}, markRead: () => {} };

/** `h.onError(roomId, error)`: a load failed; `h.markRead()`: the view may count as read. */
export function bindHistory(h) {
  hooks = h;
}

function maxSeq(m) {
  let max = 0;
  for (const s of m.bySeq.keys()) if (s > max) max = s;
  return max;
}

/**
 * Stores a message and shows it if its room is open. A live one (`live`) below a window that
 * does not reach the newest message is left for later (see above).
 */
export function putMessage(msg, live = false) {
  msg = normalize(msg);
  remember(msg);
  const room = state.rooms.get(msg.room_id);
  if (room && msg.seq > (room.last_seq || 0)) room.last_seq = msg.seq;
  const m = state.msgs.get(msg.room_id);
  if (!m) return;
  if (live && m.hasNewer && !m.bySeq.has(msg.seq)) return;
  m.bySeq.set(msg.seq, msg);
  if (msg.room_id === state.current) views.upsertMessage(msg);
}

function keep(m, msg) {
  msg = normalize(msg);
  remember(msg);
  m.bySeq.set(msg.seq, msg);
}

function remember(msg) {
  rememberUser(msg.author);
  if (msg.reply_to && msg.reply_to.author) rememberUser(msg.reply_to.author);
}

/** Whether messages newer than the loaded ones exist (the room's last seq is beyond them). */
function newerExist(roomId, m) {
  const room = state.rooms.get(roomId);
  return !!room && (room.last_seq || 0) > maxSeq(m);
}

// ---- scrolling ----------------------------------------------------------------------------------

export function nearBottom() {
  const s = $("message-scroll");
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

export function scrollToBottom() {
  const s = $("message-scroll");
  s.scrollTop = s.scrollHeight;
  $("jump-latest").hidden = true;
}

/** Whether the open room shows its newest messages (nothing newer waits on the server). */
export function atLatest(roomId = state.current) {
  const m = state.msgs.get(roomId);
  return !m || !m.hasNewer;
}

// ---- loading ------------------------------------------------------------------------------------

/** The newest page; replaces a window around an older message. Scrolls to the bottom. */
export async function loadLatest(roomId) {
  const m = roomMsgs(roomId);
  if (m.loading && !m.hasNewer) return;
  const gen = ++m.gen;
  m.loading = true;
  if (m.hasNewer) m.bySeq.clear();
  if (state.current === roomId) views.renderHistoryState();
  try {
    const page = await api.request("GET", `/rooms/${roomId}/messages?limit=${PAGE}`);
    if (gen !== m.gen) return;
    for (const msg of page.items) keep(m, msg);
    m.hasMore = page.has_more;
    m.loaded = true;
  } catch (e) {
    if (gen === m.gen) hooks.onError(roomId, e);
  } finally {
    if (gen === m.gen) m.loading = false;
  }
  if (gen !== m.gen) return;
  // Live messages that came during the load while a window was shown were not kept.
  m.hasNewer = m.hasNewer && newerExist(roomId, m);
  if (state.current === roomId) {
    views.renderMessages();
    scrollToBottom();
    hooks.markRead();
    fillViewport();
  }
}

/** The page before the oldest loaded message (scroll-back), keeping the view where it was. */
export async function loadOlder() {
  const roomId = state.current;
  const m = roomId && state.msgs.get(roomId);
  if (!m || !m.loaded || !m.hasMore || m.loading) return;
  const lowest = Math.min(...m.bySeq.keys());
  if (!Number.isFinite(lowest)) return;
  const gen = ++m.gen;
  m.loading = true;
  views.renderHistoryState();
  const scroller = $("message-scroll");
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  try {
    const page = await api.request("GET", `/rooms/${roomId}/messages?before_seq=${lowest}&limit=${PAGE}`);
    if (gen !== m.gen) return;
    for (const msg of page.items) putMessage(msg);
    m.hasMore = page.has_more;
  } catch (e) {
    if (gen === m.gen) views.toast(api.describe(e), "error");
  } finally {
    if (gen === m.gen) m.loading = false;
  }
  if (gen === m.gen && state.current === roomId) {
    views.renderHistoryState();
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    fillViewport();
  }
}

/** The page after the newest loaded message, below a window (scrolling down). */
export async function loadNewer() {
  const roomId = state.current;
  const m = roomId && state.msgs.get(roomId);
  if (!m || !m.loaded || !m.hasNewer || m.loading) return;
  const highest = maxSeq(m);
  const gen = ++m.gen;
  m.loading = true;
  try {
    const page = await api.request("GET", `/rooms/${roomId}/messages?after_seq=${highest}&limit=${PAGE}`);
    if (gen !== m.gen) return;
    for (const msg of page.items) putMessage(msg);
    m.hasNewer = page.has_more || newerExist(roomId, m);
  } catch (e) {
    if (gen === m.gen) views.toast(api.describe(e), "error");
  } finally {
    if (gen === m.gen) m.loading = false;
  }
  if (gen === m.gen && state.current === roomId) {
    views.renderHistoryState();
    if (!m.hasNewer) hooks.markRead();
    fillViewport();
  }
}

/** Loads more while the list does not fill the view (no scrollbar means no scroll event). */
export function fillViewport() {
  const s = $("message-scroll");
  const m = state.msgs.get(state.current);
  if (!m || !m.loaded || m.loading) return;
  if (s.scrollHeight > s.clientHeight + 40) return;
  if (m.hasMore) loadOlder();
  else if (m.hasNewer) loadNewer();
}

/** What the scroll position asks for: older messages at the top, newer ones at the bottom. */
export function onScroll() {
  const s = $("message-scroll");
  if (s.scrollTop < 150) loadOlder();
  if (nearBottom() && !atLatest()) loadNewer();
}

/**
 * Shows one message of the open room: loads the messages around it when they are not loaded
 * (the window of `AROUND` on each side), scrolls it into the middle of the view and highlights
 * it for a moment.
 */
export async function showMessage(roomId, seq) {
  const m = roomMsgs(roomId);
  if (!m.bySeq.has(seq)) {
    const loaded = await loadAround(roomId, seq);
    if (state.current !== roomId || loaded === "overtaken") return;
    if (loaded === "failed") {
      // Said already (hooks.onError); show the newest instead of nothing.
      if (state.rooms.has(roomId)) loadLatest(roomId);
      return;
    }
    if (!m.bySeq.has(seq)) {
      views.toast("That message is no longer there.");
      return;
    }
  }
  const el = document.getElementById(`m-${roomId}-${seq}`);
  if (!el) return;
  el.scrollIntoView({ block: "center" });
  el.classList.remove("flash");
  // Restart the highlight when the same message is shown twice in a row.
  void el.offsetWidth;
  el.classList.add("flash");
  setTimeout(() => el.classList.remove("flash"), FLASH_MS);
  $("jump-latest").hidden = atLatest(roomId) && nearBottom();
  hooks.markRead();
}

/**
 * Shows a message of the open room that a reply quotes: older pages are loaded until it is
 * there (a few at most; further back, the messages around it are loaded instead, as for a
 * search result), then it is scrolled into view and flashed.
 */
export async function revealMessage(roomId, seq) {
  const m = roomMsgs(roomId);
  const deadline = Date.now() + 15000;
  let pages = 0;
  while (!m.bySeq.has(seq) && pages < REVEAL_PAGES && Date.now() < deadline) {
    if (state.current !== roomId) return;
    if (m.loading) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const lowest = Math.min(...m.bySeq.keys());
    if (!m.loaded || !m.hasMore || !(seq < lowest)) break;
    await loadOlder();
    pages++;
  }
  if (state.current === roomId) await showMessage(roomId, seq);
}

/** Replaces the loaded messages by those around `seq`: "loaded", "failed" or "overtaken". */
async function loadAround(roomId, seq) {
  const m = roomMsgs(roomId);
  const gen = ++m.gen;
  m.loading = true;
  // Until the answer, live messages are left for later: they would follow a gap.
  m.hasNewer = true;
  m.bySeq.clear();
  if (state.current === roomId) {
    views.renderMessages();
    views.renderHistoryState();
  }
  let outcome = "failed";
  try {
    const [older, newer] = await Promise.all([
      api.request("GET", `/rooms/${roomId}/messages?before_seq=${seq + 1}&limit=${AROUND}`),
      api.request("GET", `/rooms/${roomId}/messages?after_seq=${seq}&limit=${AROUND}`),
    ]);
    if (gen !== m.gen) return "overtaken";
    for (const msg of older.items) keep(m, msg);
    for (const msg of newer.items) keep(m, msg);
    m.hasMore = older.has_more;
    m.hasNewer = newer.has_more || newerExist(roomId, m);
    m.loaded = true;
    outcome = "loaded";
  } catch (e) {
    if (gen === m.gen) hooks.onError(roomId, e);
  } finally {
    if (gen === m.gen) m.loading = false;
  }
  if (gen !== m.gen) return "overtaken";
  if (outcome === "failed") m.hasNewer = false;
  if (state.current === roomId) views.renderMessages();
  return outcome;
}
