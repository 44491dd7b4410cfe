//! One socket, from upgrade to close.
//!
//! The connection task reads frames, writes frames and keeps time (heartbeats, token expiry,
//! the sync grace). The connection task submits sends to the message writer itself, as they
//! arrive, so a client's sends are stored in the order it sent them while the socket keeps
//! flowing, and writes their acks in send order as they are stored: no hop through another task,
//! which on a busy worker thread costs a turn of its run queue each way. Other commands that
//! touch storage run on a worker task, one at a time. The two never overlap: a command waits
//! for the acks of the sends before it, and a send for the replies of the commands before it
//! (reading stops meanwhile), so every reply is written in command order.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use futures_util::stream::FuturesOrdered;

use futures_util::StreamExt;
use huddle_auth::AccessClaims;
use huddle_domain::repository::{HistoryWindow, Stored};
use huddle_domain::{DomainError, DomainEvent, ErrorCode, RoomId, UserId};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::delivery::Delivery;
use crate::hub::handle::HubCommand;
use crate::link::{ConnId, Kill, Outbound};
use crate::outbox::{outbox, OutboxReceiver};
use crate::outlet::Outlet;
use crate::protocol::{self, ClientFrame, Frame};
use crate::shared::Shared;
use crate::user_slots::{Slot, UserSlots};

/// Most queued events handled in one turn of a connection's loop.
const OUTBOUND_BATCH: usize = 256;

/// Pages of a `sync` replay.
const REPLAY_PAGE: usize = 200;

/// Counts the socket as open for shutdown until dropped.
struct ActiveGuard(Arc<Shared>);

impl ActiveGuard {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.active.fetch_add(1, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the worker sends back to the connection task.
enum Reply {
    Frame(String),
    Replay {
        room_id: RoomId,
        items: Vec<(i64, Frame)>,
    },
    ReplayDone {
        room_id: RoomId,
    },
}

/// How the connection ends.
enum End {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer vanished; nothing more to send but the closing handshake.
    PeerGone,
    /// The peer sent a close frame: answered at once, echoing its code (RFC 6455, 5.5.1).
    PeerClosed(Option<CloseReason>),
}

/// The answer to a peer's close frame: its own code, or none when it gave none.
fn echo(session: Outlet, theirs: Option<CloseReason>) -> Pin<Box<impl Future<Output = ()>>> {
    let reply = theirs.map(|r| CloseReason {
        code: r.code,
        description: None,
    });
    Box::pin(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close(reply)).await;
    })
}

/// Boxed, like every wait that is rare or brief: a connection's future is as large as the
/// largest wait it contains, and keeps that size for as long as the socket is open.
fn close(
    session: Outlet,
    code: u16,
    reason: &str,
    wait: Duration,
) -> Pin<Box<impl Future<Output = ()>>> {
    let reason = CloseReason {
        code: CloseCode::from(code),
        description: Some(reason.to_owned()),
    };
    Box::pin(async move {
        let _ = tokio::time::timeout(wait, session.close(Some(reason))).await;
    })
}

