use actix_web::{web, HttpRequest, HttpResponse};

use super::client_key;
use crate::dto::{ErrorBody, LoginRequest, RefreshRequest, RegisterRequest, SessionResponse};
use crate::{blocking, ApiError, ApiJson, ApiState};

async fn limit_attempts(req: &HttpRequest, state: &ApiState) -> Result<(), ApiError> {
    let key = format!("auth:{}", client_key(req, state));
    state
        .auth_limiter
        .hit(&key)
        .await
        .map_err(|wait| ApiError::RateLimited {
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
}

/// The `User-Agent` a new session is listed with (lossy: it is only informative).
fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = SessionResponse), (status = 400, body = ErrorBody),
              (status = 409, description = "username_taken", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    limit_attempts(&req, &state).await?;
    let auth = state.auth.clone();
    let b = body.into_inner();
    let agent = user_agent(&req);
    let session = blocking(move || {
        auth.register(
            &b.username,
            &b.password,
            b.display_name.as_deref(),
            agent.as_deref(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(SessionResponse::from(session)))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = SessionResponse),
              (status = 401, description = "invalid_credentials", body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    limit_attempts(&req, &state).await?;
    let auth = state.auth.clone();
    let b = body.into_inner();
    let agent = user_agent(&req);
    let session = blocking(move || auth.login(&b.username, &b.password, agent.as_deref())).await?;
    Ok(HttpResponse::Ok().json(SessionResponse::from(session)))
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = SessionResponse),
              (status = 401, description = "unknown, spent (the login is then revoked) or expired token", body = ErrorBody)))]
pub async fn refresh(
    state: web::Data<ApiState>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let token = body.into_inner().refresh_token;
    let session = blocking(move || auth.refresh(&token)).await?;
    Ok(HttpResponse::Ok().json(SessionResponse::from(session)))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "the login is ended: its tokens get 401 on every node, its sockets close with 4401")))]
pub async fn logout(
    state: web::Data<ApiState>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let token = body.into_inner().refresh_token;
    blocking(move || auth.logout(&token)).await?;
    Ok(HttpResponse::NoContent().finish())
}
