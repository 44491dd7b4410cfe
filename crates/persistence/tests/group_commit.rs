//! Message storage straight through the repository, on both backends: many threads storing at
//! once (so the writer batches them) still give every room gap-free seqs, and retries with the
//! same client_msg_id store nothing twice, even inside one batch.
use std::collections::HashMap;
use std::sync::Arc;

use huddle_domain::repository::{
    MessageRepository, NewMessage, NewRoom, NewUser, RoomRepository, Stored, UserRepository,
};
use huddle_persistence::{DatabaseConfig, DieselRepository};
use huddle_test_support::{Backend, TestDb};

fn repo(db: &TestDb) -> Arc<DieselRepository> {
    Arc::new(DieselRepository::connect(&DatabaseConfig::from_url(&db.url, 8)).expect("connect"))
}

fn concurrent_stores_are_gap_free_per_room(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo(&db);
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
        let repo = repo.clone();
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

macro_rules! both {
    ($($name:ident),*) => {
        mod sqlite { $( #[test] fn $name() { super::$name(huddle_test_support::Backend::Sqlite) } )* }
        mod postgres { $( #[test] fn $name() { if huddle_test_support::Backend::Postgres.available() { super::$name(huddle_test_support::Backend::Postgres) } } )* }
    };
}

both!(
    concurrent_stores_are_gap_free_per_room,
    a_failing_message_does_not_fail_its_batch
);
