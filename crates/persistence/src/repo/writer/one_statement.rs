//! A whole batch in one PostgreSQL statement: one round trip, committed on its own (no
//! `BEGIN`/`COMMIT`), with fixed text so the connection prepares and plans it once.
//!
//! The statement reads the rooms, the authors' memberships and earlier sends with the same
//! `client_msg_id` from its snapshot, then bumps each room's `last_seq` by the number of
//! messages it accepted and inserts them. Reading membership from a snapshot taken before the
//! room's row lock would let a send slip past a concurrent removal of its author, so the
//! `UPDATE` only touches a room whose row is still the version the snapshot read (same `xmin`):
//! every membership change also updates its room's row (`member_count`), as does a rename or a
//! delete. A room that changed meanwhile is left alone, and its messages come back
//! [`Outcome::Deferred`], for the careful path to store under the room's lock. Any error (a
//! concurrent retry hitting the unique key, a deadlock between processes) means nothing was
//! stored, and the caller takes the careful path for the whole batch.
use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, SmallInt, Text, Untyped};
use huddle_domain::{RepoError, SendRefusal, User};

use super::{first_copies, refusal, Job, Outcome};
use crate::models::UserRow;

/// Everything after the statement's first bind parameters.
///
/// Every look-up is a `LATERAL … LIMIT 1` on a key, so it stays an index probe per message
/// whatever the planner guesses about the arrays' length: as plain joins or `EXISTS`, the
/// generic plan hashed the whole of `room_members` and `users` for every batch. Results come
/// back as three lists in one (`kind` 0: the messages not accepted, 1: the inserted rows, 2:
/// the authors) and are matched up in Rust, rather than joined back in SQL, which nested-looped
/// over the CTEs (quadratic in the batch's size). An accepted message has no row of its own:
/// it is one of its room's inserted rows, or its room changed and none were (a row for every
/// message cost PostgreSQL about 2.5 µs per message, 7% of the statement, to say what the
/// inserted rows already say).
///
/// The accepted messages are gathered per room into arrays that ride through the room's
/// `UPDATE … RETURNING` and are unnested into the insert, each at the room's old `last_seq`
/// plus its place in the array: no join of messages to rooms, no window function, no sort
/// (joining them back cost a comparison per message per room in the batch: a batch of 500
/// over 100 rooms took 15 µs of backend CPU per message against 12 µs this way). All rows of
/// one room carry the same `x` (one snapshot), so any one of them is the room's.
const REST: &str = ") WITH ORDINALITY AS t(room_id, author_id, body, client_msg_id, search, ord)
  LEFT JOIN LATERAL (SELECT r.xmin AS x, r.is_private FROM rooms r
                     WHERE r.id = t.room_id LIMIT 1) r ON TRUE
  LEFT JOIN LATERAL (SELECT TRUE AS member FROM room_members m
                     WHERE m.room_id = t.room_id AND m.user_id = t.author_id LIMIT 1) m ON TRUE
  LEFT JOIN LATERAL (SELECT e.id FROM messages e
                     WHERE e.room_id = t.room_id AND e.author_id = t.author_id
                       AND e.client_msg_id = t.client_msg_id LIMIT 1) e ON TRUE
),
accepted AS (
  SELECT i.room_id, (array_agg(i.x))[1] AS x, count(*) AS n,
         array_agg(i.author_id ORDER BY i.ord) AS authors,
         array_agg(i.body ORDER BY i.ord) AS bodies,
         array_agg(i.client_msg_id ORDER BY i.ord) AS client_msg_ids,
         array_agg(i.search ORDER BY i.ord) AS searches
  FROM input i WHERE i.x IS NOT NULL AND i.member AND i.earlier IS NULL
  GROUP BY i.room_id
),
bumped AS (
  UPDATE rooms r SET last_seq = r.last_seq + a.n
  FROM accepted a
  WHERE r.id = a.room_id AND r.xmin = a.x
  RETURNING r.id, r.last_seq - a.n AS base, r.event_offset AS off, a.authors, a.bodies,
            a.client_msg_ids, a.searches
),
inserted AS (
  INSERT INTO messages (room_id, seq, author_id, body, client_msg_id, created_at, deleted,
                        event_seq, search)
  SELECT b.id, b.base + u.k, u.author_id, u.body, u.client_msg_id, ";

const TAIL: &str = ", FALSE, b.base + u.k + b.off, CAST(u.search AS tsvector)
  FROM bumped b,
       unnest(b.authors, b.bodies, b.client_msg_ids, b.searches)
         WITH ORDINALITY AS u(author_id, body, client_msg_id, search, k)
  RETURNING id, room_id, seq, event_seq
)
SELECT 0::smallint AS kind, i.ord AS key, i.x IS NOT NULL AS found, i.is_private, i.member,
       i.earlier AS message_id, NULL::bigint AS seq, NULL::text AS username,
       NULL::text AS display_name, NULL::text AS bio, NULL::bigint AS created_at
