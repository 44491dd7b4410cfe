//! A connection's storage commands other than sends (edit, delete, join, leave, sync), run one
//! at a time in the order received, on a task of their own so the connection keeps reading,
//! writing and delivering meanwhile. The worker exists only while it has commands: an idle
//! socket keeps neither a task nor its two queues (a few KiB each, with thousands of sockets
//! open).
use huddle_domain::service::ChatService;
use huddle_domain::{DomainError, UserId};
use tokio::sync::mpsc;

use crate::blocking::run_blocking;
use crate::connection::sync::{replay, replay_events, Reply};
use crate::protocol::{self, ClientFrame};

/// A command for the worker: the client's `ref` and the frame.
pub(crate) type Command = (Option<String>, ClientFrame);

/// The connection's end of its worker task.
pub(crate) struct WorkerLink {
    pub commands: mpsc::Sender<Command>,
    pub replies: mpsc::Receiver<Reply>,
}

impl WorkerLink {
    /// Starts a worker for the user's commands, on the connection's thread.
    pub(crate) fn start(chat: &ChatService, user_id: UserId) -> Self {
        let (commands, command_rx) = mpsc::channel(64);
        let (reply_tx, replies) = mpsc::channel(256);
        actix_web::rt::spawn(worker(chat.clone(), user_id, command_rx, reply_tx));
        Self { commands, replies }
    }
}

/// The worker's next reply; never, while there is no worker.
pub(crate) async fn next_reply(worker: &mut Option<WorkerLink>) -> Option<Reply> {
    match worker {
        Some(link) => link.replies.recv().await,
        None => std::future::pending().await,
    }
}

async fn worker(
    chat: ChatService,
    user_id: UserId,
    mut commands: mpsc::Receiver<Command>,
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
        let out = match command_reply(&chat, user_id, r, frame, &replies).await {
            Outcome::Reply(out) => out,
            Outcome::Skip => continue,
            Outcome::Gone => return,
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

/// What a command came to.
enum Outcome {
    Reply(Result<String, DomainError>),
    /// Nothing to answer here.
    Skip,
    /// The connection is gone.
    Gone,
}

async fn command_reply(
    chat: &ChatService,
    user_id: UserId,
    r: Option<&str>,
    frame: ClientFrame,
    replies: &mpsc::Sender<Reply>,
) -> Outcome {
    let chat = chat.clone();
    Outcome::Reply(match frame {
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
        ClientFrame::Read { room_id, seq } => {
            run_blocking(move || chat.mark_read(user_id, room_id, seq))
                .await
                .map(|u| protocol::read(&u, r))
        }
        ClientFrame::React {
            room_id,
            message_id,
            emoji,
            on,
        } => {
            let answer = emoji.clone();
            run_blocking(move || chat.react(user_id, room_id, message_id, &emoji, on))
                .await
                .map(|()| protocol::reacted(room_id, message_id, &answer, on, r))
        }
        ClientFrame::Join { room_id } => run_blocking(move || chat.join_room(user_id, room_id))
            .await
            .map(|member| protocol::joined(room_id, &member, r)),
        ClientFrame::Leave { room_id } => run_blocking(move || chat.leave_room(user_id, room_id))
            .await
            .map(|()| protocol::left(room_id, r)),
        ClientFrame::Sync {
            since,
            since_events,
        } => {
            for (room_id, after) in since {
                if !replay(&chat, user_id, room_id, after, r, replies).await {
                    return Outcome::Gone;
                }
            }
            for (room_id, after) in since_events {
                if !replay_events(&chat, user_id, room_id, after, r, replies).await {
                    return Outcome::Gone;
                }
            }
            Ok(protocol::synced(r))
        }
        // Never forwarded here: handled by the connection task.
        ClientFrame::Send { .. }
        | ClientFrame::Auth { .. }
        | ClientFrame::Reauth { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::Ping => return Outcome::Skip,
    })
}

#[cfg(test)]
mod tests {
    use huddle_domain::repository::{MessageRepository, NewMessage};
    use serde_json::Value;

    use super::*;
    use crate::connection::testing::{add_user, World};

    async fn answers(link: &mut WorkerLink) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(reply) = link.replies.recv().await {
            match reply {
                Reply::Frame(f) => out.push(serde_json::from_str(&f).unwrap()),
                Reply::Replay { items, .. } => {
                    out.push(serde_json::json!({"type": "replay", "items": items.len()}))
                }
                Reply::Events { items, .. } => {
                    out.push(serde_json::json!({"type": "events", "items": items.len()}))
                }
                Reply::ReplayDone { .. } => out.push(serde_json::json!({"type": "replay done"})),
            }
        }
        out
    }

    #[actix_web::test]
    async fn commands_are_answered_in_order_and_the_worker_ends_when_idle() {
        let world = World::new(Default::default());
        let bob = add_user(&world.repo, "bob");
        let room = world.room_id;
        let mut link = WorkerLink::start(&world.shared.chat, bob);
        let commands = [
            (Some("1"), ClientFrame::Join { room_id: room }),
            (
                Some("2"),
                ClientFrame::Sync {
                    since: vec![(room, 0)],
                    since_events: vec![],
                },
            ),
            (None, ClientFrame::Ping),
            (
                Some("3"),
                ClientFrame::Delete {
                    room_id: room,
                    message_id: 99,
                },
            ),
            (Some("4"), ClientFrame::Leave { room_id: room }),
        ];
        for (r, frame) in commands {
            link.commands
                .send((r.map(str::to_owned), frame))
                .await
                .unwrap();
        }
        let got = answers(&mut link).await;
        let kinds: Vec<(&str, &str)> = got
            .iter()
            .map(|v| (v["type"].as_str().unwrap(), v["ref"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            [
                ("joined", "1"),
                ("replay done", ""),
                ("synced", "2"),
                ("error", "3"),
                ("left", "4")
            ],
            "the replies end: the worker stopped once idle"
        );
        assert_eq!(got[3]["code"], "not_found");
        assert!(link.commands.is_closed());
    }

    #[actix_web::test]
    async fn an_edit_is_answered_with_the_message() {
        let world = World::new(Default::default());
        let message = world
            .repo
            .store_message(NewMessage {
                room_id: world.room_id,
                author_id: world.user_id,
                body: "tpyo".into(),
                client_msg_id: None,
                reply_to: None,
                mentions: Default::default(),
                attachments: Vec::new(),
            })
            .unwrap();
        let mut link = WorkerLink::start(&world.shared.chat, world.user_id);
        let edit = ClientFrame::Edit {
            room_id: world.room_id,
            message_id: message.message().id,
            body: "typo".into(),
        };
        link.commands.send((None, edit)).await.unwrap();
        let got = answers(&mut link).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["type"], "edited");
        assert_eq!(got[0]["message"]["body"], "typo");
    }
}
