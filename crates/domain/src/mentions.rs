//! Mentions: `@username` and `@room` in a message's body, recognised by the server so that
//! every client agrees on who was mentioned. Parsing is pure text; the store then keeps only
//! the names of the room's members, and `@room` only from an owner or admin.
use crate::validation::{USERNAME_MAX, USERNAME_MIN};

/// The most people one message may mention by name; more is a 400 on the body.
pub const MENTIONS_MAX: usize = 20;

/// `@room`: everyone in the room. A user named "room" cannot be mentioned by name.
pub const ROOM: &str = "room";

/// What a body mentions, before the store checks it against the room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentioned {
    /// Lowercased usernames, each once, in the order they first appear.
    pub usernames: Vec<String>,
    pub room: bool,
}

impl Mentioned {
    pub fn is_empty(&self) -> bool {
        self.usernames.is_empty() && !self.room
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The mentions in a body. An `@` right after a name character is not one (an e-mail address);
/// a trailing `.` or `-` ends a sentence, not a name; what cannot be a username is ignored.
pub fn parse(body: &str) -> Mentioned {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Mentioned::default();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i] == '@' && (i == 0 || !name_char(chars[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < chars.len() && name_char(chars[end]) {
            end += 1;
        }
        let mut name_end = end;
        while name_end > start && matches!(chars[name_end - 1], '.' | '-') {
            name_end -= 1;
        }
        let name: String = chars[start..name_end]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        if name == ROOM {
            out.room = true;
        } else if (USERNAME_MIN..=USERNAME_MAX).contains(&name.len())
            && !out.usernames.contains(&name)
        {
            out.usernames.push(name);
        }
        i = end.max(start);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(body: &str) -> (Vec<String>, bool) {
        let m = parse(body);
        (m.usernames, m.room)
    }

    #[test]
    fn names_are_found_once_lowercased_in_order() {
        assert_eq!(
            names("@Bob and @ann, then @bob again"),
            (vec!["bob".to_owned(), "ann".to_owned()], false)
        );
        assert_eq!(
            names("thanks @ann.  (@carol_1-x)"),
            (vec!["ann".to_owned(), "carol_1-x".to_owned()], false)
        );
        assert_eq!(names("@room: standup"), (vec![], true));
        assert_eq!(names("@Room"), (vec![], true));
    }

    #[test]
    fn what_cannot_be_a_mention_is_ignored() {
        for body in [
            "mail ann@example.com",
            "@ alone",
            "@ab too short",
            &format!("@{}", "x".repeat(USERNAME_MAX + 1)),
            "@@",
            "",
            "no at sign",
        ] {
            assert!(parse(body).is_empty(), "{body:?}: {:?}", parse(body));
        }
        assert_eq!(names("@@ann"), (vec!["ann".to_owned()], false));
        assert_eq!(
            names("é@ann"),
            (vec!["ann".to_owned()], false),
            "not ASCII: a boundary"
        );
    }
}
