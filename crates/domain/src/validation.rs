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
/// An invite lives a week unless its creator says otherwise: from a minute to 30 days.
pub const INVITE_TTL_DEFAULT_S: i64 = 7 * 24 * 3600;
pub const INVITE_TTL_MIN_S: i64 = 60;
pub const INVITE_TTL_MAX_S: i64 = 30 * 24 * 3600;
/// The most uses one invite may allow (absent: unlimited until it expires).
pub const INVITE_USES_MAX: i64 = 1000;
/// The most people a direct conversation has besides the one who opens it (nine in all).
pub const DIRECT_OTHERS_MAX: usize = 8;
/// The most distinct emoji one message may carry.
pub const REACTIONS_PER_MESSAGE_MAX: usize = 20;
/// The most characters (code points) one emoji may take: flags, skin tones and joined
/// sequences are several.
pub const EMOJI_MAX: usize = 16;
/// The most live invites a room may have at once.
pub const INVITES_PER_ROOM_MAX: usize = 100;
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
/// One emoji: a short run of code points, none of them space or control, not plain ASCII text
/// (keycaps like "1️⃣" hold an ASCII digit, but never only ASCII).
pub fn emoji(s: &str) -> Result<String, DomainError> {
    let n = chars(s);
    let ok = (1..=EMOJI_MAX).contains(&n)
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !s.is_ascii();
    if ok {
        Ok(s.to_owned())
    } else {
        Err(DomainError::validation(
            "emoji",
            format!("emoji must be one emoji (at most {EMOJI_MAX} characters, no plain text)"),
        ))
    }
}

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

/// A file's caption: a message body that may be empty, since the file says something itself.
pub fn caption(s: &str) -> Result<String, DomainError> {
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    message_body(s)
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

/// A search text: blank means no filter (`None`).
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
mod tests;
