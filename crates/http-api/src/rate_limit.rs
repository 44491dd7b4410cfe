//! A fixed-window counter per key (client address), in memory. Enough to blunt password
//! guessing on one node; windows are short, so the map is swept as it is used.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `limit` attempts per `window`; a limit of 0 disables limiting.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt. `Err(wait)` says how long until the next one is allowed.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 10_000 {
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(self.window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_resets_after_the_window() {
        let l = RateLimiter::new(2, Duration::from_millis(200));
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        let wait = l.check("a").unwrap_err();
        assert!(wait <= Duration::from_millis(200));
        assert!(l.check("b").is_ok());
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.check("a").is_ok());
    }

    #[test]
    fn zero_disables() {
        let l = RateLimiter::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(l.check("a").is_ok());
        }
    }
}
