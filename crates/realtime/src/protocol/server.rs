//! Server frames: every frame the server writes is rendered here, from typed values, so the
//! wire format lives in one file and a reply's `ref` is added the same way everywhere.
//!
//! Replies are built with `serde_json::json!` (keys in sorted order) except where a frame is on
//! the hot path (`ack`, events), which is serialised straight from the entity.
use huddle_auth::AuthError;
use huddle_domain::{
    Chain, DomainError, DomainEvent, ErrorCode, Member, Message, MessageId, RoomCursor, RoomId,
    Unread, User, UserId,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::protocol::frame::Frame;

/// Adds `ref` to a reply when the client gave one.
pub(crate) fn with_ref(mut frame: Value, reference: Option<&str>) -> String {
    if let (Some(r), Some(obj)) = (reference, frame.as_object_mut()) {
        obj.insert("ref".into(), Value::String(r.to_owned()));
    }
    frame.to_string()
}

/// The `ack` of a stored send. Serialised straight from the message, as `message.created` is:
/// there is one per send, and building a `serde_json::Value` of the message first cost about
/// as much again as the serialising.
pub(crate) fn ack_frame(message: &Message, reference: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Ack<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        message: &'a Message,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
    }
    serde_json::to_string(&Ack {
        kind: "ack",
        message,
        reference,
    })
    .unwrap_or_else(|e| {
        // Entities are plain data; this cannot fail short of a bug.
        tracing::error!(error = %e, "could not serialise an ack");
        error_frame(
            reference,
            ErrorCode::Internal,
            "the message was stored, but its ack was lost",
        )
    })
}

pub(crate) fn error_frame(reference: Option<&str>, code: ErrorCode, message: &str) -> String {
    with_ref(
        json!({"type": "error", "code": code, "message": message}),
        reference,
    )
}

pub(crate) fn domain_error_frame(reference: Option<&str>, e: &DomainError) -> String {
    if let DomainError::Repository(r) = e {
        if r.code().http_status() >= 500 {
            tracing::error!(error = %Chain(r), "socket command failed in storage");
        }
    }
    let mut frame = json!({"type": "error", "code": e.code(), "message": e.public_message()});
    if let Some(field) = e.field() {
        frame["field"] = json!(field);
    }
    with_ref(frame, reference)
}

pub(crate) fn auth_error_frame(reference: Option<&str>, e: &AuthError) -> String {
    match e {
        AuthError::Domain(d) => domain_error_frame(reference, d),
        other => {
            if other.code() == ErrorCode::Internal {
                tracing::error!(error = %Chain(other), "socket authentication failed");
            }
            error_frame(reference, other.code(), &other.public_message())
        }
    }
}

/// Serialises a domain event once, for every receiver.
pub(crate) fn event_frame(event: &DomainEvent) -> Frame {
    match serde_json::to_string(event) {
        Ok(s) => Frame::from(s),
        Err(e) => {
            // Entities are plain data; this cannot fail short of a bug.
            tracing::error!(error = %e, "could not serialise an event");
            Frame::from_static(
                "{\"type\":\"error\",\"code\":\"internal\",\"message\":\"event lost\"}",
            )
        }
    }
}

pub(crate) fn typing_frame(room_id: RoomId, user_id: UserId) -> Frame {
    Frame::from(json!({"type": "typing", "room_id": room_id, "user_id": user_id}).to_string())
}

pub(crate) fn presence_frame(user_id: UserId, online: bool) -> Frame {
    let status = if online { "online" } else { "offline" };
    Frame::from(json!({"type": "presence", "user_id": user_id, "status": status}).to_string())
}

