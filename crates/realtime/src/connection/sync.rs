//! Resuming: a client's `sync` names the last seq it has per room (`since`, messages only) or
//! the last event seq (`since_events`, every event of the room's log). The connection holds
//! those rooms' live events ([`begin`]) while the worker reads what followed from the database
//! in pages ([`replay`], [`replay_events`]); the replayed and held events then merge in the
//! connection's [`Delivery`] so each goes out once and in order. A log that no longer reaches
//! back that far (pruned, or longer than a replay is worth) answers `sync.reset`: the client
//! reloads the room's history instead.
use huddle_domain::event_log::{LogSlice, REPLAY_MAX};
use huddle_domain::repository::HistoryWindow;
use huddle_domain::service::ChatService;
use huddle_domain::{DomainEvent, RoomId, UserId};
use tokio::sync::mpsc;

use crate::blocking::run_blocking;
use crate::delivery::Delivery;
use crate::protocol::{self, Frame};

/// Pages of a `sync` replay.
const REPLAY_PAGE: usize = 200;

/// What the worker sends back to the connection task.
#[derive(Debug)]
pub(crate) enum Reply {
    Frame(String),
    /// A page of a room's replay: seqs with their `message.created` frames.
    Replay {
        room_id: RoomId,
        items: Vec<(i64, Frame)>,
    },
    /// A page of a room's log: each event's frame with its event seq (and its seq, for a
    /// `message.created`).
    Events {
        room_id: RoomId,
        items: Vec<(Option<i64>, i64, Frame)>,
    },
    /// The room's replay is over: its hold ends.
    ReplayDone {
        room_id: RoomId,
    },
}

/// The connection's side of a `sync`: holds each listed room from the point the client has,
/// and releases the rooms it did not list (the client does not resume those). Returns the
/// frames released, to write now.
pub(crate) fn begin(
    delivery: &mut Delivery,
    since: &[(RoomId, i64)],
    since_events: &[(RoomId, i64)],
) -> Vec<Frame> {
    for (room, last_seq) in since {
        delivery.hold(*room, *last_seq);
    }
    for (room, last_event_seq) in since_events {
        delivery.hold_events(*room, *last_event_seq);
    }
    let listed = |room: RoomId| since.iter().chain(since_events).any(|(r, _)| *r == room);
    let mut frames = Vec::new();
    for room in delivery.rooms() {
        if !listed(room) {
            frames.extend(delivery.release(room));
        }
    }
    frames
}

/// Sends one room's log after `after`, in pages, then ends its hold; or `sync.reset` when the
/// log no longer reaches back that far or holds more than [`REPLAY_MAX`] events since. A failed
/// read is answered with an error frame and still ends the hold. False when the connection is
/// gone.
pub(crate) async fn replay_events(
    chat: &ChatService,
    user_id: UserId,
    room_id: RoomId,
    mut after: i64,
    reference: Option<&str>,
    replies: &mpsc::Sender<Reply>,
) -> bool {
    let mut sent = 0;
    loop {
        let chat = chat.clone();
        let page =
            run_blocking(move || chat.events_after(user_id, room_id, after, REPLAY_PAGE)).await;
        let frame = match page {
            Ok(LogSlice::Entries { items, has_more }) => {
                let Some(last) = items.last().and_then(DomainEvent::event_seq) else {
                    break;
                };
                sent += items.len();
                let items = items
                    .into_iter()
                    .map(|event| {
                        let seq = match &event {
                            DomainEvent::MessageCreated { message, .. } => Some(message.seq),
                            _ => None,
                        };
                        let event_seq = event.event_seq().unwrap_or(0);
                        (seq, event_seq, protocol::event_frame(&event))
                    })
                    .collect();
                if replies
                    .send(Reply::Events { room_id, items })
                    .await
                    .is_err()
                {
                    return false;
                }
                after = last;
                if !has_more {
                    break;
                }
                if sent < REPLAY_MAX {
                    continue;
                }
                protocol::sync_reset(room_id, reference)
            }
            Ok(LogSlice::Reset) => protocol::sync_reset(room_id, reference),
            Err(e) => protocol::domain_error_frame(reference, &e),
        };
        if replies.send(Reply::Frame(frame)).await.is_err() {
            return false;
        }
        break;
    }
    replies.send(Reply::ReplayDone { room_id }).await.is_ok()
}

