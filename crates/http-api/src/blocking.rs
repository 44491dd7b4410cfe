use actix_web::web;

use crate::ApiError;

/// Runs blocking work (Diesel, bcrypt) on actix's blocking thread pool, keeping the async
/// workers free to serve other requests and sockets.
pub async fn blocking<T, E, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    web::block(f)
        .await
        .map_err(|e| ApiError::Internal(huddle_domain::Cause::new(e)))?
        .map_err(Into::into)
}