/// The first frame of an authenticated socket: who the client is and where each of its rooms
/// stands (its newest seq and event seq, so it knows what to `sync`, and the user's read state
/// there, so badges are right before anything else arrives).
pub(crate) fn ready(
    user: &User,
    rooms: &[RoomCursor],
    unread: &[Unread],
    connection_id: &str,
) -> String {
    let rooms: Vec<Value> = rooms
        .iter()
        .map(|c| {
            let read = unread.iter().find(|u| u.room_id == c.room_id);
            json!({
                "room_id": c.room_id,
                "last_seq": c.last_seq,
                "last_event_seq": c.last_event_seq,
                "last_read_seq": read.map_or(0, |u| u.last_read_seq),
                "unread_count": read.map_or(0, |u| u.unread_count),
                "mention_count": read.map_or(0, |u| u.mention_count),
            })
        })
        .collect();
    json!({
        "type": "ready",
        "user": user,
        "rooms": rooms,
        "connection_id": connection_id,
    })
    .to_string()
}

/// A new message mentions the receiver (by name, or the whole room).
pub(crate) fn mention_frame(room_id: RoomId, message: &Message) -> Frame {
    Frame::from(json!({"type": "mention", "room_id": room_id, "message": message}).to_string())
}

/// The room's log no longer reaches back to where the client is: it reloads the history.
pub(crate) fn sync_reset(room_id: RoomId, reference: Option<&str>) -> String {
    with_ref(json!({"type": "sync.reset", "room_id": room_id}), reference)
}

pub(crate) fn pong(reference: Option<&str>) -> String {
    with_ref(json!({"type": "pong"}), reference)
}

pub(crate) fn reauthed(expires_in: u64, reference: Option<&str>) -> String {
    with_ref(
        json!({"type": "reauthed", "expires_in": expires_in}),
        reference,
    )
}

pub(crate) fn edited(room_id: RoomId, message: &Message, reference: Option<&str>) -> String {
    with_ref(
        json!({"type": "edited", "room_id": room_id, "message": message}),
        reference,
    )
}

/// The answer to a `read` frame: the sender's state in the room after it.
pub(crate) fn read(unread: &Unread, reference: Option<&str>) -> String {
    with_ref(
        json!({"type": "read", "room_id": unread.room_id, "last_read_seq": unread.last_read_seq,
               "unread_count": unread.unread_count, "mention_count": unread.mention_count}),
        reference,
    )
}

/// The answer to a `react` frame: the reaction as it now stands for the sender.
pub(crate) fn reacted(
    room_id: RoomId,
    message_id: MessageId,
    emoji: &str,
    on: bool,
    reference: Option<&str>,
) -> String {
    with_ref(
        json!({"type": "reacted", "room_id": room_id, "message_id": message_id, "emoji": emoji, "on": on}),
        reference,
    )
}

pub(crate) fn deleted(room_id: RoomId, message_id: MessageId, reference: Option<&str>) -> String {
    with_ref(
        json!({"type": "deleted", "room_id": room_id, "message_id": message_id}),
        reference,
    )
}

pub(crate) fn joined(room_id: RoomId, member: &Member, reference: Option<&str>) -> String {
    with_ref(
        json!({"type": "joined", "room_id": room_id, "member": member}),
        reference,
    )
}

pub(crate) fn left(room_id: RoomId, reference: Option<&str>) -> String {
    with_ref(json!({"type": "left", "room_id": room_id}), reference)
}

