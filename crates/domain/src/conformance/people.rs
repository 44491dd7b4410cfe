//! The user directory: prefix search over usernames and display names.
use super::*;

fn named(repo: &dyn Repository, username: &str, display_name: &str) -> UserId {
    repo.create_user(NewUser {
        username: username.into(),
        display_name: display_name.into(),
        password_hash: "h".into(),
    })
    .unwrap()
    .id
}

fn find(repo: &dyn Repository, prefix: Option<&str>, after: Option<UserId>) -> Vec<UserId> {
    repo.search_users(UserQuery {
        prefix: prefix.map(Into::into),
        after_id: after,
        limit: 100,
    })
    .unwrap()
    .iter()
    .map(|u| u.id)
    .collect()
}

pub fn the_directory_matches_the_start_of_either_name_case_insensitively(repo: &dyn Repository) {
    let alice = named(repo, "Alice", "Alice Liddell");
    let bob = named(repo, "bob", "Über Bob");
    let carol = named(repo, "carol_x", "Caro");
    let dave = named(repo, "dave", "al dente");
    assert_eq!(find(repo, None, None), vec![alice, bob, carol, dave]);
    assert_eq!(find(repo, Some("al"), None), vec![alice, dave]);
    assert_eq!(find(repo, Some("ALI"), None), vec![alice]);
    // Display names fold case beyond ASCII, on every backend.
    assert_eq!(find(repo, Some("über"), None), vec![bob]);
    assert_eq!(find(repo, Some("ÜBER"), None), vec![bob]);
    // A prefix, not a substring: "ice" is inside "Alice" but starts nothing.
    assert_eq!(find(repo, Some("ice"), None), Vec::<UserId>::new());
    // LIKE's wildcards are plain characters.
    assert_eq!(find(repo, Some("carol_"), None), vec![carol]);
    assert_eq!(find(repo, Some("c_rol"), None), Vec::<UserId>::new());
    assert_eq!(find(repo, Some("%"), None), Vec::<UserId>::new());
}

pub fn the_directory_pages_by_id(repo: &dyn Repository) {
    let ids: Vec<UserId> = (0..5)
        .map(|i| named(repo, &format!("pat{i}"), "P"))
        .collect();
    named(repo, "other", "O");
    let page = |after, limit| {
        repo.search_users(UserQuery {
            prefix: Some("pat".into()),
            after_id: after,
            limit,
        })
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(page(None, 2), ids[..2]);
    assert_eq!(page(Some(ids[1]), 2), ids[2..4]);
    assert_eq!(page(Some(ids[3]), 2), ids[4..]);
    assert_eq!(page(Some(ids[4]), 2), Vec::<UserId>::new());
}
