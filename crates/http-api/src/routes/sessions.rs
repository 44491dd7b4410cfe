//! A user's sessions (logins): listed, and ended one at a time or all at once. Ending one
//! refuses its tokens on every node at once and closes its sockets (4401).
use actix_web::{web, HttpResponse};

use crate::dto::{ErrorBody, SessionInfo};
use crate::{blocking, ApiError, ApiState, AuthUser};

#[utoipa::path(get, path = "/api/v1/users/me/sessions", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "the caller's live sessions, newest first", body = [SessionInfo]),
              (status = 401, body = ErrorBody)))]
pub async fn list(user: AuthUser, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let sessions = blocking(move || auth.sessions(user.id)).await?;
    let items: Vec<SessionInfo> = sessions
        .into_iter()
        .map(|s| SessionInfo::new(s, &user.session_id))
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(delete, path = "/api/v1/users/me/sessions/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "session id, as listed")),
    responses((status = 204, description = "ended: its tokens get 401 and its sockets close with 4401"),
              (status = 401, body = ErrorBody),
              (status = 404, description = "the caller has no such live session", body = ErrorBody)))]
pub async fn end(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    blocking(move || auth.end_session(user.id, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "every session of the caller is ended, this one included"),
              (status = 401, body = ErrorBody)))]
pub async fn logout_all(
    user: AuthUser,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    blocking(move || auth.logout_all(user.id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
