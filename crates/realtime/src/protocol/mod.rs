//! The socket's wire format (`docs/API.md`, "Real time"): typed client frames in
//! ([`client`]), rendered server frames out ([`server`], shared as [`Frame`]), and the close codes ([`close`]).
//! Nothing outside these modules reads or writes JSON, so the contract has one home.
mod client;
mod close;
mod frame;
mod server;

pub(crate) use client::{parse, ClientFrame};
pub(crate) use close::*;
pub use frame::Frame;
pub(crate) use server::*;

/// Another wire format for the same frames: what a connection writes in place of each native
/// frame, or nothing (`/socket.io/` renders events and replies its own way). Here, below the
/// connection, so that it needs nothing of the endpoint that speaks it.
pub(crate) trait Dialect: Send + Sync {
    fn render(&self, frame: &Frame) -> Rendered;
}

/// What a dialect writes for one native frame: nothing, a frame, or a frame with another
/// before it (Socket.IO's connect answer before `ready`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Rendered {
    pub before: Option<Frame>,
    pub frame: Option<Frame>,
}
