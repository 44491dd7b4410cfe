// Message search: the box in the top bar searches the messages of your rooms
// (GET /search/messages?q=, web-search syntax: words, "phrases", -exclusions) and lists the
// results in place of the room view: room, author, time and the snippet, its matched ranges
// marked. The snippet enters the page as text nodes and <mark> elements made with DOM APIs,
// never as HTML. Choosing a result opens its room at that message.
import * as api from "./api.js";
import { $, h, clear, avatar, displayName, shortTime, fullTime, roomMark } from "./dom.js";
import { directMark, isDirect, roomTitle } from "./dms.js";
import { state } from "./store.js";

const PAGE = 20;

let hooks = { show: () => {}, hide: () => {}, open: () => {} };
let query = "";
let cursor = null;
/** Each search gets a number; an answer to an older one is dropped. */
let searchSeq = 0;

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
  $("search-close").addEventListener("click", () => {
    close();
    $("search-input").focus();
  });
}

/** Forgets the search (signed out). */
export function resetSearch() {
  searchSeq++;
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
  if (more && cursor) params.set("cursor", cursor);
  try {
    const page = await api.request("GET", `/search/messages?${params}`);
    if (mySeq !== searchSeq) return;
    const items = Array.isArray(page.items) ? page.items : [];
    for (const hit of items) list.append(result(hit));
    cursor = page.next_cursor || null;
    $("search-more").hidden = !cursor;
    const n = list.children.length;
    $("search-summary").textContent = n
      ? `${n}${cursor ? "+" : ""} message${n === 1 && !cursor ? "" : "s"} matching “${q}”`
      : `No messages match “${q}”.`;
  } catch (e) {
    if (mySeq !== searchSeq) return;
    $("search-summary").textContent = `Search for “${q}”`;
    error.textContent = explain(e);
  } finally {
    if (mySeq === searchSeq) list.removeAttribute("aria-busy");
  }
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
