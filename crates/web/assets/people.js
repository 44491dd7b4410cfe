// Picking people by name. A picker is a text field that looks people up in the user directory as
// you type (GET /users?q=, debounced; username or display-name prefix) and lists them with
// display name and @username: arrow keys move through the list, Enter or a click picks the one
// highlighted, Escape closes the list. Two places use it: the members panel's "Add people"
// (POST /rooms/{id}/members {username}, the server's refusals put in plain words) and the
// "New message" dialog (dms.js).
import * as api from "./api.js";
import { $, h, clear, avatar, displayName } from "./dom.js";
import { state } from "./store.js";

const LOOKUP_DELAY_MS = 200;
const SHOWN = 8;
export const USERNAME = /^[a-zA-Z0-9_.-]{3,32}$/;

/**
 * Directory suggestions under a text field.
 *
 * `o`: `input`, `list` and `hint` (elements), `hintText` (the hint when nothing is typed),
 * `testid` (of each suggestion), `exclude(user)` (people not to offer), `excludedText(q)` (the
 * hint when everyone found is excluded), `onPick(user)`, `onEnter()` (Enter with nothing
 * highlighted), `onError(text)` (a failed lookup), `onType()` (any edit of the field).
 */
export class Picker {
  constructor(o) {
    this.o = o;
    this.timer = null;
    /** Each lookup gets a number; an answer to an older one is dropped. */
    this.seq = 0;
    /** The users listed, and which of them the arrow keys are on (-1: none). */
    this.options = [];
    this.active = -1;
    o.input.addEventListener("input", () => this.onInput());
    o.input.addEventListener("keydown", (e) => this.onKey(e));
    // A click on a suggestion keeps the focus in the field.
    o.list.addEventListener("mousedown", (e) => e.preventDefault());
  }

  /** What was typed, without a leading "@". */
  typed() {
    return this.o.input.value.trim().replace(/^@/, "");
  }

  /** The listed person whose username is `name` (any case), if any. */
  listed(name) {
    return this.options.find((u) => u.username.toLowerCase() === name.toLowerCase()) || null;
  }

  /** Empties the field, the hint and the list. */
  reset() {
    this.cancel();
    this.o.input.value = "";
    this.o.hint.textContent = this.o.hintText;
    this.close();
  }

  /** Forgets any lookup under way. */
  cancel() {
    clearTimeout(this.timer);
    this.seq++;
  }

  onInput() {
    if (this.o.onType) this.o.onType();
    clearTimeout(this.timer);
    const q = this.typed();
    if (!q) {
      this.seq++;
      this.o.hint.textContent = this.o.hintText;
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.lookup(q), LOOKUP_DELAY_MS);
  }

  async lookup(q) {
    const mySeq = ++this.seq;
    const context = state.current;
    // A few more than shown: some may be left out.
    const params = new URLSearchParams({ q, limit: String(SHOWN + 8) });
    let page;
    try {
      page = await api.request("GET", `/users?${params}`);
    } catch (e) {
      if (mySeq !== this.seq) return;
      this.close();
      this.o.onError(api.describe(e));
      return;
    }
    if (mySeq !== this.seq || context !== state.current) return;
    const found = Array.isArray(page.items) ? page.items : [];
    const users = found.filter((u) => !this.o.exclude(u)).slice(0, SHOWN);
    this.render(users);
    const hint = this.o.hint;
    if (users.length) {
      hint.textContent = `${users.length === 1 ? "1 person matches" : `${users.length} people match`}. Use the arrow keys and Enter, or click.`;
    } else if (found.length) {
      hint.textContent = this.o.excludedText(q);
    } else {
      hint.textContent = `No one matches “${q}”.`;
    }
  }

