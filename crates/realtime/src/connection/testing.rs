//! A connection's world without a socket or a database: the services on the in-memory
//! repository, a hub queue the tests read instead of a hub, client frames fed through a
//! channel, and the server's frames decoded from the outlet as a client would.
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::ws::{Codec, Frame as WsFrame};
use actix_web::body::MessageBody;
use actix_web::web::{Bytes, BytesMut};
use actix_ws::{AggregatedMessage, ProtocolError};
use futures_util::Stream;
use huddle_auth::{AuthConfig, AuthService, JwtKeys};
use huddle_domain::limits::MemoryLimiter;
use huddle_domain::memory::MemoryRepository;
use huddle_domain::repository::{NewRoom, NewUser, RoomRepository, UserRepository};
use huddle_domain::service::ChatService;
use huddle_domain::{NoopPublisher, RoomId, UserId};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::RealtimeConfig;
use crate::connection::state::ConnState;
use crate::connection::writer::Writer;
use crate::delivery::Delivery;
use crate::hub::handle::{HubCommand, HubHandle, HubQueue};
use crate::link::Kill;
use crate::outlet::{outlet, Outlet, OutletBody};
use crate::shared::Shared;
use crate::user_slots::UserSlots;

/// Every frame the outlet holds now, decoded.
pub(crate) fn written(body: &mut OutletBody) -> Vec<WsFrame> {
    let mut decoding = Decoding::new();
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    while let Poll::Ready(Some(Ok(chunk))) = Pin::new(&mut *body).poll_next(&mut cx) {
        decoding.buf.extend_from_slice(&chunk);
    }
    std::iter::from_fn(|| decoding.frame()).collect()
}

/// Frames out of the bytes the outlet hands over, decoded as a client does.
struct Decoding {
    codec: Codec,
    buf: BytesMut,
}

impl Decoding {
    fn new() -> Self {
        Self {
            codec: Codec::new().client_mode().max_size(1 << 20),
            buf: BytesMut::new(),
        }
    }

    fn frame(&mut self) -> Option<WsFrame> {
        self.codec.decode(&mut self.buf).unwrap()
    }
}

/// A connection's services, its user (1, "ann") and a room of hers (1).
pub(crate) struct World {
    pub shared: Arc<Shared>,
    pub repo: Arc<MemoryRepository>,
    /// What the connection told the hub.
    pub hub: HubQueue,
    pub user_id: UserId,
    pub room_id: RoomId,
}

impl World {
    pub(crate) fn new(config: RealtimeConfig) -> Self {
        let repo = Arc::new(MemoryRepository::new());
        let chat = ChatService::new(repo.clone(), Arc::new(NoopPublisher));
        let auth_config = AuthConfig {
            bcrypt_cost: 4,
            ..AuthConfig::default()
        };
        let keys = JwtKeys::new(b"a secret for the unit tests only");
        let auth = AuthService::new(repo.clone(), keys, auth_config).unwrap();
        let (hub_handle, hub) = HubHandle::with_lag_limit(config.fanout_lag_limit);
        let shared = Arc::new(Shared {
            send_limiter: Arc::new(MemoryLimiter::new(config.send_rate())),
            chat,
            auth: Arc::new(auth),
            hub: hub_handle,
            user_slots: UserSlots::new(config.max_sockets_per_user),
            config,
            next_conn: AtomicU64::new(1),
            node: "node".into(),
            shutdown: watch::channel(false).0,
            active: AtomicUsize::new(0),
        });
        let user_id = add_user(&repo, "ann");
        let room_id = repo
            .create_room(NewRoom {
                name: "general".into(),
                description: String::new(),
                is_private: false,
                owner_id: user_id,
            })
            .unwrap()
            .id;
        Self {
            shared,
            repo,
            hub,
            user_id,
            room_id,
        }
    }

    /// An access token of `user_id`'s session `session`.
    pub(crate) fn token(&self, user_id: UserId, session: &str, ttl: Duration) -> String {
        self.shared
            .auth
            .keys()
            .issue(user_id, session, ttl)
            .unwrap()
    }

    pub(crate) fn ann(&self) -> String {
        self.token(self.user_id, "s1", Duration::from_secs(600))
    }

