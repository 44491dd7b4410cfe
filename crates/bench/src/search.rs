//! Message search: a corpus whose words have a realistic spread, the mix of queries run
//! against it, the check of every answer, and the open-loop load (a fixed request rate; each
//! request leaves on its schedule whether or not earlier ones have answered, and its latency
//! counts from that scheduled time, so a stall counts in full).
//!
//! The corpus: message bodies of 4 to 17 words drawn from a vocabulary by a Zipf law (word of
//! rank k with probability ≈ 1/(k·ln V)). The head of the vocabulary is English stop words
//! (about a third of all words, as in chat; full-text search drops them); the rest are made-up
//! words of consonant-vowel syllables, each with a stem of its own (checked against
//! PostgreSQL's `english` stemmer when the corpus is built), so a body holding a query's stem
//! holds the query's word itself. The most frequent of them is in about 2.5% of messages, the
//! 1,000th in 0.1%. Besides, rare words (letters the vocabulary never uses) and two-word
//! phrases are planted in every message whose number `g` (1, 2, ...) has `g % period ==
//! residue`, so how many messages hold each is known without asking the database.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::load::Latency;
use crate::sample::{Tracker, Usage};
use crate::Result;

/// The head of the vocabulary: words PostgreSQL's `english` configuration drops (checked when
/// the corpus is built), the most frequent tokens of any chat.
pub const STOP_WORDS: [&str; 40] = [
    "the", "to", "and", "a", "i", "it", "is", "of", "in", "that", "you", "for", "on", "this", "we",
    "be", "with", "have", "but", "not", "so", "at", "are", "can", "just", "was", "do", "if", "my",
    "me", "will", "all", "there", "what", "about", "they", "or", "an", "no", "he",
];

const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
const VOWELS: &[u8] = b"aeiou";
/// Made-up words tried for the vocabulary (every two-syllable one, then three-syllable ones);
/// those whose stem another already has are left out.
const CONTENT_CANDIDATES: usize = 21_000;

/// Rare words and the period they are planted with. Their letters (h, j, q, w, x, y) are in no
/// vocabulary word.
pub const RARE: [(&str, i64); 8] = [
    ("xylofex", 4_999),
    ("quorvix", 7_919),
    ("wextral", 12_007),
    ("jovquin", 20_011),
    ("hyxomar", 30_011),
    ("qiwendal", 49_999),
    ("zwixol", 70_001),
    ("yoqubert", 99_991),
];
/// Phrases: pairs of content words about the 100th most frequent (each in about 0.75% of
/// messages on its own), planted side by side with these periods.
const PHRASE_PERIODS: [i64; 4] = [2_003, 3_001, 4_001, 5_003];
const PHRASE_FIRST: usize = 100;

/// Content words (by frequency rank, 0 the most frequent) the queries use.
const COMMON: std::ops::Range<usize> = 0..5;
const PAIR_FIRST: usize = 5;
const PAIR_SECOND: usize = 15;
const PAIRS: usize = 10;
const EXCLUDED_FROM: usize = 20;
const EXCLUSIONS: usize = 5;

/// Words or phrases planted in known messages.
#[derive(Debug, Clone, Serialize)]
pub struct Planted {
    /// One word, or words separated by single spaces.
    pub text: String,
    pub period: i64,
    pub residue: i64,
}

impl Planted {
    /// How many of messages 1..=`messages` hold it.
    pub fn expected(&self, messages: i64) -> i64 {
        if messages < self.residue {
            0
        } else {
            (messages - self.residue) / self.period + 1
        }
    }
}

/// The words the seeded messages are made of.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Every word, most frequent first: the stop words, then the content words.
    pub vocabulary: Vec<String>,
    /// Rare words, then phrases.
    pub planted: Vec<Planted>,
}

