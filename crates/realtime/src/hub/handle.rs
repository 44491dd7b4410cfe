//! How everything outside the hub task talks to it: the commands it takes ([`HubCommand`]),
//! the cheap cloneable [`HubHandle`] that sends them and reads what the hub publishes (its
//! counters, its membership epoch, who is online here), and [`LocalBus`], the single-process
//! bus, which is only a handle. Kept apart from the hub itself so that the bus, the gateway and
//! the connections depend on this small module and not on the hub's internals.
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use huddle_domain::presence::{OnlineFuture, PresenceDirectory};
use huddle_domain::{Message, RoomCursor, RoomId, UserId};
use tokio::sync::mpsc;

use crate::bus::{BusEvent, EventBus};
use crate::link::{ConnId, Kill};
use crate::outbox::OutboxSender;
use crate::send_gate::SendGate;

// A delivered event (a message, with its quote and mentions) is the largest command and by far
// the most frequent: boxing it would cost an allocation per event to save channel slots that
// hold a few hundred bytes each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum HubCommand {
    /// A connection with its user's rooms as read from the database after the hub's
    /// membership epoch was `since_epoch`. Membership changes the hub handled after that may
    /// be missing from `rooms`: the hub applies them on top, so a join or kick racing the
    /// connect is not lost (nor a kicked user left following the room).
    Register {
        conn: ConnId,
        user_id: UserId,
        rooms: Vec<RoomCursor>,
        since_epoch: u64,
        tx: OutboxSender,
        kill: Arc<Kill>,
        /// The login its token belongs to: the socket closes when that session ends.
        session_id: Arc<str>,
    },
    Unregister {
        conn: ConnId,
    },
    /// The connection re-authenticated with a token of another session.
    Reauthed {
        conn: ConnId,
        session_id: Arc<str>,
    },
    Typing {
        conn: ConnId,
        room_id: RoomId,
    },
    Deliver(BusEvent),
    GapCheck {
        room_id: RoomId,
    },
    GapFilled {
        room_id: RoomId,
        messages: Vec<Message>,
        /// The last seq the read was for: if it is still missing afterwards, the database does
        /// not have it either and waiting longer is pointless. `None` for catch-up reads.
        missing_up_to: Option<i64>,
    },
    /// Events may have been lost (the bus was down): read every followed room's messages
    /// past what was delivered.
    Resync,
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    pub connections: AtomicU64,
    pub users_online: AtomicU64,
    pub deliveries: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    /// Events not queued because a connection's outbound queue was full.
    pub queue_drops: AtomicU64,
    pub gap_fills: AtomicU64,
}

/// The hub's queue: each command with when it was sent, so the hub knows how far behind it
/// runs (the [`SendGate`]).
pub(crate) struct HubQueue(mpsc::UnboundedReceiver<(Instant, HubCommand)>);

impl HubQueue {
    /// The next command and when it was sent.
    pub(crate) async fn recv_stamped(&mut self) -> Option<(Instant, HubCommand)> {
        self.0.recv().await
    }

    pub(crate) fn try_recv_stamped(
        &mut self,
    ) -> Result<(Instant, HubCommand), mpsc::error::TryRecvError> {
        self.0.try_recv()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<HubCommand> {
        self.0.recv().await.map(|(_, cmd)| cmd)
    }

    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Result<HubCommand, mpsc::error::TryRecvError> {
        self.0.try_recv().map(|(_, cmd)| cmd)
    }
}

/// A cheap, cloneable way to talk to the hub from any thread.
#[derive(Clone)]
pub struct HubHandle {
    tx: mpsc::UnboundedSender<(Instant, HubCommand)>,
    stats: Arc<HubStats>,
    /// How many membership changes (joins, leaves, room deletions) the hub has handled.
    membership_epoch: Arc<AtomicU64>,
    /// Users with a connection in this process. Written only by the hub task; never held
    /// across an await.
    online: Arc<RwLock<HashSet<UserId>>>,
    gate: Arc<SendGate>,
}

impl HubHandle {
    /// A handle and the queue of the hub task it talks to, with no [`SendGate`] limit.
    #[cfg(test)]
    pub(crate) fn new() -> (HubHandle, HubQueue) {
        Self::with_lag_limit(None)
    }

