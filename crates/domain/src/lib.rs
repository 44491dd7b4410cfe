//! Huddle's domain: what a user, room, member and message are, the rules they obey, and the
//! traits through which they are stored and announced.
//!
//! Nothing here does I/O or knows about HTTP, WebSockets or SQL, so any service can reuse it:
//! the REST handlers and the WebSocket gateway call the same [`service`] functions, which is what
//! keeps their behaviour identical.
//!
//! - [`entities`]: the data (users, rooms, members, messages, sessions) as the wire shows it.
//! - [`validation`]: every input rule (lengths, characters, names), one function per field.
//! - [`service`]: `ChatService`, the use cases and who may do them (the permission matrix).
//! - [`repository`]: the storage traits the services need; [`events`]: what they announce;
//!   [`event_log`]: each room's ordered log of them, which resuming clients replay.
//! - [`error`]: the layer's errors and [`ErrorCode`], the contract's one vocabulary of codes.
//! - [`files`]: what an attachment is, its name rules, and the links it is fetched from.
//! - [`limits`], [`presence`]: rate limiting and who is online, as plain state machines.
//! - [`search`]: the message search query language and its highlighted answers; [`lexemes`]:
//!   what PostgreSQL full-text search stores for a message and looks for in a query.
//! - [`answer`]: a one-shot future, the bridge from a repository's callback to an async edge.
//!
//! With the feature `memory` (and always in this crate's own tests), `memory::MemoryRepository`
//! is the whole [`Repository`] in memory: services can test their rules without a database, and
//! `examples/in_memory.rs` runs a chat without a server. `conformance` is the repository
//! contract as one suite of tests, run on the in-memory repository, SQLite and PostgreSQL alike.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
#[cfg(any(test, feature = "memory"))]
pub mod conformance;
pub mod entities;
pub mod error;
pub mod event_log;
pub mod events;
pub mod files;
pub mod lexemes;
pub mod limits;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod mentions;
pub mod presence;
pub mod repository;
pub mod search;
pub mod service;
pub mod validation;

pub use entities::{
    EndedSession, Invite, InvitePreview, InviteRecord, Member, Message, MessageId, Reaction,
    ReadMark, RefreshTokenRecord, ReplyPreview, Role, Room, RoomCursor, RoomId, RoomKind,
    RoomPreview, SessionRecord, Unread, User, UserCredentials, UserId, REACTION_USERS_SHOWN,
};
pub use error::{Cause, Chain, DomainError, ErrorCode, RepoError, SendRefusal};
pub use events::{DomainEvent, EventPublisher, NoopPublisher};
pub use repository::Repository;
