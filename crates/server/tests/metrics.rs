//! `GET /metrics` answers in Prometheus text format, and its counters follow what happens.
use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::json;

async fn scrape(app: &TestApp) -> String {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    resp.text().await.unwrap()
}

/// The value of an unlabelled sample.
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn metrics_follow_the_traffic(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let text = scrape(&app).await;
    for name in [
        "huddle_ws_connections",
        "huddle_messages_stored_total",
        "huddle_deliveries_total",
        "huddle_outbound_queue_drops_total",
        "huddle_slow_consumer_closes_total",
        "huddle_db_pool_waits_total",
        "huddle_store_latency_seconds_bucket",
        "huddle_broadcast_latency_seconds_bucket",
        "huddle_db_pool_connections{state=\"idle\"}",
        "huddle_send_gate_shut_total",
        "huddle_hub_lag_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert_eq!(value(&text, "huddle_ws_connections"), 0.0);
    assert_eq!(value(&text, "huddle_send_gate_shut_total"), 0.0);
    assert_eq!(value(&text, "huddle_hub_lag_seconds"), 0.0);

    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "general", false).await;
    let room_id = room["id"].as_i64().unwrap();
    let mut ws = WsClient::connect(&app, &ann.access_token).await;
    let stored_before = value(&scrape(&app).await, "huddle_messages_stored_total");
    ws.send(json!({"type": "send", "room_id": room_id, "body": "hi", "ref": "r1"}))
        .await;
    // The ack and the live message may come in either order.
    let mut seen = Vec::new();
    while !(seen.contains(&"ack".to_owned()) && seen.contains(&"message.created".to_owned())) {
        seen.push(ws.next().await["type"].as_str().unwrap().to_owned());
    }

    // The hub counts a fan-out once it has queued it for every receiver, so the client can
    // read the frame a moment before the count moves: the counters are read until they show
    // it (a few seconds at most), as a scraper would see them.
    let mut text = scrape(&app).await;
    for _ in 0..100 {
        if value(&text, "huddle_deliveries_total") >= 1.0
            && value(&text, "huddle_broadcast_latency_seconds_count") >= 1.0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        text = scrape(&app).await;
    }
    assert_eq!(value(&text, "huddle_ws_connections"), 1.0);
    // The instruments are process-wide and tests run in parallel: at least ours.
    assert!(value(&text, "huddle_messages_stored_total") >= stored_before + 1.0);
    assert!(value(&text, "huddle_deliveries_total") >= 1.0);
    assert!(value(&text, "huddle_store_latency_seconds_count") >= 1.0);
    assert!(value(&text, "huddle_broadcast_latency_seconds_count") >= 1.0);
}

backend_tests!(metrics_follow_the_traffic);
