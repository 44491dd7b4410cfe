//! Group commit for messages. Concurrent sends are queued to one writer thread, which stores
//! everything waiting in a single transaction: one commit (one fsync) for many messages.
//!
//! Each message keeps the single-message rules: its seq comes from bumping its room's
//! `last_seq` inside the transaction (gap-free, and rolled back with it), and a repeated
//! `(room, author, client_msg_id)` answers the first message. Each message runs under its own
//! savepoint, so one failing message does not fail the others. Rooms are locked in ascending id
//! order (a stable sort keeps each room's arrival order), so batches of several processes
//! cannot deadlock each other.
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Instant;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use huddle_domain::repository::{NewMessage, RepoResult, Stored};
use huddle_domain::{Message, RepoError, User};

use crate::connection::{AnyConnection, Pool};
use crate::error::db_err;
use crate::models::*;
use crate::schema::{messages, rooms, users};

/// The most messages one transaction stores.
const MAX_BATCH: usize = 512;

struct Job {
    new: NewMessage,
    reply: mpsc::SyncSender<RepoResult<Stored>>,
}

/// Hands messages to the writer thread and waits for their outcome.
pub(crate) struct MessageWriter {
    jobs: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts the writer thread; it ends when the last `MessageWriter` handle is dropped.
    pub(crate) fn start(pool: Pool) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("huddle-message-writer".into())
            .spawn(move || run(pool, rx))?;
        Ok(Self { jobs })
    }

    /// Blocks until the message is committed (or refused).
    pub(crate) fn store(&self, new: NewMessage) -> RepoResult<Stored> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(Job { new, reply })
            .map_err(|_| RepoError::Unavailable("message writer stopped".into()))?;
        answer
            .recv()
            .map_err(|_| RepoError::Unavailable("message writer stopped".into()))?
    }
}

fn run(pool: Pool, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let n = batch.len();
        store_batch(&pool, batch);
        tracing::trace!(messages = n, elapsed = ?started.elapsed(), "batch committed");
    }
}

/// What happened to one message inside the batch transaction.
enum Outcome {
    Inserted {
        id: i64,
        seq: i64,
        created_at: i64,
    },
    /// An earlier send with the same client_msg_id: that message's id.
    Retry(i64),
    Failed(DieselError),
}

/// Why one message's savepoint was rolled back.
enum Abort {
    Retry(i64),
    Db(DieselError),
}

impl From<DieselError> for Abort {
    fn from(e: DieselError) -> Self {
        Abort::Db(e)
    }
}

pub(crate) fn find_retry(
    c: &mut AnyConnection,
    new: &NewMessage,
    client_msg_id: &str,
) -> QueryResult<Option<i64>> {
    messages::table
        .filter(messages::room_id.eq(new.room_id))
        .filter(messages::author_id.eq(new.author_id))
        .filter(messages::client_msg_id.eq(client_msg_id))
        .select(messages::id)
        .first(c)
        .optional()
}

/// Stores one message: bump the room's seq first (on PostgreSQL its row lock orders writers of
/// the room; on SQLite the write lock is taken before any read), then check for a retry, then
/// insert.
fn store_one(c: &mut AnyConnection, new: &NewMessage) -> Result<(i64, i64, i64), Abort> {
    let seq: i64 = diesel::update(rooms::table.find(new.room_id))
        .set(rooms::last_seq.eq(rooms::last_seq + 1))
        .returning(rooms::last_seq)
        .get_result(c)?;
    if let Some(cmid) = &new.client_msg_id {
        if let Some(id) = find_retry(c, new, cmid)? {
            return Err(Abort::Retry(id));
        }
    }
    let created_at = now_micros();
    let id = diesel::insert_into(messages::table)
        .values(NewMessageRow {
            room_id: new.room_id,
            seq,
            author_id: new.author_id,
            body: &new.body,
            client_msg_id: new.client_msg_id.as_deref(),
            created_at,
            deleted: false,
        })
        .returning(messages::id)
        .get_result(c)?;
    Ok((id, seq, created_at))
}

#[derive(QueryableByName)]
struct RoomSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: i64,
}

