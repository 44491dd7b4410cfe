//! Process-wide instruments that the hot paths update directly: each is a few atomic
//! operations, with no lock and no allocation. The server's `/metrics` handler registers them
//! in its registry next to the values it reads at scrape time (connections, the hub's
//! counters, the database pool).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, Opts, Registry};

/// Latency buckets, in seconds, from 50 µs to 5 s.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

pub struct Instruments {
    /// Messages newly stored (retries answered with the first message are not counted).
    pub messages_stored: IntCounter,
    /// How long storing one message took, from the caller's point of view: validation, the
    /// membership check and the store transaction.
    pub store_latency: Histogram,
    /// How long the hub took to order, serialise and queue one `message.created` for every
    /// connection in its room.
    pub broadcast_latency: Histogram,
    /// Database connections that were not free when asked for (the caller waited).
    pub db_pool_waits: IntCounter,
    /// Time spent waiting for a database connection.
    pub db_pool_wait_time: Histogram,
}

// The names and buckets are constants, checked by the test below, so these cannot fail at run
// time; they run once, when the instruments are first used (at start-up).
#[allow(clippy::expect_used)]
fn histogram(name: &str, help: &str) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()))
        .expect("constant histogram options are valid")
}

#[allow(clippy::expect_used)]
fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).expect("constant counter options are valid")
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    Instruments {
    messages_stored: counter("huddle_messages_stored_total", "Messages newly stored."),
    store_latency: histogram(
        "huddle_store_latency_seconds",
        "Time to store one message (validation, membership check, transaction).",
    ),
    broadcast_latency: histogram(
        "huddle_broadcast_latency_seconds",
        "Time for the hub to order, serialise and queue one message for every connection of its room.",
    ),
    db_pool_waits: counter(
        "huddle_db_pool_waits_total",
        "Times a caller found no free database connection and waited for one.",
    ),
    db_pool_wait_time: histogram(
        "huddle_db_pool_wait_seconds",
        "Time spent waiting for a database connection, when none was free.",
    ),
}
});

/// The process's instruments.
pub fn instruments() -> &'static Instruments {
    &INSTRUMENTS
}

/// Records a message store that took `took`; `created` when it stored a new message.
pub fn record_store(took: Duration, created: bool) {
    let m = instruments();
    m.store_latency.observe(took.as_secs_f64());
    if created {
        m.messages_stored.inc();
    }
}

/// Records one fan-out of a message by the hub.
pub fn record_broadcast(took: Duration) {
    instruments().broadcast_latency.observe(took.as_secs_f64());
}

/// Records a wait for a database connection.
pub fn record_pool_wait(took: Duration) {
    let m = instruments();
    m.db_pool_waits.inc();
    m.db_pool_wait_time.observe(took.as_secs_f64());
}

/// Registers the process-wide instruments in `registry` (one registry per server instance;
/// several instances in one process, as in tests, share the instruments).
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    let m = instruments();
    registry.register(Box::new(m.messages_stored.clone()))?;
    registry.register(Box::new(m.store_latency.clone()))?;
    registry.register(Box::new(m.broadcast_latency.clone()))?;
    registry.register(Box::new(m.db_pool_waits.clone()))?;
    registry.register(Box::new(m.db_pool_wait_time.clone()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruments_register_and_render() {
        let registry = Registry::new();
        register(&registry).unwrap();
        record_store(Duration::from_millis(2), true);
        record_broadcast(Duration::from_micros(80));
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(text.contains("huddle_messages_stored_total"));
        assert!(text.contains("huddle_store_latency_seconds_bucket"));
        assert!(text.contains("huddle_broadcast_latency_seconds_count"));
        assert!(text.contains("huddle_db_pool_waits_total"));
        // A second registry (a second server in one process) takes them too.
        register(&Registry::new()).unwrap();
    }
}
