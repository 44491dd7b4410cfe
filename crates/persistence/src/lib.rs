//! Huddle's storage: one Diesel code path over PostgreSQL and SQLite (through
//! `#[derive(MultiConnection)]`), pooled with r2d2, migrated at start from the embedded
//! `migrations/` folders, and exposed only as the domain's repository traits.
//!
//! Every method blocks, except `MessageRepository::submit_message` (which queues the message to
//! a writer thread and returns); callers run them on a blocking thread pool, never on the async
//! executor.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod connection;
mod error;
mod models;
mod repo;
mod schema;

pub use connection::{AnyConnection, Backend, DatabaseConfig};
pub use error::PersistenceError;
pub use repo::DieselRepository;
