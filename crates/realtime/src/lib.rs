//! Huddle's real-time gateway (`GET /api/v1/ws`): authenticated WebSocket connections that
//! receive the live events of their user's rooms, send messages, and resume without loss.
//!
//! The pieces:
//! - [`EventBus`]: where events go to reach every node's [`Hub`]; [`LocalBus`] is the
//!   in-process one. The domain's services publish through [`BusPublisher`].
//! - [`Hub`]: one task per process owning the registry (room → connections, user →
//!   connections). It orders each room's messages by `seq` (filling gaps from the database),
//!   serialises every event once and fans it out to bounded per-connection queues.
//! - `connection`: one task per socket: authentication, frames in and out, heartbeats, resume
//!   (`sync`) with exactly-once, in-order delivery, and graceful close.
//! - `outlet`: a connection's frames, encoded straight into its response body.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[doc(hidden)]
pub mod bench_support;
mod bus;
mod config;
mod connection;
mod delivery;
mod gateway;
mod hub;
mod link;
mod outbox;
mod outlet;
mod protocol;
mod sequencer;
mod shared;
#[cfg(test)]
mod testing;
mod user_slots;

pub use bus::{BusEvent, BusPublisher, EventBus};
pub use config::RealtimeConfig;
pub use gateway::{configure, Gateway};
pub use hub::handle::LocalBus;
pub use hub::{Hub, HubHandle, HubStats};
pub use protocol::Frame;
