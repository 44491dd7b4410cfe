//! One send budget per user, shared by REST and the socket: past it REST answers 429 with
//! `Retry-After` and the socket an `error` frame, nothing more is stored, and other users are
//! not affected.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn rest_and_socket_sends_share_one_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.realtime.send_burst = 4.0;
        // One token per 100 s: nothing refills during the test.
        cfg.realtime.send_rate_per_sec = 0.01;
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room).await;
    let path = format!("/api/v1/rooms/{room}/messages");

    // Two over REST, one over the socket: three of ann's four.
    for i in 0..2 {
        let (status, m) = app
            .post(
                &path,
                &ann.access_token,
                json!({"body": format!("rest {i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
    }
    let mut ws = WsClient::connect(&app, &ann.access_token).await;
    let ack = ws
        .request(
            json!({"type": "send", "room_id": room, "body": "socket"}),
            "s1",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let (status, _) = app
        .post(&path, &ann.access_token, json!({"body": "fourth"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The budget is spent on both paths.
    let (status, headers, body) = app
        .raw(
            Method::POST,
            &path,
            Some(&ann.access_token),
            Some("application/json"),
            json!({"body": "one too many"}).to_string(),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        None,
    );
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    let refused = ws
        .request(
            json!({"type": "send", "room_id": room, "body": "refused"}),
            "s2",
        )
        .await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("rate_limited")),
        "{refused}"
    );

    // Nothing refused was stored; bob still sends.
    let (status, m) = app
        .post(&path, &bob.access_token, json!({"body": "bob"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let bodies: Vec<String> = app
        .all_messages(&ann, room)
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["rest 0", "rest 1", "socket", "fourth", "bob"]);
}

backend_tests!(rest_and_socket_sends_share_one_budget);
