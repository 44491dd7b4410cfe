//! Mentions: the store keeps the room's members among the names a body mentions, and `@room`
//! only from an owner or admin; unread state counts the messages that mention the reader.
use super::*;
use crate::mentions::parse;

fn say(repo: &dyn Repository, room: RoomId, author: UserId, body: &str) -> Message {
    repo.store_message(NewMessage {
        room_id: room,
        author_id: author,
        body: body.into(),
        client_msg_id: None,
        reply_to: None,
        mentions: parse(body),
        attachments: Vec::new(),
    })
    .unwrap()
    .into_message()
}

fn state(repo: &dyn Repository, user: UserId, room: RoomId) -> (i64, i64) {
    let u = repo.unread(user, &[room]).unwrap()[0];
    (u.unread_count, u.mention_count)
}

pub fn mentions_name_members_and_the_room_only_from_managers(repo: &dyn Repository) {
    let [ann, bob, carol, dave] = ["ann", "bob", "carol", "dave"].map(|n| user(repo, n));
    let r = room(repo, ann, "r", false);
    for u in [bob, carol] {
        repo.add_member(r, u, Role::Member).unwrap();
    }
    let named = say(repo, r, bob, "hi @Carol, @dave and @ann; @room too");
    assert_eq!(named.mentions, {
        let mut want = vec![ann, carol];
        want.sort_unstable();
        want
    });
    assert!(!named.mentions_room, "bob is no manager");
    let everyone = say(repo, r, ann, "@room standup");
    assert!(everyone.mentions_room);
    assert!(everyone.mentions.is_empty());
    let plain = say(repo, r, carol, "mail me at carol@example.com");
    assert!(plain.mentions.is_empty() && !plain.mentions_room);
    // As stored, wherever read.
    assert_eq!(
        repo.message_by_id(r, named.id).unwrap().as_ref(),
        Some(&named)
    );
    let history = repo.history(r, HistoryWindow::Latest, 10).unwrap();
    assert_eq!(history, [named.clone(), everyone.clone(), plain.clone()]);

    // Unread state counts what mentions the reader, by others, not deleted, past the mark.
    assert_eq!(state(repo, carol, r), (2, 2), "named, and @room");
    assert_eq!(
        state(repo, ann, r),
        (2, 1),
        "named by bob; her own @room is hers"
    );
    assert_eq!(state(repo, bob, r), (2, 1), "ann's @room");
    repo.mark_read(r, carol, named.seq).unwrap();
    assert_eq!(state(repo, carol, r), (1, 1));
    repo.delete_message(r, everyone.id).unwrap();
    assert_eq!(state(repo, carol, r), (0, 0));
    assert_eq!(state(repo, dave, r).1, 0, "not a member: never mentioned");
    // Named and @room at once is one mention; a mark past the last message leaves nothing.
    let both = say(repo, r, ann, "@room, @carol especially");
    assert!(both.mentions_room && both.mentions == [carol]);
    assert_eq!(state(repo, carol, r), (1, 1));
    repo.mark_read(r, carol, both.seq + 10).unwrap();
    assert_eq!(state(repo, carol, r), (0, 0));
}
