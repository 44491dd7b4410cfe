//! What the hub reads from the database, and how: off its own task (a read blocks a thread),
//! with the answer coming back as a command, so the hub task never waits on storage.
//!
//! The reads are behind [`HubStore`], two methods wide, so the hub can be driven with no
//! database (benchmarks, unit tests) without stubbing the whole repository.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use huddle_domain::repository::HistoryWindow;
use huddle_domain::repository::RepoResult;
use huddle_domain::{EndedSession, Message, Repository, RoomId};

use crate::bus::BusEvent;
use crate::hub::handle::{HubCommand, HubHandle};

/// The hub's reads.
pub(crate) trait HubStore: Send + Sync + 'static {
    /// Up to `limit` of a room's messages after seq `after`, ascending.
    fn messages_after(&self, room_id: RoomId, after: i64, limit: usize)
        -> RepoResult<Vec<Message>>;
    fn sessions_ended_since(&self, since: DateTime<Utc>) -> RepoResult<Vec<EndedSession>>;
}

/// The repository the server runs on, as the hub's store.
pub(crate) struct RepoStore(pub(crate) Arc<dyn Repository>);

impl HubStore for RepoStore {
    fn messages_after(
        &self,
        room_id: RoomId,
        after: i64,
        limit: usize,
    ) -> RepoResult<Vec<Message>> {
        self.0.history(room_id, HistoryWindow::After(after), limit)
    }

    fn sessions_ended_since(&self, since: DateTime<Utc>) -> RepoResult<Vec<EndedSession>> {
        self.0.sessions_ended_since(since)
    }
}

/// Asks the hub to look at a room's gap after `wait`: the missing message is usually only
/// late (published after its successor), and the database is read only if it stays missing.
pub(crate) fn check_gap_after(handle: &HubHandle, room_id: RoomId, wait: Duration) {
    let handle = handle.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        handle.send(HubCommand::GapCheck { room_id });
    });
}

/// Reads up to `limit` of a room's messages after `after` and feeds them to the hub as
/// `GapFilled` (none when the read fails: the hub then gives up on the gap as if the database
/// lacked it too, rather than hold the room forever).
pub(crate) fn fill(
    handle: &HubHandle,
    store: &Arc<dyn HubStore>,
    room_id: RoomId,
    after: i64,
    limit: usize,
    missing_up_to: Option<i64>,
) {
    let store = store.clone();
    let handle = handle.clone();
    tokio::task::spawn_blocking(move || {
        let messages = match store.messages_after(room_id, after, limit) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(room_id, error = %e, "gap fill failed");
                Vec::new()
            }
        };
        handle.send(HubCommand::GapFilled {
            room_id,
            messages,
            missing_up_to,
        });
    });
}

/// After a bus outage, endings announced meanwhile were missed: reads those within `window`
/// and hands them to the hub as if the bus had brought them.
pub(crate) fn reload_ended_sessions(
    handle: &HubHandle,
    store: &Arc<dyn HubStore>,
    window: Duration,
) {
    let store = store.clone();
    let hub = handle.clone();
    tokio::task::spawn_blocking(move || {
        let since = Utc::now()
            - chrono::Duration::from_std(window).unwrap_or_else(|_| chrono::Duration::hours(1));
        match store.sessions_ended_since(since) {
            Ok(ended) if !ended.is_empty() => hub.deliver(BusEvent::SessionsEnded {
                sessions: ended.into_iter().map(|e| (e.user_id, e.id)).collect(),
            }),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not reload ended sessions"),
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::hub::handle::HubQueue;
    use huddle_domain::memory::MemoryRepository;
    use huddle_domain::repository::{
        MessageRepository, NewMessage, NewUser, RoomRepository, UserRepository,
    };

    use super::*;

    fn repo_with_messages(n: usize) -> (Arc<MemoryRepository>, RoomId) {
        let repo = Arc::new(MemoryRepository::new());
        let user = repo
            .create_user(NewUser {
                username: "ann".into(),
                display_name: "Ann".into(),
                password_hash: "x".into(),
            })
            .unwrap();
        let room = repo
            .create_room(huddle_domain::repository::NewRoom {
                name: "general".into(),
                description: String::new(),
                is_private: false,
                owner_id: user.id,
            })
            .unwrap();
        for i in 0..n {
            repo.store_message(NewMessage {
                room_id: room.id,
                author_id: user.id,
                body: format!("m{i}"),
                client_msg_id: None,
                reply_to: None,
                mentions: Default::default(),
                attachments: Vec::new(),
            })
            .unwrap();
        }
        (repo, room.id)
    }

    async fn next(rx: &mut HubQueue) -> HubCommand {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the hub was told in time")
            .expect("the handle is alive")
    }

    #[tokio::test]
    async fn a_fill_reads_past_the_gap_and_tells_the_hub() {
        let (repo, room) = repo_with_messages(5);
        let store: Arc<dyn HubStore> = Arc::new(RepoStore(repo.clone()));
        let (handle, mut rx) = HubHandle::new();
        fill(&handle, &store, room, 2, 2, Some(4));
        match next(&mut rx).await {
            HubCommand::GapFilled {
                room_id,
                messages,
                missing_up_to,
            } => {
                assert_eq!(room_id, room);
                assert_eq!(messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
                assert_eq!(missing_up_to, Some(4));
            }
            _ => panic!("not a fill"),
        }
        // A failed read still answers, with nothing: the hub must not wait forever.
        repo.set_unavailable(true);
        fill(&handle, &store, room, 0, 10, None);
        assert!(matches!(
            next(&mut rx).await,
            HubCommand::GapFilled { messages, .. } if messages.is_empty()
        ));
    }

    #[tokio::test]
    async fn a_gap_is_checked_only_after_the_wait() {
        let (handle, mut rx) = HubHandle::new();
        let started = std::time::Instant::now();
        check_gap_after(&handle, 9, Duration::from_millis(50));
        assert!(matches!(
            next(&mut rx).await,
            HubCommand::GapCheck { room_id: 9 }
        ));
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "not before the wait"
        );
    }

    struct Ended(Vec<EndedSession>);

    impl HubStore for Ended {
        fn messages_after(&self, _: RoomId, _: i64, _: usize) -> RepoResult<Vec<Message>> {
            Ok(Vec::new())
        }
        fn sessions_ended_since(&self, since: DateTime<Utc>) -> RepoResult<Vec<EndedSession>> {
            assert!(since < Utc::now() - chrono::Duration::minutes(14));
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn ended_sessions_come_back_as_a_bus_event() {
        let (handle, mut rx) = HubHandle::new();
        let ended = EndedSession {
            id: "s1".into(),
            user_id: 4,
            revoked_at: Utc::now(),
        };
        let store: Arc<dyn HubStore> = Arc::new(Ended(vec![ended]));
        reload_ended_sessions(&handle, &store, Duration::from_secs(15 * 60));
        match next(&mut rx).await {
            HubCommand::Deliver(BusEvent::SessionsEnded { sessions }) => {
                assert_eq!(sessions, [(4, "s1".to_owned())]);
            }
            _ => panic!("not the endings"),
        }
        // None ended: nothing to deliver.
        let store: Arc<dyn HubStore> = Arc::new(Ended(Vec::new()));
        reload_ended_sessions(&handle, &store, Duration::from_secs(15 * 60));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err());
    }
}