/// The made-up words tried for the vocabulary, in a fixed shuffled order (their rank).
pub fn content_candidates() -> Vec<String> {
    let syllables: Vec<String> = CONSONANTS
        .iter()
        .flat_map(|&c| {
            VOWELS
                .iter()
                .map(move |&v| format!("{}{}", c as char, v as char))
        })
        .collect();
    let n = syllables.len();
    let mut words: Vec<String> = Vec::with_capacity(CONTENT_CANDIDATES);
    for a in &syllables {
        for b in &syllables {
            words.push(format!("{a}{b}"));
        }
    }
    // Three-syllable words, spread over all of them by a multiplicative walk.
    let three = n * n * n;
    let mut i: usize = 0;
    while words.len() < CONTENT_CANDIDATES {
        i += 1;
        let k = (i * 7_919) % three;
        words.push(format!(
            "{}{}{}",
            syllables[k / (n * n)],
            syllables[(k / n) % n],
            syllables[k % n]
        ));
    }
    // A fixed shuffle (Fisher-Yates on a 64-bit LCG), so frequency has nothing to do with
    // spelling.
    let mut state: u64 = 0x5eed;
    for j in (1..words.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = ((state >> 33) as usize) % (j + 1);
        words.swap(j, r);
    }
    words
}

impl Corpus {
    /// Builds the corpus from the candidates and what the database's `to_tsvector('english',
    /// …)` makes of each (`lexemes[i]` for `candidates[i]`, its text form such as `'kabo':1`;
    /// `rare_lexemes` likewise for [`RARE`]). Stop words must come out empty, every content
    /// and rare word as one lexeme no other word has.
    pub fn new(
        candidates: &[String],
        lexemes: &[String],
        stop_lexemes: &[String],
        rare_lexemes: &[String],
    ) -> Result<Self> {
        if let Some((w, l)) = STOP_WORDS
            .iter()
            .zip(stop_lexemes)
            .find(|(_, l)| !l.is_empty())
        {
            return Err(format!("{w:?} is not a stop word here ({l})").into());
        }
        let single = |l: &str| l.ends_with(":1") && !l.contains(' ');
        let mut seen = HashSet::new();
        for (w, l) in RARE.iter().zip(rare_lexemes) {
            if !single(l) || !seen.insert(l.clone()) {
                return Err(format!("rare word {:?} is not a lexeme of its own ({l})", w.0).into());
            }
        }
        let mut vocabulary: Vec<String> = STOP_WORDS.iter().map(|s| (*s).to_owned()).collect();
        for (w, l) in candidates.iter().zip(lexemes) {
            if single(l) && seen.insert(l.clone()) {
                vocabulary.push(w.clone());
            }
        }
        let content = &vocabulary[STOP_WORDS.len()..];
        if content.len() < PHRASE_FIRST + 2 * PHRASE_PERIODS.len() {
            return Err("too few content words".into());
        }
        let mut planted: Vec<Planted> = RARE
            .iter()
            .enumerate()
            .map(|(j, (w, period))| Planted {
                text: (*w).to_owned(),
                period: *period,
                residue: j as i64 + 1,
            })
            .collect();
        for (k, period) in PHRASE_PERIODS.iter().enumerate() {
            planted.push(Planted {
                text: format!(
                    "{} {}",
                    content[PHRASE_FIRST + 2 * k],
                    content[PHRASE_FIRST + 2 * k + 1]
                ),
                period: *period,
                residue: k as i64 + 1,
            });
        }
        Ok(Self {
            vocabulary,
            planted,
        })
    }

    /// Content words, most frequent first.
    pub fn content(&self) -> &[String] {
        &self.vocabulary[STOP_WORDS.len()..]
    }

    pub fn rare(&self) -> &[Planted] {
        &self.planted[..RARE.len()]
    }

    pub fn phrases(&self) -> &[Planted] {
        &self.planted[RARE.len()..]
    }
}

/// What a query looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One rare word (11 to 201 messages of 1,000,000).
    Rare,
    /// One of the five most frequent content words (2.2–2.5% of messages each).
    Common,
    /// Two words of the 6th–25th most frequent content words, both required.
    TwoWords,
    /// A planted `"phrase"` of two words each in about 0.75% of messages.
    Phrase,
    /// A frequent word (21st–25th, 1.7%) without a common one: `word -other`.
    Exclusion,
    /// One of the common words, narrowed to one room (`room_id`).
    OneRoom,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Rare,
        Kind::Common,
        Kind::TwoWords,
        Kind::Phrase,
        Kind::Exclusion,
        Kind::OneRoom,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Rare => "rare word",
            Kind::Common => "common word",
            Kind::TwoWords => "two words",
            Kind::Phrase => "phrase",
            Kind::Exclusion => "exclusion",
            Kind::OneRoom => "one room",
        }
    }
}

