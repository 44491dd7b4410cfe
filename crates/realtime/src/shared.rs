//! What every connection of the gateway shares: the services, the hub's handle, the
//! configuration, the shutdown signal and the counters. Its own module, below both the gateway
//! (which builds it) and the connections (which read it), so that neither depends on the other.
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use huddle_auth::AuthService;
use huddle_domain::limits::RateLimiter;
use huddle_domain::service::ChatService;
use tokio::sync::watch;

use crate::config::RealtimeConfig;
use crate::hub::handle::HubHandle;
use crate::user_slots::UserSlots;

pub(crate) struct Shared {
    pub chat: ChatService,
    pub auth: Arc<AuthService>,
    pub hub: HubHandle,
    pub config: RealtimeConfig,
    pub send_limiter: Arc<dyn RateLimiter>,
    pub next_conn: AtomicU64,
    /// Makes connection ids unique across restarts and nodes.
    pub node: String,
    pub shutdown: watch::Sender<bool>,
    pub active: AtomicUsize,
    pub user_slots: Arc<UserSlots>,
}
