//! Group commit for messages. Concurrent sends are queued for writer threads, each storing many
//! at once: one commit (one fsync) for many messages. A writer claims the rooms of its batch
//! until it is answered ([`queue`]), so a room's messages are stored in arrival order, one batch
//! after another, while other writers' batches (of other rooms) are in flight beside it.
//!
//! Each message keeps the single-message rules: its author must be a member of the room
//! (checked in the batch; a refused message uses no seq), its seq comes from bumping its room's
//! `last_seq` in the same commit (gap-free, and rolled back with it), and a repeated
//! `(room, author, client_msg_id)` answers the first message. One failing message does not fail
//! the others.
//!
//! On PostgreSQL a batch is one prepared statement ([`one_statement`]); on SQLite, three
//! statements in a transaction ([`store_set`]). Either falls back to the careful path, a
//! savepoint per message ([`store_each`]), when the batch as a whole fails.
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use huddle_domain::files::FileLinks;
use huddle_domain::lexemes;
use huddle_domain::repository::{NewMessage, RepoResult, StoreDone, Stored};
use huddle_domain::{Message, RepoError, Role, SendRefusal, User};

use crate::connection::{AnyConnection, Backend, Pool};
use crate::error::db_err;
use crate::models::*;
use crate::schema::{message_mentions, messages, room_members, rooms, users};

mod one_statement;
mod queue;

use queue::{Queue, Queued};

/// The most messages one transaction stores.
const MAX_BATCH: usize = 512;

struct Job {
    new: NewMessage,
    /// On PostgreSQL, the body's `tsvector` text ([`lexemes::tsvector`]), stored with it.
    search: String,
    done: StoreDone,
    /// When it was queued, for the trace's queue wait.
    queued: Instant,
}

impl Job {
    /// Answers the send. A panicking callback must not take the writer down with it.
    fn answer(self, result: RepoResult<Stored>) {
        let done = self.done;
        if catch_unwind(AssertUnwindSafe(move || done(result))).is_err() {
            tracing::error!("a send's completion callback panicked");
        }
    }
}

/// Hands messages to the writer threads.
pub(crate) struct MessageWriter {
    queue: Arc<Queue<Job>>,
    /// Whether messages carry their search vector (PostgreSQL; SQLite's FTS5 reads the body).
    vectors: bool,
}

impl Queued for Job {
    fn room(&self) -> i64 {
        self.new.room_id
    }
}

/// How many messages of free rooms must wait before a second writer starts a batch beside a
/// running one ([`queue::Rules::parallel_from`]). A batch statement costs PostgreSQL about as
/// much as twenty messages whatever its size (BENCHMARKS.md, "What limits Huddle"), so a batch
/// of this size pays a fraction of that per message.
const PARALLEL_FROM: usize = 128;

impl MessageWriter {
    /// Starts `writers` writer threads (at least one); they store what is queued and end when
    /// the `MessageWriter` is dropped.
    pub(crate) fn start(
        pool: Pool,
        backend: Backend,
        writers: usize,
        links: Arc<dyn FileLinks>,
    ) -> std::io::Result<Self> {
        let queue = Arc::new(Queue::new(queue::Rules {
            max_batch: MAX_BATCH,
            parallel_from: PARALLEL_FROM,
        }));
        for i in 0..writers.max(1) {
            let pool = pool.clone();
            let links = links.clone();
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("huddle-message-writer-{i}"))
                .spawn(move || run(&pool, &queue, &*links))?;
        }
        Ok(Self {
            queue,
            vectors: backend == Backend::Postgres,
        })
    }

    /// Queues the message without waiting; `done` runs on a writer thread once the batch is
    /// committed (or the message refused). The search vector is made here, on the sender's
    /// thread, so the writers (one statement after another) do not wait for it.
    pub(crate) fn submit(&self, new: NewMessage, done: StoreDone) {
        let search = if self.vectors {
            lexemes::tsvector(&new.body)
        } else {
            String::new()
        };
        if let Err(job) = self.queue.push(Job {
            new,
            search,
            done,
            queued: Instant::now(),
        }) {
            job.answer(Err(RepoError::Unavailable("message writer stopped".into())));
        }
    }

    /// Blocks until the message is committed (or refused).
    pub(crate) fn store(&self, new: NewMessage) -> RepoResult<Stored> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(
            new,
            Box::new(move |r| {
                let _ = reply.send(r);
            }),
        );
        answer
            .recv()
            .map_err(|_| RepoError::Unavailable("message writer stopped".into()))?
    }
}

