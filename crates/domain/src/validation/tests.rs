use super::*;

#[test]
fn user_agents_are_cleaned_not_refused() {
    assert_eq!(user_agent("  Firefox\u{0}/1\n "), Some("Firefox/1".into()));
    assert_eq!(user_agent("\t\r"), None);
    assert_eq!(user_agent(""), None);
    let long = "é".repeat(USER_AGENT_MAX + 10);
    assert_eq!(
        user_agent(&long).map(|s| s.chars().count()),
        Some(USER_AGENT_MAX)
    );
}

fn field_of(e: DomainError) -> Option<&'static str> {
    match e {
        DomainError::Validation { field, .. } => field,
        _ => None,
    }
}

#[test]
fn usernames() {
    assert!(username("ann").is_ok());
    assert!(username("Ann_B.c-9").is_ok());
    assert!(username(&"a".repeat(32)).is_ok());
    assert_eq!(field_of(username("ab").unwrap_err()), Some("username"));
    assert!(username(&"a".repeat(33)).is_err());
    assert!(username("ann smith").is_err());
    assert!(username("änn").is_err());
    assert!(username("").is_err());
}

#[test]
fn passwords_count_characters_not_bytes() {
    assert!(password("12345678").is_ok());
    assert!(password("1234567").is_err());
    // 8 characters, 24 bytes.
    assert!(password("ééééèèèè").is_ok());
    assert!(password(&"x".repeat(128)).is_ok());
    assert!(password(&"x".repeat(129)).is_err());
}

#[test]
fn room_names_are_trimmed_and_not_blank() {
    assert_eq!(room_name("  general  ").unwrap(), "general");
    assert!(room_name("   ").is_err());
    assert!(room_name("").is_err());
    assert!(room_name(&"ü".repeat(64)).is_ok());
    assert!(room_name(&"ü".repeat(65)).is_err());
    assert!(room_name("a\u{0}b").is_err());
}

#[test]
fn message_bodies() {
    assert_eq!(message_body("  hi  ").unwrap(), "  hi  ");
    assert!(message_body(" \n\t ").is_err());
    assert!(message_body(&"🙂".repeat(4000)).is_ok());
    assert!(message_body(&"a".repeat(4001)).is_err());
}

#[test]
fn profile_fields() {
    assert!(display_name("Ann").is_ok());
    assert!(display_name(" ").is_err());
    assert!(display_name(&"a".repeat(65)).is_err());
    assert!(bio("").is_ok());
    assert!(bio(&"a".repeat(500)).is_ok());
    assert!(bio(&"a".repeat(501)).is_err());
    assert!(room_description(&"a".repeat(1001)).is_err());
    assert!(client_msg_id("").is_err());
    assert!(client_msg_id("abc-123").is_ok());
}

/// Every text field against control characters: one-line fields refuse all of them,
/// multi-line fields all but newline and tab, and the error names the field.
#[test]
fn control_characters_are_refused_by_every_text_field() {
    type Check = fn(&str) -> Result<(), DomainError>;
    let one_line: [(&str, Check); 6] = [
        ("display_name", |s| display_name(s).map(drop)),
        ("name", |s| room_name(s).map(drop)),
        ("client_msg_id", |s| client_msg_id(s).map(drop)),
        ("password", password),
        ("username", login_username),
        ("q", |s| search_query(Some(s.into())).map(drop)),
    ];
    let multi_line: [(&str, Check); 3] = [
        ("bio", |s| bio(s).map(drop)),
        ("description", |s| room_description(s).map(drop)),
        ("body", |s| message_body(s).map(drop)),
    ];
    for (field, check) in one_line.iter().chain(multi_line.iter()) {
        assert!(check("plain text ok").is_ok(), "{field}");
        for bad in [
            '\u{0}', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\r',
        ] {
            let e = check(&format!("some{bad}text")).unwrap_err();
            assert_eq!(
                field_of(e),
                Some(*field),
                "{field} with U+{:04X}",
                bad as u32
            );
        }
    }
    for (field, check) in one_line {
        assert!(check("a\nb text").is_err(), "{field} is one line");
        assert!(check("a\tb text").is_err(), "{field} is one line");
    }
    for (field, check) in multi_line {
        assert!(
            check("line one\nline\ttwo").is_ok(),
            "{field} keeps newline and tab"
        );
    }
}

#[test]
fn search_queries() {
    assert_eq!(search_query(None).unwrap(), None);
    assert_eq!(search_query(Some("  ".into())).unwrap(), None);
    assert_eq!(
        search_query(Some("gen".into())).unwrap(),
        Some("gen".into())
    );
    assert!(search_query(Some("x".repeat(SEARCH_QUERY_MAX))).is_ok());
    assert!(search_query(Some("x".repeat(SEARCH_QUERY_MAX + 1))).is_err());
}

#[test]
fn login_usernames() {
    assert!(login_username("ann").is_ok());
    // Not a valid username, but only a wrong one: it gets invalid_credentials, not 400.
    assert!(login_username("a b").is_ok());
    assert!(login_username("").is_ok());
    assert!(login_username(&"a".repeat(USERNAME_MAX + 1)).is_ok());
    assert!(login_username("a\u{0}").is_err());
}

/// The published patterns say what the code enforces.
#[test]
fn patterns_match_the_rules() {
    assert_eq!(
        USERNAME_PATTERN,
        format!("^[a-zA-Z0-9_.-]{{{USERNAME_MIN},{USERNAME_MAX}}}$")
    );
    assert!(SINGLE_LINE_PATTERN.contains("\\u0000-\\u001F"));
    assert!(MULTI_LINE_PATTERN.contains("\\u0000-\\u0008\\u000B-\\u001F"));
}

