//! Rate limits as a boundary: the edges ask "may this key act now?", and the answer comes from
//! memory on a single node or from a shared store in a cluster, so a limit holds cluster-wide.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `Err(wait)`: over the limit, retry after `wait`.
pub type LimitResult = Result<(), Duration>;
pub type LimitFuture<'a> = Pin<Box<dyn Future<Output = LimitResult> + Send + 'a>>;

/// A token bucket per key: `rate` tokens per second, at most `burst` saved up.
pub trait RateLimiter: Send + Sync {
    /// Takes one token for `key`.
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a>;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `count` per `window`, all of them usable at once.
    pub fn per_window(count: u32, window: Duration) -> Self {
        Self {
            per_second: f64::from(count) / window.as_secs_f64().max(0.001),
            burst: f64::from(count),
        }
    }

    /// No limit at all.
    pub fn unlimited() -> Self {
        Self {
            per_second: 0.0,
            burst: 0.0,
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.per_second <= 0.0
    }
}

/// The bucket arithmetic, shared by every implementation: refills `tokens` (last touched at
/// `elapsed` seconds ago) and takes one if it can.
pub fn take_token(rate: Rate, tokens: f64, elapsed: f64) -> (f64, LimitResult) {
    let burst = rate.burst.max(1.0);
    let tokens = (tokens + elapsed * rate.per_second).min(burst);
    if tokens >= 1.0 {
        (tokens - 1.0, Ok(()))
    } else {
        let wait = (1.0 - tokens) / rate.per_second;
        (tokens, Err(Duration::from_secs_f64(wait.max(0.001))))
    }
}

/// The single-node limiter.
pub struct MemoryLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl MemoryLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, key: &str) -> LimitResult {
        if self.rate.is_unlimited() {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets carry no information; forget them.
            let rate = self.rate;
            buckets.retain(|_, (t, at)| {
                take_token(rate, *t, now.duration_since(*at).as_secs_f64()).0 + 1.0 < rate.burst
            });
        }
        let (tokens, at) = buckets
            .entry(key.to_owned())
            .or_insert((self.rate.burst.max(1.0), now));
        let (left, result) = take_token(self.rate, *tokens, now.duration_since(*at).as_secs_f64());
        *tokens = left;
        *at = now;
        result
    }
}

impl RateLimiter for MemoryLimiter {
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a> {
        let result = self.check(key);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_wait_then_refill() {
        let l = MemoryLimiter::new(Rate {
            per_second: 50.0,
            burst: 3.0,
        });
        assert!(l.check("a").is_ok() && l.check("a").is_ok() && l.check("a").is_ok());
        let wait = l.check("a").unwrap_err();
        assert!(wait <= Duration::from_millis(21), "{wait:?}");
        assert!(l.check("b").is_ok(), "keys have separate buckets");
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check("a").is_ok(), "refilled at 50/s");
    }

    #[test]
    fn per_window_allows_the_count_then_refuses() {
        let l = MemoryLimiter::new(Rate::per_window(3, Duration::from_secs(60)));
        for _ in 0..3 {
            assert!(l.check("ip").is_ok());
        }
        let wait = l.check("ip").unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
    }

    #[test]
    fn unlimited_never_refuses() {
        let l = MemoryLimiter::new(Rate::unlimited());
        assert!((0..1000).all(|_| l.check("a").is_ok()));
    }
}
