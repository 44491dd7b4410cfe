//! What the benchmarks do straight in the database: the naive store baseline, checking that
//! every acknowledged message was stored, seeding a long history and a searchable corpus, and
//! the search statements run on their own (the database's floor for the search scenario).
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use hdrhistogram::Histogram;
use huddle_domain::repository::MessageRepository;
use huddle_domain::search::{MessageSearch, SearchText};
use huddle_domain::service::SEARCH_WINDOW;
use huddle_persistence::{AnyConnection, DatabaseConfig, DieselRepository};
use serde::Serialize;

use crate::load::{Latency, SenderOutcome};
use crate::search::{Corpus, Kind, Query, Workload, RARE, STOP_WORDS};
use crate::Result;

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
}

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Nullable<Text>)]
    client_msg_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// A statement written with PostgreSQL's numbered parameters (`$1`), in the spelling of the
/// connection's backend: SQLite numbers them `?1`. The statements here hold no other `$`.
fn sql(c: &AnyConnection, statement: &str) -> String {
    match c {
        AnyConnection::Postgresql(_) => statement.to_owned(),
        AnyConnection::Sqlite(_) => statement.replace('$', "?"),
    }
}

/// One message, stored the naive way: its own transaction, bumping the room's `last_seq`
/// and inserting the row, as Huddle's single-message path did before group commit.
fn store_one(c: &mut AnyConnection, room: i64, author: i64, body: &str) -> QueryResult<i64> {
    let bump = sql(
        c,
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
    );
    // On PostgreSQL with its search vector, made as Huddle makes it (`lexemes`).
    let (search, vector) = match c {
        AnyConnection::Postgresql(_) => (", search", ", CAST($6 AS tsvector)"),
        AnyConnection::Sqlite(_) => ("", ""),
    };
    let insert = sql(
        c,
        &format!(
            "INSERT INTO messages (room_id, seq, author_id, body, client_msg_id, created_at, \
                                   deleted, event_seq{search}) \
             VALUES ($1, $2, $3, $4, NULL, $5, FALSE, \
                     (SELECT last_seq + event_offset FROM rooms WHERE id = $1){vector})"
        ),
    );
    let lexemes = huddle_domain::lexemes::tsvector(body);
    c.transaction(|c| {
        let seq = diesel::sql_query(bump)
            .bind::<BigInt, _>(room)
            .get_result::<Seq>(c)?
            .last_seq;
        let insert = diesel::sql_query(insert)
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(seq)
            .bind::<BigInt, _>(author)
            .bind::<Text, _>(body)
            .bind::<BigInt, _>(now_micros());
        // SQLite's statement has no sixth parameter, and a bind it does not use is an error.
        match c {
            AnyConnection::Postgresql(_) => insert.bind::<Text, _>(&lexemes).execute(c)?,
            AnyConnection::Sqlite(_) => insert.execute(c)?,
        };
        Ok(seq)
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct NaiveResult {
    pub connections: usize,
    pub rooms: usize,
    pub measure_seconds: f64,
    pub stored: u64,
    pub stored_per_s: f64,
    pub commit_latency: Latency,
}

/// The naive baseline: `connections` threads, each with its own connection (set up as
/// Huddle's are), storing one message per transaction into its share of `rooms`
/// (`(room, author)`) as fast as it can, for `warmup` then `duration`.
pub fn naive_store(
    db_url: &str,
    rooms: &[(i64, i64)],
    connections: usize,
    body_bytes: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<NaiveResult> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let body = format!("naive baseline {}", "x".repeat(body_bytes));
    let mut handles = Vec::new();
    for t in 0..connections.max(1) {
        let mine: Vec<(i64, i64)> = rooms
            .iter()
            .copied()
            .skip(t)
            .step_by(connections.max(1))
            .collect();
        let url = db_url.to_owned();
        let body = body.clone();
        handles.push(std::thread::spawn(
            move || -> Result<(u64, Histogram<u64>)> {
                let mut c = DatabaseConfig::from_url(&url, 1).connect()?;
                let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
                let mut stored = 0;
                let mut i = 0;
                while !mine.is_empty() {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let (room, author) = mine[i % mine.len()];
                    i += 1;
                    store_one(&mut c, room, author, &body)?;
                    if began >= measure_from {
                        stored += 1;
                        hist.saturating_record(
                            u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX),
                        );
                    }
                }
                Ok((stored, hist))
            },
        ));
    }
    let mut stored = 0;
    let mut all = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for h in handles {
        let (n, hist) = h.join().map_err(|_| "a naive-store thread panicked")??;
        stored += n;
        all.add(&hist)?;
    }
    let secs = duration.as_secs_f64();
    Ok(NaiveResult {
        connections,
        rooms: rooms.len(),
        measure_seconds: secs,
        stored,
        stored_per_s: stored as f64 / secs,
        commit_latency: Latency::of(&all),
    })
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreCheck {
    pub acked: u64,
    /// Acknowledged messages not in the database.
    pub acked_missing: u64,
    /// Rooms whose seqs are not exactly 1..=count.
    pub rooms_with_seq_gaps: u64,
    pub rows: u64,
}

/// Checks that every acknowledged message is stored (by its `client_msg_id`) and that each
/// room's seqs run 1, 2, 3... without a gap.
pub fn verify_store(c: &mut AnyConnection, senders: &[SenderOutcome]) -> Result<StoreCheck> {
    let mut by_room: HashMap<i64, Vec<&SenderOutcome>> = HashMap::new();
    for s in senders {
        by_room.entry(s.room).or_default().push(s);
    }
    let mut check = StoreCheck::default();
    for (room, senders) in by_room {
        let rows: Vec<StoredRow> = diesel::sql_query(sql(
            c,
            "SELECT client_msg_id, seq FROM messages WHERE room_id = $1 ORDER BY seq",
        ))
        .bind::<BigInt, _>(room)
        .load(c)?;
        check.rows += rows.len() as u64;
        if rows.iter().enumerate().any(|(i, r)| r.seq != i as i64 + 1) {
            check.rooms_with_seq_gaps += 1;
        }
        let stored: HashSet<&str> = rows
            .iter()
            .filter_map(|r| r.client_msg_id.as_deref())
            .collect();
        for s in senders {
            for n in s.acked() {
                check.acked += 1;
                if !stored.contains(format!("{}{n}", s.cmid_prefix).as_str()) {
                    check.acked_missing += 1;
                }
            }
        }
    }
    Ok(check)
}

/// Gives `room` `count` messages by `author`, straight in the database (the history scenario
/// reads them; how they got there does not matter).
pub fn seed_history(c: &mut AnyConnection, room: i64, author: i64, count: i64) -> Result<()> {
    // SQLite has no generate_series without an extension; a recursive CTE counts there.
    let numbers = match c {
        AnyConnection::Postgresql(_) => "SELECT g FROM generate_series(1, $4) AS g",
        AnyConnection::Sqlite(_) => {
            "WITH RECURSIVE n(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM n WHERE g < $4) \
             SELECT g FROM n"
        }
    };
    // PostgreSQL's rows carry their search vector; PostgreSQL's own makes the same of these
    // bodies as Huddle's (`lexemes`), and nothing searches this room.
    let (search, vector) = match c {
        AnyConnection::Postgresql(_) => (", search", ", to_tsvector('english', body)"),
        AnyConnection::Sqlite(_) => ("", ""),
    };
    let insert = sql(
        c,
        &format!(
            "INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted, event_seq{search}) \
             SELECT room_id, g, author_id, body, created_at, FALSE, event_seq{vector} FROM ( \
               SELECT $1 AS room_id, g, $2 AS author_id, \
                      'history message number ' || g || ', long enough to look like a chat line' AS body, \
                      $3 + g AS created_at, g + (SELECT event_offset FROM rooms WHERE id = $1) AS event_seq \
               FROM ({numbers}) AS numbers) AS rows"
        ),
    );
    let bump = sql(c, "UPDATE rooms SET last_seq = $2 WHERE id = $1");
    // A lived-in room: some messages have a reaction, fewer a file (`history::REACTED_EVERY`).
    let react = sql(
        c,
        "INSERT INTO reactions (message_id, user_id, emoji, created_at) \
         SELECT id, $2, '👍', created_at FROM messages WHERE room_id = $1 AND seq % $3 = 0",
    );
    let attach = sql(
        c,
        "INSERT INTO attachments (id, message_id, room_id, position, name, content_type, size, \
         width, height) \
         SELECT 'seeded-' || id, id, room_id, 0, 'photo.png', 'image/png', 48213, 640, 480 \
         FROM messages WHERE room_id = $1 AND seq % $2 = 0",
    );
    c.transaction(|c| {
        diesel::sql_query(insert)
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(author)
            .bind::<BigInt, _>(now_micros())
            .bind::<BigInt, _>(count)
            .execute(c)?;
        diesel::sql_query(bump)
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(count)
            .execute(c)?;
        diesel::sql_query(react)
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(author)
            .bind::<BigInt, _>(crate::history::REACTED_EVERY)
            .execute(c)?;
        diesel::sql_query(attach)
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(crate::history::FILED_EVERY)
            .execute(c)?;
        Ok::<_, diesel::result::Error>(())
    })?;
    c.batch_execute("ANALYZE messages; ANALYZE reactions; ANALYZE attachments")?;
    Ok(())
}

#[derive(QueryableByName)]
struct Lexemes {
    #[diesel(sql_type = Text)]
    lexemes: String,
}

/// What `to_tsvector('english', …)` makes of each word, in its text form (`'kabo':1`, or ''
/// for a stop word).
pub fn lexemes(c: &mut PgConnection, words: &[String]) -> Result<Vec<String>> {
    let rows: Vec<Lexemes> = diesel::sql_query(
        "SELECT to_tsvector('english', w)::text AS lexemes \
         FROM unnest($1::text[]) WITH ORDINALITY AS u(w, i) ORDER BY i",
    )
    .bind::<Array<Text>, _>(words)
    .load(c)?;
    Ok(rows.into_iter().map(|r| r.lexemes).collect())
}

/// The search corpus, its words checked against this database's stemmer.
pub fn search_corpus(c: &mut PgConnection) -> Result<Corpus> {
    let candidates = crate::search::content_candidates();
    let stop: Vec<String> = STOP_WORDS.iter().map(|s| (*s).to_owned()).collect();
    let rare: Vec<String> = RARE.iter().map(|(w, _)| (*w).to_owned()).collect();
    Corpus::new(
        &candidates,
        &lexemes(c, &candidates)?,
        &lexemes(c, &stop)?,
        &lexemes(c, &rare)?,
    )
}

/// Gives `rooms` `count` messages by `author` in all, straight in the database: message `g`
/// (1, 2, ...) goes to room `(g - 1) % rooms` with seq `(g - 1) / rooms + 1`, its body 4 to 17
/// words of the vocabulary drawn by a Zipf law, then every planted word or phrase whose
/// `g % period == residue`; one message every 2.5 s up to now. Sets each room's `last_seq`,
/// then `VACUUM ANALYZE`s the table (so that autovacuum does not start on the million new rows
/// in the middle of the measurement) and `ANALYZE`s the rest.
pub fn seed_search(
    c: &mut PgConnection,
    rooms: &[i64],
    author: i64,
    corpus: &Corpus,
    count: i64,
) -> Result<()> {
    let planted: Vec<String> = corpus.planted.iter().map(|p| p.text.clone()).collect();
    let periods: Vec<i64> = corpus.planted.iter().map(|p| p.period).collect();
    let residues: Vec<i64> = corpus.planted.iter().map(|p| p.residue).collect();
    let words = i32::try_from(corpus.vocabulary.len())?;
    let step: i64 = 2_500_000;
    let first = now_micros() - count * step;
    c.transaction(|c| {
        // A word by its rank through an index: subscripting a 20,000-word array walks it from
        // the start, which made the insert twenty times slower.
        c.batch_execute(
            "CREATE TEMPORARY TABLE bench_vocabulary (rank INT PRIMARY KEY, word TEXT NOT NULL) \
             ON COMMIT DROP",
        )?;
        diesel::sql_query(
            "INSERT INTO bench_vocabulary \
             SELECT i, w FROM unnest($1::text[]) WITH ORDINALITY AS u(w, i)",
        )
        .bind::<Array<Text>, _>(&corpus.vocabulary)
        .execute(c)?;
        // Reproducible draws (one backend, one statement).
        c.batch_execute("SELECT setseed(0.25)")?;
        diesel::sql_query(
            "WITH drawn AS MATERIALIZED ( \
             SELECT ($1::bigint[])[1 + (g - 1) % cardinality($1::bigint[])] AS room_id, \
                    (g - 1) / cardinality($1::bigint[]) + 1 AS seq, \
                    $2 AS author_id, \
                    (SELECT string_agg(v.word, ' ' ORDER BY t.n) \
                       FROM (SELECT n, least($3, floor(exp(random() * ln($3 + 1)))::int) AS rank \
                             FROM generate_series(1, 4 + (g * 7919) % 14) AS n) t \
                       JOIN bench_vocabulary v ON v.rank = t.rank) \
                    || coalesce((SELECT string_agg(' ' || p.w, '' ORDER BY p.i) \
                                 FROM unnest($4::text[], $5::bigint[], $6::bigint[]) \
                                      WITH ORDINALITY AS p(w, period, residue, i) \
                                 WHERE g % p.period = p.residue), '') AS body, \
                    $7 + g * $8 AS created_at, \
                    (g - 1) / cardinality($1::bigint[]) + 1 \
                      + (SELECT r.event_offset FROM rooms r \
                         WHERE r.id = ($1::bigint[])[1 + (g - 1) % cardinality($1::bigint[])]) \
                      AS event_seq \
             FROM generate_series(1::bigint, $9) AS g) \
             INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted, event_seq, \
                                   search) \
             SELECT room_id, seq, author_id, body, created_at, FALSE, event_seq, \
                    to_tsvector('english', body) \
             FROM drawn",
        )
        .bind::<Array<BigInt>, _>(rooms)
        .bind::<BigInt, _>(author)
        .bind::<diesel::sql_types::Integer, _>(words)
        .bind::<Array<Text>, _>(&planted)
        .bind::<Array<BigInt>, _>(&periods)
        .bind::<Array<BigInt>, _>(&residues)
        .bind::<BigInt, _>(first)
        .bind::<BigInt, _>(step)
        .bind::<BigInt, _>(count)
        .execute(c)?;
        diesel::sql_query(
            "UPDATE rooms SET last_seq = s.last FROM \
             (SELECT room_id, max(seq) AS last FROM messages WHERE room_id = ANY($1) GROUP BY room_id) s \
             WHERE rooms.id = s.room_id",
        )
        .bind::<Array<BigInt>, _>(rooms)
        .execute(c)?;
        Ok::<_, diesel::result::Error>(())
    })?;
    c.batch_execute("VACUUM ANALYZE messages")?;
    c.batch_execute("ANALYZE")?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// [`seed_search`] for SQLite, the same corpus and layout drawn in Rust (SQLite has no
/// `generate_series` or arrays): message `g` goes to room `(g - 1) % rooms` with seq
/// `(g - 1) / rooms + 1`, 4 to 17 words drawn by the same Zipf law (another random stream),
/// then every planted text with `g % period == residue`, one message every 2.5 s up to now.
/// Rows go in 1,000 to a statement, their values written into it: every one is ours (numbers
/// and words of the vocabulary, `[a-z ]` only), nothing from a client.
pub fn seed_search_sqlite(
    c: &mut AnyConnection,
    rooms: &[i64],
    author: i64,
    corpus: &Corpus,
    count: i64,
) -> Result<()> {
    use rand::{Rng, SeedableRng};
    if corpus
        .vocabulary
        .iter()
        .chain(corpus.planted.iter().map(|p| &p.text))
        .any(|w| !w.bytes().all(|b| b.is_ascii_lowercase() || b == b' '))
    {
        return Err("the corpus holds more than lowercase words".into());
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(25);
    let words = corpus.vocabulary.len() as f64;
    let step: i64 = 2_500_000;
    let first = now_micros() - count * step;
    let n_rooms = i64::try_from(rooms.len().max(1))?;
    c.transaction(|c| {
        let mut g: i64 = 1;
        while g <= count {
            let mut values = Vec::with_capacity(1000);
            for g in g..(g + 1000).min(count + 1) {
                let room = rooms[usize::try_from((g - 1) % n_rooms).unwrap_or(0)];
                let seq = (g - 1) / n_rooms + 1;
                let mut body: Vec<&str> = (1..=4 + (g * 7919) % 14)
                    .map(|_| {
                        let rank = (rng.random::<f64>() * (words + 1.0).ln()).exp().floor();
                        let rank = (rank as usize).clamp(1, corpus.vocabulary.len());
                        corpus.vocabulary[rank - 1].as_str()
                    })
                    .collect();
                body.extend(
                    corpus
                        .planted
                        .iter()
                        .filter(|p| g % p.period == p.residue)
                        .map(|p| p.text.as_str()),
                );
                values.push(format!(
                    "({room}, {seq}, {author}, '{}', {}, FALSE, \
                      {seq} + (SELECT event_offset FROM rooms WHERE id = {room}))",
                    body.join(" "),
                    first + g * step
                ));
            }
            c.batch_execute(&format!(
                "INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted, event_seq) \
                 VALUES {}",
                values.join(",")
            ))?;
            g += 1000;
        }
        let ids: Vec<String> = rooms.iter().map(i64::to_string).collect();
        c.batch_execute(&format!(
            "UPDATE rooms SET last_seq = (SELECT max(seq) FROM messages m WHERE m.room_id = rooms.id) \
             WHERE id IN ({})",
            ids.join(",")
        ))?;
        Ok::<_, diesel::result::Error>(())
    })?;
    c.batch_execute("ANALYZE")?;
    Ok(())
}

/// How many messages of `rooms` hold `words` side by side, found in the bodies as text (not
/// by full-text search): the oracle for the planted counts. A body is words and single spaces.
pub fn count_holding(c: &mut AnyConnection, rooms: &[i64], words: &str) -> Result<i64> {
    let row: Count = match c {
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT count(*) AS n FROM messages WHERE room_id = ANY($1) AND body ~ $2",
        )
        .bind::<Array<BigInt>, _>(rooms)
        .bind::<Text, _>(format!("(^| ){words}( |$)"))
        .get_result(c)?,
        AnyConnection::Sqlite(c) => {
            // Room ids are ours, integers formatted here.
            let ids: Vec<String> = rooms.iter().map(i64::to_string).collect();
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM messages \
                 WHERE room_id IN ({}) AND ' ' || body || ' ' LIKE ?",
                ids.join(",")
            ))
            .bind::<Text, _>(format!("% {words} %"))
            .get_result(c)?
        }
    };
    Ok(row.n)
}

/// One search through Huddle's own repository (`DieselRepository::search_messages`: the
/// windowed, ranked statement with its snippets, then the hits' messages, authors and
/// attachments), as the server runs it minus HTTP and the pool wait. Returns the hits.
fn search_once(repo: &DieselRepository, viewer: i64, q: &Query, limit: usize) -> Result<usize> {
    let hits = repo.search_messages(MessageSearch {
        viewer,
        text: SearchText::parse(&q.q)?,
        room_id: q.room,
        author_id: None,
        after: None,
        before: None,
        window: SEARCH_WINDOW,
        offset: 0,
        limit: limit + 1,
    })?;
    Ok(hits.len())
}

#[derive(Debug, Clone, Serialize)]
pub struct FloorKind {
    pub kind: Kind,
    pub runs: u64,
    pub latency: Latency,
}

/// The database's own floor: every query of each kind of `workload`, `rounds` times over, one
/// at a time from one connection (each kind's queries in turn). Latency per kind, wall time of
/// both statements as the client sees it (planning included, as for Huddle).
pub fn search_floor(
    url: &str,
    viewer: i64,
    workload: &Workload,
    limit: usize,
    runs_per_kind: usize,
) -> Result<Vec<FloorKind>> {
    let repo = DieselRepository::connect(&DatabaseConfig::from_url(url, 1))?;
    let mut out = Vec::new();
    for (kind, queries) in &workload.by_kind {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        for i in 0..runs_per_kind {
            let q = &queries[i % queries.len()];
            let began = Instant::now();
            search_once(&repo, viewer, q, limit)?;
            hist.saturating_record(
                u64::try_from(began.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
        }
        out.push(FloorKind {
            kind: *kind,
            runs: runs_per_kind as u64,
            latency: Latency::of(&hist),
        });
    }
    Ok(out)
}

/// Waits, at most `limit`, until no other session of this database is running a statement
/// (after an overloaded run, Huddle is still working through searches the generator has given
/// up on). Returns how long it waited.
pub fn wait_quiet(c: &mut PgConnection, limit: Duration) -> Result<Duration> {
    let began = Instant::now();
    loop {
        let busy: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
        )
        .get_result(c)?;
        if busy.n == 0 || began.elapsed() >= limit {
            return Ok(began.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
