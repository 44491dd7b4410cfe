//! How sockets end at the client's wish or past a limit: a client's close frame is answered
//! with the client's own code, and a user's sockets past the per-process cap are closed with
//! 4429 "too many connections" while the others live on.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Sends a close frame with `code` and returns the code of the server's answer.
async fn close_with(ws: &mut WsClient, code: u16) -> Option<u16> {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "bye".into(),
    };
    ws.stream.send(Message::Close(Some(frame))).await.unwrap();
    ws.expect_close().await
}

async fn the_close_handshake_echoes_the_clients_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    for code in [1000, 1001, 4000, 4999] {
        let mut ws = WsClient::connect(&app, &ann.access_token).await;
        assert_eq!(
            close_with(&mut ws, code).await,
            Some(code),
            "closed with {code}"
        );
    }
    // Before authenticating too.
    let mut ws = WsClient::connect_raw(&app, None).await;
    assert_eq!(close_with(&mut ws, 4321).await, Some(4321));
    // A close with no code gets a close with no code.
    let mut ws = WsClient::connect(&app, &ann.access_token).await;
    ws.stream.send(Message::Close(None)).await.unwrap();
    assert_eq!(ws.expect_close().await, None);
}

async fn sockets_past_the_per_user_cap_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.realtime.max_sockets_per_user = 3).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(WsClient::connect(&app, &ann.access_token).await);
    }
    let mut fourth = WsClient::connect_raw(&app, Some(&ann.access_token)).await;
    assert_eq!(fourth.expect_close().await, Some(4429));
    // With the token in the first frame as well.
    let mut fifth = WsClient::connect_raw(&app, None).await;
    fifth
        .send(json!({"type": "auth", "token": ann.access_token}))
        .await;
    assert_eq!(fifth.expect_close().await, Some(4429));
    // Another user is not affected, and ann's open sockets still work.
    let _bob = WsClient::connect(&app, &bob.access_token).await;
    let pong = open[0].request(json!({"type": "ping"}), "p").await;
    assert_eq!(pong["type"], "pong");
    // Closing one frees its place.
    let mut gone = open.pop().unwrap();
    close_with(&mut gone, 1000).await;
    let mut again = None;
    for _ in 0..50 {
        let mut ws = WsClient::connect_raw(&app, Some(&ann.access_token)).await;
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains("\"ready\"") => {
                again = Some(ws);
                break;
            }
            // The server may not have let the closed socket's place go yet: 4429 again.
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut again = again.expect("a socket after one closed");
    let ack = again
        .request(
            json!({"type": "send", "room_id": room, "body": "back"}),
            "s",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

backend_tests!(
    the_close_handshake_echoes_the_clients_code,
    sockets_past_the_per_user_cap_are_refused,
);
