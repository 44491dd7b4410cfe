// Huddle's web app: wires the session, the socket, the state and the views together.
import * as api from "./api.js";
import { $, h, avatar, displayName, randomId } from "./dom.js";
import { bindDms, isDirect, loadPeople, roomTitle } from "./dms.js";
import { attachmentSummary, bindFiles, clearFileError, hasStaged, isUploading, resetFiles, sendStaged } from "./files.js";
import { atLatest, bindHistory, loadLatest, loadOlder, nearBottom, onScroll, putMessage, revealMessage, scrollToBottom, showMessage } from "./history.js";
import { bindInvites, inviteCode, resetInvite, showInvite } from "./invites.js";
import { bindMentions, closeCompletion, notifyMention, onCompletionKey, renderNotifyToggle } from "./mentions.js";
import { bindPeople, resetPeople } from "./people.js";
import { applyEvent as applyReaction, bindReactions, resetReactions } from "./reactions.js";
import * as reads from "./reads.js";
import { bindReplies, cancelReply, isReplying, resetReplies, takeReply } from "./replies.js";
import { bindSearch, resetSearch } from "./search.js";
import { bindSessions, loadSessions, resetSessions } from "./sessions.js";
import { Socket } from "./socket.js";
import * as store from "./store.js";
import { state } from "./store.js";
import * as views from "./views.js";

const TYPING_SEND_EVERY = 2000;
const TYPING_SHOWN_FOR = 4000;

let socket = null;
let lastTypingSent = 0;
let typingTimer = null;
let authMode = "login";
/** Rooms this page is joining itself: no "you were added" notice for them. */
const joining = new Set();
/**
 * Rooms being fetched after our member.joined, with what arrived for them meanwhile: the latest
 * room.updated (`update`) and the last live message's seq (`lastSeq`: the answer may predate it).
 * Their unread counts come from the server once they are in (reads.js).
 */
const arriving = new Map();

// ---- start -------------------------------------------------------------------------------

function boot() {
  bindStatic();
  views.bind({ deleteMessage, editMessage, retry, discard, setRole, kick, join, openFromBrowse });
  bindPeople({ onAdded: memberAdded });
  bindHistory({ onError: handleRoomError, markRead: markReadIfVisible });
  reads.bindReads({
    send: (frame) => (socket && socket.ready ? socket.request(frame) : null),
    render: () => views.renderRoomList(),
  });
  reads.onReceipts(() => views.renderReadMarks());
  bindReactions({ react, update: (msg) => putMessage(msg), error: (e) => views.toast(describeAny(e), "error") });
  bindReplies({ reveal: (roomId, seq) => revealMessage(roomId, seq) });
  bindMentions();
  bindFiles({ delivered: (msg) => onMessageCreated(msg), changed: autosize });
  bindDms({
    onOpened: (room) => {
      views.renderRoomList();
      loadPeople(room.id, renderTitles);
      openRoom(room.id);
    },
  });
  bindSearch({
    show: () => showPane("search"),
    hide: () => showPane(null),
    open: (roomId, seq) => {
      if (state.rooms.has(roomId)) openRoom(roomId, seq);
      else views.toast("You are no longer in that room.", "error");
    },
  });
  bindInvites({
    show: () => showPane("invite"),
    hide: () => showPane(null),
    joining: (roomId) => {
      joining.add(roomId);
      setTimeout(() => joining.delete(roomId), 10000);
    },
    joined: (room) => {
      store.addRoom(room);
      views.renderRoomList();
      openRoom(room.id);
    },
    dismiss: () => {
      leaveInvitePath("#");
      showPane(null);
      routeFromHash();
    },
  });
  api.onSession((session, reason) => {
    if (!session) {
      stopChat();
      // "expired": the refresh was refused, because the login expired or was ended elsewhere
      // (another device's "Sign out", "Sign out everywhere").
      showAuth(reason === "expired" ? "You were signed out. Please sign in again." : "");
    } else if (reason === "login") {
      startChat();
    } else if (reason === "refresh" && socket) {
      socket.reauth(session.access_token);
    }
  });
  if (api.getSession()) startChat();
  else showAuth("");
}

// ---- sign in / register -----------------------------------------------------------------

function showAuth(message) {
  // Dialogs sit outside the main view: none stays open over the sign-in screen.
  for (const dlg of document.querySelectorAll("dialog[open]")) dlg.close();
  resetSessions();
  $("main-view").hidden = true;
  $("auth-view").hidden = false;
  $("offline-banner").hidden = true;
  // Whoever is shown this screen after a session (signed out, or ended elsewhere) has an
  // account: offer to sign in, not to create one.
  setAuthMode("login");
  $("auth-error").textContent = message || "";
  // Opened from an invite link: the invite waits until you are signed in.
  const invited = !!inviteCode();
  $("auth-note").hidden = !invited;
  $("auth-note").textContent = invited ? "Sign in or create an account to see your invite." : "";
  $("auth-username").focus();
}

function setAuthMode(mode) {
  authMode = mode;
  const reg = mode === "register";
  $("auth-title").textContent = reg ? "Create an account" : "Sign in";
  $("auth-submit").textContent = reg ? "Create account" : "Sign in";
  $("display-name-field").hidden = !reg;
  $("password-hint").hidden = !reg;
  $("auth-password").autocomplete = reg ? "new-password" : "current-password";
  $("auth-switch-text").textContent = reg ? "Already have an account?" : "New here?";
  $("auth-toggle").textContent = reg ? "Sign in" : "Create an account";
  $("auth-error").textContent = "";
}

