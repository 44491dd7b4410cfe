//! What the benchmarks do straight in the database: the naive store baseline, checking that
//! every acknowledged message was stored, and seeding a long history.
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::{Latency, SenderOutcome};
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

/// One message, stored the naive way: its own transaction, bumping the room's `last_seq`
/// and inserting the row, as Huddle's single-message path did before group commit.
fn store_one(c: &mut PgConnection, room: i64, author: i64, body: &str) -> QueryResult<i64> {
    c.transaction(|c| {
        let seq = diesel::sql_query("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
            .bind::<BigInt, _>(room)
            .get_result::<Seq>(c)?
            .last_seq;
        diesel::sql_query(
            "INSERT INTO messages (room_id, seq, author_id, body, client_msg_id, created_at, deleted) \
             VALUES ($1, $2, $3, $4, NULL, $5, FALSE)",
        )
        .bind::<BigInt, _>(room)
        .bind::<BigInt, _>(seq)
        .bind::<BigInt, _>(author)
        .bind::<Text, _>(body)
        .bind::<BigInt, _>(now_micros())
        .execute(c)?;
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

/// The naive baseline: `connections` threads, each with its own connection, storing one
/// message per transaction into its share of `rooms` (`(room, author)`) as fast as it can,
/// for `warmup` then `duration`.
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
                let mut c = PgConnection::establish(&url)?;
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
pub fn verify_store(c: &mut PgConnection, senders: &[SenderOutcome]) -> Result<StoreCheck> {
    let mut by_room: HashMap<i64, Vec<&SenderOutcome>> = HashMap::new();
    for s in senders {
        by_room.entry(s.room).or_default().push(s);
    }
    let mut check = StoreCheck::default();
    for (room, senders) in by_room {
        let rows: Vec<StoredRow> = diesel::sql_query(
            "SELECT client_msg_id, seq FROM messages WHERE room_id = $1 ORDER BY seq",
        )
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
pub fn seed_history(c: &mut PgConnection, room: i64, author: i64, count: i64) -> Result<()> {
    c.transaction(|c| {
        diesel::sql_query(
            "INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted) \
             SELECT $1, g, $2, 'history message number ' || g || ', long enough to look like a chat line', \
                    $3 + g, FALSE \
             FROM generate_series(1, $4) AS g",
        )
        .bind::<BigInt, _>(room)
        .bind::<BigInt, _>(author)
        .bind::<BigInt, _>(now_micros())
        .bind::<BigInt, _>(count)
        .execute(c)?;
        diesel::sql_query("UPDATE rooms SET last_seq = $2 WHERE id = $1")
            .bind::<BigInt, _>(room)
            .bind::<BigInt, _>(count)
            .execute(c)?;
        Ok::<_, diesel::result::Error>(())
    })?;
    c.batch_execute("ANALYZE messages")?;
    Ok(())
}
