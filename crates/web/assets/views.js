// Rendering: the room list, the message view, members, typing, the browse list, toasts.
// Everything user-written goes in through h()/textContent (see dom.js).
import { $, h, clear, avatar, displayName, clockTime, fullTime, roomMark } from "./dom.js";
import { atEachMidnight, dayKey, placeDaySeparators } from "./days.js";
import { directMark, isDirect, roomTitle } from "./dms.js";
import { attachmentsEl } from "./files.js";
import { linkify } from "./links.js";
import { highlightMentions, mentionsMe } from "./mentions.js";
import { addButton, reactionsEl } from "./reactions.js";
import { mentionCount, placeNewLine, placeSeenBy, unreadCount } from "./reads.js";
import { quoteEl, startReply } from "./replies.js";
import { state, myRole, canManage } from "./store.js";

let actions = {};

/** The app's handlers for buttons rendered here. */
export function bind(a) {
  actions = a;
  // "Today" becomes "Yesterday" at midnight even when no message arrives.
  atEachMidnight(() => placeDaySeparators($("messages")));
}

const GROUP_WINDOW_MS = 5 * 60 * 1000;

// ---- room list ---------------------------------------------------------------------------

function byTitle(rooms) {
  return rooms
    .map((room) => ({ room, title: roomTitle(room) }))
    .sort((a, b) => a.title.localeCompare(b.title, undefined, { sensitivity: "base" }));
}

function roomItem(room, title) {
  const viewed = room.id === state.current && !state.pane && document.visibilityState === "visible";
  const count = viewed ? 0 : unreadCount(room.id);
  const mentions = viewed ? 0 : mentionCount(room.id);
  const current = room.id === state.current;
  const direct = isDirect(room);
  const label = `${title}${direct ? ", direct message" : room.is_private ? ", private" : ""}${count ? `, ${count} unread` : ""}${mentions ? `, ${mentions} mention${mentions === 1 ? "" : "s"}` : ""}`;
  const li = h(
    "li",
    {},
    h(
      "a",
      {
        href: `#/room/${room.id}`,
        class: `room-link${current ? " current" : ""}${count ? " has-unread" : ""}`,
        "aria-current": current ? "page" : null,
        "aria-label": label,
        dataset: { testid: direct ? "dm-link" : "room-link", roomId: String(room.id), roomName: title },
      },
      direct ? directMark(room) : roomMark(room),
      h("span", { class: "room-name" }, title),
      mentions
        ? h("span", { class: "badge mention-badge", "aria-hidden": "true", title: `${mentions} mention${mentions === 1 ? "" : "s"}`, dataset: { testid: `mentions-${room.id}` } }, `@${mentions > 99 ? "99+" : mentions}`)
        : null,
      count ? h("span", { class: "badge", "aria-hidden": "true", dataset: { testid: `unread-${room.id}` } }, count > 99 ? "99+" : String(count)) : null,
    ),
  );
  return { li, count };
}

/** The sidebar: group rooms under "Your rooms", direct conversations under "Direct messages". */
export function renderRoomList() {
  const rooms = $("room-list");
  const dms = $("dm-list");
  clear(rooms);
  clear(dms);
  let total = 0;
  let groups = 0;
  for (const { room, title } of byTitle(Array.from(state.rooms.values()))) {
    const { li, count } = roomItem(room, title);
    total += count;
    if (isDirect(room)) {
      dms.append(li);
    } else {
      rooms.append(li);
      groups++;
    }
  }
  $("no-rooms").hidden = groups > 0;
  document.title = total ? `(${total}) Huddle` : "Huddle";
}

// ---- room header -------------------------------------------------------------------------

/**
 * The chat area: the open room (or the welcome), unless a pane (`state.pane`: "search" results
 * or an "invite") takes its place.
 */
