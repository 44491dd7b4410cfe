//! Message storage straight through the repository, on both backends: many threads storing at
//! once (so the writer batches them) still give every room gap-free seqs, and retries with the
//! same client_msg_id store nothing twice, even inside one batch. The membership check runs in
//! the batch: refused sends use no seq and do not disturb the others. Several writers keep each
//! room's seqs gap-free and in arrival order. On PostgreSQL, a batch is one statement that
//! reads membership before it locks the room: sends racing a change of the room are still
//! answered as if checked under the lock.
mod common;

use std::collections::HashMap;
use std::sync::mpsc;

use common::{repo, repo_with, room, send, submit_all, user};
use huddle_domain::repository::{
    HistoryWindow, MessageRepository, NewMessage, NewRoom, NewUser, RepoResult, RoomRepository,
    Stored, UserRepository,
};
use huddle_domain::{RepoError, Role, SendRefusal};
use huddle_persistence::{DatabaseConfig, DieselRepository};
use huddle_test_support::{Backend, TestDb};

/// Members' and others' sends mixed in the same batches: a public room's non-member, a private
/// room's non-member and a missing room are refused with their own answers, use no seq, and the
/// members' messages are stored with gap-free seqs in submission order. The second round
/// includes a retry of an earlier round's message, and messages sent twice within the round
/// (stored once, refused twice).
fn refused_sends_use_no_seq_and_spare_the_batch(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo(&db);
    let ann = user(&repo, "ann");
    let bob = user(&repo, "bob");
    let public = room(&repo, ann, "public", false);
    let private = room(&repo, ann, "private", true);
    let missing = private + 1000;
    let cara = user(&repo, "cara");
    repo.add_member(public, cara, Role::Member).unwrap();

    enum Expect {
        Created,
        Retry(&'static str),
        /// A repeat of the send `n` places before it, in this round: the same message.
        RepeatOf(usize),
        Refused(SendRefusal),
    }
    let mut expected_seq: HashMap<i64, i64> = HashMap::new();
    for round in 0..2 {
        let mut sends = Vec::new();
        let mut expect = Vec::new();
        for i in 0..40 {
            if round == 1 && i == 20 {
                // A retry of round 0's first message, amid the others: answered with the
                // original, and its batch redone one message at a time.
                sends.push(send(public, ann, "again".into(), Some("r0-0".into())));
                expect.push(Expect::Retry("r0 m0"));
            }
            if round == 1 && i == 30 {
                // Sent twice, back to back: one message, both answers are it.
                for _ in 0..2 {
                    sends.push(send(public, cara, "twice".into(), Some("r1-twice".into())));
                }
                expect.push(Expect::Created);
                expect.push(Expect::RepeatOf(1));
                // Refused twice, taking no seq.
                for _ in 0..2 {
                    sends.push(send(public, bob, "no".into(), Some("r1-no".into())));
                    expect.push(Expect::Refused(SendRefusal::NotMember));
                }
            }
            let (room_id, author, outcome) = match i % 8 {
                0 | 1 => (public, ann, Expect::Created),
                2 => (public, cara, Expect::Created),
                3 => (private, ann, Expect::Created),
                4 => (public, bob, Expect::Refused(SendRefusal::NotMember)),
                5 => (private, bob, Expect::Refused(SendRefusal::PrivateRoom)),
                6 => (private, cara, Expect::Refused(SendRefusal::PrivateRoom)),
                _ => (missing, ann, Expect::Refused(SendRefusal::NoRoom)),
            };
            sends.push(send(
                room_id,
                author,
                format!("r{round} m{i}"),
                Some(format!("r{round}-{i}")),
            ));
            expect.push(outcome);
        }
        let bodies: Vec<(i64, String)> =
            sends.iter().map(|s| (s.room_id, s.body.clone())).collect();
        let results = submit_all(&repo, sends);
        for (i, (result, outcome)) in results.iter().zip(&expect).enumerate() {
            match (result, outcome) {
                (Err(e), Expect::Refused(r)) => assert_eq!(*e, RepoError::Refused(*r), "send {i}"),
                (Ok(Stored::Existing(m)), Expect::Retry(body)) => assert_eq!(m.body, *body),
                (Ok(Stored::Existing(m)), Expect::RepeatOf(n)) => {
                    assert_eq!(Ok(Stored::Created(m.clone())), results[i - n], "send {i}")
                }
                (Ok(Stored::Created(m)), Expect::Created) => {
                    let (room_id, body) = &bodies[i];
                    assert_eq!((m.room_id, &m.body), (*room_id, body));
                    let next = expected_seq.entry(m.room_id).or_insert(0);
                    *next += 1;
                    assert_eq!(m.seq, *next, "seqs gap-free, in submission order: send {i}");
                }
                (other, _) => panic!("round {round} send {i}: unexpected {other:?}"),
            }
        }
    }
    for room_id in [public, private] {
        let stored = repo
            .history(room_id, HistoryWindow::After(0), 1000)
            .unwrap();
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        let n = expected_seq[&room_id];
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "room {room_id}");
        assert_eq!(repo.room_by_id(room_id).unwrap().unwrap().last_seq, n);
        assert!(stored.iter().all(|m| m.author.id != bob));
    }
    // Through the blocking call too.
    assert_eq!(
        repo.store_message(send(public, bob, "x".into(), None)),
        Err(RepoError::Refused(SendRefusal::NotMember))
    );
}

