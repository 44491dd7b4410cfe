//! Authentication on the socket: header and first-frame tokens, the close code 4401 for every
//! way of failing, token expiry on an open connection and `reauth`.
use std::time::Duration;

use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const UNAUTHENTICATED: u16 = 4401;

async fn missing_token_closes_after_the_auth_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.realtime.auth_timeout = Duration::from_millis(300);
    })
    .await;
    let ann = app.register("ann").await;

    // No header, no frame: the upgrade completes, then the server gives up on the client.
    let mut silent = WsClient::connect_raw(&app, None).await;
    assert_eq!(silent.expect_close().await, Some(UNAUTHENTICATED));

    // The same timeout still lets a client that authenticates in time in.
    let mut prompt = WsClient::connect_raw(&app, None).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    prompt
        .send(json!({"type": "auth", "token": ann.access_token}))
        .await;
    let ready = prompt.expect("ready").await;
    assert_eq!(ready["user"]["id"], ann.user_id);
    tokio::time::sleep(Duration::from_millis(500)).await;
    prompt.assert_alive().await;
}

async fn bad_header_tokens_close_with_4401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    // Flip the signature's first character (the last one may carry only padding bits).
    let sig_at = ann.access_token.rfind('.').unwrap() + 1;
    let mut tampered = ann.access_token.clone();
    let flipped = if &tampered[sig_at..=sig_at] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(sig_at..=sig_at, flipped);
    let mut other_secret = ann
        .access_token
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    other_secret.push_str(".c2lnbmVkLWJ5LXNvbWVvbmUtZWxzZQ");

    for token in ["garbage", tampered.as_str(), other_secret.as_str()] {
        let mut ws = WsClient::connect_raw(&app, Some(token)).await;
        assert_eq!(
            ws.expect_close().await,
            Some(UNAUTHENTICATED),
            "token {token:?}"
        );
    }
    // The untouched token still works.
    let ws = WsClient::connect(&app, &ann.access_token).await;
    assert_eq!(ws.ready["user"]["id"], ann.user_id);
}

async fn bad_first_frames_close_with_4401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;

    let firsts = [
        Message::text(json!({"type": "auth", "token": "garbage"}).to_string()),
        Message::text(json!({"type": "auth"}).to_string()),
        Message::text(json!({"type": "ping"}).to_string()),
        Message::text(
            json!({"type": "send", "room_id": 1, "body": "before auth", "token": ann.access_token})
                .to_string(),
        ),
        Message::text("{not json"),
        Message::binary(ann.access_token.clone().into_bytes()),
    ];
    for first in firsts {
        let mut ws = WsClient::connect_raw(&app, None).await;
        ws.send_raw(first.clone()).await;
        assert_eq!(
            ws.expect_close().await,
            Some(UNAUTHENTICATED),
            "first frame {first:?}"
        );
    }

    // A good auth frame gets in, and a second one is refused without closing.
    let mut ws = WsClient::connect_with_frame(&app, &ann.access_token).await;
    assert_eq!(ws.ready["user"]["id"], ann.user_id);
    let reply = ws
        .request(json!({"type": "auth", "token": ann.access_token}), "again")
        .await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "validation_failed", "{reply}");
    ws.assert_alive().await;
}

async fn expired_tokens_close_with_4401(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.access_token_ttl = Duration::from_secs(1);
    })
    .await;
    let ann = app.register("ann").await;

    // Open while the token is good: the server closes it once the token expires.
    let mut open = WsClient::connect(&app, &ann.access_token).await;
    let (_, code) = open.frames_until_close().await;
    assert_eq!(
        code,
        Some(UNAUTHENTICATED),
        "open connection outliving its token"
    );

    // Already expired: in the header and in an auth frame.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut header = WsClient::connect_raw(&app, Some(&ann.access_token)).await;
    assert_eq!(header.expect_close().await, Some(UNAUTHENTICATED));
    let mut frame = WsClient::connect_raw(&app, None).await;
    frame
        .send(json!({"type": "auth", "token": ann.access_token}))
        .await;
    assert_eq!(frame.expect_close().await, Some(UNAUTHENTICATED));
}

async fn reauth_keeps_the_connection_open(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.access_token_ttl = Duration::from_secs(2);
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let first_token = ann.access_token.clone();
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;

    // Swap in a fresh token every 600 ms, for well past the first token's lifetime.
    let started = tokio::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_millis(4500) {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let fresh = app.login_ok("ann").await;
        n += 1;
        let reply = ws
            .request(
                json!({"type": "reauth", "token": fresh.access_token}),
                &format!("re{n}"),
            )
            .await;
        assert_eq!(reply["type"], "reauthed", "{reply}");
        let expires_in = reply["expires_in"].as_u64().expect("expires_in");
        assert!((1..=2).contains(&expires_in), "{reply}");
    }
    ws.assert_alive().await;

    // Refused reauths answer an error and leave the connection as it was.
    let bob = app.login_ok(&bob.username).await;
    let bobs = ws
        .request(json!({"type": "reauth", "token": bob.access_token}), "bob")
        .await;
    assert_eq!(
        (bobs["type"].as_str(), bobs["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{bobs}"
    );
    let expired = ws
        .request(json!({"type": "reauth", "token": first_token}), "old")
        .await;
    assert_eq!(
        (expired["type"].as_str(), expired["code"].as_str()),
        (Some("error"), Some("token_expired")),
        "{expired}"
    );
    let garbage = ws
        .request(json!({"type": "reauth", "token": "garbage"}), "junk")
        .await;
    assert_eq!(
        (garbage["type"].as_str(), garbage["code"].as_str()),
        (Some("error"), Some("unauthenticated")),
        "{garbage}"
    );
    ws.assert_alive().await;

    // Without further reauths, the last good token runs out and the server closes.
    let (_, code) = ws.frames_until_close().await;
    assert_eq!(code, Some(UNAUTHENTICATED));
}

backend_tests!(
    missing_token_closes_after_the_auth_timeout,
    bad_header_tokens_close_with_4401,
    bad_first_frames_close_with_4401,
    expired_tokens_close_with_4401,
    reauth_keeps_the_connection_open,
);
