//! Deletes the objects of files whose message or room is gone. The database moves their ids to
//! its trash in the transaction that deletes them (so none is ever forgotten, whatever crashes
//! when); the janitor deletes each object, then forgets the id. Deleting twice is harmless, so
//! every node of a cluster may run one.
use std::sync::Arc;
use std::time::Duration;

use huddle_domain::service::ChatService;
use tokio::sync::Notify;

use crate::FileStore;

/// Ids taken from the trash per round.
const BATCH: usize = 100;

/// Empties the trash; how many objects were deleted. Stops at the first failure (the rest
/// stays in the trash for the next round).
pub async fn sweep(chat: &ChatService, store: &FileStore) -> usize {
    let mut deleted = 0;
    loop {
        let c = chat.clone();
        let ids = match tokio::task::spawn_blocking(move || c.file_trash(BATCH)).await {
            Ok(Ok(ids)) => ids,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "file trash unreadable");
                return deleted;
            }
            Err(_) => return deleted,
        };
        if ids.is_empty() {
            return deleted;
        }
        let mut gone = Vec::with_capacity(ids.len());
        for id in ids {
            match store.delete(&id).await {
                Ok(()) => gone.push(id),
                Err(e) => {
                    tracing::warn!(error = %e, file = %id, "file not deleted; retried later");
                    break;
                }
            }
        }
        let progress = gone.len();
        deleted += progress;
        let c = chat.clone();
        match tokio::task::spawn_blocking(move || c.forget_file_trash(&gone)).await {
            Ok(Ok(())) if progress == BATCH => continue,
            Ok(Ok(())) => return deleted,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "file trash not updated");
                return deleted;
            }
            Err(_) => return deleted,
        }
    }
}

/// Runs [`sweep`] every `every`, and at once whenever `wake` is notified (after a delete).
pub fn spawn(
    chat: ChatService,
    store: FileStore,
    every: Duration,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let n = sweep(&chat, &store).await;
            if n > 0 {
                tracing::info!(deleted = n, "deleted files of deleted messages");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = wake.notified() => {}
            }
        }
    })
}
