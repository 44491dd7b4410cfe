//! Helpers shared by this crate's integration tests: a repository over a test database, and
//! users, rooms and sends made through it.
// Each test file uses its own subset.
#![allow(dead_code)]

use std::sync::{mpsc, Arc};

use huddle_domain::repository::{
    MessageRepository, NewMessage, NewRoom, NewUser, RepoResult, RoomRepository, Stored,
    UserRepository,
};
use huddle_persistence::{DatabaseConfig, DieselRepository};
use huddle_test_support::TestDb;

pub fn repo(db: &TestDb) -> Arc<DieselRepository> {
    repo_with(db, None)
}

pub fn repo_with(db: &TestDb, writers: Option<u32>) -> Arc<DieselRepository> {
    let mut config = DatabaseConfig::from_url(&db.url, 8);
    config.writers = writers;
    Arc::new(DieselRepository::connect(&config).expect("connect"))
}

pub fn user(repo: &DieselRepository, name: &str) -> i64 {
    repo.create_user(NewUser {
        username: name.into(),
        display_name: name.into(),
        password_hash: "x".into(),
    })
    .unwrap()
    .id
}

pub fn room(repo: &DieselRepository, owner: i64, name: &str, is_private: bool) -> i64 {
    repo.create_room(NewRoom {
        name: name.into(),
        description: String::new(),
        is_private,
        owner_id: owner,
    })
    .unwrap()
    .id
}

/// Submits every message at once (without waiting, so they share batches) and collects the
/// outcomes in submission order.
pub fn submit_all(repo: &DieselRepository, sends: Vec<NewMessage>) -> Vec<RepoResult<Stored>> {
    let answers: Vec<mpsc::Receiver<RepoResult<Stored>>> = sends
        .into_iter()
        .map(|new| {
            let (tx, rx) = mpsc::channel();
            repo.submit_message(
                new,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            );
            rx
        })
        .collect();
    answers.into_iter().map(|rx| rx.recv().unwrap()).collect()
}

pub fn send(room_id: i64, author_id: i64, body: String, cmid: Option<String>) -> NewMessage {
    NewMessage {
        room_id,
        author_id,
        body,
        client_msg_id: cmid,
        reply_to: None,
        mentions: Default::default(),
        attachments: Vec::new(),
    }
}
