use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use huddle_domain::UserId;

/// A token bucket per user: `rate` per second sustained, `burst` at once. Shared by all of a
/// user's connections, so opening more sockets does not raise the limit.
pub(crate) struct SendLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<UserId, (f64, Instant)>>,
}

impl SendLimiter {
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn allow(&self, user: UserId) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(user).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = SendLimiter::new(50.0, 3.0);
        assert!(l.allow(1) && l.allow(1) && l.allow(1));
        assert!(!l.allow(1));
        assert!(l.allow(2), "users have separate buckets");
        std::thread::sleep(std::time::Duration::from_millis(40));
        assert!(l.allow(1), "refilled at 50/s");
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let l = SendLimiter::new(0.0, 1.0);
        assert!((0..1000).all(|_| l.allow(1)));
    }
}