impl Drop for MessageWriter {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// A writer thread: takes a batch of rooms no other writer holds, stores and answers it, then
/// hands the rooms back. The rooms stay held until their answers are out, so a room's sends are
/// answered in the order they are stored.
fn run(pool: &Pool, queue: &Queue<Job>, links: &dyn FileLinks) {
    while let Some(claim) = queue.take() {
        let (batch, rooms) = claim.into_parts();
        let started = Instant::now();
        let n = batch.len();
        let waited = batch.first().map(|j| started - j.queued);
        // A bug that panics here must not keep the batch's rooms claimed: every later send to
        // them would wait forever. The batch's unanswered sends see their callbacks dropped.
        let stored = catch_unwind(AssertUnwindSafe(|| store_batch(pool, batch, links)));
        queue.finish(rooms);
        match stored {
            Ok(committed) => {
                tracing::trace!(messages = n, waited = ?waited, committed = ?committed, elapsed = ?started.elapsed(), "batch committed");
            }
            Err(_) => tracing::error!(messages = n, "storing a batch panicked"),
        }
    }
}

/// What happened to one message inside the batch transaction.
enum Outcome {
    Inserted {
        id: i64,
        seq: i64,
        event_seq: i64,
        created_at: i64,
    },
    /// An earlier send with the same client_msg_id: that message's id.
    Retry(i64),
    /// The author may not post there; nothing stored.
    Refused(SendRefusal),
    Failed(DieselError),
    /// Not stored, for a reason already turned into the answer's error.
    Error(RepoError),
    /// Not stored yet: its room changed under the one-statement path, so it goes down the
    /// careful path.
    Deferred,
}

/// Why one message's savepoint was rolled back.
enum Abort {
    Retry(i64),
    Refused(SendRefusal),
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
/// the room; on SQLite the write lock is taken before any read), then check membership, then
/// check for a retry, then insert. Run under a savepoint: a refusal rolls the seq back.
fn store_one(c: &mut AnyConnection, job: &Job) -> Result<Outcome, Abort> {
    let new = &job.new;
    let bumped: Option<(i64, bool, i64)> = diesel::update(rooms::table.find(new.room_id))
        .set(rooms::last_seq.eq(rooms::last_seq + 1))
        .returning((rooms::last_seq, rooms::is_private, rooms::event_offset))
        .get_result(c)
        .optional()?;
    let Some((seq, is_private, event_offset)) = bumped else {
        return Err(Abort::Refused(SendRefusal::NoRoom));
    };
    let role: Option<String> = room_members::table
        .find((new.room_id, new.author_id))
        .select(room_members::role)
        .first(c)
        .optional()?;
    let Some(role) = role else {
        return Err(Abort::Refused(refusal(is_private)));
    };
    if let Some(cmid) = &new.client_msg_id {
        if let Some(id) = find_retry(c, new, cmid)? {
            return Err(Abort::Retry(id));
        }
    }
    if let Some(quoted) = new.reply_to {
        let room: Option<i64> = messages::table
            .find(quoted)
            .select(messages::room_id)
            .first(c)
            .optional()?;
        if room != Some(new.room_id) {
            return Err(Abort::Refused(SendRefusal::BadReply));
        }
    }
    let created_at = now_micros();
    let event_seq = seq + event_offset;
    let row = NewMessageRow {
        room_id: new.room_id,
        seq,
        author_id: new.author_id,
        body: &new.body,
        client_msg_id: new.client_msg_id.as_deref(),
        created_at,
        deleted: false,
        event_seq,
        reply_to: new.reply_to,
        // `@room` is for those who manage the room.
        mentions_room: new.mentions.room && Role::parse(&role).is_some_and(|r| r.can_manage()),
    };
    let id = super::search_vector::insert(c, row, &job.search)?;
    store_mentions(c, new, id, seq)?;
    super::files::store(c, id, new.room_id, &new.attachments)?;
    Ok(Outcome::Inserted {
        id,
        seq,
        event_seq,
        created_at,
    })
}

/// The room's members among the names the body mentions.
fn store_mentions(c: &mut AnyConnection, new: &NewMessage, id: i64, seq: i64) -> QueryResult<()> {
    if new.mentions.usernames.is_empty() {
        return Ok(());
    }
    let mentioned: Vec<i64> = users::table
        .inner_join(
            room_members::table.on(room_members::user_id
                .eq(users::id)
                .and(room_members::room_id.eq(new.room_id))),
        )
        .filter(users::username_lower.eq_any(&new.mentions.usernames))
        .select(users::id)
        .load(c)?;
    let rows: Vec<_> = mentioned
        .into_iter()
        .map(|user_id| {
            (
                message_mentions::message_id.eq(id),
                message_mentions::user_id.eq(user_id),
                message_mentions::room_id.eq(new.room_id),
                message_mentions::seq.eq(seq),
            )
        })
        .collect();
    for row in rows {
        diesel::insert_into(message_mentions::table)
            .values(row)
            .execute(c)?;
    }
    Ok(())
}

fn refusal(is_private: bool) -> SendRefusal {
    if is_private {
        SendRefusal::PrivateRoom
    } else {
        SendRefusal::NotMember
    }
}

#[derive(QueryableByName)]
struct RoomSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_seq: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_private: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    event_offset: i64,
}

/// Where each message of a batch goes.
enum Plan {
    Insert {
        seq: i64,
    },
    /// A retry of an earlier message in this same batch (by index).
    SameAs(usize),
    /// The room does not exist (any more), or the author is not a member.
    Refused(SendRefusal),
}

/// The SQLite path: stores the whole batch with three statements, whatever its size: one `UPDATE` of every
/// room's `last_seq` (the write lock and row locks come first), one `SELECT` of the authors'
/// memberships of those rooms (with the authors, for the answers), one multi-row `INSERT`.
/// Seqs are reserved for every message of an existing room; those reserved for refused messages
/// or retries are given back before the insert, so seqs stay gap-free. A retry of an
/// earlier send (same room, author and client_msg_id) is not looked up beforehand: the unique
/// key catches it (`ON CONFLICT DO NOTHING` inserts fewer rows), and the batch is then rolled
/// back and redone by the careful path, which answers retries. Retries within the batch are
/// resolved here. Any error means: take the careful path.
fn store_set(
    c: &mut diesel::SqliteConnection,
    batch: &[Job],
) -> QueryResult<(Vec<Outcome>, HashMap<i64, User>)> {
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
        "UPDATE rooms SET last_seq = last_seq + CASE id{cases} END WHERE id IN ({}) \
         RETURNING id, last_seq, is_private, event_offset",
        ids.join(",")
    ))
    .load(c)?;
    // The seq before this batch, per existing room.
    let mut next: HashMap<i64, i64> = bumped
        .iter()
        .map(|r| (r.id, r.last_seq - counts.get(&r.id).copied().unwrap_or(0)))
        .collect();
    let reserved_up_to: HashMap<i64, i64> = bumped.iter().map(|r| (r.id, r.last_seq)).collect();
    let private: HashMap<i64, bool> = bumped.iter().map(|r| (r.id, r.is_private)).collect();
    // A room's messages take event seqs in step with their seqs.
    let offsets: HashMap<i64, i64> = bumped.iter().map(|r| (r.id, r.event_offset)).collect();

    // Which authors are members of which of these rooms, read under the rooms' locks.
    let mut authors: Vec<i64> = batch.iter().map(|j| j.new.author_id).collect();
    authors.sort_unstable();
    authors.dedup();
    let memberships: Vec<(i64, UserRow)> = room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq_any(private.keys().copied().collect::<Vec<_>>()))
        .filter(room_members::user_id.eq_any(authors))
        .select((room_members::room_id, UserRow::as_select()))
        .load(c)?;
    let mut members: HashSet<(i64, i64)> = HashSet::with_capacity(memberships.len());
    let mut users_by_id: HashMap<i64, User> = HashMap::new();
    for (room, user) in memberships {
        members.insert((room, user.id));
        users_by_id
            .entry(user.id)
            .or_insert_with(|| User::from(user));
    }

    let copy_of = first_copies(batch);
    let mut plans = Vec::with_capacity(batch.len());
    for (i, job) in batch.iter().enumerate() {
        let new = &job.new;
        let (Some(seq), Some(is_private)) = (next.get_mut(&new.room_id), private.get(&new.room_id))
        else {
            plans.push(Plan::Refused(SendRefusal::NoRoom));
            continue;
        };
        if !members.contains(&(new.room_id, new.author_id)) {
            plans.push(Plan::Refused(refusal(*is_private)));
            continue;
        }
        if copy_of[i] != i {
            // Its first copy passed the same checks, so it is stored.
            plans.push(Plan::SameAs(copy_of[i]));
            continue;
        }
        *seq += 1;
        plans.push(Plan::Insert { seq: *seq });
    }
    // Seqs reserved for what turned out to be refusals or retries go back, so seqs stay
    // gap-free.
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
                event_seq: seq + offsets.get(&job.new.room_id).copied().unwrap_or(0),
                // Replies and mentions never come here (see `store_batch`).
                reply_to: None,
                mentions_room: false,
            }),
            _ => None,
        })
        .collect();
    let ids: HashMap<(i64, i64), i64> = if rows.is_empty() {
        HashMap::new()
    } else {
        // A multi-row INSERT: backend-specific in Diesel, hence the SQLite connection here.
        let inserted: Vec<(i64, i64, i64)> = diesel::insert_into(messages::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning((messages::id, messages::room_id, messages::seq))
            .get_results(c)?;
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
    let outcomes = (0..batch.len())
        .map(|i| match plans[i] {
            Plan::Insert { seq } => match id_of(i) {
                Some(id) => Outcome::Inserted {
                    id,
                    seq,
                    event_seq: seq + offsets.get(&batch[i].new.room_id).copied().unwrap_or(0),
                    created_at,
                },
                None => Outcome::Failed(DieselError::NotFound),
            },
            Plan::SameAs(first) => {
                id_of(first).map_or(Outcome::Failed(DieselError::NotFound), Outcome::Retry)
            }
            Plan::Refused(r) => Outcome::Refused(r),
        })
        .collect();
    Ok((outcomes, users_by_id))
}

/// For each message of the batch, the index of the first one with the same room, author and
/// `client_msg_id` (its own, for a first copy or a message without one): a retry inside one
/// batch gets whatever became of its first copy.
fn first_copies<'a>(batch: impl IntoIterator<Item = &'a Job>) -> Vec<usize> {
    let mut first: HashMap<(i64, i64, &str), usize> = HashMap::new();
    batch
        .into_iter()
        .enumerate()
        .map(|(i, j)| match j.new.client_msg_id.as_deref() {
            Some(cmid) => *first
                .entry((j.new.room_id, j.new.author_id, cmid))
                .or_insert(i),
            None => i,
        })
        .collect()
}

