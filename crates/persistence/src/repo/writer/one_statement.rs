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
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Untyped};
use huddle_domain::{SendRefusal, User};

use super::{refusal, Job, Outcome};
use crate::models::UserRow;

/// Everything after the statement's first bind parameters. `input` numbers the batch's
/// messages (`ord`, from 1); `first_ord` points a retry inside the batch at its first copy;
/// `accepted` gives each stored message its place `k` in its room's run of new seqs.
const REST: &str = ") WITH ORDINALITY AS t(room_id, author_id, body, client_msg_id, ord)
),
snap AS (
  SELECT r.id, r.xmin AS x, r.is_private FROM rooms r
  WHERE r.id IN (SELECT room_id FROM input)
),
checked AS (
  SELECT i.ord, i.room_id, i.author_id, i.body, i.client_msg_id, s.is_private,
    EXISTS (SELECT 1 FROM room_members m
            WHERE m.room_id = i.room_id AND m.user_id = i.author_id) AS member,
    (SELECT x.id FROM messages x
     WHERE i.client_msg_id IS NOT NULL AND x.room_id = i.room_id
       AND x.author_id = i.author_id AND x.client_msg_id = i.client_msg_id) AS earlier,
    CASE WHEN i.client_msg_id IS NULL THEN i.ord
         ELSE min(i.ord) OVER (PARTITION BY i.room_id, i.author_id, i.client_msg_id)
    END AS first_ord
  FROM input i JOIN snap s ON s.id = i.room_id
),
accepted AS (
  SELECT c.*, row_number() OVER (PARTITION BY c.room_id ORDER BY c.ord) AS k
  FROM checked c WHERE c.member AND c.earlier IS NULL AND c.first_ord = c.ord
),
bumped AS (
  UPDATE rooms r SET last_seq = r.last_seq + a.n
  FROM (SELECT room_id, count(*) AS n FROM accepted GROUP BY room_id) a, snap s
  WHERE r.id = a.room_id AND s.id = a.room_id AND r.xmin = s.x
  RETURNING r.id, r.last_seq - a.n AS base
),
planned AS (
  SELECT a.ord, a.room_id, b.base + a.k AS seq, a.author_id, a.body, a.client_msg_id
  FROM accepted a JOIN bumped b ON b.id = a.room_id
),
inserted AS (
  INSERT INTO messages (room_id, seq, author_id, body, client_msg_id, created_at, deleted)
  SELECT room_id, seq, author_id, body, client_msg_id, ";

const TAIL: &str = ", FALSE FROM planned
  RETURNING id, room_id, seq
)
SELECT i.ord, c.is_private, c.member, c.earlier, c.first_ord, ins.id, p.seq,
       u.id AS user_id, u.username, u.display_name, u.bio, u.created_at AS user_created_at
FROM input i
LEFT JOIN checked c ON c.ord = i.ord
LEFT JOIN planned p ON p.ord = i.ord
LEFT JOIN inserted ins ON ins.room_id = p.room_id AND ins.seq = p.seq
LEFT JOIN users u ON u.id = i.author_id AND c.member
ORDER BY i.ord";

/// The statement with its binds: one array per column, so the text never changes with the
/// batch's size (and the prepared statement is reused).
struct StoreBatch<'a> {
    rooms: Vec<i64>,
    authors: Vec<i64>,
    bodies: Vec<&'a str>,
    client_msg_ids: Vec<Option<&'a str>>,
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
        out.push_sql("WITH input AS (\n  SELECT * FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.rooms)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.authors)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.bodies)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.client_msg_ids)?;
        out.push_sql(REST);
        out.push_bind_param::<BigInt, _>(&self.created_at)?;
        out.push_sql(TAIL);
        Ok(())
    }
}

/// One row per message of the batch, in batch order.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    ord: i64,
    /// `None`: the room was not there.
    #[diesel(sql_type = Nullable<Bool>)]
    is_private: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    member: Option<bool>,
    /// An earlier message with the same `client_msg_id`.
    #[diesel(sql_type = Nullable<BigInt>)]
    earlier: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    first_ord: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    username: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    display_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    bio: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_created_at: Option<i64>,
}

/// Stores what it can of the batch in one statement; see the module's doc.
pub(super) fn store(
    c: &mut PgConnection,
    batch: &[Job],
    created_at: i64,
) -> QueryResult<(Vec<Outcome>, HashMap<i64, User>)> {
    let rows: Vec<Row> = StoreBatch {
        rooms: batch.iter().map(|j| j.new.room_id).collect(),
        authors: batch.iter().map(|j| j.new.author_id).collect(),
        bodies: batch.iter().map(|j| j.new.body.as_str()).collect(),
        client_msg_ids: batch
            .iter()
            .map(|j| j.new.client_msg_id.as_deref())
            .collect(),
        created_at,
    }
    .load(c)?;
    if rows.len() != batch.len() {
        // Cannot happen (one row per input); stored nothing is not known, so say so loudly.
        return Err(diesel::result::Error::QueryBuilderError(
            format!(
                "batch statement answered {} rows for {} messages",
                rows.len(),
                batch.len()
            )
            .into(),
        ));
    }
    let mut users = HashMap::new();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
    for (i, row) in rows.into_iter().enumerate() {
        let index = |ord: i64| usize::try_from(ord - 1).unwrap_or(usize::MAX);
        debug_assert_eq!(index(row.ord), i);
        if let (Some(id), Some(username), Some(display_name), Some(bio), Some(created_at)) = (
            row.user_id,
            row.username,
            row.display_name,
            row.bio,
            row.user_created_at,
        ) {
            users.entry(id).or_insert_with(|| {
                User::from(UserRow {
                    id,
                    username,
                    display_name,
                    bio,
                    created_at,
                })
            });
        }
        let outcome = match (row.member, row.earlier, row.first_ord) {
            (None, _, _) => Outcome::Refused(SendRefusal::NoRoom),
            (Some(false), _, _) => Outcome::Refused(refusal(row.is_private.unwrap_or(false))),
            (Some(true), Some(earlier), _) => Outcome::Retry(earlier),
            // A retry of a message earlier in this batch: whatever became of that one.
            (Some(true), None, Some(first)) if index(first) < i => {
                match outcomes.get(index(first)) {
                    Some(Outcome::Inserted { id, .. }) => Outcome::Retry(*id),
                    Some(Outcome::Retry(id)) => Outcome::Retry(*id),
                    _ => Outcome::Deferred,
                }
            }
            (Some(true), None, _) => match (row.id, row.seq) {
                (Some(id), Some(seq)) => Outcome::Inserted {
                    id,
                    seq,
                    created_at,
                },
                // Its room changed after the snapshot.
                _ => Outcome::Deferred,
            },
        };
        outcomes.push(outcome);
    }
    Ok((outcomes, users))
}