/// Ends a `sync`: every replayed message is before it.
pub(crate) fn synced(reference: Option<&str>) -> String {
    with_ref(json!({"type": "synced"}), reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn ann() -> User {
        User {
            id: 1,
            username: "ann".into(),
            display_name: "Ann \"A\"".into(),
            bio: String::new(),
            created_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    fn message() -> Message {
        Message {
            id: 7,
            room_id: 3,
            seq: 2,
            author: ann(),
            body: "hi\nthere".into(),
            client_msg_id: Some("c1".into()),
            created_at: chrono::DateTime::from_timestamp(1_700_000_001, 5_000).unwrap(),
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            event_seq: 4,
            reply_to: None,
            reply_to_id: None,
            mentions: Vec::new(),
            mentions_room: false,
            attachments: Vec::new(),
        }
    }

    #[test]
    fn replies_carry_the_ref() {
        let s = error_frame(Some("r1"), ErrorCode::Forbidden, "no");
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["ref"], "r1");
        assert_eq!(v["type"], "error");
        let s = error_frame(None, ErrorCode::Internal, "y");
        assert!(!s.contains("ref"));
    }

    #[test]
    fn an_ack_is_the_message_and_the_ref() {
        let message = message();
        assert_eq!(
            value(&ack_frame(&message, Some("r1"))),
            json!({"type": "ack", "message": message, "ref": "r1"})
        );
        assert_eq!(
            value(&ack_frame(&message, None)),
            json!({"type": "ack", "message": message})
        );
    }

    #[test]
    fn domain_errors_name_their_code_and_field() {
        let e = DomainError::validation("body", "too long");
        assert_eq!(
            value(&domain_error_frame(Some("r"), &e)),
            json!({"type": "error", "code": e.code(), "message": e.public_message(),
                "field": "body", "ref": "r"})
        );
        let e = DomainError::NotFound("room");
        let v = value(&domain_error_frame(None, &e));
        assert_eq!(v["code"], json!(ErrorCode::NotFound));
        assert!(v.get("field").is_none() && v.get("ref").is_none());
        let v = value(&auth_error_frame(None, &AuthError::TokenExpired));
        assert_eq!(v["code"], json!(AuthError::TokenExpired.code()));
    }

    #[test]
    fn events_typing_and_presence_render_as_the_contract_says() {
        let message = message();
        let event = DomainEvent::MessageCreated {
            room_id: 3,
            message: message.clone(),
            event_seq: 4,
        };
        assert_eq!(
            value(&event_frame(&event)),
            serde_json::to_value(&event).unwrap()
        );
        assert_eq!(
            value(&typing_frame(3, 1)),
            json!({"type": "typing", "room_id": 3, "user_id": 1})
        );
        assert_eq!(
            value(&presence_frame(1, true)),
            json!({"type": "presence", "user_id": 1, "status": "online"})
        );
        assert_eq!(value(&presence_frame(1, false))["status"], "offline");
    }

    #[test]
    fn replies_are_typed_and_carry_the_ref() {
        let r = Some("x");
        let rooms = [
            RoomCursor {
                room_id: 3,
                last_seq: 9,
                last_event_seq: 12,
            },
            RoomCursor {
                room_id: 4,
                last_seq: 0,
                last_event_seq: 1,
            },
        ];
        let unread = [Unread {
            room_id: 3,
            last_read_seq: 7,
            unread_count: 2,
            mention_count: 0,
        }];
        assert_eq!(
            value(&ready(&ann(), &rooms, &unread, "n-1")),
            json!({"type": "ready", "user": ann(), "connection_id": "n-1", "rooms": [
                {"room_id": 3, "last_seq": 9, "last_event_seq": 12, "last_read_seq": 7,
                 "unread_count": 2, "mention_count": 0},
                {"room_id": 4, "last_seq": 0, "last_event_seq": 1, "last_read_seq": 0,
                 "unread_count": 0, "mention_count": 0},
            ]})
        );
        assert_eq!(
            value(&sync_reset(3, r)),
            json!({"type": "sync.reset", "room_id": 3, "ref": "x"})
        );
        assert_eq!(value(&pong(r)), json!({"type": "pong", "ref": "x"}));
        assert_eq!(value(&pong(None)), json!({"type": "pong"}));
        assert_eq!(
            value(&reauthed(60, r)),
            json!({"type": "reauthed", "expires_in": 60, "ref": "x"})
        );
        assert_eq!(
            value(&edited(3, &message(), r)),
            json!({"type": "edited", "room_id": 3, "message": message(), "ref": "x"})
        );
        assert_eq!(
            value(&deleted(3, 7, None)),
            json!({"type": "deleted", "room_id": 3, "message_id": 7})
        );
        let member = Member {
            user: ann(),
            role: huddle_domain::Role::Member,
            joined_at: chrono::DateTime::from_timestamp(1_700_000_002, 0).unwrap(),
        };
        assert_eq!(
            value(&joined(3, &member, r)),
            json!({"type": "joined", "room_id": 3, "member": member, "ref": "x"})
        );
        assert_eq!(
            value(&left(3, r)),
            json!({"type": "left", "room_id": 3, "ref": "x"})
        );
        assert_eq!(value(&synced(r)), json!({"type": "synced", "ref": "x"}));
    }
}
