//! Ending sessions while other connections write, on both backends: never an error. (On SQLite
//! a transaction that reads before it writes fails at once when it cannot upgrade its lock;
//! ending sessions writes first.)
mod common;

use std::sync::{Arc, Barrier};

use chrono::{TimeDelta, Utc};
use common::{repo, user};
use huddle_domain::repository::{NewRefreshToken, NewSession, SessionFilter, TokenRepository};
use huddle_test_support::{Backend, TestDb};

fn token(user_id: i64, session: &str, hash: &str) -> NewRefreshToken {
    NewRefreshToken {
        user_id,
        family_id: session.into(),
        token_hash: hash.into(),
        expires_at: Utc::now() + TimeDelta::days(1),
    }
}

fn concurrent_endings_and_rotations_never_fail(backend: Backend) {
    if !backend.available() {
        return;
    }
    let db = TestDb::create(backend);
    let repo = repo(&db);
    let ann = user(&repo, "ann");
    for round in 0..10 {
        let sessions: Vec<String> = (0..4).map(|i| format!("r{round}s{i}")).collect();
        for s in &sessions {
            repo.start_session(NewSession {
                user_agent: None,
                first_token: token(ann, s, &format!("{s}-0")),
            })
            .unwrap();
        }
        let barrier = Arc::new(Barrier::new(12));
        let mut threads = Vec::new();
        for t in 0..12 {
            let (repo, barrier, sessions) = (repo.clone(), barrier.clone(), sessions.clone());
            threads.push(std::thread::spawn(move || {
                let s = &sessions[t % sessions.len()];
                barrier.wait();
                if t % 3 == 0 {
                    let spent = repo
                        .refresh_token_by_hash(&format!("{s}-0"))
                        .unwrap()
                        .unwrap();
                    repo.rotate_refresh_token(spent.id, token(ann, s, &format!("{s}-next{t}")))
                        .map(drop)
                } else {
                    repo.end_sessions(SessionFilter::One {
                        id: s,
                        user_id: Some(ann),
                    })
                    .map(drop)
                }
            }));
        }
        for t in threads {
            let result = t.join().expect("thread");
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
        assert!(repo.live_sessions(ann).unwrap().is_empty(), "round {round}");
    }
}

#[test]
fn sqlite() {
    concurrent_endings_and_rotations_never_fail(Backend::Sqlite);
}

#[test]
fn postgres() {
    concurrent_endings_and_rotations_never_fail(Backend::Postgres);
}
