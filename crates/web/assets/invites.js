// Invite links. Owners and admins of a group room make them (POST /rooms/{id}/invites: an expiry
// of 1 hour, 1 day or 7 days, and optionally a number of uses), copy them
// (`<origin>/invite/<code>`), see the live ones with their uses (GET) and revoke them (DELETE).
// The server serves this page at /invite/{code} too: there it shows the room's preview
// (GET /invites/{code}) with a Join button (POST /invites/{code}/accept), or says plainly why
// the link no longer works (404: not valid; 410: expired or used up).
import * as api from "./api.js";
import { $, h, clear, fullTime } from "./dom.js";
import { state } from "./store.js";

const PATH = /^\/invite\/([A-Za-z0-9_-]{1,64})\/?$/;

let hooks = {};

/**
 * Binds the dialog and the invite page (once, at boot). Hooks: `show()` / `hide()` put the
 * invite page in place of the room view and back; `joining(roomId)` comes before an accept;
 * `joined(room)` opens the room joined; `dismiss()` leaves the page.
 */
export function bindInvites(handlers) {
  hooks = handlers;
  $("invite-btn").addEventListener("click", openDialog);
  $("invite-form").addEventListener("submit", (e) => {
    e.preventDefault();
    create();
  });
  $("invite-copy").addEventListener("click", () => copy($("invite-link").value, $("invite-copied")));
  $("invite-join").addEventListener("click", join);
  $("invite-dismiss").addEventListener("click", () => hooks.dismiss());
}

/** The invite code of the page's address (`/invite/<code>`), or null. */
export function inviteCode() {
  const m = PATH.exec(location.pathname);
  return m ? m[1] : null;
}

export function inviteUrl(code) {
  return `${location.origin}/invite/${encodeURIComponent(code)}`;
}

// ---- the managers' dialog --------------------------------------------------------------------

let dialogRoom = null;
/** Each list load gets a number; an answer to an older one is dropped. */
let listSeq = 0;

function openDialog() {
  const room = state.rooms.get(state.current);
  if (!room) return;
  dialogRoom = room.id;
  $("invite-title").textContent = `Invite people to ${room.name}`;
  $("invite-error").textContent = "";
  $("invite-new").hidden = true;
  $("invite-link").value = "";
  $("invite-copied").textContent = "";
  $("invite-max-uses").value = "";
  $("invite-expiry").value = "604800";
  clear($("invite-list"));
  $("invite-dialog").showModal();
  $("invite-expiry").focus();
  loadList();
}

async function create() {
  const roomId = dialogRoom;
  const error = $("invite-error");
  error.textContent = "";
  const body = { expires_in_s: Number($("invite-expiry").value) };
  const uses = $("invite-max-uses").value.trim();
  if (uses) {
    const n = Number(uses);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      error.textContent = "Maximum uses is a whole number from 1 to 1000, or empty for no limit.";
      $("invite-max-uses").focus();
      return;
    }
    body.max_uses = n;
  }
  $("invite-create").disabled = true;
  try {
    const invite = await api.request("POST", `/rooms/${roomId}/invites`, body);
    if (roomId !== dialogRoom) return;
    $("invite-link").value = inviteUrl(invite.code);
    $("invite-copied").textContent = "";
    $("invite-new").hidden = false;
    $("invite-link").select();
    loadList();
  } catch (e) {
    error.textContent = e.status === 409 ? "This room has the most live links it may have (100). Revoke some first." : api.describe(e);
  } finally {
    $("invite-create").disabled = false;
  }
}

async function loadList() {
  const roomId = dialogRoom;
  const mySeq = ++listSeq;
  const list = $("invite-list");
  try {
    const page = await api.request("GET", `/rooms/${roomId}/invites`);
    if (mySeq !== listSeq || roomId !== dialogRoom) return;
    const items = Array.isArray(page.items) ? page.items : [];
    clear(list);
    if (!items.length) list.append(h("li", { class: "muted invite-note" }, "No live links."));
    for (const invite of items) list.append(row(invite));
  } catch (e) {
    if (mySeq !== listSeq) return;
    $("invite-error").textContent = api.describe(e);
  }
}

function row(invite) {
  const url = inviteUrl(invite.code);
  const uses = invite.max_uses ? `${invite.uses} of ${invite.max_uses} uses` : `${invite.uses} use${invite.uses === 1 ? "" : "s"}, no limit`;
  const note = h("span", { class: "hint", "aria-live": "polite" });
  return h(
    "li",
    { class: "invite", dataset: { testid: "invite", code: invite.code, uses: String(invite.uses) } },
    h(
      "div",
      { class: "invite-info" },
      h("span", { class: "invite-code", title: url }, `…/invite/${invite.code}`),
      h(
        "span",
        { class: "invite-meta" },
        h("span", { dataset: { testid: "invite-uses" } }, uses),
        " · ",
        h("time", { datetime: invite.expires_at, title: fullTime(invite.expires_at) }, `expires ${untilText(invite.expires_at)}`),
      ),
      note,
    ),
    h("button", { type: "button", class: "tiny", "aria-label": `Copy the link …${invite.code.slice(-4)}`, onclick: () => copy(url, note) }, "Copy"),
    h(
      "button",
      {
        type: "button",
        class: "tiny danger",
        dataset: { testid: "revoke-invite" },
        "aria-label": `Revoke the link …${invite.code.slice(-4)}`,
        onclick: (e) => revoke(invite.code, e.currentTarget),
      },
      "Revoke",
    ),
  );
}

