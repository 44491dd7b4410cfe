//! History paging: `GET /api/v1/rooms/{id}/messages?before_seq=…&limit=50` at a fixed
//! request rate (open loop: each request leaves on its schedule, whether or not earlier ones
//! have answered), latency measured from the scheduled time so that a stall counts in full.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::Latency;
use crate::sample::{Tracker, Usage};
use crate::Result;

#[derive(Debug, Clone)]
pub struct HistoryLoad {
    pub base: String,
    pub token: String,
    pub room: i64,
    /// Messages in the room (seqs 1..=messages).
    pub messages: i64,
    pub rate: f64,
    pub page: i64,
    pub warmup: Duration,
    pub duration: Duration,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryResult {
    pub requests: u64,
    pub requests_per_s: f64,
    pub errors: u64,
    /// Pages that did not hold the expected messages.
    pub wrong_pages: u64,
    pub latency: Latency,
    pub usage: Vec<Usage>,
}

#[derive(Default)]
struct Counts {
    requests: u64,
    errors: u64,
    wrong: u64,
}

async fn one(
    client: &reqwest::Client,
    load: &HistoryLoad,
    before: i64,
) -> std::result::Result<bool, ()> {
    let url = format!(
        "{}/api/v1/rooms/{}/messages?before_seq={before}&limit={}",
        load.base, load.room, load.page
    );
    let resp = client
        .get(url)
        .bearer_auth(&load.token)
        .send()
        .await
        .map_err(drop)?;
    if !resp.status().is_success() {
        return Err(());
    }
    let v: serde_json::Value = resp.json().await.map_err(drop)?;
    let items = v["items"].as_array().ok_or(())?;
    let want = (before - 1).min(load.page);
    let first_ok = items
        .first()
        .and_then(|m| m["seq"].as_i64())
        .is_some_and(|s| s == before - want);
    Ok(items.len() as i64 == want && first_ok)
}

pub async fn run(load: &HistoryLoad, trackers: &mut [Tracker]) -> Result<HistoryResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()?;
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        600_000_000,
        3,
    )?));
    let counts = Arc::new(Mutex::new(Counts::default()));
    let period = Duration::from_secs_f64(1.0 / load.rate.max(0.001));
    let start = tokio::time::Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let load = Arc::new(load.clone());
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let mut i: u64 = 0;
    let mut started_trackers = false;
    let mut next_tick = Instant::now() + Duration::from_millis(500);
    loop {
        let scheduled = ticker.tick().await;
        if scheduled >= end {
            break;
        }
        if scheduled >= measure_from && !started_trackers {
            for t in trackers.iter_mut() {
                t.start().await;
            }
            started_trackers = true;
        }
        if started_trackers && Instant::now() >= next_tick {
            next_tick += Duration::from_millis(500);
            for t in trackers.iter_mut() {
                t.tick().await;
            }
        }
        i += 1;
        // A page anywhere in the history (a golden-ratio walk spreads them evenly).
        let frac = (i as f64 * 0.618_033_988_749_895).fract();
        let before = 2 + (frac * (load.messages - 1) as f64) as i64;
        let (client, load, hist, counts) =
            (client.clone(), load.clone(), hist.clone(), counts.clone());
        let measured = scheduled >= measure_from;
        tasks.push(tokio::spawn(async move {
            let outcome = one(&client, &load, before).await;
            if !measured {
                return;
            }
            let took = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX);
            if let Ok(mut h) = hist.lock() {
                h.saturating_record(took.max(1));
            }
            if let Ok(mut c) = counts.lock() {
                c.requests += 1;
                match outcome {
                    Ok(true) => {}
                    Ok(false) => c.wrong += 1,
                    Err(()) => c.errors += 1,
                }
            }
        }));
    }
    for t in trackers.iter_mut() {
        t.tick().await;
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let counts = counts.lock().map_err(|_| "poisoned")?;
    let hist = hist.lock().map_err(|_| "poisoned")?;
    Ok(HistoryResult {
        requests: counts.requests,
        requests_per_s: counts.requests as f64 / load.duration.as_secs_f64(),
        errors: counts.errors,
        wrong_pages: counts.wrong,
        latency: Latency::of(&hist),
        usage: trackers.iter().filter_map(Tracker::usage).collect(),
    })
}
