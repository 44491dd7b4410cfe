//! The order a client's commands are answered in. Sends are pipelined: submitted to the
//! message writer as they arrive, so a client's sends are stored in the order it sent them
//! while the socket keeps flowing, and acknowledged in send order as they are stored, with no
//! hop through another task (on a busy worker thread that costs a turn of its run queue each
//! way). Other commands go to the connection's [`worker`](crate::connection::worker), one at a
//! time. The two never overlap: a command waits for the acks of the sends before it, and a
//! send for the replies of the commands before it (reading stops meanwhile), so every reply is
//! written in command order.
use std::future::Future;
use std::pin::Pin;

use futures_util::stream::FuturesOrdered;
use futures_util::StreamExt;
use huddle_domain::repository::Stored;
use huddle_domain::service::ChatService;
use huddle_domain::{RoomId, UserId};

use crate::connection::end::{End, Step};
use crate::connection::state::ConnState;
use crate::connection::worker::{Command, WorkerLink};
use crate::protocol::{self, ClientFrame};

/// Sends a client may have waiting for their acks before the connection reads no more frames.
const MAX_PIPELINED_SENDS: usize = 256;

/// An ack (or error) frame, once its send is stored.
type AckFuture = Pin<Box<dyn Future<Output = String>>>;

/// The client's commands in hand.
#[derive(Default)]
pub(crate) struct Commands {
    /// Sends submitted and not yet answered; acks in send order. Made on the first send, then
    /// kept (small), so an idle socket that never sends has none.
    pub acks: Option<FuturesOrdered<AckFuture>>,
    /// A command that came while sends were pending, or a send while the worker had commands:
    /// forwarded once those are answered.
    waiting: Option<Box<Command>>,
    /// Runs the other commands; exists only while it has some.
    pub worker: Option<WorkerLink>,
}

impl Commands {
    fn acks_pending(&self) -> usize {
        self.acks.as_ref().map_or(0, FuturesOrdered::len)
    }

    /// Whether every command received has been answered.
    pub(crate) fn idle(&self) -> bool {
        self.acks_pending() == 0 && self.worker.is_none() && self.waiting.is_none()
    }

    /// Whether to read the next client frame.
    pub(crate) fn reading(&self) -> bool {
        self.waiting.is_none() && self.acks_pending() < MAX_PIPELINED_SENDS
    }

    /// Takes a command: submits a send, hands another command to the worker, or keeps it
    /// waiting for what is in hand to be answered first.
    pub(crate) async fn forward(
        &mut self,
        state: &mut ConnState,
        reference: Option<String>,
        frame: ClientFrame,
    ) -> Step {
        let is_send = matches!(frame, ClientFrame::Send { .. });
        if (is_send && self.worker.is_some()) || (!is_send && self.acks_pending() > 0) {
            // Answered after what is in hand: it goes on once that is answered (and nothing
            // more is read meanwhile).
            self.waiting = Some(Box::new((reference, frame)));
            return Ok(());
        }
        if let ClientFrame::Send {
            room_id,
            body,
            client_msg_id,
            reply_to,
        } = frame
        {
            let ack = submit_send(
                &state.shared.chat,
                state.user_id,
                reference,
                room_id,
                &body,
                (client_msg_id, reply_to),
            );
            self.acks
                .get_or_insert_with(FuturesOrdered::new)
                .push_back(Box::pin(ack));
            return Ok(());
        }
        let worker = &mut self.worker;
        let command = (reference, frame);
        // A few rounds at most: a worker that stopped taking commands is wound down, then a
        // fresh one started.
        for _ in 0..3 {
            let Some(link) = worker else {
                *worker = Some(WorkerLink::start(&state.shared.chat, state.user_id));
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
                    Some(reply) = link.replies.recv() => state.on_reply(reply).await?,
                }
            }
            // It went idle: its last replies come first, so the client's commands are
            // answered in order.
            if let Some(link) = worker.take() {
                finish(state, link).await?;
            }
        }
        Err(End::Close(protocol::CLOSE_INTERNAL_ERROR, "internal error"))
    }

    /// A send's ack, written in send order.
    pub(crate) async fn on_ack(&mut self, state: &mut ConnState, ack: String) -> Step {
        state.write(ack).await?;
        self.resume(state).await
    }

    /// Forwards the command that waited for what was in hand, once nothing is.
    pub(crate) async fn resume(&mut self, state: &mut ConnState) -> Step {
        if self.acks_pending() == 0 && self.worker.is_none() {
            if let Some(waiting) = self.waiting.take() {
                let (reference, frame) = *waiting;
                return Box::pin(self.forward(state, reference, frame)).await;
            }
        }
        Ok(())
    }

    /// On shutdown: answers every command already received: the pending sends' acks, the
    /// worker's replies until it has finished them all, then the command that waited for them.
    pub(crate) async fn drain(&mut self, state: &mut ConnState) {
        loop {
            if let Some(acks) = self.acks.as_mut() {
                while let Some(ack) = acks.next().await {
                    if state.write(ack).await.is_err() {
                        return;
                    }
                }
            }
            if let Some(link) = self.worker.take() {
                if finish(state, link).await.is_err() {
                    return;
                }
            }
            if self.waiting.is_none() || self.resume(state).await.is_err() {
                return;
            }
        }
    }
}

