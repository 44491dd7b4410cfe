//! Messages beyond who may: sends and their retries, the callback, history windows, what edits
//! and deletes announce.
use super::*;

#[test]
fn a_send_is_stored_with_the_next_seq_and_announced() {
    let w = World::new(true);
    let stored = w
        .chat
        .post_message(w.member, w.room, " hi\n", Some("c1"))
        .unwrap();
    let Stored::Created(m) = stored else {
        panic!("{stored:?}")
    };
    assert_eq!(
        (m.seq, m.body.as_str(), m.author.id),
        (w.last_seq + 1, " hi\n", w.member)
    );
    assert_eq!(m.client_msg_id.as_deref(), Some("c1"));
    assert_eq!(
        w.events.take(),
        vec![DomainEvent::MessageCreated {
            room_id: w.room,
            message: m.clone(),
            event_seq: w.last_event_seq + 1
        }]
    );
    // The same client_msg_id again: the first message, nothing stored or announced.
    let again = w
        .chat
        .post_message(w.member, w.room, "other", Some("c1"))
        .unwrap();
    assert_eq!(again, Stored::Existing(m.clone()));
    assert!(w.events.take().is_empty());
    assert_eq!(w.repo.room_by_id(w.room).unwrap().unwrap().last_seq, m.seq);
    // From someone else, it is a new message.
    let theirs = w
        .chat
        .post_message(w.admin, w.room, "hey", Some("c1"))
        .unwrap();
    assert!(matches!(theirs, Stored::Created(t) if t.seq == m.seq + 1));
}

#[test]
fn invalid_sends_are_refused_before_anything_is_stored() {
    let w = World::new(false);
    let long = "x".repeat(crate::validation::MESSAGE_BODY_MAX + 1);
    let long_id = "c".repeat(crate::validation::CLIENT_MSG_ID_MAX + 1);
    let cases = [
        ("", None, "body"),
        (" \n\t", None, "body"),
        (long.as_str(), None, "body"),
        ("bell\u{7}", None, "body"),
        ("ok", Some(""), "client_msg_id"),
        ("ok", Some(long_id.as_str()), "client_msg_id"),
        ("ok", Some("a\nb"), "client_msg_id"),
    ];
    for (body, cmid, field) in cases {
        let result = w.chat.post_message(w.member, w.room, body, cmid);
        assert_eq!(Want::of(&result), Want::Invalid(field), "{body:?} {cmid:?}");
    }
    assert!(w.events.take().is_empty());
    assert_eq!(
        w.repo.room_by_id(w.room).unwrap().unwrap().last_seq,
        w.last_seq
    );
}

#[test]
fn send_message_answers_once_after_announcing() {
    let w = World::new(false);
    let answers = Arc::new(Mutex::new(Vec::new()));
    let sends = [
        (w.member, w.room, "hello"),
        (w.member, w.room, ""),
        (w.outsider, w.room, "let me in"),
        (w.member, 999, "nowhere"),
    ];
    for (actor, room, body) in sends {
        let (answers, events) = (answers.clone(), w.events.clone());
        w.chat.send_message(
            actor,
            room,
            body,
            None,
            None,
            Box::new(move |result| {
                // Whatever was announced is announced before the answer.
                let published = events.take().iter().map(brief).collect::<Vec<_>>();
                answers.lock().unwrap().push((Want::of(&result), published));
            }),
        );
    }
    let created = format!("message.created seq={} author={}", w.last_seq + 1, w.member);
    assert_eq!(
        *answers.lock().unwrap(),
        vec![
            (Want::Ok, vec![created]),
            (Want::Invalid("body"), vec![]),
            (Want::Forbidden, vec![]),
            (Want::NotFound("room"), vec![]),
        ]
    );
}

#[test]
fn history_windows_and_has_more() {
    let w = World::new(false);
    // Ten messages in the room after the setup's.
    for i in 0..10 {
        w.chat
            .post_message(w.member, w.room, &format!("m{i}"), None)
            .unwrap();
    }
    let last = w.last_seq + 10;
    let window = |window, limit| {
        let h = w.chat.history(w.member, w.room, window, limit).unwrap();
        (
            h.items.iter().map(|m| m.seq).collect::<Vec<_>>(),
            h.has_more,
        )
    };
    assert_eq!(
        window(HistoryWindow::Latest, 3),
        (vec![last - 2, last - 1, last], true)
    );
    assert_eq!(window(HistoryWindow::Before(4), 2), (vec![2, 3], true));
    assert_eq!(window(HistoryWindow::Before(3), 2), (vec![1, 2], false));
    assert_eq!(window(HistoryWindow::After(0), 2), (vec![1, 2], true));
    assert_eq!(
        window(HistoryWindow::After(last - 2), 2),
        (vec![last - 1, last], false)
    );
    assert_eq!(window(HistoryWindow::After(last), 5), (vec![], false));
    let (all, more) = window(HistoryWindow::Latest, 200);
    assert_eq!(
        all,
        (1..=last).collect::<Vec<_>>(),
        "gap-free, deleted ones included"
    );
    assert!(!more);
    // Deleted messages keep their place, blanked.
    let h = w
        .chat
        .history(w.member, w.room, HistoryWindow::Latest, 200)
        .unwrap();
    let gone = h
        .items
        .iter()
        .find(|m| m.id == w.deleted[&w.member])
        .unwrap();
    assert!(gone.deleted && gone.body.is_empty());
}

