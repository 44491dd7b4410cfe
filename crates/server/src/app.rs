//! Wiring: database → repository → services → HTTP app.
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpMessage, HttpServer};
use huddle_auth::{AuthConfig, AuthError, AuthService, JwtKeys};
use huddle_cluster::{ClusterConfig, ClusterPresence, RedisBus, RedisLimiter, SharedRedis};
use huddle_domain::files::FileLinks;
use huddle_domain::limits::{MemoryLimiter, Rate, RateLimiter};
use huddle_domain::service::ChatService;
use huddle_domain::{EndedSession, EventPublisher, Repository};
use huddle_files::{FileStore, SignedLinks};
use huddle_http_api::{ApiLimits, ApiState, FilesState, ReadinessProbe};
use huddle_persistence::{DatabaseConfig, DieselRepository, PersistenceError};
use huddle_realtime::{BusEvent, BusPublisher, EventBus, Gateway, Hub, HubHandle, LocalBus};
use rand::RngCore;
use thiserror::Error;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::{Config, Environment};

#[derive(Debug, Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] PersistenceError),
    #[error("auth: {0}")]
    Auth(#[from] AuthError),
    #[error("could not bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Redis: {0}")]
    Redis(String),
    #[error("no JWT secret in production")]
    MissingSecret,
    #[error("file storage: {0}")]
    Files(#[from] huddle_files::FileError),
    #[error("start-up task failed: {0}")]
    Task(String),
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown: ShutdownHandle,
}

/// Stops the server gracefully: sockets are closed with 1001 after acking what they had
/// sent, then in-flight HTTP requests finish, then the server stops.
#[derive(Clone)]
pub struct ShutdownHandle {
    server: ServerHandle,
    gateway: Gateway,
    bus: Option<RedisBus>,
    timeout: std::time::Duration,
}

impl ShutdownHandle {
    pub async fn shutdown(&self) {
        self.gateway.shutdown(self.timeout).await;
        if let Some(bus) = &self.bus {
            bus.leave().await;
        }
        self.server.stop(true).await;
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
}

impl Application {
    /// Connects and migrates the database, binds the listener and prepares the server; the
    /// server runs once [`Application::run_until_stopped`] is awaited.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let secret = jwt_secret(&config)?;
        // Links to files are signed with a key derived from the token secret, which every node
        // of a cluster shares: a link made on one node is good on all.
        let links = Arc::new(SignedLinks::new(&secret, config.files.link_period));
        let store = FileStore::open(&config.files.store)?;
        let mut db = DatabaseConfig::from_url(&config.database_url, config.db_pool_size);
        db.writers = config.db_writers;
        let repo_links: Arc<dyn FileLinks> = links.clone();
        let repo = tokio::task::spawn_blocking(move || {
            DieselRepository::connect_with_links(&db, repo_links)
        })
        .await
        .map_err(|e| StartupError::Task(e.to_string()))??;
        tracing::info!(backend = repo.backend().name(), "storage connected");
        let pool_repo = repo.clone();
        let pool_state: crate::metrics::PoolState = Arc::new(move || pool_repo.pool_state());
        let repo: Arc<dyn Repository> = Arc::new(repo);

        let auth_config = AuthConfig {
            access_ttl: config.access_token_ttl,
            refresh_ttl: config.refresh_token_ttl,
            bcrypt_cost: config.bcrypt_cost,
        };
        let auth_repo = repo.clone();
        let auth = tokio::task::spawn_blocking(move || {
            let auth = AuthService::new(auth_repo, JwtKeys::new(&secret), auth_config)?;
            // Sessions ended within a token lifetime stay refused across a restart.
            let ended = auth.load_revocations()?;
            tracing::info!(ended, "recently ended sessions loaded");
            Ok::<_, AuthError>(auth)
        })
        .await
        .map_err(|e| StartupError::Task(e.to_string()))??;

        let (hub_handle, hub) = Hub::new(&config.realtime);
        let hub = hub.with_revocations(auth.revocations().clone());
        let cluster = match &config.redis_url {
            None => None,
            Some(url) => Some(Cluster::start(&config, url, hub_handle.clone())?),
        };
        let bus: Arc<dyn EventBus> = match &cluster {
            Some(c) => Arc::new(c.bus.clone()),
            None => Arc::new(LocalBus::new(hub_handle.clone())),
        };
        hub.spawn(bus.clone(), repo.clone());
        let sessions_bus = bus.clone();
        let auth = Arc::new(
            auth.on_sessions_ended(Arc::new(move |ended: &[EndedSession]| {
                sessions_bus.publish(BusEvent::SessionsEnded {
                    sessions: ended.iter().map(|e| (e.user_id, e.id.clone())).collect(),
                });
            })),
        );
        let events: Arc<dyn EventPublisher> = Arc::new(BusPublisher::new(bus));
        let chat = ChatService::new(repo, events);
        prune_event_log_periodically(chat.clone(), config.event_retention);
        let janitor = Arc::new(tokio::sync::Notify::new());
        huddle_files::janitor::spawn(
            chat.clone(),
            store.clone(),
            config.files.sweep_interval,
            janitor.clone(),
        );
        let send_limiter = limiter(cluster.as_ref(), "send", config.realtime.send_rate());
        let gateway = Gateway::new(
            chat.clone(),
            auth.clone(),
            hub_handle.clone(),
            send_limiter.clone(),
            config.realtime.clone(),
        );
        let state = ApiState {
            chat,
            auth,
            auth_limiter: limiter(cluster.as_ref(), "auth", auth_rate(&config)),
            send_limiter,
            limits: ApiLimits {
                max_body_bytes: config.max_body_bytes,
                trust_proxy_headers: config.trust_proxy_headers,
            },
            readiness: cluster
                .iter()
                .map(|c| {
                    let health = c.redis.health();
                    let probe: ReadinessProbe = Arc::new(move || ("redis", health.is_ok()));
                    probe
                })
                .collect(),
            presence: match &cluster {
                Some(c) => Arc::new(c.presence()),
                None => Arc::new(hub_handle.clone()),
            },
            files: FilesState {
                store,
                links,
                max_bytes: config.files.max_bytes,
                janitor,
            },
        };

        let addr = format!("{}:{}", config.host, config.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();

        let data = web::Data::new(state);
        let app_gateway = gateway.clone();
        let metrics = crate::metrics::Metrics::new(gateway.clone(), pool_state)
            .map_err(|e| StartupError::Task(format!("metrics: {e}")))?;
        let mut server = HttpServer::new(move || {
            let state = data.clone();
            App::new()
                .wrap(huddle_http_api::json_error_handlers())
                .wrap_fn(|req, srv| {
                    let request_id = req.extensions().get::<RequestId>().map(|r| r.to_string());
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok())
                        {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), id);
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(huddle_realtime::configure(app_gateway.clone()))
                .configure(crate::metrics::configure(metrics.clone()))
                .configure(huddle_http_api::configure(&state))
                .configure(huddle_web::configure)
        })
        // Signals are handled here, so sockets can be closed before the HTTP server stops.
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        // A socket often writes two small frames back to back (a message.created, then the
        // sender's ack). With Nagle's algorithm the second waits for the client's delayed ACK
        // of the first: 40 ms stalls that the store benchmark showed. Frames are already
        // coalesced per wake-up, so nothing is gained by holding them back in the kernel.
        .tcp_nodelay(true)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: format!("{}:{port}", config.host),
            source,
        })?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        tracing::info!("listening on http://{}:{port}", config.host);
        let server = server.run();
        Ok(Self {
            port,
            shutdown: ShutdownHandle {
                server: server.handle(),
                gateway,
                bus: cluster.map(|c| c.bus),
                timeout: config.shutdown_timeout,
            },
            server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (gracefully, like SIGTERM) from elsewhere, e.g. a test.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves until SIGINT/SIGTERM (or a stop through the handle), then shuts down gracefully
    /// within the configured timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received: closing sockets, draining requests");
            shutdown.shutdown().await;
        });
        let result = self.server.await;
        signals.abort();
        result
    }
}

