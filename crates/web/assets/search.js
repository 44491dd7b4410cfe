// Message search: the box in the top bar searches the messages of your rooms
// (GET /search/messages?q=, web-search syntax: words, "phrases", -exclusions) and lists the
// results in place of the room view: room, author, time and the snippet, its matched ranges
// marked. The snippet enters the page as text nodes and <mark> elements made with DOM APIs,
// never as HTML. Choosing a result opens its room at that message.
//
// "Filters" above the results narrows them: to one room or conversation (`room_id`), to one
// author (`author_id`, picked by name from the user directory as in people.js) and to a range of
// days (`after` = the start of the first day, `before` = the end of the last, in the browser's
// local time, sent as UTC). Changing a filter searches again; the filters stay for the next
// search until cleared.
import * as api from "./api.js";
import { $, h, clear, avatar, displayName, shortTime, fullTime, roomMark } from "./dom.js";
import { directMark, isDirect, roomTitle } from "./dms.js";
import { attachmentSummary } from "./files.js";
import { Picker, USERNAME } from "./people.js";
import { state } from "./store.js";

const PAGE = 20;

let hooks = { show: () => {}, hide: () => {}, open: () => {} };
let query = "";
let cursor = null;
/** Each search gets a number; an answer to an older one is dropped. */
let searchSeq = 0;
/** room id (null: every room), author (a user, null: anyone), from / to ("YYYY-MM-DD", "": open). */
let filters = { roomId: null, author: null, from: "", to: "" };
let authorPicker = null;
/** Each lookup of a typed author name gets a number too. */
let authorSeq = 0;

/**
 * Binds the box and the results (once, at boot). `h.show()` / `h.hide()` put the results in
 * place of the room view and back; `h.open(roomId, seq)` opens a room at a message.
 */
export function bindSearch(handlers) {
  hooks = handlers;
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run($("search-input").value.trim(), false);
  });
  $("search-input").addEventListener("keydown", (e) => {
    if (e.key === "Escape" && $("search-input").value) {
      e.preventDefault();
      e.stopPropagation();
      $("search-input").value = "";
      close();
    }
  });
  $("search-more").addEventListener("click", () => run(query, true));
  bindFilters();
  $("search-close").addEventListener("click", () => {
    close();
    $("search-input").focus();
  });
}

/** Forgets the search (signed out). */
export function resetSearch() {
  searchSeq++;
  authorSeq++;
  filters = { roomId: null, author: null, from: "", to: "" };
  if (authorPicker) authorPicker.reset();
  $("filter-from").value = "";
  $("filter-to").value = "";
  $("filter-room").value = "";
  showFilters(false);
  query = "";
  cursor = null;
  $("search-input").value = "";
  clear($("search-results"));
  $("search-error").textContent = "";
  $("search-more").hidden = true;
}

function close() {
  searchSeq++;
  hooks.hide();
}

async function run(q, more) {
  if (!q) {
    close();
    return;
  }
  const mySeq = ++searchSeq;
  const list = $("search-results");
  const error = $("search-error");
  if (!more) {
    query = q;
    cursor = null;
    clear(list);
    $("search-summary").textContent = `Searching for “${q}”…`;
    $("search-more").hidden = true;
    hooks.show();
  }
  error.textContent = "";
  list.setAttribute("aria-busy", "true");
  const params = new URLSearchParams({ q, limit: String(PAGE) });
  const range = dayRange();
  if (filters.roomId) params.set("room_id", String(filters.roomId));
  if (filters.author) params.set("author_id", String(filters.author.id));
  if (range.after) params.set("after", range.after);
  if (range.before) params.set("before", range.before);
  if (more && cursor) params.set("cursor", cursor);
  const narrowed = describeFilters();
  try {
    const page = await api.request("GET", `/search/messages?${params}`);
    if (mySeq !== searchSeq) return;
    const items = Array.isArray(page.items) ? page.items : [];
    for (const hit of items) list.append(result(hit));
    cursor = page.next_cursor || null;
    $("search-more").hidden = !cursor;
    const n = list.children.length;
    $("search-summary").textContent = n
      ? `${n}${cursor ? "+" : ""} message${n === 1 && !cursor ? "" : "s"} matching “${q}”${narrowed}`
      : `No messages match “${q}”${narrowed}.`;
  } catch (e) {
    if (mySeq !== searchSeq) return;
    $("search-summary").textContent = `Search for “${q}”`;
    error.textContent = explain(e);
  } finally {
    if (mySeq === searchSeq) list.removeAttribute("aria-busy");
  }
}

