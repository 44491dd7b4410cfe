//! Rate limits that hold across processes: a token bucket per key in Redis, computed by a
//! script on Redis's clock. While Redis is unreachable each process limits in memory.
use std::time::Duration;

use huddle_domain::limits::{LimitFuture, LimitResult, MemoryLimiter, Rate, RateLimiter};
use redis::Script;

use crate::conn::SharedRedis;

/// KEYS[1] the bucket; ARGV rate per second, burst. Returns -1 when allowed, else the wait in
/// milliseconds.
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local result = -1
if tokens >= 1 then
  tokens = tokens - 1
else
  result = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return result";

pub struct RedisLimiter {
    redis: SharedRedis,
    prefix: String,
    rate: Rate,
    fallback: MemoryLimiter,
    script: Script,
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
        }
    }

    async fn take(&self, key: &str) -> LimitResult {
        if self.rate.is_unlimited() {
            return Ok(());
        }
        let bucket = format!("{}:{key}", self.prefix);
        let script = self.script.clone();
        let (rate, burst) = (self.rate.per_second, self.rate.burst.max(1.0));
        let answer = self
            .redis
            .run("rate limit", |mut c| async move {
                script
                    .key(bucket)
                    .arg(rate)
                    .arg(burst)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await;
        match answer {
            Some(wait) if wait < 0 => Ok(()),
            Some(wait) => Err(Duration::from_millis(u64::try_from(wait).unwrap_or(1000))),
            None => self.fallback.check(key),
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn hit<'a>(&'a self, key: &'a str) -> LimitFuture<'a> {
        Box::pin(self.take(key))
    }
}