fn token_deadline(claims: &AccessClaims) -> Instant {
    Instant::now() + Duration::from_secs(claims.expires_in())
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    session: Outlet,
    mut stream: AggregatedMessageStream,
    header_token: Option<String>,
) {
    let _active = ActiveGuard::new(&shared);
    let mut shutdown = shared.shutdown.subscribe();
    // Boxed, with all its locals: this future keeps room for every local it ever holds (moved
    // out or not) for as long as the connection lives, and none of the set-up's is needed.
    let set_up = set_up(&shared, session, &mut stream, header_token, &mut shutdown);
    let Some(SetUp {
        mut state,
        mut rx,
        ready,
        slot: _slot,
    }) = Box::pin(set_up).await
    else {
        return;
    };
    let conn = state.conn;
    let kill = state.kill.clone();

    let mut cmds = Commands::default();

    let end = match state.write(ready).await {
        Err(end) => end,
        Ok(()) => {
            let mut heartbeat = tokio::time::interval(shared.config.heartbeat_interval);
            heartbeat.tick().await;
            // The timers and waits live as long as the loop and are reset when their deadline
            // moves: made afresh on every turn, they would be registered (under a lock) and
            // dropped again for every frame written.
            let token_expiry = tokio::time::sleep_until(state.token_expires);
            tokio::pin!(token_expiry);
            let grace_end = tokio::time::sleep_until(state.grace.unwrap_or_else(Instant::now));
            tokio::pin!(grace_end);
            let killed = kill.wait();
            tokio::pin!(killed);
            let shutting_down = async {
                // Ends when shutdown starts, or when its sender is gone.
                while shutdown.changed().await.is_ok() {
                    if *shutdown.borrow() {
                        break;
                    }
                }
            };
            tokio::pin!(shutting_down);
            // Once shutdown starts, the socket keeps reading until the client has been quiet
            // for `drain_quiet` (each frame read moves the timer on), and no later than
            // `drain_limit`. The sync grace's timer serves (the grace ends with the shutdown),
            // so an idle connection carries no timer of its own for this.
            let mut drain_until: Option<Instant> = None;
            // The handlers of client frames, replies, heartbeats and shutdown are boxed while
            // they run: inline, the largest of them would be part of this future, and so of
            // every idle connection, for as long as the socket is open. Deliveries, the hot
            // path, stay inline (and small: a write only boxes when it has to wait).
            loop {
                let step = tokio::select! {
                    code = &mut killed => Err(End::Close(code, protocol::kill_reason(code))),
                    () = &mut shutting_down, if drain_until.is_none() => {
                        // Keep reading: frames the client sent before it sees our close frame
                        // are answered, not dropped.
                        let now = Instant::now();
                        drain_until = Some(now + shared.config.drain_limit);
                        grace_end.as_mut().reset(now + shared.config.drain_quiet);
                        if state.grace.take().is_some() {
                            let frames = state.delivery.release_all();
                            state.write_all(frames).await
                        } else {
                            Ok(())
                        }
                    }
                    // Not while a command waits for the acks before it, nor while the most
                    // sends are pipelined: the client waits, in its socket's buffers.
                    msg = stream.next(), if cmds.reading() => {
                        if let Some(limit) = drain_until {
                            let next = limit.min(Instant::now() + shared.config.drain_quiet);
                            grace_end.as_mut().reset(next);
                        }
                        Box::pin(state.on_incoming(msg, &mut cmds)).await
                    }
                    Some(out) = rx.recv() => state.on_outbound_batch(out, &mut rx).await,
                    Some(ack) = next_ack(&mut cmds.acks) => state.on_ack(ack, &mut cmds).await,
                    reply = next_reply(&mut cmds.worker) => match reply {
                        Some(reply) => Box::pin(state.on_reply(reply)).await,
                        // The worker went idle and every reply of it was written.
                        None => {
                            cmds.worker = None;
                            Box::pin(state.resume(&mut cmds)).await
                        }
                    },
                    _ = heartbeat.tick() => Box::pin(state.on_heartbeat()).await,
                    () = &mut token_expiry => {
                        Err(End::Close(protocol::CLOSE_UNAUTHENTICATED, "token expired"))
                    }
                    () = &mut grace_end, if drain_until.is_some() || state.grace.is_some() => {
                        match drain_until {
                            Some(limit) => {
                                let now = Instant::now();
                                if cmds.idle() || now >= limit {
                                    // Finish what was received, then close.
                                    Box::pin(state.drain(&mut cmds)).await;
                                    Err(End::Close(protocol::CLOSE_GOING_AWAY, "server shutting down"))
                                } else {
                                    // Quiet, but answers are still due: look again shortly.
                                    let next = limit.min(now + shared.config.drain_quiet);
                                    grace_end.as_mut().reset(next);
                                    Ok(())
                                }
                            }
                            None => {
                                state.grace = None;
                                let frames = state.delivery.release_all();
                                state.write_all(frames).await
                            }
                        }
                    }
                };
                if let Err(end) = step {
                    break end;
                }
                if token_expiry.deadline() != state.token_expires {
                    token_expiry.as_mut().reset(state.token_expires);
                }
            }
        }
    };

    shared.hub.send(HubCommand::Unregister { conn });
    drop(cmds);
    let ConnState { session, .. } = state;
    match end {
        End::Close(code, reason) => {
            tracing::debug!(conn, code, reason, "closing socket");
            let wait = if code == protocol::CLOSE_TRY_AGAIN_LATER {
                shared.config.client_timeout
            } else {
                Duration::from_secs(2)
            };
            close(session, code, reason, wait).await;
        }
        End::PeerGone => {
            let closing = tokio::time::timeout(Duration::from_secs(1), session.close(None));
            let _ = Box::pin(closing).await;
        }
        End::PeerClosed(theirs) => echo(session, theirs).await,
    }
}

