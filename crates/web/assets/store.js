// The page's state: rooms, loaded messages, members, presence, typing, the outbox of messages
// not yet acknowledged, and what was read. The outbox and read marks are kept in localStorage
// per user, so a reload neither loses an unsent message nor the unread counts.

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
  /** room id -> the highest seq the user has seen */
  lastRead: {},
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
  try {
    state.lastRead = JSON.parse(localStorage.getItem(key("read")) || "{}") || {};
  } catch {
    state.lastRead = {};
  }
}

export function saveOutbox() {
  const items = state.outbox.map(({ sending, ...rest }) => rest);
  localStorage.setItem(key("outbox"), JSON.stringify(items));
}

export function saveRead() {
  localStorage.setItem(key("read"), JSON.stringify(state.lastRead));
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
  state.lastRead = {};
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

export function unread(roomId) {
  const room = state.rooms.get(roomId);
  if (!room) return 0;
  const read = state.lastRead[roomId];
  if (read === undefined) return 0;
  return Math.max(0, (room.last_seq || 0) - read);
}

export function markRead(roomId) {
  const room = state.rooms.get(roomId);
  if (!room) return false;
  const seq = knownSeq(roomId);
  if (state.lastRead[roomId] === seq) return false;
  state.lastRead[roomId] = seq;
  saveRead();
  return true;
}

/** A room seen for the first time starts with nothing unread. */
export function addRoom(room) {
  const old = state.rooms.get(room.id);
  if (old) room = { ...room, last_seq: Math.max(room.last_seq || 0, old.last_seq || 0) };
  state.rooms.set(room.id, room);
  if (state.lastRead[room.id] === undefined) {
    state.lastRead[room.id] = room.last_seq || 0;
    saveRead();
  }
  return room;
}

export function removeRoom(roomId) {
  state.rooms.delete(roomId);
  state.msgs.delete(roomId);
  state.members.delete(roomId);
  const t = state.typing.get(roomId);
  if (t) for (const h of t.values()) clearTimeout(h);
  state.typing.delete(roomId);
  delete state.lastRead[roomId];
  saveRead();
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