/// The Redis side of a clustered process.
struct Cluster {
    bus: RedisBus,
    redis: SharedRedis,
    prefix: String,
    config: ClusterConfig,
    hub: HubHandle,
}

impl Cluster {
    fn start(config: &Config, url: &str, hub: HubHandle) -> Result<Self, StartupError> {
        let redis = SharedRedis::new(url).map_err(|e| StartupError::Redis(e.to_string()))?;
        let mut cluster = ClusterConfig::new(url, config.redis_prefix.clone());
        cluster.presence_lease = config.presence_lease;
        if let Some(id) = &config.node_id {
            cluster.node_id = id.clone();
        }
        let bus = RedisBus::start(cluster.clone(), redis.clone(), hub.clone());
        Ok(Self {
            bus,
            redis,
            prefix: config.redis_prefix.clone(),
            config: cluster,
            hub,
        })
    }

    fn presence(&self) -> ClusterPresence {
        ClusterPresence::new(self.config.clone(), self.redis.clone(), self.hub.clone())
    }
}

/// A limit shared through Redis in a cluster, in memory otherwise.
fn limiter(cluster: Option<&Cluster>, name: &str, rate: Rate) -> Arc<dyn RateLimiter> {
    match cluster {
        Some(c) => Arc::new(RedisLimiter::new(c.redis.clone(), &c.prefix, name, rate)),
        None => Arc::new(MemoryLimiter::new(rate)),
    }
}

fn auth_rate(config: &Config) -> Rate {
    if config.auth_rate_limit == 0 {
        Rate::unlimited()
    } else {
        Rate::per_window(config.auth_rate_limit, config.auth_rate_window)
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops gracefully");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn jwt_secret(config: &Config) -> Result<Vec<u8>, StartupError> {
    match (&config.jwt_secret, config.environment) {
        (Some(s), _) => Ok(s.as_bytes().to_vec()),
        (None, Environment::Production) => Err(StartupError::MissingSecret),
        (None, Environment::Development) => {
            tracing::warn!(
                "HUDDLE_JWT_SECRET is not set: using a random secret for this run; \
                 sessions will not survive a restart (set it, and HUDDLE_ENV=production, in production)"
            );
            let mut secret = vec![0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            Ok(secret)
        }
    }
}

/// Forgets each room's logged changes past the retention, now and then a few times per
/// retention period (at most hourly). Every node does it; it is idempotent.
fn prune_event_log_periodically(chat: ChatService, retention: std::time::Duration) {
    let every = (retention / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(3600),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let chat = chat.clone();
            match tokio::task::spawn_blocking(move || chat.prune_event_log(retention)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(pruned = n, "event log pruned"),
                Ok(Err(e)) => tracing::warn!(error = %e, "event log pruning failed"),
                Err(e) => tracing::warn!(error = %e, "event log pruning task failed"),
            }
        }
    });
}
