//! Several Huddle processes behaving as one server, through Redis:
//!
//! - [`RedisBus`]: the realtime event bus across processes. Events go to per-room and per-user
//!   channels; a process subscribes only to the channels its own connections need. Its own
//!   connections are served directly, so a Redis outage degrades the cluster to independent
//!   nodes instead of stopping any of them.
//! - [`Presence`]: a user is online while any process holds one of their connections. Each
//!   process renews a lease; the others declare a dead process's users offline when it lapses.
//! - Fan-out lag: each process shares how far its hub runs behind, so every process holds its
//!   senders back while any is behind (`huddle_realtime::SendGate`).
//! - [`RedisLimiter`]: rate limits shared by every process (falls back to memory while Redis is
//!   unreachable).
//!
//! Every key and channel starts with a configurable prefix, so clusters (and tests) can share
//! one Redis.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod bus;
mod codec;
mod config;
mod conn;
mod lag;
mod limiter;
mod presence;

pub use bus::RedisBus;
pub use config::ClusterConfig;
pub use conn::{RedisHealth, SharedRedis};
pub use limiter::RedisLimiter;
pub use presence::{ClusterPresence, Presence};
