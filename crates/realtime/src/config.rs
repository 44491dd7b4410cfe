use std::time::Duration;

/// Limits and timings of the gateway; the server reads them from `HUDDLE_WS_*` variables.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// How long an unauthenticated socket may wait before its `auth` frame.
    pub auth_timeout: Duration,
    /// How often the server pings.
    pub heartbeat_interval: Duration,
    /// A connection silent (no frame, no pong) this long is dead and dropped.
    pub client_timeout: Duration,
    /// Largest client frame; larger ones close the connection with 1009.
    pub max_frame_bytes: usize,
    /// Events queued for one connection before it counts as too slow (closed with 1013).
    pub outbound_queue: usize,
    /// Message sends per user over sockets: sustained rate and burst.
    pub send_rate_per_sec: f64,
    pub send_burst: f64,
    /// Least time between two relayed `typing` frames of one connection.
    pub typing_interval: Duration,
    /// How long a room's message may wait for a missing predecessor before the gap is filled
    /// from the database.
    pub gap_wait: Duration,
    /// After `ready`, live messages are held this long for the client's first `sync`, so a
    /// resuming client sees its rooms exactly once and in order.
    pub sync_grace: Duration,
    /// Most open sockets per user on one process (0: no cap); the next is closed with 4429.
    pub max_sockets_per_user: usize,
    /// At shutdown a socket keeps reading until its client has been silent this long, so
    /// frames already on their way are answered before the close.
    pub drain_quiet: Duration,
    /// ... but for no longer than this, for clients that never stop sending.
    pub drain_limit: Duration,
    /// While some process's hub runs further behind than this, sockets that send are not read
    /// ([`SendGate`](crate::SendGate)); none: never held.
    pub fanout_lag_limit: Option<Duration>,
}

impl RealtimeConfig {
    pub fn send_rate(&self) -> huddle_domain::limits::Rate {
        huddle_domain::limits::Rate {
            per_second: self.send_rate_per_sec,
            burst: self.send_burst,
        }
    }
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(10),
            client_timeout: Duration::from_secs(30),
            max_frame_bytes: 16 * 1024,
            outbound_queue: 1024,
            send_rate_per_sec: 20.0,
            send_burst: 100.0,
            typing_interval: Duration::from_millis(500),
            gap_wait: Duration::from_millis(250),
            sync_grace: Duration::from_millis(1500),
            max_sockets_per_user: 20,
            drain_quiet: Duration::from_millis(100),
            drain_limit: Duration::from_secs(10),
            fanout_lag_limit: Some(Duration::from_millis(250)),
        }
    }
}
