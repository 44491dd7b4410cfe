//! Message search: the query language (web-search syntax: words, "phrases", -exclusions), and
//! the highlighted snippet every backend answers with. The databases do the matching and
//! ranking (PostgreSQL full-text search, SQLite FTS5); this module holds what they share, so
//! both read a query the same way and both answer in the same shape.
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entities::{Message, RoomId, UserId};
use crate::error::DomainError;

/// The most characters a search query may have.
pub const SEARCH_TEXT_MAX: usize = 200;
/// The most terms (words, phrases, exclusions) a query may have.
pub const SEARCH_TERMS_MAX: usize = 16;
/// Where a snippet's highlight starts and ends, as the databases mark it. Private-use code
/// points: no client text needs them, and they are stripped from snippets before they leave.
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// One part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Word(String),
    Phrase(String),
    /// `-word` or `-"a phrase"`: messages containing it are left out.
    Without(String),
}

/// A parsed query: at least one word or phrase to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    pub terms: Vec<Term>,
}

impl SearchText {
    /// Reads web-search syntax. Refuses what could match nothing useful: a blank query, one of
    /// only exclusions or punctuation, or one too long.
    pub fn parse(q: &str) -> Result<SearchText, DomainError> {
        let bad = |m: &str| DomainError::validation("q", m);
        let raw = q.trim();
        if raw.chars().count() > SEARCH_TEXT_MAX {
            return Err(bad(&format!(
                "q must be at most {SEARCH_TEXT_MAX} characters"
            )));
        }
        if raw.chars().any(char::is_control) || raw.contains([MARK_START, MARK_END]) {
            return Err(bad("q must not contain control characters"));
        }
        let mut terms = Vec::new();
        let mut rest = raw;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            let negated = rest.starts_with('-');
            if negated {
                rest = &rest[1..];
            }
            let text;
            let quoted = rest.starts_with('"');
            if quoted {
                let body = &rest[1..];
                let end = body.find('"').unwrap_or(body.len());
                text = &body[..end];
                rest = body.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                text = &rest[..end];
                rest = &rest[end..];
            }
            let words = words(text);
            if words.is_empty() {
                continue;
            }
            let text = words.join(" ");
            terms.push(match (negated, quoted && words.len() > 1) {
                (true, _) => Term::Without(text),
                (false, true) => Term::Phrase(text),
                (false, false) => Term::Word(text),
            });
        }
        if terms.len() > SEARCH_TERMS_MAX {
            return Err(bad(&format!("q may have at most {SEARCH_TERMS_MAX} terms")));
        }
        if !terms.iter().any(|t| !matches!(t, Term::Without(_))) {
            return Err(bad("q needs at least one word to look for"));
        }
        Ok(SearchText { terms })
    }

    /// The query in SQLite FTS5's syntax: every term quoted, so no input is read as an
    /// operator; words and phrases all required, exclusions with `NOT`.
    pub fn to_fts5(&self) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let wanted: Vec<String> = self
            .terms
            .iter()
            .filter_map(|t| match t {
                Term::Word(w) | Term::Phrase(w) => Some(quote(w)),
                Term::Without(_) => None,
            })
            .collect();
        let mut q = wanted.join(" AND ");
        for t in &self.terms {
            if let Term::Without(w) = t {
                q.push_str(" NOT ");
                q.push_str(&quote(w));
            }
        }
        q
    }
}

/// The words of a text as full-text search sees them: runs of letters and digits, lowercased.
pub fn words(text: &str) -> Vec<String> {
    each_word(text).map(Cow::into_owned).collect()
}

/// [`words`] one at a time, copied only where lowercasing changes them.
pub(crate) fn each_word(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.is_ascii() && !w.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Borrowed(w)
            } else {
                Cow::Owned(w.to_lowercase())
            }
        })
}

/// What to search, for whom.
#[derive(Debug, Clone)]
pub struct MessageSearch {
    /// Only messages of rooms this user is a member of.
    pub viewer: UserId,
    pub text: SearchText,
    pub room_id: Option<RoomId>,
    pub author_id: Option<UserId>,
    /// Sent after this time.
    pub after: Option<DateTime<Utc>>,
    /// Sent before this time.
    pub before: Option<DateTime<Utc>>,
    /// Only the newest `window` matches (after the filters) are ranked and paged through.
    pub window: usize,
    pub offset: usize,
    pub limit: usize,
}

