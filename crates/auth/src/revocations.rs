//! Sessions ended recently, kept in memory so that checking an access token stays one HMAC and
//! one map lookup, with no database round trip.
//!
//! An access token lives at most the access-token lifetime, so a session needs remembering only
//! that long after it ended: after that, every token naming it has expired anyway. Each node
//! fills the set from the database at start and from the event bus while it runs.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Kept a little longer than the token lifetime, for clocks that differ between nodes.
const CLOCK_SLACK: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Revocations {
    window: Duration,
    /// Session id → when it can be forgotten (Unix seconds).
    ended: RwLock<HashMap<String, i64>>,
    /// `ended.len()`, readable without the lock: the common case is an empty set.
    len: AtomicUsize,
}

impl Revocations {
    /// Remembers each ended session for `token_lifetime` (plus a minute of clock slack).
    pub fn new(token_lifetime: Duration) -> Self {
        Self {
            window: token_lifetime + CLOCK_SLACK,
            ended: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// How far back a starting node must look for ended sessions.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Records sessions that ended at `ended_at`; returns how many were not known yet.
    pub fn record<'a>(
        &self,
        sessions: impl IntoIterator<Item = (&'a str, DateTime<Utc>)>,
    ) -> usize {
        let now = Utc::now().timestamp();
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX / 4);
        let mut ended = self.ended.write().unwrap_or_else(|p| p.into_inner());
        ended.retain(|_, forget_at| *forget_at > now);
        let mut new = 0;
        for (id, at) in sessions {
            let forget_at = at.timestamp().saturating_add(window);
            if forget_at <= now {
                continue;
            }
            let slot = ended.entry(id.to_owned()).or_insert_with(|| {
                new += 1;
                forget_at
            });
            *slot = (*slot).max(forget_at);
        }
        self.len.store(ended.len(), Ordering::Release);
        new
    }

    /// Whether the session has ended (within the window).
    pub fn is_ended(&self, session_id: &str) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.ended
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(session_id)
    }

    /// Sessions remembered now (for metrics and tests).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_ended_sessions_for_the_window_only() {
        let r = Revocations::new(Duration::from_secs(900));
        assert!(!r.is_ended("a"));
        let now = Utc::now();
        assert_eq!(r.record([("a", now), ("b", now)]), 2);
        assert!(r.is_ended("a") && r.is_ended("b") && !r.is_ended("c"));
        // Recording again is not new.
        assert_eq!(r.record([("a", now)]), 0);
        // Ended longer ago than a token lives (plus slack): nothing to refuse any more.
        let long_ago = now - chrono::Duration::seconds(900 + 61);
        assert_eq!(r.record([("old", long_ago)]), 0);
        assert!(!r.is_ended("old"));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn forgets_expired_entries_when_recording() {
        let r = Revocations::new(Duration::from_secs(0));
        let now = Utc::now();
        // Window is the slack alone: 60 s.
        r.record([("x", now - chrono::Duration::seconds(59))]);
        assert!(r.is_ended("x"));
        {
            let mut ended = r.ended.write().unwrap();
            *ended.get_mut("x").unwrap() = now.timestamp() - 1;
        }
        r.record([("y", now)]);
        assert!(!r.is_ended("x"), "expired entries are dropped");
        assert!(r.is_ended("y"));
        assert_eq!(r.len(), 1);
    }
}