/// The careful path: a savepoint per message, so one failing message fails alone.
fn store_each<'a>(
    c: &mut AnyConnection,
    batch: impl IntoIterator<Item = &'a Job>,
) -> QueryResult<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for job in batch {
        outcomes.push(match c.transaction(|c| store_one(c, job)) {
            Ok(inserted) => inserted,
            Err(Abort::Retry(id)) => Outcome::Retry(id),
            Err(Abort::Refused(r)) => Outcome::Refused(r),
            Err(Abort::Db(e)) => Outcome::Failed(e),
        });
    }
    Ok(outcomes)
}

/// Stores the messages the one-statement path deferred, in a transaction of their own: the
/// rest of the batch is committed already, so a failure here fails only these.
fn store_deferred(c: &mut AnyConnection, batch: &[Job], outcomes: &mut [Outcome]) {
    let deferred: Vec<usize> = (0..outcomes.len())
        .filter(|&i| matches!(outcomes[i], Outcome::Deferred))
        .collect();
    if deferred.is_empty() {
        return;
    }
    tracing::debug!(
        messages = deferred.len(),
        "rooms changed under the batch statement; storing one by one"
    );
    match c.transaction(|c| store_each(c, deferred.iter().map(|&i| &batch[i]))) {
        Ok(redone) => {
            for (i, outcome) in deferred.into_iter().zip(redone) {
                outcomes[i] = outcome;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, messages = deferred.len(), "deferred messages failed to commit");
            let err = db_err(e);
            for i in deferred {
                outcomes[i] = Outcome::Error(err.clone());
            }
        }
    }
}

