//! Read state: marks only move forward, unread counts skip one's own and deleted messages, and
//! receipts show only members who share them.
use super::*;

pub fn read_marks_move_forward_only(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let room = room(repo, ann, "r", false);
    assert_eq!(repo.mark_read(room, ann, 3).unwrap(), Some(3));
    assert_eq!(repo.mark_read(room, ann, 2).unwrap(), None);
    assert_eq!(repo.mark_read(room, ann, 3).unwrap(), None);
    assert_eq!(repo.mark_read(room, ann, 5).unwrap(), Some(5));
    assert_eq!(
        repo.shared_read_marks(room).unwrap(),
        [ReadMark {
            user_id: ann,
            last_read_seq: 5
        }]
    );
    assert_eq!(repo.mark_read(999_999, ann, 1), Err(RepoError::NotFound));
}

pub fn unread_counts_skip_own_and_deleted_messages(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let busy = room(repo, ann, "busy", false);
    let quiet = room(repo, ann, "quiet", false);
    repo.add_member(busy, bob, Role::Member).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let who = if i == 1 { ann } else { bob };
        ids.push(
            send(repo, busy, who, &format!("m{i}"), None)
                .unwrap()
                .into_message()
                .id,
        );
    }
    repo.delete_message(busy, ids[4]).unwrap();
    let state = |user| repo.unread(user, &[busy, quiet]).unwrap();
    assert_eq!(
        state(ann),
        [
            Unread {
                room_id: busy,
                last_read_seq: 0,
                unread_count: 3,
                mention_count: 0,
            },
            Unread {
                room_id: quiet,
                last_read_seq: 0,
                unread_count: 0,
                mention_count: 0,
            }
        ]
    );
    repo.mark_read(busy, ann, 3).unwrap();
    assert_eq!(state(ann)[0].unread_count, 1);
    assert_eq!(state(ann)[0].last_read_seq, 3);
    // Bob's own messages are not unread to him, deleted or not.
    assert_eq!(state(bob)[0].unread_count, 1);
    // One of his own deleted too: still only ann's message, not subtracted twice.
    repo.delete_message(busy, ids[3]).unwrap();
    assert_eq!(state(bob)[0].unread_count, 1);
    assert_eq!(state(ann)[0].unread_count, 0);
    // A mark past the room's last message: nothing unread, never less.
    repo.mark_read(quiet, ann, 50).unwrap();
    assert_eq!(state(ann)[1].unread_count, 0);
    assert_eq!(state(ann)[1].last_read_seq, 50);
}

pub fn read_receipts_show_members_who_share(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let cat = user(repo, "cat");
    let room = room(repo, ann, "r", false);
    repo.add_member(room, bob, Role::Member).unwrap();
    repo.add_member(room, cat, Role::Member).unwrap();
    for u in [ann, bob, cat] {
        repo.mark_read(room, u, 1).unwrap();
    }
    assert!(repo.shares_read_receipts(bob).unwrap());
    repo.set_shares_read_receipts(bob, false).unwrap();
    assert!(!repo.shares_read_receipts(bob).unwrap());
    repo.remove_member(room, cat).unwrap();
    let users: Vec<UserId> = repo
        .shared_read_marks(room)
        .unwrap()
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(users, [ann]);
    repo.set_shares_read_receipts(bob, true).unwrap();
    assert_eq!(repo.shared_read_marks(room).unwrap().len(), 2);
    assert_eq!(repo.shares_read_receipts(999_999), Err(RepoError::NotFound));
}
