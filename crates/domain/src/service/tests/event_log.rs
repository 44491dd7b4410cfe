//! Replaying a room's log: what a client that was away gets on resume.
use std::time::Duration;

use super::*;
use crate::event_log::LogSlice;
use crate::service::RoomInput;

fn replay(w: &World, after: i64, limit: usize) -> (Vec<DomainEvent>, bool) {
    match w.chat.events_after(w.owner, w.room, after, limit).unwrap() {
        LogSlice::Entries { items, has_more } => (items, has_more),
        LogSlice::Reset => panic!("reset"),
    }
}

#[test]
fn a_replay_gives_what_live_delivery_gave_in_order() {
    let w = World::new(false);
    let from = w.last_event_seq;
    // One change of every kind, each to a different message so that "as it is now" is "as it
    // was then".
    let posted = w
        .chat
        .post_message(w.member, w.room, "hello", None)
        .unwrap()
        .into_message();
    w.chat
        .edit_message(w.admin, w.room, w.live[&w.admin], "edited")
        .unwrap();
    w.chat
        .react(w.member, w.room, w.live[&w.owner], "👍", true)
        .unwrap();
    w.chat
        .react(w.member, w.room, w.live[&w.owner], "🎉", true)
        .unwrap();
    w.chat
        .react(w.member, w.room, w.live[&w.owner], "🎉", false)
        .unwrap();
    w.chat
        .delete_message(w.owner, w.room, w.live[&w.member2])
        .unwrap();
    w.chat.join_room(w.stranger, w.room).unwrap();
    w.chat.leave_room(w.stranger, w.room).unwrap();
    w.chat.kick_member(w.owner, w.room, w.member2).unwrap();
    let renamed = RoomInput {
        name: Some("renamed".into()),
        description: None,
        is_private: None,
    };
    w.chat.update_room(w.owner, w.room, renamed).unwrap();
    let live = w.events.take();
    assert_eq!(live.len(), 10);

    let (replayed, has_more) = replay(&w, from, 100);
    assert!(!has_more);
    assert_eq!(replayed, live);
    let seqs: Vec<i64> = replayed.iter().filter_map(DomainEvent::event_seq).collect();
    assert_eq!(seqs, ((from + 1)..=(from + 10)).collect::<Vec<_>>());
    assert!(
        matches!(&replayed[0], DomainEvent::MessageCreated { message, .. } if message.id == posted.id)
    );
    let cursor = w.chat.rooms_of(w.owner).unwrap();
    assert!(cursor
        .iter()
        .any(|c| c.room_id == w.room && c.last_event_seq == from + 10));

    // In pages, from any point.
    let (first, more) = replay(&w, from, 3);
    assert!(more);
    let (rest, more) = replay(&w, from + 3, 100);
    assert!(!more);
    assert_eq!([first, rest].concat(), live);
    assert_eq!(replay(&w, from + 10, 100), (vec![], false));
}

#[test]
fn the_log_from_the_start_holds_the_setup() {
    let w = World::new(false);
    let (all, _) = replay(&w, 0, 1000);
    assert_eq!(all.len() as i64, w.last_event_seq);
    let kinds: Vec<&str> = all
        .iter()
        .take(3)
        .map(|e| match e {
            DomainEvent::MemberJoined { .. } => "joined",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["joined"; 3], "the owner, then the first members");
    // A message created then deleted replays as it is now: deleted, then its deletion.
    let doomed = w.deleted[&w.owner];
    let about_doomed: Vec<&DomainEvent> = all
        .iter()
        .filter(|e| match e {
            DomainEvent::MessageCreated { message, .. } => message.id == doomed,
            DomainEvent::MessageDeleted { message_id, .. } => *message_id == doomed,
            _ => false,
        })
        .collect();
    assert!(matches!(
        about_doomed[..],
        [DomainEvent::MessageCreated { message, .. }, DomainEvent::MessageDeleted { .. }]
            if message.deleted
    ));
    // A negative point reads from the start.
    assert_eq!(replay(&w, -5, 1000).0, all);
}

#[test]
fn past_the_retention_the_reader_is_told_to_reload() {
    let w = World::new(false);
    let last = w.last_event_seq;
    assert!(w.chat.prune_event_log(Duration::ZERO).unwrap() > 0);
    assert_eq!(
        w.chat.events_after(w.owner, w.room, 0, 10).unwrap(),
        LogSlice::Reset
    );
    assert_eq!(
        w.chat.events_after(w.owner, w.room, last - 1, 10).unwrap(),
        LogSlice::Reset
    );
    // From the pruned point on, the log goes on as before.
    assert_eq!(replay(&w, last, 10), (vec![], false));
    w.chat.post_message(w.owner, w.room, "after", None).unwrap();
    let (after, _) = replay(&w, last, 10);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].event_seq(), Some(last + 1));
    // A long retention keeps what is recent.
    w.chat
        .react(w.owner, w.room, w.live[&w.admin], "👍", true)
        .unwrap();
    assert_eq!(
        w.chat.prune_event_log(Duration::from_secs(3600)).unwrap(),
        0
    );
    assert_eq!(replay(&w, last, 10).0.len(), 2);
}

#[test]
fn only_members_replay_a_room() {
    let w = World::new(true);
    assert_eq!(
        Want::of(&w.chat.events_after(w.outsider, w.room, 0, 10)),
        Want::NotFound("room")
    );
    assert_eq!(
        Want::of(&w.chat.events_after(w.stranger, w.room, 0, 10)),
        Want::NotFound("room")
    );
}
