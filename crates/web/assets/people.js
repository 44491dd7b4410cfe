// Adding people to a room by name. The members panel's field looks people up in the user
// directory as you type (GET /users?q=, debounced; username or display-name prefix) and lists
// them with display name and @username: arrow keys move through the list, Enter or a click adds
// the one picked, Escape closes the list. Enter with nothing picked adds the username as typed.
// Adding is POST /rooms/{id}/members {username}; the server's refusals are put in plain words.
import * as api from "./api.js";
import { $, h, clear, avatar, displayName } from "./dom.js";
import { state } from "./store.js";

const LOOKUP_DELAY_MS = 200;
const SHOWN = 8;
const USERNAME = /^[a-zA-Z0-9_.-]{3,32}$/;
const HINT = "Type a name or username, then pick the person (arrow keys and Enter, or click).";

let onAdded = () => {};
let timer = null;
/** Each lookup gets a number; an answer to an older one is dropped. */
let lookupSeq = 0;
/** The users listed, and which of them the arrow keys are on (-1: none). */
let options = [];
let active = -1;
let adding = false;

/** Binds the field (once, at boot); `handlers.onAdded(roomId, member)` runs after an add. */
export function bindPeople(handlers) {
  onAdded = handlers.onAdded;
  const input = $("add-member-name");
  input.addEventListener("input", onInput);
  input.addEventListener("keydown", onKey);
  $("add-member-form").addEventListener("submit", (e) => {
    e.preventDefault();
    addTyped();
  });
  $("add-member-form").addEventListener("focusout", (e) => {
    if (!e.currentTarget.contains(e.relatedTarget)) closeList();
  });
  // A click on a suggestion keeps the focus in the field.
  $("add-member-suggestions").addEventListener("mousedown", (e) => e.preventDefault());
}

/** Empties the field and the list (another room opened, or signed out). */
export function resetPeople() {
  clearTimeout(timer);
  lookupSeq++;
  $("add-member-name").value = "";
  $("add-member-error").textContent = "";
  $("add-member-hint").textContent = HINT;
  closeList();
}

/** What was typed, without a leading "@". */
function typed() {
  return $("add-member-name").value.trim().replace(/^@/, "");
}

function onInput() {
  $("add-member-error").textContent = "";
  clearTimeout(timer);
  const q = typed();
  if (!q) {
    lookupSeq++;
    $("add-member-hint").textContent = HINT;
    closeList();
    return;
  }
  timer = setTimeout(() => lookup(q), LOOKUP_DELAY_MS);
}

async function lookup(q) {
  const mySeq = ++lookupSeq;
  const roomId = state.current;
  // A few more than shown: members of the room are left out.
  const params = new URLSearchParams({ q, limit: String(SHOWN + 8) });
  let page;
  try {
    page = await api.request("GET", `/users?${params}`);
  } catch (e) {
    if (mySeq !== lookupSeq) return;
    closeList();
    $("add-member-error").textContent = api.describe(e);
    return;
  }
  if (mySeq !== lookupSeq || roomId !== state.current) return;
  const members = state.members.get(roomId);
  const found = Array.isArray(page.items) ? page.items : [];
  const users = found.filter((u) => !(members && members.has(u.id))).slice(0, SHOWN);
  render(users);
  if (users.length) {
    $("add-member-hint").textContent = `${users.length === 1 ? "1 person matches" : `${users.length} people match`}. Use the arrow keys and Enter, or click.`;
  } else if (found.length) {
    $("add-member-hint").textContent = `Everyone matching “${q}” is already in this room.`;
  } else {
    $("add-member-hint").textContent = `No one matches “${q}”.`;
  }
}

function render(users) {
  const list = $("add-member-suggestions");
  clear(list);
  options = users;
  active = -1;
  users.forEach((u, i) => {
    list.append(
      h(
        "li",
        {
          id: `suggestion-${u.id}`,
          class: "suggestion",
          role: "option",
          "aria-selected": "false",
          dataset: { testid: "member-suggestion", username: u.username, userId: String(u.id) },
          onclick: () => pick(i),
        },
        avatar(u, "small"),
        h("span", { class: "suggestion-text" }, h("span", { class: "suggestion-name" }, displayName(u)), h("span", { class: "suggestion-username" }, `@${u.username}`)),
      ),
    );
  });
  list.hidden = users.length === 0;
  $("add-member-name").setAttribute("aria-expanded", String(users.length > 0));
  $("add-member-name").removeAttribute("aria-activedescendant");
}

function closeList() {
  options = [];
  active = -1;
  clear($("add-member-suggestions"));
  $("add-member-suggestions").hidden = true;
  $("add-member-name").setAttribute("aria-expanded", "false");
  $("add-member-name").removeAttribute("aria-activedescendant");
}

function setActive(i) {
  active = i;
  const input = $("add-member-name");
  for (const [n, el] of Array.from($("add-member-suggestions").children).entries()) {
    el.setAttribute("aria-selected", String(n === i));
    if (n === i) {
      input.setAttribute("aria-activedescendant", el.id);
      el.scrollIntoView({ block: "nearest" });
    }
  }
}

function onKey(e) {
  if (e.isComposing) return;
  const open = !$("add-member-suggestions").hidden && options.length > 0;
  if (e.key === "ArrowDown" && open) {
    e.preventDefault();
    setActive(active + 1 >= options.length ? 0 : active + 1);
  } else if (e.key === "ArrowUp" && open) {
    e.preventDefault();
    setActive(active <= 0 ? options.length - 1 : active - 1);
  } else if (e.key === "Enter" && open && active >= 0) {
    e.preventDefault();
    pick(active);
  } else if (e.key === "Escape" && open) {
    // Closes the list only, not the members panel.
    e.preventDefault();
    e.stopPropagation();
    closeList();
  }
}

function pick(i) {
  const user = options[i];
  if (!user) return;
  $("add-member-name").value = user.username;
  closeList();
  add(user.username);
}

/** Enter or "Add" with nothing picked: the listed person whose username was typed, else the text. */
function addTyped() {
  const name = typed();
  const listed = options.find((u) => u.username.toLowerCase() === name.toLowerCase());
  closeList();
  add(listed ? listed.username : name);
}

async function add(username) {
  const roomId = state.current;
  const error = $("add-member-error");
  error.textContent = "";
  clearTimeout(timer);
  lookupSeq++;
  if (!username) {
    error.textContent = "Type the name or username of the person to add.";
    return;
  }
  if (!USERNAME.test(username)) {
    error.textContent = `No user is called “${username}”. Pick someone from the list, or type their exact username.`;
    return;
  }
  if (adding || !roomId) return;
  adding = true;
  $("add-member-submit").disabled = true;
  try {
    const member = await api.request("POST", `/rooms/${roomId}/members`, { username });
    if (state.current === roomId) {
      $("add-member-name").value = "";
      $("add-member-hint").textContent = HINT;
    }
    onAdded(roomId, member);
  } catch (e) {
    if (state.current === roomId) error.textContent = explain(e, username);
  } finally {
    adding = false;
    $("add-member-submit").disabled = false;
  }
}

/** The server's refusal of an add, in plain words. */
function explain(e, username) {
  if (e.status === 404) {
    return /room/i.test(e.message || "")
      ? "This room no longer exists."
      : `No user is called “${username}”. Check the spelling, or pick someone from the list.`;
  }
  if (e.status === 409) return `@${username} is already a member of this room.`;
  if (e.status === 403) return "Only the room's owner and admins can add people.";
  if (e.status === 400 && e.field === "username") {
    return `No user is called “${username}”. Pick someone from the list, or type their exact username.`;
  }
  return api.describe(e);
}
