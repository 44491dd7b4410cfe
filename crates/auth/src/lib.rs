//! Who a caller is: bcrypt password hashing, short-lived JWT access tokens, and opaque refresh
//! tokens that rotate on every use, with reuse of a spent one treated as theft.
//!
//! - `password`: bcrypt, over a SHA-256 prehash so long passwords are not silently truncated.
//! - `jwt`: access tokens (HS256) carrying the user and the session they belong to.
//! - `tokens`: refresh tokens, stored only as hashes.
//! - `service`: [`AuthService`], register, login, refresh rotation with reuse detection,
//!   logout and sessions, over the domain's repository traits.
//! - `revocations`: the ended sessions whose access tokens are refused before they expire.
//! - `error`: [`AuthError`] and its one mapping to the contract's codes.
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
pub use tokens::{
    hash_refresh_token, new_family_id, new_invite_code, new_refresh_token, parse_bearer,
};
