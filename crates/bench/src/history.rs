//! The read paths at a fixed request rate (open loop: each request leaves on its schedule,
//! whether or not earlier ones have answered), latency measured from the scheduled time so that
//! a stall counts in full: history paging (`GET /api/v1/rooms/{id}/messages?before_seq=…`) and
//! the room list with unread counts (`GET /api/v1/rooms?mine=true`), every answer checked.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

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

/// What the checks read of an answer; everything else is skipped unparsed, so the generator's
/// own work per answer stays small beside the server's (it shares the machine's cores).
#[derive(Deserialize)]
struct Page {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: Option<i64>,
    seq: Option<i64>,
    unread_count: Option<i64>,
    mention_count: Option<i64>,
    #[serde(default)]
    reactions: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    attachments: Vec<serde::de::IgnoredAny>,
}

/// The history room is seeded as a lived-in room: every `REACTED_EVERY`th message has a
/// reaction and every `FILED_EVERY`th a file, so a page reads both, as real pages do.
pub const REACTED_EVERY: i64 = 5;
pub const FILED_EVERY: i64 = 20;

/// A seeded message carries its one reaction and its one file where the seed put them.
fn decorated_as_seeded(m: &Item) -> bool {
    let Some(seq) = m.seq else {
        return false;
    };
    m.reactions.len() == usize::from(seq % REACTED_EVERY == 0)
        && m.attachments.len() == usize::from(seq % FILED_EVERY == 0)
}

fn url(load: &HistoryLoad, i: u64) -> String {
    match &load.read {
        Read::History {
            room,
            messages,
            page,
        } => {
            let before = history_before(i, *messages);
            format!("/api/v1/rooms/{room}/messages?before_seq={before}&limit={page}")
        }
        Read::RoomList { limit, .. } => format!("/api/v1/rooms?mine=true&limit={limit}"),
    }
}

/// The answer's body, once it has all arrived: where the request's latency ends.
async fn fetch(
    client: &reqwest::Client,
    load: &HistoryLoad,
    i: u64,
) -> std::result::Result<bytes::Bytes, ()> {
    let resp = client
        .get(format!("{}{}", load.base, url(load, i)))
        .bearer_auth(&load.token)
        .send()
        .await
        .map_err(drop)?;
    if !resp.status().is_success() {
        return Err(());
    }
    resp.bytes().await.map_err(drop)
}

/// Whether the `i`th answer holds what it must.
fn check(load: &HistoryLoad, i: u64, body: &[u8]) -> bool {
    let Ok(Page { items }) = serde_json::from_slice::<Page>(body) else {
        return false;
    };
    match &load.read {
        Read::History { messages, page, .. } => {
            let before = history_before(i, *messages);
            let want = (before - 1).min(*page);
            let first_ok = items
                .first()
                .and_then(|m| m.seq)
                .is_some_and(|s| s == before - want);
            items.len() as i64 == want && first_ok && items.iter().all(decorated_as_seeded)
        }
        Read::RoomList { unread, .. } => {
            items.len() == unread.len()
                && items.iter().all(|r| {
                    let want = r.id.and_then(|id| unread.get(&id));
                    want.is_some() && r.unread_count == want.copied() && r.mention_count == Some(0)
                })
        }
    }
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
            let body = fetch(&client, &load, i).await;
            let took = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX);
            if !measured {
                return;
            }
            let outcome = body.map(|b| check(&load, i, &b));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(read: Read) -> HistoryLoad {
        HistoryLoad {
            base: String::new(),
            token: String::new(),
            read,
            rate: 1.0,
            warmup: Duration::ZERO,
            duration: Duration::ZERO,
        }
    }

    fn page_of(seqs: std::ops::RangeInclusive<i64>) -> Vec<u8> {
        let items: Vec<_> = seqs
            .map(|s| {
                let reactions: Vec<_> = (s % REACTED_EVERY == 0)
                    .then(|| serde_json::json!({"emoji": "👍", "count": 1}))
                    .into_iter()
                    .collect();
                let attachments: Vec<_> = (s % FILED_EVERY == 0)
                    .then(|| serde_json::json!({"id": "f", "name": "photo.png"}))
                    .into_iter()
                    .collect();
                serde_json::json!({"id": s + 100, "seq": s, "body": "x", "author": {"id": 1},
                    "reactions": reactions, "attachments": attachments})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "items": items, "has_more": true })).unwrap()
    }

    #[test]
    fn a_history_page_must_end_just_before_its_seq() {
        let l = load(Read::History {
            room: 1,
            messages: 1000,
            page: 50,
        });
        let before = history_before(7, 1000);
        assert!(before > 51, "a full page for this request");
        assert!(check(&l, 7, &page_of(before - 50..=before - 1)));
        assert!(!check(&l, 7, &page_of(before - 49..=before)), "off by one");
        assert!(!check(&l, 7, &page_of(before - 49..=before - 1)), "short");
        assert!(!check(&l, 7, b"{\"items\": [}"), "malformed");
        assert!(!check(&l, 7, b"{}"), "no items");
        // The seeded reaction and file, each left out in turn.
        let first = before - 50;
        for field in ["reactions", "attachments"] {
            let mut page: serde_json::Value =
                serde_json::from_slice(&page_of(first..=before - 1)).unwrap();
            let items = page["items"].as_array_mut().unwrap();
            let seeded = items
                .iter_mut()
                .find(|m| !m[field].as_array().unwrap().is_empty())
                .unwrap();
            seeded[field] = serde_json::json!([]);
            let body = serde_json::to_vec(&page).unwrap();
            assert!(!check(&l, 7, &body), "{field} missing");
        }
    }

    #[test]
    fn a_room_list_must_carry_every_rooms_unread_count_and_no_mentions() {
        let unread = Arc::new(HashMap::from([(1, 5), (2, 0)]));
        let l = load(Read::RoomList { unread, limit: 50 });
        let body = |a: i64, m: i64| {
            serde_json::to_vec(&serde_json::json!({"items": [
                {"id": 1, "name": "a", "unread_count": a, "mention_count": m},
                {"id": 2, "name": "b", "unread_count": 0, "mention_count": 0},
            ]}))
            .unwrap()
        };
        assert!(check(&l, 0, &body(5, 0)));
        assert!(!check(&l, 0, &body(4, 0)), "wrong unread count");
        assert!(!check(&l, 0, &body(5, 1)), "a mention");
        let one_room = br#"{"items": [{"id": 1, "unread_count": 5, "mention_count": 0}]}"#;
        assert!(!check(&l, 0, one_room), "a room missing");
    }
}
