//! Messages: `MessageRepository`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{room, send, seqs, user};
use crate::entities::*;
use crate::error::{RepoError, SendRefusal};
use crate::repository::*;
use crate::Repository;

pub fn seqs_are_per_room_gap_free_and_refusals_use_none(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let public = room(repo, ann, "public", false);
    let private = room(repo, ann, "private", true);
    let refused = [
        (public, bob, SendRefusal::NotMember),
        (private, bob, SendRefusal::PrivateRoom),
        (999, ann, SendRefusal::NoRoom),
    ];
    for i in 1..=3 {
        for (r, author, why) in refused {
            assert_eq!(
                send(repo, r, author, "no", None),
                Err(RepoError::Refused(why))
            );
        }
        for r in [public, private] {
            let m = send(repo, r, ann, &format!("m{i}"), None).unwrap();
            let Stored::Created(m) = m else {
                panic!("{m:?}")
            };
            assert_eq!(
                (m.room_id, m.seq, m.author.id, m.deleted),
                (r, i, ann, false)
            );
            assert_eq!(repo.message_by_id(r, m.id).unwrap(), Some(m));
        }
    }
    for r in [public, private] {
        assert_eq!(seqs(repo, r), vec![1, 2, 3]);
        assert_eq!(repo.room_by_id(r).unwrap().unwrap().last_seq, 3);
    }
}

pub fn a_repeated_client_msg_id_answers_the_first_message(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let (r1, r2) = (room(repo, ann, "r1", false), room(repo, ann, "r2", false));
    repo.add_member(r1, bob, Role::Member).unwrap();
    let Stored::Created(first) = send(repo, r1, ann, "hello", Some("c1")).unwrap() else {
        panic!("not created")
    };
    assert_eq!(first.client_msg_id.as_deref(), Some("c1"));
    let again = send(repo, r1, ann, "different body", Some("c1")).unwrap();
    assert_eq!(again, Stored::Existing(first.clone()));
    // Another author, another room or no id at all: new messages.
    assert!(matches!(
        send(repo, r1, bob, "x", Some("c1")),
        Ok(Stored::Created(_))
    ));
    assert!(matches!(
        send(repo, r2, ann, "x", Some("c1")),
        Ok(Stored::Created(_))
    ));
    assert!(matches!(
        send(repo, r1, ann, "x", None),
        Ok(Stored::Created(_))
    ));
    assert!(matches!(
        send(repo, r1, ann, "x", None),
        Ok(Stored::Created(_))
    ));
    assert_eq!(seqs(repo, r1), vec![1, 2, 3, 4]);
    // The retry answers the message as it is now.
    repo.delete_message(r1, first.id).unwrap();
    let retry = send(repo, r1, ann, "hello", Some("c1"))
        .unwrap()
        .into_message();
    assert!(retry.deleted && retry.body.is_empty() && retry.id == first.id);
    // Membership is checked first: a retry after leaving is refused.
    let from_bob = send(repo, r1, bob, "x", Some("c1")).unwrap();
    assert!(matches!(from_bob, Stored::Existing(_)));
    repo.remove_member(r1, bob).unwrap();
    assert_eq!(
        send(repo, r1, bob, "x", Some("c1")),
        Err(RepoError::Refused(SendRefusal::NotMember))
    );
}

pub fn history_windows_are_ascending(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let r = room(repo, ann, "r", false);
    let other = room(repo, ann, "other", false);
    for i in 1..=5 {
        send(repo, r, ann, &format!("m{i}"), None).unwrap();
        send(repo, other, ann, "noise", None).unwrap();
    }
    let window = |w, limit| -> Vec<i64> {
        let messages = repo.history(r, w, limit).unwrap();
        messages.iter().map(|m| m.seq).collect()
    };
    assert_eq!(window(HistoryWindow::Latest, 2), vec![4, 5]);
    assert_eq!(window(HistoryWindow::Latest, 9), vec![1, 2, 3, 4, 5]);
    assert_eq!(window(HistoryWindow::Before(4), 2), vec![2, 3]);
    assert_eq!(window(HistoryWindow::Before(1), 2), Vec::<i64>::new());
    assert_eq!(window(HistoryWindow::After(0), 2), vec![1, 2]);
    assert_eq!(window(HistoryWindow::After(3), 9), vec![4, 5]);
    assert_eq!(window(HistoryWindow::After(5), 9), Vec::<i64>::new());
    assert_eq!(window(HistoryWindow::Latest, 0), Vec::<i64>::new());
}

