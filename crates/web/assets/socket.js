// The WebSocket connection: authenticates with a first `auth` frame, announces `ready`,
// answers requests by `ref`, reconnects with backoff (at once after a token refresh for 4401),
// and notices a dead link with its own pings.
import { randomId } from "./dom.js";

const PING_EVERY = 20000;
const PONG_WITHIN = 10000;
const MAX_BACKOFF = 10000;
const REQUEST_TIMEOUT = 15000;

export class Socket {
  /**
   * @param {object} o
   * @param {() => Promise<string>} o.token   the access token to authenticate with
   * @param {() => Promise<string>} o.refresh a refreshed access token (after a 4401)
   * @param {(frame: object) => void} o.onFrame every server frame
   * @param {(state: string, info: object) => void} o.onState "connecting" | "online" | "offline"
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.pending = new Map();
    this.retryAt = 0;
    this.needRefresh = false;
    this.onOnline = () => this.reconnectNow();
    this.onVisible = () => {
      if (document.visibilityState === "visible" && !this.ws && !this.stopped) this.reconnectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.timer);
    this.teardown(1000, "signed out");
  }

  /** Tries now instead of waiting for the backoff. */
  reconnectNow() {
    if (this.stopped || this.ready) return;
    clearTimeout(this.timer);
    if (!this.ws) this.connect();
  }

  async connect() {
    if (this.stopped || this.ws) return;
    this.setState("connecting");
    let token;
    try {
      token = this.needRefresh ? await this.o.refresh() : await this.o.token();
      this.needRefresh = false;
    } catch (e) {
      if (e && e.status === 401) {
        // The session is over; the app shows the sign-in screen.
        this.stop();
        return;
      }
      this.scheduleReconnect();
      return;
    }
    if (this.stopped || this.ws) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
    ws.onmessage = (ev) => this.onMessage(ws, ev);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
    ws.onerror = () => {
      // onclose follows.
    };
  }

  onMessage(ws, ev) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (frame.type === "ready") {
      this.ready = true;
      this.attempt = 0;
      this.startPings();
      this.setState("online");
    } else if (frame.type === "pong") {
      clearTimeout(this.pongTimer);
    }
    if (frame.ref && this.pending.has(frame.ref)) {
      const p = this.pending.get(frame.ref);
      this.pending.delete(frame.ref);
      clearTimeout(p.timer);
      if (frame.type === "error") p.reject(frame);
      else p.resolve(frame);
    }
    this.o.onFrame(frame);
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.teardown();
    if (this.stopped) return;
    if (code === 4401) {
      // Token problem: refresh, then reconnect straight away (once; then back off).
      this.needRefresh = true;
      if (this.attempt === 0) {
        this.attempt = 1;
        this.setState("connecting");
        this.connect();
        return;
      }
    }
    this.scheduleReconnect(code, reason);
  }

  teardown(code, reason) {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code || 1000, reason || "");
      } catch {
        // Already closing.
      }
    }
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject({ type: "error", code: "disconnected", message: "the connection dropped" });
    }
    this.pending.clear();
  }

  scheduleReconnect(code) {
    clearTimeout(this.timer);
    const base = Math.min(MAX_BACKOFF, 500 * 2 ** this.attempt);
    const delay = code === 1001 && this.attempt === 0 ? 1000 : base / 2 + Math.random() * (base / 2);
    this.attempt = Math.min(this.attempt + 1, 10);
    this.retryAt = Date.now() + delay;
    this.setState("offline", { retryAt: this.retryAt, code });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.ready) return;
      this.sendRaw({ type: "ping", ref: `p-${randomId()}` });
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => {
        // The link is dead though the browser has not noticed: start over.
        const ws = this.ws;
        if (ws) this.onClose(ws, 4000, "no pong");
      }, PONG_WITHIN);
    }, PING_EVERY);
  }

  setState(state, info = {}) {
    this.o.onState(state, info);
  }

  sendRaw(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame with a fresh `ref` and resolves with the reply (rejects with an `error` frame). */
  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ready) {
        reject({ type: "error", code: "disconnected", message: "not connected" });
        return;
      }
      const ref = `r-${randomId()}`;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject({ type: "error", code: "timeout", message: "no answer" });
      }, REQUEST_TIMEOUT);
      this.pending.set(ref, { resolve, reject, timer });
      if (!this.sendRaw({ ...frame, ref })) {
        this.pending.delete(ref);
        clearTimeout(timer);
        reject({ type: "error", code: "disconnected", message: "not connected" });
      }
    });
  }

  /** A fire-and-forget frame (typing); dropped when offline. */
  notify(frame) {
    if (this.ready) this.sendRaw(frame);
  }

  /** Swaps in a refreshed access token on the open connection. */
  reauth(token) {
    if (this.ready) this.request({ type: "reauth", token }).catch(() => {});
  }
}
