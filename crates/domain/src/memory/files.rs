use super::MemoryRepository;
use crate::files::{Attachment, FileLinks, PlainLinks, StoredFile};
use crate::repository::{FileRepository, NewAttachment, RepoResult};

/// An attachment as a message shows it.
pub(super) fn attachment(a: &NewAttachment, links: &dyn FileLinks) -> Attachment {
    Attachment {
        id: a.id.clone(),
        name: a.name.clone(),
        content_type: a.content_type.clone(),
        size: a.size,
        width: a.width,
        height: a.height,
        url: links.url(&a.id),
    }
}

impl FileRepository for MemoryRepository {
    fn file(&self, id: &str) -> RepoResult<Option<StoredFile>> {
        let s = self.lock()?;
        Ok(s.messages.values().find_map(|m| {
            m.attachments
                .iter()
                .find(|a| a.id == id)
                .map(|a| StoredFile {
                    room_id: m.room_id,
                    attachment: attachment(a, &PlainLinks),
                })
        }))
    }

    fn file_trash(&self, limit: usize) -> RepoResult<Vec<String>> {
        Ok(self
            .lock()?
            .file_trash
            .iter()
            .take(limit)
            .cloned()
            .collect())
    }

    fn forget_file_trash(&self, ids: &[String]) -> RepoResult<()> {
        self.lock()?.file_trash.retain(|id| !ids.contains(id));
        Ok(())
    }
}
