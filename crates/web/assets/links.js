// Links in message bodies: http(s) URLs, and bare "www." ones (as https), become <a> elements
// made with DOM APIs. The text around them stays text, the link's text is set as text, and a
// link's href is only ever an http: or https: URL, so nothing a user writes can become markup
// or a script link (javascript:, data:, ...).

/** Where a link may start: a scheme we allow, or "www.", not inside a word. */
const CANDIDATE = /\b(?:https?:\/\/|www\.)[^\s<>"]+/gi;
/** Punctuation that ends a sentence rather than a URL. */
const TRAILING = /[.,:;!?'"*~]$/;
const PAIRS = { ")": "(", "]": "[" };

/** Drops trailing punctuation, and closing brackets that the URL itself did not open. */
function trim(candidate) {
  let url = candidate;
  for (;;) {
    if (TRAILING.test(url)) {
      url = url.slice(0, -1);
      continue;
    }
    const last = url.slice(-1);
    const open = PAIRS[last];
    if (open && count(url, open) < count(url, last)) {
      url = url.slice(0, -1);
      continue;
    }
    return url;
  }
}

function count(text, ch) {
  let n = 0;
  for (const c of text) if (c === ch) n++;
  return n;
}

/** The href for a piece of text, or null when it is not a web address we link. */
export function safeHref(text) {
  const withScheme = /^www\./i.test(text) ? `https://${text}` : text;
  let url;
  try {
    url = new URL(withScheme);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (!url.hostname) return null;
  return url.href;
}

/** The parts of a body: strings (to be inserted as text) and links ({text, href}). */
export function splitLinks(body) {
  const parts = [];
  let at = 0;
  for (const m of body.matchAll(CANDIDATE)) {
    const text = trim(m[0]);
    const href = text.length > "www.".length ? safeHref(text) : null;
    if (!href) continue;
    if (m.index > at) parts.push(body.slice(at, m.index));
    parts.push({ text, href });
    at = m.index + text.length;
  }
  if (at < body.length) parts.push(body.slice(at));
  return parts;
}

/** A body as nodes: text nodes, with each web address as a link opening in a new tab. */
export function linkify(body) {
  return splitLinks(String(body)).map((part) => {
    if (typeof part === "string") return document.createTextNode(part);
    const a = document.createElement("a");
    a.href = part.href;
    a.textContent = part.text;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.className = "msg-link";
    return a;
  });
}