    /// Likewise, with sends held back while fan-out lags more than `lag_limit`.
    pub(crate) fn with_lag_limit(lag_limit: Option<Duration>) -> (HubHandle, HubQueue) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = HubHandle {
            tx,
            stats: Arc::new(HubStats::default()),
            membership_epoch: Arc::new(AtomicU64::new(0)),
            online: Arc::new(RwLock::new(HashSet::new())),
            gate: Arc::new(SendGate::new(lag_limit)),
        };
        (handle, HubQueue(rx))
    }

    pub(crate) fn send(&self, cmd: HubCommand) {
        // Fails only when the hub has stopped, i.e. the process is going down.
        let _ = self.tx.send((Instant::now(), cmd));
    }

    /// Whether sends may be read now; a cluster bus reports the other processes' lag to it.
    pub fn send_gate(&self) -> &Arc<SendGate> {
        &self.gate
    }

    /// An event from the bus, for this process's connections.
    pub fn deliver(&self, event: BusEvent) {
        self.send(HubCommand::Deliver(event));
    }

    /// After a bus outage: catch every followed room up from the database.
    pub fn resync(&self) {
        self.send(HubCommand::Resync);
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// Read before loading a connecting user's rooms, for [`HubCommand::Register`].
    pub(crate) fn membership_epoch(&self) -> u64 {
        self.membership_epoch.load(Ordering::Acquire)
    }

    /// Published by the hub after it logged a membership change.
    pub(crate) fn set_membership_epoch(&self, epoch: u64) {
        self.membership_epoch.store(epoch, Ordering::Release);
    }

    /// Whether the user has a connection in this process.
    pub fn is_online_here(&self, user_id: UserId) -> bool {
        self.online
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user_id)
    }

    /// Set by the hub when a user's first connection here opens or last one closes.
    pub(crate) fn set_online(&self, user_id: UserId, online: bool) {
        let mut set = self.online.write().unwrap_or_else(|p| p.into_inner());
        if online {
            set.insert(user_id);
        } else {
            set.remove(&user_id);
        }
    }
}

/// A single process's presence: its own connections.
impl PresenceDirectory for HubHandle {
    fn online_among<'a>(&'a self, users: &'a [UserId]) -> OnlineFuture<'a> {
        let online: HashSet<UserId> = users
            .iter()
            .copied()
            .filter(|u| self.is_online_here(*u))
            .collect();
        Box::pin(async move { online })
    }
}

/// The single-process bus: straight into this process's hub.
pub struct LocalBus {
    hub: HubHandle,
}

impl LocalBus {
    pub fn new(hub: HubHandle) -> Self {
        Self { hub }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: BusEvent) {
        self.hub.deliver(event);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn the_local_bus_hands_events_to_its_hub() {
        let (handle, mut rx) = HubHandle::new();
        let bus = LocalBus::new(handle.clone());
        let event = BusEvent::Typing {
            room_id: 1,
            user_id: 2,
        };
        bus.publish(event.clone());
        handle.resync();
        assert!(matches!(rx.try_recv(), Ok(HubCommand::Deliver(e)) if e == event));
        assert!(matches!(rx.try_recv(), Ok(HubCommand::Resync)));
        drop(rx);
        // A stopped hub is not an error for its callers.
        handle.resync();
    }

    #[test]
    fn online_users_answer_presence_queries() {
        let (handle, _rx) = HubHandle::new();
        handle.set_online(1, true);
        handle.set_online(2, true);
        handle.set_online(2, false);
        assert!(handle.is_online_here(1) && !handle.is_online_here(2));
        let online = handle.online_among(&[1, 2, 3]).now_or_never().unwrap();
        assert_eq!(online, HashSet::from([1]));
        handle.set_membership_epoch(7);
        assert_eq!(handle.membership_epoch(), 7);
    }
}
