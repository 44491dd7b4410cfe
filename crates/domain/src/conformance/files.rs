//! Files: attachments are written with their message, read wherever it is, and move to the
//! trash with their message or room, in the same transaction.
use super::*;

fn file(id: &str, name: &str) -> NewAttachment {
    NewAttachment {
        id: id.into(),
        name: name.into(),
        content_type: "image/png".into(),
        size: 1234,
        width: Some(40),
        height: Some(30),
    }
}

fn send_files(
    repo: &dyn Repository,
    room: RoomId,
    author: UserId,
    cmid: Option<&str>,
    files: Vec<NewAttachment>,
) -> RepoResult<Stored> {
    repo.store_message(NewMessage {
        room_id: room,
        author_id: author,
        body: String::new(),
        client_msg_id: cmid.map(Into::into),
        reply_to: None,
        mentions: Default::default(),
        attachments: files,
    })
}

pub fn attachments_come_with_their_message_and_go_with_it(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let r = room(repo, ann, "r", false);
    let plain = send(repo, r, ann, "no files", None).unwrap().into_message();
    assert!(plain.attachments.is_empty());
    let sent = send_files(
        repo,
        r,
        ann,
        Some("c1"),
        vec![file("f-1", "a.png"), file("f-2", "b.png")],
    )
    .unwrap()
    .into_message();
    let names: Vec<&str> = sent.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["a.png", "b.png"], "in the order sent");
    let a = &sent.attachments[0];
    assert_eq!(
        (
            a.id.as_str(),
            a.content_type.as_str(),
            a.size,
            a.width,
            a.height
        ),
        ("f-1", "image/png", 1234, Some(40), Some(30))
    );
    assert!(a.url.contains("f-1"), "{}", a.url);
    // Wherever the message is read.
    assert_eq!(
        repo.message_by_id(r, sent.id).unwrap().as_ref(),
        Some(&sent)
    );
    let history = repo.history(r, HistoryWindow::Latest, 10).unwrap();
    assert_eq!(history, [plain, sent.clone()]);
    assert_eq!(
        repo.messages_by_ids(r, &[sent.id]).unwrap(),
        std::slice::from_ref(&sent)
    );
    let stored = repo.file("f-2").unwrap().unwrap();
    assert_eq!(
        (stored.room_id, &stored.attachment),
        (r, &sent.attachments[1])
    );
    assert!(repo.file("f-3").unwrap().is_none());

    // A retry answers the first message and attaches nothing new.
    let retry = send_files(repo, r, ann, Some("c1"), vec![file("f-9", "again.png")]).unwrap();
    assert_eq!(retry, Stored::Existing(sent.clone()));
    assert!(repo.file("f-9").unwrap().is_none());
    assert!(
        repo.file_trash(10).unwrap().is_empty(),
        "the caller deletes f-9"
    );

    // Deleting the message moves its files to the trash, once.
    repo.delete_message(r, sent.id).unwrap();
    let deleted = repo.message_by_id(r, sent.id).unwrap().unwrap();
    assert!(deleted.attachments.is_empty());
    assert!(repo.file("f-1").unwrap().is_none());
    let mut trash = repo.file_trash(10).unwrap();
    trash.sort();
    assert_eq!(trash, ["f-1", "f-2"]);
    assert_eq!(repo.file_trash(1).unwrap().len(), 1, "limited");
    repo.forget_file_trash(&["f-1".into()]).unwrap();
    assert_eq!(repo.file_trash(10).unwrap(), ["f-2"]);
    repo.forget_file_trash(&["f-2".into(), "never".into()])
        .unwrap();
    assert!(repo.file_trash(10).unwrap().is_empty());
}

pub fn refused_sends_attach_nothing_and_rooms_take_their_files(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let r = room(repo, ann, "r", false);
    let other = room(repo, ann, "other", false);
    let refused = send_files(repo, r, bob, None, vec![file("f-bob", "x.png")]);
    assert_eq!(refused, Err(RepoError::Refused(SendRefusal::NotMember)));
    assert!(repo.file("f-bob").unwrap().is_none());
    send_files(repo, r, ann, None, vec![file("f-1", "a.png")]).unwrap();
    send_files(repo, other, ann, None, vec![file("f-2", "b.png")]).unwrap();
    repo.delete_room(r).unwrap();
    assert_eq!(repo.file_trash(10).unwrap(), ["f-1"]);
    assert!(repo.file("f-1").unwrap().is_none());
    assert_eq!(repo.file("f-2").unwrap().unwrap().room_id, other);
}
