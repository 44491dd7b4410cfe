//! Huddle's load generator and its baselines. `huddle-bench --help` lists the scenarios;
//! `BENCHMARKS.md` at the repository root says what they measure and the latest figures.
//!
//! - [`load`]: N WebSocket connections over R rooms, S of them sending; latency, deliveries,
//!   losses and duplicates checked per receiver.
//! - [`bare`]: the bare broadcast server (no auth, no database, no JSON): this machine's
//!   practical limit for fan-out.
//! - [`db`]: the naive one-transaction-per-message store baseline, the check that every
//!   acknowledged message was stored, history and search seeding, the search statements on
//!   their own.
//! - [`files`]: upload and download throughput against the raw copy speed.
//! - [`history`]: history paging at a fixed request rate.
//! - [`search`]: message search at a fixed request rate over a seeded corpus, every answer
//!   checked.
//! - [`procs`], [`sample`], [`setup`]: the servers as child processes, their memory and CPU,
//!   users and rooms over the REST API.
//! - [`scenarios`]: the standard set, each against its baseline in the same run.
//! - [`scaleout`]: two Huddle nodes on one database and Redis against one node; [`cpu_cap`]
//!   gives each node the same CPU budget when the machine is smaller than the nodes.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bare;
pub mod cpu_cap;
pub mod db;
pub mod files;
pub mod history;
pub mod load;
pub mod procs;
pub mod sample;
pub mod scaleout;
pub mod scenarios;
pub mod search;
pub mod setup;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Raises this process's open-files limit to the hard limit (every connection is a file).
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("could not raise the open files limit: {e}");
            0
        }
    }
}
