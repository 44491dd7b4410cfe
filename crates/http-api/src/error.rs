//! The error-to-HTTP mapping: every failure leaves here in the contract's one shape,
//! `{"error": {"code", "message", "field"?}}`, with a stable code. Internal details are logged,
//! never sent.
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use huddle_auth::AuthError;
use huddle_domain::{Cause, Chain, DomainError, ErrorCode};
use huddle_files::FileError;
use serde_json::json;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    /// Bad input found at the edge (JSON shape, query parameters, cursors).
    #[error("{message}")]
    BadRequest {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A fault of ours at the edge (a missing app state, a lost blocking task).
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: ErrorCode::ValidationFailed,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// The contract's code, the client-facing message and the field at fault. The status
    /// follows from the code ([`ErrorCode::http_status`]), so it cannot disagree with it.
    pub fn parts(&self) -> (ErrorCode, String, Option<String>) {
        match self {
            ApiError::BadRequest {
                code,
                message,
                field,
            } => (*code, message.clone(), field.clone()),
            ApiError::Domain(e) => (e.code(), e.public_message(), e.field().map(str::to_owned)),
            ApiError::Auth(AuthError::Domain(e)) => {
                (e.code(), e.public_message(), e.field().map(str::to_owned))
            }
            ApiError::Auth(e) => (e.code(), e.public_message(), None),
            ApiError::File(e) => file_parts(e),
            ApiError::RateLimited { .. }
            | ApiError::PayloadTooLarge(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::NotFound(_) => (self.edge_code(), self.to_string(), None),
            ApiError::MethodNotAllowed => (
                ErrorCode::MethodNotAllowed,
                "this method is not allowed here".into(),
                None,
            ),
            ApiError::Internal(_) => (
                ErrorCode::Internal,
                "something went wrong on our side".into(),
                None,
            ),
        }
    }

    fn edge_code(&self) -> ErrorCode {
        match self {
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            _ => ErrorCode::Internal,
        }
    }
}

fn file_parts(e: &FileError) -> (ErrorCode, String, Option<String>) {
    let file = Some("file".to_owned());
    match e {
        FileError::TooLarge { .. } => (ErrorCode::PayloadTooLarge, e.to_string(), file),
        FileError::Empty => (ErrorCode::ValidationFailed, e.to_string(), file),
        FileError::Mismatch { .. } => (ErrorCode::UnsupportedMediaType, e.to_string(), file),
        FileError::Interrupted(_) => (ErrorCode::BadRequest, e.to_string(), file),
        FileError::Missing => (ErrorCode::NotFound, "the file is gone".into(), None),
        FileError::Store(_) | FileError::Read(_) => (
            ErrorCode::Unavailable,
            "file storage is unavailable; try again".into(),
            None,
        ),
    }
}

/// The status the contract gives a code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The contract's error body.
pub fn error_body(code: ErrorCode, message: &str, field: Option<&str>) -> serde_json::Value {
    let mut detail = json!({ "code": code, "message": message });
    if let Some(f) = field {
        detail["field"] = json!(f);
    }
    json!({ "error": detail })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.parts().0)
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message, field) = self.parts();
        let status = status_of(code);
        if status.is_server_error() {
            tracing::error!(error = %Chain(self), "request failed");
        }
        let mut resp = HttpResponse::build(status);
        match self {
            ApiError::RateLimited { retry_after } => {
                resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Auth(e) if e.challenges() => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        resp.json(error_body(code, &message, field.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;
    use huddle_domain::RepoError;

    async fn body_of(e: ApiError) -> (StatusCode, serde_json::Value) {
        let resp = e.error_response();
        let status = resp.status();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_web::test]
    async fn domain_errors_map_to_contract_codes() {
        let (s, b) = body_of(DomainError::validation("name", "bad name").into()).await;
        assert_eq!(s, 400);
        assert_eq!(b["error"]["code"], "validation_failed");
        assert_eq!(b["error"]["field"], "name");
        let (s, b) = body_of(DomainError::NotFound("room").into()).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        assert!(b["error"].get("field").is_none());
        let (s, b) = body_of(DomainError::forbidden("no").into()).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
        let refused = |r| DomainError::Repository(RepoError::Refused(r)).into();
        let (s, b) = body_of(refused(huddle_domain::SendRefusal::NotMember)).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
        let (s, b) = body_of(refused(huddle_domain::SendRefusal::PrivateRoom)).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let (s, b) = body_of(DomainError::from(RepoError::Conflict("username")).into()).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (409, Some("username_taken"))
        );
    }

    #[actix_web::test]
    async fn auth_errors_and_internals() {
        let (s, b) = body_of(AuthError::TokenExpired.into()).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (401, Some("token_expired"))
        );
        let (s, b) = body_of(AuthError::InvalidCredentials.into()).await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
        let (s, b) = body_of(ApiError::Internal("db password is hunter2".into())).await;
        assert_eq!(s, 500);
        assert_eq!(b["error"]["code"], "internal");
        assert!(!b.to_string().contains("hunter2"));
        let (s, b) = body_of(
            DomainError::Repository(RepoError::Unavailable("pg down at 10.0.0.1".into())).into(),
        )
        .await;
        assert_eq!(s, 503);
        assert!(!b.to_string().contains("10.0.0.1"));
    }

    #[actix_web::test]
    async fn rate_limited_sets_retry_after() {
        let resp = ApiError::RateLimited { retry_after: 7 }.error_response();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "7");
    }
}
