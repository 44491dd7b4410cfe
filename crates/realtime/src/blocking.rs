//! The one way this crate calls the domain's blocking services (Diesel behind them) from a
//! connection: on actix's blocking pool, never on the async worker that runs the sockets, so a
//! slow query stalls one pool thread and not every socket on that worker.
use huddle_domain::{Cause, DomainError, RepoError};

/// Runs `f` on the blocking pool. A task that died (it panicked) answers as storage being
/// unavailable: the client gets an error frame, and the log says why.
pub(crate) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T, DomainError> {
    actix_web::web::block(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "blocking task failed");
        Err(DomainError::Repository(RepoError::Unavailable(Cause::new(
            e,
        ))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_come_back_and_a_panic_is_unavailable() {
        assert_eq!(run_blocking(|| Ok(2 + 2)).await.ok(), Some(4));
        let failed = run_blocking::<()>(|| Err(DomainError::NotFound("room"))).await;
        assert!(matches!(failed, Err(DomainError::NotFound("room"))));
        let died = run_blocking::<()>(|| panic!("a bug")).await;
        assert!(matches!(
            died,
            Err(DomainError::Repository(RepoError::Unavailable(_)))
        ));
    }
}
