//! Socket.IO events to native frames and back. Pure: JSON in, JSON out, so the whole dialect is
//! tested here without a socket.
//!
//! A Socket.IO client names things the way Express apps do (`sendMessage`, `roomId`); the
//! native protocol says `send` and `room_id`. Every client event becomes one native frame, its
//! acknowledgement id carried as the frame's `ref` (`a<id>`); every native frame becomes one
//! event, or the acknowledgement of the event that asked for it.
use huddle_domain::ErrorCode;
use serde_json::{json, Map, Value};

use crate::protocol::Frame;
use crate::socketio::wire;

/// The `ref` prefix of a client event that asked for an acknowledgement.
const ACK_REF: char = 'a';
/// The `ref` prefix of the bridge's own frames, whose answers no client waits for.
pub(crate) const OWN_REF: &str = "i";

/// What a native frame becomes for a Socket.IO client.
#[derive(Debug, PartialEq)]
pub(crate) enum Outgoing {
    /// An event: its name and its one argument.
    Event(String, Value),
    /// The acknowledgement of the client's event `id`.
    Ack(i64, Value),
    /// Nothing: the answer to one of the bridge's own frames.
    Nothing,
}

/// The frame in Socket.IO; `None` for frames with nothing to say to a Socket.IO client. A
/// room's live event reaches every socket as the same shared frame (rendered once by the hub),
/// and its translation is kept with it: a room of a thousand Socket.IO sockets parses and
/// renames each event once, not a thousand times, however far behind they read.
pub(crate) fn render(frame: &Frame) -> Option<Frame> {
    frame.in_other_dialect(|native| {
        Some(Frame::from(match from_native(native)? {
            Outgoing::Event(name, payload) => wire::event(&name, &payload),
            Outgoing::Ack(id, payload) => wire::ack(id, &payload),
            Outgoing::Nothing => return None,
        }))
    })
}

/// Native reply frames: each answers one client frame, by its `ref`.
const REPLIES: &[&str] = &[
    "ack", "error", "joined", "left", "edited", "deleted", "reacted", "read", "synced", "pong",
    "reauthed",
];

/// A client event as a native frame (text), or why it cannot be one.
pub(crate) fn to_native(
    event: &str,
    arg: Option<Value>,
    ack: Option<i64>,
) -> Result<String, (ErrorCode, String)> {
    let kind = match event {
        "joinRoom" | "join" => "join",
        "leaveRoom" | "leave" => "leave",
        "sendMessage" | "send" => "send",
        "editMessage" | "edit" => "edit",
        "deleteMessage" | "delete" => "delete",
        "markRead" | "read" => "read",
        "typing" => "typing",
        "react" => "react",
        "sync" => "sync",
        "reauth" => "reauth",
        "ping" => "ping",
        other => {
            return Err((
                ErrorCode::UnknownType,
                format!("unknown event {:?}", truncate(other, 64)),
            ))
        }
    };
    let mut fields = match arg {
        Some(Value::Object(map)) => map,
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            return Err((
                ErrorCode::ValidationFailed,
                format!("the argument of {event:?} must be an object"),
            ))
        }
    };
    // Only the top level is renamed: below it are maps keyed by room id (`sync`).
    let mut frame = Map::with_capacity(fields.len() + 2);
    for (key, value) in std::mem::take(&mut fields) {
        frame.insert(snake_case(&key), value);
    }
    frame.insert("type".into(), Value::from(kind));
    match ack {
        Some(id) => frame.insert("ref".into(), Value::from(format!("{ACK_REF}{id}"))),
        None => frame.remove("ref"),
    };
    Ok(Value::Object(frame).to_string())
}

/// A native frame as a Socket.IO event or acknowledgement. `None` for a frame that is not a
/// JSON object with a `type` (the server sends none such).
pub(crate) fn from_native(frame: &str) -> Option<Outgoing> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(frame) else {
        return None;
    };
    let Some(Value::String(kind)) = map.remove("type") else {
        return None;
    };
    let reference = match map.remove("ref") {
        Some(Value::String(r)) => Some(r),
        _ => None,
    };
    if REPLIES.contains(&kind.as_str()) {
        if let Some(r) = reference {
            let Some(id) = r.strip_prefix(ACK_REF).and_then(|id| id.parse().ok()) else {
                return Some(Outgoing::Nothing);
            };
            return Some(Outgoing::Ack(id, answer(&kind, map)));
        }
        return Some(match kind.as_str() {
            "error" => Outgoing::Event("error".into(), error_body(map)),
            // Answers to events that asked for none.
            _ => Outgoing::Nothing,
        });
    }
    Some(match kind.as_str() {
        "message.created" => Outgoing::Event("message".into(), camel(take(&mut map, "message"))),
        "message.updated" => {
            Outgoing::Event("messageUpdated".into(), camel(take(&mut map, "message")))
        }
        "member.joined" => Outgoing::Event("userJoined".into(), camel(Value::Object(map))),
        "member.left" => Outgoing::Event("userLeft".into(), camel(Value::Object(map))),
        "reaction.added" | "reaction.removed" => {
            map.insert("on".into(), Value::Bool(kind == "reaction.added"));
            Outgoing::Event("reaction".into(), camel(Value::Object(map)))
        }
        other => Outgoing::Event(camel_name(other), camel(Value::Object(map))),
    })
}