/// Where each message of a batch goes.
enum Plan {
    Insert {
        seq: i64,
    },
    /// A retry of an earlier message in this same batch (by index).
    SameAs(usize),
    /// The room does not exist (any more).
    NoRoom,
}

/// Stores the whole batch with two statements, whatever its size: one `UPDATE` of every room's
/// `last_seq` (the write lock and row locks come first), one multi-row `INSERT`. A retry of an
/// earlier send (same room, author and client_msg_id) is not looked up beforehand: the unique
/// key catches it (`ON CONFLICT DO NOTHING` inserts fewer rows), and the batch is then rolled
/// back and redone by the careful path, which answers retries. Retries within the batch are
/// resolved here. Any error means: take the careful path.
fn store_set(c: &mut AnyConnection, batch: &[Job]) -> QueryResult<Vec<Outcome>> {
    let mut counts: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for job in batch {
        *counts.entry(job.new.room_id).or_default() += 1;
    }
    // Integers only, formatted by us: nothing from a client reaches the SQL text.
    let cases: String = counts
        .iter()
        .map(|(room, k)| format!(" WHEN {room} THEN {k}"))
        .collect();
    let ids: Vec<String> = counts.keys().map(i64::to_string).collect();
    let bumped: Vec<RoomSeq> = diesel::sql_query(format!(
        "UPDATE rooms SET last_seq = last_seq + CASE id{cases} END WHERE id IN ({}) RETURNING id, last_seq",
        ids.join(",")
    ))
    .load(c)?;
    // The seq before this batch, per existing room.
    let mut next: HashMap<i64, i64> = bumped
        .iter()
        .map(|r| (r.id, r.last_seq - counts.get(&r.id).copied().unwrap_or(0)))
        .collect();
    let reserved_up_to: HashMap<i64, i64> = bumped.iter().map(|r| (r.id, r.last_seq)).collect();

    let mut first_in_batch: HashMap<(i64, i64, &str), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(batch.len());
    for (i, job) in batch.iter().enumerate() {
        let new = &job.new;
        let Some(seq) = next.get_mut(&new.room_id) else {
            plans.push(Plan::NoRoom);
            continue;
        };
        if let Some(cmid) = new.client_msg_id.as_deref() {
            if let Some(first) = first_in_batch.get(&(new.room_id, new.author_id, cmid)) {
                plans.push(Plan::SameAs(*first));
                continue;
            }
            first_in_batch.insert((new.room_id, new.author_id, cmid), i);
        }
        *seq += 1;
        plans.push(Plan::Insert { seq: *seq });
    }
    // Seqs reserved for what turned out to be retries go back, so seqs stay gap-free.
    for (room, used) in &next {
        if reserved_up_to.get(room).is_some_and(|r| r != used) {
            diesel::update(rooms::table.find(*room))
                .set(rooms::last_seq.eq(*used))
                .execute(c)?;
        }
    }

    let created_at = now_micros();
    let rows: Vec<NewMessageRow> = batch
        .iter()
        .zip(&plans)
        .filter_map(|(job, plan)| match plan {
            Plan::Insert { seq } => Some(NewMessageRow {
                room_id: job.new.room_id,
                seq: *seq,
                author_id: job.new.author_id,
                body: &job.new.body,
                client_msg_id: job.new.client_msg_id.as_deref(),
                created_at,
                deleted: false,
            }),
            _ => None,
        })
        .collect();
    let ids: HashMap<(i64, i64), i64> = if rows.is_empty() {
        HashMap::new()
    } else {
        // Multi-row INSERTs are backend-specific in Diesel: the same query, built per backend.
        macro_rules! insert_rows {
            ($conn:expr) => {
                diesel::insert_into(messages::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .returning((messages::id, messages::room_id, messages::seq))
                    .get_results::<(i64, i64, i64)>($conn)
            };
        }
        let inserted = match c {
            AnyConnection::Postgresql(pg) => insert_rows!(pg)?,
            AnyConnection::Sqlite(lite) => insert_rows!(lite)?,
        };
        if inserted.len() != rows.len() {
            // A retry of an earlier send: redo the batch one message at a time, which finds it.
            return Err(DieselError::RollbackTransaction);
        }
        inserted
            .into_iter()
            .map(|(id, room, seq)| ((room, seq), id))
            .collect()
    };
    let id_of = |i: usize| match plans[i] {
        Plan::Insert { seq } => ids.get(&(batch[i].new.room_id, seq)).copied(),
        _ => None,
    };
    Ok((0..batch.len())
        .map(|i| match plans[i] {
            Plan::Insert { seq } => match id_of(i) {
                Some(id) => Outcome::Inserted {
                    id,
                    seq,
                    created_at,
                },
                None => Outcome::Failed(DieselError::NotFound),
            },
            Plan::SameAs(first) => {
                id_of(first).map_or(Outcome::Failed(DieselError::NotFound), Outcome::Retry)
            }
            Plan::NoRoom => Outcome::Failed(DieselError::NotFound),
        })
        .collect())
}

/// The careful path: a savepoint per message, so one failing message fails alone.
fn store_each(c: &mut AnyConnection, batch: &[Job]) -> QueryResult<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        outcomes.push(match c.transaction(|c| store_one(c, &job.new)) {
            Ok((id, seq, created_at)) => Outcome::Inserted {
                id,
                seq,
                created_at,
            },
            Err(Abort::Retry(id)) => Outcome::Retry(id),
            Err(Abort::Db(e)) => Outcome::Failed(e),
        });
    }
    Ok(outcomes)
}

