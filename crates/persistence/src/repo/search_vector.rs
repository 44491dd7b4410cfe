//! The writes that set a message's body, and on PostgreSQL its search vector with it.
//!
//! PostgreSQL's `messages.search` is computed by Huddle (`huddle_domain::lexemes`) and stored
//! with the row: PostgreSQL computing it (a generated column) cost it 10-16 µs per row, about
//! a third of what it spent on a stored message. Diesel's schema is shared with SQLite, whose
//! FTS5 table indexes the body itself and has no such column, so on PostgreSQL these writes
//! are SQL of their own, each one statement: a body and its vector never change apart, and a
//! row is not written twice.
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use huddle_domain::{lexemes, MessageId, RoomId};

use crate::connection::AnyConnection;
use crate::models::NewMessageRow;
use crate::schema::messages;

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Inserts one message; its id. `search` is the body's vector (unused on SQLite).
pub(super) fn insert(c: &mut AnyConnection, row: NewMessageRow, search: &str) -> QueryResult<i64> {
    if let AnyConnection::Postgresql(pg) = c {
        return diesel::sql_query(
            "INSERT INTO messages (room_id, seq, author_id, body, client_msg_id, created_at, \
             deleted, event_seq, reply_to, mentions_room, search) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CAST($11 AS tsvector)) RETURNING id",
        )
        .bind::<BigInt, _>(row.room_id)
        .bind::<BigInt, _>(row.seq)
        .bind::<BigInt, _>(row.author_id)
        .bind::<Text, _>(row.body)
        .bind::<Nullable<Text>, _>(row.client_msg_id)
        .bind::<BigInt, _>(row.created_at)
        .bind::<Bool, _>(row.deleted)
        .bind::<BigInt, _>(row.event_seq)
        .bind::<Nullable<BigInt>, _>(row.reply_to)
        .bind::<Bool, _>(row.mentions_room)
        .bind::<Text, _>(search)
        .get_result::<Inserted>(pg)
        .map(|r| r.id);
    }
    diesel::insert_into(messages::table)
        .values(row)
        .returning(messages::id)
        .get_result(c)
}

/// Gives a live message of the room its new body, marked edited at `now`; how many rows
/// changed (0: no such live message).
pub(super) fn edit(
    c: &mut AnyConnection,
    room_id: RoomId,
    id: MessageId,
    body: &str,
    now: i64,
) -> QueryResult<usize> {
    if let AnyConnection::Postgresql(pg) = c {
        return diesel::sql_query(
            "UPDATE messages SET body = $1, edited_at = $2, search = CAST($3 AS tsvector) \
             WHERE id = $4 AND room_id = $5 AND NOT deleted",
        )
        .bind::<Text, _>(body)
        .bind::<BigInt, _>(now)
        .bind::<Text, _>(lexemes::tsvector(body))
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(room_id)
        .execute(pg);
    }
    diesel::update(
        messages::table
            .find(id)
            .filter(messages::room_id.eq(room_id))
            .filter(messages::deleted.eq(false)),
    )
    .set((messages::body.eq(body), messages::edited_at.eq(Some(now))))
    .execute(c)
}

/// Empties a message of the room and marks it deleted; how many rows changed. Its search
/// vector goes with the body, so nothing of what it said stays in the index.
pub(super) fn erase(c: &mut AnyConnection, room_id: RoomId, id: MessageId) -> QueryResult<usize> {
    if let AnyConnection::Postgresql(pg) = c {
        return diesel::sql_query(
            "UPDATE messages SET body = '', deleted = TRUE, search = ''::tsvector \
             WHERE id = $1 AND room_id = $2",
        )
        .bind::<BigInt, _>(id)
        .bind::<BigInt, _>(room_id)
        .execute(pg);
    }
    diesel::update(
        messages::table
            .find(id)
            .filter(messages::room_id.eq(room_id)),
    )
    .set((messages::body.eq(""), messages::deleted.eq(true)))
    .execute(c)
}
