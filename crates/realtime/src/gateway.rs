//! The `/api/v1/ws` endpoint: the public [`Gateway`] the server mounts and shuts down, and the
//! upgrade that hands each socket to its own connection task.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use huddle_auth::AuthService;
use huddle_domain::limits::RateLimiter;
use huddle_domain::service::ChatService;
use huddle_domain::ErrorCode;
use serde_json::json;
use tokio::sync::watch;

use crate::config::RealtimeConfig;
use crate::connection;
use crate::hub::handle::HubHandle;
use crate::outlet;
use crate::shared::Shared;
use crate::socketio;
use crate::user_slots::UserSlots;

/// The gateway: cheap to clone, one per process.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    /// The Socket.IO sessions that requests can name by id.
    socketio: Arc<socketio::Sessions>,
}

impl Gateway {
    /// `send_limiter` limits message sends per user (keys `send:<user id>`).
    pub fn new(
        chat: ChatService,
        auth: Arc<AuthService>,
        hub: HubHandle,
        send_limiter: Arc<dyn RateLimiter>,
        config: RealtimeConfig,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let node = format!("{:x}{:x}", std::process::id(), started & 0xffff_ffff);
        Self {
            shared: Arc::new(Shared {
                send_limiter,
                chat,
                auth,
                hub,
                user_slots: UserSlots::new(config.max_sockets_per_user),
                config,
                next_conn: AtomicU64::new(1),
                node,
                shutdown,
                active: AtomicUsize::new(0),
            }),
            socketio: Arc::default(),
        }
    }

    pub fn hub(&self) -> &HubHandle {
        &self.shared.hub
    }

    /// Open sockets, authenticated or not.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Refuses new sockets and closes the open ones with 1001, each after acking the commands
    /// it had already received. Returns when all are closed or `timeout` has passed.
    pub async fn shutdown(&self, timeout: Duration) {
        self.shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + timeout;
        while self.active_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.active_connections();
        if left > 0 {
            tracing::warn!(left, "shutdown timeout: sockets still open");
        }
    }
}

/// Mounts `GET /api/v1/ws` and `/socket.io/`. Register it before any `/api/v1` scope, which
/// would otherwise answer 404 for it.
pub fn configure(gateway: Gateway) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        socketio::configure(cfg, gateway.shared.clone(), gateway.socketio.clone());
        cfg.app_data(web::Data::new(gateway)).service(
            web::resource("/api/v1/ws")
                .route(web::get().to(upgrade))
                // Any other method: 405 naming the one that works (RFC 9110).
                .default_service(web::to(|| async {
                    HttpResponse::MethodNotAllowed()
                        .insert_header((header::ALLOW, "GET"))
                        .json(json!({"error": {"code": ErrorCode::MethodNotAllowed,
                            "message": "this method is not allowed here; allowed: GET"}}))
                })),
        );
    }
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    gateway: web::Data<Gateway>,
) -> Result<HttpResponse, actix_web::Error> {
    let shared = gateway.shared.clone();
    if *shared.shutdown.borrow() {
        return Ok(HttpResponse::ServiceUnavailable().json(json!({
            "error": {"code": ErrorCode::Unavailable, "message": "the server is shutting down"}
        })));
    }
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(huddle_auth::parse_bearer)
        .map(str::to_owned);
    // actix-ws reads; writes go through the outlet, whose buffer is the response body.
    let (_, _, stream) = actix_ws::handle(&req, body)?;
    let (session, body) = outlet::outlet();
    let response: HttpResponse = actix_http::ws::handshake(req.head())?
        .message_body(body.boxed())?
        .into();
    let max = shared.config.max_frame_bytes;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    actix_web::rt::spawn(connection::run(shared, session, stream, header_token, None));
    Ok(response)
}
