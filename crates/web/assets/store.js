// The page's state: rooms, loaded messages, members, presence, typing, the outbox of messages
// not yet acknowledged, and the read state the server keeps (reads.js). The outbox is kept in
// localStorage per user, so a reload does not lose an unsent message.

export const state = {
  me: null,
  /** id -> room, for the rooms the user is in. */
  rooms: new Map(),
  current: null,
  /** What the chat area shows instead of the open room: null, "search" or "invite". */
  pane: null,
  /**
   * room id -> { bySeq: Map<seq, message>, hasMore (older on the server), hasNewer (newer on the
   * server: a window around an older message is shown), loaded, loading, gen (history.js) }
   */
  msgs: new Map(),
  /** room id -> Map<user id, member> */
  members: new Map(),
  /** user id -> "online" | "offline" */
  presence: new Map(),
  /** room id -> Map<user id, timeout handle> */
  typing: new Map(),
  /** user id -> user, from anything seen */
  users: new Map(),
  /** [{ cmid, room_id, body, created_at, status: "pending" | "failed", error }] */
  outbox: [],
  /**
   * room id -> the user's read state in it, as the server keeps it (reads.js): { mark, sent,
   * base: { seq, unread, mentions }, live: Map<seq, { mention }> }
   */
  reads: new Map(),
  /** room id -> Map<user id, last read seq>: read receipts of those who share them (reads.js) */
  receipts: new Map(),
  /** room id -> the newest `event_seq` seen: where a `sync` resumes (since_events) */
  eventSeq: new Map(),
  online: false,
};

function key(name) {
  return `huddle.${name}.${state.me ? state.me.id : "anon"}`;
}

export function loadLocal() {
  try {
    state.outbox = JSON.parse(localStorage.getItem(key("outbox")) || "[]")
      .filter((m) => m && m.cmid && m.room_id)
      .map((m) => ({ ...m, sending: false }));
  } catch {
    state.outbox = [];
  }
  // Read marks live on the server now; forget what older versions of the page kept here.
  localStorage.removeItem(key("read"));
}

export function saveOutbox() {
  const items = state.outbox.map(({ sending, ...rest }) => rest);
  localStorage.setItem(key("outbox"), JSON.stringify(items));
}

export function reset() {
  for (const m of state.typing.values()) for (const t of m.values()) clearTimeout(t);
  state.me = null;
  state.rooms.clear();
  state.current = null;
  state.pane = null;
  state.msgs.clear();
  state.members.clear();
  state.presence.clear();
  state.typing.clear();
  state.users.clear();
  state.outbox = [];
  state.reads.clear();
  state.receipts.clear();
  state.eventSeq.clear();
  state.online = false;
}

export function rememberUser(user) {
  if (user && user.id !== undefined) state.users.set(user.id, user);
}

export function roomMsgs(roomId) {
  let m = state.msgs.get(roomId);
  if (!m) {
    m = { bySeq: new Map(), hasMore: true, hasNewer: false, loaded: false, loading: false, gen: 0 };
    state.msgs.set(roomId, m);
  }
  return m;
}

/** The highest seq known for a room (for `sync`). */
export function knownSeq(roomId) {
  const room = state.rooms.get(roomId);
  let seq = room ? room.last_seq || 0 : 0;
  const m = state.msgs.get(roomId);
  if (m) for (const s of m.bySeq.keys()) if (s > seq) seq = s;
  return seq;
}

/** The highest seq of the loaded messages of a room (0: none loaded). */
export function loadedSeq(roomId) {
  const m = state.msgs.get(roomId);
  let seq = 0;
  if (m) for (const s of m.bySeq.keys()) if (s > seq) seq = s;
  return seq;
}

export function addRoom(room) {
  const old = state.rooms.get(room.id);
  if (old) room = { ...room, last_seq: Math.max(room.last_seq || 0, old.last_seq || 0) };
  state.rooms.set(room.id, room);
  return room;
}

export function removeRoom(roomId) {
  state.rooms.delete(roomId);
  state.msgs.delete(roomId);
  state.members.delete(roomId);
  const t = state.typing.get(roomId);
  if (t) for (const h of t.values()) clearTimeout(h);
  state.typing.delete(roomId);
  state.reads.delete(roomId);
  state.receipts.delete(roomId);
  state.eventSeq.delete(roomId);
  const before = state.outbox.length;
  state.outbox = state.outbox.filter((m) => m.room_id !== roomId);
  if (state.outbox.length !== before) saveOutbox();
}

/**
 * The user's role in a room, as far as known ("member" until the members list says more). A
 * direct conversation's owner_id is whoever opened it, with no owner powers: there, everyone is a
 * member.
 */
export function myRole(roomId) {
  const room = state.rooms.get(roomId);
  if (!room || !state.me) return null;
  if (room.owner_id === state.me.id && room.kind !== "direct") return "owner";
  const m = state.members.get(roomId);
  const mine = m && m.get(state.me.id);
  return mine ? mine.role : "member";
}

export function canManage(roomId) {
  const r = myRole(roomId);
  return r === "owner" || r === "admin";
}
