//! What PostgreSQL's full-text search stores for a message and looks for in a query, made here
//! rather than by PostgreSQL's `to_tsvector`: as a generated column that cost PostgreSQL 10-16
//! µs per stored row, most of it the parser, and costs Huddle about 3 µs (BENCHMARKS.md, "The
//! search vector from Huddle"). The rules are those of PostgreSQL's `english` configuration
//! for plain text: a text's words as [`words`](crate::search::words) reads them (runs of
//! letters and digits, lowercased), each taking a position; English stop words dropped; words
//! of letters stemmed with Snowball's English stemmer (PostgreSQL's `english_stem`), words
//! with digits kept as they are. Message vectors and queries both come from here, so they
//! agree by construction, whatever PostgreSQL's own parser would make of a URL or an address.
//!
//! The output is PostgreSQL's text form of `tsvector` and `tsquery`, for a `CAST` on the way
//! in: a lexeme can only hold letters and digits, and is quoted all the same.
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::search::{each_word, SearchText, Term};

/// PostgreSQL's `english.stop` (`share/tsearch_data`), which its `english_stem` dictionary
/// drops; sorted, for a binary search.
#[rustfmt::skip]
const STOP_WORDS: [&str; 127] = [
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "did", "do", "does", "doing", "don", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "s", "same", "she",
    "should", "so", "some", "such", "t", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "you", "your", "yours", "yourself",
    "yourselves",
];

/// A lexeme must be shorter than 2,047 bytes (PostgreSQL's `MAXSTRLEN`); `to_tsvector` skips
/// longer words, and so does this.
const LEXEME_BYTES_MAX: usize = 2046;
/// Positions past PostgreSQL's `MAXENTRYPOS - 1` are stored as that.
const POSITION_MAX: usize = 16_383;
/// PostgreSQL keeps at most this many positions of one lexeme (`MAXNUMPOS`).
const POSITIONS_PER_LEXEME_MAX: usize = 256;

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// How many words' stems a thread keeps. Chat repeats its words (a few hundred make most of
/// any conversation), and the stemmer is most of a vector's cost (about 0.3 µs a word, against
/// a look-up's 0.03: `cargo bench -p huddle-bench --bench hot_paths -- search_vector`). Past
/// this many the cache starts again empty, so a flood of distinct words holds a few hundred
/// KiB at most.
const STEMS_KEPT: usize = 4096;

thread_local! {
    static STEMS: RefCell<HashMap<Box<str>, Option<Rc<str>>>> = RefCell::new(HashMap::new());
}

/// The stem of a word of letters, or `None` for a stop word.
fn stem(word: &str) -> Option<Rc<str>> {
    if STOP_WORDS.binary_search(&word).is_ok() {
        return None;
    }
    cached_stem(word)
}

/// What a word of a text or a query is matched as, stop words included: a word of letters'
/// stem, any other word itself. SQLite's porter tokenizer stems the same words alike (both
/// follow Porter's rules for common endings) and drops no stop words; the in-memory
/// repository matches this way to answer as the databases do.
#[cfg(any(test, feature = "memory"))]
pub(crate) fn match_form(word: &str) -> Rc<str> {
    if word.len() > LEXEME_BYTES_MAX || !word.chars().all(char::is_alphabetic) {
        return word.into();
    }
    cached_stem(word).unwrap_or_else(|| word.into())
}

/// Snowball's English stem of a word of letters, from this thread's cache when it is there.
fn cached_stem(word: &str) -> Option<Rc<str>> {
    STEMS.with_borrow_mut(|stems| {
        if let Some(known) = stems.get(word) {
            return known.clone();
        }
        let stem = ENGLISH.stem(word);
        let stem: Option<Rc<str>> =
            (!stem.is_empty() && stem.len() <= LEXEME_BYTES_MAX).then(|| stem.into());
        if stems.len() >= STEMS_KEPT {
            stems.clear();
        }
        stems.insert(word.into(), stem.clone());
        stem
    })
}

/// The lexeme a word is indexed and looked for as, or `None` for a stop word or one too long.
fn lexeme(word: &str) -> Option<Rc<str>> {
    if word.len() > LEXEME_BYTES_MAX {
        return None;
    }
    if !word.chars().all(char::is_alphabetic) {
        return Some(word.into());
    }
    stem(word)
}

/// Each word's lexeme (if it has one) at its position, from 1.
fn positioned(text: &str) -> Vec<(usize, Rc<str>)> {
    each_word(text)
        .enumerate()
        .filter_map(|(i, w)| lexeme(&w).map(|l| ((i + 1).min(POSITION_MAX), l)))
        .collect()
}

fn quoted(lexeme: &str) -> String {
    let mut out = String::with_capacity(lexeme.len() + 2);
    push_quoted(&mut out, lexeme);
    out
}

