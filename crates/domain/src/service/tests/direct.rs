//! Direct conversations: opened by username, found again by the same people, with no owner
//! powers.
use super::*;
use crate::service::InviteInput;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_same_people_find_the_same_conversation() {
    let w = World::new(false);
    w.events.take();
    let (dm, created) = w.chat.open_direct(w.member, &names(&["stranger"])).unwrap();
    assert!(created);
    assert_eq!(
        (dm.kind, dm.is_private, dm.member_count),
        (RoomKind::Direct, true, 2)
    );
    assert_eq!(dm.name, "member, stranger");
    let joined: Vec<String> = w.events.take().iter().map(brief).collect();
    assert_eq!(
        joined,
        [
            format!("member.joined user={} role=member", w.member),
            format!("member.joined user={} role=member", w.stranger),
        ]
    );
    // From the other side, in another case, with repeats and oneself: the same room.
    let again = w
        .chat
        .open_direct(w.stranger, &names(&["MEMBER", "member", "stranger"]))
        .unwrap();
    assert_eq!(again, (dm.clone(), false));
    assert!(w.events.take().is_empty());
    // Another set of people is another conversation.
    let (group, created) = w
        .chat
        .open_direct(w.member, &names(&["stranger", "admin"]))
        .unwrap();
    assert!(created && group.id != dm.id && group.member_count == 3);
    let mine = w
        .chat
        .list_rooms_of_kind(w.stranger, None, true, Some(RoomKind::Direct), None, 10)
        .unwrap();
    assert_eq!(
        mine.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [dm.id, group.id]
    );
    let groups = w
        .chat
        .list_rooms_of_kind(w.stranger, None, true, Some(RoomKind::Group), None, 10)
        .unwrap();
    assert!(groups.items.iter().all(|r| r.kind == RoomKind::Group));
}

#[test]
fn who_a_conversation_is_with_is_checked() {
    let w = World::new(false);
    let err = |list: &[&str]| w.chat.open_direct(w.member, &names(list)).unwrap_err();
    for list in [
        &[][..],
        &["member"],
        &["a", "b", "c", "d", "e", "f", "g", "h", "i"],
    ] {
        let e = err(list);
        assert_eq!(
            (e.code(), e.field()),
            (ErrorCode::ValidationFailed, Some("usernames"))
        );
    }
    assert_eq!(err(&["nobody"]), DomainError::NotFound("user"));
    assert_eq!(err(&["bad name"]).field(), Some("usernames"));
    assert_eq!(err(&["nul\u{0}"]).field(), Some("usernames"));
    // Nothing was made by the refusals.
    let none = w
        .chat
        .list_rooms_of_kind(w.member, None, true, Some(RoomKind::Direct), None, 10)
        .unwrap();
    assert!(none.items.is_empty());
}

#[test]
fn a_direct_conversation_has_no_managers_and_keeps_its_people() {
    let w = World::new(false);
    let (dm, _) = w.chat.open_direct(w.owner, &names(&["member"])).unwrap();
    let forbidden = |r: DomainResult<()>| assert_eq!(r.unwrap_err().code(), ErrorCode::Forbidden);
    forbidden(
        w.chat
            .update_room(
                w.owner,
                dm.id,
                RoomInput {
                    name: Some("mine".into()),
                    ..RoomInput::default()
                },
            )
            .map(|_| ()),
    );
    forbidden(w.chat.delete_room(w.owner, dm.id));
    forbidden(w.chat.add_member(w.owner, dm.id, w.admin).map(|_| ()));
    forbidden(w.chat.kick_member(w.owner, dm.id, w.member));
    forbidden(
        w.chat
            .set_role(w.owner, dm.id, w.member, "admin")
            .map(|_| ()),
    );
    forbidden(
        w.chat
            .create_invite(w.owner, dm.id, InviteInput::default(), "dm".into())
            .map(|_| ()),
    );
    // Outsiders neither see nor join it.
    assert_eq!(
        w.chat.join_room(w.admin, dm.id).unwrap_err(),
        DomainError::NotFound("room")
    );
    // Anyone in it may leave; opening it again brings them back.
    w.chat.leave_room(w.member, dm.id).unwrap();
    w.events.take();
    let (back, created) = w.chat.open_direct(w.owner, &names(&["member"])).unwrap();
    assert_eq!((back.id, back.member_count, created), (dm.id, 2, false));
    assert_eq!(
        w.events.take().iter().map(brief).collect::<Vec<_>>(),
        [format!("member.joined user={} role=member", w.member)]
    );
}