pub fn edits_and_deletes_keep_the_seq(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let r = room(repo, ann, "r", false);
    let other = room(repo, ann, "other", false);
    let m = send(repo, r, ann, "first", None).unwrap().into_message();
    assert_eq!(
        repo.edit_message(other, m.id, "x"),
        Err(RepoError::NotFound)
    );
    assert_eq!(repo.delete_message(other, m.id), Err(RepoError::NotFound));
    assert!(repo.message_by_id(other, m.id).unwrap().is_none());
    let edited = repo.edit_message(r, m.id, "second").unwrap().value;
    assert_eq!((edited.body.as_str(), edited.seq), ("second", m.seq));
    assert!(edited.edited_at.is_some_and(|t| t > m.created_at));
    let deleted = repo.delete_message(r, m.id).unwrap().value;
    assert_eq!(
        (deleted.body.as_str(), deleted.deleted, deleted.seq),
        ("", true, m.seq)
    );
    assert_eq!(deleted.edited_at, edited.edited_at);
    assert_eq!(
        repo.delete_message(r, m.id).map(|l| l.value),
        Ok(deleted.clone()),
        "twice is harmless"
    );
    assert_eq!(repo.edit_message(r, m.id, "back"), Err(RepoError::NotFound));
    assert_eq!(
        repo.history(r, HistoryWindow::Latest, 9).unwrap(),
        vec![deleted]
    );
}

/// A reply quotes a message of its own room, as that message is now, wherever messages are
/// read; anything else is refused and stores nothing.
pub fn replies_quote_a_message_of_the_same_room(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let r = room(repo, ann, "r", false);
    let other = room(repo, bob, "other", false);
    repo.add_member(r, bob, Role::Member).unwrap();
    let long = "x".repeat(150);
    let quoted = send(repo, r, ann, &long, None).unwrap().into_message();
    let elsewhere = send(repo, other, bob, "elsewhere", None)
        .unwrap()
        .into_message();
    let reply = |body: &str, reply_to, cmid: Option<&str>| {
        repo.store_message(NewMessage {
            room_id: r,
            author_id: bob,
            body: body.into(),
            client_msg_id: cmid.map(Into::into),
            reply_to: Some(reply_to),
            mentions: Default::default(),
            attachments: Vec::new(),
        })
    };
    let answer = reply("agreed", quoted.id, Some("c1")).unwrap();
    assert!(matches!(answer, Stored::Created(_)));
    let answer = answer.into_message();
    let preview = answer.reply_to.clone().expect("a preview");
    assert_eq!(
        (preview.id, preview.seq, preview.author.id, preview.deleted),
        (quoted.id, quoted.seq, ann, false)
    );
    assert_eq!(preview.body_preview, "x".repeat(REPLY_PREVIEW_CHARS));
    assert_eq!(answer.reply_to_id, Some(quoted.id));
    // Wherever it is read, and on a retry.
    assert_eq!(
        repo.message_by_id(r, answer.id).unwrap().as_ref(),
        Some(&answer)
    );
    assert_eq!(
        reply("agreed", quoted.id, Some("c1")).unwrap(),
        Stored::Existing(answer.clone())
    );
    let history = repo.history(r, HistoryWindow::Latest, 10).unwrap();
    assert_eq!(history.last(), Some(&answer));
    assert_eq!(history[0].reply_to, None, "the quoted message answers none");
    assert_eq!(
        repo.messages_by_ids(r, &[answer.id]).unwrap()[0].reply_to,
        Some(preview)
    );

    // A message of another room, or none at all: refused, no seq used.
    for bad in [elsewhere.id, 999_999] {
        assert_eq!(
            reply("nope", bad, None),
            Err(RepoError::Refused(SendRefusal::BadReply)),
            "{bad}"
        );
    }
    assert_eq!(seqs(repo, r), [1, 2]);
    // A non-member is told about the room first, never about the message.
    let eve = user(repo, "eve");
    let probe = repo.store_message(NewMessage {
        room_id: r,
        author_id: eve,
        body: "probe".into(),
        client_msg_id: None,
        reply_to: Some(elsewhere.id),
        mentions: Default::default(),
        attachments: Vec::new(),
    });
    assert_eq!(probe, Err(RepoError::Refused(SendRefusal::NotMember)));

    // The quote follows its message: deleted, it shows as deleted.
    repo.delete_message(r, quoted.id).unwrap();
    let now = repo.message_by_id(r, answer.id).unwrap().unwrap();
    let preview = now.reply_to.unwrap();
    assert!(preview.deleted && preview.body_preview.is_empty());
}
