// The profile's "Sessions" section: every login of this account (GET /users/me/sessions), with
// a way to end any other one (DELETE /users/me/sessions/{id}) or all of them, this one included
// (POST /auth/logout-all). Server text only enters the page as text nodes and attributes.
import * as api from "./api.js";
import { $, h, clear, shortTime, fullTime } from "./dom.js";
import { confirmDialog } from "./views.js";

const AGENT_MAX = 60;

/** Each load gets a number; an answer to an older load is dropped. */
let loadSeq = 0;

/** Binds the section's static controls (once, at boot). */
export function bindSessions() {
  $("logout-all-btn").addEventListener("click", logoutEverywhere);
}

/** Shows the list afresh (called when the profile dialog opens). */
export async function loadSessions() {
  const mySeq = ++loadSeq;
  const list = $("sessions-list");
  $("sessions-error").textContent = "";
  list.setAttribute("aria-busy", "true");
  if (!list.firstChild) list.append(h("li", { class: "muted session-note" }, "Loading sessions…"));
  try {
    const sessions = await api.request("GET", "/users/me/sessions");
    if (mySeq !== loadSeq) return;
    render(Array.isArray(sessions) ? sessions : []);
  } catch (ex) {
    if (mySeq !== loadSeq) return;
    clear(list);
    $("sessions-error").textContent = api.describe(ex);
  } finally {
    if (mySeq === loadSeq) list.removeAttribute("aria-busy");
  }
}

/** Forgets what was shown (on sign-out, so the next account never sees this one's list). */
export function resetSessions() {
  loadSeq++;
  clear($("sessions-list"));
  $("sessions-error").textContent = "";
  $("logout-all-btn").disabled = false;
}

function render(sessions) {
  const list = $("sessions-list");
  clear(list);
  if (!sessions.length) {
    list.append(h("li", { class: "muted session-note" }, "No sessions."));
    return;
  }
  for (const s of sessions) list.append(row(s));
}

function row(s) {
  const current = s.current === true;
  const agent = s.user_agent ? String(s.user_agent) : "";
  const name = h(
    "span",
    { class: "session-name", "data-testid": "session-name", title: agent || undefined },
    describeAgent(agent),
  );
  const head = h("div", { class: "session-head" }, name);
  if (current) head.append(h("span", { class: "session-badge", "data-testid": "session-current" }, "This device"));
  const meta = h(
    "p",
    { class: "session-meta" },
    "Signed in ",
    timeEl(s.created_at),
    " · last active ",
    timeEl(s.last_used_at),
  );
  const li = h(
    "li",
    { class: "session", "data-testid": "session", dataset: { sessionId: String(s.id), current: String(current) } },
    h("div", { class: "session-info" }, head, meta),
  );
  if (!current) {
    const label = `Sign out ${describeAgent(agent)}`;
    const button = h(
      "button",
      { type: "button", class: "tiny danger", "data-testid": "end-session", "aria-label": label },
      "Sign out",
    );
    button.addEventListener("click", () => endSession(s.id, button));
    li.append(button);
  }
  return li;
}

function timeEl(iso) {
  return h("time", { datetime: iso || undefined, title: fullTime(iso) || undefined }, relativeTime(iso));
}

async function endSession(id, button) {
  button.disabled = true;
  $("sessions-error").textContent = "";
  try {
    await api.request("DELETE", `/users/me/sessions/${encodeURIComponent(id)}`);
  } catch (ex) {
    // Already over (404): the reload below shows it gone; anything else is explained.
    if (ex.code !== "not_found") {
      if (!api.getSession()) return;
      $("sessions-error").textContent = api.describe(ex);
      button.disabled = false;
      return;
    }
  }
  if (api.getSession()) loadSessions();
}

async function logoutEverywhere() {
  const ok = await confirmDialog(
    "Sign out everywhere?",
    "Every device signed in to your account, this one included, will be signed out.",
    "Sign out everywhere",
  );
  if (!ok || !api.getSession()) return;
  const button = $("logout-all-btn");
  button.disabled = true;
  $("sessions-error").textContent = "";
  try {
    // On success the app returns to the sign-in screen (the session listener).
    await api.logoutAll();
  } catch (ex) {
    if (api.getSession()) $("sessions-error").textContent = api.describe(ex);
  } finally {
    button.disabled = false;
  }
}

// ---- readable text --------------------------------------------------------------------------

/** "Firefox on Linux", "Safari on iOS"; an unknown agent as itself, trimmed. */
export function describeAgent(ua) {
  const s = (ua || "").replace(/\s+/g, " ").trim();
  if (!s) return "Unknown device";
  const browser = browserOf(s);
  const os = osOf(s);
  if (browser && os) return `${browser} on ${os}`;
  if (browser) return browser;
  return s.length > AGENT_MAX ? `${s.slice(0, AGENT_MAX - 1)}…` : s;
}

function browserOf(s) {
  if (/\bEdg(e|A|iOS)?\//.test(s)) return "Edge";
  if (/\b(OPR|Opera)\//.test(s)) return "Opera";
  if (/\bSamsungBrowser\//.test(s)) return "Samsung Internet";
  if (/\b(Firefox|FxiOS)\//.test(s)) return "Firefox";
  if (/\bHeadlessChrome\//.test(s)) return "Chrome (headless)";
  if (/\b(Chrome|CriOS|Chromium)\//.test(s)) return "Chrome";
  if (/\bVersion\/[\d.]+.*\bSafari\//.test(s)) return "Safari";
  return null;
}

function osOf(s) {
  if (/\bAndroid\b/.test(s)) return "Android";
  if (/\biPad\b/.test(s)) return "iPadOS";
  if (/\b(iPhone|iPod)\b/.test(s)) return "iOS";
  if (/\bWindows\b/.test(s)) return "Windows";
  if (/\bCrOS\b/.test(s)) return "ChromeOS";
  if (/\b(Macintosh|Mac OS X)\b/.test(s)) return "macOS";
  if (/\bLinux\b/.test(s)) return "Linux";
  return null;
}

const relFmt = typeof Intl.RelativeTimeFormat === "function" ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;

/** "just now", "5 minutes ago", "yesterday"; a local date past a week. */
export function relativeTime(iso) {
  const t = iso ? new Date(iso).getTime() : NaN;
  if (Number.isNaN(t)) return "at an unknown time";
  const secs = Math.round((Date.now() - t) / 1000);
  if (secs < 45) return "just now";
  if (!relFmt || secs >= 7 * 86400) return shortTime(iso);
  const mins = Math.round(secs / 60);
  if (mins < 60) return relFmt.format(-mins, "minute");
  const hours = Math.round(mins / 60);
  if (hours < 24) return relFmt.format(-hours, "hour");
  return relFmt.format(-Math.round(hours / 24), "day");
}
