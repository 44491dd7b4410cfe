//! The contract's input rules, in one place so REST and WebSocket input obey the same ones.
//! Lengths count Unicode scalar values (what a person calls characters), not bytes.
use crate::error::DomainError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const DISPLAY_NAME_MAX: usize = 64;
pub const BIO_MAX: usize = 500;
pub const ROOM_NAME_MAX: usize = 64;
pub const ROOM_DESCRIPTION_MAX: usize = 1000;
pub const MESSAGE_BODY_MAX: usize = 4000;
pub const CLIENT_MSG_ID_MAX: usize = 64;

fn chars(s: &str) -> usize {
    s.chars().count()
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
    Ok(())
}

/// Display names are trimmed; an all-blank one is refused rather than stored empty.
pub fn display_name(s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() || chars(t) > DISPLAY_NAME_MAX || has_control(t) {
        return Err(DomainError::validation(
            "display_name",
            format!("display_name must be 1-{DISPLAY_NAME_MAX} characters, not blank"),
        ));
    }
    Ok(t.to_owned())
}

pub fn bio(s: &str) -> Result<String, DomainError> {
    if chars(s) > BIO_MAX {
        return Err(DomainError::validation(
            "bio",
            format!("bio must be at most {BIO_MAX} characters"),
        ));
    }
    Ok(s.to_owned())
}

pub fn room_name(s: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() || chars(t) > ROOM_NAME_MAX || has_control(t) {
        return Err(DomainError::validation(
            "name",
            format!("name must be 1-{ROOM_NAME_MAX} characters, not blank"),
        ));
    }
    Ok(t.to_owned())
}

pub fn room_description(s: &str) -> Result<String, DomainError> {
    if chars(s) > ROOM_DESCRIPTION_MAX {
        return Err(DomainError::validation(
            "description",
            format!("description must be at most {ROOM_DESCRIPTION_MAX} characters"),
        ));
    }
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
    Ok(s.to_owned())
}

pub fn client_msg_id(s: &str) -> Result<String, DomainError> {
    if s.is_empty() || chars(s) > CLIENT_MSG_ID_MAX || has_control(s) {
        return Err(DomainError::validation(
            "client_msg_id",
            format!("client_msg_id must be 1-{CLIENT_MSG_ID_MAX} characters"),
        ));
    }
    Ok(s.to_owned())
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
