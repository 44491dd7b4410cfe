//! Heartbeats: a client that stops answering pings is dropped (and goes offline for the others);
//! one that keeps reading, even without sending anything, stays.
use std::time::Duration;

use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use serde_json::{json, Value};

const GOING_AWAY: u16 = 1001;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

async fn a_silent_client_is_dropped_and_goes_offline(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.realtime.heartbeat_interval = Duration::from_millis(200);
        cfg.realtime.client_timeout = Duration::from_millis(1000);
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    app.join(&bob, room).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;
    let mut dead = WsClient::connect_live(&app, &ann.access_token).await;
    let online = b.expect("presence").await;
    assert_eq!(online["status"], "online");
    let started = tokio::time::Instant::now();

    // ann's client stops polling its socket (so it answers no pings); bob's keeps reading but
    // sends nothing of its own. Only ann is dropped.
    let offline = b.expect("presence").await;
    assert_eq!(
        offline,
        json!({"type": "presence", "user_id": ann.user_id, "status": "offline"})
    );
    let waited = started.elapsed();
    eprintln!("heartbeat: silent client dropped after {waited:?} (client_timeout 1 s)");
    let frames = b.drain(Duration::from_millis(1500)).await;
    assert!(frames.is_empty(), "{frames:?}");
    b.assert_alive().await;

    // What ann's client finds once it looks again (without answering): pings, then 1001.
    let (frames, code) = dead.frames_until_close_unanswered().await;
    assert_eq!(code, Some(GOING_AWAY));
    assert!(frames.is_empty(), "{frames:?}");

    // The room goes on without ann.
    app.send(&bob, room, "still here").await;
    b.collect_messages(room, 1).await;
}

backend_tests!(a_silent_client_is_dropped_and_goes_offline);
