//! Who a caller is: bcrypt password hashing, short-lived JWT access tokens, and opaque refresh
//! tokens that rotate on every use, with reuse of a spent one treated as theft.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod jwt;
mod password;
mod revocations;
mod service;
mod tokens;

pub use error::AuthError;
pub use jwt::{AccessClaims, JwtKeys};
pub use password::{hash_password, verify_password};
pub use revocations::Revocations;
pub use service::{AuthConfig, AuthService, Session, SessionsEnded, SESSION_ENDED};
pub use tokens::{hash_refresh_token, new_family_id, new_refresh_token, parse_bearer};