async function submitAuth(e) {
  e.preventDefault();
  const username = $("auth-username").value.trim();
  const password = $("auth-password").value;
  const err = $("auth-error");
  err.textContent = "";
  if (!/^[a-zA-Z0-9_.-]{3,32}$/.test(username)) {
    err.textContent = "Usernames are 3-32 letters, digits, dots, dashes or underscores.";
    $("auth-username").focus();
    return;
  }
  if (password.length < 8 || password.length > 128) {
    err.textContent = "Passwords are 8-128 characters.";
    $("auth-password").focus();
    return;
  }
  const button = $("auth-submit");
  button.disabled = true;
  try {
    if (authMode === "register") await api.register(username, password, $("auth-display-name").value.trim());
    else await api.login(username, password);
    $("auth-password").value = "";
  } catch (ex) {
    err.textContent = api.describe(ex);
    if (ex.code === "username_taken" || ex.field === "username") $("auth-username").focus();
    else $("auth-password").focus();
  } finally {
    button.disabled = false;
  }
}

// ---- the chat screen --------------------------------------------------------------------

async function startChat() {
  const session = api.getSession();
  stopChat();
  state.me = session.user;
  store.rememberUser(state.me);
  store.loadLocal();
  $("auth-view").hidden = true;
  $("main-view").hidden = false;
  renderMe();
  views.renderRoomList();
  views.renderRoomHeader();
  const mine = new Socket({
    token: () => api.accessToken(),
    refresh: () => api.refresh(),
    onFrame,
    onState,
  });
  socket = mine;
  try {
    await loadRooms();
  } catch (e) {
    if (e.status === 401) return;
    views.toast(api.describe(e), "error");
  }
  // Signed out (or in again) meanwhile: that start owns the screen now.
  if (socket !== mine) return;
  socket.start();
  api
    .request("GET", "/users/me")
    .then((me) => {
      state.me = me;
      api.updateUser(me);
      renderMe();
    })
    .catch(() => {});
  const code = inviteCode();
  if (code) showInvite(code);
  else routeFromHash();
}

function stopChat() {
  if (socket) socket.stop();
  socket = null;
  store.reset();
  resetPeople();
  resetSearch();
  resetInvite();
  resetReactions();
  resetReplies();
  resetFiles();
  closeCompletion();
}

async function loadRooms() {
  const rooms = await api.listAll("/rooms?mine=true");
  const seen = new Set();
  for (const r of rooms) {
    store.addRoom(r);
    seen.add(r.id);
  }
  for (const id of Array.from(state.rooms.keys())) if (!seen.has(id)) store.removeRoom(id);
  reads.applyServer(rooms);
  views.renderRoomList();
  views.renderRoomHeader();
  // Direct conversations are titled by their people's display names.
  for (const room of state.rooms.values()) if (isDirect(room)) loadPeople(room.id, renderTitles);
}

/** After the people of a direct conversation became known: its title changed. */
function renderTitles() {
  views.renderRoomList();
  views.renderRoomHeader();
}

function renderMe() {
  const me = state.me;
  $("me-name").textContent = displayName(me);
  const a = avatar(me, "small");
  a.id = "me-avatar";
  $("me-avatar").replaceWith(a);
  $("profile-btn").setAttribute("aria-label", `Profile: ${displayName(me)}`);
}

function onState(connState, info) {
  state.online = connState === "online";
  views.renderConnection(connState, info);
  if (state.current && !$("members-panel").hidden) views.renderMembers();
}

// ---- routing: #/room/<id>, and /invite/<code> (invites.js) --------------------------------

function routeFromHash() {
  const m = /^#\/room\/(\d+)$/.exec(location.hash);
  const id = m ? Number(m[1]) : Number(localStorage.getItem(lastRoomKey())) || null;
  if (id && state.rooms.has(id)) openRoom(id);
  else {
    if (m) history.replaceState(null, "", "#");
    openRoom(null);
  }
}

function lastRoomKey() {
  return `huddle.lastRoom.${state.me ? state.me.id : ""}`;
}

/** Leaves an /invite/<code> address for the page's own, `/<hash>`. */
function leaveInvitePath(hash) {
  if (location.pathname !== "/") history.replaceState(null, "", `/${hash}`);
}

/** Shows a pane ("search", "invite") in place of the room, or (null) the room again. */
function showPane(pane) {
  if (pane !== "invite") resetInvite();
  state.pane = pane;
  closeDrawer();
  views.renderRoomHeader();
  if (!pane) markReadIfVisible();
}