// ---- filters ----------------------------------------------------------------------------------

function bindFilters() {
  $("search-filters-btn").addEventListener("click", () => {
    const open = $("search-filters").hidden;
    showFilters(open);
    if (open) $("filter-room").focus();
  });
  $("search-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    applyFilters();
  });
  for (const id of ["filter-room", "filter-from", "filter-to"]) $(id).addEventListener("change", applyFilters);
  $("filter-clear").addEventListener("click", () => {
    authorSeq++;
    filters = { roomId: null, author: null, from: "", to: "" };
    authorPicker.reset();
    $("filter-room").value = "";
    $("filter-from").value = "";
    $("filter-to").value = "";
    applyFilters();
  });
  authorPicker = new Picker({
    input: $("filter-author"),
    list: $("filter-author-suggestions"),
    hint: $("filter-author-hint"),
    hintText: "Type a name or username, then pick the person.",
    testid: "filter-author-suggestion",
    exclude: () => false,
    excludedText: () => "",
    onPick: setAuthor,
    onEnter: authorEntered,
    onError: (text) => {
      $("search-error").textContent = text;
    },
    onType: authorTyped,
  });
  $("search-filters").addEventListener("focusout", (e) => {
    if (!e.currentTarget.contains(e.relatedTarget)) authorPicker.close();
  });
}

function showFilters(open) {
  if (open) roomOptions();
  $("search-filters").hidden = !open;
  $("search-filters-btn").setAttribute("aria-expanded", String(open));
}

/** The room select: every room and conversation of the user, by title; the chosen one kept. */
function roomOptions() {
  const select = $("filter-room");
  const rooms = Array.from(state.rooms.values())
    .map((room) => ({ room, title: roomTitle(room) }))
    .sort((a, b) => Number(isDirect(a.room)) - Number(isDirect(b.room)) || a.title.localeCompare(b.title, undefined, { sensitivity: "base" }));
  clear(select);
  select.append(h("option", { value: "" }, "All rooms"));
  for (const { room, title } of rooms) {
    const label = isDirect(room) ? `${title} (direct message)` : `${room.is_private ? "" : "#"}${title}${room.is_private ? " (private)" : ""}`;
    select.append(h("option", { value: String(room.id) }, label));
  }
  if (filters.roomId && !state.rooms.has(filters.roomId)) filters.roomId = null;
  select.value = filters.roomId ? String(filters.roomId) : "";
  renderFilterCount();
}

function renderFilterCount() {
  const n = [filters.roomId, filters.author, filters.from || filters.to].filter(Boolean).length;
  const btn = $("search-filters-btn");
  btn.textContent = n ? `Filters (${n})` : "Filters";
  btn.classList.toggle("active", n > 0);
  $("filter-clear").hidden = n === 0 && !$("filter-author").value.trim();
}

/** The fields as they are now, searched again with the query shown. */
function applyFilters() {
  const roomId = Number($("filter-room").value) || null;
  filters.roomId = roomId && state.rooms.has(roomId) ? roomId : null;
  filters.from = $("filter-from").value || "";
  filters.to = $("filter-to").value || "";
  renderFilterCount();
  const q = $("search-input").value.trim() || query;
  if (!q) return;
  const range = dayRange();
  if (range.error) {
    hooks.show();
    $("search-error").textContent = range.error;
    return;
  }
  run(q, false);
}

function setAuthor(user) {
  authorSeq++;
  filters.author = user;
  $("filter-author").value = `@${user.username}`;
  applyFilters();
}

/** Typing over a chosen author drops them (the results widen until someone is picked again). */
function authorTyped() {
  $("search-error").textContent = "";
  if (filters.author && $("filter-author").value.trim() !== `@${filters.author.username}`) {
    filters.author = null;
    applyFilters();
  }
  renderFilterCount();
}

/** Enter in the author field with no suggestion highlighted: the user with that exact username. */
async function authorEntered() {
  const name = authorPicker.typed();
  if (!name) {
    if (filters.author) {
      filters.author = null;
      applyFilters();
    }
    return;
  }
  if (filters.author && filters.author.username.toLowerCase() === name.toLowerCase()) return;
  const listed = authorPicker.listed(name);
  if (listed) {
    authorPicker.close();
    setAuthor(listed);
    return;
  }
  authorPicker.cancel();
  const mySeq = ++authorSeq;
  let found = null;
  if (USERNAME.test(name)) {
    try {
      const page = await api.request("GET", `/users?${new URLSearchParams({ q: name, limit: "20" })}`);
      const items = Array.isArray(page.items) ? page.items : [];
      found = items.find((u) => u.username.toLowerCase() === name.toLowerCase()) || null;
    } catch (e) {
      if (mySeq === authorSeq) $("search-error").textContent = api.describe(e);
      return;
    }
  }
  if (mySeq !== authorSeq) return;
  authorPicker.close();
  if (found) setAuthor(found);
  else $("search-error").textContent = `No one is called “${name}”. Pick someone from the list, or type their exact username.`;
}

