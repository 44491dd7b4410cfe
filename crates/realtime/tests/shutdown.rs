//! Graceful shutdown (as on SIGTERM): sends already received are acked, then every socket is
//! closed with 1001, and no new ones are let in.
use std::time::Duration;

use huddle_test_support::{backend_tests, of_type, Backend, TestApp, WsClient};
use serde_json::{json, Value};

const GOING_AWAY: u16 = 1001;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

async fn stop_acks_received_sends_then_closes_with_1001(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    app.join(&bob, room).await;
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;

    // 40 sends, then a ping: once its pong is back, the server has read every send before it
    // (frames are handled in order); most are still waiting to be stored.
    let n = 40;
    for i in 1..=n {
        a.send(json!({"type": "send", "room_id": room, "body": format!("m{i}"), "ref": format!("s{i}")}))
            .await;
    }
    let mut frames = a.assert_alive().await;
    let acked_before_stop = of_type(&frames, "ack").len();

    let (_, (after, a_code), (_, b_code)) =
        tokio::join!(app.stop(), a.frames_until_close(), b.frames_until_close());
    frames.extend(after);
    eprintln!("shutdown: {acked_before_stop} of {n} sends acked before stop, the rest during it");
    let acks: Vec<&Value> = of_type(&frames, "ack");
    assert_eq!(
        acks.len(),
        n,
        "every received send is acked before the close: {frames:?}"
    );
    for (i, ack) in acks.iter().enumerate() {
        assert_eq!(ack["ref"], format!("s{}", i + 1));
        assert_eq!(ack["message"]["seq"], i as i64 + 1);
    }
    assert!(of_type(&frames, "error").is_empty(), "{frames:?}");
    assert_eq!(a_code, Some(GOING_AWAY));
    assert_eq!(b_code, Some(GOING_AWAY));

    // Stopped: no new sockets.
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(app.ws_url()),
    )
    .await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "a socket after stop: {:?}",
        refused.map(|r| r.map(|(_, resp)| resp.status()))
    );
}

async fn stop_closes_sockets_still_authenticating(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    // One socket still owes its auth frame (the timeout is 10 s); one is fully open.
    let mut waiting = WsClient::connect_raw(&app, None).await;
    let mut open = WsClient::connect_live(&app, &ann.access_token).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = tokio::time::Instant::now();
    let (_, waiting_code, open_code) =
        tokio::join!(app.stop(), waiting.expect_close(), open.expect_close());
    eprintln!(
        "shutdown with a socket still authenticating took {:?}",
        started.elapsed()
    );
    assert_eq!(open_code, Some(GOING_AWAY));
    assert_eq!(
        waiting_code,
        Some(GOING_AWAY),
        "a socket still authenticating is closed with 1001 too"
    );
}

backend_tests!(
    stop_acks_received_sends_then_closes_with_1001,
    stop_closes_sockets_still_authenticating
);