fn push_quoted(out: &mut String, lexeme: &str) {
    out.push('\'');
    for c in lexeme.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// A text's `tsvector`, in PostgreSQL's text form: `'deploy':1,4 'server':2`; the empty
/// string (the empty vector) for a text with nothing to index.
pub fn tsvector(text: &str) -> String {
    let mut at: Vec<(Rc<str>, usize)> = positioned(text)
        .into_iter()
        .map(|(position, lexeme)| (lexeme, position))
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut out = String::with_capacity(text.len() + 8 * at.len());
    let mut previous: Option<&str> = None;
    let mut kept = 0;
    for (lexeme, position) in &at {
        if previous == Some(&**lexeme) {
            if kept == POSITIONS_PER_LEXEME_MAX {
                continue;
            }
            out.push(',');
        } else {
            if previous.is_some() {
                out.push(' ');
            }
            push_quoted(&mut out, lexeme);
            out.push(':');
            previous = Some(lexeme);
            kept = 0;
        }
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{position}");
        kept += 1;
    }
    out
}

/// One term's words as a `tsquery`: a lexeme, or a phrase whose distances count the stop
/// words between (`"deploy to staging"` is `'deploy' <2> 'stage'`, as PostgreSQL reads it).
/// `None` when every word is a stop word.
fn term_query(text: &str) -> Option<String> {
    let lexemes = positioned(text);
    let ((first_at, first), rest) = lexemes.split_first()?;
    let mut out = quoted(first);
    let mut previous = *first_at;
    for (at, lexeme) in rest {
        let distance = at - previous;
        if distance == 1 {
            out.push_str(" <-> ");
        } else {
            out.push_str(&format!(" <{distance}> "));
        }
        push_quoted(&mut out, lexeme);
        previous = *at;
    }
    Some(format!("({out})"))
}

impl SearchText {
    /// The query as a PostgreSQL `tsquery`: every word and phrase required (a word that reads
    /// as several, like `pull-request`, as a phrase), every exclusion negated. `None` when all
    /// the words looked for are stop words: such a query finds nothing.
    pub fn to_tsquery(&self) -> Option<String> {
        let mut wanted = Vec::new();
        let mut without = Vec::new();
        for term in &self.terms {
            match term {
                Term::Word(text) | Term::Phrase(text) => wanted.extend(term_query(text)),
                Term::Without(text) => without.extend(term_query(text).map(|q| format!("!{q}"))),
            }
        }
        if wanted.is_empty() {
            return None;
        }
        wanted.extend(without);
        Some(wanted.join(" & "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Option<String> {
        SearchText::parse(q).unwrap().to_tsquery()
    }

    #[test]
    fn a_vector_holds_each_stem_at_every_position_stop_words_counted() {
        assert_eq!(
            tsvector("Staging we deployed WITH staging"),
            "'deploy':3 'stage':1,5"
        );
        assert_eq!(tsvector("the server is down"), "'server':2");
    }

    #[test]
    fn words_with_digits_are_kept_as_they_are() {
        assert_eq!(tsvector("v2 build 1234"), "'1234':3 'build':2 'v2':1");
        assert_eq!(tsvector("Running2"), "'running2':1");
    }

    #[test]
    fn punctuation_splits_words_and_nothing_to_index_is_the_empty_vector() {
        assert_eq!(
            tsvector("pull-request: it's done."),
            "'done':5 'pull':1 'request':2"
        );
        assert_eq!(tsvector(""), "");
        assert_eq!(tsvector("the and, or!"), "");
        assert_eq!(tsvector("🎉 … --"), "");
    }

    #[test]
    fn letters_beyond_ascii_are_words_too() {
        assert_eq!(tsvector("Déploiement ÉTÉ"), "'déploiement':1 'été':2");
        assert_eq!(tsvector("東京 meetup"), "'meetup':2 '東京':1");
    }

    #[test]
    fn a_lexeme_keeps_at_most_256_positions_and_words_too_long_are_skipped() {
        let body = vec!["ping"; 300].join(" ");
        let vector = tsvector(&body);
        assert_eq!(vector.matches(',').count(), 255);
        assert!(vector.ends_with(",256"));
        let long = "a".repeat(LEXEME_BYTES_MAX + 1);
        assert_eq!(tsvector(&format!("{long} ok")), "'ok':2");
    }

    #[test]
    fn positions_past_the_limit_are_stored_at_it() {
        let mut body = vec!["x1"; POSITION_MAX + 5].join(" ");
        body.push_str(" late");
        assert!(tsvector(&body).starts_with(&format!("'late':{POSITION_MAX} ")));
    }

    #[test]
    fn queries_stem_as_vectors_do() {
        assert_eq!(query("deploys").as_deref(), Some("('deploy')"));
        assert_eq!(
            query("Deploying servers").as_deref(),
            Some("('deploy') & ('server')")
        );
    }

    #[test]
    fn phrases_and_joined_words_keep_their_distances() {
        assert_eq!(
            query("\"deploy to staging\"").as_deref(),
            Some("('deploy' <2> 'stage')")
        );
        assert_eq!(
            query("pull-request").as_deref(),
            Some("('pull' <-> 'request')")
        );
    }

    #[test]
    fn exclusions_are_negated_after_what_is_wanted() {
        assert_eq!(
            query("-\"release notes\" deploy -friday").as_deref(),
            Some("('deploy') & !('releas' <-> 'note') & !('friday')")
        );
    }

    #[test]
    fn stop_words_alone_look_for_nothing() {
        assert_eq!(query("the"), None);
        assert_eq!(query("\"to be\" -deploy"), None);
        assert_eq!(query("the deploy").as_deref(), Some("('deploy')"));
    }

    #[test]
    fn stop_words_are_sorted_for_the_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(STOP_WORDS.iter().all(|w| lexeme(w).is_none()));
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quoted("it's"), "'it''s'");
        assert_eq!(quoted("a\\b"), "'a\\\\b'");
    }
}
