//! Reactions: members react to live messages, once per emoji; history shows them as each
//! member sees them.
use super::*;

#[test]
fn members_react_once_per_emoji_and_history_shows_it() {
    for private in [false, true] {
        let w = World::new(private);
        let m = w.live[&w.owner];
        w.events.take();
        w.chat.react(w.member, w.room, m, "👍", true).unwrap();
        w.chat.react(w.member, w.room, m, "👍", true).unwrap();
        w.chat.react(w.admin, w.room, m, "👍", true).unwrap();
        assert_eq!(
            w.events.take().iter().map(brief).collect::<Vec<_>>(),
            [
                format!("reaction.added id={m} 👍 user={}", w.member),
                format!("reaction.added id={m} 👍 user={}", w.admin),
            ]
        );
        let seen = |viewer| {
            let h = w
                .chat
                .history(viewer, w.room, HistoryWindow::Latest, 50)
                .unwrap();
            h.items.into_iter().find(|x| x.id == m).unwrap().reactions
        };
        let mine = seen(w.member);
        assert_eq!(mine.len(), 1);
        assert_eq!((mine[0].count, mine[0].me), (2, true));
        assert_eq!(mine[0].user_ids, [w.member, w.admin]);
        assert!(!seen(w.owner)[0].me);
        // Removing twice announces once.
        w.chat.react(w.member, w.room, m, "👍", false).unwrap();
        w.chat.react(w.member, w.room, m, "👍", false).unwrap();
        assert_eq!(w.events.take().len(), 1);
        assert_eq!(seen(w.owner)[0].user_ids, [w.admin]);
    }
}

#[test]
fn reactions_need_a_member_a_live_message_and_one_emoji() {
    let w = World::new(true);
    let m = w.live[&w.owner];
    let code = |r: DomainResult<()>| r.unwrap_err().code();
    assert_eq!(
        code(w.chat.react(w.outsider, w.room, m, "👍", true)),
        ErrorCode::NotFound
    );
    let public = World::new(false);
    let pm = public.live[&public.owner];
    assert_eq!(
        code(
            public
                .chat
                .react(public.stranger, public.room, pm, "👍", true)
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            w.chat
                .react(w.member, w.room, w.deleted[&w.owner], "👍", true)
        ),
        ErrorCode::Conflict
    );
    assert_eq!(
        w.chat
            .react(w.member, w.room, 987_654, "👍", true)
            .unwrap_err(),
        DomainError::NotFound("message")
    );
    // A message of another room is not found through this one.
    assert_eq!(
        code(
            w.chat
                .react(w.member, w.room, w.elsewhere_message, "👍", true)
        ),
        ErrorCode::NotFound
    );
    for bad in ["", "a", "ok", "👍 👍", "\u{0}", &"😀".repeat(17)] {
        let e = w.chat.react(w.member, w.room, m, bad, true).unwrap_err();
        assert_eq!(e.field(), Some("emoji"), "{bad:?}");
    }
    // Flags, skin tones and keycaps are one emoji each.
    for good in ["🇫🇷", "👍🏽", "1️⃣", "👩‍💻"] {
        w.chat.react(w.member, w.room, m, good, true).unwrap();
    }
    for i in 0..16u32 {
        let e = char::from_u32(0x1F600 + i).unwrap().to_string();
        w.chat.react(w.member, w.room, m, &e, true).unwrap();
    }
    let over = w.chat.react(w.member, w.room, m, "🦀", true).unwrap_err();
    assert_eq!(over.code(), ErrorCode::Conflict);
    assert!(w.events.take().iter().all(|e| !brief(e).contains("🦀")));
}
