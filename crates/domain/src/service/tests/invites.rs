//! Invite links: who may make them, what they admit, and every way they stop admitting.
use chrono::{TimeDelta, Utc};

use super::*;
use crate::service::InviteInput;
use crate::validation::{INVITES_PER_ROOM_MAX, INVITE_TTL_DEFAULT_S};

fn invite(w: &World, actor: Actor, input: InviteInput, code: &str) -> DomainResult<Invite> {
    w.chat
        .create_invite(w.id(actor), w.room, input, code.into())
}

fn code_of(r: DomainResult<impl std::fmt::Debug>) -> Option<ErrorCode> {
    r.err().map(|e| e.code())
}

#[test]
fn owners_and_admins_make_invites_members_and_outsiders_do_not() {
    for private in [false, true] {
        let w = World::new(private);
        let made = invite(&w, Actor::Owner, InviteInput::default(), "own").unwrap();
        let week = made.expires_at - made.created_at;
        assert!((week.num_seconds() - INVITE_TTL_DEFAULT_S).abs() <= 1);
        assert_eq!((made.uses, made.max_uses), (0, None));
        assert!(invite(&w, Actor::Admin, InviteInput::default(), "adm").is_ok());
        let member = invite(&w, Actor::Member, InviteInput::default(), "mem");
        assert_eq!(code_of(member), Some(ErrorCode::Forbidden));
        let outsider = invite(&w, Actor::Outsider, InviteInput::default(), "out");
        let hidden = if private {
            ErrorCode::NotFound
        } else {
            ErrorCode::Forbidden
        };
        assert_eq!(code_of(outsider), Some(hidden));
        let listed = w.chat.list_invites(w.owner, w.room).unwrap();
        assert_eq!(
            listed.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(),
            ["adm", "own"]
        );
        assert_eq!(
            code_of(w.chat.list_invites(w.member, w.room)),
            Some(ErrorCode::Forbidden)
        );
    }
}

#[test]
fn invite_limits_are_checked_and_named() {
    let w = World::new(true);
    let with = |expires_in_s, max_uses| InviteInput {
        expires_in_s,
        max_uses,
    };
    for (input, field) in [
        (with(Some(59), None), "expires_in_s"),
        (with(Some(30 * 24 * 3600 + 1), None), "expires_in_s"),
        (with(None, Some(0)), "max_uses"),
        (with(None, Some(1001)), "max_uses"),
    ] {
        let e = invite(&w, Actor::Owner, input, "x").unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            (ErrorCode::ValidationFailed, Some(field))
        );
    }
    assert!(invite(&w, Actor::Owner, with(Some(60), Some(1000)), "ok").is_ok());
    for i in 1..INVITES_PER_ROOM_MAX {
        invite(&w, Actor::Owner, InviteInput::default(), &format!("c{i}")).unwrap();
    }
    let over = invite(&w, Actor::Owner, InviteInput::default(), "over");
    assert_eq!(code_of(over), Some(ErrorCode::Conflict));
}

#[test]
fn an_invite_admits_anyone_who_holds_it_once_each() {
    let w = World::new(true);
    let made = invite(&w, Actor::Admin, InviteInput::default(), "abc").unwrap();
    let preview = w.chat.preview_invite("abc").unwrap();
    assert_eq!(
        (preview.room.id, preview.room.name.as_str()),
        (w.room, "room")
    );
    assert_eq!(preview.expires_at, made.expires_at);
    let count = || w.repo.room_by_id(w.room).unwrap().unwrap().member_count;
    let before = count();
    w.events.take();
    let joined = w.chat.accept_invite(w.outsider, "abc").unwrap();
    assert_eq!((joined.user.id, joined.role), (w.outsider, Role::Member));
    assert_eq!(
        w.events.take().iter().map(brief).collect::<Vec<_>>(),
        [format!("member.joined user={} role=member", w.outsider)]
    );
    assert_eq!(count(), before + 1);
    // Again: the same membership, no event, no use spent.
    assert_eq!(w.chat.accept_invite(w.outsider, "abc").unwrap(), joined);
    assert!(w.events.take().is_empty());
    assert_eq!(w.chat.list_invites(w.owner, w.room).unwrap()[0].uses, 1);
    // A member already in the room spends nothing either.
    w.chat.accept_invite(w.member, "abc").unwrap();
    assert_eq!(w.chat.list_invites(w.owner, w.room).unwrap()[0].uses, 1);
}

#[test]
fn used_up_expired_revoked_and_unknown_invites_admit_nobody() {
    let w = World::new(true);
    let one = InviteInput {
        expires_in_s: None,
        max_uses: Some(1),
    };
    invite(&w, Actor::Owner, one, "once").unwrap();
    w.chat.accept_invite(w.outsider, "once").unwrap();
    let stranger = w.stranger;
    assert_eq!(
        code_of(w.chat.accept_invite(stranger, "once")),
        Some(ErrorCode::InviteExpired)
    );
    assert_eq!(
        code_of(w.chat.preview_invite("once")),
        Some(ErrorCode::InviteExpired)
    );
    // Used up: no longer listed.
    assert!(w.chat.list_invites(w.owner, w.room).unwrap().is_empty());

    w.repo
        .create_invite(NewInvite {
            code: "old".into(),
            room_id: w.room,
            created_by: w.owner,
            expires_at: Utc::now() - TimeDelta::seconds(1),
            max_uses: None,
        })
        .unwrap();
    assert_eq!(
        code_of(w.chat.accept_invite(stranger, "old")),
        Some(ErrorCode::InviteExpired)
    );

    invite(&w, Actor::Owner, InviteInput::default(), "gone").unwrap();
    assert_eq!(
        code_of(w.chat.revoke_invite(w.member, w.room, "gone")),
        Some(ErrorCode::Forbidden)
    );
    w.chat.revoke_invite(w.admin, w.room, "gone").unwrap();
    for r in [
        w.chat.preview_invite("gone").map(|_| ()),
        w.chat.accept_invite(stranger, "gone").map(|_| ()),
        w.chat.revoke_invite(w.owner, w.room, "gone"),
        w.chat.preview_invite("nope").map(|_| ()),
        w.chat.preview_invite("../etc/passwd").map(|_| ()),
        w.chat.preview_invite(&"a".repeat(65)).map(|_| ()),
    ] {
        assert_eq!(r, Err(DomainError::NotFound("invite")));
    }
    assert_eq!(w.repo.role_of(w.room, stranger).unwrap(), None);

    // Deleting the room takes its invites.
    invite(&w, Actor::Owner, InviteInput::default(), "last").unwrap();
    w.chat.delete_room(w.owner, w.room).unwrap();
    assert_eq!(
        w.chat.preview_invite("last").unwrap_err(),
        DomainError::NotFound("invite")
    );
}