/// How many times messages deferred by the batch statement go through it again before the
/// careful path takes them.
const DEFERRED_RETRIES: usize = 2;

/// The batch statement, then again for what it deferred: a room's row changes under a batch
/// when another process's writer stores into the same room at the same moment, and the next
/// statement's fresh snapshot usually stores them in one go (one by one, two processes writing
/// the same 20 rooms stored a quarter as much as one: BENCHMARKS.md, "Scale-out"). What is
/// still deferred after the retries goes down the careful path.
fn store_pg(
    pg: &mut diesel::PgConnection,
    batch: &[Job],
    created_at: i64,
) -> QueryResult<(Vec<Outcome>, HashMap<i64, User>)> {
    let all: Vec<&Job> = batch.iter().collect();
    let (mut outcomes, mut authors) = one_statement::store(pg, &all, created_at)?;
    for _ in 0..DEFERRED_RETRIES {
        let deferred: Vec<usize> = (0..outcomes.len())
            .filter(|&i| matches!(outcomes[i], Outcome::Deferred))
            .collect();
        if deferred.is_empty() {
            break;
        }
        let jobs: Vec<&Job> = deferred.iter().map(|&i| &batch[i]).collect();
        // An error stored none of them: they stay deferred, for the careful path.
        let Ok((again, more)) = one_statement::store(pg, &jobs, created_at) else {
            break;
        };
        for (i, outcome) in deferred.into_iter().zip(again) {
            outcomes[i] = outcome;
        }
        authors.extend(more);
    }
    Ok((outcomes, authors))
}

