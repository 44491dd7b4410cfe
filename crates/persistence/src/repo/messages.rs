use diesel::prelude::*;
use diesel::result::Error as DieselError;
use huddle_domain::event_log::{LogEntry, Logged};
use huddle_domain::files::FileLinks;
use huddle_domain::repository::{
    HistoryWindow, MessageRepository, NewMessage, RepoResult, StoreDone, Stored,
};
use huddle_domain::search::{MessageSearch, SearchHit};
use huddle_domain::{Message, MessageId, ReplyPreview, RoomId};

use super::event_log::{next_event_seq, record};
use super::literal_limit::literal_limit;
use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::*;
use crate::schema::{message_mentions, messages, reactions, users};

pub(super) fn load(
    c: &mut AnyConnection,
    links: &dyn FileLinks,
    room_id: RoomId,
    id: MessageId,
) -> QueryResult<Option<Message>> {
    let mut found: Vec<Message> = messages::table
        .inner_join(users::table)
        .filter(messages::id.eq(id))
        .filter(messages::room_id.eq(room_id))
        .select((MessageRow::as_select(), UserRow::as_select()))
        .limit(1)
        .load(c)?
        .into_iter()
        .map(to_message)
        .collect();
    decorate(c, links, room_id, &mut found)?;
    Ok(found.pop())
}

/// The room's messages with these ids, without their quotes.
fn by_ids(c: &mut AnyConnection, room_id: RoomId, ids: &[MessageId]) -> QueryResult<Vec<Message>> {
    messages::table
        .inner_join(users::table)
        .filter(messages::room_id.eq(room_id))
        .filter(messages::id.eq_any(ids))
        .order(messages::seq)
        .select((MessageRow::as_select(), UserRow::as_select()))
        .load(c)
        .map(|rows| rows.into_iter().map(to_message).collect())
}

/// Fills in what a message row does not hold: each reply's `reply_to` (the quoted message as it
/// is now), the mentions and the attachments (with fresh links), one read each for all the messages, and none when no message
/// needs it.
pub(super) fn decorate(
    c: &mut AnyConnection,
    links: &dyn FileLinks,
    room_id: RoomId,
    messages: &mut [Message],
) -> QueryResult<()> {
    with_mentions(c, messages)?;
    super::files::fill(c, links, messages)?;
    with_previews(c, room_id, messages)
}

/// Only a body with an `@` can mention anyone.
fn with_mentions(c: &mut AnyConnection, messages: &mut [Message]) -> QueryResult<()> {
    let ids: Vec<MessageId> = messages
        .iter()
        .filter(|m| m.body.contains('@'))
        .map(|m| m.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, i64)> = message_mentions::table
        .filter(message_mentions::message_id.eq_any(&ids))
        .order((message_mentions::message_id, message_mentions::user_id))
        .select((message_mentions::message_id, message_mentions::user_id))
        .load(c)?;
    for m in messages.iter_mut() {
        m.mentions = rows
            .iter()
            .filter(|(message, _)| *message == m.id)
            .map(|(_, user)| *user)
            .collect();
    }
    Ok(())
}

