//! The socket's wire format (`docs/API.md`, "Real time"): typed client frames in
//! ([`client`]), rendered server frames out ([`server`]), and the close codes ([`close`]).
//! Nothing outside these modules reads or writes JSON, so the contract has one home.
mod client;
mod close;
mod server;

pub(crate) use client::{parse, ClientFrame};
pub(crate) use close::*;
pub use server::Frame;
pub(crate) use server::*;
