//! Invites: what is live, and that redeeming is one atomic step even under concurrency.
use chrono::{TimeDelta, Utc};

use super::*;

fn new_invite(
    room: RoomId,
    by: UserId,
    code: &str,
    ttl_s: i64,
    max_uses: Option<i64>,
) -> NewInvite {
    NewInvite {
        code: code.into(),
        room_id: room,
        created_by: by,
        expires_at: Utc::now() + TimeDelta::seconds(ttl_s),
        max_uses,
    }
}

fn codes(invites: &[Invite]) -> Vec<&str> {
    invites.iter().map(|i| i.code.as_str()).collect()
}

pub fn invites_are_live_until_revoked_expired_or_used_up(repo: &dyn Repository) {
    let owner = user(repo, "owner");
    let guest = user(repo, "guest");
    let room = room(repo, owner, "r", true);
    let made = repo
        .create_invite(new_invite(room, owner, "a", 3600, Some(1)))
        .unwrap();
    assert_eq!((made.room_id, made.created_by, made.uses), (room, owner, 0));
    assert_eq!(
        repo.create_invite(new_invite(room, owner, "a", 60, None)),
        Err(RepoError::Conflict("record"))
    );
    repo.create_invite(new_invite(room, owner, "b", 3600, None))
        .unwrap();
    repo.create_invite(new_invite(room, owner, "c", 3600, None))
        .unwrap();
    repo.create_invite(new_invite(room, owner, "old", -1, None))
        .unwrap();
    let now = Utc::now();
    assert_eq!(
        codes(&repo.live_invites(room, now).unwrap()),
        ["c", "b", "a"]
    );

    assert!(repo.revoke_invite(room, "b").unwrap());
    assert!(!repo.revoke_invite(room, "b").unwrap());
    assert!(!repo.revoke_invite(room + 1, "c").unwrap());
    let revoked = repo.invite_by_code("b").unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(repo.invite_by_code("zz").unwrap(), None);

    let joined = repo.redeem_invite("a", guest, Utc::now()).unwrap().unwrap();
    assert_eq!(
        (joined.value.user.id, joined.value.role),
        (guest, Role::Member)
    );
    assert_eq!(repo.room_by_id(room).unwrap().unwrap().member_count, 2);
    assert_eq!(repo.invite_by_code("a").unwrap().unwrap().invite.uses, 1);
    // Used up, revoked, expired and unknown codes admit nobody.
    let third = user(repo, "third");
    for code in ["a", "b", "old", "zz"] {
        assert_eq!(
            repo.redeem_invite(code, third, Utc::now()).unwrap(),
            None,
            "{code}"
        );
    }
    assert_eq!(codes(&repo.live_invites(room, Utc::now()).unwrap()), ["c"]);
    assert_eq!(repo.room_by_id(room).unwrap().unwrap().member_count, 2);
}

pub fn redeeming_as_a_member_spends_nothing(repo: &dyn Repository) {
    let owner = user(repo, "owner");
    let room = room(repo, owner, "r", true);
    repo.create_invite(new_invite(room, owner, "x", 3600, Some(5)))
        .unwrap();
    assert_eq!(
        repo.redeem_invite("x", owner, Utc::now()),
        Err(RepoError::Conflict("member"))
    );
    assert_eq!(repo.invite_by_code("x").unwrap().unwrap().invite.uses, 0);
    assert_eq!(repo.room_by_id(room).unwrap().unwrap().member_count, 1);
}

pub fn deleting_a_room_takes_its_invites(repo: &dyn Repository) {
    let owner = user(repo, "owner");
    let room = room(repo, owner, "r", true);
    repo.create_invite(new_invite(room, owner, "x", 3600, None))
        .unwrap();
    repo.delete_room(room).unwrap();
    assert_eq!(repo.invite_by_code("x").unwrap(), None);
}

/// Eight people accept an invite of three uses at once: exactly three get in.
pub fn concurrent_redemptions_never_exceed_the_uses(repo: &dyn Repository) {
    let owner = user(repo, "owner");
    let room = room(repo, owner, "r", true);
    repo.create_invite(new_invite(room, owner, "few", 3600, Some(3)))
        .unwrap();
    let people: Vec<UserId> = (0..8).map(|i| user(repo, &format!("p{i}"))).collect();
    let barrier = std::sync::Barrier::new(people.len());
    let admitted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = people
            .iter()
            .map(|&p| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    repo.redeem_invite("few", p, Utc::now()).unwrap().is_some()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(admitted, 3);
    assert_eq!(repo.invite_by_code("few").unwrap().unwrap().invite.uses, 3);
    assert_eq!(repo.room_by_id(room).unwrap().unwrap().member_count, 4);
    assert_eq!(repo.list_members(room, None, 100).unwrap().len(), 4);
}
