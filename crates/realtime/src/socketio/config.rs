//! Engine.IO's timings and sizes, from the gateway's.
use std::time::Duration;

use crate::config::RealtimeConfig;

/// Engine.IO's timings and sizes, from the gateway's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineConfig {
    /// How often the server pings (`pingInterval`): the native heartbeat's.
    pub ping_interval: Duration,
    /// How long a client may take to answer (`pingTimeout`): what is left of the native
    /// client timeout after one interval, so both protocols give up on a client together.
    pub ping_timeout: Duration,
    /// Largest body of one poll's POST (`maxPayload`).
    pub max_payload: usize,
}

impl EngineConfig {
    pub(crate) fn of(config: &RealtimeConfig) -> Self {
        Self {
            ping_interval: config.heartbeat_interval,
            ping_timeout: config
                .client_timeout
                .saturating_sub(config.heartbeat_interval)
                .max(Duration::from_secs(1)),
            max_payload: config.max_frame_bytes.saturating_mul(4),
        }
    }
}
