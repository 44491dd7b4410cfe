//! Which database, how to connect to it, and the pool.
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::PersistenceError;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// One connection type for both backends, so queries are written once.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub backend: Backend,
    /// A PostgreSQL URL, or an SQLite file path.
    pub target: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    /// Message writer threads (see `repo::writer`); `None` picks by backend, see
    /// [`DatabaseConfig::writer_count`].
    pub writers: Option<u32>,
}

impl DatabaseConfig {
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; anything else is an SQLite file,
    /// with an optional `sqlite://` or `sqlite:` prefix.
    pub fn from_url(url: &str, pool_size: u32) -> Self {
        let (backend, target) =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                (Backend::Postgres, url.to_owned())
            } else {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .unwrap_or(url);
                (Backend::Sqlite, path.to_owned())
            };
        DatabaseConfig {
            backend,
            target,
            pool_size: pool_size.max(1),
            connect_timeout: Duration::from_secs(10),
            writers: None,
        }
    }

    /// How many message writers to run. Writers take turns with rooms: a batch holds its rooms
    /// until it is answered, and a second writer starts beside a running one only once a
    /// backlog of other rooms' sends waits (`repo::writer::queue`), so at a low load one writer
    /// takes in every send that queued during its last commit, as large a batch as the load
    /// makes. Two by default on PostgreSQL: the second overlaps one batch's commit round trip
    /// with the next batch's statement (more stored sends with four in flight per sender on
    /// two cores, fan-out unchanged; BENCHMARKS.md, "The store at four sends in flight"). One
    /// on SQLite, which has one write lock. A configured count is kept within 1..=pool size.
    pub fn writer_count(&self) -> usize {
        let n = match (self.writers, &self.backend) {
            (Some(n), _) => n,
            (None, Backend::Postgres) => 2,
            (None, Backend::Sqlite) => 1,
        };
        let n = n.min(self.pool_size);
        usize::try_from(n.max(1)).unwrap_or(1)
    }

    /// One connection outside any pool, set up as the pool's are (SQLite's pragmas and
    /// `lower`), for tools that work on a server's database beside it: the benchmarks' naive
    /// baseline and checks. Migrations are not run.
    pub fn connect(&self) -> Result<AnyConnection, PersistenceError> {
        use r2d2::ManageConnection;
        let manager = Manager {
            backend: self.backend,
            target: self.target.clone(),
        };
        manager.connect().map_err(|e| match e {
            ManagerError::Connect(e) => PersistenceError::Connect(e),
            ManagerError::Query(e) => PersistenceError::Query(e),
        })
    }
}

/// Connects by the configured backend, instead of Diesel's try-each-backend, so a PostgreSQL
/// URL never falls through to creating an SQLite file of that name.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    backend: Backend,
    target: String,
}

/// SQLite needs these on every connection: foreign keys for cascading deletes, a busy timeout
/// so concurrent writers wait instead of failing, and WAL so readers do not block the writer.
/// `synchronous = FULL` syncs the log at every commit: an acknowledged message survives a power
/// cut or an OS crash, as on PostgreSQL (`NORMAL` may lose the last commits). Group commit makes
/// that one sync per batch: the store's throughput did not move, the naive writer's halved
/// (BENCHMARKS.md, "SQLite"). Temporary storage in memory keeps a statement's undo
/// journal there: a batch's multi-row insert (with its search-index triggers) outgrew the
/// 64 KiB SQLite holds in memory, and each batch then created, wrote and deleted a file. The
/// first 256 MiB of the file are read through a memory map: pages come from the OS's page
/// cache, shared by every connection, instead of being read and parsed into each connection's
/// own 2 MiB cache (searches at 200/s over 1,000,000 messages: p99 14 s -> 36 ms). Those pages
/// count in the process's RSS, once per connection that mapped them; they are file cache,
/// not heap. The busy timeout comes first: switching a new file to WAL takes a lock, and the
/// pool opens its connections at once, so without it one of them failed at once with "database
/// is locked" (about one start in eight on a fresh file).
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
                            PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                            PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 268435456;";

