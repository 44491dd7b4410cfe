//! The Huddle server: reads its configuration, opens the database, wires the layers together
//! and serves HTTP and WebSocket until told to stop.
//!
//! `main.rs` is a few lines over [`Application`]; tests start the same `Application` on a
//! random port.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod app;
mod config;
mod metrics;
mod telemetry;

pub use app::{Application, ShutdownHandle, StartupError};
pub use config::{Config, ConfigError, Environment, FilesConfig, LogFormat};
pub use huddle_files::{S3Config, StoreConfig};
pub use metrics::{Metrics, PoolState};
pub use telemetry::init_tracing;
