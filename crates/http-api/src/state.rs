use std::sync::Arc;

use huddle_auth::AuthService;
use huddle_domain::service::ChatService;

use huddle_domain::limits::RateLimiter;
use huddle_domain::presence::PresenceDirectory;

/// Request-size and paging limits, from configuration.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest JSON body accepted; larger ones answer 413.
    pub max_body_bytes: usize,
    /// Take the client address from `Forwarded`/`X-Forwarded-For` (behind a trusted proxy).
    pub trust_proxy_headers: bool,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            trust_proxy_headers: false,
        }
    }
}

/// A dependency that can be degraded without the server being unready (e.g. Redis: each node
/// still serves its own clients): its name and whether it is healthy now.
pub type ReadinessProbe = Arc<dyn Fn() -> (&'static str, bool) + Send + Sync>;

/// Everything a handler needs, shared by all workers.
#[derive(Clone)]
pub struct ApiState {
    pub chat: ChatService,
    pub auth: Arc<AuthService>,
    /// Login and registration attempts per client address.
    pub auth_limiter: Arc<dyn RateLimiter>,
    /// Message sends per user (keys `send:<user id>`): the same limiter the socket uses, so
    /// REST and socket sends draw on one budget.
    pub send_limiter: Arc<dyn RateLimiter>,
    pub limits: ApiLimits,
    /// Reported by `/readyz` next to the database.
    pub readiness: Vec<ReadinessProbe>,
    /// Who is online, for member lists.
    pub presence: Arc<dyn PresenceDirectory>,
    pub files: FilesState,
}

/// Shared files: where they are kept, how their links are checked, the upload limit, and the
/// janitor to wake after a delete.
#[derive(Clone)]
pub struct FilesState {
    pub store: huddle_files::FileStore,
    pub links: Arc<huddle_files::SignedLinks>,
    /// The largest upload, in bytes; larger ones answer 413.
    pub max_bytes: u64,
    pub janitor: Arc<tokio::sync::Notify>,
}
