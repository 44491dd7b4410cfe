// Replies: "Reply" on a message puts a "Replying to <author>: <preview>" bar above the composer
// (× or Escape cancels it) and the next send carries `reply_to`. A message that answers another
// (`reply_to: {id, seq, author, body_preview, deleted}`) shows a quote of it above its body;
// clicking the quote scrolls to the quoted message and flashes it, loading history as needed.
// Messages without `reply_to` (or with null) show no quote.
import { $, h, displayName } from "./dom.js";
import { attachmentSummary } from "./files.js";
import { state } from "./store.js";

const PREVIEW_CHARS = 120;

/** What the next send answers: { room_id, id, seq, author, body_preview } or null. */
let replying = null;

let hooks = {
  /** Shows a message of the open room: `reveal(roomId, seq)`. */
  reveal: () => {},
};

/** `handlers.reveal(roomId, seq)`. Binds the bar's cancel button. */
export function bindReplies(handlers) {
  hooks = { ...hooks, ...handlers };
  $("reply-cancel").addEventListener("click", () => {
    cancelReply();
    $("composer-input").focus();
  });
}

function preview(text) {
  const one = String(text || "").replace(/\s+/g, " ").trim();
  return one.length > PREVIEW_CHARS ? `${one.slice(0, PREVIEW_CHARS - 1)}…` : one;
}

/** Starts a reply to a message of the open room. */
export function startReply(msg) {
  if (msg.deleted) return;
  replying = { room_id: msg.room_id, id: msg.id, seq: msg.seq, author: msg.author, body_preview: preview(msg.body || attachmentSummary(msg)), deleted: false };
  renderReplyBar();
  $("composer-input").focus();
}

export function cancelReply() {
  if (!replying) return;
  replying = null;
  renderReplyBar();
}

/** Whether a reply is being written (Escape in the composer cancels it). */
export function isReplying() {
  return !!replying && replying.room_id === state.current;
}

/**
 * Takes the reply for a send in `roomId`: the quote to keep with the outbox item (its `id` is
 * the `reply_to` to send), or null. The bar closes.
 */
export function takeReply(roomId) {
  if (!replying || replying.room_id !== roomId) return null;
  const r = replying;
  replying = null;
  renderReplyBar();
  return r;
}

export function renderReplyBar() {
  const bar = $("reply-bar");
  const r = replying && replying.room_id === state.current ? replying : null;
  // The bar takes room from the messages: whoever was at the bottom stays there.
  const s = $("message-scroll");
  const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  bar.hidden = !r;
  if (r) {
    $("reply-bar-author").textContent = displayName(r.author);
    $("reply-bar-preview").textContent = r.body_preview;
  }
  if (atBottom) s.scrollTop = s.scrollHeight;
}

/**
 * The quote above a message's body, or null when it answers nothing. `reply`: the message's
 * `reply_to` (or a pending message's quote).
 */
export function quoteEl(roomId, reply) {
  if (!reply || typeof reply !== "object") return null;
  const deleted = !!reply.deleted;
  const author = reply.author ? displayName(reply.author) : "someone";
  // A file sent without a caption has no text to quote.
  const text = reply.body_preview || "a file";
  return h(
    "button",
    {
      type: "button",
      class: `reply-quote${deleted ? " deleted" : ""}`,
      "aria-label": deleted ? `Reply to a deleted message. Show it` : `Reply to ${author}: ${text}. Show it`,
      dataset: { testid: "reply-quote", quotedSeq: String(reply.seq || "") },
      onclick: () => {
        if (reply.seq) hooks.reveal(roomId, reply.seq);
      },
    },
    deleted ? null : h("span", { class: "reply-author" }, author),
    deleted ? h("span", { class: "reply-preview deleted-note" }, "deleted message") : h("span", { class: `reply-preview${reply.body_preview ? "" : " no-text"}` }, text),
  );
}

/** Forgets the reply being written (signed out). */
export function resetReplies() {
  replying = null;
  renderReplyBar();
}
