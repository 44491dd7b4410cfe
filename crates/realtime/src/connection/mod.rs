//! One socket, from upgrade to close: a task per socket that reads frames, writes frames and
//! keeps time (heartbeats, token expiry, the sync grace, the drain at shutdown).
//!
//! This module is the task's loop; what it drives is below it, each part knowing nothing of
//! those above: [`end`] (how a socket ends), [`writer`] (writes, and giving up on a client
//! that does not read), [`sync`] (resuming), [`worker`] (storage commands other than sends),
//! [`state`] (deliveries and replies), [`pipeline`] (the order commands are answered in),
//! [`frames`] (what each client frame does) and [`setup`] (from upgrade to `ready`).
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::time::Instant;

use crate::hub::handle::HubCommand;
use crate::outlet::Outlet;
use crate::protocol::{self, Dialect};
use crate::shared::Shared;

mod end;
mod frames;
mod pipeline;
mod setup;
mod state;
mod sync;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod worker;
mod writer;

use end::{ClientStream, End};
use pipeline::{next_ack, Commands};
use setup::{set_up, SetUp};
use worker::next_reply;

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

pub(crate) async fn run<S: ClientStream>(
    shared: Arc<Shared>,
    session: Outlet,
    mut stream: S,
    header_token: Option<String>,
    dialect: Option<Arc<dyn Dialect>>,
) {
    let _active = ActiveGuard::new(&shared);
    let mut shutdown = shared.shutdown.subscribe();
    // Boxed, with all its locals: this future keeps room for every local it ever holds (moved
    // out or not) for as long as the connection lives, and none of the set-up's is needed.
    let set_up = set_up(
        &shared,
        session,
        &mut stream,
        header_token,
        dialect,
        &mut shutdown,
    );
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
    let kill = state.writer.kill().clone();

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
            // Shut while some process's fan-out runs behind: a socket that sends is then not
            // read until it opens again (one that never sent is read as usual, and every
            // socket while the server shuts down).
            let mut gate = shared.hub.send_gate().subscribe();
            // The handlers of client frames, replies, heartbeats and shutdown are boxed while
            // they run: inline, the largest of them would be part of this future, and so of
            // every idle connection, for as long as the socket is open. Deliveries, the hot
            // path, stay inline (and small: a write only boxes when it has to wait).
            loop {
                // Never while shutting down: what the client sent before our close is
                // answered.
                let held =
                    drain_until.is_none() && cmds.acks.is_some() && !*gate.borrow_and_update();
                let step = tokio::select! {
                    code = &mut killed => Err(End::Close(code, protocol::kill_reason(code))),
                    () = &mut shutting_down, if drain_until.is_none() => {
                        // Keep reading: frames the client sent before it sees our close frame
                        // are answered, not dropped.
                        let now = Instant::now();
                        drain_until = Some(now + shared.config.drain_limit);
                        grace_end.as_mut().reset(now + shared.config.drain_quiet);
                        state.end_grace().await
                    }
                    // Not while a command waits for the acks before it, nor while the most
                    // sends are pipelined, nor while the send gate holds it: the client waits,
                    // in its socket's buffers.
                    msg = stream.next(), if cmds.reading() && !held => {
                        if let Some(limit) = drain_until {
                            let next = limit.min(Instant::now() + shared.config.drain_quiet);
                            grace_end.as_mut().reset(next);
                        }
                        Box::pin(frames::on_incoming(&mut state, &mut cmds, msg)).await
                    }
                    Some(out) = rx.recv() => state.on_outbound_batch(out, &mut rx).await,
                    Some(ack) = next_ack(&mut cmds.acks) => cmds.on_ack(&mut state, ack).await,
                    reply = next_reply(&mut cmds.worker) => match reply {
                        Some(reply) => Box::pin(state.on_reply(reply)).await,
                        // The worker went idle and every reply of it was written.
                        None => {
                            cmds.worker = None;
                            Box::pin(cmds.resume(&mut state)).await
                        }
                    },
                    // The gate's sender lives in the hub handle this task holds, so this
                    // only ends with a change.
                    _ = gate.changed(), if held => Ok(()),
                    _ = heartbeat.tick() => {
                        if held {
                            // Not read meanwhile: its silence is ours, not the client's.
                            state.last_seen = Instant::now();
                        }
                        Box::pin(state.on_heartbeat()).await
                    }
                    () = &mut token_expiry => {
                        Err(End::Close(protocol::CLOSE_UNAUTHENTICATED, "token expired"))
                    }
                    () = &mut grace_end, if drain_until.is_some() || state.grace.is_some() => {
                        match drain_until {
                            Some(limit) => {
                                let now = Instant::now();
                                if cmds.idle() || now >= limit {
                                    // Finish what was received, then close.
                                    Box::pin(cmds.drain(&mut state)).await;
                                    Err(End::Close(protocol::CLOSE_GOING_AWAY, "server shutting down"))
                                } else {
                                    // Quiet, but answers are still due: look again shortly.
                                    let next = limit.min(now + shared.config.drain_quiet);
                                    grace_end.as_mut().reset(next);
                                    Ok(())
                                }
                            }
                            None => state.end_grace().await,
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
    if let End::Close(code, reason) = &end {
        tracing::debug!(conn, code, reason, "closing socket");
    }
    let session = state.writer.into_outlet();
    end::finish(session, end, shared.config.client_timeout).await;
}
