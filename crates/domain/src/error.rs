//! Errors of the domain layer. The HTTP and WebSocket edges map these to the contract's codes.
use thiserror::Error;

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
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database refused a value as data (an encoding it cannot hold, a check constraint):
    /// the input was bad, though validation should have caught it first.
    #[error("value refused by the database: {0}")]
    Invalid(String),
    /// A query failed for a reason that is neither the data's nor the connection's.
    #[error("storage fault: {0}")]
    Internal(String),
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
}

impl SendRefusal {
    /// The same answer the services give when they check membership themselves.
    pub fn into_domain(self) -> DomainError {
        match self {
            SendRefusal::NoRoom | SendRefusal::PrivateRoom => DomainError::NotFound("room"),
            SendRefusal::NotMember => DomainError::forbidden(NOT_A_MEMBER),
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
    /// A state conflict; `code` is the contract's stable code (e.g. `username_taken`).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
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

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl DomainError {
    /// The contract's stable error code, the same over REST and WebSocket.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Validation { .. } => "validation_failed",
            DomainError::NotFound(_) | DomainError::Repository(RepoError::NotFound) => "not_found",
            DomainError::Forbidden(_) => "forbidden",
            DomainError::Conflict { code, .. } => code,
            DomainError::Repository(RepoError::Conflict(_)) => "conflict",
            DomainError::Repository(RepoError::Unavailable(_)) => "unavailable",
            DomainError::Repository(RepoError::Invalid(_)) => "validation_failed",
            DomainError::Repository(RepoError::Internal(_)) => "internal",
            DomainError::Repository(RepoError::Refused(r)) => r.into_domain().code(),
        }
    }

    /// What a client may be told: everything but storage details.
    pub fn public_message(&self) -> String {
        match self {
            DomainError::NotFound(what) => format!("{what} not found"),
            DomainError::Repository(RepoError::NotFound) => "not found".into(),
            DomainError::Repository(RepoError::Conflict(what)) => format!("{what} already exists"),
            DomainError::Repository(RepoError::Unavailable(_)) => {
                "the service is temporarily unavailable".into()
            }
            DomainError::Repository(RepoError::Invalid(_)) => {
                "a value in the request cannot be stored".into()
            }
            DomainError::Repository(RepoError::Internal(_)) => {
                "something went wrong on our side".into()
            }
            DomainError::Repository(RepoError::Refused(r)) => r.into_domain().public_message(),
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
                DomainError::conflict("username_taken", "that username is taken")
            }
            RepoError::Conflict(what) => {
                DomainError::conflict("conflict", format!("{what} already exists"))
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
            (SendRefusal::NoRoom, "not_found", "room not found"),
            (SendRefusal::PrivateRoom, "not_found", "room not found"),
            (SendRefusal::NotMember, "forbidden", NOT_A_MEMBER),
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
    }
}