/** Opens a room (null: none); with `focusSeq`, at that message (a search result). */
function openRoom(id, focusSeq) {
  const changed = state.current !== id;
  state.current = id;
  if (state.pane) resetInvite();
  state.pane = null;
  closeDrawer();
  if (id) {
    localStorage.setItem(lastRoomKey(), String(id));
    leaveInvitePath(`#/room/${id}`);
    if (location.hash !== `#/room/${id}`) history.replaceState(null, "", `#/room/${id}`);
  }
  views.renderRoomHeader();
  views.renderRoomList();
  if (!id) {
    $("members-panel").hidden = true;
    return;
  }
  if (changed) {
    resetPeople();
    resetReactions();
    cancelReply();
    closeCompletion();
    reads.opened(id);
    views.renderMessages();
    views.renderTyping();
    $("jump-latest").hidden = true;
    const m = store.roomMsgs(id);
    if (focusSeq) showMessage(id, focusSeq);
    else if (!m.loaded) loadLatest(id);
    else scrollToBottom();
    loadMembers(id);
    if (!$("members-panel").hidden) views.renderMembers();
    if (window.matchMedia("(min-width: 761px)").matches) $("composer-input").focus();
  } else if (id && focusSeq) {
    showMessage(id, focusSeq);
  }
  markReadIfVisible();
}

function handleRoomError(roomId, e) {
  if (e.status === 404 || e.status === 403) {
    store.removeRoom(roomId);
    if (state.current === roomId) openRoom(null);
    views.renderRoomList();
  }
  views.toast(api.describe(e), "error");
}

async function loadMembers(roomId) {
  const roleBefore = store.myRole(roomId);
  try {
    const items = await api.listAll(`/rooms/${roomId}/members`, 2000);
    const map = new Map();
    for (const member of items) {
      map.set(member.user.id, member);
      store.rememberUser(member.user);
      // Who is connected now; `presence` events keep it current from here on.
      if (typeof member.online === "boolean") {
        state.presence.set(member.user.id, member.online ? "online" : "offline");
      }
    }
    state.members.set(roomId, map);
    const room = state.rooms.get(roomId);
    if (room) room.member_count = Math.max(items.length, 0);
    if (isDirect(room)) views.renderRoomList();
  } catch (e) {
    if (e.status === 403 || e.status === 404) return handleRoomError(roomId, e);
    return;
  }
  if (state.current === roomId) {
    views.renderRoomHeader();
    views.renderMembers();
    // Roles decide which message actions show.
    if (store.myRole(roomId) !== roleBefore) views.renderMessages();
  }
}

// ---- reading ----------------------------------------------------------------------------------

/** Whether the open room's newest messages are on screen: the tab visible, scrolled down. */
function watching() {
  if (!state.current || state.pane || document.visibilityState !== "visible") return false;
  // Below a window around an older message, the newest are not on screen yet.
  return nearBottom() && atLatest();
}

/** Moves the read mark to the newest message shown, when the open room is seen to its end. */
function markReadIfVisible() {
  if (!watching()) return;
  const m = state.msgs.get(state.current);
  if (!m || !m.loaded) return;
  const changed = reads.markRead(state.current, store.loadedSeq(state.current));
  reads.followMark(state.current, $("messages"));
  if (changed) views.renderRoomList();
}

// ---- socket frames ----------------------------------------------------------------------

function onFrame(f) {
  noteEventSeq(f);
  switch (f.type) {
    case "ready":
      return onReady(f);
    case "message.created":
      return onMessageCreated(f.message);
    case "message.updated":
      return onMessageChanged(f.message);
    case "message.deleted":
      return onMessageDeleted(f.room_id, f.seq);
    case "member.joined":
      return onMemberJoined(f.room_id, f.member);
    case "member.left":
      return onMemberLeft(f.room_id, f.user_id);
    case "room.updated":
      return onRoomUpdated(f.room);
    case "room.deleted":
      return onRoomGone(f.room_id, "was deleted");
    case "presence":
      state.presence.set(f.user_id, f.status);
      if (!$("members-panel").hidden) views.renderMembers();
      return;
    case "typing":
      return onTyping(f.room_id, f.user_id);
    case "reaction.added":
    case "reaction.removed":
      return applyReaction(f);
    case "read.updated":
      return onReadUpdated(f);
    case "mention":
      return onMention(f);
    case "sync.reset":
      return onSyncReset(f.room_id);
    default:
      return;
  }
}

async function onReady(f) {
  // How many times this page has (re)connected: shown to tests and debuggers.
  document.body.dataset.connections = String(Number(document.body.dataset.connections || 0) + 1);
  if (f.user) {
    state.me = f.user;
    renderMe();
  }
  const reconnect = document.body.dataset.connections !== "1";
  // Rooms joined or left while away.
  const ready = new Map(f.rooms.map((r) => [r.room_id, r.last_seq]));
  // Where `ready` says how far each room was read, that is the count to start from.
  const withReads = f.rooms.some((r) => typeof r.last_read_seq === "number");
  if (withReads) reads.applyServer(f.rooms);
  // Rooms whose log position we know resume from it (every event: edits, deletes, reactions,
  // members); others from their last message. From here on, each room's events come live or
  // in this sync, so the position in `ready` is where we stand at the least.
  const since = {};
  const sinceEvents = {};
  readyEventSeq.clear();
  for (const r of f.rooms) {
    const id = r.room_id;
    const known = state.rooms.has(id);
    const at = state.eventSeq.get(id);
    if (known && at !== undefined) sinceEvents[id] = at;
    else since[id] = known ? store.knownSeq(id) : r.last_seq;
    if (typeof r.last_event_seq === "number") {
      readyEventSeq.set(id, r.last_event_seq);
      if (at === undefined) state.eventSeq.set(id, r.last_event_seq);
    }
  }
  const frame = { type: "sync", since };
  if (Object.keys(sinceEvents).length) frame.since_events = sinceEvents;
  // First `sync` straight away: the server holds live messages until it arrives.
  socket
    .request(frame)
    .then(() => {
      // Read marks moved elsewhere while away are not replayed: ask for the counts again.
      if (reconnect && !withReads) reads.refresh();
      views.renderRoomList();
      markReadIfVisible();
    })
    .catch(() => {});
  flushOutbox();
  const unknown = Array.from(ready.keys()).filter((id) => !state.rooms.has(id));
  const gone = Array.from(state.rooms.keys()).filter((id) => !ready.has(id));
  if (unknown.length || gone.length) {
    try {
      await loadRooms();
    } catch {
      // Next reconnect tries again.
    }
    if (state.current && !state.rooms.has(state.current)) openRoom(null);
  }
  if (state.current) {
    // Roles may have changed meanwhile.
    loadMembers(state.current);
  }
}

