//! Rooms, members and profiles beyond who may: inputs, pages, what the events carry.
use super::*;

fn input(name: Option<&str>, description: Option<&str>, is_private: Option<bool>) -> RoomInput {
    RoomInput {
        name: name.map(Into::into),
        description: description.map(Into::into),
        is_private,
    }
}

#[test]
fn creating_a_room_makes_the_caller_its_owner_and_announces_them() {
    let w = World::new(false);
    let room = w
        .chat
        .create_room(w.member, input(Some("  Team  "), None, None))
        .unwrap();
    assert_eq!(
        (room.name.as_str(), room.description.as_str()),
        ("Team", "")
    );
    assert!(!room.is_private, "public unless asked");
    assert_eq!(
        (room.owner_id, room.member_count, room.last_seq),
        (w.member, 1, 0)
    );
    assert_eq!(w.repo.room_by_id(room.id).unwrap(), Some(room.clone()));
    let owner = w.repo.member(room.id, w.member).unwrap().unwrap();
    assert_eq!(owner.role, Role::Owner);
    assert_eq!(
        w.events.take(),
        vec![DomainEvent::MemberJoined {
            room_id: room.id,
            member: owner,
            event_seq: 1
        }]
    );
    let private = w
        .chat
        .create_room(w.member, input(Some("x"), Some("line\nline"), Some(true)))
        .unwrap();
    assert!(private.is_private);
    assert_eq!(
        Want::of(&w.chat.room(w.stranger, private.id)),
        Want::NotFound("room")
    );
}

#[test]
fn invalid_rooms_are_refused_and_stored_nowhere() {
    let w = World::new(false);
    let long = "d".repeat(crate::validation::ROOM_DESCRIPTION_MAX + 1);
    let cases = [
        (input(None, None, None), "name"),
        (input(Some("   "), None, None), "name"),
        (input(Some("a\u{7}b"), None, None), "name"),
        (input(Some("ok"), Some(&long), None), "description"),
    ];
    for (room, field) in cases {
        let result = w.chat.create_room(w.member, room);
        assert_eq!(Want::of(&result), Want::Invalid(field));
    }
    assert!(w.events.take().is_empty());
    assert_eq!(w.chat.rooms_of(w.member).unwrap().len(), 1);
}

#[test]
fn updates_change_what_they_name_and_announce_the_room() {
    let w = World::new(false);
    let before = w.repo.room_by_id(w.room).unwrap().unwrap();
    let room = w
        .chat
        .update_room(w.admin, w.room, input(Some(" Renamed "), None, Some(true)))
        .unwrap();
    assert_eq!(room.name, "Renamed");
    assert_eq!(room.description, before.description);
    assert!(room.is_private && room.updated_at > before.updated_at);
    assert_eq!(
        w.events.take(),
        vec![DomainEvent::RoomUpdated {
            room: room.clone(),
            event_seq: w.last_event_seq + 1
        }]
    );
    // Now private: hidden from the outsider.
    assert_eq!(
        Want::of(&w.chat.room(w.outsider, w.room)),
        Want::NotFound("room")
    );

    // Invalid input from a manager is refused and changes nothing; a non-manager is refused
    // before the input is looked at.
    let bad = w
        .chat
        .update_room(w.owner, w.room, input(Some(""), None, None));
    assert_eq!(Want::of(&bad), Want::Invalid("name"));
    let bad = w
        .chat
        .update_room(w.member, w.room, input(Some(""), None, None));
    assert_eq!(Want::of(&bad), Want::Forbidden);
    assert_eq!(w.repo.room_by_id(w.room).unwrap(), Some(room));
    assert!(w.events.take().is_empty());
}

#[test]
fn room_listings_page_and_hide_private_rooms() {
    let w = World::new(true);
    let mut ids = Vec::new();
    for i in 0..3 {
        let room = w
            .chat
            .create_room(w.stranger, input(Some(&format!("pub {i}")), None, None));
        ids.push(room.unwrap().id);
    }
    let page = |actor, only_joined, after, limit| {
        w.chat
            .list_rooms(actor, None, only_joined, after, limit)
            .unwrap()
    };
    // The stranger sees the public rooms only: `elsewhere` and their three.
    let first = page(w.stranger, false, None, 2);
    assert_eq!(
        first.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![w.elsewhere, ids[0]]
    );
    assert_eq!(first.next_after, Some(ids[0]));
    let second = page(w.stranger, false, first.next_after, 2);
    assert_eq!(
        second.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1], ids[2]]
    );
    assert_eq!(second.next_after, None, "nothing after the last page");
    // A member sees the private room too; `only_joined` shows it alone.
    assert_eq!(page(w.member, false, None, 10).items.len(), 5);
    let mine = page(w.member, true, None, 10);
    assert_eq!(
        mine.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![w.room]
    );
    // Search: case-insensitive, blank means all, too long or control characters refused.
    let found = w
        .chat
        .list_rooms(w.stranger, Some("PUB".into()), false, None, 10);
    assert_eq!(found.unwrap().items.len(), 3);
    let all = w
        .chat
        .list_rooms(w.stranger, Some("  ".into()), false, None, 10);
    assert_eq!(all.unwrap().items.len(), 4);
    let long = "x".repeat(crate::validation::SEARCH_QUERY_MAX + 1);
    assert_eq!(
        Want::of(&w.chat.list_rooms(w.stranger, Some(long), false, None, 10)),
        Want::Invalid("q")
    );
    let ctl = w
        .chat
        .list_rooms(w.stranger, Some("a\u{0}".into()), false, None, 10);
    assert_eq!(Want::of(&ctl), Want::Invalid("q"));
}

