//! Concurrent writers: the contracts still hold when many threads call one repository at once
//! (`Repository` is `Sync`, so one `&dyn Repository` is shared by scoped threads). Each test
//! lines its threads up on a barrier so that their calls overlap as much as they can.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Barrier;
use std::thread;

use chrono::{TimeDelta, Utc};

use super::{room, send, seqs, user};
use crate::entities::*;
use crate::error::RepoError;
use crate::repository::*;
use crate::Repository;

/// Threads per test: the tests' database pools hold 8 connections.
pub(super) const THREADS: usize = 8;

/// Runs `f(i)` on `THREADS` threads at once and returns their answers in thread order.
pub(super) fn on_threads<T: Send>(f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (f, start) = (&f, &start);
                s.spawn(move || {
                    start.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

pub fn concurrent_sends_to_one_room_get_every_seq_once(repo: &dyn Repository) {
    const EACH: usize = 25;
    let owner = user(repo, "owner");
    let r = room(repo, owner, "busy", false);
    let authors: Vec<UserId> = (0..THREADS)
        .map(|i| {
            let id = user(repo, &format!("author{i}"));
            repo.add_member(r, id, Role::Member).unwrap();
            id
        })
        .collect();
    let sent: Vec<Vec<Message>> = on_threads(|i| {
        (0..EACH)
            .map(|k| {
                let body = format!("t{i} m{k}");
                match send(repo, r, authors[i], &body, None).unwrap() {
                    Stored::Created(m) => m,
                    other => panic!("a send without a client_msg_id found {other:?}"),
                }
            })
            .collect()
    });

    let total = i64::try_from(THREADS * EACH).unwrap();
    let mut all_seqs: Vec<i64> = sent.iter().flatten().map(|m| m.seq).collect();
    all_seqs.sort_unstable();
    assert_eq!(
        all_seqs,
        (1..=total).collect::<Vec<_>>(),
        "no gaps, no twins"
    );
    let ids: HashSet<MessageId> = sent.iter().flatten().map(|m| m.id).collect();
    assert_eq!(ids.len(), THREADS * EACH, "one row per send");
    for (i, messages) in sent.iter().enumerate() {
        for (k, m) in messages.iter().enumerate() {
            assert_eq!(
                (m.room_id, m.author.id, m.body.as_str()),
                (r, authors[i], format!("t{i} m{k}").as_str())
            );
        }
        // One thread's sends each waited for the one before: their seqs climb.
        assert!(
            messages.windows(2).all(|w| w[0].seq < w[1].seq),
            "thread {i}: {:?}",
            messages.iter().map(|m| m.seq).collect::<Vec<_>>()
        );
    }

    assert_eq!(seqs(repo, r), (1..=total).collect::<Vec<_>>());
    assert_eq!(repo.room_by_id(r).unwrap().unwrap().last_seq, total);
    // The stored history is what the senders were told.
    let mut told: Vec<Message> = sent.into_iter().flatten().collect();
    told.sort_by_key(|m| m.seq);
    let stored = repo
        .history(r, HistoryWindow::Latest, THREADS * EACH)
        .unwrap();
    assert_eq!(stored, told);
}

pub fn concurrent_retries_of_one_send_store_it_once(repo: &dyn Repository) {
    const ROUNDS: usize = 10;
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let r = room(repo, ann, "r", false);
    repo.add_member(r, bob, Role::Member).unwrap();
    // Every thread sends ann's c0, c1, ... (each with a body of its own), and bob's copy of
    // the same ids, which are other messages.
    let answers: Vec<Vec<(Stored, Stored)>> = on_threads(|i| {
        (0..ROUNDS)
            .map(|k| {
                let cmid = format!("c{k}");
                let body = format!("try {i}");
                let a = send(repo, r, ann, &body, Some(&cmid)).unwrap();
                let b = send(repo, r, bob, &body, Some(&cmid)).unwrap();
                (a, b)
            })
            .collect()
    });

    for k in 0..ROUNDS {
        for (who, author) in [("ann", ann), ("bob", bob)] {
            let round: Vec<&Stored> = answers
                .iter()
                .map(|a| if author == ann { &a[k].0 } else { &a[k].1 })
                .collect();
            let created: Vec<&Message> = round
                .iter()
                .filter_map(|s| match s {
                    Stored::Created(m) => Some(m),
                    Stored::Existing(_) => None,
                })
                .collect();
            assert_eq!(
                created.len(),
                1,
                "{who} c{k}: exactly one send stores, got {round:?}"
            );
            let first = created[0];
            assert_eq!(
                (first.author.id, first.client_msg_id.clone()),
                (author, Some(format!("c{k}")))
            );
            for s in &round {
                assert_eq!(
                    s.message(),
                    first,
                    "{who} c{k}: every caller gets the first"
                );
            }
            assert_eq!(
                repo.message_by_id(r, first.id).unwrap().as_ref(),
                Some(first)
            );
        }
    }
    let stored = 2 * i64::try_from(ROUNDS).unwrap();
    assert_eq!(seqs(repo, r), (1..=stored).collect::<Vec<_>>());
    assert_eq!(repo.room_by_id(r).unwrap().unwrap().last_seq, stored);
}

pub fn concurrent_joins_and_leaves_count_members_exactly(repo: &dyn Repository) {
    let owner = user(repo, "owner");
    let r = room(repo, owner, "r", false);
    let joiners: Vec<UserId> = (0..THREADS)
        .map(|i| user(repo, &format!("joiner{i}")))
        .collect();
    let joined = on_threads(|i| repo.add_member(r, joiners[i], Role::Member));
    for (i, m) in joined.iter().enumerate() {
        let m = &m.as_ref().unwrap().value;
        assert_eq!((m.user.id, m.role), (joiners[i], Role::Member));
    }
    let count = |r| repo.room_by_id(r).unwrap().unwrap().member_count;
    assert_eq!(count(r), 1 + i64::try_from(THREADS).unwrap());
    let listed: Vec<UserId> = repo
        .list_members(r, None, 100)
        .unwrap()
        .iter()
        .map(|m| m.user.id)
        .collect();
    assert_eq!(listed, [vec![owner], joiners.clone()].concat());

    // One user joining from every thread at once: one join, the rest are told it is done.
    let late = user(repo, "late");
    let again = on_threads(|_| repo.add_member(r, late, Role::Member));
    assert_eq!(again.iter().filter(|a| a.is_ok()).count(), 1, "{again:?}");
    for a in again.iter().filter(|a| a.is_err()) {
        assert_eq!(a, &Err(RepoError::Conflict("member")));
    }
    assert_eq!(count(r), 2 + i64::try_from(THREADS).unwrap());

    // Half leave while the other half leave twice over: each leaves once.
    let left = on_threads(|i| repo.remove_member(r, joiners[i / 2]).unwrap());
    for pair in left.chunks(2) {
        assert_eq!(pair.iter().filter(|l| l.is_some()).count(), 1, "{left:?}");
    }
    assert_eq!(count(r), 2 + i64::try_from(THREADS / 2).unwrap());
    let listed: HashSet<UserId> = repo
        .list_members(r, None, 100)
        .unwrap()
        .iter()
        .map(|m| m.user.id)
        .collect();
    let expected: HashSet<UserId> = [owner, late]
        .into_iter()
        .chain(joiners[THREADS / 2..].iter().copied())
        .collect();
    assert_eq!(listed, expected);
}

pub fn concurrent_rotations_of_one_token_let_exactly_one_through(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let token = |hash: String| NewRefreshToken {
        user_id: ann,
        family_id: "s1".into(),
        token_hash: hash,
        expires_at: Utc::now() + TimeDelta::days(1),
    };
    repo.start_session(NewSession {
        user_agent: None,
        first_token: token("s1-0".into()),
    })
    .unwrap();
    let first = repo.refresh_token_by_hash("s1-0").unwrap().unwrap();
    let rotated = on_threads(|i| {
        repo.rotate_refresh_token(first.id, token(format!("s1-next{i}")))
            .unwrap()
    });
    let winners: Vec<usize> = (0..THREADS).filter(|&i| rotated[i]).collect();
    assert_eq!(winners.len(), 1, "{rotated:?}");
    for i in 0..THREADS {
        let successor = repo.refresh_token_by_hash(&format!("s1-next{i}")).unwrap();
        assert_eq!(
            successor.is_some(),
            i == winners[0],
            "only the winner's successor is stored"
        );
    }
    assert!(repo
        .refresh_token_by_hash("s1-0")
        .unwrap()
        .unwrap()
        .spent_at
        .is_some());

    // Ending the session from every thread at once: one of them reports it.
    let ended = on_threads(|_| {
        repo.end_sessions(SessionFilter::One {
            id: "s1",
            user_id: None,
        })
        .unwrap()
    });
    let reports: Vec<&EndedSession> = ended.iter().flatten().collect();
    assert_eq!(reports.len(), 1, "{ended:?}");
    assert_eq!((reports[0].id.as_str(), reports[0].user_id), ("s1", ann));
    assert!(repo.live_sessions(ann).unwrap().is_empty());
}
