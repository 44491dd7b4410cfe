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
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {t}").parse().expect("header"),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connect");
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
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
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
        self.next_within(WAIT)
            .await
            .expect("a frame within the wait")
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

    /// Connects like [`WsClient::connect`], over a socket whose receive buffer is asked to be
    /// `recv_buffer` bytes, so a client that stops reading backs up the server quickly.
    pub async fn connect_with_recv_buffer(
        app: &TestApp,
        token: &str,
        recv_buffer: u32,
    ) -> WsClient {
        let mut request = app.ws_url().into_client_request().expect("ws request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
        let tcp = socket
            .connect(format!("127.0.0.1:{}", app.port).parse().expect("address"))
            .await
            .expect("tcp connect");
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .expect("ws handshake");
        let mut client = WsClient {
            stream,
            ready: Value::Null,
        };
        client.ready = client.expect("ready").await;
        client
    }

    /// Connects, then sends an empty `sync` (no rooms to replay), which ends the hold of live
    /// messages at once; returns after `synced`.
    pub async fn connect_live(app: &TestApp, token: &str) -> WsClient {
        let mut client = Self::connect(app, token).await;
        let (_, before) = client
            .request_collect(json!({"type": "sync", "since": {}}), "live")
            .await;
        assert!(
            before.is_empty(),
            "frames before `synced` of an empty sync: {before:?}"
        );
        client
    }

    /// Like [`WsClient::request`], but also returns every frame that came before the reply,
    /// in order, instead of dropping them.
    pub async fn request_collect(
        &mut self,
        mut frame: Value,
        reference: &str,
    ) -> (Value, Vec<Value>) {
        frame["ref"] = json!(reference);
        self.send(frame).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reply = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("no reply to ref {reference:?}; got {before:?}"));
            if reply["ref"] == reference {
                return (reply, before);
            }
            before.push(reply);
        }
    }

    /// Sends `{"type":"sync","since": since}` and returns the frames up to `synced` (the replay,
    /// and whatever else came meanwhile), in order.
    pub async fn sync(&mut self, since: Value) -> Vec<Value> {
        let (reply, before) = self
            .request_collect(json!({"type": "sync", "since": since}), "sync")
            .await;
        assert_eq!(reply["type"], "synced", "sync reply: {reply}");
        before
    }

    /// Reads frames until `count` `message.created` frames of `room_id` have come; returns
    /// every frame read (of any type), in order. Panics when they do not come within the wait.
    pub async fn collect_messages(&mut self, room_id: i64, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut frames = Vec::new();
        let mut seen = 0;
        while seen < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.next_within(left).await else {
                panic!(
                    "{seen} of {count} messages of room {room_id} within {WAIT:?}; seqs {:?}",
                    seqs(&frames, room_id)
                );
            };
            if frame["type"] == "message.created" && frame["room_id"] == room_id {
                seen += 1;
            }
            frames.push(frame);
        }
        frames
    }

    /// Reads until the server closes: the frames that came first, and the close code (`None`
    /// if the socket ended without a close frame).
    pub async fn frames_until_close(&mut self) -> (Vec<Value>, Option<u16>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the server did not close within {WAIT:?}"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (frames, frame.map(|f| u16::from(f.code)))
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    frames.push(serde_json::from_str(&t).expect("server sent JSON"));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return (frames, None),
            }
        }
    }

    /// For a client that stopped polling its socket: reads what the server sent straight off
    /// the TCP stream, answering nothing (tungstenite would answer the queued pings first and,
    /// if the server has already hung up, fail before it reaches the close frame). Returns the
    /// text frames and the close code (`None` if the stream ended without a close frame).
    pub async fn frames_until_close_unanswered(&mut self) -> (Vec<Value>, Option<u16>) {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + WAIT;
        let tcp = self.stream.get_mut();
        let mut buf: Vec<u8> = Vec::new();
        let mut frames = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            // Parse every whole frame in `buf` (server frames are not masked).
            while let Some((fin_opcode, payload, used)) = parse_frame(&buf) {
                let opcode = fin_opcode & 0x0f;
                match opcode {
                    0x1 => frames.push(serde_json::from_slice(&payload).expect("server sent JSON")),
                    0x8 => {
                        let code = (payload.len() >= 2)
                            .then(|| u16::from_be_bytes([payload[0], payload[1]]));
                        return (frames, code);
                    }
                    _ => {}
                }
                assert!(
                    fin_opcode & 0x80 != 0,
                    "fragmented server frames are not handled here"
                );
                buf.drain(..used);
            }
            let n = match tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
                Err(_) => panic!("the server did not close within {WAIT:?}"),
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0,
            };
            if n == 0 {
                return (frames, None);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Asserts that the connection still answers: a `ping` gets its `pong`. Returns the frames
    /// that came before the `pong`.
    pub async fn assert_alive(&mut self) -> Vec<Value> {
        let (reply, before) = self.request_collect(json!({"type": "ping"}), "alive").await;
        assert_eq!(reply["type"], "pong", "ping reply: {reply}");
        before
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

/// One unmasked frame at the start of `buf`: (first byte, payload, bytes used), if whole.
fn parse_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(at..at + len)?;
    Some((buf[0], payload.to_vec(), at + len))
}

/// The `seq`s of the `message.created` frames of `room_id` among `frames`, in order.
pub fn seqs(frames: &[Value], room_id: i64) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| f["type"] == "message.created" && f["room_id"] == room_id)
        .map(|f| f["message"]["seq"].as_i64().expect("message.seq"))
        .collect()
}

/// The frames of type `kind` among `frames`.
pub fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}
