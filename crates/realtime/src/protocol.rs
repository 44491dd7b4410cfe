//! The socket's wire format (`docs/API.md`, "Real time"): client frames in, server frames out.
use std::collections::HashMap;

use huddle_auth::AuthError;
use huddle_domain::{
    Chain, DomainError, DomainEvent, ErrorCode, Message, MessageId, RoomId, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A server frame's text, serialised once and shared by every receiver: cloning it is a
/// reference count, and actix-ws takes it as is, so no receiver copies it.
pub type Frame = bytestring::ByteString;

pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;
pub(crate) const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
pub(crate) const CLOSE_UNAUTHENTICATED: u16 = 4401;
/// The user already holds the most sockets a process allows.
pub(crate) const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4429;

/// The close reason of a connection the hub ended from outside it.
pub(crate) fn kill_reason(code: u16) -> &'static str {
    match code {
        CLOSE_UNAUTHENTICATED => "session ended",
        _ => "too slow: reconnect and sync",
    }
}

/// A client frame, after its `type` and `ref` were read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ClientFrame {
    Auth {
        token: String,
    },
    Reauth {
        token: String,
    },
    Send {
        room_id: RoomId,
        body: String,
        client_msg_id: Option<String>,
    },
    Edit {
        room_id: RoomId,
        message_id: MessageId,
        body: String,
    },
    Delete {
        room_id: RoomId,
        message_id: MessageId,
    },
    Join {
        room_id: RoomId,
    },
    Leave {
        room_id: RoomId,
    },
    Typing {
        room_id: RoomId,
    },
    Sync {
        since: Vec<(RoomId, i64)>,
    },
    Ping,
}

/// Why a frame could not be read: the error frame to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Deserialize)]
struct TokenFields {
    token: String,
}
#[derive(Deserialize)]
struct SendFields {
    room_id: RoomId,
    body: String,
    client_msg_id: Option<String>,
}
#[derive(Deserialize)]
struct EditFields {
    room_id: RoomId,
    message_id: MessageId,
    body: String,
}
#[derive(Deserialize)]
struct MessageRef {
    room_id: RoomId,
    message_id: MessageId,
}
#[derive(Deserialize)]
struct RoomRef {
    room_id: RoomId,
}
#[derive(Deserialize)]
struct SyncFields {
    since: HashMap<String, i64>,
}

fn fields<T: serde::de::DeserializeOwned>(v: Value, kind: &str) -> Result<T, FrameError> {
    serde_json::from_value(v).map_err(|e| FrameError {
        code: ErrorCode::ValidationFailed,
        message: format!("bad {kind} frame: {e}"),
    })
}