export function renderRoomHeader() {
  const room = state.rooms.get(state.current);
  const pane = state.pane;
  $("search-view").hidden = pane !== "search";
  $("invite-view").hidden = pane !== "invite";
  const roomView = $("room-view");
  const empty = $("empty-view");
  roomView.hidden = !!pane || !room;
  empty.hidden = !!pane || !!room;
  if (!room) return;
  const direct = isDirect(room);
  const title = $("room-title");
  clear(title);
  title.append(
    direct ? h("span", { class: "visually-hidden" }, "Direct message with ") : roomMark(room),
    h("span", { class: "room-title-text", dataset: { testid: "room-name" } }, roomTitle(room)),
  );
  $("history-start").textContent = direct ? "This is the start of the conversation." : "This is the start of the room.";
  $("room-desc").textContent = room.description || "";
  $("room-desc").hidden = !room.description;
  const n = room.member_count;
  $("member-count").textContent = direct ? `${n} ${n === 1 ? "person" : "people"}` : `${n} member${n === 1 ? "" : "s"}`;
  const role = myRole(room.id);
  const manager = role === "owner" || role === "admin";
  $("room-settings-btn").hidden = !manager;
  $("invite-btn").hidden = !manager || direct;
  $("delete-room-btn").hidden = role !== "owner";
  $("leave-room-btn").hidden = role === "owner";
}

// ---- messages ----------------------------------------------------------------------------

function messageId(roomId, seq) {
  return `m-${roomId}-${seq}`;
}

/** Builds the element of one stored message. */
function messageEl(msg) {
  const own = state.me && msg.author.id === state.me.id;
  const mayDelete = !msg.deleted && (own || canManage(msg.room_id));
  // A file without a caption has no text to edit (nor a body to show).
  const mayEdit = !msg.deleted && own && !!msg.body;
  const body = msg.deleted
    ? h("p", { class: "msg-body deleted-note", dataset: { testid: "message-body" } }, "This message was deleted.")
    : msg.body
      ? h("p", { class: "msg-body", dataset: { testid: "message-body" } }, highlightMentions(linkify(msg.body), msg))
      : null;
  const actionsEl = msg.deleted
    ? null
    : h(
        "div",
        { class: "msg-actions" },
        addButton(msg),
        h("button", { type: "button", class: "tiny", dataset: { testid: "reply-message" }, "aria-label": `Reply to ${displayName(msg.author)}`, onclick: () => startReply(msg) }, "Reply"),
        mayEdit
          ? h("button", { type: "button", class: "tiny", dataset: { testid: "edit-message" }, "aria-label": "Edit message", onclick: () => startEdit(msg.room_id, msg.seq) }, "Edit")
          : null,
        mayDelete
          ? h("button", { type: "button", class: "tiny danger", dataset: { testid: "delete-message" }, "aria-label": "Delete message", onclick: () => actions.deleteMessage(msg) }, "Delete")
          : null,
      );
  const mentioned = mentionsMe(msg);
  const el = h(
    "li",
    {
      id: messageId(msg.room_id, msg.seq),
      class: `msg${own ? " own" : ""}${msg.deleted ? " deleted" : ""}${mentioned ? " mentioned" : ""}`,
      dataset: { seq: String(msg.seq), testid: "message", author: msg.author.username, authorId: String(msg.author.id), time: msg.created_at, day: dayKey(msg.created_at), messageId: String(msg.id) },
    },
    avatar(msg.author),
    h(
      "div",
      { class: "msg-main" },
      h(
        "div",
        { class: "msg-meta" },
        h("span", { class: "author", dataset: { testid: "message-author" } }, displayName(msg.author)),
        h("time", { datetime: msg.created_at, title: fullTime(msg.created_at) }, clockTime(msg.created_at)),
        msg.edited_at && !msg.deleted ? h("span", { class: "edited", title: fullTime(msg.edited_at), dataset: { testid: "edited" } }, "(edited)") : null,
        mentioned ? h("span", { class: "visually-hidden" }, "Mentions you") : null,
      ),
      msg.deleted ? null : quoteEl(msg.room_id, msg.reply_to),
      body,
      attachmentsEl(msg),
      reactionsEl(msg),
    ),
    actionsEl,
  );
  return el;
}