/// The acknowledgement of a reply: `{ok: true, ...}` or `{error: {code, message}}`.
fn answer(kind: &str, map: Map<String, Value>) -> Value {
    if kind == "error" {
        return json!({ "error": error_body(map) });
    }
    let mut out = match camel(Value::Object(map)) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    out.insert("ok".into(), Value::Bool(true));
    Value::Object(out)
}

/// An error frame's fields, with `field` named as this endpoint names it.
fn error_body(mut map: Map<String, Value>) -> Value {
    if let Some(Value::String(field)) = map.get_mut("field") {
        *field = camel_case(field);
    }
    Value::Object(map)
}

fn take(map: &mut Map<String, Value>, key: &str) -> Value {
    map.remove(key).unwrap_or(Value::Null)
}

/// Renames every object key below `value` to camelCase.
pub(crate) fn camel(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel_case(&k), camel(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel).collect()),
        other => other,
    }
}

/// `room_id` -> `roomId`; a key without `_` is returned as it is.
fn camel_case(key: &str) -> String {
    if !key.contains('_') {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `message.deleted` -> `messageDeleted`, `read.updated` -> `readUpdated`.
fn camel_name(kind: &str) -> String {
    camel_case(&kind.replace('.', "_"))
}

/// `roomId` -> `room_id`; snake_case keys pass through unchanged.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(event: &str, arg: Value, ack: Option<i64>) -> Value {
        serde_json::from_str(&to_native(event, Some(arg), ack).unwrap()).unwrap()
    }

    #[test]
    fn client_events_become_native_frames_with_their_ack_as_ref() {
        assert_eq!(
            native(
                "sendMessage",
                json!({"roomId": 3, "body": "hi", "clientMsgId": "c1", "replyTo": 9}),
                Some(7)
            ),
            json!({"type": "send", "room_id": 3, "body": "hi", "client_msg_id": "c1",
                   "reply_to": 9, "ref": "a7"})
        );
        assert_eq!(
            native("joinRoom", json!({"roomId": 3}), None),
            json!({"type": "join", "room_id": 3})
        );
        assert_eq!(
            native("leave", json!({"room_id": 3}), Some(0)),
            json!({"type": "leave", "room_id": 3, "ref": "a0"}),
            "the native names and snake_case keys are accepted too"
        );
        // Keys below the top level are room ids, not names.
        assert_eq!(
            native(
                "sync",
                json!({"since": {"12": 4}, "sinceEvents": {"13": 1}}),
                None
            ),
            json!({"type": "sync", "since": {"12": 4}, "since_events": {"13": 1}})
        );
        // A client's own `ref` cannot pose as another event's acknowledgement.
        assert_eq!(
            native("typing", json!({"roomId": 3, "ref": "a1"}), None),
            json!({"type": "typing", "room_id": 3})
        );
        let ping: Value = serde_json::from_str(&to_native("ping", None, Some(1)).unwrap()).unwrap();
        assert_eq!(ping, json!({"type": "ping", "ref": "a1"}));
    }

    #[test]
    fn unknown_events_and_arguments_that_are_not_objects_are_refused() {
        let (code, message) = to_native("auth", Some(json!({"token": "t"})), None).unwrap_err();
        assert_eq!(code, ErrorCode::UnknownType, "{message}");
        let (code, _) = to_native(&"x".repeat(10_000), None, None).unwrap_err();
        assert_eq!(code, ErrorCode::UnknownType);
        for bad in [json!("3"), json!([3]), json!(3)] {
            let (code, _) = to_native("joinRoom", Some(bad), Some(1)).unwrap_err();
            assert_eq!(code, ErrorCode::ValidationFailed);
        }
    }

    #[test]
    fn replies_become_acknowledgements() {
        let ack =
            r#"{"type":"ack","ref":"a4","message":{"id":1,"room_id":3,"client_msg_id":null}}"#;
        assert_eq!(
            from_native(ack),
            Some(Outgoing::Ack(
                4,
                json!({"ok": true, "message": {"id": 1, "roomId": 3, "clientMsgId": null}})
            ))
        );
        let error = r#"{"type":"error","ref":"a5","code":"validation_failed","message":"m","field":"room_id"}"#;
        assert_eq!(
            from_native(error),
            Some(Outgoing::Ack(
                5,
                json!({"error": {"code": "validation_failed", "message": "m", "field": "roomId"}})
            ))
        );
        let joined = r#"{"type":"joined","ref":"a6","room_id":3,"member":{"user_id":2}}"#;
        assert_eq!(
            from_native(joined),
            Some(Outgoing::Ack(
                6,
                json!({"ok": true, "roomId": 3, "member": {"userId": 2}})
            ))
        );
        // The bridge's own frames, and replies to events that asked for no ack.
        assert_eq!(
            from_native(r#"{"type":"synced","ref":"i"}"#),
            Some(Outgoing::Nothing)
        );
        assert_eq!(
            from_native(r#"{"type":"ack","message":{}}"#),
            Some(Outgoing::Nothing)
        );
        assert_eq!(
            from_native(r#"{"type":"error","code":"rate_limited","message":"slow down"}"#),
            Some(Outgoing::Event(
                "error".into(),
                json!({"code": "rate_limited", "message": "slow down"})
            ))
        );
    }

    #[test]
    fn live_frames_become_named_events() {
        let created = r#"{"type":"message.created","room_id":3,"event_seq":8,
            "message":{"id":1,"room_id":3,"seq":2,"author":{"id":1,"display_name":"Ann"}}}"#;
        assert_eq!(
            from_native(created),
            Some(Outgoing::Event(
                "message".into(),
                json!({"id": 1, "roomId": 3, "seq": 2,
                       "author": {"id": 1, "displayName": "Ann"}})
            ))
        );
        let cases = [
            (
                r#"{"type":"member.joined","room_id":3,"member":{"user_id":2}}"#,
                "userJoined",
                json!({"roomId": 3, "member": {"userId": 2}}),
            ),
            (
                r#"{"type":"member.left","room_id":3,"user_id":2}"#,
                "userLeft",
                json!({"roomId": 3, "userId": 2}),
            ),
            (
                r#"{"type":"message.deleted","room_id":3,"message_id":1,"seq":2}"#,
                "messageDeleted",
                json!({"roomId": 3, "messageId": 1, "seq": 2}),
            ),
            (
                r#"{"type":"reaction.removed","room_id":3,"message_id":1,"emoji":"x","user_id":2}"#,
                "reaction",
                json!({"roomId": 3, "messageId": 1, "emoji": "x", "userId": 2, "on": false}),
            ),
            (
                r#"{"type":"presence","user_id":2,"status":"online"}"#,
                "presence",
                json!({"userId": 2, "status": "online"}),
            ),
            (
                r#"{"type":"typing","room_id":3,"user_id":2}"#,
                "typing",
                json!({"roomId": 3, "userId": 2}),
            ),
            (
                r#"{"type":"read.updated","room_id":3,"user_id":2,"last_read_seq":4}"#,
                "readUpdated",
                json!({"roomId": 3, "userId": 2, "lastReadSeq": 4}),
            ),
            (
                r#"{"type":"ready","user":{"id":1},"rooms":[{"room_id":3}],"connection_id":"n"}"#,
                "ready",
                json!({"user": {"id": 1}, "rooms": [{"roomId": 3}], "connectionId": "n"}),
            ),
        ];
        for (frame, event, payload) in cases {
            assert_eq!(
                from_native(frame),
                Some(Outgoing::Event(event.into(), payload)),
                "{frame}"
            );
        }
        assert_eq!(from_native("[1]"), None);
        assert_eq!(from_native(r#"{"no":"type"}"#), None);
    }

    #[test]
    fn shared_frames_are_rendered_once_and_others_never_confused() {
        let live = Frame::from(r#"{"type":"typing","room_id":3,"user_id":2}"#.to_owned());
        let first = render(&live).unwrap();
        assert_eq!(&*first, r#"42["typing",{"roomId":3,"userId":2}]"#);
        let again = render(&live.clone()).unwrap();
        assert!(first.same(&again), "the same frame is rendered once");
        // Equal text in another frame is rendered afresh, and right.
        let twin = Frame::from(r#"{"type":"typing","room_id":3,"user_id":2}"#.to_owned());
        let twin_rendered = render(&twin).unwrap();
        assert_eq!(&*twin_rendered, &*first);
        assert!(!twin_rendered.same(&first));
        // Many frames in flight at once are each rendered as themselves (the table this
        // replaced held 16,384 and translated again whatever a backlog pushed out of it).
        let frames: Vec<Frame> = (0..20_000)
            .map(|n| Frame::from(format!(r#"{{"type":"typing","room_id":{n},"user_id":2}}"#)))
            .collect();
        let rendered: Vec<Frame> = frames.iter().map(|f| render(f).unwrap()).collect();
        for (n, (frame, packet)) in frames.iter().zip(&rendered).enumerate() {
            assert!(packet.contains(&format!(r#""roomId":{n},"#)));
            assert!(
                render(frame).unwrap().same(packet),
                "frame {n} rendered again"
            );
        }
        // Replies become acks, or nothing.
        let ack = Frame::from(r#"{"type":"pong","ref":"a9"}"#.to_owned());
        assert_eq!(&*render(&ack).unwrap(), r#"439[{"ok":true}]"#);
        let own = Frame::from(r#"{"type":"synced","ref":"i"}"#.to_owned());
        assert_eq!(render(&own), None);
    }

    #[test]
    fn names_convert_both_ways() {
        assert_eq!(camel_case("last_read_seq"), "lastReadSeq");
        assert_eq!(camel_case("_x"), "x");
        assert_eq!(camel_case("plain"), "plain");
        assert_eq!(snake_case("lastReadSeq"), "last_read_seq");
        assert_eq!(snake_case("room_id"), "room_id");
        assert_eq!(camel_name("sync.reset"), "syncReset");
        assert_eq!(truncate("héllo", 2), "hé");
    }
}