/// Four writers, many rooms, many threads submitting at once: every room's seqs are exactly
/// 1..n, each thread's messages to a room are stored in the order it submitted them, and every
/// answer is the stored row.
fn several_writers_keep_every_room_gap_free(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo_with(&db, Some(4));
    let ann = user(&repo, "ann");
    let rooms: Vec<i64> = (0..12)
        .map(|i| room(&repo, ann, &format!("r{i}"), false))
        .collect();
    let authors: Vec<i64> = (0..8).map(|i| user(&repo, &format!("u{i}"))).collect();
    for &r in &rooms {
        for &a in &authors {
            repo.add_member(r, a, Role::Member).unwrap();
        }
    }
    let mut threads = Vec::new();
    for (t, &author) in authors.iter().enumerate() {
        let repo = repo.clone();
        let rooms = rooms.clone();
        threads.push(std::thread::spawn(move || {
            let sends = (0..60)
                .map(|k| {
                    send(
                        rooms[(k * 7 + t) % rooms.len()],
                        author,
                        format!("t{t} k{k}"),
                        Some(format!("t{t}-{k}")),
                    )
                })
                .collect();
            submit_all(&repo, sends)
        }));
    }
    let mut acked = Vec::new();
    for (t, thread) in threads.into_iter().enumerate() {
        let results = thread.join().unwrap();
        let mut last_seq: HashMap<i64, i64> = HashMap::new();
        for r in results {
            let m = match r {
                Ok(Stored::Created(m)) => m,
                other => panic!("thread {t}: {other:?}"),
            };
            let prev = last_seq.insert(m.room_id, m.seq).unwrap_or(0);
            assert!(m.seq > prev, "thread {t}: room {} out of order", m.room_id);
            acked.push(m);
        }
    }
    assert_eq!(acked.len(), 8 * 60);
    let mut stored_total = 0;
    for &room_id in &rooms {
        let stored = repo
            .history(room_id, HistoryWindow::After(0), 1000)
            .unwrap();
        let n = i64::try_from(stored.len()).unwrap();
        stored_total += stored.len();
        let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "room {room_id}");
        assert_eq!(repo.room_by_id(room_id).unwrap().unwrap().last_seq, n);
    }
    assert_eq!(stored_total, acked.len());
    for m in &acked {
        let row = repo.message_by_id(m.room_id, m.id).unwrap().unwrap();
        assert_eq!(&row, m, "the ack is the stored row");
    }
}

fn concurrent_stores_are_gap_free_per_room(backend: Backend) {
    concurrent_stores_from(backend, 1);
}

/// Two processes (two repositories, each with its own writer and pool) storing into the same
/// rooms at once: each one's batch statement finds rooms changed by the other's under it, and
/// what it defers is stored all the same, once, with every room's seqs gap-free.
fn two_processes_writing_the_same_rooms_keep_them_gap_free(backend: Backend) {
    concurrent_stores_from(backend, 2);
}