/// Every length rule, at its bounds, counted in characters (`é` is two bytes): the longest
/// value passes, one more character fails, and the error names the field.
#[test]
fn lengths_are_checked_at_their_bounds_and_name_the_field() {
    type Check = fn(&str) -> Result<(), DomainError>;
    let rules: [(&str, Check, char, usize, usize); 9] = [
        (
            "username",
            |s| username(s).map(drop),
            'a',
            USERNAME_MIN,
            USERNAME_MAX,
        ),
        ("password", password, 'é', PASSWORD_MIN, PASSWORD_MAX),
        (
            "display_name",
            |s| display_name(s).map(drop),
            'é',
            1,
            DISPLAY_NAME_MAX,
        ),
        ("bio", |s| bio(s).map(drop), 'é', 0, BIO_MAX),
        ("name", |s| room_name(s).map(drop), 'é', 1, ROOM_NAME_MAX),
        (
            "description",
            |s| room_description(s).map(drop),
            'é',
            0,
            ROOM_DESCRIPTION_MAX,
        ),
        (
            "body",
            |s| message_body(s).map(drop),
            'é',
            1,
            MESSAGE_BODY_MAX,
        ),
        (
            "client_msg_id",
            |s| client_msg_id(s).map(drop),
            'é',
            1,
            CLIENT_MSG_ID_MAX,
        ),
        (
            "q",
            |s| search_query(Some(s.into())).map(drop),
            'é',
            0,
            SEARCH_QUERY_MAX,
        ),
    ];
    for (field, check, c, min, max) in rules {
        let of = |n: usize| c.to_string().repeat(n);
        assert!(check(&of(max)).is_ok(), "{field}: {max} characters");
        assert!(check(&of(min)).is_ok(), "{field}: {min} characters");
        let long = check(&of(max + 1)).unwrap_err();
        assert_eq!(field_of(long.clone()), Some(field), "{field}: too long");
        assert!(
            long.to_string().contains(&max.to_string()),
            "{field}: {long}"
        );
        if min > 0 {
            let short = check(&of(min - 1)).unwrap_err();
            assert_eq!(field_of(short), Some(field), "{field}: too short");
        }
    }
}

#[test]
fn usernames_take_exactly_the_published_characters() {
    for ok in ["abc", "123", "___", "a.b", "-a-", "ZZZ", "a_b.c-d9"] {
        assert_eq!(username(ok).unwrap(), ok, "kept as typed");
    }
    for bad in [
        "a b",
        "ab@c",
        "ab+c",
        "ab/c",
        "ab\u{0}c",
        "ａｂｃ",
        "abc ",
        " abc",
        "ab\u{301}c",
    ] {
        assert_eq!(
            field_of(username(bad).unwrap_err()),
            Some("username"),
            "{bad:?}"
        );
    }
}

/// Names are trimmed before they are measured and checked; other fields are kept as typed.
#[test]
fn which_fields_are_trimmed() {
    let padded = format!(" {} ", "a".repeat(DISPLAY_NAME_MAX));
    assert_eq!(display_name(&padded).unwrap().len(), DISPLAY_NAME_MAX);
    assert_eq!(
        display_name("\tAnn\n").unwrap(),
        "Ann",
        "edge whitespace is not content"
    );
    assert_eq!(room_name("\n general \n").unwrap(), "general");
    assert!(
        room_name(" gen\neral ").is_err(),
        "inside, a newline is refused"
    );
    assert_eq!(bio(" hi\n").unwrap(), " hi\n");
    assert_eq!(room_description("  about  ").unwrap(), "  about  ");
    assert_eq!(message_body("\n  code\n").unwrap(), "\n  code\n");
    assert_eq!(client_msg_id(" id ").unwrap(), " id ");
    assert_eq!(
        password(" secret pass ").map(drop),
        Ok(()),
        "spaces are characters"
    );
    // A search is blank or not by its trimmed text, and kept as typed otherwise.
    assert_eq!(
        search_query(Some(" gen ".into())).unwrap(),
        Some(" gen ".into())
    );
    assert_eq!(search_query(Some(String::new())).unwrap(), None);
}

#[test]
fn blank_is_refused_where_content_is_required() {
    for blank in ["", " ", "\u{a0}", "\u{3000}"] {
        assert_eq!(
            field_of(display_name(blank).unwrap_err()),
            Some("display_name")
        );
        assert_eq!(field_of(room_name(blank).unwrap_err()), Some("name"));
        assert_eq!(field_of(message_body(blank).unwrap_err()), Some("body"));
    }
    assert_eq!(bio("").unwrap(), "");
    assert_eq!(room_description("").unwrap(), "");
    // A client_msg_id is an opaque key: only empty is refused.
    assert!(client_msg_id(" ").is_ok());
}

#[test]
fn control_character_errors_say_which_character() {
    let one = display_name("a\u{1b}b").unwrap_err().to_string();
    assert_eq!(
        one,
        "display_name must not contain control characters (found U+001B)"
    );
    let multi = message_body("a\rb").unwrap_err().to_string();
    assert_eq!(
        multi,
        "body must not contain control characters other than newline and tab (found U+000D)"
    );
    // Format characters are not control characters: a zero-width joiner is fine.
    assert!(message_body("👩\u{200d}💻").is_ok());
}

#[test]
fn login_usernames_refuse_only_what_cannot_be_stored() {
    for ok in ["ANN", "ann smith", "ü", &"x".repeat(1000)] {
        assert!(login_username(ok).is_ok(), "{ok:?}");
    }
    for bad in ["ann\n", "\u{7f}", "a\u{9f}"] {
        assert_eq!(field_of(login_username(bad).unwrap_err()), Some("username"));
    }
}
