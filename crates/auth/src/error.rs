//! Auth's errors, and their one mapping to the contract's codes: the REST and socket edges both
//! render [`AuthError::code`] and [`AuthError::public_message`], so they cannot drift apart.
use huddle_domain::{DomainError, ErrorCode, RepoError};
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
    #[error("password hashing failed")]
    Hashing(#[source] bcrypt::BcryptError),
    #[error("token signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AuthError::TokenExpired => ErrorCode::TokenExpired,
            AuthError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AuthError::Domain(d) => d.code(),
            AuthError::Hashing(_) | AuthError::Signing(_) => ErrorCode::Internal,
        }
    }

    /// What a client may be told; a hashing or signing fault says nothing of its cause.
    pub fn public_message(&self) -> String {
        match self {
            AuthError::Domain(d) => d.public_message(),
            AuthError::Hashing(_) | AuthError::Signing(_) => {
                "something went wrong on our side".into()
            }
            other => other.to_string(),
        }
    }

    /// Whether the answer should invite the client to authenticate (`WWW-Authenticate`): a
    /// token problem, not a wrong password or a rule of the domain.
    pub fn challenges(&self) -> bool {
        matches!(
            self,
            AuthError::TokenExpired | AuthError::Unauthenticated(_)
        )
    }
}

impl From<RepoError> for AuthError {
    fn from(e: RepoError) -> Self {
        AuthError::Domain(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_and_faults_keep_their_cause_private() {
        assert_eq!(
            AuthError::InvalidCredentials.code(),
            ErrorCode::InvalidCredentials
        );
        assert_eq!(AuthError::TokenExpired.code(), ErrorCode::TokenExpired);
        let revoked = AuthError::Unauthenticated("the session has ended");
        assert_eq!(revoked.code(), ErrorCode::Unauthenticated);
        assert_eq!(revoked.public_message(), "the session has ended");
        assert!(revoked.challenges() && !AuthError::InvalidCredentials.challenges());
        let taken = AuthError::from(RepoError::Conflict("username"));
        assert_eq!(taken.code(), ErrorCode::UsernameTaken);
        let fault = AuthError::Hashing(bcrypt::BcryptError::CostNotAllowed(99));
        assert_eq!(fault.code(), ErrorCode::Internal);
        assert!(!fault.public_message().contains("99"));
        let chain = huddle_domain::Chain(&fault).to_string();
        assert!(chain.starts_with("password hashing failed: ") && chain.contains("99"));
    }
}