/** Each room's log position as of the last `ready`, for a room that must start over. */
const readyEventSeq = new Map();

/** Keeps the newest `event_seq` seen per room: where a later `sync` resumes. */
function noteEventSeq(f) {
  if (typeof f.event_seq !== "number") return;
  const roomId = f.room_id !== undefined ? f.room_id : f.room && f.room.id;
  if (roomId === undefined) return;
  if (!(state.eventSeq.get(roomId) >= f.event_seq)) state.eventSeq.set(roomId, f.event_seq);
}

/** The room's log no longer reaches back to where we were: its history is loaded afresh. */
function onSyncReset(roomId) {
  if (!state.rooms.has(roomId)) return;
  const at = readyEventSeq.get(roomId);
  if (at !== undefined) state.eventSeq.set(roomId, Math.max(state.eventSeq.get(roomId) || 0, at));
  state.msgs.delete(roomId);
  reads.refresh();
  if (state.current === roomId) {
    views.renderMessages();
    loadLatest(roomId);
    loadMembers(roomId);
  }
}

function onMessageCreated(msg) {
  const room = state.rooms.get(msg.room_id);
  if (!room) {
    const meanwhile = arriving.get(msg.room_id);
    if (meanwhile) meanwhile.lastSeq = Math.max(meanwhile.lastSeq, msg.seq);
    return;
  }
  const atBottom = msg.room_id === state.current && nearBottom();
  // Seen as it arrives: no "New messages" line starts above it.
  if (msg.room_id === state.current && watching()) reads.seenLive(msg.room_id, msg.seq, $("messages"));
  reads.noteMessage(msg);
  const mine = state.me && msg.author.id === state.me.id;
  if (mine && msg.client_msg_id) dropFromOutbox(msg.client_msg_id);
  state.presence.set(msg.author.id, "online");
  const t = state.typing.get(msg.room_id);
  if (t && t.has(msg.author.id)) {
    clearTimeout(t.get(msg.author.id));
    t.delete(msg.author.id);
    if (msg.room_id === state.current) views.renderTyping();
  }
  putMessage(msg, true);
  if (msg.room_id === state.current) {
    // Below a window around an older message the new one is not shown: "Jump" leads to it.
    if (!atLatest()) $("jump-latest").hidden = false;
    else if (atBottom || mine) scrollToBottom();
    else $("jump-latest").hidden = false;
    if (!mine && !msg.deleted) views.announce(`${displayName(msg.author)}: ${[msg.body, attachmentSummary(msg)].filter(Boolean).join(" ")}`);
  }
  markReadIfVisible();
  views.renderRoomList();
}

function onMessageChanged(msg) {
  const m = state.msgs.get(msg.room_id);
  const old = m && m.bySeq.get(msg.seq);
  if (!old) return;
  // An edit's event carries no reactions (nor `me`): the ones shown stay. Files are never
  // taken from a message that stays, so those shown stay too.
  const reactions = Array.isArray(msg.reactions) && msg.reactions.length ? msg.reactions : old.reactions;
  const attachments = Array.isArray(msg.attachments) && msg.attachments.length ? msg.attachments : old.attachments;
  putMessage({ ...msg, reactions: msg.deleted ? [] : reactions, attachments: msg.deleted ? [] : attachments || [] });
}

function onMessageDeleted(roomId, seq) {
  reads.noteDeleted(roomId, seq);
  const m = state.msgs.get(roomId);
  const msg = m && m.bySeq.get(seq);
  if (msg) putMessage({ ...msg, body: "", deleted: true, reactions: [], attachments: [] });
  // Replies to it quote a deleted message now.
  if (m) {
    for (const other of Array.from(m.bySeq.values())) {
      const r = other.reply_to;
      if (r && r.seq === seq && !r.deleted) putMessage({ ...other, reply_to: { ...r, body_preview: "", deleted: true } });
    }
  }
  views.renderRoomList();
}

/** Your read mark moved (here, in another tab or on another device), or someone's receipt. */
function onReadUpdated(f) {
  const mine = reads.onReadUpdated(f);
  if (mine) views.renderRoomList();
  if (f.room_id === state.current) views.renderReadMarks();
}

