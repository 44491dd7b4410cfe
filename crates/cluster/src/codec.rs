//! What travels between processes: the event plus where it came from, so a process can skip
//! its own events (it delivered them locally already) and drop one it got on two channels.
//!
//! Every process hears its own events back from Redis (it follows the rooms it publishes to),
//! so a subscriber reads the origin and id first and parses the event only when it is new
//! ([`Head`]). The event is externally tagged, and a new message (nearly every event) has a
//! variant of its own: serde reads an internally tagged enum (`DomainEvent`'s `type`) by
//! buffering the whole object first, which was most of the decoding's cost. The format is for
//! processes of one release; a process that cannot read an event drops it, and its clients
//! catch the messages up from the database (gap fill, `sync`).
use std::borrow::Cow;

use huddle_domain::{DomainEvent, Message, RoomId, UserId};
use huddle_realtime::BusEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Envelope {
    /// The publishing process.
    pub origin: String,
    /// Unique per origin, for dropping duplicates.
    pub id: u64,
    pub event: WireEvent,
}

/// An envelope as read off the wire, its event not parsed yet.
#[derive(Debug, Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(borrow)]
    pub origin: Cow<'a, str>,
    pub id: u64,
    #[serde(borrow)]
    event: &'a RawValue,
}

impl<'a> Head<'a> {
    pub fn decode(payload: &'a [u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(payload)
    }

    pub fn event(&self) -> serde_json::Result<WireEvent> {
        serde_json::from_str(self.event.get())
    }
}

// Mirrors `BusEvent`, whose domain events are the common case; see there.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireEvent {
    /// `DomainEvent::MessageCreated`, the hot one.
    Message {
        room_id: RoomId,
        message: Message,
        event_seq: i64,
    },
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
            BusEvent::Domain(DomainEvent::MessageCreated {
                room_id,
                message,
                event_seq,
            }) => WireEvent::Message {
                room_id,
                message,
                event_seq,
            },
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
            WireEvent::Message {
                room_id,
                message,
                event_seq,
            } => BusEvent::Domain(DomainEvent::MessageCreated {
                room_id,
                message,
                event_seq,
            }),
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
    use huddle_domain::{ReplyPreview, User};

    use super::*;

    fn user(id: UserId) -> User {
        User {
            id,
            username: format!("user{id}"),
            display_name: "Zoë \"Z\" \u{1F600}".into(),
            bio: String::new(),
            created_at: "2026-12-01T10:00:00.123456Z".parse().unwrap(),
        }
    }

    fn message() -> Message {
        Message {
            id: 41,
            room_id: 9,
            seq: 17,
            author: user(7),
            body: "line one\nline \"two\" @user8 \u{0007} ünïcödé".into(),
            client_msg_id: Some("c-1".into()),
            created_at: "2026-12-07T04:00:00.987654321Z".parse().unwrap(),
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            // Not on the wire: the event carries it.
            event_seq: 0,
            reply_to: Some(Box::new(ReplyPreview {
                id: 40,
                seq: 16,
                author: user(8),
                body_preview: "earlier".into(),
                deleted: false,
            })),
            reply_to_id: None,
            mentions: vec![8],
            mentions_room: false,
            attachments: Vec::new(),
        }
    }

    #[test]
    fn envelopes_round_trip() {
        for event in [
            BusEvent::Domain(DomainEvent::MessageCreated {
                room_id: 9,
                message: message(),
                event_seq: 23,
            }),
            BusEvent::Domain(DomainEvent::MessageUpdated {
                room_id: 9,
                message: message(),
                event_seq: 24,
            }),
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
                origin: "node \"a\"".into(),
                id: 7,
                event: event.clone().into(),
            };
            let text = serde_json::to_vec(&env).unwrap();
            let head = Head::decode(&text).unwrap();
            assert_eq!((head.origin.as_ref(), head.id), ("node \"a\"", 7));
            let back = head.event().unwrap();
            assert_eq!(back, env.event);
            assert_eq!(BusEvent::from(back), event);
        }
    }

    #[test]
    fn a_new_message_travels_in_its_own_variant() {
        let event = WireEvent::from(BusEvent::Domain(DomainEvent::MessageCreated {
            room_id: 9,
            message: message(),
            event_seq: 23,
        }));
        assert!(matches!(event, WireEvent::Message { event_seq: 23, .. }));
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.starts_with(r#"{"message":{"room_id":9,"#), "{text}");
    }

    #[test]
    fn an_unknown_event_is_an_error_but_its_head_still_reads() {
        let text = br#"{"origin":"n2","id":3,"event":{"something_new":{"x":1}}}"#;
        let head = Head::decode(text).unwrap();
        assert_eq!((head.origin.as_ref(), head.id), ("n2", 3));
        assert!(head.event().is_err());
        for bad in [
            &b"{\"origin\":\"n2\",\"id\":3,\"event\":{"[..],
            b"",
            b"[]",
            b"\xff",
        ] {
            assert!(Head::decode(bad).is_err());
        }
    }
}