/// One search and what every hit of it must satisfy.
#[derive(Debug, Clone)]
pub struct Query {
    pub kind: Kind,
    /// `q`, in web-search syntax.
    pub q: String,
    pub room: Option<i64>,
    /// Each must be in a hit's body: one word, or words side by side.
    pub wanted: Vec<Vec<String>>,
    /// Words no hit's body may hold.
    pub unwanted: Vec<String>,
}

impl Query {
    fn new(kind: Kind, q: String, room: Option<i64>) -> Self {
        let mut wanted = Vec::new();
        let mut unwanted = Vec::new();
        let mut rest = q.as_str();
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                wanted.push(words(&quoted[..end]));
                rest = quoted.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                match rest[..end].strip_prefix('-') {
                    Some(w) => unwanted.extend(words(w)),
                    None => wanted.push(words(&rest[..end])),
                }
                rest = &rest[end..];
            }
        }
        Self {
            kind,
            q,
            room,
            wanted,
            unwanted,
        }
    }

    /// The URL's query string (without the page's cursor and limit).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("q", self.q.clone())];
        if let Some(room) = self.room {
            p.push(("room_id", room.to_string()));
        }
        p
    }
}

/// Lowercased runs of letters and digits, as full-text search splits a body.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The queries of each kind; a run goes through the kinds in turn.
#[derive(Debug, Clone)]
pub struct Workload {
    pub by_kind: Vec<(Kind, Vec<Query>)>,
}

impl Workload {
    pub fn new(corpus: &Corpus, rooms: &[i64]) -> Self {
        let c = corpus.content();
        let q = |kind, text: String| Query::new(kind, text, None);
        let by_kind = vec![
            (
                Kind::Rare,
                corpus
                    .rare()
                    .iter()
                    .map(|p| q(Kind::Rare, p.text.clone()))
                    .collect(),
            ),
            (
                Kind::Common,
                COMMON.map(|i| q(Kind::Common, c[i].clone())).collect(),
            ),
            (
                Kind::TwoWords,
                (0..PAIRS)
                    .map(|i| {
                        q(
                            Kind::TwoWords,
                            format!("{} {}", c[PAIR_FIRST + i], c[PAIR_SECOND + i]),
                        )
                    })
                    .collect(),
            ),
            (
                Kind::Phrase,
                corpus
                    .phrases()
                    .iter()
                    .map(|p| q(Kind::Phrase, format!("\"{}\"", p.text)))
                    .collect(),
            ),
            (
                Kind::Exclusion,
                (0..EXCLUSIONS)
                    .map(|i| {
                        q(
                            Kind::Exclusion,
                            format!("{} -{}", c[EXCLUDED_FROM + i], c[COMMON.start + i]),
                        )
                    })
                    .collect(),
            ),
            (
                Kind::OneRoom,
                rooms
                    .iter()
                    .enumerate()
                    .map(|(r, room)| {
                        let word = c[COMMON.start + r % COMMON.len()].clone();
                        Query::new(Kind::OneRoom, word, Some(*room))
                    })
                    .collect(),
            ),
        ];
        Self { by_kind }
    }

    /// The same without the kinds not in `kinds` (all of them when `kinds` is empty).
    pub fn only(&self, kinds: &[Kind]) -> Self {
        Self {
            by_kind: self
                .by_kind
                .iter()
                .filter(|(k, _)| kinds.is_empty() || kinds.contains(k))
                .cloned()
                .collect(),
        }
    }

    /// Request `i` of a run: the kinds in turn, and within a kind a golden-ratio walk over its
    /// queries.
    pub fn pick(&self, i: u64) -> &Query {
        let (_, queries) = &self.by_kind[(i % self.by_kind.len() as u64) as usize];
        let round = i / self.by_kind.len() as u64;
        let frac = (round as f64 * 0.618_033_988_749_895).fract();
        &queries[((frac * queries.len() as f64) as usize).min(queries.len() - 1)]
    }

