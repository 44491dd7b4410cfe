//! Rate limits that hold across processes: a token bucket per key in Redis, computed by a
//! script on Redis's clock. While Redis is unreachable each process limits in memory.
//!
//! A process takes tokens from the shared bucket a lease at a time (a tenth of a second's worth
//! of the rate, at most a quarter of the burst, at least one) and spends them locally, so a busy
//! key costs a Redis round trip per lease instead of per hit. A hit waited for its round trip
//! before its frame was handled: at 13,000 sends a second on one node the sends' acks queued
//! behind it and the node delivered a third of what it did without Redis (BENCHMARKS.md,
//! "Scale-out"). At the limits people configure (a few sends a second) a lease is one token,
//! exactly as before.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use huddle_domain::limits::{LimitFuture, LimitResult, MemoryLimiter, Rate, RateLimiter};
use redis::Script;

use crate::conn::SharedRedis;

/// KEYS[1] the bucket; ARGV rate per second, burst, tokens wanted. Returns {granted, wait}:
/// granted >= 1 tokens taken, or 0 and the wait in milliseconds until one is there.
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local granted = 0
local wait = 0
if tokens >= 1 then
  granted = math.min(want, math.floor(tokens))
  tokens = tokens - granted
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, wait}";

/// Leased tokens not spent within this long are dropped (never returned: the bucket only ever
/// errs on the strict side).
const LEASE_TTL: Duration = Duration::from_secs(1);

/// Local leases kept at most; past it, expired ones are forgotten.
const LEASES_MAX: usize = 10_000;

/// Tokens taken from the shared bucket and not yet spent, per key.
struct Lease {
    tokens: u64,
    taken_at: Instant,
}

pub struct RedisLimiter {
    redis: SharedRedis,
    prefix: String,
    rate: Rate,
    fallback: MemoryLimiter,
    script: Script,
    /// Tokens taken from Redis per round trip.
    lease: u64,
    leases: Mutex<HashMap<String, Lease>>,
}

impl RedisLimiter {
    /// `name` tells this limit's keys apart from other limits' (e.g. `auth`, `send`).
    pub fn new(redis: SharedRedis, prefix: &str, name: &str, rate: Rate) -> Self {
        Self {
            redis,
            prefix: format!("{prefix}:rl:{name}"),
            rate,
            fallback: MemoryLimiter::new(rate),
            script: Script::new(TAKE),
            lease: lease_size(rate),
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// Spends a leased token of `key`'s, if one is left.
    fn spend_leased(&self, key: &str) -> bool {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        match leases.get_mut(key) {
            Some(l) if l.tokens > 0 && l.taken_at.elapsed() < LEASE_TTL => {
                l.tokens -= 1;
                true
            }
            _ => false,
        }
    }

    /// Keeps what is left of a fresh lease of `granted` tokens, one of them spent now.
    fn keep_lease(&self, key: &str, granted: u64) {
        if granted <= 1 {
            return;
        }
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= LEASES_MAX {
            leases.retain(|_, l| l.tokens > 0 && l.taken_at.elapsed() < LEASE_TTL);
        }
        leases.insert(
            key.to_owned(),
            Lease {
                tokens: granted - 1,
                taken_at: Instant::now(),
            },
        );
    }

    async fn take(&self, key: &str) -> LimitResult {
        if self.rate.is_unlimited() || self.spend_leased(key) {
            return Ok(());
        }
        let bucket = format!("{}:{key}", self.prefix);
        let script = self.script.clone();
        let (rate, burst, want) = (self.rate.per_second, self.rate.burst.max(1.0), self.lease);
        let answer = self
            .redis
            .run("rate limit", |mut c| async move {
                script
                    .key(bucket)
                    .arg(rate)
                    .arg(burst)
                    .arg(want)
                    .invoke_async::<(i64, i64)>(&mut c)
                    .await
            })
            .await;
        match answer {
            Some((granted, _)) if granted >= 1 => {
                self.keep_lease(key, u64::try_from(granted).unwrap_or(1));
                Ok(())
            }
            Some((_, wait)) => Err(Duration::from_millis(
                u64::try_from(wait).unwrap_or(1000).max(1),
            )),
            None => self.fallback.check(key),
        }
    }
}

/// A tenth of a second's worth of `rate`, at most a quarter of its burst, at least one token.
fn lease_size(rate: Rate) -> u64 {
    let tokens = (rate.per_second / 10.0).min(rate.burst / 4.0).floor();
    if tokens >= 1.0 {
        tokens as u64
    } else {
        1
    }
}

impl RateLimiter for RedisLimiter {
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a> {
        Box::pin(self.take(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64, burst: f64) -> Rate {
        Rate { per_second, burst }
    }

    #[test]
    fn leases_are_one_token_at_everyday_limits_and_larger_only_for_busy_ones() {
        assert_eq!(lease_size(rate(0.05, 4.0)), 1);
        assert_eq!(lease_size(rate(5.0, 10.0)), 1);
        assert_eq!(lease_size(rate(1000.0, 2000.0)), 100);
        assert_eq!(
            lease_size(rate(1000.0, 40.0)),
            10,
            "a quarter of the burst at most"
        );
        assert_eq!(lease_size(rate(1_000_000.0, 1_000_000.0)), 100_000);
        assert_eq!(lease_size(rate(0.0, 0.0)), 1);
    }
}