FROM input i WHERE NOT (i.x IS NOT NULL AND i.member AND i.earlier IS NULL)
UNION ALL
SELECT 1::smallint, ins.room_id, NULL, NULL, NULL, ins.id, ins.seq, NULL, NULL, NULL,
       ins.event_seq
FROM inserted ins
UNION ALL
SELECT 2::smallint, u.id, NULL, NULL, NULL, NULL, NULL, u.username, u.display_name, u.bio,
       u.created_at
FROM (SELECT DISTINCT author_id FROM input WHERE member) a,
     LATERAL (SELECT * FROM users u WHERE u.id = a.author_id LIMIT 1) u";

/// The statement with its binds: one array per column, so the text never changes with the
/// batch's size (and the prepared statement is reused).
struct StoreBatch<'a> {
    rooms: Vec<i64>,
    authors: Vec<i64>,
    bodies: Vec<&'a str>,
    client_msg_ids: Vec<Option<&'a str>>,
    /// Each body's `tsvector` as text, cast as it is inserted.
    searches: Vec<&'a str>,
    created_at: i64,
}

/// The statement's identity in Diesel's prepared-statement cache.
struct StoreBatchId;

impl QueryId for StoreBatch<'_> {
    type QueryId = StoreBatchId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for StoreBatch<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for StoreBatch<'_> {}

impl QueryFragment<Pg> for StoreBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH input AS MATERIALIZED (\n  SELECT t.ord, t.room_id, t.author_id, t.body, \
             t.client_msg_id, t.search, r.x, r.is_private, m.member IS NOT NULL AS member, \
             e.id AS earlier\n  FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.rooms)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.authors)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.bodies)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.client_msg_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.searches)?;
        out.push_sql(REST);
        out.push_bind_param::<BigInt, _>(&self.created_at)?;
        out.push_sql(TAIL);
        Ok(())
    }
}

/// A row of one of the statement's three lists (see [`REST`]); what `key` and `message_id` hold
/// depends on `kind`.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = SmallInt)]
    kind: i16,
    /// 0: the refused or repeated message's `ord` (from 1); 1: the room; 2: the user.
    #[diesel(sql_type = BigInt)]
    key: i64,
    /// Whether the room was there.
    #[diesel(sql_type = Nullable<Bool>)]
    found: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    is_private: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    member: Option<bool>,
    /// 0: an earlier message with the same `client_msg_id`; 1: the inserted message.
    #[diesel(sql_type = Nullable<BigInt>)]
    message_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    username: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    bio: Option<String>,
    /// 2: the user's; 1: the inserted message's `event_seq`.
    #[diesel(sql_type = Nullable<BigInt>)]
    created_at: Option<i64>,
}