/// What a connection keeps of its set-up.
struct SetUp {
    state: ConnState,
    rx: OutboxReceiver,
    /// The `ready` frame, to write first.
    ready: String,
    /// Held for as long as the socket is open.
    slot: Slot,
}

/// Authenticates the socket, loads its user and rooms and registers it with the hub; `None`
/// when it was closed instead.
async fn set_up(
    shared: &Arc<Shared>,
    mut session: Outlet,
    stream: &mut AggregatedMessageStream,
    header_token: Option<String>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<SetUp> {
    if *shutdown.borrow() {
        close(
            session,
            protocol::CLOSE_GOING_AWAY,
            "server shutting down",
            Duration::from_secs(1),
        )
        .await;
        return None;
    }
    let claims = match authenticate(shared, &mut session, stream, header_token, shutdown).await {
        Ok(c) => c,
        Err(End::Close(code, reason)) => {
            close(session, code, reason, Duration::from_secs(2)).await;
            return None;
        }
        Err(End::PeerGone) => return None,
        Err(End::PeerClosed(theirs)) => {
            echo(session, theirs).await;
            return None;
        }
    };
    let Ok(user_id) = claims.user_id() else {
        close(
            session,
            protocol::CLOSE_UNAUTHENTICATED,
            "invalid access token",
            Duration::from_secs(2),
        )
        .await;
        return None;
    };

    let Some(slot) = UserSlots::acquire(&shared.user_slots, user_id) else {
        tracing::info!(user_id, "socket refused: too many connections");
        close(
            session,
            protocol::CLOSE_TOO_MANY_CONNECTIONS,
            "too many connections",
            Duration::from_secs(2),
        )
        .await;
        return None;
    };

    // Membership changes the hub handles after this may be missing from the rooms read next;
    // the hub applies them on registration.
    let since_epoch = shared.hub.membership_epoch();
    let chat = shared.chat.clone();
    let loaded = actix_web::web::block(move || -> Result<_, DomainError> {
        Ok((chat.user(user_id)?, chat.rooms_of(user_id)?))
    })
    .await;
    let (user, rooms) = match loaded {
        Ok(Ok(v)) => v,
        Ok(Err(DomainError::NotFound(_))) => {
            close(
                session,
                protocol::CLOSE_UNAUTHENTICATED,
                "unknown user",
                Duration::from_secs(2),
            )
            .await;
            return None;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "socket set-up failed");
            close(
                session,
                protocol::CLOSE_INTERNAL_ERROR,
                "temporarily unavailable",
                Duration::from_secs(2),
            )
            .await;
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "socket set-up task failed");
            close(
                session,
                protocol::CLOSE_INTERNAL_ERROR,
                "internal error",
                Duration::from_secs(2),
            )
            .await;
            return None;
        }
    };

    let conn: ConnId = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = outbox(shared.config.outbound_queue);
    let kill = Arc::new(Kill::default());
    shared.hub.send(HubCommand::Register {
        conn,
        user_id,
        rooms: rooms.clone(),
        since_epoch,
        tx,
        kill: kill.clone(),
        session_id: Arc::from(claims.sid.as_str()),
    });
    tracing::debug!(conn, user_id, rooms = rooms.len(), "socket ready");

    // Rendered at once: the JSON tree would otherwise live as long as the connection.
    let ready = protocol::ready(&user, &rooms, &format!("{}-{conn}", shared.node));
    let hold = !shared.config.sync_grace.is_zero();
    let state = ConnState {
        shared: shared.clone(),
        session,
        user_id,
        conn,
        delivery: Delivery::new(rooms.iter().map(|r| r.room_id), hold),
        grace: hold.then(|| Instant::now() + shared.config.sync_grace),
        token_expires: token_deadline(&claims),
        last_seen: Instant::now(),
        last_typing: None,
        kill,
    };
    Some(SetUp {
        state,
        rx,
        ready,
        slot,
    })
}