/// Stores and answers a batch; how long the transaction took, for the trace.
fn store_batch(pool: &Pool, batch: Vec<Job>, links: &dyn FileLinks) -> std::time::Duration {
    let started = Instant::now();
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            let err = crate::error::no_connection(e);
            for job in batch {
                job.answer(Err(err.clone()));
            }
            return started.elapsed();
        }
    };
    // Replies and mentions take the careful path, which checks the quoted message and looks the
    // names up in the same transaction; they are few, and the set-based paths stay as they are.
    let (replies, mut batch): (Vec<Job>, Vec<Job>) =
        batch.into_iter().partition(|j| j.new.needs_lookups());
    if !replies.is_empty() {
        store_replies(&mut conn, replies, links);
    }
    if batch.is_empty() {
        return started.elapsed();
    }
    batch.sort_by_key(|j| j.new.room_id);
    let first_try = match &mut *conn {
        AnyConnection::Postgresql(pg) => store_pg(pg, &batch, now_micros()),
        AnyConnection::Sqlite(lite) => lite.transaction(|c| store_set(c, &batch)),
    };
    let stored = first_try
        .map(|(mut outcomes, authors)| {
            store_deferred(&mut conn, &batch, &mut outcomes);
            (outcomes, Some(authors))
        })
        .or_else(|e| {
            tracing::debug!(error = %e, messages = batch.len(), "set-based batch failed; storing one by one");
            conn.transaction(|c| store_each(c, &batch))
                .map(|outcomes| (outcomes, None))
        });
    let (outcomes, authors) = match stored {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, messages = batch.len(), "message batch failed to commit");
            let err = db_err(e);
            for job in batch {
                job.answer(Err(err.clone()));
            }
            return started.elapsed();
        }
    };
    let committed = started.elapsed();
    let authors = match authors {
        Some(a) => a,
        None => load_authors(&mut conn, &batch),
    };
    for (job, outcome) in batch.into_iter().zip(outcomes) {
        let answer = answer(&mut conn, links, &job.new, outcome, &authors);
        job.answer(answer);
    }
    committed
}

