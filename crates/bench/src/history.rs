//! The read paths at a fixed request rate (open loop: each request leaves on its schedule,
//! whether or not earlier ones have answered), latency measured from the scheduled time so that
//! a stall counts in full: history paging (`GET /api/v1/rooms/{id}/messages?before_seq=…`) and
//! the room list with unread counts (`GET /api/v1/rooms?mine=true`), every answer checked.
use std::collections::HashMap;
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
    pub read: Read,
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What each request reads, and what its answer must hold.
#[derive(Debug, Clone)]
pub enum Read {
    /// Pages of `page` messages before a seq anywhere in a room of seqs 1..=messages.
    History { room: i64, messages: i64, page: i64 },
    /// The caller's rooms, one page of `limit`: each room's `unread_count` as `unread` says,
    /// and no mentions.
    RoomList {
        unread: Arc<HashMap<i64, i64>>,
        limit: usize,
    },
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
    i: u64,
) -> std::result::Result<bool, ()> {
    let url = match &load.read {
        Read::History {
            room,
            messages,
            page,
        } => {
            let before = history_before(i, *messages);
            format!("/api/v1/rooms/{room}/messages?before_seq={before}&limit={page}")
        }
        Read::RoomList { limit, .. } => format!("/api/v1/rooms?mine=true&limit={limit}"),
    };
    let resp = client
        .get(format!("{}{url}", load.base))
        .bearer_auth(&load.token)
        .send()
        .await
        .map_err(drop)?;
    if !resp.status().is_success() {
        return Err(());
    }
    let v: serde_json::Value = resp.json().await.map_err(drop)?;
    let items = v["items"].as_array().ok_or(())?;
    Ok(match &load.read {
        Read::History { messages, page, .. } => {
            let before = history_before(i, *messages);
            let want = (before - 1).min(*page);
            let first_ok = items
                .first()
                .and_then(|m| m["seq"].as_i64())
                .is_some_and(|s| s == before - want);
            items.len() as i64 == want && first_ok
        }
        Read::RoomList { unread, .. } => {
            items.len() == unread.len()
                && items.iter().all(|r| {
                    let want = r["id"].as_i64().and_then(|id| unread.get(&id));
                    want.is_some()
                        && r["unread_count"].as_i64() == want.copied()
                        && r["mention_count"].as_i64() == Some(0)
                })
        }
    })
}

/// The `before_seq` of the `i`th history request: a golden-ratio walk spreads them evenly over
/// the whole history.
fn history_before(i: u64, messages: i64) -> i64 {
    let frac = (i as f64 * 0.618_033_988_749_895).fract();
    2 + (frac * (messages - 1) as f64) as i64
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
        let (client, load, hist, counts) =
            (client.clone(), load.clone(), hist.clone(), counts.clone());
        let measured = scheduled >= measure_from;
        tasks.push(tokio::spawn(async move {
            let outcome = one(&client, &load, i).await;
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
