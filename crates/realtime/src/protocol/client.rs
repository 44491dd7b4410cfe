//! Client frames: a text frame in, a typed [`ClientFrame`] out, so that nothing past this
//! module looks at JSON, and a bad frame is answered with an error carrying its `ref` rather
//! than closing the socket.
use std::collections::HashMap;

use huddle_domain::{ErrorCode, MessageId, RoomId};
use serde::Deserialize;
use serde_json::Value;

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
        reply_to: Option<MessageId>,
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
    /// Moves the sender's read mark in the room forward.
    Read {
        room_id: RoomId,
        seq: i64,
    },
    /// Adds (`on`) or removes the sender's reaction.
    React {
        room_id: RoomId,
        message_id: MessageId,
        emoji: String,
        on: bool,
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
    /// Rooms resumed from a message seq (messages only), and rooms resumed from an event
    /// seq (every event); a room named in both is resumed by events.
    Sync {
        since: Vec<(RoomId, i64)>,
        since_events: Vec<(RoomId, i64)>,
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
    reply_to: Option<MessageId>,
}
#[derive(Deserialize)]
struct EditFields {
    room_id: RoomId,
    message_id: MessageId,
    body: String,
}
#[derive(Deserialize)]
struct ReadFields {
    room_id: RoomId,
    seq: i64,
}
#[derive(Deserialize)]
struct ReactFields {
    room_id: RoomId,
    message_id: MessageId,
    emoji: String,
    on: bool,
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
    #[serde(default)]
    since: HashMap<String, i64>,
    #[serde(default)]
    since_events: HashMap<String, i64>,
}

/// A `sync` map as (room, point) pairs, sorted; a negative point is 0.
fn sync_points(map: HashMap<String, i64>) -> Result<Vec<(RoomId, i64)>, FrameError> {
    let mut points = Vec::with_capacity(map.len());
    for (room, seq) in map {
        let room_id = room.parse().map_err(|_| FrameError {
            code: ErrorCode::ValidationFailed,
            message: format!("sync: {room:?} is not a room id"),
        })?;
        points.push((room_id, seq.max(0)));
    }
    points.sort_unstable();
    Ok(points)
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
                reply_to: f.reply_to,
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
            "read" => fields::<ReadFields>(value, "read").map(|f| ClientFrame::Read {
                room_id: f.room_id,
                seq: f.seq,
            }),
            "react" => fields::<ReactFields>(value, "react").map(|f| ClientFrame::React {
                room_id: f.room_id,
                message_id: f.message_id,
                emoji: f.emoji,
                on: f.on,
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
                let since_events = sync_points(f.since_events)?;
                let mut since = sync_points(f.since)?;
                since.retain(|(room, _)| {
                    since_events
                        .binary_search_by_key(room, |(r, _)| *r)
                        .is_err()
                });
                Ok(ClientFrame::Sync {
                    since,
                    since_events,
                })
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
                client_msg_id: Some("c1".into()),
                reply_to: None
            }
        );
        assert_eq!(parse(r#"{"type":"ping"}"#).1.unwrap(), ClientFrame::Ping);
        assert_eq!(
            parse(r#"{"type":"sync","since":{"2":5,"1":0}}"#).1.unwrap(),
            ClientFrame::Sync {
                since: vec![(1, 0), (2, 5)],
                since_events: vec![]
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
    fn every_kind_reads_its_fields() {
        let ok = |text: &str| parse(text).1.unwrap();
        assert_eq!(
            ok(r#"{"type":"reauth","token":"t2"}"#),
            ClientFrame::Reauth { token: "t2".into() }
        );
        assert_eq!(
            ok(r#"{"type":"edit","room_id":1,"message_id":2,"body":"b"}"#),
            ClientFrame::Edit {
                room_id: 1,
                message_id: 2,
                body: "b".into()
            }
        );
        assert_eq!(
            ok(r#"{"type":"join","room_id":4}"#),
            ClientFrame::Join { room_id: 4 }
        );
        assert_eq!(
            ok(r#"{"type":"leave","room_id":4}"#),
            ClientFrame::Leave { room_id: 4 }
        );
        assert_eq!(
            ok(r#"{"type":"typing","room_id":4}"#),
            ClientFrame::Typing { room_id: 4 }
        );
        assert_eq!(
            ok(r#"{"type":"send","room_id":3,"body":"x"}"#),
            ClientFrame::Send {
                room_id: 3,
                body: "x".into(),
                client_msg_id: None,
                reply_to: None
            },
            "client_msg_id is optional"
        );
        assert_eq!(
            ok(r#"{"type":"send","room_id":3,"body":"x","reply_to":9}"#),
            ClientFrame::Send {
                room_id: 3,
                body: "x".into(),
                client_msg_id: None,
                reply_to: Some(9)
            }
        );
    }

    #[test]
    fn a_numeric_ref_is_kept_as_text_and_other_refs_are_ignored() {
        assert_eq!(parse(r#"{"type":"ping","ref":7}"#).0.as_deref(), Some("7"));
        assert_eq!(parse(r#"{"type":"ping","ref":[1]}"#).0, None);
        assert_eq!(parse(r#"{"type":"ping","ref":null}"#).0, None);
    }

    #[test]
    fn sync_clamps_negative_seqs_and_names_the_kind_in_errors() {
        assert_eq!(
            parse(r#"{"type":"sync","since":{"5":-3}}"#).1.unwrap(),
            ClientFrame::Sync {
                since: vec![(5, 0)],
                since_events: vec![]
            }
        );
        assert_eq!(
            parse(r#"{"type":"sync","since":{"5":3,"6":1},"since_events":{"6":9,"7":-1}}"#)
                .1
                .unwrap(),
            ClientFrame::Sync {
                since: vec![(5, 3)],
                since_events: vec![(6, 9), (7, 0)]
            },
            "a room in both is resumed by events"
        );
        assert_eq!(
            parse(r#"{"type":"sync","since_events":{"x":1}}"#)
                .1
                .unwrap_err()
                .code,
            ErrorCode::ValidationFailed
        );
        let e = parse(r#"{"type":"join"}"#).1.unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        assert!(e.message.starts_with("bad join frame"), "{}", e.message);
    }
}