/// Stores and answers replies one by one (see `store_one`), in one transaction.
fn store_replies(conn: &mut AnyConnection, replies: Vec<Job>, links: &dyn FileLinks) {
    match conn.transaction(|c| store_each(c, &replies)) {
        Ok(outcomes) => {
            let authors = load_authors(conn, &replies);
            for (job, outcome) in replies.into_iter().zip(outcomes) {
                let answer = answer(conn, links, &job.new, outcome, &authors);
                job.answer(answer);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, messages = replies.len(), "replies failed to commit");
            let err = db_err(e);
            for job in replies {
                job.answer(Err(err.clone()));
            }
        }
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
    links: &dyn FileLinks,
    new: &NewMessage,
    outcome: Outcome,
    authors: &HashMap<i64, User>,
) -> RepoResult<Stored> {
    match outcome {
        // Stored with what it quotes and mentions: read back whole.
        Outcome::Inserted { id, .. } if new.needs_lookups() => {
            super::messages::load(conn, links, new.room_id, id)
                .map_err(db_err)?
                .map(Stored::Created)
                .ok_or(RepoError::NotFound)
        }
        Outcome::Inserted {
            id,
            seq,
            event_seq,
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
                reactions: Vec::new(),
                event_seq,
                reply_to: None,
                reply_to_id: None,
                mentions: Vec::new(),
                mentions_room: false,
                attachments: Vec::new(),
            }))
        }
        Outcome::Retry(id) => existing(conn, links, new, id),
        Outcome::Refused(r) => Err(RepoError::Refused(r)),
        // A concurrent retry with the same client_msg_id (from another process) committed
        // between our check and our insert: the unique key caught it; answer the one that won.
        Outcome::Failed(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
            if new.client_msg_id.is_some() =>
        {
            let cmid = new.client_msg_id.as_deref().unwrap_or_default();
            let id = find_retry(conn, new, cmid)
                .map_err(db_err)?
                .ok_or(RepoError::Conflict("message"))?;
            existing(conn, links, new, id)
        }
        Outcome::Failed(e) => Err(db_err(e)),
        Outcome::Error(e) => Err(e),
        Outcome::Deferred => Err(RepoError::Unavailable("message not stored".into())),
    }
}

fn existing(
    conn: &mut AnyConnection,
    links: &dyn FileLinks,
    new: &NewMessage,
    id: i64,
) -> RepoResult<Stored> {
    super::messages::load(conn, links, new.room_id, id)
        .map_err(db_err)?
        .map(Stored::Existing)
        .ok_or(RepoError::NotFound)
}