/** Someone mentioned you: the room's "@" badge, and a notification while the tab is hidden. */
function onMention(f) {
  const room = state.rooms.get(f.room_id);
  if (!room || !f.message) return;
  reads.noteMention(f.room_id, f.message);
  views.renderRoomList();
  notifyMention(roomTitle(room), f.message, () => {
    if (state.rooms.has(f.room_id)) openRoom(f.room_id, f.message.seq);
  });
}

/** Sends a reaction (the `react` frame, or REST when offline); rejects when refused. */
async function react(msg, emoji, on) {
  if (socket && socket.ready) {
    await socket.request({ type: "react", room_id: msg.room_id, message_id: msg.id, emoji, on });
    return;
  }
  const path = `/rooms/${msg.room_id}/messages/${msg.id}/reactions/${encodeURIComponent(emoji)}`;
  await api.request(on ? "PUT" : "DELETE", path);
}

/** An API error or a socket `error` frame, in plain words. */
function describeAny(e) {
  if (e && e.type === "error") {
    if (e.code === "disconnected" || e.code === "timeout") return "Not connected. Please try again.";
    return e.message ? e.message.charAt(0).toUpperCase() + e.message.slice(1) : "Something went wrong.";
  }
  return api.describe(e);
}

async function onMemberJoined(roomId, member) {
  store.rememberUser(member.user);
  state.presence.set(member.user.id, "online");
  if (state.me && member.user.id === state.me.id) {
    if (!state.rooms.has(roomId) && !arriving.has(roomId)) {
      const meanwhile = { update: null, lastSeq: 0 };
      arriving.set(roomId, meanwhile);
      try {
        let fetched = await api.request("GET", `/rooms/${roomId}`);
        const late = meanwhile.update;
        if (late && new Date(late.updated_at) > new Date(fetched.updated_at)) fetched = { ...late, last_seq: Math.max(late.last_seq || 0, fetched.last_seq || 0) };
        fetched = { ...fetched, last_seq: Math.max(fetched.last_seq || 0, meanwhile.lastSeq) };
        const room = store.addRoom(fetched);
        // What is unread in it (messages before we came in, or meanwhile) the server says.
        reads.refresh();
        views.renderRoomList();
        // Not for a room of one's own: the owner's membership can arrive before the answer
        // to creating it (a direct conversation's "owner" is whoever opened it).
        const news = !joining.has(roomId) && room.owner_id !== member.user.id;
        if (isDirect(room)) {
          loadPeople(roomId, () => {
            renderTitles();
            if (news && state.rooms.has(roomId)) views.toast(`New conversation with ${roomTitle(room)}.`);
          });
        } else if (news) {
          views.toast(`You were added to ${room.name}.`);
        }
      } catch {
        // Not visible after all.
      } finally {
        arriving.delete(roomId);
      }
    }
    return;
  }
  const room = state.rooms.get(roomId);
  const members = state.members.get(roomId);
  if (members && !members.has(member.user.id)) {
    members.set(member.user.id, member);
    if (room) room.member_count = members.size;
  } else if (!members && room) {
    room.member_count += 1;
  }
  if (isDirect(room)) views.renderRoomList();
  if (roomId === state.current) {
    views.renderRoomHeader();
    views.renderMembers();
  }
}

function onMemberLeft(roomId, userId) {
  if (state.me && userId === state.me.id) return onRoomGone(roomId, "is no longer in your rooms");
  const room = state.rooms.get(roomId);
  const members = state.members.get(roomId);
  if (members && members.delete(userId) && room) room.member_count = members.size;
  else if (!members && room) room.member_count = Math.max(1, room.member_count - 1);
  if (isDirect(room)) views.renderRoomList();
  if (roomId === state.current) {
    views.renderRoomHeader();
    views.renderMembers();
  }
}

function onRoomUpdated(room) {
  if (!state.rooms.has(room.id)) {
    const meanwhile = arriving.get(room.id);
    if (meanwhile) meanwhile.update = room;
    return;
  }
  store.addRoom(room);
  views.renderRoomList();
  if (room.id === state.current) views.renderRoomHeader();
}

function onRoomGone(roomId, why) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  const title = roomTitle(room);
  store.removeRoom(roomId);
  views.toast(`${isDirect(room) ? `The conversation with ${title}` : title} ${why}.`);
  if (state.current === roomId) {
    history.replaceState(null, "", "#");
    openRoom(null);
  }
  views.renderRoomList();
}

function onTyping(roomId, userId) {
  if (state.me && userId === state.me.id) return;
  state.presence.set(userId, "online");
  let t = state.typing.get(roomId);
  if (!t) {
    t = new Map();
    state.typing.set(roomId, t);
  }
  clearTimeout(t.get(userId));
  t.set(
    userId,
    setTimeout(() => {
      t.delete(userId);
      if (roomId === state.current) views.renderTyping();
    }, TYPING_SHOWN_FOR),
  );
  if (!state.users.has(userId)) {
    api
      .request("GET", `/users/${userId}`)
      .then((u) => {
        store.rememberUser(u);
        if (roomId === state.current) views.renderTyping();
      })
      .catch(() => {});
  }
  if (roomId === state.current) views.renderTyping();
}

// ---- sending ----------------------------------------------------------------------------