/// SQLite's built-in `lower()` folds ASCII letters only, so a room search for "über" would miss
/// "ÜBER". Room search is case-insensitive for all of Unicode, as PostgreSQL's `lower()` is, so
/// each SQLite connection replaces `lower` with Rust's (the search pattern is lowered the same way).
fn register_unicode_lower(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    use diesel::sql_types::{Nullable, Text};
    conn.register_sql_function::<(Nullable<Text>,), Nullable<Text>, _, _, _>(
        "lower",
        true,
        |(s,): (Option<String>,)| s.map(|s| s.to_lowercase()),
    )
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagerError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = ManagerError;

    fn connect(&self) -> Result<AnyConnection, ManagerError> {
        Ok(match self.backend {
            Backend::Postgres => AnyConnection::Postgresql(PgConnection::establish(&self.target)?),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)?;
                conn.batch_execute(SQLITE_SETUP)?;
                register_unicode_lower(&mut conn)?;
                AnyConnection::Sqlite(conn)
            }
        })
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ManagerError> {
        Ok(conn.batch_execute("SELECT 1")?)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

pub(crate) type Pool = r2d2::Pool<Manager>;
pub(crate) type PooledConnection = r2d2::PooledConnection<Manager>;

pub(crate) fn build_pool(config: &DatabaseConfig) -> Result<Pool, PersistenceError> {
    let manager = Manager {
        backend: config.backend,
        target: config.target.clone(),
    };
    r2d2::Pool::builder()
        .max_size(config.pool_size)
        .min_idle(Some(1))
        .connection_timeout(config.connect_timeout)
        .test_on_check_out(false)
        .build(manager)
        .map_err(|source| PersistenceError::Pool {
            backend: config.backend.name(),
            source,
        })
}

/// Any constant will do; it only has to be the same for every Huddle process.
const MIGRATION_LOCK: i64 = 0x4875_6464_6c65;

/// Applies pending migrations. On PostgreSQL several processes may start at once against one
/// database, so they take turns under an advisory lock.
pub(crate) fn run_migrations(conn: &mut AnyConnection) -> Result<usize, PersistenceError> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            applied
        }
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| PersistenceError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{BigInt, Text};
    use diesel::RunQueryDsl;

    use super::*;

    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[derive(diesel::QueryableByName)]
    struct MmapSize {
        #[diesel(sql_type = BigInt)]
        mmap_size: i64,
    }

    #[derive(diesel::QueryableByName)]
    struct Word {
        #[diesel(sql_type = Text)]
        w: String,
    }

    /// A pragma's value; its column is named after it, except busy_timeout's.
    fn number(c: &mut AnyConnection, pragma: &str) -> i64 {
        let column = if pragma == "busy_timeout" {
            "timeout"
        } else {
            pragma
        };
        diesel::sql_query(format!("SELECT {column} AS n FROM pragma_{pragma}"))
            .get_result::<Number>(c)
            .unwrap()
            .n
    }

    /// Every SQLite connection, pooled or not, is durable at each commit (FULL = 2), keeps
    /// temporary storage in memory (MEMORY = 2), maps the file, logs ahead and enforces
    /// foreign keys.
    #[test]
    fn sqlite_connections_are_set_up_durable() {
        let dir = std::env::temp_dir().join(format!("huddle-pragmas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = DatabaseConfig::from_url(dir.join("p.db").to_str().unwrap(), 2);
        let pool = build_pool(&config).unwrap();
        let mut pooled = pool.get().unwrap();
        let mut single = config.connect().unwrap();
        for c in [&mut *pooled, &mut single] {
            assert_eq!(number(c, "synchronous"), 2);
            assert_eq!(number(c, "temp_store"), 2);
            assert_eq!(number(c, "foreign_keys"), 1);
            assert_eq!(number(c, "busy_timeout"), 15000);
            // Not a table-valued pragma: it is asked as a statement of its own.
            let mapped = diesel::sql_query("PRAGMA mmap_size")
                .get_result::<MmapSize>(c)
                .unwrap()
                .mmap_size;
            assert_eq!(mapped, 256 << 20);
            let mode = diesel::sql_query("SELECT journal_mode AS w FROM pragma_journal_mode")
                .get_result::<Word>(c)
                .unwrap()
                .w;
            assert_eq!(mode, "wal");
        }
        drop((pooled, single, pool));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
