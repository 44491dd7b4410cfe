//! `/socket.io/`: Engine.IO v4 and Socket.IO v5 for `socket.io-client` 4.x, on the same port and
//! behind the same native connections as `/api/v1/ws`.
//!
//! Why not socketioxide, the Rust Socket.IO server: it is a tower/hyper service, and actix-web is
//! neither (its maintainers do not plan actix support, socketioxide issue #206). Running it
//! would mean a second HTTP server behind the public port and a second copy of everything a
//! socket does. Instead its protocol crates read and write the packets (`engineioxide-core` for
//! Engine.IO, `socketioxide-parser-common` for Socket.IO), and the transports are actix
//! handlers here: long-polling (`GET`/`POST`), WebSocket, and the upgrade between them.
//!
//! Each session's task (`session`) runs a native connection in-process and translates
//! (`translate`): Socket.IO clients and native clients are the same to the hub.
//! - `config`: Engine.IO's timings and sizes.
//! - `wire`: Socket.IO packets in and out.
//! - `translate`: events to native frames and back, camelCase to snake_case.
//! - `link`: what a session's HTTP requests share with its task.
//! - `native`: the native connection behind a socket, and the frames it writes.
//! - `session`: the task.
//! - `routes`: the handlers.
mod config;
mod link;
mod native;
mod routes;
mod session;
mod translate;
mod wire;

pub(crate) use link::Sessions;
pub(crate) use routes::configure;
