//! Finding people: the directory and look-up by username.
use super::*;

fn names(page: &Page<User>) -> Vec<&str> {
    page.items.iter().map(|u| u.username.as_str()).collect()
}

#[test]
fn the_directory_finds_people_by_the_start_of_their_names_and_pages() {
    let w = World::new(false);
    let page = w.chat.find_users(Some("ADMIN".into()), None, 10).unwrap();
    assert_eq!(names(&page), ["admin", "admin2"]);
    assert_eq!(page.next_after, None);
    let first = w.chat.find_users(Some("mem".into()), None, 1).unwrap();
    assert_eq!(names(&first), ["member"]);
    let rest = w
        .chat
        .find_users(Some("mem".into()), first.next_after, 1)
        .unwrap();
    assert_eq!((names(&rest), rest.next_after), (vec!["member2"], None));
    // Blank lists everyone; a control character is refused, naming the parameter.
    let all = w.chat.find_users(Some("  ".into()), None, 100).unwrap();
    assert_eq!(all.items.len(), 7);
    let bad = w
        .chat
        .find_users(Some("a\u{0}".into()), None, 10)
        .unwrap_err();
    assert_eq!(
        (bad.code(), bad.field()),
        (ErrorCode::ValidationFailed, Some("q"))
    );
}

#[test]
fn a_username_finds_its_user_in_any_case() {
    let w = World::new(false);
    assert_eq!(w.chat.user_by_username("MEMBER").unwrap().id, w.member);
    assert_eq!(
        w.chat.user_by_username("nobody").unwrap_err(),
        DomainError::NotFound("user")
    );
    let bad = w.chat.user_by_username("no spaces").unwrap_err();
    assert_eq!(bad.field(), Some("username"));
}
