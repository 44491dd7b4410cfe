// The REST client and the session: tokens kept in localStorage (so a reload keeps you signed
// in), the access token refreshed silently before it expires, one refresh at a time across
// tabs (a refresh token is single-use: two tabs spending the same one would revoke the login).

const KEY = "huddle.session";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

let session = load();
let refreshTimer = null;
let inflight = null;
const listeners = new Set();

function load() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || "null");
    return s && s.access_token && s.refresh_token && s.user ? s : null;
  } catch {
    return null;
  }
}

function emit(reason) {
  for (const fn of listeners) fn(session, reason);
}

/** Calls fn(session, reason) whenever the session changes ("login", "refresh", "logout", "expired"). */
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function getSession() {
  return session;
}

/** Stores a session answer ({user, access_token, refresh_token, expires_in}). */
export function setSession(answer, reason = "login") {
  session = {
    user: answer.user,
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    expires_at: Date.now() + (answer.expires_in || 900) * 1000,
    lifetime: (answer.expires_in || 900) * 1000,
  };
  localStorage.setItem(KEY, JSON.stringify(session));
  schedule();
  emit(reason);
}

export function updateUser(user) {
  if (!session) return;
  session = { ...session, user };
  localStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(reason = "logout") {
  session = null;
  clearTimeout(refreshTimer);
  localStorage.removeItem(KEY);
  emit(reason);
}

// Another tab refreshed, signed out or signed in: follow it.
window.addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  const next = load();
  if (!next) {
    if (session) {
      session = null;
      clearTimeout(refreshTimer);
      emit("logout");
    }
    return;
  }
  if (!session || next.user.id !== session.user.id) {
    session = next;
    schedule();
    emit("login");
  } else if (next.access_token !== session.access_token) {
    session = next;
    schedule();
    emit("refresh");
  }
});

/** Plans the silent refresh: a minute before expiry, or at 75 % of a short lifetime. */
function schedule() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const lifetime = session.lifetime || 900000;
  const lead = Math.min(60000, lifetime / 4);
  const wait = Math.max(1000, session.expires_at - lead - Date.now());
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {
      // Offline or the server is down: try again soon; requests refresh on demand anyway.
      refreshTimer = setTimeout(schedule, 5000);
    });
  }, wait);
}
schedule();

async function raw(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.");
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const retry = Number(res.headers.get("retry-after")) || undefined;
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, err.field, retry);
  }
  return data;
}

/** A fresh refresh: another tab's newer tokens are adopted instead of spending ours twice. */
export function refresh() {
  if (!inflight) {
    const stale = session && session.access_token;
    inflight = withLock(() => doRefresh(stale)).finally(() => {
      inflight = null;
    });
  }
  return inflight;
}

function withLock(fn) {
  if (navigator.locks && typeof navigator.locks.request === "function") {
    return navigator.locks.request("huddle-refresh", fn);
  }
  return fn();
}

async function doRefresh(stale) {
  const stored = load();
  if (!stored) {
    if (session) clearSession("expired");
    throw new ApiError(401, "unauthenticated", "You were signed out. Please sign in again.");
  }
  if (stored.access_token !== stale && stored.expires_at - Date.now() > 15000) {
    session = stored;
    schedule();
    emit("refresh");
    return stored.access_token;
  }
  try {
    const answer = await raw("POST", "/auth/refresh", { refresh_token: stored.refresh_token });
    setSession(answer, "refresh");
    return answer.access_token;
  } catch (e) {
    // The login is over (ended here, elsewhere, or expired). Only the session this refresh
    // was for is cleared: after a sign-out here (or a new login) a late answer changes nothing.
    if ((e.status === 401 || e.status === 400) && session && session.refresh_token === stored.refresh_token) {
      clearSession("expired");
    }
    throw e;
  }
}

/** The access token, refreshed first when it is about to expire. */
export async function accessToken() {
  if (!session) throw new ApiError(401, "unauthenticated", "Please sign in.");
  if (session.expires_at - Date.now() < 15000) return refresh();
  return session.access_token;
}