/// Takes no more commands to this worker and writes every reply it still has.
async fn finish(state: &mut ConnState, link: WorkerLink) -> Step {
    let WorkerLink {
        commands,
        mut replies,
    } = link;
    drop(commands);
    while let Some(reply) = replies.recv().await {
        state.on_reply(reply).await?;
    }
    Ok(())
}

/// The next ack of a send the connection submitted; never, while there is none.
pub(crate) async fn next_ack(acks: &mut Option<FuturesOrdered<AckFuture>>) -> Option<String> {
    match acks {
        Some(acks) if !acks.is_empty() => acks.next().await,
        _ => std::future::pending().await,
    }
}

/// Submits a `send` without waiting; the future resolves to its ack (or error) frame.
fn submit_send(
    chat: &ChatService,
    user_id: UserId,
    reference: Option<String>,
    room_id: RoomId,
    body: &str,
    (client_msg_id, reply_to): (Option<String>, Option<huddle_domain::MessageId>),
) -> impl Future<Output = String> {
    let started = std::time::Instant::now();
    let stored = chat.send(user_id, room_id, body, client_msg_id.as_deref(), reply_to);
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

#[cfg(test)]
mod tests {
    use huddle_domain::repository::{NewRoom, RoomRepository};
    use serde_json::Value;

    use super::*;
    use crate::connection::testing::{add_user, state, Client, World};
    use crate::connection::worker::next_reply;

    /// Runs the acks and the worker's replies until every command is answered, as the
    /// connection's loop does.
    async fn pump(cmds: &mut Commands, s: &mut ConnState) {
        while !cmds.idle() {
            let step = tokio::select! {
                Some(ack) = next_ack(&mut cmds.acks) => cmds.on_ack(s, ack).await,
                reply = next_reply(&mut cmds.worker) => match reply {
                    Some(reply) => s.on_reply(reply).await,
                    None => {
                        cmds.worker = None;
                        cmds.resume(s).await
                    }
                },
            };
            step.unwrap();
        }
    }

    /// The next `n` replies, as (type, ref).
    async fn replies(client: &mut Client, n: usize) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let v: Value = client.recv().await.json();
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            out.push((field("type"), field("ref")));
        }
        out
    }

    fn send(room_id: RoomId, body: &str) -> ClientFrame {
        ClientFrame::Send {
            room_id,
            body: body.into(),
            client_msg_id: None,
            reply_to: None,
        }
    }

    fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// A public room of someone else's that the user can join.
    fn other_room(world: &World) -> RoomId {
        let bob = add_user(&world.repo, "bob");
        world
            .repo
            .create_room(NewRoom {
                name: "other".into(),
                description: String::new(),
                is_private: false,
                owner_id: bob,
            })
            .unwrap()
            .id
    }

    #[actix_web::test]
    async fn a_command_waits_for_the_acks_of_the_sends_before_it() {
        let world = World::new(Default::default());
        let other = other_room(&world);
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        let room = world.room_id;
        for (r, frame) in [
            ("a", send(room, "one")),
            ("b", send(room, "two")),
            ("j", ClientFrame::Join { room_id: other }),
        ] {
            cmds.forward(&mut s, Some(r.into()), frame).await.unwrap();
        }
        assert!(!cmds.reading(), "nothing more is read while the join waits");
        pump(&mut cmds, &mut s).await;
        assert_eq!(
            replies(&mut client, 3).await,
            pairs(&[("ack", "a"), ("ack", "b"), ("joined", "j")])
        );
        assert!(cmds.reading());
    }

    #[actix_web::test]
    async fn a_send_waits_for_the_replies_of_the_commands_before_it() {
        let world = World::new(Default::default());
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        let room = world.room_id;
        let sync = ClientFrame::Sync {
            since: vec![(room, 0)],
            since_events: vec![],
        };
        cmds.forward(&mut s, Some("s".into()), sync).await.unwrap();
        cmds.forward(&mut s, Some("a".into()), send(room, "one"))
            .await
            .unwrap();
        assert!(!cmds.reading());
        pump(&mut cmds, &mut s).await;
        assert_eq!(
            replies(&mut client, 2).await,
            pairs(&[("synced", "s"), ("ack", "a")])
        );
    }

    #[actix_web::test]
    async fn a_drain_answers_everything_received() {
        let world = World::new(Default::default());
        let other = other_room(&world);
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        let room = world.room_id;
        cmds.forward(&mut s, Some("a".into()), send(room, "one"))
            .await
            .unwrap();
        cmds.forward(
            &mut s,
            Some("j".into()),
            ClientFrame::Join { room_id: other },
        )
        .await
        .unwrap();
        cmds.drain(&mut s).await;
        assert!(cmds.idle());
        assert_eq!(
            replies(&mut client, 2).await,
            pairs(&[("ack", "a"), ("joined", "j")])
        );
    }

    #[actix_web::test]
    async fn reading_pauses_at_the_most_pipelined_sends() {
        let world = World::new(Default::default());
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        for i in 0..MAX_PIPELINED_SENDS {
            assert!(cmds.reading());
            let frame = send(world.room_id, &format!("m{i}"));
            cmds.forward(&mut s, Some(i.to_string()), frame)
                .await
                .unwrap();
        }
        assert!(!cmds.reading());
        let (_, got) = tokio::join!(
            pump(&mut cmds, &mut s),
            replies(&mut client, MAX_PIPELINED_SENDS)
        );
        let refs: Vec<String> = got.into_iter().map(|(_, r)| r).collect();
        let want: Vec<String> = (0..MAX_PIPELINED_SENDS).map(|i| i.to_string()).collect();
        assert_eq!(refs, want, "acked in send order");
        assert!(cmds.reading());
    }

    #[actix_web::test]
    async fn a_refused_send_is_answered_in_its_place() {
        let world = World::new(Default::default());
        let (mut s, mut client) = state(&world, false);
        let mut cmds = Commands::default();
        cmds.forward(&mut s, Some("x".into()), send(999, "lost"))
            .await
            .unwrap();
        cmds.forward(&mut s, Some("y".into()), send(world.room_id, "kept"))
            .await
            .unwrap();
        pump(&mut cmds, &mut s).await;
        assert_eq!(
            replies(&mut client, 2).await,
            pairs(&[("error", "x"), ("ack", "y")])
        );
    }
}