fn with_previews(
    c: &mut AnyConnection,
    room_id: RoomId,
    messages: &mut [Message],
) -> QueryResult<()> {
    let mut ids: Vec<MessageId> = messages.iter().filter_map(|m| m.reply_to_id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let quoted: std::collections::HashMap<MessageId, Box<ReplyPreview>> = by_ids(c, room_id, &ids)?
        .iter()
        .map(|q| (q.id, Box::new(ReplyPreview::of(q))))
        .collect();
    for m in messages {
        m.reply_to = m.reply_to_id.and_then(|id| quoted.get(&id).cloned());
    }
    Ok(())
}

impl MessageRepository for DieselRepository {
    /// Group-committed with whatever other sends are waiting (see `writer`).
    fn store_message(&self, new: NewMessage) -> RepoResult<Stored> {
        self.writer.store(new)
    }

    /// Queues the message to its room's writer and returns at once; `done` runs on the writer
    /// thread after the batch commits.
    fn submit_message(&self, new: NewMessage, done: StoreDone) {
        self.writer.submit(new, done);
    }

    fn search_messages(&self, search: MessageSearch) -> RepoResult<Vec<SearchHit>> {
        super::search::search(&mut *self.conn()?, &*self.links, &search)
    }

    fn message_by_id(&self, room_id: RoomId, id: MessageId) -> RepoResult<Option<Message>> {
        load(&mut *self.conn()?, &*self.links, room_id, id).map_err(db_err)
    }

    fn messages_by_ids(&self, room_id: RoomId, ids: &[MessageId]) -> RepoResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn()?;
        let mut found = by_ids(&mut conn, room_id, ids).map_err(db_err)?;
        decorate(&mut conn, &*self.links, room_id, &mut found).map_err(db_err)?;
        Ok(found)
    }

    fn history(
        &self,
        room_id: RoomId,
        window: HistoryWindow,
        limit: usize,
    ) -> RepoResult<Vec<Message>> {
        let base = messages::table
            .inner_join(users::table)
            .filter(messages::room_id.eq(room_id))
            .select((MessageRow::as_select(), UserRow::as_select()))
            .into_boxed();
        let mut conn = self.conn()?;
        let (query, newest_first) = match window {
            HistoryWindow::Latest => (base.order(messages::seq.desc()), true),
            HistoryWindow::Before(seq) => (
                base.filter(messages::seq.lt(seq))
                    .order(messages::seq.desc()),
                true,
            ),
            HistoryWindow::After(seq) => (
                base.filter(messages::seq.gt(seq))
                    .order(messages::seq.asc()),
                false,
            ),
        };
        let mut rows: Vec<(MessageRow, UserRow)> = literal_limit(query, limit)
            .load_rows(&mut *conn)
            .map_err(db_err)?;
        if newest_first {
            rows.reverse();
        }
        let mut found: Vec<Message> = rows.into_iter().map(to_message).collect();
        decorate(&mut conn, &*self.links, room_id, &mut found).map_err(db_err)?;
        Ok(found)
    }

    fn edit_message(
        &self,
        room_id: RoomId,
        id: MessageId,
        body: &str,
    ) -> RepoResult<Logged<Message>> {
        let now = now_micros();
        self.conn()?
            .transaction(|c| {
                let event_seq = next_event_seq(c, room_id)?.ok_or(DieselError::NotFound)?;
                let n = super::search_vector::edit(c, room_id, id, body, now)?;
                if n == 0 {
                    return Err(DieselError::NotFound);
                }
                let edited = LogEntry::MessageUpdated { message_id: id };
                record(c, room_id, event_seq, &edited, now)?;
                let value = load(c, &*self.links, room_id, id)?.ok_or(DieselError::NotFound)?;
                Ok(Logged { value, event_seq })
            })
            .map_err(db_err)
    }

    /// A deleted message keeps its seq and loses its body and reactions, in one transaction.
    fn delete_message(&self, room_id: RoomId, id: MessageId) -> RepoResult<Logged<Message>> {
        self.conn()?
            .transaction(|c| {
                let event_seq = next_event_seq(c, room_id)?.ok_or(DieselError::NotFound)?;
                let n = super::search_vector::erase(c, room_id, id)?;
                if n == 0 {
                    return Err(DieselError::NotFound);
                }
                diesel::delete(reactions::table.filter(reactions::message_id.eq(id))).execute(c)?;
                super::files::detach(c, id)?;
                let deleted = LogEntry::MessageDeleted { message_id: id };
                record(c, room_id, event_seq, &deleted, now_micros())?;
                let value = load(c, &*self.links, room_id, id)?.ok_or(DieselError::NotFound)?;
                Ok(Logged { value, event_seq })
            })
            .map_err(db_err)
    }
}
