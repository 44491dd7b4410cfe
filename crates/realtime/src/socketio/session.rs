//! One Engine.IO session, from handshake to close: a task that speaks Socket.IO to the client
//! and the native protocol to a native connection it runs in-process.
//!
//! The native connection is the same task a WebSocket on `/api/v1/ws` gets (`connection::run`),
//! fed through a channel instead of a socket and writing into an outlet this task reads. So
//! storage, per-room order, `client_msg_id`, rate limits, revocation, resume and fan-out are the
//! native socket's own, not a copy of them: this task only translates and carries.
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_http::ws::{CloseReason, OpCode, Parser, ProtocolError};
use actix_web::web::Bytes;
use actix_ws::AggregatedMessage;
use engineioxide_core::{Packet as EnginePacket, ProtocolVersion, Sid};
use huddle_domain::ErrorCode;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::outlet::Closed;
use crate::protocol;
use crate::shared::Shared;
use crate::socketio::config::EngineConfig;
use crate::socketio::link::{Inbound, Link, Sessions, WsConn, WsReads};
use crate::socketio::native::{native_io, Native, NativeIo};
use crate::socketio::translate::{self, OWN_REF};
use crate::socketio::wire::{self, Incoming, NAMESPACE};

/// Client frames held for the native connection before this task stops reading the client.
const MAX_PENDING: usize = 32;

/// How the client is reached now.
enum Transport {
    Polling(Arc<Link>),
    Ws(WsConn),
}

/// How a session ends.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client closed, or vanished.
    Gone,
    /// Closed by the server, with a WebSocket close code for a WebSocket transport.
    Close(u16, &'static str),
}

type Step = Result<(), End>;

pub(crate) struct Session {
    shared: Arc<Shared>,
    sessions: Arc<Sessions>,
    config: EngineConfig,
    sid: Sid,
    /// Requests' way in while the session can be reached by id (polling, until upgraded).
    link: Option<Arc<Link>>,
    inbound: mpsc::Receiver<Inbound>,
    transport: Transport,
    /// A WebSocket being probed for the upgrade.
    probe: Option<WsConn>,
    native: Option<Native>,
    /// Client frames waiting for room in the native connection's queue.
    pending: VecDeque<AggregatedMessage>,
    last_pong: Instant,
}

impl Session {
    /// A session on long-polling, reachable by `sid` through `sessions`.
    pub(crate) fn polling(
        shared: Arc<Shared>,
        sessions: Arc<Sessions>,
        config: EngineConfig,
        sid: Sid,
    ) -> Self {
        let (tx, inbound) = mpsc::channel(4);
        let link = Arc::new(Link::new(tx));
        sessions.insert(sid.to_string(), link.clone());
        Self::new(
            shared,
            sessions,
            config,
            sid,
            Transport::Polling(link.clone()),
            Some(link),
            inbound,
        )
    }

    /// A session on a WebSocket from the start.
    pub(crate) fn websocket(
        shared: Arc<Shared>,
        sessions: Arc<Sessions>,
        config: EngineConfig,
        sid: Sid,
        ws: WsConn,
    ) -> Self {
        let (_, inbound) = mpsc::channel(1);
        Self::new(
            shared,
            sessions,
            config,
            sid,
            Transport::Ws(ws),
            None,
            inbound,
        )
    }

    fn new(
        shared: Arc<Shared>,
        sessions: Arc<Sessions>,
        config: EngineConfig,
        sid: Sid,
        transport: Transport,
        link: Option<Arc<Link>>,
        inbound: mpsc::Receiver<Inbound>,
    ) -> Self {
        Self {
            shared,
            sessions,
            config,
            sid,
            link,
            inbound,
            transport,
            probe: None,
            native: None,
            pending: VecDeque::new(),
            last_pong: Instant::now(),
        }
    }

