//! Each room's event log: every change takes the room's next `event_seq` in its own
//! transaction, message creations included, with no gaps and no repeats even under concurrent
//! writers; reading it merges messages and other changes in order; pruning tells readers from
//! before it to reload.
use chrono::{TimeDelta, Utc};

use super::concurrency::{on_threads, THREADS};
use super::*;
use crate::event_log::{LogEntry, LogSlice, LoggedEntry, FIRST_EVENT_SEQ};

fn entries(
    repo: &dyn Repository,
    room: RoomId,
    after: i64,
    limit: usize,
) -> (Vec<LoggedEntry>, bool) {
    match repo.log_after(room, after, limit).unwrap() {
        LogSlice::Entries { items, has_more } => (items, has_more),
        LogSlice::Reset => panic!("reset"),
    }
}

fn last_event_seq(repo: &dyn Repository, user: UserId, room: RoomId) -> i64 {
    repo.rooms_of_user(user)
        .unwrap()
        .into_iter()
        .find(|c| c.room_id == room)
        .unwrap()
        .last_event_seq
}

pub fn every_change_takes_the_rooms_next_event_seq(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let r = room(repo, ann, "r", false);
    let other = room(repo, bob, "other", false);
    assert_eq!(
        last_event_seq(repo, ann, r),
        FIRST_EVENT_SEQ,
        "the owner's joining"
    );
    let m1 = send(repo, r, ann, "one", None).unwrap().into_message();
    let m2 = send(repo, r, ann, "two", Some("c2"))
        .unwrap()
        .into_message();
    assert_eq!((m1.event_seq, m2.event_seq), (2, 3));
    let again = send(repo, r, ann, "two", Some("c2"))
        .unwrap()
        .into_message();
    assert_eq!(
        again.event_seq, 3,
        "a retry is the first message, logged once"
    );
    assert_eq!(repo.edit_message(r, m1.id, "uno").unwrap().event_seq, 4);
    assert_eq!(repo.add_reaction(m1.id, ann, "👍").unwrap(), Some(5));
    assert_eq!(
        repo.add_reaction(m1.id, ann, "👍").unwrap(),
        None,
        "no change, no entry"
    );
    assert_eq!(repo.remove_reaction(m1.id, ann, "👍").unwrap(), Some(6));
    assert_eq!(repo.remove_reaction(m1.id, ann, "👍").unwrap(), None);
    assert_eq!(repo.add_member(r, bob, Role::Member).unwrap().event_seq, 7);
    assert_eq!(repo.remove_member(r, bob).unwrap(), Some(8));
    assert_eq!(repo.remove_member(r, bob).unwrap(), None);
    let patch = RoomPatch {
        name: Some("renamed".into()),
        ..RoomPatch::default()
    };
    assert_eq!(repo.update_room(r, patch).unwrap().event_seq, 9);
    assert_eq!(repo.delete_message(r, m2.id).unwrap().event_seq, 10);
    let m3 = send(repo, r, ann, "three", None).unwrap().into_message();
    assert_eq!((m3.seq, m3.event_seq), (3, 11));
    assert_eq!(repo.message_by_id(r, m3.id).unwrap().unwrap().event_seq, 11);
    assert_eq!(last_event_seq(repo, ann, r), 11);
    assert_eq!(
        last_event_seq(repo, bob, other),
        FIRST_EVENT_SEQ,
        "per room"
    );

    let (all, more) = entries(repo, r, 0, 100);
    assert!(!more);
    let want = [
        LogEntry::MemberJoined {
            user_id: ann,
            role: Role::Owner,
        },
        LogEntry::MessageCreated { message_id: m1.id },
        LogEntry::MessageCreated { message_id: m2.id },
        LogEntry::MessageUpdated { message_id: m1.id },
        LogEntry::ReactionAdded {
            message_id: m1.id,
            user_id: ann,
            emoji: "👍".into(),
        },
        LogEntry::ReactionRemoved {
            message_id: m1.id,
            user_id: ann,
            emoji: "👍".into(),
        },
        LogEntry::MemberJoined {
            user_id: bob,
            role: Role::Member,
        },
        LogEntry::MemberLeft { user_id: bob },
        LogEntry::RoomUpdated,
        LogEntry::MessageDeleted { message_id: m2.id },
        LogEntry::MessageCreated { message_id: m3.id },
    ];
    assert_eq!(
        all.iter().map(|e| e.entry.clone()).collect::<Vec<_>>(),
        want
    );
    assert_eq!(
        all.iter().map(|e| e.event_seq).collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>()
    );
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
    assert_eq!(all[1].at, m1.created_at);

    // Pages, from any point: messages and other entries cut at the same place.
    let (page, more) = entries(repo, r, 1, 3);
    assert!(more);
    assert_eq!(
        page.iter().map(|e| e.event_seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    let (page, more) = entries(repo, r, 9, 2);
    assert_eq!(
        page.iter().map(|e| e.event_seq).collect::<Vec<_>>(),
        [10, 11]
    );
    assert!(!more);
    assert_eq!(entries(repo, r, 11, 10), (vec![], false));
    assert_eq!(entries(repo, 999_999, 0, 10), (vec![], false));

    // The messages a replay needs, by id: this room's only, in seq order.
    let elsewhere = send(repo, other, bob, "x", None).unwrap().into_message();
    let found = repo
        .messages_by_ids(r, &[m3.id, m1.id, elsewhere.id, 999_999])
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|m| (m.id, m.body.as_str()))
            .collect::<Vec<_>>(),
        [(m1.id, "uno"), (m3.id, "three")]
    );
    assert!(repo.messages_by_ids(r, &[]).unwrap().is_empty());

    // A room's deletion takes its log.
    repo.delete_room(r).unwrap();
    assert_eq!(entries(repo, r, 0, 10), (vec![], false));
}