/// 16 threads over `processes` repositories on one database (thread t on repository t % n).
fn concurrent_stores_from(backend: Backend, processes: usize) {
    let db = TestDb::create(backend);
    let repos: Vec<_> = (0..processes).map(|_| repo(&db)).collect();
    let repo = repos[0].clone();
    let user = repo
        .create_user(NewUser {
            username: "ann".into(),
            display_name: "Ann".into(),
            password_hash: "x".into(),
        })
        .unwrap();
    let rooms: Vec<i64> = (0..5)
        .map(|i| {
            repo.create_room(NewRoom {
                name: format!("r{i}"),
                description: String::new(),
                is_private: false,
                owner_id: user.id,
            })
            .unwrap()
            .id
        })
        .collect();
    // 16 threads x 25 sends, spread over 5 rooms; every send is tried twice (same
    // client_msg_id), the retry racing the original from another thread.
    let mut threads = Vec::new();
    for t in 0..16 {
        let repo = repos[t % processes].clone();
        let rooms = rooms.clone();
        threads.push(std::thread::spawn(move || {
            let mut out = Vec::new();
            for j in 0..25 {
                let k = (t / 2) * 25 + j; // threads 2n and 2n+1 send the same messages
                let new = NewMessage {
                    room_id: rooms[k % rooms.len()],
                    author_id: user.id,
                    body: format!("m{k}"),
                    client_msg_id: Some(format!("c{k}")),
                    reply_to: None,
                    mentions: Default::default(),
                    attachments: Vec::new(),
                };
                out.push(repo.store_message(new).unwrap());
            }
            out
        }));
    }
    let stored: Vec<Stored> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let created: Vec<_> = stored
        .iter()
        .filter(|s| matches!(s, Stored::Created(_)))
        .collect();
    assert_eq!(
        created.len(),
        200,
        "each of the 200 distinct sends stored once"
    );
    assert_eq!(
        stored.len() - created.len(),
        200,
        "each retry answered with the first"
    );
    let mut by_cmid: HashMap<String, i64> = HashMap::new();
    for s in &stored {
        let m = s.message();
        let id = *by_cmid
            .entry(m.client_msg_id.clone().unwrap())
            .or_insert(m.id);
        assert_eq!(id, m.id, "a retry got a different message");
    }
    for room in rooms {
        let mut seqs: Vec<i64> = stored
            .iter()
            .filter_map(|s| match s {
                Stored::Created(m) if m.room_id == room => Some(m.seq),
                _ => None,
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "room {room}");
        assert_eq!(repo.room_by_id(room).unwrap().unwrap().last_seq, 40);
    }
}

fn a_failing_message_does_not_fail_its_batch(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo(&db);
    let user = repo
        .create_user(NewUser {
            username: "bob".into(),
            display_name: "Bob".into(),
            password_hash: "x".into(),
        })
        .unwrap();
    let room = repo
        .create_room(NewRoom {
            name: "r".into(),
            description: String::new(),
            is_private: false,
            owner_id: user.id,
        })
        .unwrap()
        .id;
    let mut threads = Vec::new();
    for i in 0..20 {
        let repo = repo.clone();
        threads.push(std::thread::spawn(move || {
            // Every fourth send names a room that does not exist.
            let room_id = if i % 4 == 0 { room + 1000 } else { room };
            repo.store_message(NewMessage {
                room_id,
                author_id: user.id,
                body: format!("m{i}"),
                client_msg_id: None,
                reply_to: None,
                mentions: Default::default(),
                attachments: Vec::new(),
            })
        }));
    }
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
    let mut seqs: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|s| s.message().seq))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>());
}

