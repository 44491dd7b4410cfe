// Direct messages: conversations of kind "direct" (POST /dms {usernames}). Their titles are the
// other people's display names, never your own; the "New message" dialog picks 1-8 people with
// the directory suggestions (people.js) and opens the conversation, new (201) or existing (200)
// alike. The conversations themselves use the rooms' message view, history, sending and live
// updates.
import * as api from "./api.js";
import { $, h, clear, avatar, displayName } from "./dom.js";
import { Picker, USERNAME } from "./people.js";
import { state, addRoom, rememberUser } from "./store.js";

const MAX_OTHERS = 8;
const HINT = "Type a name or username and pick up to 8 people.";

export function isDirect(room) {
  return !!room && room.kind === "direct";
}

/** The people of a direct conversation other than you, as far as known: users, or usernames. */
function others(room) {
  const members = state.members.get(room.id);
  const meId = state.me && state.me.id;
  if (members && members.size) {
    return Array.from(members.values())
      .map((m) => m.user)
      .filter((u) => u.id !== meId)
      .sort((a, b) => displayName(a).localeCompare(displayName(b)));
  }
  // Not loaded yet: the room's name is its people's usernames joined with ", ".
  const mine = state.me ? state.me.username.toLowerCase() : "";
  const byName = new Map(Array.from(state.users.values()).map((u) => [u.username.toLowerCase(), u]));
  return room.name
    .split(", ")
    .filter((n) => n && n.toLowerCase() !== mine)
    .map((n) => byName.get(n.toLowerCase()) || n);
}

/** What a room is called here: a direct conversation by the others' display names. */
export function roomTitle(room) {
  if (!room) return "";
  if (!isDirect(room)) return room.name;
  const people = others(room).map((p) => (typeof p === "string" ? p : displayName(p)));
  return people.length ? people.join(", ") : "Only you";
}

/** The picture beside a conversation: the first other person's initial. */
export function directMark(room) {
  const first = others(room)[0];
  const user = typeof first === "string" || !first ? { id: room.id, display_name: roomTitle(room) } : first;
  return avatar(user, "tiny");
}

const loading = new Set();

/**
 * Loads who is in a direct conversation (for its title) when not known yet; `then()` runs when
 * they arrive.
 */
export async function loadPeople(roomId, then) {
  if (state.members.has(roomId) || loading.has(roomId)) return;
  loading.add(roomId);
  try {
    const items = await api.listAll(`/rooms/${roomId}/members`, 100);
    if (!state.rooms.has(roomId) || state.members.has(roomId)) return;
    const map = new Map();
    for (const m of items) {
      map.set(m.user.id, m);
      rememberUser(m.user);
      if (typeof m.online === "boolean") state.presence.set(m.user.id, m.online ? "online" : "offline");
    }
    state.members.set(roomId, map);
    then();
  } catch {
    // The title stays the usernames.
  } finally {
    loading.delete(roomId);
  }
}

// ---- the "New message" dialog ---------------------------------------------------------------

/** The people picked so far: users from the directory (or {username} typed exactly). */
let chosen = [];
let picker = null;
let opening = false;
let onOpened = () => {};

/** Binds the dialog (once, at boot); `handlers.onOpened(room)` shows the conversation. */
export function bindDms(handlers) {
  onOpened = handlers.onOpened;
  picker = new Picker({
    input: $("dm-name"),
    list: $("dm-suggestions"),
    hint: $("dm-hint"),
    hintText: HINT,
    testid: "dm-suggestion",
    exclude: (u) => (state.me && u.id === state.me.id) || chosen.some((c) => c.username.toLowerCase() === u.username.toLowerCase()),
    excludedText: (q) => `Everyone matching “${q}” is already picked.`,
    onPick: choose,
    onEnter: enter,
    onError: (text) => {
      $("dm-error").textContent = text;
    },
    onType: () => {
      $("dm-error").textContent = "";
    },
  });
  $("new-dm-btn").addEventListener("click", openDialog);
  $("dm-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  $("dm-name").addEventListener("keydown", (e) => {
    // Backspace in an empty field takes back the last person picked.
    if (e.key === "Backspace" && !$("dm-name").value && chosen.length) {
      chosen.pop();
      renderChosen();
    }
  });
}

function openDialog() {
  chosen = [];
  picker.reset();
  $("dm-error").textContent = "";
  renderChosen();
  $("dm-dialog").showModal();
  $("dm-name").focus();
}

function choose(user) {
  $("dm-error").textContent = "";
  if (chosen.length >= MAX_OTHERS) {
    $("dm-error").textContent = `A conversation has at most ${MAX_OTHERS} other people.`;
    return;
  }
  if (!chosen.some((c) => c.username.toLowerCase() === user.username.toLowerCase())) chosen.push(user);
  picker.reset();
  renderChosen();
  $("dm-name").focus();
}

/** Enter with nothing highlighted: the typed username as a pick, or, with the field empty, open. */
function enter() {
  const name = picker.typed();
  if (!name) {
    submit();
    return;
  }
  const listed = picker.listed(name);
  if (listed) return choose(listed);
  if (!USERNAME.test(name)) {
    $("dm-error").textContent = `No user is called “${name}”. Pick someone from the list.`;
    return;
  }
  if (state.me && name.toLowerCase() === state.me.username.toLowerCase()) {
    $("dm-error").textContent = "Pick the people to write to; you are in the conversation already.";
    return;
  }
  choose({ username: name });
}

function renderChosen() {
  const list = $("dm-chosen");
  clear(list);
  for (const person of chosen) {
    const name = person.id !== undefined ? displayName(person) : person.username;
    list.append(
      h(
        "li",
        { class: "chip-pick", dataset: { testid: "dm-chosen", username: person.username } },
        h("span", {}, name),
        h(
          "button",
          {
            type: "button",
            class: "chip-remove",
            "aria-label": `Remove ${name}`,
            onclick: () => {
              chosen = chosen.filter((c) => c !== person);
              renderChosen();
              $("dm-name").focus();
            },
          },
          "×",
        ),
      ),
    );
  }
  list.hidden = chosen.length === 0;
  $("dm-open").disabled = chosen.length === 0;
}

async function submit() {
  const error = $("dm-error");
  if (opening) return;
  // A username typed in full and not yet picked counts too.
  const typed = picker.typed();
  if (typed) {
    enter();
    if (error.textContent) return;
  }
  if (!chosen.length) {
    error.textContent = "Pick at least one person to write to.";
    return;
  }
  opening = true;
  $("dm-open").disabled = true;
  try {
    const room = addRoom(await api.request("POST", "/dms", { usernames: chosen.map((c) => c.username) }));
    $("dm-dialog").close();
    onOpened(room);
  } catch (e) {
    error.textContent = explain(e);
  } finally {
    opening = false;
    $("dm-open").disabled = chosen.length === 0;
  }
}

function explain(e) {
  if (e.status === 404) {
    return chosen.length === 1
      ? `No user is called “${chosen[0].username}”.`
      : "One of these people has no account here. Check the names you typed.";
  }
  return api.describe(e);
}
