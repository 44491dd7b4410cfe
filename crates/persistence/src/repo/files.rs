//! Attachments: written with their message by the writer, read with it by `decorate`, and
//! moved to `file_trash` by the database itself (a trigger) when their row goes, so a deleted
//! message or room can never leave an object that nothing will delete.
use std::collections::HashMap;

use diesel::prelude::*;
use huddle_domain::files::{Attachment, FileLinks, StoredFile};
use huddle_domain::repository::{FileRepository, NewAttachment, RepoResult};
use huddle_domain::{Message, MessageId, RoomId};

use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::schema::{attachments, file_trash};

#[derive(Queryable, Selectable)]
#[diesel(table_name = attachments)]
struct AttachmentRow {
    id: String,
    message_id: i64,
    room_id: i64,
    name: String,
    content_type: String,
    size: i64,
    width: Option<i32>,
    height: Option<i32>,
}

impl AttachmentRow {
    fn into_attachment(self, links: &dyn FileLinks) -> Attachment {
        Attachment {
            url: links.url(&self.id),
            id: self.id,
            name: self.name,
            content_type: self.content_type,
            size: self.size,
            width: self.width,
            height: self.height,
        }
    }
}

/// Attaches the files to a message being stored, in the order given.
pub(super) fn store(
    c: &mut AnyConnection,
    message_id: MessageId,
    room_id: RoomId,
    files: &[NewAttachment],
) -> QueryResult<()> {
    for (position, f) in files.iter().enumerate() {
        diesel::insert_into(attachments::table)
            .values((
                attachments::id.eq(&f.id),
                attachments::message_id.eq(message_id),
                attachments::room_id.eq(room_id),
                attachments::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                attachments::name.eq(&f.name),
                attachments::content_type.eq(&f.content_type),
                attachments::size.eq(f.size),
                attachments::width.eq(f.width),
                attachments::height.eq(f.height),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// Fills each message's `attachments`, one read for all of them.
pub(super) fn fill(
    c: &mut AnyConnection,
    links: &dyn FileLinks,
    messages: &mut [Message],
) -> QueryResult<()> {
    let ids: Vec<MessageId> = messages
        .iter()
        .filter(|m| !m.deleted)
        .map(|m| m.id)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<AttachmentRow> = attachments::table
        .filter(attachments::message_id.eq_any(&ids))
        .order((attachments::message_id, attachments::position))
        .select(AttachmentRow::as_select())
        .load(c)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut by_message: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    for row in rows {
        by_message
            .entry(row.message_id)
            .or_default()
            .push(row.into_attachment(links));
    }
    for m in messages {
        if let Some(files) = by_message.remove(&m.id) {
            m.attachments = files;
        }
    }
    Ok(())
}

/// Takes a message's files off it (the trigger moves them to the trash).
pub(super) fn detach(c: &mut AnyConnection, message_id: MessageId) -> QueryResult<usize> {
    diesel::delete(attachments::table.filter(attachments::message_id.eq(message_id))).execute(c)
}

impl FileRepository for DieselRepository {
    fn file(&self, id: &str) -> RepoResult<Option<StoredFile>> {
        let row: Option<AttachmentRow> = attachments::table
            .find(id)
            .select(AttachmentRow::as_select())
            .first(&mut *self.conn()?)
            .optional()
            .map_err(db_err)?;
        Ok(row.map(|r| StoredFile {
            room_id: r.room_id,
            attachment: r.into_attachment(&*self.links),
        }))
    }

    fn file_trash(&self, limit: usize) -> RepoResult<Vec<String>> {
        file_trash::table
            .order((file_trash::trashed_at, file_trash::file_id))
            .select(file_trash::file_id)
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *self.conn()?)
            .map_err(db_err)
    }

    fn forget_file_trash(&self, ids: &[String]) -> RepoResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        diesel::delete(file_trash::table.filter(file_trash::file_id.eq_any(ids)))
            .execute(&mut *self.conn()?)
            .map(drop)
            .map_err(db_err)
    }
}
