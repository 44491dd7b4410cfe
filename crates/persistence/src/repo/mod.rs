//! `DieselRepository`: the domain's repository traits over the pool. One file per aggregate.
mod event_log;
mod files;
mod invites;
mod literal_limit;
mod messages;
mod reactions;
mod reads;
mod rooms;
mod search;
mod search_vector;
mod tokens;
mod users;
mod writer;

// Unicode-aware on SQLite too: each SQLite connection registers its own `lower` (see
// `connection.rs`), so case-insensitive search agrees on both databases.
diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

use diesel::connection::SimpleConnection;
use huddle_domain::files::{FileLinks, PlainLinks};
use huddle_domain::repository::{HealthCheck, RepoResult};
use huddle_domain::RepoError;

use crate::connection::{
    build_pool, run_migrations, Backend, DatabaseConfig, Pool, PooledConnection,
};
use crate::error::PersistenceError;

#[derive(Clone)]
pub struct DieselRepository {
    pool: Pool,
    backend: Backend,
    writer: std::sync::Arc<writer::MessageWriter>,
    /// Makes the links in attachments, wherever a message is read.
    links: std::sync::Arc<dyn FileLinks>,
}

impl DieselRepository {
    /// Opens the pool and applies pending migrations. Blocks; call it at start-up. Attachments
    /// get links that need the bearer token; see [`Self::connect_with_links`].
    pub fn connect(config: &DatabaseConfig) -> Result<Self, PersistenceError> {
        Self::connect_with_links(config, std::sync::Arc::new(PlainLinks))
    }

    /// [`Self::connect`], with attachments' links made by `links` (signed links, in the server).
    pub fn connect_with_links(
        config: &DatabaseConfig,
        links: std::sync::Arc<dyn FileLinks>,
    ) -> Result<Self, PersistenceError> {
        let pool = build_pool(config)?;
        let mut conn = pool.get().map_err(|source| PersistenceError::Pool {
            backend: config.backend.name(),
            source,
        })?;
        let applied = run_migrations(&mut conn)?;
        tracing::info!(backend = config.backend.name(), applied, "database ready");
        drop(conn);
        let writers = config.writer_count();
        let writer =
            writer::MessageWriter::start(pool.clone(), config.backend, writers, links.clone())
                .map_err(PersistenceError::Thread)?;
        tracing::info!(writers, "message writers started");
        Ok(Self {
            pool,
            backend: config.backend,
            writer: std::sync::Arc::new(writer),
            links,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections waiting for work and in use, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.idle_connections, s.connections - s.idle_connections)
    }

    pub(crate) fn conn(&self) -> RepoResult<PooledConnection> {
        // The common case takes an idle connection at once; only a wait is timed and counted
        // (huddle_db_pool_waits_total), so the metric costs nothing when the pool keeps up.
        if let Some(conn) = self.pool.try_get() {
            return Ok(conn);
        }
        let started = std::time::Instant::now();
        let conn = self.pool.get().map_err(crate::error::no_connection);
        huddle_metrics::record_pool_wait(started.elapsed());
        conn
    }
}

impl HealthCheck for DieselRepository {
    fn ping(&self) -> RepoResult<()> {
        self.conn()?
            .batch_execute("SELECT 1")
            .map_err(|e| RepoError::Unavailable(huddle_domain::Cause::new(e)))
    }
}
