//! Wiring: database → repository → services → HTTP app.
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpMessage, HttpServer};
use huddle_auth::{AuthConfig, AuthError, AuthService, JwtKeys};
use huddle_domain::service::ChatService;
use huddle_domain::{EventPublisher, NoopPublisher, Repository};
use huddle_http_api::{ApiLimits, ApiState, RateLimiter};
use huddle_persistence::{DatabaseConfig, DieselRepository, PersistenceError};
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
    #[error("no JWT secret in production")]
    MissingSecret,
    #[error("start-up task failed: {0}")]
    Task(String),
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects and migrates the database, binds the listener and prepares the server; the
    /// server runs once [`Application::run_until_stopped`] is awaited.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let db = DatabaseConfig::from_url(&config.database_url, config.db_pool_size);
        let repo = tokio::task::spawn_blocking(move || DieselRepository::connect(&db))
            .await
            .map_err(|e| StartupError::Task(e.to_string()))??;
        tracing::info!(backend = repo.backend().name(), "storage connected");
        let repo: Arc<dyn Repository> = Arc::new(repo);

        let secret = jwt_secret(&config)?;
        let auth_config = AuthConfig {
            access_ttl: config.access_token_ttl,
            refresh_ttl: config.refresh_token_ttl,
            bcrypt_cost: config.bcrypt_cost,
        };
        let auth_repo = repo.clone();
        let auth = tokio::task::spawn_blocking(move || {
            AuthService::new(auth_repo, JwtKeys::new(&secret), auth_config)
        })
        .await
        .map_err(|e| StartupError::Task(e.to_string()))??;

        let events: Arc<dyn EventPublisher> = Arc::new(NoopPublisher);
        let state = ApiState {
            chat: ChatService::new(repo, events),
            auth: Arc::new(auth),
            auth_limiter: Arc::new(RateLimiter::new(config.auth_rate_limit, config.auth_rate_window)),
            limits: ApiLimits {
                max_body_bytes: config.max_body_bytes,
                trust_proxy_headers: config.trust_proxy_headers,
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
        let mut server = HttpServer::new(move || {
            let state = data.clone();
            App::new()
                .wrap(huddle_http_api::json_error_handlers())
                .wrap_fn(|req, srv| {
                    let request_id = req.extensions().get::<RequestId>().map(|r| r.to_string());
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), id);
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .configure(huddle_http_api::configure(&state))
        })
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: format!("{}:{port}", config.host),
            source,
        })?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        tracing::info!("listening on http://{}:{port}", config.host);
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (gracefully, like SIGTERM) from elsewhere, e.g. a test.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or a stop through the handle), then drains in-flight
    /// requests for up to the configured shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
