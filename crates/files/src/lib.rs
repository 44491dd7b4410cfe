//! Where the bytes of shared files live, and the rules at their edges.
//!
//! - [`FileStore`]: an `object_store` (a local directory by default, so the first start needs no
//!   set-up; an S3-compatible bucket when several nodes must share files), with uploads streamed
//!   to it under a size limit and read back as a stream.
//! - [`sniff`]: what a file is, from its first bytes, never from what the uploader says.
//! - [`SignedLinks`]: links that let `<img src>` fetch a file without a header, for a while.
//! - [`janitor`]: deletes the objects of deleted messages and rooms (the database's trash).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod error;
pub mod janitor;
mod links;
pub mod sniff;
mod store;

pub use config::{S3Config, StoreConfig};
pub use error::FileError;
pub use links::{LinkCheck, SignedLinks};
pub use sniff::Sniffed;
pub use store::{FileStore, Received, StoredBytes};