/// Waits for credentials: the upgrade's header, or a first `auth` frame within the timeout
/// (cut short by a shutdown, which closes with 1001 like any open socket).
async fn authenticate(
    shared: &Shared,
    session: &mut Outlet,
    stream: &mut AggregatedMessageStream,
    header_token: Option<String>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<AccessClaims, End> {
    let verify = |token: &str| {
        shared.auth.verify_access(token).map_err(|e| match e {
            huddle_auth::AuthError::TokenExpired => {
                End::Close(protocol::CLOSE_UNAUTHENTICATED, "token expired")
            }
            huddle_auth::AuthError::Unauthenticated(huddle_auth::SESSION_ENDED) => {
                End::Close(protocol::CLOSE_UNAUTHENTICATED, "session ended")
            }
            _ => End::Close(protocol::CLOSE_UNAUTHENTICATED, "invalid access token"),
        })
    };
    if let Some(token) = header_token {
        return verify(&token);
    }
    let deadline = Instant::now() + shared.config.auth_timeout;
    loop {
        let msg = tokio::select! {
            msg = tokio::time::timeout_at(deadline, stream.next()) => {
                msg.map_err(|_| End::Close(protocol::CLOSE_UNAUTHENTICATED, "no auth frame in time"))?
            }
            _ = shutdown.wait_for(|down| *down) => {
                return Err(End::Close(protocol::CLOSE_GOING_AWAY, "server shutting down"));
            }
        };
        match msg {
            Some(Ok(AggregatedMessage::Text(text))) => {
                return match protocol::parse(&text).1 {
                    Ok(ClientFrame::Auth { token }) => verify(&token),
                    _ => Err(End::Close(
                        protocol::CLOSE_UNAUTHENTICATED,
                        "authenticate first",
                    )),
                };
            }
            Some(Ok(AggregatedMessage::Ping(p))) => {
                let _ = session.pong(&p).await;
            }
            Some(Ok(AggregatedMessage::Pong(_))) => {}
            Some(Ok(AggregatedMessage::Binary(_))) => {
                return Err(End::Close(
                    protocol::CLOSE_UNAUTHENTICATED,
                    "authenticate first",
                ));
            }
            Some(Err(e)) => return Err(protocol_end(&e)),
            Some(Ok(AggregatedMessage::Close(theirs))) => return Err(End::PeerClosed(theirs)),
            None => return Err(End::PeerGone),
        }
    }
}

fn protocol_end(e: &ProtocolError) -> End {
    match e {
        ProtocolError::Overflow => End::Close(protocol::CLOSE_TOO_BIG, "frame too large"),
        ProtocolError::Io(io) if io.to_string().contains("maximum continuation size") => {
            End::Close(protocol::CLOSE_TOO_BIG, "message too large")
        }
        _ => End::Close(protocol::CLOSE_PROTOCOL_ERROR, "protocol error"),
    }
}

struct ConnState {
    shared: Arc<Shared>,
    session: Outlet,
    user_id: UserId,
    conn: ConnId,
    delivery: Delivery,
    /// Until when live messages are held for the client's first `sync`.
    grace: Option<Instant>,
    token_expires: Instant,
    last_seen: Instant,
    last_typing: Option<Instant>,
    kill: Arc<Kill>,
}

type Step = Result<(), End>;

impl ConnState {
    /// Writes a frame, giving up on a client that stops reading for the client timeout, or
    /// when the hub cuts the connection meanwhile.
    async fn write(&mut self, frame: impl Into<Frame>) -> Step {
        let frame: Frame = frame.into();
        // Nearly always the outlet has room: written at once, with no timer, no waiter and no
        // copy of the frame set up for a wait. Frames queued together go out in one socket
        // write.
        match self.session.try_text(&frame) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_closed) => return Err(End::PeerGone),
        }
        // Boxed: rare, and inline its timer and waits would make every connection's future
        // larger for as long as it is open.
        Box::pin(self.write_waiting(frame)).await
    }

    /// [`Self::write`] when the outlet is full: the client is not reading.
    async fn write_waiting(&mut self, frame: Frame) -> Step {
        let timeout = self.shared.config.client_timeout;
        tokio::select! {
            biased;
            r = tokio::time::timeout(timeout, self.session.text(frame)) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_closed)) => Err(End::PeerGone),
                Err(_) => Err(End::Close(protocol::CLOSE_TRY_AGAIN_LATER, "too slow: reconnect and sync")),
            },
            code = self.kill.wait() => Err(End::Close(code, "too slow: reconnect and sync")),
        }
    }

    async fn write_all(&mut self, frames: Vec<Frame>) -> Step {
        for f in frames {
            self.write(f).await?;
        }
        Ok(())
    }

    async fn on_incoming(
        &mut self,
        msg: Option<Result<AggregatedMessage, ProtocolError>>,
        cmds: &mut Commands,
    ) -> Step {
        self.last_seen = Instant::now();
        match msg {
            None => Err(End::PeerGone),
            Some(Ok(AggregatedMessage::Close(theirs))) => Err(End::PeerClosed(theirs)),
            Some(Err(e)) => Err(protocol_end(&e)),
            Some(Ok(AggregatedMessage::Ping(p))) => {
                let _ = self.session.pong(&p).await;
                Ok(())
            }
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
            Some(Ok(AggregatedMessage::Binary(_))) => {
                self.write(protocol::error_frame(
                    None,
                    ErrorCode::Unsupported,
                    "binary frames are not supported",
                ))
                .await
            }
            Some(Ok(AggregatedMessage::Text(text))) => {
                let (reference, frame) = protocol::parse(&text);
                match frame {
                    Err(e) => {
                        self.write(protocol::error_frame(
                            reference.as_deref(),
                            e.code,
                            &e.message,
                        ))
                        .await
                    }
                    Ok(frame) => self.on_frame(reference, frame, cmds).await,
                }
            }
        }
    }

    async fn on_frame(
        &mut self,
        reference: Option<String>,
        frame: ClientFrame,
        cmds: &mut Commands,
    ) -> Step {
        let r = reference.as_deref();
        if !matches!(
            frame,
            ClientFrame::Sync { .. } | ClientFrame::Ping | ClientFrame::Typing { .. }
        ) && self.grace.take().is_some()
        {
            // The client is not resuming; deliver what was held.
            let frames = self.delivery.release_all();
            self.write_all(frames).await?;
        }
        match frame {
            ClientFrame::Ping => self.write(protocol::pong(r)).await,
            ClientFrame::Auth { .. } => {
                self.write(protocol::error_frame(
                    r,
                    ErrorCode::ValidationFailed,
                    "already authenticated",
                ))
                .await
            }
            ClientFrame::Reauth { token } => match self.shared.auth.verify_access(&token) {
                Ok(claims) if claims.user_id().ok() == Some(self.user_id) => {
                    self.token_expires = token_deadline(&claims);
                    self.shared.hub.send(HubCommand::Reauthed {
                        conn: self.conn,
                        session_id: Arc::from(claims.sid.as_str()),
                    });
                    self.write(protocol::reauthed(claims.expires_in(), r)).await
                }
                Ok(_) => {
                    self.write(protocol::error_frame(
                        r,
                        ErrorCode::Forbidden,
                        "the token is another user's",
                    ))
                    .await
                }
                Err(e) => self.write(protocol::auth_error_frame(r, &e)).await,
            },
            ClientFrame::Typing { room_id } => {
                let interval = self.shared.config.typing_interval;
                if self.last_typing.is_none_or(|t| t.elapsed() >= interval) {
                    self.last_typing = Some(Instant::now());
                    self.shared.hub.send(HubCommand::Typing {
                        conn: self.conn,
                        room_id,
                    });
                }
                Ok(())
            }
            ClientFrame::Send { .. } if self.send_limited().await => {
                self.write(protocol::error_frame(
                    r,
                    ErrorCode::RateLimited,
                    "too many messages; slow down",
                ))
                .await
            }
            ClientFrame::Sync { ref since } => {
                let listed: Vec<RoomId> = since.iter().map(|(room, _)| *room).collect();
                for (room, last_seq) in since {
                    self.delivery.hold(*room, *last_seq);
                }
                for room in self.delivery.rooms() {
                    if !listed.contains(&room) {
                        let frames = self.delivery.release(room);
                        self.write_all(frames).await?;
                    }
                }
                self.grace = None;
                self.forward(reference, frame, cmds).await
            }
            other => self.forward(reference, other, cmds).await,
        }
    }

    async fn send_limited(&self) -> bool {
        let key = format!("send:{}", self.user_id);
        self.shared.send_limiter.hit(&key).await.is_err()
    }

    async fn forward(
        &mut self,
        reference: Option<String>,
        frame: ClientFrame,
        cmds: &mut Commands,
    ) -> Step {
        let is_send = matches!(frame, ClientFrame::Send { .. });
        if (is_send && cmds.worker.is_some()) || (!is_send && cmds.acks_pending() > 0) {
            // Answered after what is in hand: it goes on once that is answered (and nothing
            // more is read meanwhile).
            cmds.waiting = Some(Box::new((reference, frame)));
            return Ok(());
        }
        if let ClientFrame::Send {
            room_id,
            body,
            client_msg_id,
        } = frame
        {
            let ack = submit_send(
                &self.shared,
                self.user_id,
                reference,
                room_id,
                &body,
                client_msg_id,
            );
            cmds.acks
                .get_or_insert_with(FuturesOrdered::new)
                .push_back(Box::pin(ack));
            return Ok(());
        }
        let worker = &mut cmds.worker;
        let command = (reference, frame);
        // A few rounds at most: a worker that stopped taking commands is wound down, then a
        // fresh one started.
        for _ in 0..3 {
            let Some(link) = worker else {
                *worker = Some(WorkerLink::start(&self.shared, self.user_id));
                continue;
            };
            // While its queue is full, keep writing its replies: the worker may be waiting
            // for room in the reply queue, and would never take the command otherwise.
            loop {
                tokio::select! {
                    biased;
                    permit = link.commands.reserve() => match permit {
                        Ok(permit) => {
                            permit.send(command);
                            return Ok(());
                        }
                        Err(_) => break,
                    },
                    Some(reply) = link.replies.recv() => self.on_reply(reply).await?,
                }
            }
            // It went idle: its last replies come first, so the client's commands are
            // answered in order.
            if let Some(link) = worker.take() {
                self.finish(link).await?;
            }
        }
        Err(End::Close(protocol::CLOSE_INTERNAL_ERROR, "internal error"))
    }

    /// Handles `first` and whatever else is already queued (up to a bound, so reading the
    /// socket is not starved): one wake-up of the task and one socket write for the lot.
    async fn on_outbound_batch(&mut self, first: Outbound, queue: &mut OutboxReceiver) -> Step {
        let rest = queue.try_recv_up_to(OUTBOUND_BATCH - 1);
        self.session.reserve(
            std::iter::once(&first)
                .chain(&rest)
                .map(Outbound::frame_bytes)
                .sum(),
        );
        self.on_outbound(first).await?;
        for out in rest {
            self.on_outbound(out).await?;
        }
        self.session.release_unused();
        Ok(())
    }

    async fn on_outbound(&mut self, out: Outbound) -> Step {
        match out {
            Outbound::Frame(f) => self.write(f).await,
            Outbound::Message {
                room_id,
                seq,
                frame,
            } => {
                if let Some(f) = self.delivery.live(room_id, seq, frame) {
                    self.write(f).await?;
                }
                if self.delivery.held_count() > self.shared.config.outbound_queue {
                    return Err(End::Close(
                        protocol::CLOSE_TRY_AGAIN_LATER,
                        "too slow: reconnect and sync",
                    ));
                }
                Ok(())
            }
            Outbound::MessageChange {
                room_id,
                seq,
                frame,
            } => {
                if let Some(f) = self.delivery.change(room_id, seq, frame) {
                    self.write(f).await?;
                }
                if self.delivery.held_count() > self.shared.config.outbound_queue {
                    return Err(End::Close(
                        protocol::CLOSE_TRY_AGAIN_LATER,
                        "too slow: reconnect and sync",
                    ));
                }
                Ok(())
            }
            Outbound::RoomAdded(room) => {
                self.delivery.add_room(room);
                Ok(())
            }
            Outbound::RoomRemoved(room) => {
                self.delivery.remove_room(room);
                Ok(())
            }
        }
    }

    async fn on_reply(&mut self, reply: Reply) -> Step {
        match reply {
            Reply::Frame(f) => self.write(f).await,
            Reply::Replay { room_id, items } => {
                for (seq, frame) in items {
                    if let Some(f) = self.delivery.replayed(room_id, seq, frame) {
                        self.write(f).await?;
                    }
                }
                Ok(())
            }
            Reply::ReplayDone { room_id } => {
                let frames = self.delivery.release(room_id);
                self.write_all(frames).await
            }
        }
    }

    async fn on_heartbeat(&mut self) -> Step {
        if self.last_seen.elapsed() > self.shared.config.client_timeout {
            tracing::debug!(conn = self.conn, "heartbeat timeout");
            return Err(End::Close(protocol::CLOSE_GOING_AWAY, "heartbeat timeout"));
        }
        match self.session.ping(b"").await {
            Ok(()) => Ok(()),
            Err(_) => Err(End::PeerGone),
        }
    }

    /// A send's ack, written in send order.
    async fn on_ack(&mut self, ack: String, cmds: &mut Commands) -> Step {
        self.write(ack).await?;
        self.resume(cmds).await
    }

    /// Forwards the command that waited for what was in hand, once nothing is.
    async fn resume(&mut self, cmds: &mut Commands) -> Step {
        if cmds.acks_pending() == 0 && cmds.worker.is_none() {
            if let Some(waiting) = cmds.waiting.take() {
                let (reference, frame) = *waiting;
                return Box::pin(self.forward(reference, frame, cmds)).await;
            }
        }
        Ok(())
    }

    /// On shutdown: answers every command already received: the pending sends' acks, the
    /// worker's replies until it has finished them all, then the command that waited for them.
    async fn drain(&mut self, cmds: &mut Commands) {
        loop {
            if let Some(acks) = cmds.acks.as_mut() {
                while let Some(ack) = acks.next().await {
                    if self.write(ack).await.is_err() {
                        return;
                    }
                }
            }
            if let Some(link) = cmds.worker.take() {
                if self.finish(link).await.is_err() {
                    return;
                }
            }
            if cmds.waiting.is_none() || self.resume(cmds).await.is_err() {
                return;
            }
        }
    }

    /// Takes no more commands to this worker and writes every reply it still has.
    async fn finish(&mut self, link: WorkerLink) -> Step {
        let WorkerLink {
            commands,
            mut replies,
        } = link;
        drop(commands);
        while let Some(reply) = replies.recv().await {
            self.on_reply(reply).await?;
        }
        Ok(())
    }
}

