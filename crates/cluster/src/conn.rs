//! One lazily (re)connected Redis connection for commands, and the health flag `/readyz`
//! reports.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

/// Whether Redis answered last time anyone asked. Faults are logged on the change, not per
/// command.
#[derive(Debug, Default)]
pub struct RedisHealth {
    down: AtomicBool,
}

impl RedisHealth {
    pub fn is_ok(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    pub(crate) fn report(&self, ok: bool, what: &str, error: Option<&redis::RedisError>) {
        let was_down = self.down.swap(!ok, Ordering::Relaxed);
        match (was_down, ok) {
            (false, false) => {
                tracing::warn!(what, error = ?error.map(ToString::to_string), "Redis unreachable: serving local connections only until it is back")
            }
            (true, true) => tracing::info!(what, "Redis reachable again"),
            _ => {}
        }
    }
}

/// A command connection shared by the bus, presence and limiter. Connecting is retried at most
/// once a second while Redis is down, so callers fail fast instead of piling up.
#[derive(Clone)]
pub struct SharedRedis {
    client: redis::Client,
    manager: Arc<Mutex<(Option<ConnectionManager>, Option<Instant>)>>,
    health: Arc<RedisHealth>,
}

const RETRY_CONNECT: Duration = Duration::from_secs(1);

impl SharedRedis {
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            manager: Arc::new(Mutex::new((None, None))),
            health: Arc::new(RedisHealth::default()),
        })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn health(&self) -> Arc<RedisHealth> {
        self.health.clone()
    }

    /// The connection, or `None` while Redis is unreachable.
    pub async fn get(&self) -> Option<ConnectionManager> {
        let mut guard = self.manager.lock().await;
        if let Some(m) = &guard.0 {
            return Some(m.clone());
        }
        if guard.1.is_some_and(|at| at.elapsed() < RETRY_CONNECT) {
            return None;
        }
        guard.1 = Some(Instant::now());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(1000)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(m) => {
                self.health.report(true, "connect", None);
                guard.0 = Some(m.clone());
                Some(m)
            }
            Err(e) => {
                self.health.report(false, "connect", Some(&e));
                None
            }
        }
    }

    /// Runs a command, recording whether Redis answered.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.get().await?;
        match f(conn).await {
            Ok(v) => {
                self.health.report(true, what, None);
                Some(v)
            }
            Err(e) => {
                self.health.report(false, what, Some(&e));
                None
            }
        }
    }
}
