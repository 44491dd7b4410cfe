//! Holding sends back while fan-out is behind.
//!
//! A send is acknowledged once it is stored; its fan-out happens later, in the hub of every
//! process that has the room's sockets. Under more load than the processes can fan out, sends
//! keep being stored and acknowledged while each hub's queue grows: deliveries run seconds
//! late, and the CPU that stored the excess is missing from fan-out. With several processes
//! it is worse, as a process acknowledges its senders however far behind the other
//! processes' hubs are.
//!
//! So every hub reports how long the commands of its latest turn waited in its queue (zero
//! once it finds the queue empty), a cluster bus shares each process's figure with the others,
//! and while the largest fresh figure is above the limit, connections that send stop reading
//! frames (their clients wait, in their sockets' buffers, as for a full pipeline) until it is
//! back under half the limit. Nothing is refused or lost; readers that never sent are not held.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A process's figure older than this is ignored (the process stopped reporting: it caught
/// up, or went away).
pub const REMOTE_FRESH: Duration = Duration::from_secs(1);

/// Whether connections may read more sends, from the hubs' fan-out lag.
#[derive(Debug)]
pub struct SendGate {
    /// Sends wait while the lag is above this; none: never.
    limit: Option<Duration>,
    lags: Mutex<Lags>,
    open: watch::Sender<bool>,
    /// How many times it shut, for the metrics.
    shut: AtomicU64,
}

#[derive(Debug, Default)]
struct Lags {
    local: Duration,
    /// Other processes' latest figures, by node id, with when they came.
    remote: HashMap<String, (Duration, Instant)>,
}

impl SendGate {
    /// A gate that closes above `limit` (none or zero: a gate that never closes).
    pub fn new(limit: Option<Duration>) -> Self {
        Self {
            limit: limit.filter(|l| !l.is_zero()),
            lags: Mutex::default(),
            open: watch::Sender::new(true),
            shut: AtomicU64::new(0),
        }
    }

    /// Whether sends may be read now.
    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// How many times it has shut since the process started.
    pub fn times_shut(&self) -> u64 {
        self.shut.load(Ordering::Relaxed)
    }

    /// For a connection to wait on while the gate is shut.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.open.subscribe()
    }

    /// The hub's latest figure: how long its latest turn's oldest command waited, or zero
    /// when it found its queue empty.
    pub fn record_local(&self, lag: Duration) {
        let mut lags = self.lock();
        lags.local = lag;
        self.update(&mut lags, Instant::now());
    }

    /// This process's figure, for a cluster bus to share.
    pub fn local(&self) -> Duration {
        self.lock().local
    }

    /// Another process's figure, as its bus shared it.
    pub fn record_remote(&self, node: &str, lag: Duration) {
        let now = Instant::now();
        let mut lags = self.lock();
        // A known node's figure is replaced in place: no new key for every report.
        match lags.remote.get_mut(node) {
            Some(entry) => *entry = (lag, now),
            None => {
                lags.remote.insert(node.to_owned(), (lag, now));
            }
        }
        self.update(&mut lags, now);
    }

    /// Forgets figures that stopped coming; a cluster bus calls it on a timer, so a process
    /// that went away while behind does not hold the others' sends back for good.
    pub fn refresh(&self) {
        let mut lags = self.lock();
        self.update(&mut lags, Instant::now());
    }

    /// The largest fresh figure, this process's included.
    pub fn lag(&self) -> Duration {
        let lags = self.lock();
        Self::largest(&lags, Instant::now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lags> {
        self.lags.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn largest(lags: &Lags, now: Instant) -> Duration {
        lags.remote
            .values()
            .filter(|(_, at)| now.duration_since(*at) <= REMOTE_FRESH)
            .map(|(lag, _)| *lag)
            .fold(lags.local, Duration::max)
    }

    fn update(&self, lags: &mut Lags, now: Instant) {
        lags.remote
            .retain(|_, (_, at)| now.duration_since(*at) <= REMOTE_FRESH);
        let Some(limit) = self.limit else { return };
        let lag = Self::largest(lags, now);
        let changed = self.open.send_if_modified(|open| {
            // Shut above the limit, open again under half of it, so it does not flutter.
            let next = if *open {
                lag <= limit
            } else {
                lag <= limit / 2
            };
            std::mem::replace(open, next) != next
        });
        if !changed {
            return;
        }
        if !self.is_open() {
            self.shut.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(lag_ms = lag.as_millis(), "fan-out behind: sends held");
        } else {
            tracing::debug!(
                lag_ms = lag.as_millis(),
                "fan-out caught up: sends read again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(200);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn shuts_above_the_limit_and_opens_under_half_of_it() {
        let gate = SendGate::new(Some(LIMIT));
        let mut seen = gate.subscribe();
        gate.record_local(ms(200));
        assert!(gate.is_open(), "at the limit");
        gate.record_local(ms(201));
        assert!(!gate.is_open());
        assert_eq!(gate.times_shut(), 1);
        assert!(seen.has_changed().unwrap());
        seen.mark_unchanged();
        gate.record_local(ms(150));
        assert!(!gate.is_open(), "still above half the limit");
        assert!(!seen.has_changed().unwrap(), "no change, no wake-up");
        gate.record_local(ms(100));
        assert!(gate.is_open());
        assert!(seen.has_changed().unwrap());
        gate.record_local(Duration::ZERO);
        assert_eq!(gate.lag(), Duration::ZERO);
        gate.record_local(ms(300));
        gate.record_local(ms(400));
        assert_eq!(gate.times_shut(), 2, "counted once per shutting");
    }

    #[test]
    fn the_largest_process_figure_counts() {
        let gate = SendGate::new(Some(LIMIT));
        gate.record_remote("b", ms(500));
        assert!(
            !gate.is_open(),
            "another process behind holds this one's sends"
        );
        gate.record_local(ms(10));
        assert!(!gate.is_open());
        assert_eq!(gate.lag(), ms(500));
        assert_eq!(gate.local(), ms(10));
        gate.record_remote("c", ms(50));
        gate.record_remote("b", ms(90));
        assert!(gate.is_open());
        gate.record_local(ms(300));
        assert!(!gate.is_open(), "this process behind");
    }

    #[test]
    fn figures_that_stop_coming_are_forgotten() {
        let gate = SendGate::new(Some(LIMIT));
        gate.record_remote("gone", ms(5_000));
        assert!(!gate.is_open());
        // As if it last reported longer ago than a figure stays fresh.
        let stale = Instant::now() - REMOTE_FRESH - ms(1);
        gate.lock().remote.insert("gone".into(), (ms(5_000), stale));
        assert_eq!(gate.lag(), Duration::ZERO, "a stale figure is not the lag");
        gate.refresh();
        assert!(gate.is_open());
        assert!(gate.lock().remote.is_empty());
    }

    #[test]
    fn without_a_limit_it_never_shuts() {
        for limit in [None, Some(Duration::ZERO)] {
            let gate = SendGate::new(limit);
            gate.record_local(Duration::from_secs(60));
            gate.record_remote("b", Duration::from_secs(60));
            assert!(gate.is_open());
            assert_eq!(gate.lag(), Duration::from_secs(60), "still measured");
        }
    }
}