/// Parses a text frame into its `ref` and the frame. The `ref` is returned even when the rest
/// is bad, so the error can carry it.
pub(crate) fn parse(text: &str) -> (Option<String>, Result<ClientFrame, FrameError>) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return (
                None,
                Err(FrameError {
                    code: ErrorCode::MalformedJson,
                    message: "a frame must be a JSON object".into(),
                }),
            )
        }
        Err(e) => {
            return (
                None,
                Err(FrameError {
                    code: ErrorCode::MalformedJson,
                    message: format!("not valid JSON: {e}"),
                }),
            )
        }
    };
    let reference = match value.get("ref") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let frame =
        match kind.as_str() {
            "auth" => {
                fields::<TokenFields>(value, "auth").map(|f| ClientFrame::Auth { token: f.token })
            }
            "reauth" => fields::<TokenFields>(value, "reauth")
                .map(|f| ClientFrame::Reauth { token: f.token }),
            "send" => fields::<SendFields>(value, "send").map(|f| ClientFrame::Send {
                room_id: f.room_id,
                body: f.body,
                client_msg_id: f.client_msg_id,
            }),
            "edit" => fields::<EditFields>(value, "edit").map(|f| ClientFrame::Edit {
                room_id: f.room_id,
                message_id: f.message_id,
                body: f.body,
            }),
            "delete" => fields::<MessageRef>(value, "delete").map(|f| ClientFrame::Delete {
                room_id: f.room_id,
                message_id: f.message_id,
            }),
            "join" => {
                fields::<RoomRef>(value, "join").map(|f| ClientFrame::Join { room_id: f.room_id })
            }
            "leave" => {
                fields::<RoomRef>(value, "leave").map(|f| ClientFrame::Leave { room_id: f.room_id })
            }
            "typing" => fields::<RoomRef>(value, "typing")
                .map(|f| ClientFrame::Typing { room_id: f.room_id }),
            "sync" => fields::<SyncFields>(value, "sync").and_then(|f| {
                let mut since = Vec::with_capacity(f.since.len());
                for (room, seq) in f.since {
                    let room_id = room.parse().map_err(|_| FrameError {
                        code: ErrorCode::ValidationFailed,
                        message: format!("sync: {room:?} is not a room id"),
                    })?;
                    since.push((room_id, seq.max(0)));
                }
                since.sort_unstable();
                Ok(ClientFrame::Sync { since })
            }),
            "ping" => Ok(ClientFrame::Ping),
            "" => Err(FrameError {
                code: ErrorCode::ValidationFailed,
                message: "the frame has no \"type\"".into(),
            }),
            other => Err(FrameError {
                code: ErrorCode::UnknownType,
                message: format!("unknown frame type {other:?}"),
            }),
        };
    (reference, frame)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_frame() {
        let (r, f) =
            parse(r#"{"type":"send","room_id":3,"body":"hi","client_msg_id":"c1","ref":"a"}"#);
        assert_eq!(r.as_deref(), Some("a"));
        assert_eq!(
            f.unwrap(),
            ClientFrame::Send {
                room_id: 3,
                body: "hi".into(),
                client_msg_id: Some("c1".into())
            }
        );
        assert_eq!(parse(r#"{"type":"ping"}"#).1.unwrap(), ClientFrame::Ping);
        assert_eq!(
            parse(r#"{"type":"sync","since":{"2":5,"1":0}}"#).1.unwrap(),
            ClientFrame::Sync {
                since: vec![(1, 0), (2, 5)]
            }
        );
        assert_eq!(
            parse(r#"{"type":"delete","room_id":1,"message_id":9}"#)
                .1
                .unwrap(),
            ClientFrame::Delete {
                room_id: 1,
                message_id: 9
            }
        );
        assert!(matches!(
            parse(r#"{"type":"auth","token":"t"}"#).1,
            Ok(ClientFrame::Auth { .. })
        ));
    }

    #[test]
    fn bad_frames_get_codes_and_keep_their_ref() {
        assert_eq!(parse("{nope").1.unwrap_err().code, ErrorCode::MalformedJson);
        assert_eq!(parse("[1,2]").1.unwrap_err().code, ErrorCode::MalformedJson);
        let (r, f) = parse(r#"{"type":"dance","ref":"x"}"#);
        assert_eq!(
            (r.as_deref(), f.unwrap_err().code),
            (Some("x"), ErrorCode::UnknownType)
        );
        let (r, f) = parse(r#"{"type":"send","room_id":"one","ref":"y"}"#);
        assert_eq!(
            (r.as_deref(), f.unwrap_err().code),
            (Some("y"), ErrorCode::ValidationFailed)
        );
        assert_eq!(
            parse(r#"{"type":"sync","since":{"abc":1}}"#)
                .1
                .unwrap_err()
                .code,
            ErrorCode::ValidationFailed
        );
        assert_eq!(
            parse(r#"{"ref":"z"}"#).1.unwrap_err().code,
            ErrorCode::ValidationFailed
        );
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
        let message = Message {
            id: 7,
            room_id: 3,
            seq: 2,
            author: huddle_domain::User {
                id: 1,
                username: "ann".into(),
                display_name: "Ann \"A\"".into(),
                bio: String::new(),
                created_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            },
            body: "hi\nthere".into(),
            client_msg_id: Some("c1".into()),
            created_at: chrono::DateTime::from_timestamp(1_700_000_001, 5_000).unwrap(),
            edited_at: None,
            deleted: false,
        };
        let as_value = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(
            as_value(&ack_frame(&message, Some("r1"))),
            json!({"type": "ack", "message": message, "ref": "r1"})
        );
        assert_eq!(
            as_value(&ack_frame(&message, None)),
            json!({"type": "ack", "message": message})
        );
    }
}