function submitComposer(e) {
  e.preventDefault();
  if (isUploading()) return;
  if (hasStaged()) {
    // A file, with the text as its caption (files.js).
    if (!state.current) return;
    if (!atLatest()) loadLatest(state.current);
    sendStaged();
    return;
  }
  const input = $("composer-input");
  const body = input.value.trim();
  if (!body || !state.current) return;
  clearFileError();
  if (body.length > 4000) {
    views.toast("Messages are at most 4000 characters.", "error");
    return;
  }
  const item = { cmid: randomId(), room_id: state.current, body, created_at: new Date().toISOString(), status: "pending" };
  const reply = takeReply(state.current);
  if (reply) item.reply = reply;
  // Writing below a window around an older message: back to the newest first.
  if (!atLatest()) loadLatest(state.current);
  state.outbox.push(item);
  store.saveOutbox();
  input.value = "";
  // The next message's typing notice may go soon, but not within the server's 500 ms limit.
  lastTypingSent = Date.now() - TYPING_SEND_EVERY + 700;
  clearTimeout(typingTimer);
  typingTimer = null;
  autosize();
  views.renderPending();
  scrollToBottom();
  sendItem(item);
}

/** Sends (or resends, with the same client_msg_id) one outbox item over the socket. */
function sendItem(item) {
  if (!socket || !socket.ready || item.sending) return;
  item.sending = true;
  socket
    .request(sendFrame(item))
    .then((reply) => {
      item.sending = false;
      dropFromOutbox(item.cmid);
      if (reply.message) onMessageCreated(reply.message);
    })
    .catch((err) => {
      item.sending = false;
      const code = err && err.code;
      if (code === "disconnected" || code === "timeout") return; // resent after the next `ready`
      if (code === "rate_limited" || code === "unavailable" || code === "internal") {
        setTimeout(() => sendItem(item), 1500);
        return;
      }
      item.status = "failed";
      item.error = (err && err.message) || "error";
      store.saveOutbox();
      views.renderPending();
    });
}

/** The `send` frame of an outbox item; `reply_to` only when it answers a message. */
function sendFrame(item) {
  const frame = { type: "send", room_id: item.room_id, body: item.body, client_msg_id: item.cmid };
  if (item.reply && item.reply.id) frame.reply_to = item.reply.id;
  return frame;
}

function flushOutbox() {
  for (const item of state.outbox) if (item.status === "pending") sendItem(item);
}

function dropFromOutbox(cmid) {
  const before = state.outbox.length;
  state.outbox = state.outbox.filter((o) => o.cmid !== cmid);
  if (state.outbox.length !== before) {
    store.saveOutbox();
    views.renderPending();
  }
}

function retry(cmid) {
  const item = state.outbox.find((o) => o.cmid === cmid);
  if (!item) return;
  item.status = "pending";
  store.saveOutbox();
  views.renderPending();
  sendItem(item);
}

function discard(cmid) {
  dropFromOutbox(cmid);
}

function onComposerKey(e) {
  if (onCompletionKey(e)) return;
  if (e.key === "Escape" && isReplying()) {
    e.preventDefault();
    e.stopPropagation();
    cancelReply();
    return;
  }
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
}

/** Typing notices: at most one per TYPING_SEND_EVERY, and a late one rather than none. */
function onComposerInput() {
  autosize();
  if (!state.current || !socket || !$("composer-input").value.trim()) return;
  const wait = lastTypingSent + TYPING_SEND_EVERY - Date.now();
  if (wait <= 0) sendTyping();
  else if (!typingTimer) {
    typingTimer = setTimeout(() => {
      typingTimer = null;
      if ($("composer-input").value.trim()) sendTyping();
    }, wait);
  }
}

function sendTyping() {
  lastTypingSent = Date.now();
  if (socket && state.current) socket.notify({ type: "typing", room_id: state.current });
}

function autosize() {
  const t = $("composer-input");
  t.style.height = "auto";
  t.style.height = `${Math.min(t.scrollHeight, 160)}px`;
}

// ---- message edit / delete -----------------------------------------------------------------

async function editMessage(msg, body) {
  try {
    const updated = await api.request("PATCH", `/rooms/${msg.room_id}/messages/${msg.id}`, { body });
    const m = state.msgs.get(msg.room_id);
    if (m) m.bySeq.set(updated.seq, updated);
    return true;
  } catch (e) {
    views.toast(api.describe(e), "error");
    return false;
  }
}

async function deleteMessage(msg) {
  const ok = await views.confirmDialog("Delete message?", "Everyone in the room will see that it was deleted.", "Delete");
  if (!ok) return;
  try {
    await api.request("DELETE", `/rooms/${msg.room_id}/messages/${msg.id}`);
    onMessageDeleted(msg.room_id, msg.seq);
  } catch (e) {
    views.toast(api.describe(e), "error");
  }
}

// ---- rooms ------------------------------------------------------------------------------

let editingRoom = null;

function openRoomDialog(room) {
  editingRoom = room || null;
  $("room-dialog-title").textContent = room ? "Edit room" : "New room";
  $("room-save").textContent = room ? "Save" : "Create";
  $("room-name").value = room ? room.name : "";
  $("room-description").value = room ? room.description : "";
  $("room-private").checked = room ? room.is_private : false;
  $("room-error").textContent = "";
  $("room-dialog").showModal();
  $("room-name").focus();
}