fn store_batch(pool: &Pool, mut batch: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            let err = RepoError::Unavailable(format!("no database connection: {e}"));
            for job in batch {
                let _ = job.reply.send(Err(err.clone()));
            }
            return;
        }
    };
    batch.sort_by_key(|j| j.new.room_id);
    let outcomes = conn
        .transaction(|c| store_set(c, &batch))
        .or_else(|e| {
            tracing::debug!(error = %e, messages = batch.len(), "set-based batch failed; storing one by one");
            conn.transaction(|c| store_each(c, &batch))
        });
    let outcomes = match outcomes {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, messages = batch.len(), "message batch failed to commit");
            let err = db_err(e);
            for job in batch {
                let _ = job.reply.send(Err(err.clone()));
            }
            return;
        }
    };
    let authors = load_authors(&mut conn, &batch);
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let answer = answer(&mut conn, &job.new, outcome, &authors);
        let _ = job.reply.send(answer);
    }
}

fn load_authors(conn: &mut AnyConnection, batch: &[Job]) -> HashMap<i64, User> {
    let mut ids: Vec<i64> = batch.iter().map(|j| j.new.author_id).collect();
    ids.sort_unstable();
    ids.dedup();
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)
        .map(|rows| rows.into_iter().map(|r| (r.id, User::from(r))).collect())
        .unwrap_or_default()
}

fn answer(
    conn: &mut AnyConnection,
    new: &NewMessage,
    outcome: Outcome,
    authors: &HashMap<i64, User>,
) -> RepoResult<Stored> {
    match outcome {
        Outcome::Inserted {
            id,
            seq,
            created_at,
        } => {
            let author = authors
                .get(&new.author_id)
                .cloned()
                .ok_or(RepoError::NotFound)?;
            Ok(Stored::Created(Message {
                id,
                room_id: new.room_id,
                seq,
                author,
                body: new.body.clone(),
                client_msg_id: new.client_msg_id.clone(),
                created_at: to_time(created_at),
                edited_at: None,
                deleted: false,
            }))
        }
        Outcome::Retry(id) => existing(conn, new, id),
        // A concurrent retry with the same client_msg_id (from another process) committed
        // between our check and our insert: the unique key caught it; answer the one that won.
        Outcome::Failed(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
            if new.client_msg_id.is_some() =>
        {
            let cmid = new.client_msg_id.as_deref().unwrap_or_default();
            let id = find_retry(conn, new, cmid)
                .map_err(db_err)?
                .ok_or(RepoError::Conflict("message"))?;
            existing(conn, new, id)
        }
        Outcome::Failed(e) => Err(db_err(e)),
    }
}

fn existing(conn: &mut AnyConnection, new: &NewMessage, id: i64) -> RepoResult<Stored> {
    super::messages::load(conn, new.room_id, id)
        .map_err(db_err)?
        .map(Stored::Existing)
        .ok_or(RepoError::NotFound)
}