#[test]
fn edits_announce_the_edited_message() {
    let w = World::new(false);
    let id = w.live[&w.member];
    let edited = w.chat.edit_message(w.member, w.room, id, "better").unwrap();
    assert_eq!((edited.id, edited.body.as_str()), (id, "better"));
    assert!(edited.edited_at.is_some());
    assert_eq!(
        w.events.take(),
        vec![DomainEvent::MessageUpdated {
            room_id: w.room,
            message: edited.clone(),
            event_seq: w.last_event_seq + 1
        }]
    );
    assert_eq!(
        w.repo.message_by_id(w.room, id).unwrap(),
        Some(edited.clone())
    );
    // The body is checked before anything else, and a refused edit changes nothing.
    let blank = w.chat.edit_message(w.member, w.room, id, "  ");
    assert_eq!(Want::of(&blank), Want::Invalid("body"));
    let hidden = w.chat.edit_message(w.stranger, w.room, 999, "");
    assert_eq!(Want::of(&hidden), Want::Invalid("body"));
    let missing = w.chat.edit_message(w.member, w.room, 999, "x");
    assert_eq!(Want::of(&missing), Want::NotFound("message"));
    assert_eq!(w.repo.message_by_id(w.room, id).unwrap(), Some(edited));
    assert!(w.events.take().is_empty());
}

#[test]
fn deleting_twice_announces_once() {
    let w = World::new(false);
    let id = w.live[&w.member2];
    let seq = w.repo.message_by_id(w.room, id).unwrap().unwrap().seq;
    w.chat.delete_message(w.member2, w.room, id).unwrap();
    assert_eq!(
        w.events.take(),
        vec![DomainEvent::MessageDeleted {
            room_id: w.room,
            message_id: id,
            seq,
            event_seq: w.last_event_seq + 1
        }]
    );
    w.chat.delete_message(w.owner, w.room, id).unwrap();
    w.chat.delete_message(w.member2, w.room, id).unwrap();
    assert!(w.events.take().is_empty());
    let m = w.repo.message_by_id(w.room, id).unwrap().unwrap();
    assert!(m.deleted && m.body.is_empty() && m.seq == seq);
    let edit = w.chat.edit_message(w.member2, w.room, id, "undo");
    assert_eq!(Want::of(&edit), Want::Conflict(ErrorCode::Conflict));
}

#[test]
fn a_member_who_left_keeps_their_messages_but_cannot_touch_them() {
    let w = World::new(false);
    let id = w.live[&w.member];
    w.chat
        .post_message(w.member, w.room, "bye", Some("c9"))
        .unwrap();
    w.chat.leave_room(w.member, w.room).unwrap();
    w.events.take();
    let m = w.repo.message_by_id(w.room, id).unwrap().unwrap();
    assert_eq!((m.author.id, m.deleted), (w.member, false));
    assert_eq!(
        Want::of(&w.chat.edit_message(w.member, w.room, id, "x")),
        Want::Forbidden
    );
    assert_eq!(
        Want::of(&w.chat.delete_message(w.member, w.room, id)),
        Want::Forbidden
    );
    // Nor retry a send from before: membership is checked before the retry.
    let retry = w.chat.post_message(w.member, w.room, "bye", Some("c9"));
    assert_eq!(Want::of(&retry), Want::Forbidden);
    assert_eq!(
        w.repo.room_by_id(w.room).unwrap().unwrap().last_seq,
        w.last_seq + 1
    );
    // The managers still can.
    w.chat.delete_message(w.admin, w.room, id).unwrap();
    assert_eq!(w.events.take().len(), 1);
}

#[test]
fn a_reply_quotes_a_message_of_its_room_and_nothing_else() {
    let w = World::new(false);
    let send = |reply_to| {
        let (tx, rx) = std::sync::mpsc::channel();
        w.chat.send_message(
            w.member,
            w.room,
            "agreed",
            None,
            Some(reply_to),
            Box::new(move |r| tx.send(r).unwrap()),
        );
        rx.recv().unwrap()
    };
    let quoted = w.live[&w.owner];
    let reply = send(quoted).unwrap().into_message();
    let preview = reply.reply_to.clone().unwrap();
    assert_eq!((preview.id, preview.author.id), (quoted, w.owner));
    assert_eq!(preview.body_preview, "live");
    match &w.events.take()[..] {
        [DomainEvent::MessageCreated { message, .. }] => assert_eq!(message, &reply),
        other => panic!("{other:?}"),
    }
    // Another room's message, or none: a validation error naming the field; nothing stored.
    for bad in [w.elsewhere_message, 999_999] {
        assert_eq!(Want::of(&send(bad)), Want::Invalid("reply_to"));
    }
    assert!(w.events.take().is_empty());
}
