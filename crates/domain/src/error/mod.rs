//! Errors of the domain layer, and the contract's one vocabulary of error codes
//! ([`ErrorCode`]). Each error maps to a code once, here; the HTTP and WebSocket edges only
//! render it.
use std::sync::Arc;

use thiserror::Error;

mod code;
pub use code::ErrorCode;

/// What caused a storage failure, kept whole (not flattened to a string) so that logs can print
/// the chain down to the driver's own error. Cheap to clone, so repository results can be.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(e))
    }
}

/// A cause that is only a description (no underlying error value).
#[derive(Debug, Error)]
#[error("{0}")]
struct Described(String);

impl From<&str> for Cause {
    fn from(s: &str) -> Self {
        Cause::new(Described(s.to_owned()))
    }
}

impl From<String> for Cause {
    fn from(s: String) -> Self {
        Cause::new(Described(s))
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Two causes are equal when they read the same: enough for tests, which compare results.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

/// Displays an error and every `source()` below it, `outer: inner: innermost`: what a log line
/// needs, since `Display` alone shows only the outermost layer.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

/// What a repository can report, by class: the data's own rules (`NotFound`, `Conflict`,
/// `Invalid`, `Refused`) are the client's to fix; only a lost or exhausted connection is
/// `Unavailable`; anything else is a fault of ours (`Internal`). Texts are for the log, never
/// for the client.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RepoError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit; the string names the rule (e.g. `username`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("storage unavailable")]
    Unavailable(#[source] Cause),
    /// The database refused a value as data (an encoding it cannot hold, a check constraint):
    /// the input was bad, though validation should have caught it first.
    #[error("value refused by the database")]
    Invalid(#[source] Cause),
    /// A query failed for a reason that is neither the data's nor the connection's.
    #[error("storage fault")]
    Internal(#[source] Cause),
    /// The message was not stored: its author may not post in the room.
    #[error("message refused: {0:?}")]
    Refused(SendRefusal),
}

/// Why a message was refused by the storage's membership check, which runs in the same
/// transaction as the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    /// The room does not exist.
    NoRoom,
    /// A private room the author is not a member of (its existence is not revealed).
    PrivateRoom,
    /// A public room the author is not a member of.
    NotMember,
    /// `reply_to` names no message of this room.
    BadReply,
}

impl RepoError {
    /// The contract's code for a storage failure that reached an edge unmapped.
    pub fn code(&self) -> ErrorCode {
        match self {
            RepoError::NotFound => ErrorCode::NotFound,
            RepoError::Conflict(_) => ErrorCode::Conflict,
            RepoError::Unavailable(_) => ErrorCode::Unavailable,
            RepoError::Invalid(_) => ErrorCode::ValidationFailed,
            RepoError::Internal(_) => ErrorCode::Internal,
            RepoError::Refused(r) => r.into_domain().code(),
        }
    }

    /// What a client may be told: never the cause, which may name hosts or queries.
    pub fn public_message(&self) -> String {
        match self {
            RepoError::NotFound => "not found".into(),
            RepoError::Conflict(what) => format!("{what} already exists"),
            RepoError::Unavailable(_) => "the service is temporarily unavailable".into(),
            RepoError::Invalid(_) => "a value in the request cannot be stored".into(),
            RepoError::Internal(_) => "something went wrong on our side".into(),
            RepoError::Refused(r) => r.into_domain().public_message(),
        }
    }
}

impl SendRefusal {
    /// The same answer the services give when they check membership themselves.
    pub fn into_domain(self) -> DomainError {
        match self {
            SendRefusal::NoRoom | SendRefusal::PrivateRoom => DomainError::NotFound("room"),
            SendRefusal::NotMember => DomainError::forbidden(NOT_A_MEMBER),
            SendRefusal::BadReply => {
                DomainError::validation("reply_to", "reply_to must be a message of this room")
            }
        }
    }
}

/// What a member-only action answers a non-member of a visible room.
pub const NOT_A_MEMBER: &str = "you are not a member of this room";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    #[error("{message}")]
    Validation {
        field: Option<&'static str>,
        message: String,
    },
    /// The thing does not exist, or the caller may not know it exists (private rooms).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// A state conflict; `code` is the contract's code (e.g. `username_taken`).
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error(transparent)]
    Repository(RepoError),
}

impl DomainError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Validation {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        DomainError::Forbidden(message.into())
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl DomainError {
    /// The contract's error code, the same over REST and WebSocket.
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::Validation { .. } => ErrorCode::ValidationFailed,
            DomainError::NotFound(_) => ErrorCode::NotFound,
            DomainError::Forbidden(_) => ErrorCode::Forbidden,
            DomainError::Conflict { code, .. } => *code,
            DomainError::Repository(e) => e.code(),
        }
    }

    /// What a client may be told: everything but storage details.
    pub fn public_message(&self) -> String {
        match self {
            DomainError::NotFound(what) => format!("{what} not found"),
            DomainError::Repository(e) => e.public_message(),
            other => other.to_string(),
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            DomainError::Validation { field, .. } => *field,
            _ => None,
        }
    }
}

impl From<RepoError> for DomainError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound => DomainError::NotFound("resource"),
            RepoError::Conflict("username") => {
                DomainError::conflict(ErrorCode::UsernameTaken, "that username is taken")
            }
            RepoError::Conflict(what) => {
                DomainError::conflict(ErrorCode::Conflict, format!("{what} already exists"))
            }
            RepoError::Refused(r) => r.into_domain(),
            other => DomainError::Repository(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_sends_answer_like_the_membership_check() {
        let answers = [
            (SendRefusal::NoRoom, ErrorCode::NotFound, "room not found"),
            (
                SendRefusal::PrivateRoom,
                ErrorCode::NotFound,
                "room not found",
            ),
            (SendRefusal::NotMember, ErrorCode::Forbidden, NOT_A_MEMBER),
            (
                SendRefusal::BadReply,
                ErrorCode::ValidationFailed,
                "reply_to must be a message of this room",
            ),
        ];
        for (refusal, code, message) in answers {
            let mapped = DomainError::from(RepoError::Refused(refusal));
            assert_eq!(
                (mapped.code(), mapped.public_message()),
                (code, message.into())
            );
            // Even unmapped, the code and message are the same.
            let raw = DomainError::Repository(RepoError::Refused(refusal));
            assert_eq!((raw.code(), raw.public_message()), (code, message.into()));
        }
        assert_eq!(
            DomainError::from(RepoError::Refused(SendRefusal::NoRoom)),
            DomainError::NotFound("room")
        );
        assert_eq!(
            DomainError::from(RepoError::Refused(SendRefusal::BadReply)).field(),
            Some("reply_to")
        );
    }

    #[test]
    fn causes_are_kept_as_a_chain_and_never_shown_to_clients() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by 10.0.0.7");
        let e = DomainError::from(RepoError::Unavailable(Cause::new(io)));
        assert_eq!(e.code(), ErrorCode::Unavailable);
        assert!(!e.public_message().contains("10.0.0.7"));
        assert_eq!(
            Chain(&e).to_string(),
            "storage unavailable: reset by 10.0.0.7"
        );
        let described = RepoError::Internal("no user 7".into());
        assert_eq!(Chain(&described).to_string(), "storage fault: no user 7");
        assert_eq!(described.code(), ErrorCode::Internal);
        assert_eq!(
            RepoError::Invalid("nul byte".into()).code(),
            ErrorCode::ValidationFailed
        );
    }
}