/// An ack (or error) frame, once its send is stored.
type AckFuture = Pin<Box<dyn Future<Output = String>>>;

/// The client's commands in hand.
#[derive(Default)]
struct Commands {
    /// Sends submitted and not yet answered; acks in send order. Made on the first send, then
    /// kept (small), so an idle socket that never sends has none.
    acks: Option<FuturesOrdered<AckFuture>>,
    /// A command that came while sends were pending, or a send while the worker had commands:
    /// forwarded once those are answered.
    waiting: Option<Box<(Option<String>, ClientFrame)>>,
    /// Runs the other commands; exists only while it has some.
    worker: Option<WorkerLink>,
}

impl Commands {
    fn acks_pending(&self) -> usize {
        self.acks.as_ref().map_or(0, FuturesOrdered::len)
    }

    /// Whether every command received has been answered.
    fn idle(&self) -> bool {
        self.acks_pending() == 0 && self.worker.is_none() && self.waiting.is_none()
    }

    /// Whether to read the next client frame.
    fn reading(&self) -> bool {
        self.waiting.is_none() && self.acks_pending() < MAX_PIPELINED_SENDS
    }
}

/// The next ack of a send the connection submitted; never, while there is none.
async fn next_ack(acks: &mut Option<FuturesOrdered<AckFuture>>) -> Option<String> {
    match acks {
        Some(acks) if !acks.is_empty() => acks.next().await,
        _ => std::future::pending().await,
    }
}

