//! `MemoryRepository` holds the repository contract (the shared suite in
//! [`crate::conformance`]), and what only it has: switching it off, and callbacks that may use it.
use std::sync::{Arc, Mutex};

use super::MemoryRepository;
use crate::conformance::{room, user};
use crate::error::{RepoError, SendRefusal};
use crate::repository::*;
use crate::Repository;

fn fresh(test: &dyn Fn(&dyn Repository)) {
    test(&MemoryRepository::new());
}

crate::repository_conformance!(fresh);

#[test]
fn a_switched_off_repository_is_unavailable_and_keeps_its_data() {
    let repo = MemoryRepository::new();
    let ann = user(&repo, "ann");
    repo.set_unavailable(true);
    let unavailable = |r: RepoResult<()>| matches!(r, Err(RepoError::Unavailable(_)));
    assert!(unavailable(repo.ping()));
    assert!(unavailable(repo.user_by_id(ann).map(drop)));
    assert!(unavailable(repo.live_sessions(ann).map(drop)));
    assert!(unavailable(repo.rooms_of_user(ann).map(drop)));
    let answer = Arc::new(Mutex::new(None));
    let slot = answer.clone();
    let new = NewMessage {
        room_id: 1,
        author_id: ann,
        body: "hi".into(),
        client_msg_id: None,
        reply_to: None,
        mentions: Default::default(),
        attachments: Vec::new(),
    };
    repo.submit_message(new, Box::new(move |r| *slot.lock().unwrap() = Some(r)));
    assert!(matches!(
        *answer.lock().unwrap(),
        Some(Err(RepoError::Unavailable(_)))
    ));
    repo.set_unavailable(false);
    assert_eq!(repo.ping(), Ok(()));
    assert!(repo.user_by_id(ann).unwrap().is_some());
}

#[test]
fn a_submit_answers_through_its_callback_which_may_use_the_repository() {
    let repo = Arc::new(MemoryRepository::new());
    let ann = user(&*repo, "ann");
    let r = room(&*repo, ann, "r", false);
    let answers = Arc::new(Mutex::new(Vec::new()));
    for room_id in [r, 999] {
        let (repo2, answers) = (repo.clone(), answers.clone());
        let new = NewMessage {
            room_id,
            author_id: ann,
            body: "hi".into(),
            client_msg_id: None,
            reply_to: None,
            mentions: Default::default(),
            attachments: Vec::new(),
        };
        repo.submit_message(
            new,
            Box::new(move |result| {
                let last_seq = repo2.room_by_id(r).unwrap().unwrap().last_seq;
                answers
                    .lock()
                    .unwrap()
                    .push((result.map(|s| s.into_message().seq), last_seq));
            }),
        );
    }
    assert_eq!(
        *answers.lock().unwrap(),
        vec![
            (Ok(1), 1),
            (Err(RepoError::Refused(SendRefusal::NoRoom)), 1)
        ]
    );
}
