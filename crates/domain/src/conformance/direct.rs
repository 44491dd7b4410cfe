//! Direct conversations: one room per set of people, even when opened at once.
use super::*;

fn direct(people: &[UserId]) -> NewDirect {
    let mut members = people.to_vec();
    members.sort_unstable();
    NewDirect {
        creator: people[0],
        key: members
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(","),
        members,
        name: "dm".into(),
    }
}

pub fn a_direct_conversation_is_found_again_and_readmits_who_left(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let first = repo.open_direct(direct(&[ann, bob])).unwrap();
    assert!(first.created);
    assert_eq!(
        (
            first.room.kind,
            first.room.is_private,
            first.room.member_count
        ),
        (RoomKind::Direct, true, 2)
    );
    let added: Vec<UserId> = first.added.iter().map(|m| m.value.user.id).collect();
    assert_eq!(added, [ann, bob]);
    assert!(first.added.iter().all(|m| m.value.role == Role::Member));
    assert_eq!(
        repo.room_by_id(first.room.id).unwrap(),
        Some(first.room.clone())
    );

    let again = repo.open_direct(direct(&[bob, ann])).unwrap();
    assert_eq!((again.room.id, again.created), (first.room.id, false));
    assert!(again.added.is_empty());

    assert!(repo.remove_member(first.room.id, bob).unwrap().is_some());
    let back = repo.open_direct(direct(&[ann, bob])).unwrap();
    assert_eq!(
        back.added
            .iter()
            .map(|m| m.value.user.id)
            .collect::<Vec<_>>(),
        [bob]
    );
    assert_eq!(back.room.member_count, 2);

    // Group rooms and other people's conversations are apart; the kind filter tells them.
    let carl = user(repo, "carl");
    room(repo, ann, "group", false);
    let other = repo.open_direct(direct(&[ann, carl])).unwrap();
    assert!(other.created && other.room.id != first.room.id);
    let kinds = |kind| {
        repo.list_rooms(RoomQuery {
            viewer: ann,
            kind: Some(kind),
            name_contains: None,
            only_joined: true,
            after_id: None,
            limit: 10,
        })
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(kinds(RoomKind::Direct), [first.room.id, other.room.id]);
    assert_eq!(kinds(RoomKind::Group).len(), 1);
}

/// Eight threads open the same conversation at once: one room, each person in it once.
pub fn concurrent_opens_make_one_conversation(repo: &dyn Repository) {
    let people: Vec<UserId> = (0..3).map(|i| user(repo, &format!("p{i}"))).collect();
    let barrier = std::sync::Barrier::new(8);
    let opened: Vec<DirectOpened> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let barrier = &barrier;
                let mut who = people.clone();
                who.rotate_left(i % 3);
                s.spawn(move || {
                    barrier.wait();
                    repo.open_direct(direct(&who)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let room = opened[0].room.id;
    assert!(opened.iter().all(|o| o.room.id == room));
    assert_eq!(opened.iter().filter(|o| o.created).count(), 1);
    assert_eq!(opened.iter().map(|o| o.added.len()).sum::<usize>(), 3);
    assert_eq!(repo.room_by_id(room).unwrap().unwrap().member_count, 3);
    assert_eq!(repo.list_members(room, None, 10).unwrap().len(), 3);
}