/** An authenticated call; a 401 triggers one refresh and a retry. */
export async function request(method, path, body) {
  const token = await accessToken();
  try {
    return await raw(method, path, body, token);
  } catch (e) {
    if (e.status !== 401 || !session) throw e;
    const fresh = await refresh();
    return raw(method, path, body, fresh);
  }
}

/**
 * An authenticated multipart upload, over XMLHttpRequest for its progress events; a 401
 * triggers one refresh and a retry. `form()` makes the body (afresh for a retry);
 * `o.progress(sent, total)` follows the upload (total 0 when unknown) and `o.started(xhr)` gets
 * the request (to abort it: the promise then rejects with code "aborted").
 */
export async function upload(path, form, o = {}) {
  const token = await accessToken();
  try {
    return await xhr("POST", path, form(), token, o);
  } catch (e) {
    if (e.status !== 401 || !session) throw e;
    const fresh = await refresh();
    return xhr("POST", path, form(), fresh, o);
  }
}

function xhr(method, path, body, token, o) {
  return new Promise((resolve, reject) => {
    const req = new XMLHttpRequest();
    req.open(method, BASE + path);
    req.setRequestHeader("authorization", `Bearer ${token}`);
    req.upload.addEventListener("progress", (e) => {
      if (o.progress) o.progress(e.loaded, e.lengthComputable ? e.total : 0);
    });
    req.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(req.responseText);
      } catch {
        data = null;
      }
      if (req.status >= 200 && req.status < 300) {
        resolve(data);
        return;
      }
      const err = (data && data.error) || {};
      const retry = Number(req.getResponseHeader("retry-after")) || undefined;
      reject(new ApiError(req.status, err.code || `http_${req.status}`, err.message || req.statusText, err.field, retry));
    });
    req.addEventListener("error", () => reject(new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.")));
    req.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    if (o.started) o.started(req);
    req.send(body);
  });
}

export async function login(username, password) {
  setSession(await raw("POST", "/auth/login", { username, password }));
}

export async function register(username, password, displayName) {
  const body = { username, password };
  if (displayName) body.display_name = displayName;
  setSession(await raw("POST", "/auth/register", body));
}

export async function logout() {
  const s = session;
  clearSession("logout");
  if (s) {
    try {
      await raw("POST", "/auth/logout", { refresh_token: s.refresh_token });
    } catch {
      // Signed out here either way.
    }
  }
}

/**
 * Ends every session of this account, this one included (POST /auth/logout-all), then signs
 * out here exactly as `logout` does. Throws (and stays signed in) when the server refused.
 */
export async function logoutAll() {
  await request("POST", "/auth/logout-all", {});
  clearSession("logout");
}

/** Follows next_cursor through a list, up to `max` items. */
export async function listAll(path, max = 1000) {
  const out = [];
  let cursor = null;
  const sep = path.includes("?") ? "&" : "?";
  while (out.length < max) {
    const url = `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = await request("GET", url);
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

/** What to tell a person about a failed call. */
export function describe(e) {
  if (!(e instanceof ApiError)) return "Something went wrong. Please try again.";
  switch (e.code) {
    case "network":
      return e.message;
    case "invalid_credentials":
      return "Wrong username or password.";
    case "username_taken":
      return "That username is taken. Please choose another.";
    case "rate_limited":
      return e.retryAfter
        ? `Too many attempts. Please wait ${e.retryAfter} seconds and try again.`
        : "Too many attempts. Please wait a moment and try again.";
    case "forbidden":
      return "You are not allowed to do that.";
    case "not_found":
      return "That no longer exists.";
    case "unavailable":
    case "internal":
      return "The server had a problem. Please try again shortly.";
    default:
      return e.message ? e.message.charAt(0).toUpperCase() + e.message.slice(1) : "Something went wrong.";
  }
}