/** Whether `el` continues the previous message's group (same author, close in time, no day
 * separator between them). */
function regroup(el) {
  if (!el || !el.classList.contains("msg")) return;
  const prev = el.previousElementSibling;
  let cont = false;
  if (prev && prev.dataset.authorId === el.dataset.authorId && !prev.classList.contains("deleted") && !el.classList.contains("deleted")) {
    const dt = new Date(el.dataset.time) - new Date(prev.dataset.time);
    cont = dt >= 0 && dt < GROUP_WINDOW_MS;
  }
  el.classList.toggle("cont", cont);
}

/** All loaded messages of the current room, from scratch. */
export function renderMessages() {
  const list = $("messages");
  clear(list);
  const m = state.msgs.get(state.current);
  if (m) {
    const seqs = Array.from(m.bySeq.keys()).sort((a, b) => a - b);
    const frag = document.createDocumentFragment();
    for (const s of seqs) frag.append(messageEl(m.bySeq.get(s)));
    list.append(frag);
    placeDaySeparators(list);
    placeNewLine(list);
    placeSeenBy(list);
    for (const el of list.children) regroup(el);
  }
  renderHistoryState();
  renderPending();
}

export function renderHistoryState() {
  const m = state.msgs.get(state.current);
  const loading = !!(m && m.loading);
  $("history-loading").hidden = !loading;
  $("load-older").hidden = loading || !m || !m.loaded || !m.hasMore;
  $("history-start").hidden = loading || !m || !m.loaded || m.hasMore;
  // Below a window around an older message: the way back to the newest.
  const jump = $("jump-latest");
  jump.textContent = m && m.hasNewer ? "Jump to the newest ↓" : "New messages ↓";
  if (m && m.hasNewer) jump.hidden = false;
}

/** Inserts or replaces one message of the current room, in seq order. */
export function upsertMessage(msg) {
  if (msg.room_id !== state.current) return;
  const list = $("messages");
  const existing = document.getElementById(messageId(msg.room_id, msg.seq));
  const el = messageEl(msg);
  if (existing) {
    if (existing.querySelector(".edit-form")) {
      // Being edited here: keep the form, refresh the rest when it closes.
      existing.dataset.stale = "1";
      return;
    }
    existing.replaceWith(el);
  } else {
    let before = null;
    for (let i = list.children.length - 1; i >= 0; i--) {
      const c = list.children[i];
      if (!c.classList.contains("msg")) continue; // a day separator
      if (Number(c.dataset.seq) < msg.seq) break;
      before = c;
    }
    list.insertBefore(el, before);
  }
  // Separators may appear, move or go around the new element; groups follow them.
  placeDaySeparators(list);
  placeNewLine(list);
  placeSeenBy(list);
  for (const c of list.children) regroup(c);
}

/** The "New messages" line and "Seen by" again, after the read state changed. */
export function renderReadMarks() {
  const list = $("messages");
  placeNewLine(list);
  placeSeenBy(list);
  for (const c of list.children) regroup(c);
}

export function renderPending() {
  const list = $("pending");
  clear(list);
  for (const p of state.outbox.filter((o) => o.room_id === state.current)) {
    list.append(
      h(
        "li",
        { class: `msg own pending${p.status === "failed" ? " failed" : ""}`, dataset: { testid: "pending-message", cmid: p.cmid, status: p.status } },
        avatar(state.me),
        h(
          "div",
          { class: "msg-main" },
          h("div", { class: "msg-meta" }, h("span", { class: "author" }, displayName(state.me)), h("span", { class: "status-note" }, p.status === "failed" ? `Not sent: ${p.error || "error"}` : "Sending…")),
          quoteEl(p.room_id, p.reply),
          h("p", { class: "msg-body" }, p.body),
        ),
        p.status === "failed"
          ? h(
              "div",
              { class: "msg-actions visible" },
              h("button", { type: "button", class: "tiny", onclick: () => actions.retry(p.cmid) }, "Retry"),
              h("button", { type: "button", class: "tiny danger", onclick: () => actions.discard(p.cmid) }, "Discard"),
            )
          : null,
      ),
    );
  }
}