/// Stores what it can of the batch in one statement; see the module's doc.
///
/// A retry of a message earlier in the same batch (same room, author and `client_msg_id`) is
/// not sent: it gets whatever became of the first copy.
pub(super) fn store(
    c: &mut PgConnection,
    batch: &[&Job],
    created_at: i64,
) -> QueryResult<(Vec<Outcome>, HashMap<i64, User>)> {
    let copy_of = first_copies(batch.iter().copied());
    let sent: Vec<&Job> = batch
        .iter()
        .zip(&copy_of)
        .enumerate()
        .filter(|(i, (_, first))| *i == **first)
        .map(|(_, (j, _))| *j)
        .collect();
    let rows: Vec<Row> = StoreBatch {
        rooms: sent.iter().map(|j| j.new.room_id).collect(),
        authors: sent.iter().map(|j| j.new.author_id).collect(),
        bodies: sent.iter().map(|j| j.new.body.as_str()).collect(),
        client_msg_ids: sent
            .iter()
            .map(|j| j.new.client_msg_id.as_deref())
            .collect(),
        searches: sent.iter().map(|j| j.search.as_str()).collect(),
        created_at,
    }
    .load(c)?;

    // The messages not accepted, by `ord`.
    let mut not_accepted: HashMap<i64, Row> = HashMap::new();
    // Per room, its inserted rows as (seq, id, event_seq).
    let mut inserted: HashMap<i64, Vec<(i64, i64, i64)>> = HashMap::new();
    let mut users = HashMap::new();
    for row in rows {
        match row.kind {
            0 => {
                not_accepted.insert(row.key, row);
            }
            1 => {
                if let (Some(id), Some(seq), Some(event_seq)) =
                    (row.message_id, row.seq, row.created_at)
                {
                    inserted
                        .entry(row.key)
                        .or_default()
                        .push((seq, id, event_seq));
                }
            }
            _ => {
                if let (Some(username), Some(display_name), Some(bio), Some(created_at)) =
                    (row.username, row.display_name, row.bio, row.created_at)
                {
                    users.insert(
                        row.key,
                        User::from(UserRow {
                            id: row.key,
                            username,
                            display_name,
                            bio,
                            created_at,
                        }),
                    );
                }
            }
        }
    }
    // A room's new seqs went to its accepted messages in batch order.
    for rows in inserted.values_mut() {
        rows.sort_unstable_by(|a, b| b.cmp(a));
    }
    let outcomes: Vec<Outcome> = (1i64..)
        .zip(&sent)
        .map(|(ord, job)| match not_accepted.remove(&ord) {
            Some(row) => match (row.found, row.member, row.message_id) {
                (Some(true), Some(true), Some(earlier)) => Outcome::Retry(earlier),
                (Some(true), Some(true), None) => {
                    unexpected("an accepted message was reported as not accepted")
                }
                (Some(true), _, _) => Outcome::Refused(refusal(row.is_private.unwrap_or(false))),
                _ => Outcome::Refused(SendRefusal::NoRoom),
            },
            None => match inserted.get_mut(&job.new.room_id) {
                Some(rows) => match rows.pop() {
                    Some((seq, id, event_seq)) => Outcome::Inserted {
                        id,
                        seq,
                        event_seq,
                        created_at,
                    },
                    None => unexpected("fewer messages inserted than accepted"),
                },
                // Its room changed after the snapshot: nothing of that room was stored.
                None => Outcome::Deferred,
            },
        })
        .collect();
    if !not_accepted.is_empty() {
        tracing::error!("the batch statement answered for a message it was not sent");
    }
    if inserted.values().any(|rows| !rows.is_empty()) {
        tracing::error!("the batch statement inserted more messages than it accepted");
    }
    // Each message of the batch: its own outcome, or for a repeat, what became of the first.
    let mut sent_outcomes = outcomes.into_iter();
    let mut all: Vec<Outcome> = Vec::with_capacity(batch.len());
    for (i, &first) in copy_of.iter().enumerate() {
        let outcome = if first == i {
            sent_outcomes
                .next()
                .unwrap_or_else(|| unexpected("an outcome went missing"))
        } else {
            match all.get(first) {
                Some(Outcome::Inserted { id, .. }) | Some(Outcome::Retry(id)) => {
                    Outcome::Retry(*id)
                }
                _ => Outcome::Deferred,
            }
        };
        all.push(outcome);
    }
    Ok((all, users))
}

/// An answer the statement cannot give. The statement has committed, so the message is not
/// retried (that could store it twice); its sender gets an error.
fn unexpected(what: &'static str) -> Outcome {
    tracing::error!(what, "unexpected answer from the batch statement");
    Outcome::Error(RepoError::Unavailable(what.into()))
}