/** A "YYYY-MM-DD" day's local midnight, `plus` days on, as an ISO time; null if it is none. */
function localMidnight(day, plus = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || "");
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + plus);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** `after` (the start of the from-day) and `before` (the end of the to-day: the next midnight). */
function dayRange() {
  const after = localMidnight(filters.from);
  const before = localMidnight(filters.to, 1);
  if (after && before && after >= before) return { error: "The first day is after the last one: change one of the dates." };
  return { after, before };
}

const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

function dayLabel(day) {
  const iso = localMidnight(day);
  return iso ? dayFmt.format(new Date(iso)) : day;
}

/** The filters in words, after the query in the summary: " in #launches, from Gil Grant, …". */
function describeFilters() {
  const parts = [];
  const room = filters.roomId && state.rooms.get(filters.roomId);
  if (room) parts.push(`in ${roomTitle(room)}`);
  if (filters.author) parts.push(`from ${displayName(filters.author)}`);
  if (filters.from && filters.to) parts.push(filters.from === filters.to ? `on ${dayLabel(filters.from)}` : `${dayLabel(filters.from)} – ${dayLabel(filters.to)}`);
  else if (filters.from) parts.push(`since ${dayLabel(filters.from)}`);
  else if (filters.to) parts.push(`until ${dayLabel(filters.to)}`);
  return parts.length ? ` ${parts.join(", ")}` : "";
}

function explain(e) {
  if (e.status === 400 && e.field === "q") {
    return "Search for at least one word or \"phrase\" (a -word only leaves words out), in at most 200 characters.";
  }
  return api.describe(e);
}

/** One result: a button that opens the room at the message. */
function result(hit) {
  const msg = hit.message;
  const room = state.rooms.get(msg.room_id);
  const where = room ? roomTitle(room) : "a room you left";
  const mark = room ? (isDirect(room) ? directMark(room) : roomMark(room)) : null;
  return h(
    "li",
    { class: "search-hit", dataset: { testid: "search-result", roomId: String(msg.room_id), seq: String(msg.seq) } },
    h(
      "button",
      {
        type: "button",
        class: "search-hit-button",
        "aria-label": `${displayName(msg.author)} in ${where}, ${shortTime(msg.created_at)}: ${hit.snippet}`,
        onclick: () => hooks.open(msg.room_id, msg.seq),
      },
      avatar(msg.author, "small"),
      h(
        "span",
        { class: "search-hit-main" },
        h(
          "span",
          { class: "search-hit-meta" },
          h("span", { class: "author", dataset: { testid: "search-author" } }, displayName(msg.author)),
          h("span", { class: "search-hit-room" }, mark, h("span", { dataset: { testid: "search-room" } }, where)),
          h("time", { datetime: msg.created_at, title: fullTime(msg.created_at) }, shortTime(msg.created_at)),
        ),
        h("span", { class: "search-snippet", dataset: { testid: "search-snippet" } }, highlighted(hit.snippet, hit.highlights)),
        attachmentSummary(msg) ? h("span", { class: "search-hit-files", dataset: { testid: "search-files" } }, `With ${attachmentSummary(msg)}`) : null,
      ),
    ),
  );
}

/**
 * A snippet as nodes: text nodes, with each highlighted range in a <mark>. Ranges are
 * `[start, end)` in characters (Unicode code points, as the server counts them); out-of-range,
 * empty and overlapping parts are ignored.
 */
export function highlighted(snippet, ranges) {
  const chars = Array.from(String(snippet));
  const sorted = (Array.isArray(ranges) ? ranges : [])
    .filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
    .map(([s, e]) => [Math.max(0, s), Math.min(chars.length, e)])
    .filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0]);
  const nodes = [];
  let at = 0;
  for (const [start, end] of sorted) {
    if (start < at) continue;
    if (start > at) nodes.push(document.createTextNode(chars.slice(at, start).join("")));
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(start, end).join("");
    nodes.push(mark);
    at = end;
  }
  if (at < chars.length) nodes.push(document.createTextNode(chars.slice(at).join("")));
  return nodes;
}