async function revoke(code, button) {
  const roomId = dialogRoom;
  button.disabled = true;
  try {
    await api.request("DELETE", `/rooms/${roomId}/invites/${encodeURIComponent(code)}`);
  } catch (e) {
    // Already gone (404): the reload shows it; anything else is explained.
    if (e.status !== 404) {
      $("invite-error").textContent = api.describe(e);
      button.disabled = false;
      return;
    }
  }
  if ($("invite-link").value === inviteUrl(code)) $("invite-new").hidden = true;
  loadList();
}

async function copy(text, note) {
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch {
    done = false;
  }
  if (!done) {
    // Without the clipboard API (plain http on another host): copy from a selected field.
    const field = h("textarea", { class: "visually-hidden", "aria-hidden": "true" });
    field.value = text;
    $("invite-dialog").append(field);
    field.select();
    try {
      done = document.execCommand("copy");
    } catch {
      done = false;
    }
    field.remove();
  }
  note.textContent = done ? "Link copied." : "Select the link and copy it (Ctrl+C).";
}

/** "in 59 minutes", "in 23 hours", "in 7 days". */
function untilText(iso) {
  const secs = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (!Number.isFinite(secs)) return "at an unknown time";
  if (secs <= 0) return "now";
  const plural = (n, unit) => `in ${n} ${unit}${n === 1 ? "" : "s"}`;
  if (secs < 3600) return plural(Math.max(1, Math.round(secs / 60)), "minute");
  if (secs < 86400) return plural(Math.round(secs / 3600), "hour");
  return plural(Math.round(secs / 86400), "day");
}

// ---- the invite page (/invite/<code>) ------------------------------------------------------------

let preview = null;
let pageSeq = 0;

/** Shows the invite of the address: its room's preview, or why it cannot be used. */
export async function showInvite(code) {
  const mySeq = ++pageSeq;
  preview = null;
  hooks.show();
  setPage({ lead: "Opening your invite…" });
  try {
    const p = await api.request("GET", `/invites/${encodeURIComponent(code)}`);
    if (mySeq !== pageSeq) return;
    preview = { code, ...p };
    const room = p.room;
    const member = state.rooms.has(room.id);
    setPage({
      lead: member ? "You are already in" : "You are invited to join",
      name: room.name,
      description: room.description,
      count: `${room.member_count} member${room.member_count === 1 ? "" : "s"}`,
      join: member ? "Open room" : "Join room",
    });
    $("invite-join").focus();
  } catch (e) {
    if (mySeq !== pageSeq) return;
    setPage({ lead: "Invite link", problem: problemText(e) });
  }
}

/** Forgets the invite page (signed out, or a room opened instead). */
export function resetInvite() {
  pageSeq++;
  preview = null;
}

function problemText(e) {
  if (e.status === 404) return "This invite link is not valid. Ask for a new one.";
  if (e.status === 410) return "This invite has expired or been used up. Ask for a new one.";
  return api.describe(e);
}

function setPage(p) {
  $("invite-lead").textContent = p.lead || "";
  $("invite-room-name").textContent = p.name || "";
  $("invite-room-name").hidden = !p.name;
  $("invite-room-desc").textContent = p.description || "";
  $("invite-room-desc").hidden = !p.description;
  $("invite-room-count").textContent = p.count || "";
  $("invite-room-count").hidden = !p.count;
  $("invite-problem").textContent = p.problem || "";
  $("invite-problem").hidden = !p.problem;
  $("invite-join").hidden = !p.join;
  $("invite-join").textContent = p.join || "";
  $("invite-join").disabled = false;
  $("invite-dismiss").textContent = p.problem ? "Go to your rooms" : "Not now";
  $("invite-dismiss").hidden = !p.join && !p.problem;
}

async function join() {
  if (!preview) return;
  const { code, room } = preview;
  const button = $("invite-join");
  button.disabled = true;
  const mySeq = pageSeq;
  try {
    hooks.joining(room.id);
    await api.request("POST", `/invites/${encodeURIComponent(code)}/accept`, {});
    const fresh = await api.request("GET", `/rooms/${room.id}`);
    if (mySeq !== pageSeq) return;
    preview = null;
    hooks.joined(fresh);
  } catch (e) {
    if (mySeq !== pageSeq) return;
    setPage({ lead: "Invite link", name: room.name, problem: problemText(e) });
  }
}
