//! Reactions: one per user and emoji, a bounded number of emoji per message, summarised per
//! message for a viewer, and gone with their message.
use super::*;
use crate::validation::REACTIONS_PER_MESSAGE_MAX;

pub fn reactions_are_counted_once_per_user_and_emoji(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let room = room(repo, ann, "r", false);
    let m = send(repo, room, ann, "hello", None)
        .unwrap()
        .into_message()
        .id;
    let other = send(repo, room, ann, "second", None)
        .unwrap()
        .into_message()
        .id;
    assert!(repo.add_reaction(m, ann, "👍").unwrap().is_some());
    assert!(repo.add_reaction(m, ann, "👍").unwrap().is_none());
    assert!(repo.add_reaction(m, bob, "👍").unwrap().is_some());
    assert!(repo.add_reaction(m, bob, "🎉").unwrap().is_some());
    let all = repo.reactions(&[m, other], bob).unwrap();
    assert_eq!(all.len(), 1, "a message without reactions is absent");
    let list = &all[&m];
    assert_eq!(
        list.iter()
            .map(|r| (r.emoji.as_str(), r.count, r.me))
            .collect::<Vec<_>>(),
        [("👍", 2, true), ("🎉", 1, true)]
    );
    assert_eq!(list[0].user_ids, [ann, bob]);
    let for_ann = repo.reactions(&[m], ann).unwrap();
    assert!(!for_ann[&m][1].me);

    assert!(repo.remove_reaction(m, bob, "👍").unwrap().is_some());
    assert!(repo.remove_reaction(m, bob, "👍").unwrap().is_none());
    assert_eq!(repo.reactions(&[m], ann).unwrap()[&m][0].user_ids, [ann]);
    assert_eq!(
        repo.add_reaction(999_999, ann, "👍"),
        Err(RepoError::NotFound)
    );

    // Deleting the message takes its reactions; deleting the room, the rest.
    repo.delete_message(room, m).unwrap();
    assert!(repo.reactions(&[m], ann).unwrap().is_empty());
    repo.add_reaction(other, ann, "🔥").unwrap();
    repo.delete_room(room).unwrap();
    assert!(repo.reactions(&[other], ann).unwrap().is_empty());
}

pub fn a_message_takes_a_bounded_number_of_emoji(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let room = room(repo, ann, "r", false);
    let m = send(repo, room, ann, "hello", None)
        .unwrap()
        .into_message()
        .id;
    let emoji: Vec<String> = (0..REACTIONS_PER_MESSAGE_MAX as u32)
        .map(|i| char::from_u32(0x1F600 + i).unwrap().to_string())
        .collect();
    for e in &emoji {
        assert!(repo.add_reaction(m, ann, e).unwrap().is_some());
    }
    assert_eq!(
        repo.add_reaction(m, ann, "🦀"),
        Err(RepoError::Conflict("reactions"))
    );
    // An emoji already there still takes more people.
    assert!(repo.add_reaction(m, bob, &emoji[3]).unwrap().is_some());
    assert_eq!(
        repo.reactions(&[m], bob).unwrap()[&m].len(),
        REACTIONS_PER_MESSAGE_MAX
    );
}

/// Eight users race to add a new emoji when only one place is left: exactly one emoji gets it.
pub fn concurrent_new_emoji_never_exceed_the_bound(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let room = room(repo, ann, "r", false);
    let m = send(repo, room, ann, "hello", None)
        .unwrap()
        .into_message()
        .id;
    for i in 0..(REACTIONS_PER_MESSAGE_MAX as u32 - 1) {
        let e = char::from_u32(0x1F600 + i).unwrap().to_string();
        repo.add_reaction(m, ann, &e).unwrap();
    }
    let people: Vec<UserId> = (0..8).map(|i| user(repo, &format!("p{i}"))).collect();
    let barrier = std::sync::Barrier::new(people.len());
    std::thread::scope(|s| {
        for (i, &p) in people.iter().enumerate() {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                let e = char::from_u32(0x1F680 + i as u32).unwrap().to_string();
                let _ = repo.add_reaction(m, p, &e);
            });
        }
    });
    assert_eq!(
        repo.reactions(&[m], ann).unwrap()[&m].len(),
        REACTIONS_PER_MESSAGE_MAX
    );
}
