//! What travels between processes: the event plus where it came from, so a process can skip
//! its own events (it delivered them locally already) and drop one it got on two channels.
use huddle_domain::{DomainEvent, RoomId, UserId};
use huddle_realtime::BusEvent;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The publishing process.
    pub origin: String,
    /// Unique per origin, for dropping duplicates.
    pub id: u64,
    pub event: WireEvent,
}

// Mirrors `BusEvent`, whose domain events are the common case; see there.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WireEvent {
    Domain {
        event: DomainEvent,
    },
    Typing {
        room_id: RoomId,
        user_id: UserId,
    },
    Presence {
        user_id: UserId,
        online: bool,
        room_ids: Vec<RoomId>,
    },
    SessionsEnded {
        sessions: Vec<(UserId, String)>,
    },
}

impl From<BusEvent> for WireEvent {
    fn from(e: BusEvent) -> Self {
        match e {
            BusEvent::Domain(event) => WireEvent::Domain { event },
            BusEvent::Typing { room_id, user_id } => WireEvent::Typing { room_id, user_id },
            BusEvent::Presence {
                user_id,
                online,
                room_ids,
            } => WireEvent::Presence {
                user_id,
                online,
                room_ids,
            },
            BusEvent::SessionsEnded { sessions } => WireEvent::SessionsEnded { sessions },
        }
    }
}

impl From<WireEvent> for BusEvent {
    fn from(e: WireEvent) -> Self {
        match e {
            WireEvent::Domain { event } => BusEvent::Domain(event),
            WireEvent::Typing { room_id, user_id } => BusEvent::Typing { room_id, user_id },
            WireEvent::Presence {
                user_id,
                online,
                room_ids,
            } => BusEvent::Presence {
                user_id,
                online,
                room_ids,
            },
            WireEvent::SessionsEnded { sessions } => BusEvent::SessionsEnded { sessions },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        for event in [
            BusEvent::Typing {
                room_id: 1,
                user_id: 2,
            },
            BusEvent::Presence {
                user_id: 3,
                online: false,
                room_ids: vec![4, 5],
            },
            BusEvent::Domain(DomainEvent::RoomDeleted { room_id: 9 }),
            BusEvent::Domain(DomainEvent::MemberLeft {
                room_id: 9,
                user_id: 7,
                event_seq: 12,
            }),
            BusEvent::SessionsEnded {
                sessions: vec![(7, "abc".into()), (8, "def".into())],
            },
        ] {
            let env = Envelope {
                origin: "n1".into(),
                id: 7,
                event: event.clone().into(),
            };
            let text = serde_json::to_string(&env).unwrap();
            let back: Envelope = serde_json::from_str(&text).unwrap();
            assert_eq!(back, env);
            assert_eq!(BusEvent::from(back.event), event);
        }
    }
}
