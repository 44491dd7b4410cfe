//! The handlers of `/socket.io/`: the handshake, long-polls, POSTed packets and WebSockets.
//! Errors are Engine.IO's (`{"code": 1, "message": "Session ID unknown"}`, 400), which clients
//! read, with Huddle's `error` object beside them.
use actix_web::body::MessageBody;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use engineioxide_core::{Packet as EnginePacket, ProtocolVersion, Sid};
use huddle_domain::ErrorCode;
use serde::Deserialize;
use serde_json::json;

use std::sync::Arc;

use crate::outlet;
use crate::shared::Shared;
use crate::socketio::config::EngineConfig;
use crate::socketio::link::{Inbound, PollError, Sessions, WsConn, WsReads};
use crate::socketio::session::Session;
use crate::socketio::wire;

/// What the handlers share: the gateway's connections' and the sessions.
struct Endpoint {
    shared: Arc<Shared>,
    sessions: Arc<Sessions>,
    config: EngineConfig,
}

/// Mounts `/socket.io/`.
pub(crate) fn configure(
    cfg: &mut web::ServiceConfig,
    shared: Arc<Shared>,
    sessions: Arc<Sessions>,
) {
    let config = EngineConfig::of(&shared.config);
    cfg.service(
        web::resource(["/socket.io/", "/socket.io"])
            .app_data(web::PayloadConfig::new(config.max_payload))
            .app_data(web::Data::new(Endpoint {
                shared,
                sessions,
                config,
            }))
            .route(web::get().to(get))
            .route(web::post().to(post))
            .default_service(web::to(|| async {
                HttpResponse::MethodNotAllowed()
                    .insert_header((header::ALLOW, "GET, POST"))
                    .json(json!({"error": {"code": ErrorCode::MethodNotAllowed,
                        "message": "this method is not allowed here; allowed: GET, POST"}}))
            })),
    );
}

#[derive(Deserialize)]
struct EngineQuery {
    #[serde(rename = "EIO")]
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

/// Engine.IO's error codes.
#[derive(Clone, Copy)]
enum EngineError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadRequest = 3,
    UnsupportedVersion = 5,
}

impl EngineError {
    fn message(self) -> &'static str {
        match self {
            EngineError::UnknownTransport => "Transport unknown",
            EngineError::UnknownSid => "Session ID unknown",
            EngineError::BadRequest => "Bad request",
            EngineError::UnsupportedVersion => "Unsupported protocol version",
        }
    }

    fn response(self) -> HttpResponse {
        let code = match self {
            EngineError::UnknownSid => ErrorCode::NotFound,
            _ => ErrorCode::BadRequest,
        };
        HttpResponse::BadRequest().json(json!({
            "code": self as u8,
            "message": self.message(),
            "error": {"code": code, "message": format!("socket.io: {}", self.message())},
        }))
    }
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=UTF-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "error": {"code": ErrorCode::Unavailable, "message": "the server is shutting down"}
    }))
}

/// Checks the protocol version; the transport asked for, or the error.
fn transport(query: &EngineQuery) -> Result<&str, EngineError> {
    if query.eio.as_deref() != Some("4") {
        return Err(EngineError::UnsupportedVersion);
    }
    match query.transport.as_deref() {
        Some(t @ ("polling" | "websocket")) => Ok(t),
        _ => Err(EngineError::UnknownTransport),
    }
}

async fn get(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<EngineQuery>,
    endpoint: web::Data<Endpoint>,
) -> Result<HttpResponse, actix_web::Error> {
    let kind = match transport(&query) {
        Ok(kind) => kind,
        Err(e) => return Ok(e.response()),
    };
    let shared = endpoint.shared.clone();
    let sessions = endpoint.sessions.clone();
    let config = endpoint.config;
    let ping = (
        config.ping_interval.as_millis() as u64,
        config.ping_timeout.as_millis() as u64,
    );
    match (kind, query.sid.as_deref()) {
        ("polling", None) => {
            if *shared.shutdown.borrow() {
                return Ok(unavailable());
            }
            let sid = Sid::new();
            let open = wire::open(&sid, true, ping, config.max_payload as u64);
            let session = Session::polling(shared, sessions, config, sid);
            actix_web::rt::spawn(session.run(None));
            Ok(text(open))
        }
        ("polling", Some(sid)) => {
            let Some(link) = sessions.get(sid) else {
                return Ok(EngineError::UnknownSid.response());
            };
            let wait = config.ping_interval + config.ping_timeout;
            match link.poll(wait).await {
                Ok(packets) => Ok(text(packets)),
                Err(PollError::Overlap) => {
                    // Engine.IO ends a session polled twice at once.
                    let _ = link.inbound.try_send(Inbound::Fault);
                    Ok(EngineError::BadRequest.response())
                }
                Err(PollError::Upgraded) => Ok(EngineError::BadRequest.response()),
            }
        }
        (_, sid) => {
            let known = match sid {
                Some(sid) => match sessions.get(sid) {
                    Some(link) => Some(link),
                    None => return Ok(EngineError::UnknownSid.response()),
                },
                None => None,
            };
            if known.is_none() && *shared.shutdown.borrow() {
                return Ok(unavailable());
            }
            let (_, _, stream) = actix_ws::handle(&req, body)?;
            let (outlet, out_body) = outlet::outlet();
            let response: HttpResponse = actix_http::ws::handshake(req.head())?
                .message_body(out_body.boxed())?
                .into();
            let max = shared.config.max_frame_bytes + 16;
            let stream = stream
                .max_frame_size(max)
                .aggregate_continuations()
                .max_continuation_size(max);
            match known {
                Some(link) => {
                    // The session's task probes it; a session gone meanwhile drops it.
                    let reads = WsReads::relay(stream);
                    let _ = link.inbound.send(Inbound::Upgrade(outlet, reads)).await;
                }
                None => {
                    let reads = WsReads::Direct(stream);
                    let ws = WsConn { outlet, reads };
                    let sid = Sid::new();
                    let open = wire::open(&sid, false, ping, config.max_payload as u64);
                    let session = Session::websocket(shared, sessions, config, sid, ws);
                    actix_web::rt::spawn(session.run(Some(open)));
                }
            }
            Ok(response)
        }
    }
}

async fn post(
    query: web::Query<EngineQuery>,
    body: web::Bytes,
    endpoint: web::Data<Endpoint>,
) -> HttpResponse {
    match transport(&query) {
        Ok("polling") => {}
        Ok(_) => return EngineError::BadRequest.response(),
        Err(e) => return e.response(),
    }
    let Some(link) = query
        .sid
        .as_deref()
        .and_then(|sid| endpoint.sessions.get(sid))
    else {
        return EngineError::UnknownSid.response();
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        return EngineError::BadRequest.response();
    };
    let packets: Result<Vec<_>, _> = payload
        .split('\u{1e}')
        .map(|p| EnginePacket::parse(ProtocolVersion::V4, p.to_owned()))
        .collect();
    let Ok(packets) = packets else {
        // Engine.IO ends a session that posts what is not its protocol.
        let _ = link.inbound.try_send(Inbound::Fault);
        return EngineError::BadRequest.response();
    };
    if link.inbound.send(Inbound::Packets(packets)).await.is_err() {
        return EngineError::UnknownSid.response();
    }
    text("ok".into())
}
