//! The contract's error vocabulary. Every failure a client sees, over REST or the socket, carries
//! one of these codes; each layer maps its own errors to a code once, at its edge.
use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. The serialised name (snake_case) is the wire value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A value broke a validation rule; `field` names it where one field is at fault.
    ValidationFailed,
    /// The body or frame is not JSON, or not a JSON object.
    MalformedJson,
    /// A request the server could not understand that fits no finer code.
    BadRequest,
    /// A socket frame whose `type` the server does not know.
    UnknownType,
    /// A socket frame the server knows but does not accept (e.g. binary frames).
    Unsupported,
    /// No credentials, or credentials that are malformed, forged, revoked or reused.
    Unauthenticated,
    /// Unknown user or wrong password: deliberately one answer for both.
    InvalidCredentials,
    TokenExpired,
    Forbidden,
    /// The thing does not exist, or the caller may not know it exists (private rooms).
    NotFound,
    MethodNotAllowed,
    /// A state conflict with no finer code.
    Conflict,
    UsernameTaken,
    /// An invite that has expired or been used up (an unknown or revoked one is `NotFound`).
    InviteExpired,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    /// A fault of ours; the message never says more.
    Internal,
    /// The database (or another service we need) cannot be reached right now.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for tables and tests that must cover them all.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::ValidationFailed,
        ErrorCode::MalformedJson,
        ErrorCode::BadRequest,
        ErrorCode::UnknownType,
        ErrorCode::Unsupported,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::TokenExpired,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::UsernameTaken,
        ErrorCode::InviteExpired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// The wire name, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::InviteExpired => "invite_expired",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The HTTP status the contract gives this code. A plain number, so the domain stays free of
    /// web types; the REST edge turns it into its status type.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed
            | ErrorCode::MalformedJson
            | ErrorCode::BadRequest
            | ErrorCode::UnknownType
            | ErrorCode::Unsupported => 400,
            ErrorCode::Unauthenticated
            | ErrorCode::InvalidCredentials
            | ErrorCode::TokenExpired => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::UsernameTaken => 409,
            ErrorCode::InviteExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_the_serialised_names_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }

    #[test]
    fn statuses_follow_the_contract() {
        let status = |c: ErrorCode| c.http_status();
        assert_eq!(status(ErrorCode::ValidationFailed), 400);
        assert_eq!(status(ErrorCode::TokenExpired), 401);
        assert_eq!(status(ErrorCode::Forbidden), 403);
        assert_eq!(status(ErrorCode::NotFound), 404);
        assert_eq!(status(ErrorCode::UsernameTaken), 409);
        assert_eq!(status(ErrorCode::RateLimited), 429);
        assert_eq!(status(ErrorCode::Internal), 500);
        assert_eq!(status(ErrorCode::Unavailable), 503);
        // Only internal and unavailable are server errors: everything else is the client's.
        for code in ErrorCode::ALL {
            let server = status(code) >= 500;
            assert_eq!(
                server,
                matches!(code, ErrorCode::Internal | ErrorCode::Unavailable)
            );
        }
    }
}