async function submitRoom(e) {
  e.preventDefault();
  const name = $("room-name").value.trim();
  if (!name) {
    $("room-error").textContent = "Please give the room a name.";
    $("room-name").focus();
    return;
  }
  const body = { name, description: $("room-description").value.trim(), is_private: $("room-private").checked };
  $("room-save").disabled = true;
  try {
    if (editingRoom) {
      const room = await api.request("PATCH", `/rooms/${editingRoom.id}`, body);
      onRoomUpdated(room);
    } else {
      const room = store.addRoom(await api.request("POST", "/rooms", body));
      views.renderRoomList();
      // The server announces the owner's membership (member.joined) on every open socket of
      // ours, which from then on receives the room's live events.
      openRoom(room.id);
    }
    $("room-dialog").close();
  } catch (ex) {
    $("room-error").textContent = api.describe(ex);
  } finally {
    $("room-save").disabled = false;
  }
}

async function deleteRoom() {
  const room = state.rooms.get(state.current);
  if (!room) return;
  const ok = await views.confirmDialog(`Delete ${room.name}?`, "The room and all of its messages will be gone for everyone.", "Delete room");
  if (!ok) return;
  try {
    await api.request("DELETE", `/rooms/${room.id}`);
    onRoomGone(room.id, "was deleted");
  } catch (e) {
    views.toast(api.describe(e), "error");
  }
}

async function leaveRoom() {
  const room = state.rooms.get(state.current);
  if (!room) return;
  const why = isDirect(room)
    ? "It comes back when someone in it opens it again."
    : room.is_private
      ? "You will need to be added again to come back."
      : "You can join again from the public rooms.";
  const ok = await views.confirmDialog(isDirect(room) ? `Leave the conversation with ${roomTitle(room)}?` : `Leave ${room.name}?`, why, "Leave");
  if (!ok) return;
  try {
    await api.request("POST", `/rooms/${room.id}/leave`, {});
    onRoomGone(room.id, "is no longer in your rooms");
  } catch (e) {
    views.toast(api.describe(e), "error");
  }
}

async function join(room, button) {
  if (button) button.disabled = true;
  joining.add(room.id);
  setTimeout(() => joining.delete(room.id), 10000);
  try {
    await api.request("POST", `/rooms/${room.id}/join`, {});
    const fresh = await api.request("GET", `/rooms/${room.id}`);
    store.addRoom(fresh);
    views.renderRoomList();
    $("browse-dialog").close();
    openRoom(fresh.id);
  } catch (e) {
    views.toast(api.describe(e), "error");
    if (button) button.disabled = false;
  }
}

function openFromBrowse(id) {
  $("browse-dialog").close();
  openRoom(id);
}

// ---- browse -----------------------------------------------------------------------------

let browseCursor = null;
let browseSeq = 0;

async function browse(append = false) {
  const q = $("room-search").value.trim();
  const mySeq = ++browseSeq;
  const params = new URLSearchParams({ limit: "30" });
  if (q) params.set("q", q);
  if (append && browseCursor) params.set("cursor", browseCursor);
  try {
    const page = await api.request("GET", `/rooms?${params}`);
    if (mySeq !== browseSeq) return;
    browseCursor = page.next_cursor;
    views.renderBrowse(page.items, append);
    $("browse-more").hidden = !browseCursor;
  } catch (e) {
    views.toast(api.describe(e), "error");
  }
}

let searchTimer = null;

// ---- members ----------------------------------------------------------------------------

function toggleMembers(open) {
  const panel = $("members-panel");
  const show = open === undefined ? panel.hidden : open;
  panel.hidden = !show;
  $("members-btn").setAttribute("aria-expanded", String(show));
  document.body.classList.toggle("members-open", show);
  if (show) {
    views.renderMembers();
    if (state.current) loadMembers(state.current);
    $("members-close").focus();
  }
}

/** After people.js added someone (the live member.joined that follows changes nothing more). */
function memberAdded(roomId, member) {
  onMemberJoined(roomId, member);
  views.toast(`${displayName(member.user)} was added.`);
}

async function setRole(roomId, member, role) {
  try {
    const updated = await api.request("PATCH", `/rooms/${roomId}/members/${member.user.id}`, { role });
    const members = state.members.get(roomId);
    if (members) members.set(updated.user.id, updated);
    views.renderMembers();
    views.toast(role === "admin" ? `${displayName(member.user)} is now an admin.` : `${displayName(member.user)} is now a member.`);
  } catch (e) {
    views.toast(api.describe(e), "error");
  }
}

async function kick(roomId, member) {
  const ok = await views.confirmDialog(`Remove ${displayName(member.user)}?`, "They will no longer see this room's messages.", "Remove");
  if (!ok) return;
  try {
    await api.request("DELETE", `/rooms/${roomId}/members/${member.user.id}`);
    onMemberLeft(roomId, member.user.id);
  } catch (e) {
    views.toast(api.describe(e), "error");
  }
}

// ---- profile ----------------------------------------------------------------------------

