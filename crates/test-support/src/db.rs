use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the tests' PostgreSQL lives: `HUDDLE_TEST_PG` or the machine's default.
fn pg_base() -> String {
    std::env::var("HUDDLE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Backend {
    /// Whether tests of this backend can run. PostgreSQL is probed once per test binary; when
    /// it is unreachable the tests skip loudly, or fail under CI.
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => {
                static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
                let probe = REACHABLE.get_or_init(|| {
                    PgConnection::establish(&format!("{}/postgres", pg_base()))
                        .map(drop)
                        .map_err(|e| e.to_string())
                });
                match probe {
                    Ok(()) => true,
                    Err(e) if in_ci() => panic!(
                        "CI=true but PostgreSQL is unreachable at {}: {e}",
                        pg_base()
                    ),
                    Err(e) => {
                        eprintln!(
                            "\n!!!!!!!! SKIPPING PostgreSQL test: {} unreachable ({e}). \
                             Start PostgreSQL or set HUDDLE_TEST_PG. !!!!!!!!\n",
                            pg_base()
                        );
                        false
                    }
                }
            }
        }
    }
}

/// A database of its own for one test.
pub struct TestDb {
    pub backend: Backend,
    /// What to put in `DATABASE_URL`.
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn create(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("huddle.db").display());
                TestDb {
                    backend,
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!("huddle_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&format!("{}/postgres", pg_base()))
                    .expect("connect to PostgreSQL");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                TestDb {
                    backend,
                    url: format!("{}/{name}", pg_base()),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres", pg_base())) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