/// The connection's end of its worker task. The worker is started by the first command that
/// needs it and stops when it has nothing left to do, so an idle socket keeps neither a task
/// nor its two queues (a few KiB each, with thousands of sockets open).
struct WorkerLink {
    commands: mpsc::Sender<(Option<String>, ClientFrame)>,
    replies: mpsc::Receiver<Reply>,
}

impl WorkerLink {
    fn start(shared: &Arc<Shared>, user_id: UserId) -> Self {
        let (commands, command_rx) = mpsc::channel(64);
        let (reply_tx, replies) = mpsc::channel(256);
        actix_web::rt::spawn(worker(shared.clone(), user_id, command_rx, reply_tx));
        Self { commands, replies }
    }
}

/// The worker's next reply; never, while there is no worker.
async fn next_reply(worker: &mut Option<WorkerLink>) -> Option<Reply> {
    match worker {
        Some(link) => link.replies.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends a client may have waiting for their acks before the connection reads no more frames.
const MAX_PIPELINED_SENDS: usize = 256;

/// Runs a connection's storage commands other than sends, one at a time, in the order
/// received.
async fn worker(
    shared: Arc<Shared>,
    user_id: UserId,
    mut commands: mpsc::Receiver<(Option<String>, ClientFrame)>,
    replies: mpsc::Sender<Reply>,
) {
    loop {
        if commands.is_empty() {
            // Nothing in hand: take no more commands, so the task ends once the queue is empty
            // and an idle socket keeps no worker. A command sent meanwhile is either still
            // received here or refused to the connection, which then starts a fresh worker
            // after this one's replies: never lost, never answered out of order.
            commands.close();
        }
        let Some((reference, frame)) = commands.recv().await else {
            return;
        };
        let r = reference.as_deref();
        let out = match command_reply(&shared, user_id, r, frame, &replies).await {
            Command::Reply(out) => out,
            Command::Skip => continue,
            Command::Gone => return,
        };
        let frame = match out {
            Ok(frame) => frame,
            Err(e) => protocol::domain_error_frame(r, &e),
        };
        if replies.send(Reply::Frame(frame)).await.is_err() {
            return;
        }
    }
}

/// Submits a `send` without waiting; the future resolves to its ack (or error) frame.
fn submit_send(
    shared: &Shared,
    user_id: UserId,
    reference: Option<String>,
    room_id: RoomId,
    body: &str,
    client_msg_id: Option<String>,
) -> impl std::future::Future<Output = String> {
    let started = std::time::Instant::now();
    let stored = shared
        .chat
        .send(user_id, room_id, body, client_msg_id.as_deref());
    async move {
        let r = reference.as_deref();
        let stored = stored.await;
        match stored {
            Ok(s) => {
                huddle_metrics::record_store(started.elapsed(), matches!(s, Stored::Created(_)));
                protocol::ack_frame(s.message(), r)
            }
            Err(e) => protocol::domain_error_frame(r, &e),
        }
    }
}

/// What a command other than `send` came to.
enum Command {
    Reply(Result<String, DomainError>),
    /// Nothing to answer here.
    Skip,
    /// The connection is gone.
    Gone,
}

async fn command_reply(
    shared: &Arc<Shared>,
    user_id: UserId,
    r: Option<&str>,
    frame: ClientFrame,
    replies: &mpsc::Sender<Reply>,
) -> Command {
    let chat = shared.chat.clone();
    Command::Reply(match frame {
        ClientFrame::Edit {
            room_id,
            message_id,
            body,
        } => run_blocking(move || chat.edit_message(user_id, room_id, message_id, &body))
            .await
            .map(|m| protocol::edited(room_id, &m, r)),
        ClientFrame::Delete {
            room_id,
            message_id,
        } => run_blocking(move || chat.delete_message(user_id, room_id, message_id))
            .await
            .map(|()| protocol::deleted(room_id, message_id, r)),
        ClientFrame::Join { room_id } => run_blocking(move || chat.join_room(user_id, room_id))
            .await
            .map(|member| protocol::joined(room_id, &member, r)),
        ClientFrame::Leave { room_id } => run_blocking(move || chat.leave_room(user_id, room_id))
            .await
            .map(|()| protocol::left(room_id, r)),
        ClientFrame::Sync { since } => {
            for (room_id, after) in since {
                if !replay(shared, user_id, room_id, after, r, replies).await {
                    return Command::Gone;
                }
            }
            Ok(protocol::synced(r))
        }
        // Never forwarded here: handled by the connection task.
        ClientFrame::Send { .. }
        | ClientFrame::Auth { .. }
        | ClientFrame::Reauth { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::Ping => return Command::Skip,
    })
}

/// Sends one room's stored messages after `after`, in pages, then ends its hold. False when
/// the connection is gone.
async fn replay(
    shared: &Shared,
    user_id: UserId,
    room_id: RoomId,
    mut after: i64,
    reference: Option<&str>,
    replies: &mpsc::Sender<Reply>,
) -> bool {
    loop {
        let chat = shared.chat.clone();
        let page = run_blocking(move || {
            chat.history(user_id, room_id, HistoryWindow::After(after), REPLAY_PAGE)
        })
        .await;
        match page {
            Ok(page) => {
                let Some(last) = page.items.last().map(|m| m.seq) else {
                    break;
                };
                let items = page
                    .items
                    .into_iter()
                    .map(|message| {
                        let seq = message.seq;
                        (
                            seq,
                            protocol::event_frame(&DomainEvent::MessageCreated {
                                room_id,
                                message,
                            }),
                        )
                    })
                    .collect();
                if replies
                    .send(Reply::Replay { room_id, items })
                    .await
                    .is_err()
                {
                    return false;
                }
                after = last;
                if !page.has_more {
                    break;
                }
            }
            Err(e) => {
                if replies
                    .send(Reply::Frame(protocol::domain_error_frame(reference, &e)))
                    .await
                    .is_err()
                {
                    return false;
                }
                break;
            }
        }
    }
    replies.send(Reply::ReplayDone { room_id }).await.is_ok()
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T, DomainError> {
    actix_web::web::block(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "blocking task failed");
        Err(DomainError::Repository(
            huddle_domain::RepoError::Unavailable(huddle_domain::Cause::new(e)),
        ))
    })
}