/// Sends one room's stored messages after `after`, in pages, then ends its hold. A failed
/// read is answered with an error frame and still ends the hold. False when the connection is
/// gone.
pub(crate) async fn replay(
    chat: &ChatService,
    user_id: UserId,
    room_id: RoomId,
    mut after: i64,
    reference: Option<&str>,
    replies: &mpsc::Sender<Reply>,
) -> bool {
    loop {
        let chat = chat.clone();
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
                                event_seq: message.event_seq,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use huddle_domain::repository::{MessageRepository, NewMessage};
    use huddle_domain::NoopPublisher;

    use super::*;
    use crate::connection::testing::{add_user, World};

    fn texts(frames: Vec<Frame>) -> Vec<String> {
        frames.into_iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn listed_rooms_are_held_and_the_others_released() {
        let mut delivery = Delivery::new([1, 2, 3], true);
        for room in [1, 2, 3] {
            assert!(delivery
                .live(room, 5, 5, Frame::from(format!("r{room}")))
                .is_none());
        }
        let released = begin(&mut delivery, &[(1, 4), (3, 0)], &[]);
        assert_eq!(texts(released), ["r2"], "room 2 was not listed");
        assert_eq!(delivery.held_count(), 2, "1 and 3 wait for their replays");
        assert_eq!(texts(delivery.release(1)), ["r1"]);
    }

    /// Everything sent on the channel, once its sender is gone.
    async fn drained(mut rx: mpsc::Receiver<Reply>) -> Vec<Reply> {
        let mut out = Vec::new();
        while let Some(r) = rx.recv().await {
            out.push(r);
        }
        out
    }

    async fn replayed(chat: &ChatService, user: UserId, room: RoomId, after: i64) -> Vec<Reply> {
        let (tx, rx) = mpsc::channel(64);
        assert!(replay(chat, user, room, after, Some("s"), &tx).await);
        drop(tx);
        drained(rx).await
    }

    #[tokio::test]
    async fn a_replay_reads_in_pages_then_ends_the_hold() {
        let world = World::new(Default::default());
        let repo = &world.repo;
        for i in 0..(REPLAY_PAGE + 5) {
            repo.store_message(NewMessage {
                room_id: world.room_id,
                author_id: world.user_id,
                body: format!("m{i}"),
                client_msg_id: None,
                reply_to: None,
                mentions: Default::default(),
                attachments: Vec::new(),
            })
            .unwrap();
        }
        let chat = ChatService::new(repo.clone(), Arc::new(NoopPublisher));
        let replies = replayed(&chat, world.user_id, world.room_id, 3).await;
        let pages: Vec<(i64, i64, usize)> = replies
            .iter()
            .filter_map(|r| match r {
                Reply::Replay { items, .. } => {
                    Some((items[0].0, items[items.len() - 1].0, items.len()))
                }
                _ => None,
            })
            .collect();
        let last = (REPLAY_PAGE + 5) as i64;
        assert_eq!(pages, [(4, 203, REPLAY_PAGE), (204, last, 2)]);
        assert!(matches!(
            replies.last(),
            Some(Reply::ReplayDone { room_id }) if *room_id == world.room_id
        ));
        // Nothing after: only the end of the hold.
        let replies = replayed(&chat, world.user_id, world.room_id, last).await;
        assert!(matches!(&replies[..], [Reply::ReplayDone { .. }]));
    }

    #[tokio::test]
    async fn a_refused_replay_is_an_error_with_the_ref_and_still_ends_the_hold() {
        let world = World::new(Default::default());
        let outsider = add_user(&world.repo, "eve");
        let chat = ChatService::new(world.repo.clone(), Arc::new(NoopPublisher));
        let replies = replayed(&chat, outsider, 999, 0).await;
        match &replies[..] {
            [Reply::Frame(error), Reply::ReplayDone { room_id: 999 }] => {
                let v: serde_json::Value = serde_json::from_str(error).unwrap();
                assert_eq!(
                    (v["type"].as_str(), v["ref"].as_str()),
                    (Some("error"), Some("s"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    async fn replayed_events(
        chat: &ChatService,
        user: UserId,
        room: RoomId,
        after: i64,
    ) -> Vec<Reply> {
        let (tx, rx) = mpsc::channel(64);
        assert!(replay_events(chat, user, room, after, Some("s"), &tx).await);
        drop(tx);
        drained(rx).await
    }

    #[tokio::test]
    async fn an_event_replay_reads_the_log_in_pages_then_ends_the_hold() {
        let world = World::new(Default::default());
        let chat = ChatService::new(world.repo.clone(), Arc::new(NoopPublisher));
        let (user, room) = (world.user_id, world.room_id);
        let mut last = None;
        for i in 0..(REPLAY_PAGE + 5) {
            let m = chat
                .post_message(user, room, &format!("m{i}"), None)
                .unwrap();
            last = Some(m.into_message());
        }
        let last = last.unwrap();
        chat.edit_message(user, room, last.id, "edited").unwrap();
        chat.react(user, room, last.id, "👍", true).unwrap();
        // The owner's joining is event 1; the client has it.
        let replies = replayed_events(&chat, user, room, 1).await;
        let mut seqs = Vec::new();
        let mut kinds = Vec::new();
        for r in &replies {
            if let Reply::Events { items, .. } = r {
                for (seq, event_seq, frame) in items {
                    seqs.push(*event_seq);
                    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
                    assert_eq!(v["event_seq"], *event_seq);
                    assert_eq!(seq.is_some(), v["type"] == "message.created");
                    kinds.push(v["type"].as_str().unwrap().to_owned());
                }
            }
        }
        let total = REPLAY_PAGE as i64 + 5 + 2;
        assert_eq!(seqs, (2..=total + 1).collect::<Vec<_>>());
        assert_eq!(
            kinds[kinds.len() - 2..],
            ["message.updated", "reaction.added"]
        );
        assert!(matches!(replies.last(), Some(Reply::ReplayDone { .. })));
        let nothing = replayed_events(&chat, user, room, total + 1).await;
        assert!(matches!(&nothing[..], [Reply::ReplayDone { .. }]));
    }

    #[tokio::test]
    async fn a_pruned_log_answers_sync_reset() {
        let world = World::new(Default::default());
        let chat = ChatService::new(world.repo.clone(), Arc::new(NoopPublisher));
        chat.prune_event_log(std::time::Duration::ZERO).unwrap();
        let replies = replayed_events(&chat, world.user_id, world.room_id, 0).await;
        match &replies[..] {
            [Reply::Frame(reset), Reply::ReplayDone { .. }] => {
                let v: serde_json::Value = serde_json::from_str(reset).unwrap();
                assert_eq!(
                    v,
                    serde_json::json!({"type": "sync.reset", "room_id": world.room_id, "ref": "s"})
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_connection_stops_the_replay() {
        let world = World::new(Default::default());
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        assert!(
            !replay(
                &world.shared.chat,
                world.user_id,
                world.room_id,
                0,
                None,
                &tx
            )
            .await
        );
    }
}
