//! Helpers shared by the workspace's integration tests.
//!
//! - [`TestDb`]: a fresh database per test, SQLite (a temporary file) or PostgreSQL (a new
//!   database on `127.0.0.1:5432`, dropped afterwards), so tests run in parallel and leave
//!   nothing behind.
//! - [`TestApp`]: the real server, started on a random port against its own `TestDb`.
//! - [`WsClient`]: a real WebSocket client (tokio-tungstenite) for the gateway.
//! - [`files`]: multipart uploads and the objects a server stored.
//! - [`s3`]: the S3-compatible server (Garage) for the shared-storage tests.
//! - [`socketio`]: the real `socket.io-client`, in Node.js, driven by a test.
//! - [`backend_tests!`]: runs each listed test once per backend.
//!
//! PostgreSQL tests skip with a loud message when no server is reachable, except with
//! `CI=true`, where they fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
pub mod cluster;
mod db;
pub mod files;
pub mod s3;
pub mod socketio;
mod ws;

pub use app::{
    assert_error, ids, query_string, session_from, test_config, Session, TestApp, PASSWORD,
};
pub use db::{Backend, TestDb};
pub use ws::{of_type, seqs, WsClient, WAIT};

/// [`backend_tests!`] for plain (blocking) test functions: `fn name(backend: Backend)`.
#[macro_export]
macro_rules! blocking_backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::Backend::Sqlite);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if $crate::Backend::Postgres.available() {
                        super::$name($crate::Backend::Postgres);
                    }
                }
            )*
        }
    };
}

/// Expands `backend_tests!(a, b)` into `sqlite::a`, `sqlite::b`, `postgres::a`, `postgres::b`,
/// each calling `a(Backend::…)`. The test functions are `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::Backend::Postgres.available() {
                        super::$name($crate::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}