/// A found message, best first, with the part of it that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    pub message: Message,
    /// A part of the body around the matches (the whole body when short).
    pub snippet: String,
    /// `[start, end)` character ranges of `snippet` that matched.
    pub highlights: Vec<[usize; 2]>,
}

impl SearchHit {
    /// From a snippet marked with [`MARK_START`] and [`MARK_END`] by the database.
    pub fn from_marked(message: Message, marked: &str) -> SearchHit {
        let mut snippet = String::with_capacity(marked.len());
        let mut highlights = Vec::new();
        let mut open = None;
        let mut chars = 0;
        for c in marked.chars() {
            match c {
                MARK_START => open = Some(chars),
                MARK_END => {
                    if let Some(start) = open.take() {
                        if chars > start {
                            highlights.push([start, chars]);
                        }
                    }
                }
                c => {
                    snippet.push(c);
                    chars += 1;
                }
            }
        }
        SearchHit {
            message,
            snippet,
            highlights,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> Vec<Term> {
        SearchText::parse(q).unwrap().terms
    }

    #[test]
    fn web_search_syntax_reads_words_phrases_and_exclusions() {
        use Term::*;
        assert_eq!(
            terms(r#"  Deploy "release notes" -draft -"old plan" v2.1 "#),
            [
                Word("deploy".into()),
                Phrase("release notes".into()),
                Without("draft".into()),
                Without("old plan".into()),
                Word("v2 1".into()),
            ]
        );
        // An unclosed quote runs to the end; a quoted single word is a word.
        assert_eq!(terms(r#""one two"#), [Phrase("one two".into())]);
        assert_eq!(terms(r#""one""#), [Word("one".into())]);
        assert_eq!(
            terms("Straße ÉTÉ"),
            [Word("straße".into()), Word("été".into())]
        );
    }

    #[test]
    fn queries_that_look_for_nothing_are_refused() {
        for q in ["", "   ", "-x", "-\"a b\" -c", "!!! ??", "\"\"", "- -"] {
            let e = SearchText::parse(q).unwrap_err();
            assert_eq!(e.field(), Some("q"), "{q:?}");
        }
        let long = "a ".repeat(SEARCH_TEXT_MAX);
        assert_eq!(SearchText::parse(&long).unwrap_err().field(), Some("q"));
        let many = "w ".repeat(SEARCH_TERMS_MAX + 1);
        assert_eq!(SearchText::parse(&many).unwrap_err().field(), Some("q"));
        assert!(SearchText::parse("a\u{0}b").is_err());
        assert!(SearchText::parse("a\u{E000}b").is_err());
    }

    #[test]
    fn fts5_queries_quote_every_term() {
        let q = SearchText::parse(r#"deploy "release notes" -draft"#).unwrap();
        assert_eq!(q.to_fts5(), r#""deploy" AND "release notes" NOT "draft""#);
        // Operators typed by the user are words, never syntax.
        let q = SearchText::parse("NEAR OR AND").unwrap();
        assert_eq!(q.to_fts5(), r#""near" AND "or" AND "and""#);
    }

    #[test]
    fn marked_snippets_become_text_and_character_ranges() {
        let m = |s: &str| s.replace('[', "\u{E000}").replace(']', "\u{E001}");
        let author = crate::entities::User {
            id: 1,
            username: "ann".into(),
            display_name: "Ann".into(),
            bio: String::new(),
            created_at: Utc::now(),
        };
        let message = Message {
            id: 1,
            room_id: 1,
            seq: 1,
            author,
            body: "the déploy went fine".into(),
            client_msg_id: None,
            created_at: Utc::now(),
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            event_seq: 1,
            reply_to: None,
            reply_to_id: None,
            mentions: Vec::new(),
            mentions_room: false,
            attachments: Vec::new(),
        };
        let hit = SearchHit::from_marked(message.clone(), &m("the [déploy] went [fine]"));
        assert_eq!(hit.snippet, "the déploy went fine");
        assert_eq!(hit.highlights, [[4, 10], [16, 20]]);
        let chars: Vec<char> = hit.snippet.chars().collect();
        assert_eq!(chars[4..10].iter().collect::<String>(), "déploy");
        // Unbalanced or empty marks leave no range.
        let hit = SearchHit::from_marked(message, &m("a []b] [c"));
        assert_eq!((hit.snippet.as_str(), hit.highlights), ("a b c", vec![]));
    }
}
