//! The contract's input rules, in one place so REST and WebSocket input obey the same ones.
//! Lengths count Unicode scalar values (what a person calls characters), not bytes.
use crate::error::DomainError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
/// The characters a username may hold, as a regular expression (the OpenAPI document's
/// `pattern` is built from it, so the published rule is the enforced one).
pub const USERNAME_PATTERN: &str = "^[a-zA-Z0-9_.-]{3,32}$";
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const BIO_MAX: usize = 500;
pub const ROOM_NAME_MAX: usize = 64;
pub const ROOM_DESCRIPTION_MAX: usize = 1000;
pub const MESSAGE_BODY_MAX: usize = 4000;
pub const CLIENT_MSG_ID_MAX: usize = 64;
/// Longest room search text (`GET /rooms?q=`).
pub const SEARCH_QUERY_MAX: usize = 100;
/// A session's user agent is kept to this many characters.
pub const USER_AGENT_MAX: usize = 256;
/// A one-line field: no control character at all (ECMA-262 syntax, for the OpenAPI document).
pub const SINGLE_LINE_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// A multi-line field (bodies, bio, descriptions): control characters but newline and tab.
pub const MULTI_LINE_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$";

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Which control characters a field tolerates. NUL is never storable on PostgreSQL, and the
/// rest are invisible, so every text field refuses them; text meant to span lines keeps
/// newline and tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    Single,
    Multi,
}

fn control_free(field: &'static str, s: &str, lines: Lines) -> Result<(), DomainError> {
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\t');
    match s.chars().find(|&c| c.is_control() && !allowed(c)) {
        None => Ok(()),
        Some(c) => Err(DomainError::validation(
            field,
            match lines {
                Lines::Single => format!(
                    "{field} must not contain control characters (found U+{:04X})",
                    c as u32
                ),
                Lines::Multi => format!(
                    "{field} must not contain control characters other than newline and tab (found U+{:04X})",
                    c as u32
                ),
            },
        )),
    }
}

pub fn username(s: &str) -> Result<String, DomainError> {
    let n = chars(s);
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&n) || !ok_chars {
        return Err(DomainError::validation(
            "username",
            format!("username must be {USERNAME_MIN}-{USERNAME_MAX} characters of a-z, A-Z, 0-9, '_', '.', '-'"),
        ));
    }
    Ok(s.to_owned())
}

/// A username as typed at login. Text no database can hold is the client's mistake (400);
/// any other unknown name, however long, is answered like a wrong password (401), so a login
/// never tells which usernames exist.
pub fn login_username(s: &str) -> Result<(), DomainError> {
    control_free("username", s, Lines::Single)
}

pub fn password(s: &str) -> Result<(), DomainError> {
    let n = chars(s);
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        return Err(DomainError::validation(
            "password",
            format!("password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters"),
        ));
    }
    // bcrypt only looks at the first 72 bytes; longer passwords are pre-hashed by the auth
    // crate, so nothing more to check here.
    control_free("password", s, Lines::Single)
}

/// Display names are trimmed; an all-blank one is refused rather than stored empty.
pub fn display_name(s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() || chars(t) > DISPLAY_NAME_MAX {
        return Err(DomainError::validation(
            "display_name",
            format!("display_name must be 1-{DISPLAY_NAME_MAX} characters, not blank"),
        ));
    }
    control_free("display_name", t, Lines::Single)?;
    Ok(t.to_owned())
}

pub fn bio(s: &str) -> Result<String, DomainError> {
    if chars(s) > BIO_MAX {
        return Err(DomainError::validation(
            "bio",
            format!("bio must be at most {BIO_MAX} characters"),
        ));
    }
    control_free("bio", s, Lines::Multi)?;
    Ok(s.to_owned())
}

pub fn room_name(s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() || chars(t) > ROOM_NAME_MAX {
        return Err(DomainError::validation(
            "name",
            format!("name must be 1-{ROOM_NAME_MAX} characters, not blank"),
        ));
    }
    control_free("name", t, Lines::Single)?;
    Ok(t.to_owned())
}

pub fn room_description(s: &str) -> Result<String, DomainError> {
    if chars(s) > ROOM_DESCRIPTION_MAX {
        return Err(DomainError::validation(
            "description",
            format!("description must be at most {ROOM_DESCRIPTION_MAX} characters"),
        ));
    }
    control_free("description", s, Lines::Multi)?;
    Ok(s.to_owned())
}

/// Bodies keep their whitespace (code blocks, poems) but must hold something visible.
pub fn message_body(s: &str) -> Result<String, DomainError> {
    if s.trim().is_empty() || chars(s) > MESSAGE_BODY_MAX {
        return Err(DomainError::validation(
            "body",
            format!("body must be 1-{MESSAGE_BODY_MAX} characters, not blank"),
        ));
    }
    control_free("body", s, Lines::Multi)?;
    Ok(s.to_owned())
}

pub fn client_msg_id(s: &str) -> Result<String, DomainError> {
    if s.is_empty() || chars(s) > CLIENT_MSG_ID_MAX {
        return Err(DomainError::validation(
            "client_msg_id",
            format!("client_msg_id must be 1-{CLIENT_MSG_ID_MAX} characters"),
        ));
    }
    control_free("client_msg_id", s, Lines::Single)?;
    Ok(s.to_owned())
}

/// A search text: blank means no filter (`None`).
/// A login's `User-Agent`, as shown in the sessions list: informative only, so never refused;
/// control characters are dropped and it is cut to [`USER_AGENT_MAX`] characters.
pub fn user_agent(raw: &str) -> Option<String> {
    let clean: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_MAX)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

pub fn search_query(s: Option<String>) -> Result<Option<String>, DomainError> {
    let Some(q) = s else { return Ok(None) };
    if chars(&q) > SEARCH_QUERY_MAX {
        return Err(DomainError::validation(
            "q",
            format!("q must be at most {SEARCH_QUERY_MAX} characters"),
        ));
    }
    control_free("q", &q, Lines::Single)?;
    Ok(Some(q).filter(|q| !q.trim().is_empty()))
}

#[cfg(test)]
mod tests {
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
}