/** Replaces a message's body with an edit box: Enter saves, Escape cancels. */
function startEdit(roomId, seq) {
  const m = state.msgs.get(roomId);
  const msg = m && m.bySeq.get(seq);
  const el = document.getElementById(messageId(roomId, seq));
  if (!msg || !el || el.querySelector(".edit-form")) return;
  const body = el.querySelector(".msg-body");
  const input = h("textarea", { class: "edit-input", rows: "2", maxlength: "4000", "aria-label": "Edit message", dataset: { testid: "edit-input" } });
  input.value = msg.body;
  const done = () => {
    const latest = state.msgs.get(roomId)?.bySeq.get(seq);
    form.remove();
    body.hidden = false;
    if (latest) upsertMessage(latest);
  };
  const save = async () => {
    const text = input.value.trim();
    if (!text || text === msg.body) return done();
    input.disabled = true;
    const ok = await actions.editMessage(msg, text);
    if (ok) done();
    else input.disabled = false;
  };
  const form = h(
    "form",
    { class: "edit-form", onsubmit: (e) => { e.preventDefault(); save(); } },
    input,
    h(
      "div",
      { class: "edit-actions" },
      h("span", { class: "muted small-text" }, "Enter to save · Esc to cancel"),
      h("button", { type: "button", class: "tiny", onclick: done }, "Cancel"),
      h("button", { type: "submit", class: "tiny primary", dataset: { testid: "edit-save" } }, "Save"),
    ),
  );
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      done();
    }
  });
  body.hidden = true;
  body.after(form);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

// ---- typing ------------------------------------------------------------------------------

export function renderTyping() {
  const el = $("typing");
  const t = state.typing.get(state.current);
  const names = t ? Array.from(t.keys()).map((id) => displayName(state.users.get(id))) : [];
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  el.textContent = text;
}

// ---- members -----------------------------------------------------------------------------

const ROLE_ORDER = { owner: 0, admin: 1, member: 2 };

export function renderMembers() {
  const list = $("member-list");
  clear(list);
  const roomId = state.current;
  const room = state.rooms.get(roomId);
  const members = state.members.get(roomId);
  if (!room || !members) {
    list.append(h("li", { class: "muted pad" }, "Loading…"));
    return;
  }
  const myRoleHere = myRole(roomId);
  const sorted = Array.from(members.values()).sort((a, b) => {
    const on = (m) => (presenceOf(m.user.id) === "online" ? 0 : 1);
    return on(a) - on(b) || ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || displayName(a.user).localeCompare(displayName(b.user));
  });
  for (const member of sorted) {
    const u = member.user;
    const status = presenceOf(u.id);
    const isMe = state.me && u.id === state.me.id;
    const buttons = [];
    if (!isMe && member.role !== "owner") {
      if (myRoleHere === "owner") {
        buttons.push(
          member.role === "admin"
            ? h("button", { type: "button", class: "tiny", dataset: { testid: "demote" }, "aria-label": `Make ${displayName(u)} a member`, onclick: () => actions.setRole(roomId, member, "member") }, "Demote")
            : h("button", { type: "button", class: "tiny", dataset: { testid: "promote" }, "aria-label": `Make ${displayName(u)} an admin`, onclick: () => actions.setRole(roomId, member, "admin") }, "Make admin"),
        );
      }
      if (myRoleHere === "owner" || (myRoleHere === "admin" && member.role === "member")) {
        buttons.push(h("button", { type: "button", class: "tiny danger", dataset: { testid: "kick" }, "aria-label": `Remove ${displayName(u)} from the room`, onclick: () => actions.kick(roomId, member) }, "Remove"));
      }
    }
    list.append(
      h(
        "li",
        { class: "member", dataset: { testid: "member", userId: String(u.id), username: u.username, presence: status, role: member.role } },
        h("span", { class: "avatar-wrap" }, avatar(u), h("span", { class: `dot ${status}`, title: status })),
        h(
          "span",
          { class: "member-text" },
          h("span", { class: "member-name" }, displayName(u), isMe ? h("span", { class: "muted" }, " (you)") : null),
          h("span", { class: "member-sub" }, `@${u.username} · `, h("span", { class: `presence ${status}` }, status), member.role !== "member" ? ` · ${member.role}` : ""),
        ),
        buttons.length ? h("span", { class: "member-actions" }, buttons) : null,
      ),
    );
  }
  $("add-member-form").hidden = !(myRoleHere === "owner" || myRoleHere === "admin");
}