    /// The hub's commands so far.
    pub(crate) fn told_hub(&mut self) -> Vec<HubCommand> {
        std::iter::from_fn(|| self.hub.try_recv().ok()).collect()
    }
}

pub(crate) fn add_user(repo: &MemoryRepository, name: &str) -> UserId {
    repo.create_user(NewUser {
        username: name.into(),
        display_name: name.into(),
        password_hash: "x".into(),
    })
    .unwrap()
    .id
}

/// The client's side of a fake socket.
pub(crate) struct Client {
    pub tx: mpsc::UnboundedSender<Result<AggregatedMessage, ProtocolError>>,
    pub body: OutletBody,
    decoding: Decoding,
}

/// The server's side: what the connection reads, and its outlet.
pub(crate) struct ServerEnd {
    pub stream: Incoming,
    pub outlet: Outlet,
}

pub(crate) struct Incoming(mpsc::UnboundedReceiver<Result<AggregatedMessage, ProtocolError>>);

impl Stream for Incoming {
    type Item = Result<AggregatedMessage, ProtocolError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// A socket pair with nothing written or read yet.
pub(crate) fn socket() -> (Client, ServerEnd) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (outlet, body) = outlet();
    (
        Client {
            tx,
            body,
            decoding: Decoding::new(),
        },
        ServerEnd {
            stream: Incoming(rx),
            outlet,
        },
    )
}

/// What the client got: a text frame as JSON, or a close frame's code and reason.
#[derive(Debug, PartialEq)]
pub(crate) enum Got {
    Text(Value),
    Close(Option<u16>, Option<String>),
    Other(String),
}

impl Got {
    /// The text frame's JSON; panics on anything else.
    pub(crate) fn json(self) -> Value {
        match self {
            Got::Text(v) => v,
            other => panic!("not a text frame: {other:?}"),
        }
    }
}

impl Client {
    pub(crate) fn send(&self, frame: Value) {
        self.send_message(AggregatedMessage::Text(frame.to_string().into()));
    }

    pub(crate) fn send_message(&self, msg: AggregatedMessage) {
        let _ = self.tx.send(Ok(msg));
    }

    /// The next frame the server wrote; panics after a few seconds without one.
    pub(crate) async fn recv(&mut self) -> Got {
        tokio::time::timeout(Duration::from_secs(5), self.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
    }

    /// The next frame, or `None` once the server ended the response.
    pub(crate) async fn next(&mut self) -> Option<Got> {
        loop {
            if let Some(frame) = self.decoding.frame() {
                return Some(match frame {
                    WsFrame::Text(b) => Got::Text(serde_json::from_slice(&b).unwrap()),
                    WsFrame::Close(r) => Got::Close(
                        r.as_ref().map(|r| u16::from(r.code)),
                        r.and_then(|r| r.description),
                    ),
                    other => Got::Other(format!("{other:?}")),
                });
            }
            let chunk: Option<Bytes> = futures_util::future::poll_fn(|cx| {
                Pin::new(&mut self.body)
                    .poll_next(cx)
                    .map(|c| c.map(|c| c.unwrap_or_else(|e| match e {})))
            })
            .await;
            self.decoding.buf.extend_from_slice(&chunk?);
        }
    }

    /// Text frames until one of type `kind` (returned); the others are returned too, in order.
    pub(crate) async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let v = self.recv().await.json();
            if v["type"] == kind {
                return (v, before);
            }
            before.push(v);
        }
    }
}

/// A set-up connection's state on a fresh socket: the user's room, held for a sync when
/// `hold` is set.
pub(crate) fn state(world: &World, hold: bool) -> (ConnState, Client) {
    let (client, server) = socket();
    let config = &world.shared.config;
    let writer = Writer::new(
        server.outlet,
        Arc::new(Kill::default()),
        config.client_timeout,
    );
    let now = Instant::now();
    let state = ConnState {
        shared: world.shared.clone(),
        writer,
        user_id: world.user_id,
        conn: 1,
        delivery: Delivery::new([world.room_id], hold),
        grace: hold.then(|| now + config.sync_grace),
        token_expires: now + Duration::from_secs(600),
        last_seen: now,
        last_typing: None,
    };
    (state, client)
}
