//! Each room's event log on disk (see `huddle_domain::event_log`): `rooms.event_offset` counts
//! the changes other than messages, so a room's next `event_seq` is `last_seq + event_offset +
//! 1` whichever kind of change takes it; a message keeps its own in its row, every other change
//! is a `room_events` row naming what changed.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use huddle_domain::event_log::{LogEntry, LogSlice, LoggedEntry};
use huddle_domain::repository::{EventLogRepository, RepoResult};
use huddle_domain::{Role, RoomId};

use super::literal_limit::literal_limit;
use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::to_time;
use crate::schema::{messages, room_events, rooms};

/// Takes the room's next `event_seq` for a change other than a message, locking the room's row
/// until the transaction ends (so changes to a room are logged in the order they commit).
/// Call it first in the change's transaction: every writer then locks the room before anything
/// else, and SQLite takes its write lock before any read. `None` when there is no such room.
pub(super) fn next_event_seq(c: &mut AnyConnection, room_id: RoomId) -> QueryResult<Option<i64>> {
    diesel::update(rooms::table.find(room_id))
        .set(rooms::event_offset.eq(rooms::event_offset + 1))
        .returning(rooms::last_seq + rooms::event_offset)
        .get_result(c)
        .optional()
}

/// Writes the entry that took `event_seq`.
pub(super) fn record(
    c: &mut AnyConnection,
    room_id: RoomId,
    event_seq: i64,
    entry: &LogEntry,
    at: i64,
) -> QueryResult<()> {
    let cols = entry.columns();
    diesel::insert_into(room_events::table)
        .values((
            room_events::room_id.eq(room_id),
            room_events::event_seq.eq(event_seq),
            room_events::kind.eq(cols.kind),
            room_events::message_id.eq(cols.message_id),
            room_events::user_id.eq(cols.user_id),
            room_events::emoji.eq(cols.emoji),
            room_events::role.eq(cols.role.map(Role::as_str)),
            room_events::created_at.eq(at),
        ))
        .execute(c)
        .map(drop)
}

/// [`next_event_seq`] and [`record`] in one, for a change already known to happen.
pub(super) fn log(
    c: &mut AnyConnection,
    room_id: RoomId,
    entry: &LogEntry,
    at: i64,
) -> QueryResult<i64> {
    let event_seq = next_event_seq(c, room_id)?.ok_or(diesel::result::Error::NotFound)?;
    record(c, room_id, event_seq, entry, at)?;
    Ok(event_seq)
}

type EntryRow = (
    i64,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl EventLogRepository for DieselRepository {
    fn log_after(
        &self,
        room_id: RoomId,
        after: i64,
        limit: usize,
    ) -> RepoResult<LogSlice<LoggedEntry>> {
        let take = limit.saturating_add(1);
        let mut conn = self.conn()?;
        // One snapshot for the floor, the entries and the messages, so that a page never
        // misses what committed between its reads.
        conn.transaction(|c| {
            let floor: Option<i64> = rooms::table
                .find(room_id)
                .select(rooms::log_floor)
                .first(c)
                .optional()?;
            let Some(floor) = floor else {
                return Ok(LogSlice::Entries {
                    items: Vec::new(),
                    has_more: false,
                });
            };
            if after < floor {
                return Ok(LogSlice::Reset);
            }
            let entries = room_events::table
                .filter(room_events::room_id.eq(room_id))
                .filter(room_events::event_seq.gt(after))
                .order(room_events::event_seq)
                .select((
                    room_events::event_seq,
                    room_events::created_at,
                    room_events::kind,
                    room_events::message_id,
                    room_events::user_id,
                    room_events::emoji,
                    room_events::role,
                ));
            let rows: Vec<EntryRow> = literal_limit(entries, take).load_rows(c)?;
            // A message's event_seq grows with its seq, so the messages after `after` are
            // those past the last one at or before it: found walking the (room, seq) key down
            // from the newest, with no index of its own.
            let before: Option<i64> = messages::table
                .filter(messages::room_id.eq(room_id))
                .filter(messages::event_seq.le(after))
                .select(diesel::dsl::max(messages::seq))
                .first(c)?;
            let created = messages::table
                .filter(messages::room_id.eq(room_id))
                .filter(messages::seq.gt(before.unwrap_or(0)))
                .order(messages::seq)
                .select((messages::id, messages::event_seq, messages::created_at));
            let created: Vec<(i64, i64, i64)> = literal_limit(created, take).load_rows(c)?;
            let mut items: Vec<LoggedEntry> = rows
                .into_iter()
                .filter_map(|(event_seq, at, kind, message_id, user_id, emoji, role)| {
                    let role = role.as_deref().and_then(Role::parse);
                    let entry = LogEntry::from_columns(&kind, message_id, user_id, emoji, role);
                    if entry.is_none() {
                        tracing::warn!(room_id, event_seq, kind, "unreadable log entry skipped");
                    }
                    Some(LoggedEntry {
                        event_seq,
                        at: to_time(at),
                        entry: entry?,
                    })
                })
                .collect();
            items.extend(
                created
                    .into_iter()
                    .map(|(message_id, event_seq, at)| LoggedEntry {
                        event_seq,
                        at: to_time(at),
                        entry: LogEntry::MessageCreated { message_id },
                    }),
            );
            items.sort_by_key(|e| e.event_seq);
            let has_more = items.len() > limit;
            items.truncate(limit);
            Ok(LogSlice::Entries { items, has_more })
        })
        .map_err(db_err)
    }

    fn prune_log(&self, before: DateTime<Utc>) -> RepoResult<u64> {
        let cutoff = before.timestamp_micros();
        self.conn()?
            .transaction(|c| {
                let floors: Vec<(i64, Option<i64>)> = room_events::table
                    .filter(room_events::created_at.lt(cutoff))
                    .group_by(room_events::room_id)
                    .select((
                        room_events::room_id,
                        diesel::dsl::max(room_events::event_seq),
                    ))
                    .load(c)?;
                for (room_id, floor) in &floors {
                    let Some(floor) = floor else { continue };
                    diesel::update(rooms::table.find(room_id))
                        .filter(rooms::log_floor.lt(floor))
                        .set(rooms::log_floor.eq(floor))
                        .execute(c)?;
                }
                diesel::delete(room_events::table.filter(room_events::created_at.lt(cutoff)))
                    .execute(c)
            })
            .map(|n| n as u64)
            .map_err(db_err)
    }
}

/// A transaction's way out when its change turned out to change nothing: rolled back, so the
/// `event_seq` it took first is given back.
pub(super) enum Unchanged {
    Db(diesel::result::Error),
    Nothing,
}

impl From<diesel::result::Error> for Unchanged {
    fn from(e: diesel::result::Error) -> Self {
        Unchanged::Db(e)
    }
}

/// `None` for a change that changed nothing.
pub(super) fn if_changed<T>(r: Result<T, Unchanged>) -> QueryResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Unchanged::Nothing) => Ok(None),
        Err(Unchanged::Db(e)) => Err(e),
    }
}
