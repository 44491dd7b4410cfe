//! Read state: members mark how far they have read; receipts follow the reader's choice.
use super::*;

#[test]
fn read_marks_move_forward_and_announce_with_the_readers_choice() {
    let w = World::new(false);
    let last = w.repo.room_by_id(w.room).unwrap().unwrap().last_seq;
    w.events.take();
    let state = w.chat.mark_read(w.member, w.room, 2).unwrap();
    assert_eq!((state.room_id, state.last_read_seq), (w.room, 2));
    // Back and equal announce nothing; past the newest is the newest.
    w.chat.mark_read(w.member, w.room, 1).unwrap();
    w.chat.mark_read(w.member, w.room, 2).unwrap();
    let end = w.chat.mark_read(w.member, w.room, last + 100).unwrap();
    assert_eq!((end.last_read_seq, end.unread_count), (last, 0));
    assert_eq!(
        w.events.take().iter().map(brief).collect::<Vec<_>>(),
        [
            format!("read.updated user={} seq=2 shared=true", w.member),
            format!("read.updated user={} seq={last} shared=true", w.member),
        ]
    );
    w.chat.set_shares_read_receipts(w.admin, false).unwrap();
    w.chat.mark_read(w.admin, w.room, 1).unwrap();
    assert_eq!(
        w.events.take().iter().map(brief).collect::<Vec<_>>(),
        [format!("read.updated user={} seq=1 shared=false", w.admin)]
    );
    let receipts = w.chat.read_marks(w.owner, w.room).unwrap();
    assert_eq!(
        receipts.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [w.member]
    );
}

#[test]
fn only_members_mark_or_see_reads() {
    for private in [false, true] {
        let w = World::new(private);
        let hidden = if private {
            ErrorCode::NotFound
        } else {
            ErrorCode::Forbidden
        };
        assert_eq!(
            w.chat.mark_read(w.stranger, w.room, 1).unwrap_err().code(),
            hidden
        );
        assert_eq!(
            w.chat.read_marks(w.stranger, w.room).unwrap_err().code(),
            hidden
        );
        let e = w.chat.mark_read(w.member, w.room, -1).unwrap_err();
        assert_eq!(e.field(), Some("seq"));
    }
}
