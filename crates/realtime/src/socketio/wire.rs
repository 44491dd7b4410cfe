//! Socket.IO packets in and out, through socketioxide's parser (`socketioxide-parser-common`),
//! each wrapped in its Engine.IO message packet (`4`).
use engineioxide_core::{OpenPacket, Packet as EnginePacket, Sid, TransportType};
use huddle_domain::ErrorCode;
use serde_json::{json, Value};
use socketioxide_core::packet::{Packet, PacketData};
use socketioxide_core::parser::{Parse, ParseConfig, ParserState};
use socketioxide_core::Value as SioValue;
use socketioxide_parser_common::CommonParser;

/// The one namespace served.
pub(crate) const NAMESPACE: &str = "/";

/// A client's Socket.IO packet, as the session needs it.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    Connect {
        namespace: String,
        auth: Option<Value>,
    },
    Disconnect,
    Event {
        name: String,
        arg: Option<Value>,
        ack: Option<i64>,
    },
    /// An event for a namespace not served, or an ack of an event the server never sent.
    Ignored,
}

/// Why a packet cannot be read: the session closes, as Socket.IO servers do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum WireError {
    #[error("malformed packet")]
    Malformed,
    #[error("binary attachments are not accepted")]
    Binary,
    #[error("an event needs a name")]
    NoEventName,
}

/// Reads the payload of an Engine.IO message packet.
pub(crate) fn decode(text: &str) -> Result<Incoming, WireError> {
    let packet = CommonParser
        .decode_str(
            &ParseConfig::default(),
            &ParserState::default(),
            text.to_owned().into(),
        )
        .map_err(|e| match e {
            socketioxide_core::parser::ParseError::NeedsMoreBinaryData => WireError::Binary,
            _ => WireError::Malformed,
        })?;
    let namespace = packet.ns.to_string();
    match packet.inner {
        PacketData::Connect(auth) => Ok(Incoming::Connect {
            namespace,
            auth: auth.and_then(json_of),
        }),
        _ if namespace != NAMESPACE => Ok(Incoming::Ignored),
        PacketData::Disconnect => Ok(Incoming::Disconnect),
        PacketData::Event(value, ack) => {
            let Some(Value::Array(mut args)) = json_of(value) else {
                return Err(WireError::Malformed);
            };
            if args.is_empty() {
                return Err(WireError::NoEventName);
            }
            let Value::String(name) = args.remove(0) else {
                return Err(WireError::NoEventName);
            };
            Ok(Incoming::Event {
                name,
                arg: (!args.is_empty()).then(|| args.swap_remove(0)),
                ack,
            })
        }
        PacketData::BinaryEvent(..) | PacketData::BinaryAck(..) => Err(WireError::Binary),
        PacketData::EventAck(..) | PacketData::ConnectError(_) => Ok(Incoming::Ignored),
    }
}

fn json_of(value: SioValue) -> Option<Value> {
    match value {
        SioValue::Str(s, None) => serde_json::from_str(&s).ok(),
        _ => None,
    }
}

fn message(packet: Packet) -> String {
    match CommonParser.encode(packet) {
        SioValue::Str(s, _) => format!("4{s}"),
        // Only binary payloads encode to bytes, and none is ever sent.
        SioValue::Bytes(_) => "4".to_owned(),
    }
}

fn value(payload: &Value, event: Option<&str>) -> SioValue {
    CommonParser
        .encode_value(payload, event)
        .unwrap_or_else(|_| SioValue::Str("[]".to_owned().into(), None))
}

/// `42["name",payload]`
pub(crate) fn event(name: &str, payload: &Value) -> String {
    message(Packet::event(NAMESPACE, value(payload, Some(name))))
}

/// `43<id>[payload]`
pub(crate) fn ack(id: i64, payload: &Value) -> String {
    message(Packet::ack(NAMESPACE, value(payload, None), id))
}

/// `40{"sid":...}`: the namespace is joined.
pub(crate) fn connected(sid: &str) -> String {
    let data = CommonParser
        .encode_default(&json!({ "sid": sid }))
        .unwrap_or_else(|_| SioValue::Str("{}".to_owned().into(), None));
    message(Packet::connect(NAMESPACE, Some(data)))
}

