use diesel::result::{DatabaseErrorKind, Error as DieselError};
use huddle_domain::{Cause, RepoError};
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

/// Maps a Diesel error to what the domain understands, by class, once for every query. A
/// unique violation becomes `Conflict(rule)`, with the rule named by the caller that knows
/// which constraint it hit; the data's other refusals are the client's (`Invalid`); only a
/// lost connection is `Unavailable`; the rest is ours (`Internal`).
pub(crate) fn map_err(rule: &'static str) -> impl Fn(DieselError) -> RepoError {
    move |e| {
        let class: fn(Cause) -> RepoError = match &e {
            DieselError::NotFound => return RepoError::NotFound,
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => return RepoError::Conflict(rule),
                DatabaseErrorKind::ForeignKeyViolation => return RepoError::NotFound,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    RepoError::Unavailable
                }
                // A serialization failure or read-only standby passes: retrying later can work.
                DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ReadOnlyTransaction => RepoError::Unavailable,
                DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation => RepoError::Invalid,
                _ if is_data_error(info.message()) => RepoError::Invalid,
                _ => RepoError::Internal,
            },
            _ => RepoError::Internal,
        };
        // The driver's error stays the cause, so the log shows what the database said.
        class(Cause::new(e))
    }
}

/// A pool that gave no connection: the database is down or every connection is busy.
pub(crate) fn no_connection(e: r2d2::Error) -> RepoError {
    RepoError::Unavailable(Cause::new(NoConnection(e)))
}

#[derive(Debug, thiserror::Error)]
#[error("no database connection")]
struct NoConnection(#[source] r2d2::Error);

/// PostgreSQL's data exceptions (SQLSTATE class 22) that Diesel reports without a kind of its
/// own; Diesel does not expose the SQLSTATE, so they are known by their messages.
fn is_data_error(message: &str) -> bool {
    const DATA: [&str; 6] = [
        "invalid byte sequence",
        "character with byte sequence",
        "unsupported Unicode escape",
        "value too long",
        "out of range",
        "invalid input syntax",
    ];
    DATA.iter().any(|d| message.contains(d))
}

pub(crate) fn db_err(e: DieselError) -> RepoError {
    map_err("record")(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn errors_are_mapped_by_class() {
        let map = map_err("username");
        let cases = [
            (db(DatabaseErrorKind::UniqueViolation, "dup"), "conflict"),
            (
                db(DatabaseErrorKind::ForeignKeyViolation, "fk"),
                "not_found",
            ),
            (
                db(DatabaseErrorKind::ClosedConnection, "gone"),
                "unavailable",
            ),
            (
                db(DatabaseErrorKind::UnableToSendCommand, "eof"),
                "unavailable",
            ),
            (db(DatabaseErrorKind::CheckViolation, "check"), "invalid"),
            (db(DatabaseErrorKind::NotNullViolation, "null"), "invalid"),
            (
                db(
                    DatabaseErrorKind::Unknown,
                    "invalid byte sequence for encoding \"UTF8\": 0x00",
                ),
                "invalid",
            ),
            (
                db(DatabaseErrorKind::Unknown, "syntax error at or near"),
                "internal",
            ),
            (DieselError::NotFound, "not_found"),
            (DieselError::RollbackTransaction, "internal"),
        ];
        for (error, class) in cases {
            let text = error.to_string();
            let got = match map(error) {
                RepoError::Conflict("username") => "conflict",
                RepoError::NotFound => "not_found",
                RepoError::Unavailable(_) => "unavailable",
                RepoError::Invalid(_) => "invalid",
                RepoError::Internal(_) => "internal",
                other => panic!("{text}: unexpected {other:?}"),
            };
            assert_eq!(got, class, "{text}");
        }
    }
}
