use huddle_domain::{DomainError, RepoError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuthError {
    /// Unknown user or wrong password: deliberately one answer for both.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("the token has expired")]
    TokenExpired,
    /// Missing, malformed, forged, revoked or reused token; the text says which, for the client.
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("token signing failed: {0}")]
    Signing(String),
}

impl From<RepoError> for AuthError {
    fn from(e: RepoError) -> Self {
        AuthError::Domain(e.into())
    }
}