    pub fn all(&self) -> impl Iterator<Item = &Query> {
        self.by_kind.iter().flat_map(|(_, qs)| qs.iter())
    }
}

/// Checks one page of answers to `query`: at most `limit` hits, each a message of one of
/// `rooms` (of the query's room, when narrowed) whose body holds every wanted word or phrase
/// and no unwanted word, with highlights inside its snippet on the wanted words only. Returns
/// the hits' ids, or what is wrong.
pub fn check_page(
    query: &Query,
    rooms: &HashSet<i64>,
    limit: usize,
    page: &Value,
) -> std::result::Result<Vec<i64>, String> {
    let items = page["items"].as_array().ok_or("no items")?;
    if items.len() > limit {
        return Err(format!("{} items, limit {limit}", items.len()));
    }
    // A wanted word, or a whole wanted phrase: PostgreSQL's `ts_headline` marks a phrase's
    // words one by one, SQLite's `snippet` marks the phrase as one run.
    let phrases: Vec<String> = query.wanted.iter().map(|w| w.join(" ")).collect();
    let positive: HashSet<&str> = query
        .wanted
        .iter()
        .flatten()
        .chain(&phrases)
        .map(String::as_str)
        .collect();
    let mut ids = Vec::with_capacity(items.len());
    for hit in items {
        let m = &hit["message"];
        let id = m["id"].as_i64().ok_or("a hit without an id")?;
        let room = m["room_id"].as_i64().ok_or("a hit without a room")?;
        if !rooms.contains(&room) || query.room.is_some_and(|r| r != room) {
            return Err(format!("message {id} of room {room}"));
        }
        let body = words(m["body"].as_str().ok_or("a hit without a body")?);
        for w in &query.wanted {
            if !body.windows(w.len()).any(|run| run == w.as_slice()) {
                return Err(format!("message {id} lacks {:?}: {body:?}", w.join(" ")));
            }
        }
        if let Some(w) = query.unwanted.iter().find(|w| body.contains(w)) {
            return Err(format!("message {id} holds the excluded {w:?}"));
        }
        let snippet: Vec<char> = hit["snippet"]
            .as_str()
            .ok_or("a hit without a snippet")?
            .chars()
            .collect();
        let ranges = hit["highlights"].as_array().ok_or("no highlights")?;
        if ranges.is_empty() {
            return Err(format!("message {id}: nothing highlighted"));
        }
        for r in ranges {
            let (a, b) = (
                r[0].as_u64().unwrap_or(u64::MAX) as usize,
                r[1].as_u64().unwrap_or(0) as usize,
            );
            if a >= b || b > snippet.len() {
                return Err(format!("message {id}: highlight {r} outside the snippet"));
            }
            let marked: String = snippet[a..b].iter().collect::<String>().to_lowercase();
            if !positive.contains(marked.as_str()) {
                return Err(format!("message {id}: {marked:?} highlighted"));
            }
        }
        ids.push(id);
    }
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err("a message twice in one page".into());
    }
    Ok(ids)
}

