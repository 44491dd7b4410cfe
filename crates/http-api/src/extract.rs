use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use huddle_auth::AuthError;
use huddle_domain::UserId;

use crate::{ApiError, ApiState};

/// The caller, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    /// The login this token belongs to (its refresh-token family).
    pub session_id: String,
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    huddle_auth::parse_bearer(value)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

pub(crate) fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<ApiState>>()
        .ok_or_else(|| ApiError::Internal("ApiState missing".into()))?;
    let token = bearer_token(req).ok_or(AuthError::Unauthenticated(
        "missing bearer token in the Authorization header",
    ))?;
    let claims = state.auth.verify_access(token)?;
    Ok(AuthUser {
        id: claims.user_id()?,
        session_id: claims.sid,
    })
}