  render(users) {
    const { list, input } = this.o;
    clear(list);
    this.options = users;
    this.active = -1;
    users.forEach((u, i) => {
      list.append(
        h(
          "li",
          {
            id: `${list.id}-${u.id}`,
            class: "suggestion",
            role: "option",
            "aria-selected": "false",
            dataset: { testid: this.o.testid, username: u.username, userId: String(u.id) },
            onclick: () => this.pick(i),
          },
          avatar(u, "small"),
          h("span", { class: "suggestion-text" }, h("span", { class: "suggestion-name" }, displayName(u)), h("span", { class: "suggestion-username" }, `@${u.username}`)),
        ),
      );
    });
    list.hidden = users.length === 0;
    input.setAttribute("aria-expanded", String(users.length > 0));
    input.removeAttribute("aria-activedescendant");
  }

  close() {
    this.options = [];
    this.active = -1;
    clear(this.o.list);
    this.o.list.hidden = true;
    this.o.input.setAttribute("aria-expanded", "false");
    this.o.input.removeAttribute("aria-activedescendant");
  }

  isOpen() {
    return !this.o.list.hidden && this.options.length > 0;
  }

  setActive(i) {
    this.active = i;
    for (const [n, el] of Array.from(this.o.list.children).entries()) {
      el.setAttribute("aria-selected", String(n === i));
      if (n === i) {
        this.o.input.setAttribute("aria-activedescendant", el.id);
        el.scrollIntoView({ block: "nearest" });
      }
    }
  }

  onKey(e) {
    if (e.isComposing) return;
    const open = this.isOpen();
    if (e.key === "ArrowDown" && open) {
      e.preventDefault();
      this.setActive(this.active + 1 >= this.options.length ? 0 : this.active + 1);
    } else if (e.key === "ArrowUp" && open) {
      e.preventDefault();
      this.setActive(this.active <= 0 ? this.options.length - 1 : this.active - 1);
    } else if (e.key === "Enter" && open && this.active >= 0) {
      e.preventDefault();
      this.pick(this.active);
    } else if (e.key === "Enter" && this.o.onEnter) {
      e.preventDefault();
      this.o.onEnter();
    } else if (e.key === "Escape" && open) {
      // Closes the list only, not what it sits in.
      e.preventDefault();
      e.stopPropagation();
      this.close();
    }
  }

  pick(i) {
    const user = this.options[i];
    if (!user) return;
    this.close();
    this.o.onPick(user);
  }
}

// ---- the members panel's "Add people" ---------------------------------------------------------

const HINT = "Type a name or username, then pick the person (arrow keys and Enter, or click).";

let onAdded = () => {};
let adder = null;
let adding = false;

/** Binds the field (once, at boot); `handlers.onAdded(roomId, member)` runs after an add. */
export function bindPeople(handlers) {
  onAdded = handlers.onAdded;
  adder = new Picker({
    input: $("add-member-name"),
    list: $("add-member-suggestions"),
    hint: $("add-member-hint"),
    hintText: HINT,
    testid: "member-suggestion",
    exclude: (u) => {
      const members = state.members.get(state.current);
      return !!(members && members.has(u.id));
    },
    excludedText: (q) => `Everyone matching “${q}” is already in this room.`,
    onPick: (user) => {
      $("add-member-name").value = user.username;
      add(user.username);
    },
    onError: (text) => {
      $("add-member-error").textContent = text;
    },
    onType: () => {
      $("add-member-error").textContent = "";
    },
  });
  $("add-member-form").addEventListener("submit", (e) => {
    e.preventDefault();
    addTyped();
  });
  $("add-member-form").addEventListener("focusout", (e) => {
    if (!e.currentTarget.contains(e.relatedTarget)) adder.close();
  });
}

/** Empties the field and the list (another room opened, or signed out). */
export function resetPeople() {
  if (!adder) return;
  adder.reset();
  $("add-member-error").textContent = "";
}

/** Enter or "Add" with nothing picked: the listed person whose username was typed, else the text. */
function addTyped() {
  const name = adder.typed();
  const listed = adder.listed(name);
  adder.close();
  add(listed ? listed.username : name);
}

async function add(username) {
  const roomId = state.current;
  const error = $("add-member-error");
  error.textContent = "";
  adder.cancel();
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