function openProfile() {
  const me = state.me;
  $("profile-username").textContent = `@${me.username}`;
  $("profile-id").textContent = String(me.id);
  $("profile-display-name").value = me.display_name || "";
  $("profile-bio").value = me.bio || "";
  $("profile-receipts").checked = me.share_read_receipts !== false;
  $("profile-receipts").dataset.touched = "";
  $("profile-error").textContent = "";
  renderNotifyToggle();
  $("profile-dialog").showModal();
  $("profile-display-name").focus();
  loadSessions();
  // Whether read receipts are shared is only in one's own profile: read it fresh.
  api
    .request("GET", "/users/me")
    .then((fresh) => {
      state.me = { ...state.me, share_read_receipts: fresh.share_read_receipts };
      const box = $("profile-receipts");
      if (typeof fresh.share_read_receipts === "boolean" && !box.dataset.touched) box.checked = fresh.share_read_receipts;
    })
    .catch(() => {});
}

async function saveProfile(e) {
  e.preventDefault();
  const display_name = $("profile-display-name").value.trim();
  if (!display_name) {
    $("profile-error").textContent = "Please enter a display name.";
    return;
  }
  $("profile-save").disabled = true;
  try {
    const me = await api.request("PATCH", "/users/me", { display_name, bio: $("profile-bio").value, share_read_receipts: $("profile-receipts").checked });
    state.me = me;
    store.rememberUser(me);
    api.updateUser(me);
    renderMe();
    $("profile-dialog").close();
    views.toast("Profile saved.");
  } catch (ex) {
    $("profile-error").textContent = api.describe(ex);
  } finally {
    $("profile-save").disabled = false;
  }
}

// ---- phone drawer -----------------------------------------------------------------------

function openDrawer() {
  document.body.classList.add("drawer-open");
  $("scrim").hidden = false;
  $("menu-btn").setAttribute("aria-expanded", "true");
  const first = $("sidebar").querySelector("a, button");
  if (first) first.focus();
}

function closeDrawer() {
  if (!document.body.classList.contains("drawer-open")) return;
  document.body.classList.remove("drawer-open");
  $("scrim").hidden = true;
  $("menu-btn").setAttribute("aria-expanded", "false");
}

// ---- static bindings ----------------------------------------------------------------------

function bindStatic() {
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-toggle").addEventListener("click", () => {
    setAuthMode(authMode === "login" ? "register" : "login");
    $("auth-username").focus();
  });
  $("logout-btn").addEventListener("click", () => api.logout());
  $("profile-btn").addEventListener("click", openProfile);
  $("profile-form").addEventListener("submit", saveProfile);
  $("profile-receipts").addEventListener("change", (e) => {
    e.currentTarget.dataset.touched = "1";
  });
  bindSessions();
  $("new-room-btn").addEventListener("click", () => openRoomDialog(null));
  $("room-form").addEventListener("submit", submitRoom);
  $("room-settings-btn").addEventListener("click", () => openRoomDialog(state.rooms.get(state.current)));
  $("delete-room-btn").addEventListener("click", deleteRoom);
  $("leave-room-btn").addEventListener("click", leaveRoom);
  $("members-btn").addEventListener("click", () => toggleMembers());
  $("members-close").addEventListener("click", () => {
    toggleMembers(false);
    $("members-btn").focus();
  });
  $("browse-btn").addEventListener("click", () => {
    closeDrawer();
    $("room-search").value = "";
    $("browse-dialog").showModal();
    $("room-search").focus();
    browse(false);
  });
  $("room-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => browse(false), 250);
  });
  $("browse-more").addEventListener("click", () => browse(true));
  $("composer").addEventListener("submit", submitComposer);
  $("composer-input").addEventListener("keydown", onComposerKey);
  $("composer-input").addEventListener("input", onComposerInput);
  $("load-older").addEventListener("click", loadOlder);
  $("jump-latest").addEventListener("click", () => {
    if (!atLatest()) {
      loadLatest(state.current);
      return;
    }
    scrollToBottom();
    markReadIfVisible();
  });
  $("message-scroll").addEventListener("scroll", () => {
    onScroll();
    if (nearBottom() && atLatest()) {
      $("jump-latest").hidden = true;
      markReadIfVisible();
    }
  });
  // Tapping a message selects it (its actions show on touch screens).
  $("messages").addEventListener("click", (e) => {
    const li = e.target.closest("li.msg");
    if (!li || e.target.closest("a, button, textarea, form")) return;
    const was = li.classList.contains("selected");
    for (const el of document.querySelectorAll("#messages li.selected")) el.classList.remove("selected");
    if (!was) li.classList.add("selected");
  });
  $("reconnect-now").addEventListener("click", () => socket && socket.reconnectNow());
  $("menu-btn").addEventListener("click", openDrawer);
  $("scrim").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && document.body.classList.contains("drawer-open")) closeDrawer();
    else if (e.key === "Escape" && !$("members-panel").hidden && !document.querySelector("dialog[open]")) toggleMembers(false);
  });
  for (const btn of document.querySelectorAll("dialog [data-close]")) {
    btn.addEventListener("click", () => btn.closest("dialog").close());
  }
  $("sidebar").addEventListener("click", (e) => {
    const link = e.target.closest("a.room-link");
    if (!link) return;
    e.preventDefault();
    openRoom(Number(link.dataset.roomId));
  });
  window.addEventListener("hashchange", () => {
    if (state.me) routeFromHash();
  });
  document.addEventListener("visibilitychange", () => {
    markReadIfVisible();
    views.renderRoomList();
  });
  window.addEventListener("focus", markReadIfVisible);
}

boot();