/// `GET /api/v1/search/messages` for one page: the status and the body.
pub async fn get_page(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &Query,
    limit: usize,
    cursor: Option<&str>,
) -> Result<(u16, Value)> {
    let mut params = query.params();
    params.push(("limit", limit.to_string()));
    if let Some(c) = cursor {
        params.push(("cursor", c.to_owned()));
    }
    let resp = client
        .get(format!("{base}/api/v1/search/messages"))
        .query(&params)
        .bearer_auth(token)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

/// Every hit of `query`, page after page of 50 (each page checked), up to the first page that
/// reaches `max` hits.
pub async fn all_hits(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &Query,
    rooms: &HashSet<i64>,
    max: usize,
) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    while ids.len() < max {
        let (status, page) = get_page(client, base, token, query, 50, cursor.as_deref()).await?;
        if status != 200 {
            return Err(format!("search {:?}: {status}: {page}", query.q).into());
        }
        ids.extend(
            check_page(query, rooms, 50, &page)
                .map_err(|e| format!("search {:?}: {e}", query.q))?,
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.truncate(max);
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(format!("search {:?}: a message on two pages", query.q).into());
    }
    Ok(ids)
}

#[derive(Debug, Clone)]
pub struct SearchLoad {
    pub base: String,
    pub token: String,
    /// The rooms the searching user is a member of.
    pub rooms: Arc<HashSet<i64>>,
    pub workload: Arc<Workload>,
    /// Requests per second.
    pub rate: f64,
    /// Results per page (`limit`).
    pub limit: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Longest wait, after the last request's scheduled time, for the answers still out;
    /// those that have not come by then count as timed out.
    pub drain: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindResult {
    pub kind: Kind,
    pub requests: u64,
    pub errors: u64,
    pub wrong: u64,
    /// Hits per answered page, on average.
    pub hits_mean: f64,
    pub latency: Latency,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchResult {
    /// Requests scheduled during the measurement.
    pub requests: u64,
    pub requests_per_s: f64,
    /// Answers other than 200 (by status; 0 for a failed connection), and timeouts.
    pub errors: u64,
    pub error_statuses: BTreeMap<u16, u64>,
    pub timed_out: u64,
    /// Answers that failed the check.
    pub wrong: u64,
    pub wrong_examples: Vec<String>,
    /// From each request's scheduled time to its answer (or its timeout).
    pub latency: Latency,
    pub by_kind: Vec<KindResult>,
    pub usage: Vec<Usage>,
}

#[derive(Default)]
struct KindCounts {
    requests: u64,
    errors: u64,
    wrong: u64,
    hits: u64,
    answered: u64,
}

struct Tally {
    all: Histogram<u64>,
    by_kind: HashMap<Kind, (KindCounts, Histogram<u64>)>,
    statuses: BTreeMap<u16, u64>,
    timed_out: u64,
    wrong_examples: Vec<String>,
}

enum Outcome {
    Right(usize),
    Wrong(String),
    Status(u16),
    TimedOut,
}

async fn one(
    client: &reqwest::Client,
    load: &SearchLoad,
    query: &Query,
    deadline: tokio::time::Instant,
) -> Outcome {
    let ask = get_page(client, &load.base, &load.token, query, load.limit, None);
    match tokio::time::timeout_at(deadline, ask).await {
        Err(_) => Outcome::TimedOut,
        Ok(Err(_)) => Outcome::Status(0),
        Ok(Ok((200, page))) => match check_page(query, &load.rooms, load.limit, &page) {
            Ok(ids) => Outcome::Right(ids.len()),
            Err(e) => Outcome::Wrong(format!("{:?}: {e}", query.q)),
        },
        Ok(Ok((status, _))) => Outcome::Status(status),
    }
}

fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?)
}

/// Runs the searches at `load.rate` for the warm-up and the measurement.
pub async fn run(load: &SearchLoad, trackers: &mut [Tracker]) -> Result<SearchResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let mut by_kind = HashMap::new();
    for k in Kind::ALL {
        by_kind.insert(k, (KindCounts::default(), histogram()?));
    }
    let tally = Arc::new(Mutex::new(Tally {
        all: histogram()?,
        by_kind,
        statuses: BTreeMap::new(),
        timed_out: 0,
        wrong_examples: Vec::new(),
    }));
    let period = Duration::from_secs_f64(1.0 / load.rate.max(0.001));
    let start = tokio::time::Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let deadline = end + load.drain;
    let load = Arc::new(load.clone());
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let mut i: u64 = 0;
    let mut started_trackers = false;
    let mut next_tick = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        let scheduled = ticker.tick().await;
        if scheduled >= end {
            break;
        }
        if scheduled >= measure_from && !started_trackers {
            for t in trackers.iter_mut() {
                t.start().await;
            }
            started_trackers = true;
        }
        if started_trackers && tokio::time::Instant::now() >= next_tick {
            next_tick += Duration::from_millis(500);
            for t in trackers.iter_mut() {
                t.tick().await;
            }
        }
        let query = load.workload.pick(i).clone();
        i += 1;
        let (client, load, tally) = (client.clone(), load.clone(), tally.clone());
        let measured = scheduled >= measure_from;
        tasks.push(tokio::spawn(async move {
            let outcome = one(&client, &load, &query, deadline).await;
            if !measured {
                return;
            }
            let took = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX);
            let Ok(mut t) = tally.lock() else {
                return;
            };
            t.all.saturating_record(took.max(1));
            let mut example = None;
            if let Some((c, h)) = t.by_kind.get_mut(&query.kind) {
                h.saturating_record(took.max(1));
                c.requests += 1;
                match &outcome {
                    Outcome::Right(n) => {
                        c.answered += 1;
                        c.hits += *n as u64;
                    }
                    Outcome::Wrong(e) => {
                        c.wrong += 1;
                        example = Some(e.clone());
                    }
                    Outcome::Status(_) | Outcome::TimedOut => c.errors += 1,
                }
            }
            match outcome {
                Outcome::Status(s) => *t.statuses.entry(s).or_default() += 1,
                Outcome::TimedOut => t.timed_out += 1,
                Outcome::Right(_) | Outcome::Wrong(_) => {}
            }
            if let Some(e) = example {
                if t.wrong_examples.len() < 5 {
                    t.wrong_examples.push(e);
                }
            }
        }));
    }
    for t in trackers.iter_mut() {
        t.tick().await;
    }
    for t in tasks {
        // Each request gives up at the deadline on its own; this is a backstop.
        let _ = tokio::time::timeout_at(deadline + Duration::from_secs(5), t).await;
    }
    let t = tally.lock().map_err(|_| "poisoned")?;
    let mut kinds = Vec::new();
    let (mut requests, mut errors, mut wrong) = (0, 0, 0);
    for k in Kind::ALL {
        let Some((c, h)) = t.by_kind.get(&k).filter(|(c, _)| c.requests > 0) else {
            continue;
        };
        requests += c.requests;
        errors += c.errors;
        wrong += c.wrong;
        kinds.push(KindResult {
            kind: k,
            requests: c.requests,
            errors: c.errors,
            wrong: c.wrong,
            hits_mean: c.hits as f64 / c.answered.max(1) as f64,
            latency: Latency::of(h),
        });
    }
    Ok(SearchResult {
        requests,
        requests_per_s: requests as f64 / load.duration.as_secs_f64(),
        errors,
        error_statuses: t.statuses.clone(),
        timed_out: t.timed_out,
        wrong,
        wrong_examples: t.wrong_examples.clone(),
        latency: Latency::of(&t.all),
        by_kind: kinds,
        usage: trackers.iter().filter_map(Tracker::usage).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn corpus() -> Corpus {
        let cands = content_candidates();
        let lex: Vec<String> = cands.iter().map(|w| format!("'{w}':1")).collect();
        let stop = vec![String::new(); STOP_WORDS.len()];
        let rare: Vec<String> = RARE.iter().map(|(w, _)| format!("'{w}':1")).collect();
        Corpus::new(&cands, &lex, &stop, &rare).unwrap()
    }

    #[test]
    fn candidates_are_distinct_and_made_of_syllables() {
        let c = content_candidates();
        assert_eq!(c.len(), CONTENT_CANDIDATES);
        assert_eq!(c.iter().collect::<HashSet<_>>().len(), c.len());
        assert!(c.iter().all(|w| w.len() == 4 || w.len() == 6));
        assert!(c
            .iter()
            .all(|w| !w.contains(|ch: char| "hjqwxy".contains(ch))));
        // Shuffled: the most frequent words are not the alphabet's first.
        assert_ne!(c[0], "baba");
    }

    #[test]
    fn planted_counts() {
        let p = Planted {
            text: "x".into(),
            period: 10,
            residue: 3,
        };
        assert_eq!(p.expected(2), 0);
        assert_eq!(p.expected(3), 1);
        assert_eq!(p.expected(12), 1);
        assert_eq!(p.expected(13), 2);
        assert_eq!(p.expected(1_000_000), 100_000);
    }

    #[test]
    fn a_shared_stem_keeps_the_first_word_only() {
        let cands: Vec<String> = content_candidates();
        let mut lex: Vec<String> = cands.iter().map(|w| format!("'{w}':1")).collect();
        lex[1] = lex[0].clone();
        lex[2] = "'a':1 'b':2".into();
        let stop = vec![String::new(); STOP_WORDS.len()];
        let rare: Vec<String> = RARE.iter().map(|(w, _)| format!("'{w}':1")).collect();
        let c = Corpus::new(&cands, &lex, &stop, &rare).unwrap();
        assert_eq!(c.content()[0], cands[0]);
        assert_eq!(c.content()[1], cands[3]);
        let mut bad_stop = stop.clone();
        bad_stop[0] = "'the':1".into();
        assert!(Corpus::new(&cands, &lex, &bad_stop, &rare).is_err());
    }

    #[test]
    fn queries_read_words_phrases_and_exclusions() {
        let q = Query::new(Kind::Exclusion, "kabo \"zulo teme\" -rimo".into(), None);
        assert_eq!(
            q.wanted,
            vec![vec!["kabo".to_owned()], vec!["zulo".into(), "teme".into()]]
        );
        assert_eq!(q.unwanted, vec!["rimo".to_owned()]);
    }

    #[test]
    fn the_workload_goes_through_every_kind() {
        let c = corpus();
        let w = Workload::new(&c, &[7, 8, 9]);
        let kinds: Vec<Kind> = (0..6).map(|i| w.pick(i).kind).collect();
        assert_eq!(kinds, Kind::ALL);
        let rooms: HashSet<Option<i64>> = (0..600)
            .map(|i| w.pick(i))
            .filter(|q| q.kind == Kind::OneRoom)
            .map(|q| q.room)
            .collect();
        assert_eq!(rooms.len(), 3);
        assert!(w.all().any(|q| q.q.starts_with('"')));
        let two = w.only(&[Kind::Phrase, Kind::Rare]);
        let kinds: Vec<Kind> = (0..4).map(|i| two.pick(i).kind).collect();
        assert_eq!(kinds, [Kind::Rare, Kind::Phrase, Kind::Rare, Kind::Phrase]);
        assert_eq!(w.only(&[]).by_kind.len(), 6);
    }

    #[test]
    fn pages_are_checked() {
        let q = Query::new(Kind::Exclusion, "kabo -rimo".into(), None);
        let rooms: HashSet<i64> = [1].into();
        let hit = |id: i64, room: i64, body: &str, snippet: &str, hl: Value| json!({"message": {"id": id, "room_id": room, "body": body}, "snippet": snippet, "highlights": hl});
        let good = json!({"items": [hit(1, 1, "Kabo is here", "Kabo is here", json!([[0, 4]]))]});
        assert_eq!(check_page(&q, &rooms, 20, &good), Ok(vec![1]));
        for bad in [
            json!({"items": [hit(1, 2, "kabo", "kabo", json!([[0, 4]]))]}),
            json!({"items": [hit(1, 1, "zulo", "zulo", json!([[0, 4]]))]}),
            json!({"items": [hit(1, 1, "kabo rimo", "kabo rimo", json!([[0, 4]]))]}),
            json!({"items": [hit(1, 1, "kabo is", "kabo is", json!([[5, 7]]))]}),
            json!({"items": [hit(1, 1, "kabo", "kabo", json!([[0, 9]]))]}),
            json!({"items": [hit(1, 1, "kabo", "kabo", json!([]))]}),
        ] {
            assert!(check_page(&q, &rooms, 20, &bad).is_err(), "{bad}");
        }
        let phrase = Query::new(Kind::Phrase, "\"zulo teme\"".into(), None);
        let apart = json!({"items": [hit(1, 1, "zulo x teme", "zulo x teme", json!([[0, 4]]))]});
        assert!(check_page(&phrase, &rooms, 20, &apart).is_err());
        let side =
            json!({"items": [hit(1, 1, "a zulo teme", "a zulo teme", json!([[2, 6], [7, 11]]))]});
        assert_eq!(check_page(&phrase, &rooms, 20, &side), Ok(vec![1]));
    }
}