function presenceOf(userId) {
  if (state.me && userId === state.me.id) return state.online ? "online" : "offline";
  return state.presence.get(userId) === "online" ? "online" : "offline";
}

// ---- browse ------------------------------------------------------------------------------

export function renderBrowse(rooms, append) {
  const list = $("browse-list");
  if (!append) clear(list);
  if (!append && rooms.length === 0) {
    list.append(h("li", { class: "muted pad" }, "No rooms found."));
    return;
  }
  for (const room of rooms) {
    const mine = state.rooms.has(room.id);
    list.append(
      h(
        "li",
        { class: "browse-item", dataset: { testid: "browse-room", roomId: String(room.id), roomName: room.name } },
        h(
          "div",
          { class: "browse-text" },
          h("span", { class: "browse-name" }, roomMark(room), room.name),
          room.description ? h("span", { class: "browse-desc" }, room.description) : null,
          h("span", { class: "muted small-text" }, `${room.member_count} member${room.member_count === 1 ? "" : "s"}`),
        ),
        mine
          ? h("button", { type: "button", class: "small secondary", onclick: () => actions.openFromBrowse(room.id) }, "Open")
          : h("button", { type: "button", class: "small primary", dataset: { testid: `join-${room.id}` }, "aria-label": `Join ${room.name}`, onclick: (e) => actions.join(room, e.currentTarget) }, "Join"),
      ),
    );
  }
}

// ---- connection banner, toasts, confirmations -------------------------------------------

let bannerTimer = null;

export function renderConnection(connState, info) {
  const status = $("conn-status");
  status.dataset.state = connState;
  status.textContent = connState === "online" ? "Connected" : connState === "connecting" ? "Connecting…" : "Offline";
  const banner = $("offline-banner");
  clearInterval(bannerTimer);
  if (connState === "offline") {
    banner.hidden = false;
    const tick = () => {
      const s = Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000));
      $("offline-text").textContent = s > 0 ? `You are offline. Reconnecting in ${s} s…` : "You are offline. Reconnecting…";
    };
    tick();
    bannerTimer = setInterval(tick, 1000);
  } else if (connState === "online") {
    banner.hidden = true;
  } else if (!banner.hidden) {
    $("offline-text").textContent = "You are offline. Reconnecting…";
  }
}

export function toast(text, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, dataset: { testid: "toast" } }, text);
  $("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 4000);
}

export function announce(text) {
  const el = $("sr-announce");
  el.textContent = "";
  setTimeout(() => {
    el.textContent = text;
  }, 50);
}

/** A modal yes/no question; resolves true on confirm. */
export function confirmDialog(title, text, okLabel = "Confirm") {
  const dlg = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    const onClose = () => {
      dlg.removeEventListener("close", onClose);
      resolve(dlg.returnValue === "ok");
    };
    dlg.returnValue = "";
    dlg.addEventListener("close", onClose);
    $("confirm-ok").value = "ok";
    dlg.showModal();
    $("confirm-cancel").focus();
  });
}
