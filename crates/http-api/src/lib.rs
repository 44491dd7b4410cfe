//! Huddle's REST API (`/api/v1`), as `docs/API.md` specifies it: handlers, wire types, the
//! OpenAPI document, and the one place where errors become HTTP responses.
//!
//! The handlers are thin: they parse, call the domain's `ChatService` or the `AuthService` on the
//! blocking pool, and render. Authorisation rules live in the domain.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod blocking;
mod body;
pub mod dto;
mod error;
mod extract;
mod openapi;
mod openapi_rules;
mod pagination;
mod routes;
mod state;

pub use blocking::blocking;
pub use body::{ApiJson, ApiQuery};
pub use error::{error_body, ApiError};
pub use extract::{bearer_token, AuthUser};
pub use openapi::ApiDoc;
pub use routes::{configure, json_error_handlers};
pub use state::{ApiLimits, ApiState, FilesState, ReadinessProbe};
