//! `/socket.io/` on the wire, below any client library: Engine.IO's errors, the polling
//! handshake, and what malformed, oversize and binary packets do (close that socket, with the
//! protocol's code, and nothing else).
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_test_support::{backend_tests, Backend, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);

/// A Socket.IO client written by hand: Engine.IO over a WebSocket.
struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    /// Opens the WebSocket and reads the Engine.IO open packet.
    async fn open(app: &TestApp) -> (Raw, Value) {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            app.address.replace("http://", "ws://")
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let mut raw = Raw { ws };
        let open = raw.text().await;
        let open: Value =
            serde_json::from_str(open.strip_prefix('0').expect("open packet")).expect("open json");
        (raw, open)
    }

    /// Opens, connects to `/` with `token` and reads `40{sid}` and the `ready` event.
    async fn connected(app: &TestApp, who: &Session) -> Raw {
        let (mut raw, _) = Raw::open(app).await;
        raw.send(&format!(r#"40{{"token":"{}"}}"#, who.access_token))
            .await;
        assert!(raw.text().await.starts_with("40{\"sid\":"));
        assert!(raw.text().await.starts_with("42[\"ready\","));
        raw
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next text frame, answering pings on the way.
    async fn text(&mut self) -> String {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => self.send("3").await,
                Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                other => panic!("no text frame: {other:?}"),
            }
        }
    }

    /// The next text frame starting with `prefix`.
    async fn text_starting(&mut self, prefix: &str) -> String {
        loop {
            let t = self.text().await;
            if t.starts_with(prefix) {
                return t;
            }
        }
    }

    /// Reads until the server closes; the close code.
    async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code.into()),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return None,
                Err(_) => panic!("not closed within {WAIT:?}"),
            }
        }
    }
}

async fn get(app: &TestApp, query: &str) -> (StatusCode, String) {
    let r = reqwest::get(format!("{}/socket.io/?{query}", app.address))
        .await
        .expect("get");
    (r.status(), r.text().await.expect("body"))
}

async fn post(app: &TestApp, query: &str, body: &str) -> (StatusCode, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/socket.io/?{query}", app.address))
        .body(body.to_owned())
        .send()
        .await
        .expect("post");
    (r.status(), r.text().await.expect("body"))
}

fn engine_error(answer: &(StatusCode, String), code: u8) {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{}", answer.1);
    let body: Value = serde_json::from_str(&answer.1).expect("json");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
}

backend_tests!(
    engine_io_errors_are_its_own,
    a_polling_session_connects_and_ends_at_a_malformed_post,
    bad_packets_close_only_their_own_socket,
);

async fn engine_io_errors_are_its_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    engine_error(&get(&app, "EIO=3&transport=polling").await, 5);
    engine_error(&get(&app, "transport=polling").await, 5);
    engine_error(&get(&app, "EIO=4&transport=carrier-pigeon").await, 0);
    engine_error(&get(&app, "EIO=4&transport=polling&sid=nope").await, 1);
    engine_error(
        &post(&app, "EIO=4&transport=polling&sid=nope", "2").await,
        1,
    );
    engine_error(&post(&app, "EIO=4&transport=websocket", "2").await, 3);
    let r = reqwest::Client::new()
        .put(format!(
            "{}/socket.io/?EIO=4&transport=polling",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["allow"], "GET, POST");
}

async fn a_polling_session_connects_and_ends_at_a_malformed_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let (status, open) = get(&app, "EIO=4&transport=polling").await;
    assert_eq!(status, StatusCode::OK);
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert!(open["pingInterval"].as_u64().unwrap() > 0);
    assert!(open["maxPayload"].as_u64().unwrap() >= 16 * 1024);
    let sid = open["sid"].as_str().unwrap();
    let q = format!("EIO=4&transport=polling&sid={sid}");

    // Events before the connect are dropped, as Socket.IO drops them.
    let connect = format!(
        "42[\"sendMessage\",{{\"roomId\":1,\"body\":\"early\"}}]\u{1e}40{{\"token\":\"{}\"}}",
        ann.access_token
    );
    assert_eq!(
        post(&app, &q, &connect).await,
        (StatusCode::OK, "ok".into())
    );
    let (status, body) = get(&app, &q).await;
    assert_eq!(status, StatusCode::OK);
    let packets: Vec<&str> = body.split('\u{1e}').collect();
    assert!(packets[0].starts_with("40{\"sid\":"), "{body}");
    assert!(packets[1].starts_with("42[\"ready\","), "{body}");
    // Another namespace is refused, the connection stays.
    assert_eq!(post(&app, &q, "40/admin,{}").await.0, StatusCode::OK);
    let (_, body) = get(&app, &q).await;
    assert!(body.starts_with("44/admin,{"), "{body}");

    // What is not Engine.IO ends the session.
    engine_error(&post(&app, &q, "zzz").await, 3);
    let ended = get(&app, &q).await;
    assert!(
        ended == (StatusCode::OK, "1".into()) || ended.0 == StatusCode::BAD_REQUEST,
        "{ended:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    engine_error(&get(&app, &q).await, 1);
}

async fn bad_packets_close_only_their_own_socket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    let mut good = Raw::connected(&app, &ann).await;

    let (mut bad, _) = Raw::open(&app).await;
    bad.send("4not a socket.io packet").await;
    assert_eq!(bad.close_code().await, Some(1002));

    let mut bad = Raw::connected(&app, &ann).await;
    bad.send("x").await;
    assert_eq!(bad.close_code().await, Some(1002), "not Engine.IO");

    let mut bad = Raw::connected(&app, &ann).await;
    bad.send(r#"451-["upload",{"_placeholder":true,"num":0}]"#)
        .await;
    assert_eq!(bad.close_code().await, Some(1002), "binary attachments");

    let mut bad = Raw::connected(&app, &ann).await;
    bad.ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(bad.close_code().await, Some(1002), "a binary frame");

    let mut bad = Raw::connected(&app, &ann).await;
    let huge = format!(
        r#"42["sendMessage",{{"roomId":{room},"body":"{}"}}]"#,
        "x".repeat(64 * 1024)
    );
    bad.send(&huge).await;
    assert_eq!(bad.close_code().await, Some(1009), "oversize");

    // A connect without a token, and one with an event name that is not a string.
    let (mut bad, _) = Raw::open(&app).await;
    bad.send("40").await;
    let refused = bad.text().await;
    assert!(refused.starts_with("44{"), "{refused}");
    let refused: Value = serde_json::from_str(&refused[2..]).unwrap();
    assert_eq!(refused["message"], "unauthenticated");

    // The good socket never noticed.
    good.send(&format!(
        r#"427["sendMessage",{{"roomId":{room},"body":"still fine"}}]"#
    ))
    .await;
    let ack = good.text_starting("437[").await;
    let ack: Value = serde_json::from_str(&ack[3..]).unwrap();
    assert_eq!(ack[0]["ok"], true, "{ack}");
    assert_eq!(ack[0]["message"]["body"], "still fine");
    assert_eq!(
        app.all_messages(&ann, room).await.len(),
        1,
        "nothing else stored"
    );
}
