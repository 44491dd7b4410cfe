//! Files sent to a room: the member checks around an upload, and the message that carries it.
use super::{ChatService, DomainResult};
use crate::answer::{answer, Answer};
use crate::entities::*;
use crate::error::{DomainError, RepoError};
use crate::files::StoredFile;
use crate::repository::{NewAttachment, Stored};
use crate::validation;

impl ChatService {
    /// Whether the caller may send to the room, asked before an upload is read so that a
    /// stranger's bytes are never stored. The store checks again when the message is written.
    pub fn may_send(&self, actor: UserId, room_id: RoomId) -> DomainResult<()> {
        self.member_role(actor, room_id).map(drop)
    }

    /// Sends uploaded files as one message with `caption` as its body (empty is fine). A retry
    /// with the same `client_msg_id` answers the first message and attaches nothing: the caller
    /// then deletes what it uploaded for the retry.
    pub fn send_files(
        &self,
        actor: UserId,
        room_id: RoomId,
        caption: &str,
        client_msg_id: Option<&str>,
        attachments: Vec<NewAttachment>,
    ) -> Answer<DomainResult<Stored>> {
        let dropped = Err(DomainError::Repository(RepoError::Unavailable(
            "the send was dropped unanswered".into(),
        )));
        let (reply, answer) = answer(dropped);
        let done: Box<dyn FnOnce(DomainResult<Stored>) + Send> =
            Box::new(move |stored| reply.send(stored));
        let checked = validation::caption(caption).and_then(|body| {
            let cmid = client_msg_id.map(validation::client_msg_id).transpose()?;
            Ok((body, cmid))
        });
        match checked {
            Err(e) => done(Err(e)),
            Ok(_) if attachments.is_empty() => {
                done(Err(DomainError::validation("file", "no file was sent")))
            }
            Ok((body, cmid)) => self.submit(actor, room_id, body, cmid, None, attachments, done),
        }
        answer
    }

    /// A file for a member of its room (`viewer`), or for whoever holds a valid link (`None`:
    /// the edge has checked the link). Hidden like its room: a stranger hears `NotFound`.
    pub fn file(&self, viewer: Option<UserId>, id: &str) -> DomainResult<StoredFile> {
        let file = self.repo.file(id)?.ok_or(DomainError::NotFound("file"))?;
        if let Some(viewer) = viewer {
            self.member_role(viewer, file.room_id)
                .map_err(|_| DomainError::NotFound("file"))?;
        }
        Ok(file)
    }

    /// Ids of files to delete from the object store (their message or room is gone).
    pub fn file_trash(&self, limit: usize) -> DomainResult<Vec<String>> {
        Ok(self.repo.file_trash(limit)?)
    }

    /// Forgets trash whose objects are deleted.
    pub fn forget_file_trash(&self, ids: &[String]) -> DomainResult<()> {
        Ok(self.repo.forget_file_trash(ids)?)
    }
}