/// `44{"message":code,"data":{code,message}}`: socket.io-client raises `connect_error` with
/// `err.message` the code and `err.data` the details.
pub(crate) fn connect_error(namespace: &str, code: ErrorCode, text: &str) -> String {
    let body = json!({"message": code, "data": {"code": code, "message": text}});
    if namespace == NAMESPACE {
        format!("44{body}")
    } else {
        format!("44{namespace},{body}")
    }
}

/// `41`: the server ends the client's socket (it does not reconnect by itself).
pub(crate) fn disconnect() -> String {
    message(Packet::disconnect(NAMESPACE))
}

/// The Engine.IO handshake's answer.
pub(crate) fn open(sid: &Sid, can_upgrade: bool, ping: (u64, u64), max_payload: u64) -> String {
    let mut open = OpenPacket {
        sid: *sid,
        ping_interval: std::time::Duration::from_millis(ping.0),
        ping_timeout: std::time::Duration::from_millis(ping.1),
        max_payload,
        ..OpenPacket::default()
    };
    open.upgrades.clear();
    if can_upgrade {
        open.upgrades.push(TransportType::Websocket);
    }
    String::from(EnginePacket::Open(open))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_encode_as_socket_io_clients_read_them() {
        assert_eq!(
            event("message", &json!({"id": 1})),
            r#"42["message",{"id":1}]"#
        );
        assert_eq!(ack(7, &json!({"ok": true})), r#"437[{"ok":true}]"#);
        assert_eq!(connected("abc"), r#"40{"sid":"abc"}"#);
        assert_eq!(disconnect(), "41");
        assert_eq!(
            connect_error("/", ErrorCode::TokenExpired, "expired"),
            r#"44{"data":{"code":"token_expired","message":"expired"},"message":"token_expired"}"#
        );
        assert_eq!(
            connect_error("/admin", ErrorCode::NotFound, "no such namespace"),
            r#"44/admin,{"data":{"code":"not_found","message":"no such namespace"},"message":"not_found"}"#
        );
        let sid = Sid::new();
        let open: Value =
            serde_json::from_str(&open(&sid, true, (25_000, 20_000), 65_536)[1..]).expect("json");
        assert_eq!(
            open,
            json!({"sid": sid.to_string(), "upgrades": ["websocket"], "pingInterval": 25000,
                   "pingTimeout": 20000, "maxPayload": 65536})
        );
    }

    #[test]
    fn client_packets_decode() {
        assert_eq!(
            decode(r#"0{"token":"t"}"#),
            Ok(Incoming::Connect {
                namespace: "/".into(),
                auth: Some(json!({"token": "t"}))
            })
        );
        assert_eq!(
            decode("0"),
            Ok(Incoming::Connect {
                namespace: "/".into(),
                auth: None
            })
        );
        assert_eq!(
            decode(r#"0/admin,{"token":"t"}"#),
            Ok(Incoming::Connect {
                namespace: "/admin".into(),
                auth: Some(json!({"token": "t"}))
            })
        );
        assert_eq!(decode("1"), Ok(Incoming::Disconnect));
        assert_eq!(
            decode(r#"212["sendMessage",{"roomId":3},"extra"]"#),
            Ok(Incoming::Event {
                name: "sendMessage".into(),
                arg: Some(json!({"roomId": 3})),
                ack: Some(12)
            })
        );
        assert_eq!(
            decode(r#"2["typing"]"#),
            Ok(Incoming::Event {
                name: "typing".into(),
                arg: None,
                ack: None
            })
        );
        assert_eq!(decode(r#"2/admin,["x"]"#), Ok(Incoming::Ignored));
        assert_eq!(decode(r#"31[{}]"#), Ok(Incoming::Ignored));
    }

    #[test]
    fn malformed_and_binary_packets_are_errors() {
        for bad in ["", "9", "2", "2{", "2[", "2junk", "x[\"a\"]", "2\u{0}[]"] {
            assert!(decode(bad).is_err(), "{bad:?} was read");
        }
        assert_eq!(decode("2[]"), Err(WireError::NoEventName));
        assert_eq!(decode("2[3]"), Err(WireError::NoEventName));
        assert_eq!(
            decode(r#"51-["upload",{"_placeholder":true,"num":0}]"#),
            Err(WireError::Binary)
        );
    }
}