#[test]
fn members_are_paged_by_user_id() {
    let w = World::new(false);
    let first = w.chat.list_members(w.member, w.room, None, 3).unwrap();
    let ids: Vec<UserId> = first.items.iter().map(|m| m.user.id).collect();
    assert_eq!(ids, vec![w.owner, w.admin, w.admin2]);
    assert_eq!(first.next_after, Some(w.admin2));
    let rest = w
        .chat
        .list_members(w.member, w.room, first.next_after, 3)
        .unwrap();
    let ids: Vec<UserId> = rest.items.iter().map(|m| m.user.id).collect();
    assert_eq!(ids, vec![w.member, w.member2]);
    assert_eq!(rest.next_after, None);
    assert_eq!(rest.items[0].role, Role::Member);
}

#[test]
fn joining_leaving_and_kicking_keep_counts_and_cursors() {
    let w = World::new(false);
    let count = || w.repo.room_by_id(w.room).unwrap().unwrap().member_count;
    assert_eq!(count(), 5);
    let joined = w.chat.join_room(w.stranger, w.room).unwrap();
    assert_eq!((joined.user.id, joined.role), (w.stranger, Role::Member));
    assert_eq!(
        w.events.take(),
        vec![DomainEvent::MemberJoined {
            room_id: w.room,
            member: joined.clone(),
            event_seq: w.last_event_seq + 1
        }]
    );
    assert_eq!(
        w.chat.join_room(w.stranger, w.room),
        Ok(joined),
        "joining twice is harmless"
    );
    assert!(w.events.take().is_empty());
    assert_eq!(count(), 6);
    let cursors = w.chat.rooms_of(w.stranger).unwrap();
    let last_seq = w.last_seq;
    assert_eq!(
        cursors,
        vec![
            RoomCursor {
                room_id: w.room,
                last_seq,
                last_event_seq: w.last_event_seq + 1
            },
            RoomCursor {
                room_id: w.elsewhere,
                last_seq: 1,
                // The owner's joining, then the message.
                last_event_seq: 2
            }
        ]
    );
    w.chat.leave_room(w.stranger, w.room).unwrap();
    let again = w.chat.leave_room(w.stranger, w.room);
    assert_eq!(
        again,
        Err(DomainError::forbidden(crate::error::NOT_A_MEMBER))
    );
    w.chat.kick_member(w.owner, w.room, w.member).unwrap();
    assert_eq!(count(), 4);
    assert_eq!(
        Want::of(&w.chat.kick_member(w.owner, w.room, w.member)),
        Want::NotFound("member")
    );
    // A kicked member of a public room may come back.
    w.chat.join_room(w.member, w.room).unwrap();
    assert_eq!(count(), 5);
}

#[test]
fn a_deleted_room_is_gone_for_everyone() {
    let w = World::new(false);
    w.chat.delete_room(w.owner, w.room).unwrap();
    for user in [w.owner, w.member, w.outsider] {
        assert_eq!(Want::of(&w.chat.room(user, w.room)), Want::NotFound("room"));
        let history = w.chat.history(user, w.room, HistoryWindow::Latest, 10);
        assert_eq!(Want::of(&history), Want::NotFound("room"));
    }
    assert_eq!(w.chat.rooms_of(w.member).unwrap(), vec![]);
    let sent = w.chat.post_message(w.member, w.room, "anyone?", None);
    assert_eq!(Want::of(&sent), Want::NotFound("room"));
}

#[test]
fn profiles() {
    let w = World::new(false);
    assert_eq!(w.chat.user(w.member).unwrap().username, "member");
    assert_eq!(Want::of(&w.chat.user(999)), Want::NotFound("user"));
    let u = w
        .chat
        .update_profile(w.member, Some("  Mem  "), None)
        .unwrap();
    assert_eq!((u.display_name.as_str(), u.bio.as_str()), ("Mem", ""));
    let u = w
        .chat
        .update_profile(w.member, None, Some("about me\n"))
        .unwrap();
    assert_eq!(
        (u.display_name.as_str(), u.bio.as_str()),
        ("Mem", "about me\n")
    );
    assert_eq!(
        Want::of(&w.chat.update_profile(w.member, Some(" "), None)),
        Want::Invalid("display_name")
    );
    let long_bio = "b".repeat(crate::validation::BIO_MAX + 1);
    assert_eq!(
        Want::of(&w.chat.update_profile(w.member, None, Some(&long_bio))),
        Want::Invalid("bio")
    );
    assert_eq!(
        w.chat.user(w.member).unwrap(),
        u,
        "refusals changed nothing"
    );
    // Messages show the author as they are now.
    let history = w
        .chat
        .history(w.member, w.room, HistoryWindow::Latest, 50)
        .unwrap();
    let mine = history
        .items
        .iter()
        .find(|m| m.author.id == w.member)
        .unwrap();
    assert_eq!(mine.author.display_name, "Mem");
}

#[test]
fn storage_failures_pass_through_as_repository_errors() {
    let w = World::new(false);
    w.repo.set_unavailable(true);
    let unavailable = |e: DomainError| e.code() == "unavailable";
    assert!(unavailable(w.chat.room(w.member, w.room).unwrap_err()));
    assert!(unavailable(
        w.chat.join_room(w.stranger, w.room).unwrap_err()
    ));
    assert!(unavailable(
        w.chat
            .post_message(w.member, w.room, "hi", None)
            .unwrap_err()
    ));
    assert!(unavailable(w.chat.rooms_of(w.member).unwrap_err()));
    assert!(w.events.take().is_empty());
    w.repo.set_unavailable(false);
    assert!(w.chat.room(w.member, w.room).is_ok());
}
