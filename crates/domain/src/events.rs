//! Domain events: what happened, for whoever shows it live. The realtime crate turns them into
//! WebSocket frames; the services never know who listens.
use serde::{Deserialize, Serialize};

use crate::entities::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum DomainEvent {
    #[serde(rename = "message.created")]
    MessageCreated {
        room_id: RoomId,
        message: Message,
        event_seq: i64,
    },
    #[serde(rename = "message.updated")]
    MessageUpdated {
        room_id: RoomId,
        message: Message,
        event_seq: i64,
    },
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        room_id: RoomId,
        message_id: MessageId,
        seq: i64,
        event_seq: i64,
    },
    #[serde(rename = "member.joined")]
    MemberJoined {
        room_id: RoomId,
        member: Member,
        event_seq: i64,
    },
    #[serde(rename = "member.left")]
    MemberLeft {
        room_id: RoomId,
        user_id: UserId,
        event_seq: i64,
    },
    #[serde(rename = "room.updated")]
    RoomUpdated { room: Room, event_seq: i64 },
    #[serde(rename = "room.deleted")]
    RoomDeleted { room_id: RoomId },
    /// A member read further. Goes to the reader's own sockets, and to the room's members when
    /// `shared` (the reader shares read receipts).
    #[serde(rename = "read.updated")]
    ReadUpdated {
        room_id: RoomId,
        user_id: UserId,
        last_read_seq: i64,
        shared: bool,
    },
    /// `seq` is the message's, so a client places the change after the message itself.
    #[serde(rename = "reaction.added")]
    ReactionAdded {
        room_id: RoomId,
        message_id: MessageId,
        seq: i64,
        emoji: String,
        user_id: UserId,
        event_seq: i64,
    },
    #[serde(rename = "reaction.removed")]
    ReactionRemoved {
        room_id: RoomId,
        message_id: MessageId,
        seq: i64,
        emoji: String,
        user_id: UserId,
        event_seq: i64,
    },
}

impl DomainEvent {
    pub fn room_id(&self) -> RoomId {
        match self {
            DomainEvent::MessageCreated { room_id, .. }
            | DomainEvent::MessageUpdated { room_id, .. }
            | DomainEvent::MessageDeleted { room_id, .. }
            | DomainEvent::MemberJoined { room_id, .. }
            | DomainEvent::MemberLeft { room_id, .. }
            | DomainEvent::RoomDeleted { room_id, .. }
            | DomainEvent::ReadUpdated { room_id, .. }
            | DomainEvent::ReactionAdded { room_id, .. }
            | DomainEvent::ReactionRemoved { room_id, .. } => *room_id,
            DomainEvent::RoomUpdated { room, .. } => room.id,
        }
    }

    /// The event's place in its room's log (see [`crate::event_log`]); `None` for what is not
    /// logged: a room's deletion (the log goes with the room) and read marks (a user's state,
    /// which `ready` carries whole).
    pub fn event_seq(&self) -> Option<i64> {
        match self {
            DomainEvent::MessageCreated { event_seq, .. }
            | DomainEvent::MessageUpdated { event_seq, .. }
            | DomainEvent::MessageDeleted { event_seq, .. }
            | DomainEvent::MemberJoined { event_seq, .. }
            | DomainEvent::MemberLeft { event_seq, .. }
            | DomainEvent::RoomUpdated { event_seq, .. }
            | DomainEvent::ReactionAdded { event_seq, .. }
            | DomainEvent::ReactionRemoved { event_seq, .. } => Some(*event_seq),
            DomainEvent::RoomDeleted { .. } | DomainEvent::ReadUpdated { .. } => None,
        }
    }
}

/// Where services announce committed changes. Publishing must not block or fail the caller: the
/// change is already stored, and clients that miss an event catch up with `sync`.
pub trait EventPublisher: Send + Sync {
    fn publish(&self, event: DomainEvent);
}

/// For tools and tests that need no live delivery.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopPublisher;

impl EventPublisher for NoopPublisher {
    fn publish(&self, _event: DomainEvent) {}
}
