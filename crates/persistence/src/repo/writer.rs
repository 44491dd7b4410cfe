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
    let outcomes = conn.transaction::<Vec<Outcome>, DieselError, _>(|c| {
        let mut outcomes = Vec::with_capacity(batch.len());
        for job in &batch {
            // A savepoint per message: a failure rolls back that message alone.
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