pub fn pruning_resets_readers_from_before_it(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let r = room(repo, ann, "r", false);
    let m = send(repo, r, ann, "one", None).unwrap().into_message();
    repo.edit_message(r, m.id, "uno").unwrap();
    repo.add_reaction(m.id, ann, "👍").unwrap();
    assert_eq!(
        repo.prune_log(Utc::now() - TimeDelta::hours(1)).unwrap(),
        0,
        "nothing is that old"
    );
    assert_eq!(entries(repo, r, 0, 10).0.len(), 4);
    // The owner's joining, the edit and the reaction; the message stays.
    assert_eq!(
        repo.prune_log(Utc::now() + TimeDelta::seconds(1)).unwrap(),
        3
    );
    assert_eq!(repo.message_by_id(r, m.id).unwrap().unwrap().body, "uno");
    for before in [0, 1, 3] {
        assert_eq!(
            repo.log_after(r, before, 10).unwrap(),
            LogSlice::Reset,
            "{before}"
        );
    }
    assert_eq!(entries(repo, r, 4, 10), (vec![], false));
    // The log goes on from where it was.
    let next = send(repo, r, ann, "two", None).unwrap().into_message();
    assert_eq!(next.event_seq, 5);
    assert_eq!(repo.remove_reaction(m.id, ann, "👍").unwrap(), Some(6));
    let (after, _) = entries(repo, r, 4, 10);
    assert_eq!(
        after.iter().map(|e| e.event_seq).collect::<Vec<_>>(),
        [5, 6]
    );
}

/// Sends and reactions from many threads at once: the log's event seqs are 1..=n, each once, and
/// every message's is the one the log gives it.
pub fn concurrent_changes_get_every_event_seq_once(repo: &dyn Repository) {
    const EACH: usize = 10;
    let owner = user(repo, "owner");
    let r = room(repo, owner, "busy", false);
    let target = send(repo, r, owner, "react to me", None)
        .unwrap()
        .into_message();
    let authors: Vec<UserId> = (0..THREADS)
        .map(|i| {
            let u = user(repo, &format!("author{i}"));
            repo.add_member(r, u, Role::Member).unwrap();
            u
        })
        .collect();
    on_threads(|i| {
        for k in 0..EACH {
            if (i + k) % 2 == 0 {
                send(repo, r, authors[i], &format!("{i}-{k}"), None).unwrap();
            } else {
                let emoji = char::from_u32(0x1F600 + k as u32).unwrap().to_string();
                repo.add_reaction(target.id, authors[i], &emoji).unwrap();
            }
        }
    });
    let total = 1 + 1 + THREADS + THREADS * EACH;
    let (all, more) = entries(repo, r, 0, 10_000);
    assert!(!more);
    assert_eq!(
        all.iter().map(|e| e.event_seq).collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>()
    );
    assert_eq!(last_event_seq(repo, owner, r), total as i64);
    let history = repo.history(r, HistoryWindow::Latest, 1000).unwrap();
    let logged: Vec<(MessageId, i64)> = all
        .iter()
        .filter_map(|e| match e.entry {
            LogEntry::MessageCreated { message_id } => Some((message_id, e.event_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(
        history
            .iter()
            .map(|m| (m.id, m.event_seq))
            .collect::<Vec<_>>(),
        logged
    );
}