    /// Runs the session: the handshake's answer first (on a WebSocket; a poll's answer is the
    /// HTTP response), then until either side ends it.
    pub(crate) async fn run(mut self, open: Option<String>) {
        let end = match open {
            Some(open) => self.send(&open).await,
            None => Ok(()),
        };
        let end = match end {
            Ok(()) => self.serve().await,
            Err(end) => end,
        };
        tracing::debug!(sid = %self.sid, ?end, "socket.io session ends");
        self.finish(end).await;
    }

    async fn serve(&mut self) -> End {
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.tick().await;
        let connect_by = Instant::now() + self.shared.config.auth_timeout;
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            let reading = self.pending.len() < MAX_PENDING;
            let step = tokio::select! {
                Some(inbound) = self.inbound.recv(), if reading => self.on_inbound(inbound).await,
                msg = next_ws(&mut self.transport), if reading => self.on_ws(msg).await,
                msg = next_probe(&mut self.probe) => self.on_probe(msg).await,
                io = native_io(&mut self.native, &mut self.pending) => match io {
                    NativeIo::Read(chunk) => self.on_native(chunk).await,
                    NativeIo::Fed => Ok(()),
                },
                _ = ping.tick() => self.on_ping_tick().await,
                () = tokio::time::sleep_until(connect_by), if self.native.is_none() => {
                    Err(End::Close(protocol::CLOSE_UNAUTHENTICATED, "no connect in time"))
                }
                _ = shutdown.wait_for(|down| *down), if self.native.is_none() => {
                    Err(End::Close(protocol::CLOSE_GOING_AWAY, "server shutting down"))
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Writes one Engine.IO packet to the client.
    async fn send(&mut self, packet: &str) -> Step {
        match &mut self.transport {
            Transport::Polling(link) => {
                if link.push(packet) {
                    Ok(())
                } else {
                    Err(End::Close(
                        protocol::CLOSE_TRY_AGAIN_LATER,
                        "client stopped polling",
                    ))
                }
            }
            Transport::Ws(ws) => match ws.outlet.try_text(packet) {
                Ok(true) => Ok(()),
                Err(_closed) => Err(End::Gone),
                Ok(false) => {
                    let wait = self.shared.config.client_timeout;
                    waited(wait, ws.outlet.text(packet)).await
                }
            },
        }
    }

    async fn on_inbound(&mut self, inbound: Inbound) -> Step {
        match inbound {
            Inbound::Packets(packets) => {
                for packet in packets {
                    self.on_packet(packet).await?;
                }
                Ok(())
            }
            Inbound::Upgrade(outlet, reads) => {
                let ws = WsConn {
                    outlet,
                    reads: WsReads::Relayed(reads),
                };
                if self.probe.is_some() || matches!(self.transport, Transport::Ws(_)) {
                    // One upgrade per session.
                    let _ = ws.outlet.close(None).await;
                } else {
                    self.probe = Some(ws);
                }
                Ok(())
            }
            Inbound::Fault => Err(End::Close(protocol::CLOSE_PROTOCOL_ERROR, "protocol error")),
        }
    }

    async fn on_ws(&mut self, msg: Option<Result<AggregatedMessage, ProtocolError>>) -> Step {
        match msg {
            Some(Ok(AggregatedMessage::Text(text))) => {
                match EnginePacket::parse(ProtocolVersion::V4, text.to_string()) {
                    Ok(packet) => self.on_packet(packet).await,
                    Err(_) => Err(End::Close(
                        protocol::CLOSE_PROTOCOL_ERROR,
                        "malformed packet",
                    )),
                }
            }
            Some(Ok(AggregatedMessage::Binary(_))) => Err(End::Close(
                protocol::CLOSE_PROTOCOL_ERROR,
                "binary data is not accepted",
            )),
            Some(Ok(AggregatedMessage::Ping(p))) => {
                if let Transport::Ws(ws) = &mut self.transport {
                    let _ = ws.outlet.pong(&p).await;
                }
                Ok(())
            }
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Ok(AggregatedMessage::Close(_))) | None => Err(End::Gone),
            Some(Err(ProtocolError::Overflow)) => {
                Err(End::Close(protocol::CLOSE_TOO_BIG, "frame too large"))
            }
            Some(Err(_)) => Err(End::Close(protocol::CLOSE_PROTOCOL_ERROR, "protocol error")),
        }
    }

    /// The upgrade: `2probe` is answered `3probe` (and the open poll is let go with a noop),
    /// then `5` moves the session, with whatever no poll took yet, to the WebSocket.
    async fn on_probe(&mut self, msg: Option<Result<AggregatedMessage, ProtocolError>>) -> Step {
        let Some(probe) = self.probe.as_mut() else {
            return Ok(());
        };
        let text = match msg {
            Some(Ok(AggregatedMessage::Text(text))) => text,
            Some(Ok(AggregatedMessage::Ping(p))) => {
                let _ = probe.outlet.pong(&p).await;
                return Ok(());
            }
            // Anything else ends the probe, not the session: polling goes on.
            _ => {
                if let Some(probe) = self.probe.take() {
                    let _ = probe.outlet.close(None).await;
                }
                return Ok(());
            }
        };
        match EnginePacket::parse(ProtocolVersion::V4, text.to_string()) {
            Ok(EnginePacket::PingUpgrade) => {
                let _ = probe.outlet.try_text("3probe");
                if let Transport::Polling(link) = &self.transport {
                    link.push("6");
                }
                Ok(())
            }
            Ok(EnginePacket::Upgrade) => {
                let Some(ws) = self.probe.take() else {
                    return Ok(());
                };
                let old = std::mem::replace(&mut self.transport, Transport::Ws(ws));
                if let Transport::Polling(link) = old {
                    let left = link.take_for_upgrade();
                    for packet in left.split('\u{1e}').filter(|p| !p.is_empty()) {
                        self.send(packet).await?;
                    }
                }
                Ok(())
            }
            _ => {
                if let Some(probe) = self.probe.take() {
                    let _ = probe.outlet.close(None).await;
                }
                Ok(())
            }
        }
    }

    async fn on_packet(&mut self, packet: EnginePacket) -> Step {
        match packet {
            EnginePacket::Pong => {
                self.last_pong = Instant::now();
                Ok(())
            }
            EnginePacket::Close => Err(End::Gone),
            EnginePacket::Message(text) => {
                if text.len() > self.shared.config.max_frame_bytes {
                    return Err(End::Close(protocol::CLOSE_TOO_BIG, "packet too large"));
                }
                self.on_socketio(&text).await
            }
            EnginePacket::Binary(_) | EnginePacket::BinaryV3(_) => Err(End::Close(
                protocol::CLOSE_PROTOCOL_ERROR,
                "binary data is not accepted",
            )),
            // Noops, and upgrade packets on the wrong transport, carry nothing.
            _ => Ok(()),
        }
    }

    async fn on_socketio(&mut self, text: &str) -> Step {
        let incoming = match wire::decode(text) {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::debug!(sid = %self.sid, error = %e, "bad socket.io packet");
                return Err(End::Close(
                    protocol::CLOSE_PROTOCOL_ERROR,
                    "malformed packet",
                ));
            }
        };
        match incoming {
            Incoming::Connect { namespace, auth } => self.on_connect(&namespace, auth).await,
            Incoming::Disconnect => {
                // The native connection ends when its feed does.
                self.native = None;
                self.pending.clear();
                Ok(())
            }
            Incoming::Event { name, arg, mut ack } => {
                if !self.native.as_ref().is_some_and(Native::ready) {
                    // Socket.IO drops events of a socket that is not connected.
                    return Ok(());
                }
                // Typing is never answered natively: its ack is given here, at once.
                let ack_here = if name == "typing" { ack.take() } else { None };
                match translate::to_native(&name, arg, ack) {
                    Ok(frame) => {
                        self.pending
                            .push_back(AggregatedMessage::Text(frame.into()));
                        match ack_here {
                            Some(id) => self.send(&wire::ack(id, &json!({"ok": true}))).await,
                            None => Ok(()),
                        }
                    }
                    Err((code, message)) => {
                        let body = json!({"code": code, "message": message});
                        let packet = match ack.or(ack_here) {
                            Some(id) => wire::ack(id, &json!({ "error": body })),
                            None => wire::event("error", &body),
                        };
                        self.send(&packet).await
                    }
                }
            }
            Incoming::Ignored => Ok(()),
        }
    }

    /// A Socket.IO connect: the token is checked here, so a bad one gets a `connect_error`
    /// saying why; a good one starts the native connection, and its `ready` is the answer.
    async fn on_connect(&mut self, namespace: &str, auth: Option<Value>) -> Step {
        if namespace != NAMESPACE {
            let packet = wire::connect_error(namespace, ErrorCode::NotFound, "no such namespace");
            return self.send(&packet).await;
        }
        if self.native.is_some() {
            return Ok(());
        }
        let token = match auth.as_ref().and_then(|a| a.get("token")) {
            Some(Value::String(token)) => token.clone(),
            _ => {
                let packet = wire::connect_error(
                    namespace,
                    ErrorCode::Unauthenticated,
                    "connect with auth: {token: <access token>}",
                );
                return self.send(&packet).await;
            }
        };
        if let Err(e) = self.shared.auth.verify_access(&token) {
            let packet = wire::connect_error(namespace, e.code(), &e.public_message());
            return self.send(&packet).await;
        }
        // On a WebSocket the native connection writes its events straight to the client.
        let text_to = match (&self.transport, &self.probe) {
            (Transport::Ws(ws), None) => Some(&ws.outlet),
            _ => None,
        };
        let native = Native::start(&self.shared, token, MAX_PENDING, text_to);
        self.native = Some(native);
        // A Socket.IO client does not sync: live messages need not wait for it.
        let sync = format!(r#"{{"type":"sync","ref":"{OWN_REF}"}}"#);
        self.pending.push_back(AggregatedMessage::Text(sync.into()));
        Ok(())
    }

    async fn on_native(&mut self, chunk: Option<Bytes>) -> Step {
        let Some(native) = self.native.as_mut() else {
            return Ok(());
        };
        let Some(chunk) = chunk else {
            // The native connection ended without a close frame.
            self.native = None;
            return Err(End::Close(
                protocol::CLOSE_INTERNAL_ERROR,
                "connection lost",
            ));
        };
        let (frames, spans) = native.take_frames(chunk);
        // Once connected on a WebSocket, the native connection's text frames are the client's
        // frames already (it speaks Socket.IO): they go on as written, a burst in one copy.
        let pass = native.ready() && matches!(self.transport, Transport::Ws(_));
        let mut run = 0..0;
        for span in spans {
            if pass && span.opcode == OpCode::Text {
                if run.is_empty() {
                    run = span.start..span.end;
                } else {
                    run.end = span.end;
                }
                continue;
            }
            self.send_raw(&frames, std::mem::replace(&mut run, 0..0))
                .await?;
            let payload = frames.slice(span.payload.clone());
            match span.opcode {
                OpCode::Text => match std::str::from_utf8(&payload) {
                    Ok(packet) => self.send(packet).await?,
                    Err(_) => tracing::warn!("a native frame that is not UTF-8"),
                },
                OpCode::Ping => self.pending.push_front(AggregatedMessage::Pong(payload)),
                OpCode::Close => {
                    let reason = Parser::try_parse_close_payload(&payload).ok().flatten();
                    return self.on_native_close(reason).await;
                }
                _ => {}
            }
        }
        self.send_raw(&frames, run).await
    }

    /// Writes `frames[run]`, whole WebSocket frames, to the client's WebSocket.
    async fn send_raw(&mut self, frames: &Bytes, run: std::ops::Range<usize>) -> Step {
        if run.is_empty() {
            return Ok(());
        }
        let Transport::Ws(ws) = &mut self.transport else {
            return Ok(());
        };
        match ws.outlet.try_raw(&frames[run.clone()]) {
            Ok(true) => Ok(()),
            Err(_closed) => Err(End::Gone),
            Ok(false) => {
                let wait = self.shared.config.client_timeout;
                waited(wait, ws.outlet.raw(frames.slice(run))).await
            }
        }
    }

    /// The native connection closed: before `ready`, a refused connect; after it, a token
    /// that ended (the socket is disconnected, and told why) or a server-side close (the
    /// transport closes, and the client reconnects by itself).
    async fn on_native_close(&mut self, reason: Option<CloseReason>) -> Step {
        let Some(native) = self.native.take() else {
            return Ok(());
        };
        self.pending.clear();
        let code = reason.as_ref().map(|r| u16::from(r.code));
        let text = reason
            .as_ref()
            .and_then(|r| r.description.clone())
            .unwrap_or_default();
        let error = match code {
            Some(protocol::CLOSE_UNAUTHENTICATED) if text == "token expired" => {
                Some(ErrorCode::TokenExpired)
            }
            Some(protocol::CLOSE_UNAUTHENTICATED) => Some(ErrorCode::Unauthenticated),
            Some(protocol::CLOSE_TOO_MANY_CONNECTIONS) => Some(ErrorCode::RateLimited),
            _ => None,
        };
        if !native.ready() {
            let code = error.unwrap_or(ErrorCode::Unavailable);
            let text = if text.is_empty() {
                "try again later".into()
            } else {
                text
            };
            return self
                .send(&wire::connect_error(NAMESPACE, code, &text))
                .await;
        }
        match error {
            Some(code) => {
                let packet = wire::event("error", &json!({"code": code, "message": text}));
                self.send(&packet).await?;
                self.send(&wire::disconnect()).await
            }
            None => Err(End::Close(
                code.unwrap_or(protocol::CLOSE_GOING_AWAY),
                "closed by the server",
            )),
        }
    }

    async fn on_ping_tick(&mut self) -> Step {
        let limit = self.config.ping_interval + self.config.ping_timeout;
        if self.last_pong.elapsed() > limit {
            return Err(End::Close(protocol::CLOSE_GOING_AWAY, "ping timeout"));
        }
        self.send("2").await
    }

    /// Closes the client's side: a WebSocket gets a close frame, an open poll a close packet.
    async fn finish(mut self, end: End) {
        self.native = None;
        if self.link.is_some() {
            self.sessions.remove(&self.sid.to_string());
        }
        if let Some(link) = self.link.take() {
            link.close();
        }
        if let Some(probe) = self.probe.take() {
            let _ = probe.outlet.close(None).await;
        }
        if let Transport::Ws(ws) = self.transport {
            let reason = match end {
                End::Gone => None,
                End::Close(code, description) => Some(CloseReason {
                    code: code.into(),
                    description: Some(description.into()),
                }),
            };
            let closing = ws.outlet.close(reason);
            let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
        }
    }
}

/// A write to a client that did not read at once: done, the client gone, or the client too
/// slow for `wait` (closed, to reconnect and sync, as a native socket is).
async fn waited(wait: Duration, write: impl Future<Output = Result<(), Closed>>) -> Step {
    match tokio::time::timeout(wait, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_closed)) => Err(End::Gone),
        Err(_) => Err(End::Close(
            protocol::CLOSE_TRY_AGAIN_LATER,
            "too slow: reconnect and sync",
        )),
    }
}

async fn next_ws(transport: &mut Transport) -> Option<Result<AggregatedMessage, ProtocolError>> {
    match transport {
        Transport::Ws(ws) => ws.reads.next().await,
        Transport::Polling(_) => std::future::pending().await,
    }
}

async fn next_probe(
    probe: &mut Option<WsConn>,
) -> Option<Result<AggregatedMessage, ProtocolError>> {
    match probe {
        Some(ws) => ws.reads.next().await,
        None => std::future::pending().await,
    }
}
