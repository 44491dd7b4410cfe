use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestApp;

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(10);

/// A WebSocket client connected to a test server's gateway.
pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The `ready` frame, once authenticated through [`WsClient::connect`].
    pub ready: Value,
}

impl WsClient {
    /// Connects with the token in the `Authorization` header and waits for `ready`.
    pub async fn connect(app: &TestApp, token: &str) -> WsClient {
        let mut client = Self::connect_raw(app, Some(token)).await;
        client.ready = client.expect("ready").await;
        client
    }

    /// Connects with the token in a first `auth` frame and waits for `ready`.
    pub async fn connect_with_frame(app: &TestApp, token: &str) -> WsClient {
        let mut client = Self::connect_raw(app, None).await;
        client.send(json!({"type": "auth", "token": token})).await;
        client.ready = client.expect("ready").await;
        client
    }

    /// Connects without waiting for anything; `header_token` goes in `Authorization`.
    pub async fn connect_raw(app: &TestApp, header_token: Option<&str>) -> WsClient {
        let mut request = app.ws_url().into_client_request().expect("ws request");
        if let Some(t) = header_token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {t}").parse().expect("header"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        WsClient {
            stream,
            ready: Value::Null,
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .expect("ws send");
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.stream.send(msg).await.expect("ws send");
    }

    /// The next JSON frame within `wait`, or `None` on timeout. Panics on close.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(&t).expect("server sent JSON"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a frame, got {other:?}"),
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(WAIT).await.expect("a frame within the wait")
    }

    /// Skips frames until one of `type`; panics if none comes within the wait.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("no {kind:?} frame within {WAIT:?}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Frames received within `wait` (until quiet), for asserting what did not arrive.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next_within(wait).await {
            out.push(v);
        }
        out
    }

    /// Sends a frame with `ref` and waits for the reply carrying that `ref`.
    pub async fn request(&mut self, mut frame: Value, reference: &str) -> Value {
        frame["ref"] = json!(reference);
        self.send(frame).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reply = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("no reply to ref {reference:?}"));
            if reply["ref"] == reference {
                return reply;
            }
        }
    }

    /// Reads until the server closes; returns the close code (None if the socket just ended).
    pub async fn expect_close(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the server did not close within {WAIT:?}"),
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}