/// Runs `change` in a transaction of its own that holds `room`'s row lock, submits `new` while
/// the lock is held, waits until the writer is blocked on that lock, commits, and returns the
/// send's answer. PostgreSQL only: it pins the moment between the batch statement's snapshot
/// and its room lock.
fn send_while_room_changes(
    db: &TestDb,
    repo: &DieselRepository,
    room: i64,
    change: &str,
    new: NewMessage,
) -> RepoResult<Stored> {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection, RunQueryDsl};

    let mut holder = PgConnection::establish(&db.url).unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; UPDATE rooms SET member_count = member_count WHERE id = {room}; {change}"
        ))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    repo.submit_message(
        new,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let mut watcher = PgConnection::establish(&db.url).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let blocked = (0..1000).any(|_| {
        let w: Waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut watcher)
        .unwrap();
        w.n > 0 || {
            std::thread::sleep(std::time::Duration::from_millis(10));
            false
        }
    });
    assert!(blocked, "the writer never waited for the room's lock");
    holder.batch_execute("COMMIT").unwrap();
    rx.recv().unwrap()
}

/// The batch statement reads membership from its snapshot, before it locks the room: an
/// author removed (and the room's row updated, as every membership change does) while it
/// waits for the lock must still be refused, and use no seq. A member's send in the same
/// position is stored.
fn a_send_racing_its_authors_removal_is_refused(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo(&db);
    let ann = user(&repo, "ann");
    let bob = user(&repo, "bob");
    let room_id = room(&repo, ann, "r", false);
    repo.add_member(room_id, bob, Role::Member).unwrap();

    let removal =
        format!("DELETE FROM room_members WHERE room_id = {room_id} AND user_id = {bob};");
    let answer = send_while_room_changes(
        &db,
        &repo,
        room_id,
        &removal,
        send(room_id, bob, "sneaky".into(), Some("b1".into())),
    );
    assert_eq!(answer, Err(RepoError::Refused(SendRefusal::NotMember)));
    let answer = send_while_room_changes(
        &db,
        &repo,
        room_id,
        "",
        send(room_id, ann, "fine".into(), Some("a1".into())),
    );
    match answer {
        Ok(Stored::Created(m)) => assert_eq!((m.seq, m.body.as_str()), (1, "fine")),
        other => panic!("unexpected {other:?}"),
    }
    let stored = repo.history(room_id, HistoryWindow::After(0), 10).unwrap();
    assert_eq!(stored.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1]);
    assert_eq!(repo.room_by_id(room_id).unwrap().unwrap().last_seq, 1);
}

/// A room deleted while the batch statement waits for its lock: the send is answered "no such
/// room", nothing is stored.
fn a_send_racing_its_rooms_deletion_finds_no_room(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo(&db);
    let ann = user(&repo, "ann");
    let room_id = room(&repo, ann, "r", false);
    let answer = send_while_room_changes(
        &db,
        &repo,
        room_id,
        &format!("DELETE FROM rooms WHERE id = {room_id};"),
        send(room_id, ann, "late".into(), None),
    );
    assert_eq!(answer, Err(RepoError::Refused(SendRefusal::NoRoom)));
    assert!(repo.room_by_id(room_id).unwrap().is_none());
}

macro_rules! postgres_only {
    ($($name:ident),*) => {
        mod postgres_races { $( #[test] fn $name() { if huddle_test_support::Backend::Postgres.available() { super::$name(huddle_test_support::Backend::Postgres) } } )* }
    };
}

postgres_only!(
    a_send_racing_its_authors_removal_is_refused,
    a_send_racing_its_rooms_deletion_finds_no_room
);

huddle_test_support::blocking_backend_tests!(
    concurrent_stores_are_gap_free_per_room,
    two_processes_writing_the_same_rooms_keep_them_gap_free,
    a_failing_message_does_not_fail_its_batch,
    refused_sends_use_no_seq_and_spare_the_batch,
    several_writers_keep_every_room_gap_free
);

#[test]
fn two_writers_on_postgres_one_on_sqlite_unless_configured_and_never_more_than_the_pool() {
    let pg = |pool| DatabaseConfig::from_url("postgres://x/y", pool);
    assert_eq!(pg(10).writer_count(), 2);
    assert_eq!(pg(1).writer_count(), 1, "never more than the pool");
    let lite = DatabaseConfig::from_url("sqlite://x.db", 10);
    assert_eq!(lite.writer_count(), 1);
    let mut set = pg(4);
    set.writers = Some(9);
    assert_eq!(set.writer_count(), 4, "never more than the pool");
    set.writers = Some(2);
    assert_eq!(set.writer_count(), 2);
}
