//! Every process holds its senders back while any process's hub runs behind: each one's
//! fan-out lag reaches the others through Redis. Two hubs with their Redis buses in one test
//! process (a hub's lag cannot be forced from outside a real one), on the machine's Redis under
//! a prefix of the test's own.
use std::time::Duration;

use huddle_cluster::{ClusterConfig, RedisBus, SharedRedis};
use huddle_realtime::{Hub, HubHandle, RealtimeConfig};
use huddle_test_support::cluster::{redis_available, redis_url, RedisPrefix};

const LIMIT: Duration = Duration::from_millis(250);

/// A hub (not run: only its gate matters here) and a Redis bus for it.
fn node(prefix: &str) -> HubHandle {
    let config = RealtimeConfig {
        fanout_lag_limit: Some(LIMIT),
        ..RealtimeConfig::default()
    };
    let (handle, _hub) = Hub::new(&config);
    let url = redis_url();
    let redis = SharedRedis::new(&url).unwrap();
    RedisBus::start(ClusterConfig::new(url, prefix), redis, handle.clone());
    handle
}

/// Waits until `done` holds, or fails after a few seconds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_behind_holds_the_others_senders() {
    if !redis_available() {
        return;
    }
    let prefix = RedisPrefix::new();
    let a = node(&prefix.prefix);
    let b = node(&prefix.prefix);
    let other = node(&format!("{}-other", prefix.prefix));
    // Let the subscribers follow their channels.
    tokio::time::sleep(Duration::from_millis(300)).await;

    a.send_gate().record_local(Duration::from_secs(2));
    assert!(!a.send_gate().is_open(), "its own hub behind");
    until("b hears that a is behind", || {
        b.send_gate().lag() >= Duration::from_secs(2) && !b.send_gate().is_open()
    })
    .await;
    assert_eq!(b.send_gate().local(), Duration::ZERO, "b's own hub is not");
    assert_eq!(b.send_gate().times_shut(), 1);

    // Still behind, but less: the figure follows.
    a.send_gate().record_local(Duration::from_millis(200));
    until("b hears the new figure", || {
        b.send_gate().lag() == Duration::from_millis(200)
    })
    .await;
    assert!(!b.send_gate().is_open(), "shut until under half the limit");

    a.send_gate().record_local(Duration::ZERO);
    until("b hears that a caught up", || b.send_gate().is_open()).await;
    assert_eq!(b.send_gate().lag(), Duration::ZERO);

    // Another cluster on the same Redis heard none of it.
    assert!(other.send_gate().is_open());
    assert_eq!(other.send_gate().times_shut(), 0);
}
