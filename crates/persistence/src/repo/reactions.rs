use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{BigInt, Text};
use huddle_domain::event_log::LogEntry;
use huddle_domain::repository::{ReactionRepository, RepoResult};
use huddle_domain::validation::REACTIONS_PER_MESSAGE_MAX;
use huddle_domain::{MessageId, Reaction, RepoError, RoomId, UserId, REACTION_USERS_SHOWN};

use super::event_log::{if_changed, next_event_seq, record, Unchanged};
use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::now_micros;
use crate::schema::{messages, reactions};

/// Inserts the reaction if it is new and the message has room for its emoji, in one statement
/// (SQLite then takes its write lock at once; PostgreSQL has locked the message row first, so
/// two new emoji cannot both take the last place).
fn insert_if_room(
    c: &mut AnyConnection,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
) -> QueryResult<usize> {
    let max = i64::try_from(REACTIONS_PER_MESSAGE_MAX).unwrap_or(i64::MAX);
    let sql = |p: &dyn Fn(usize) -> String| {
        format!(
            "INSERT INTO reactions (message_id, user_id, emoji, created_at) \
             SELECT {m}, {u}, {e}, {t} \
             WHERE NOT EXISTS (SELECT 1 FROM reactions WHERE message_id = {m2} AND user_id = {u2} AND emoji = {e2}) \
               AND (EXISTS (SELECT 1 FROM reactions WHERE message_id = {m3} AND emoji = {e3}) \
                    OR (SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = {m4}) < {max})",
            m = p(1), u = p(2), e = p(3), t = p(4), m2 = p(5), u2 = p(6), e2 = p(7),
            m3 = p(8), e3 = p(9), m4 = p(10), max = p(11)
        )
    };
    let now = now_micros();
    macro_rules! run {
        ($conn:expr, $sql:expr) => {
            diesel::sql_query($sql)
                .bind::<BigInt, _>(message_id)
                .bind::<BigInt, _>(user_id)
                .bind::<Text, _>(emoji)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(message_id)
                .bind::<BigInt, _>(user_id)
                .bind::<Text, _>(emoji)
                .bind::<BigInt, _>(message_id)
                .bind::<Text, _>(emoji)
                .bind::<BigInt, _>(message_id)
                .bind::<BigInt, _>(max)
                .execute($conn)
        };
    }
    match c {
        AnyConnection::Postgresql(pg) => {
            diesel::sql_query("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE")
                .bind::<BigInt, _>(message_id)
                .execute(pg)?;
            run!(pg, sql(&|i| format!("${i}")))
        }
        AnyConnection::Sqlite(lite) => run!(lite, sql(&|_| "?".to_owned())),
    }
}

/// The room of a message: its changes are logged there. A message never moves.
fn room_of(c: &mut AnyConnection, message_id: MessageId) -> QueryResult<Option<RoomId>> {
    messages::table
        .find(message_id)
        .select(messages::room_id)
        .first(c)
        .optional()
}

impl ReactionRepository for DieselRepository {
    fn add_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> RepoResult<Option<i64>> {
        let mut conn = self.conn()?;
        let room_id = room_of(&mut conn, message_id)
            .map_err(db_err)?
            .ok_or(RepoError::NotFound)?;
        let result = conn.transaction(|c| {
            let event_seq = next_event_seq(c, room_id)?.ok_or(DieselError::NotFound)?;
            if insert_if_room(c, message_id, user_id, emoji)? == 0 {
                return Err(Unchanged::Nothing);
            }
            let added = LogEntry::ReactionAdded {
                message_id,
                user_id,
                emoji: emoji.to_owned(),
            };
            record(c, room_id, event_seq, &added, now_micros())?;
            Ok(event_seq)
        });
        if let Some(event_seq) = if_changed(result).map_err(crate::error::map_err("reaction"))? {
            return Ok(Some(event_seq));
        }
        // Nothing inserted: the user's reaction was there already, or the message has no room
        // for another emoji.
        let mine: i64 = reactions::table
            .filter(reactions::message_id.eq(message_id))
            .filter(reactions::user_id.eq(user_id))
            .filter(reactions::emoji.eq(emoji))
            .count()
            .get_result(&mut *conn)
            .map_err(db_err)?;
        if mine > 0 {
            Ok(None)
        } else {
            Err(RepoError::Conflict("reactions"))
        }
    }

    fn remove_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> RepoResult<Option<i64>> {
        let mut conn = self.conn()?;
        let Some(room_id) = room_of(&mut conn, message_id).map_err(db_err)? else {
            return Ok(None);
        };
        let result = conn.transaction(|c| {
            let event_seq = next_event_seq(c, room_id)?.ok_or(Unchanged::Nothing)?;
            let n = diesel::delete(
                reactions::table
                    .filter(reactions::message_id.eq(message_id))
                    .filter(reactions::user_id.eq(user_id))
                    .filter(reactions::emoji.eq(emoji)),
            )
            .execute(c)?;
            if n == 0 {
                return Err(Unchanged::Nothing);
            }
            let removed = LogEntry::ReactionRemoved {
                message_id,
                user_id,
                emoji: emoji.to_owned(),
            };
            record(c, room_id, event_seq, &removed, now_micros())?;
            Ok(event_seq)
        });
        if_changed(result).map_err(db_err)
    }

    fn reactions(
        &self,
        message_ids: &[MessageId],
        viewer: UserId,
    ) -> RepoResult<HashMap<MessageId, Vec<Reaction>>> {
        let mut out: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
        if message_ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(i64, i64, String)> = reactions::table
            .filter(reactions::message_id.eq_any(message_ids))
            .order((
                reactions::message_id,
                reactions::created_at,
                reactions::user_id,
            ))
            .select((reactions::message_id, reactions::user_id, reactions::emoji))
            .load(&mut *self.conn()?)
            .map_err(db_err)?;
        for (message_id, user_id, emoji) in rows {
            let list = out.entry(message_id).or_default();
            let i = match list.iter().position(|r| r.emoji == emoji) {
                Some(i) => i,
                None => {
                    list.push(Reaction {
                        emoji,
                        count: 0,
                        user_ids: Vec::new(),
                        me: false,
                    });
                    list.len() - 1
                }
            };
            let r = &mut list[i];
            r.count += 1;
            r.me |= user_id == viewer;
            if r.user_ids.len() < REACTION_USERS_SHOWN {
                r.user_ids.push(user_id);
            }
        }
        Ok(out)
    }
}
