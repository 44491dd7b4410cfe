use diesel::result::{DatabaseErrorKind, Error as DieselError};
use huddle_domain::RepoError;
use thiserror::Error;

/// Failures while opening or migrating the database, at start-up.
#[derive(Debug, Error)]
pub enum PersistenceError {
    #[error("could not create the connection pool for {backend}: {source}")]
    Pool {
        backend: &'static str,
        #[source]
        source: r2d2::Error,
    },
    #[error("could not run migrations: {0}")]
    Migration(String),
    #[error("could not connect: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] DieselError),
    #[error("could not start the message writer: {0}")]
    Thread(std::io::Error),
}

/// Maps a Diesel error to what the domain understands. A unique violation becomes
/// `Conflict(rule)`, with the rule named by the caller that knows which constraint it hit.
pub(crate) fn map_err(rule: &'static str) -> impl Fn(DieselError) -> RepoError {
    move |e| match e {
        DieselError::NotFound => RepoError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            RepoError::Conflict(rule)
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            RepoError::NotFound
        }
        other => RepoError::Unavailable(other.to_string()),
    }
}

pub(crate) fn db_err(e: DieselError) -> RepoError {
    map_err("record")(e)
}
