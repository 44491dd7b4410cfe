//! Huddle's real-time gateway (`GET /api/v1/ws`): authenticated WebSocket connections that
//! receive the live events of their user's rooms, send messages, and resume without loss.
//!
//! Two kinds of task do the work: one [`Hub`] per process, which owns the registry and fans
//! events out, and one connection task per socket. They meet only in the small modules below
//! them (`link` and the hub's handle), and the module graph has no cycles: each module
//! uses only those listed before it here.
//!
//! The map, leaves first:
//! - `config`: [`RealtimeConfig`], the limits and timings (`HUDDLE_WS_*`).
//! - `protocol`: the wire format, in one place: typed client frames (`client`), every server
//!   frame rendered (`server`), the close codes (`close`).
//! - `bus`: [`BusEvent`] and [`EventBus`], how an event reaches every node's hub;
//!   [`BusPublisher`] is the domain's way onto it.
//! - `sequencer`: per-room `seq` ordering, generic and pure.
//! - `link`: what passes between the hub and a connection: ids, queued items, the kill switch.
//! - `outbox`: a connection's bounded queue from the hub, holding nothing while idle.
//! - `outlet`: a connection's writes, encoded straight into its response body.
//! - `delivery`: per connection, what was sent per room, so live and replayed messages go out
//!   once and in order.
//! - `user_slots`: the cap on one user's sockets in this process (4429).
//! - `send_gate`: [`SendGate`], sends held back while some process's fan-out runs behind.
//! - `blocking`: the one way a connection calls the blocking domain services.
//! - `hub`: the hub task. `hub::handle` ([`HubHandle`], [`HubStats`], [`LocalBus`]) is how
//!   everything else talks to it; below the task are its registry, rooms (order and gaps),
//!   membership log, fan-out and database reads.
//! - `shared`: what every connection shares (services, hub handle, config, shutdown).
//! - `connection`: the socket task: set-up, client frames, the order of answers, sync and
//!   replay, the worker, writes, and how a socket ends.
//! - `socketio`: `/socket.io/` for `socket.io-client`: Engine.IO transports, and a native
//!   connection per socket behind a translation.
//! - `gateway`: [`Gateway`] and [`configure`], the endpoints the server mounts and shuts down.
//! - `bench_support`: entry points for the benchmarks (hidden, not an API).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[doc(hidden)]
pub mod bench_support;
mod blocking;
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
mod send_gate;
mod sequencer;
mod shared;
mod socketio;
#[cfg(test)]
mod testing;
mod user_slots;

pub use bus::{BusEvent, BusPublisher, EventBus};
pub use config::RealtimeConfig;
pub use gateway::{configure, Gateway};
pub use hub::handle::LocalBus;
pub use hub::{Hub, HubHandle, HubStats};
pub use protocol::Frame;
pub use send_gate::{SendGate, REMOTE_FRESH};
