//! The event bus: how an event reaches the hub of every server process. One process needs only
//! [`LocalBus`](crate::LocalBus); a cluster swaps in a bus that crosses processes, and nothing
//! else changes. A leaf: the hub depends on the bus, never the other way round.
use std::sync::Arc;

use huddle_domain::{DomainEvent, EventPublisher, RoomId, UserId};

// Domain events are the common case by far; boxing them would add an allocation per event
// to save a few bytes on the rare typing and presence ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// A committed change (message, membership, room).
    Domain(DomainEvent),
    /// Someone is typing; never stored.
    Typing { room_id: RoomId, user_id: UserId },
    /// A user's first connection opened or last one closed; `room_ids` are the rooms whose
    /// members are told.
    Presence {
        user_id: UserId,
        online: bool,
        room_ids: Vec<RoomId>,
    },
    /// Sessions (user, session id) that just ended: every node refuses their tokens from now
    /// on and closes their sockets with 4401.
    SessionsEnded { sessions: Vec<(UserId, String)> },
}

pub trait EventBus: Send + Sync + 'static {
    /// Hands the event to every hub, this process's included. Must not block.
    fn publish(&self, event: BusEvent);

    /// This process gained (`true`) or lost its last local connection in a room, so a bus
    /// that crosses processes can follow only the rooms somebody here listens to.
    fn watch_room(&self, _room_id: RoomId, _watching: bool) {}

    /// Likewise for a user's connections (events addressed to the user, e.g. being added to a
    /// room this process does not follow yet).
    fn watch_user(&self, _user_id: UserId, _watching: bool) {}
}

/// The domain services' publisher: their events go onto the bus.
pub struct BusPublisher {
    bus: Arc<dyn EventBus>,
}

impl BusPublisher {
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self { bus }
    }
}

impl EventPublisher for BusPublisher {
    fn publish(&self, event: DomainEvent) {
        self.bus.publish(BusEvent::Domain(event));
    }
}
