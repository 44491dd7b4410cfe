use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use huddle_domain::repository::{HistoryWindow, MessageRepository, NewMessage, RepoResult, Stored};
use huddle_domain::{Message, MessageId, RepoError, RoomId};

use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::*;
use crate::schema::{messages, rooms, users};

fn load(c: &mut AnyConnection, room_id: RoomId, id: MessageId) -> QueryResult<Option<Message>> {
    messages::table
        .inner_join(users::table)
        .filter(messages::id.eq(id))
        .filter(messages::room_id.eq(room_id))
        .select((MessageRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional()
        .map(|r| r.map(to_message))
}

fn find_retry(c: &mut AnyConnection, new: &NewMessage, client_msg_id: &str) -> QueryResult<Option<i64>> {
    messages::table
        .filter(messages::room_id.eq(new.room_id))
        .filter(messages::author_id.eq(new.author_id))
        .filter(messages::client_msg_id.eq(client_msg_id))
        .select(messages::id)
        .first(c)
        .optional()
}

/// Why a store transaction ended without inserting.
enum StoreAbort {
    /// An earlier send with the same client_msg_id: roll back the seq bump, answer that one.
    Retry(i64),
    Db(DieselError),
}

impl From<DieselError> for StoreAbort {
    fn from(e: DieselError) -> Self {
        StoreAbort::Db(e)
    }
}

impl MessageRepository for DieselRepository {
    /// The seq comes from bumping `rooms.last_seq` in the same transaction as the insert. The
    /// bump comes first: on PostgreSQL its row lock orders concurrent writers of one room, on
    /// SQLite it takes the write lock before any read, so no transaction reads a stale snapshot
    /// and then fails to upgrade. A rollback undoes the bump, so seqs stay gap-free.
    fn store_message(&self, new: NewMessage) -> RepoResult<Stored> {
        let mut conn = self.conn()?;
        let outcome = conn.transaction::<i64, StoreAbort, _>(|c| {
            let seq: i64 = diesel::update(rooms::table.find(new.room_id))
                .set(rooms::last_seq.eq(rooms::last_seq + 1))
                .returning(rooms::last_seq)
                .get_result(c)?;
            if let Some(cmid) = &new.client_msg_id {
                if let Some(id) = find_retry(c, &new, cmid)? {
                    return Err(StoreAbort::Retry(id));
                }
            }
            let id = diesel::insert_into(messages::table)
                .values(NewMessageRow {
                    room_id: new.room_id,
                    seq,
                    author_id: new.author_id,
                    body: &new.body,
                    client_msg_id: new.client_msg_id.as_deref(),
                    created_at: now_micros(),
                    deleted: false,
                })
                .returning(messages::id)
                .get_result(c)?;
            Ok(id)
        });
        let (id, created) = match outcome {
            Ok(id) => (id, true),
            Err(StoreAbort::Retry(id)) => (id, false),
            // A concurrent retry with the same client_msg_id committed between our check and
            // our insert: the unique key caught it; answer the one that won.
            Err(StoreAbort::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))
                if new.client_msg_id.is_some() =>
            {
                let cmid = new.client_msg_id.as_deref().unwrap_or_default();
                let id = find_retry(&mut conn, &new, cmid)
                    .map_err(db_err)?
                    .ok_or(RepoError::Conflict("message"))?;
                (id, false)
            }
            Err(StoreAbort::Db(e)) => return Err(db_err(e)),
        };
        let message = load(&mut conn, new.room_id, id)
            .map_err(db_err)?
            .ok_or(RepoError::NotFound)?;
        Ok(if created {
            Stored::Created(message)
        } else {
            Stored::Existing(message)
        })
    }

    fn message_by_id(&self, room_id: RoomId, id: MessageId) -> RepoResult<Option<Message>> {
        load(&mut *self.conn()?, room_id, id).map_err(db_err)
    }

    fn history(&self, room_id: RoomId, window: HistoryWindow, limit: usize) -> RepoResult<Vec<Message>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let base = messages::table
            .inner_join(users::table)
            .filter(messages::room_id.eq(room_id))
            .select((MessageRow::as_select(), UserRow::as_select()))
            .limit(limit)
            .into_boxed();
        let mut conn = self.conn()?;
        let rows = match window {
            HistoryWindow::Latest => {
                let mut rows = base.order(messages::seq.desc()).load(&mut *conn);
                if let Ok(r) = rows.as_mut() {
                    r.reverse();
                }
                rows
            }
            HistoryWindow::Before(seq) => {
                let mut rows = base
                    .filter(messages::seq.lt(seq))
                    .order(messages::seq.desc())
                    .load(&mut *conn);
                if let Ok(r) = rows.as_mut() {
                    r.reverse();
                }
                rows
            }
            HistoryWindow::After(seq) => base
                .filter(messages::seq.gt(seq))
                .order(messages::seq.asc())
                .load(&mut *conn),
        };
        rows.map(|r| r.into_iter().map(to_message).collect())
            .map_err(db_err)
    }

    fn edit_message(&self, room_id: RoomId, id: MessageId, body: &str) -> RepoResult<Message> {
        let mut conn = self.conn()?;
        let n = diesel::update(
            messages::table
                .find(id)
                .filter(messages::room_id.eq(room_id))
                .filter(messages::deleted.eq(false)),
        )
        .set((messages::body.eq(body), messages::edited_at.eq(Some(now_micros()))))
        .execute(&mut *conn)
        .map_err(db_err)?;
        if n == 0 {
            return Err(RepoError::NotFound);
        }
        load(&mut conn, room_id, id).map_err(db_err)?.ok_or(RepoError::NotFound)
    }

    fn delete_message(&self, room_id: RoomId, id: MessageId) -> RepoResult<Message> {
        let mut conn = self.conn()?;
        let n = diesel::update(messages::table.find(id).filter(messages::room_id.eq(room_id)))
            .set((messages::body.eq(""), messages::deleted.eq(true)))
            .execute(&mut *conn)
            .map_err(db_err)?;
        if n == 0 {
            return Err(RepoError::NotFound);
        }
        load(&mut conn, room_id, id).map_err(db_err)?.ok_or(RepoError::NotFound)
    }
}
