//! The socket's limits: frame size (1009), bad frames (error frames, the connection lives on),
//! the per-user send rate, and slow consumers (1013) not holding the others back.
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use huddle_test_support::{backend_tests, of_type, seqs, Backend, TestApp, WsClient};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const TOO_BIG: u16 = 1009;
const TRY_AGAIN_LATER: u16 = 1013;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// A `ping` frame of exactly `len` bytes (padded with an ignored field).
fn ping_of_len(len: usize) -> String {
    let empty = json!({"type": "ping", "ref": "big", "pad": ""}).to_string();
    let frame =
        json!({"type": "ping", "ref": "big", "pad": "x".repeat(len - empty.len())}).to_string();
    assert_eq!(frame.len(), len);
    frame
}

async fn frames_over_the_limit_close_with_1009(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let limit = 16 * 1024;

    // Exactly at the limit: fine.
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;
    ws.send_raw(Message::text(ping_of_len(limit))).await;
    let pong = ws.next().await;
    assert_eq!(
        (pong["type"].as_str(), pong["ref"].as_str()),
        (Some("pong"), Some("big")),
        "{pong}"
    );

    // One byte over: closed with 1009.
    ws.send_raw(Message::text(ping_of_len(limit + 1))).await;
    assert_eq!(ws.expect_close().await, Some(TOO_BIG));

    // Far over, and over in a binary frame, too.
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;
    ws.send_raw(Message::text(ping_of_len(200 * 1024))).await;
    assert_eq!(ws.expect_close().await, Some(TOO_BIG));
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;
    ws.send_raw(Message::binary(vec![b'x'; limit + 1])).await;
    assert_eq!(ws.expect_close().await, Some(TOO_BIG));

    // Before authentication as well.
    let mut ws = WsClient::connect_raw(&app, None).await;
    ws.send_raw(Message::text(ping_of_len(limit + 1))).await;
    assert_eq!(ws.expect_close().await, Some(TOO_BIG));
}

/// `text` as a fragmented message: a first text frame and continuation frames of `piece` bytes.
fn fragments(text: &str, piece: usize) -> Vec<Message> {
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(piece).collect();
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            Message::Frame(Frame::message(c.to_vec(), opcode, i == last))
        })
        .collect()
}

async fn fragmented_messages_count_whole(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let limit = 16 * 1024;

    // Fragments adding up to the limit: one message, answered.
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;
    for m in fragments(&ping_of_len(limit), 5000) {
        ws.send_raw(m).await;
    }
    let pong = ws.next().await;
    assert_eq!(
        (pong["type"].as_str(), pong["ref"].as_str()),
        (Some("pong"), Some("big")),
        "{pong}"
    );

    // Small fragments adding up to more than the limit: 1009 like one big frame.
    for m in fragments(&ping_of_len(limit + 1), 5000) {
        ws.send_raw(m).await;
    }
    assert_eq!(ws.expect_close().await, Some(TOO_BIG));
}

async fn bad_frames_get_error_frames_and_the_connection_lives_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;

    // (frame, the error code, the ref the error must carry)
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{nope".into(), "malformed_json", None),
        ("".into(), "malformed_json", None),
        ("[1, 2]".into(), "malformed_json", None),
        ("\"send\"".into(), "malformed_json", None),
        (
            json!({"type": "dance", "ref": "u1"}).to_string(),
            "unknown_type",
            Some("u1"),
        ),
        (
            json!({"type": "SEND", "ref": "u2", "room_id": room, "body": "x"}).to_string(),
            "unknown_type",
            Some("u2"),
        ),
        (
            json!({"ref": "v1"}).to_string(),
            "validation_failed",
            Some("v1"),
        ),
        (
            json!({"type": 7, "ref": "v2"}).to_string(),
            "validation_failed",
            Some("v2"),
        ),
        (
            json!({"type": "send", "ref": "v3", "room_id": "one", "body": "x"}).to_string(),
            "validation_failed",
            Some("v3"),
        ),
        (
            json!({"type": "send", "ref": "v4", "room_id": room}).to_string(),
            "validation_failed",
            Some("v4"),
        ),
        (
            json!({"type": "send", "ref": "v5", "room_id": room, "body": ""}).to_string(),
            "validation_failed",
            Some("v5"),
        ),
        (
            json!({"type": "send", "ref": "v6", "room_id": room, "body": "x".repeat(4001)})
                .to_string(),
            "validation_failed",
            Some("v6"),
        ),
        (
            json!({"type": "sync", "ref": "v7", "since": {"abc": 1}}).to_string(),
            "validation_failed",
            Some("v7"),
        ),
        (
            json!({"type": "edit", "ref": "v8", "room_id": room}).to_string(),
            "validation_failed",
            Some("v8"),
        ),
        (
            json!({"type": "send", "ref": "n1", "room_id": 999_999, "body": "x"}).to_string(),
            "not_found",
            Some("n1"),
        ),
    ];
    for (frame, code, reference) in &cases {
        ws.send_raw(Message::text(frame.clone())).await;
        let err = ws.next().await;
        assert_eq!(err["type"], "error", "{frame}: {err}");
        assert_eq!(err["code"], *code, "{frame}: {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{frame}: {err}"
        );
        match reference {
            Some(r) => assert_eq!(err["ref"], *r, "{frame}: {err}"),
            None => assert!(err.get("ref").is_none(), "{frame}: {err}"),
        }
        // Still open and working.
        let before = ws.assert_alive().await;
        assert!(before.is_empty(), "{frame}: {before:?}");
    }

    // A binary frame gets an error frame too, and the connection carries on.
    ws.send_raw(Message::binary(b"{\"type\":\"ping\"}".to_vec()))
        .await;
    let err = ws.next().await;
    assert_eq!(err["type"], "error", "{err}");
    assert!(err["code"].as_str().is_some_and(|c| !c.is_empty()), "{err}");
    ws.assert_alive().await;

    // None of it was stored, and a good send still works.
    let (ack, _) = ws
        .request_collect(
            json!({"type": "send", "room_id": room, "body": "finally"}),
            "ok",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["seq"], 1, "{ack}");
}

async fn sends_over_the_rate_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.realtime.send_burst = 3.0;
        // One token per 100 s: nothing refills during the test.
        cfg.realtime.send_rate_per_sec = 0.01;
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    app.join(&bob, room).await;
    let mut a1 = WsClient::connect_live(&app, &ann.access_token).await;
    let mut a2 = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;

    // Five sends in a row: the burst of three is stored, the rest refused.
    for i in 1..=5 {
        a1.send(json!({"type": "send", "room_id": room, "body": format!("m{i}"), "ref": format!("s{i}")}))
            .await;
    }
    let mut replies = Vec::new();
    while replies.len() < 5 {
        let f = a1.next().await;
        if f["ref"].is_string() {
            replies.push(f);
        }
    }
    replies.sort_by_key(|f| f["ref"].as_str().unwrap().to_owned());
    for (i, r) in replies.iter().enumerate() {
        if i < 3 {
            assert_eq!(r["type"], "ack", "{r}");
            assert_eq!(r["message"]["body"], format!("m{}", i + 1), "{r}");
        } else {
            assert_eq!(r["type"], "error", "{r}");
            assert_eq!(r["code"], "rate_limited", "{r}");
        }
    }
    // The limit is the user's: another connection of ann is refused too; bob is not.
    let r = a2
        .request(
            json!({"type": "send", "room_id": room, "body": "other tab"}),
            "a2",
        )
        .await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("error"), Some("rate_limited")),
        "{r}"
    );
    let r = b
        .request(json!({"type": "send", "room_id": room, "body": "bob"}), "b")
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    // Refusal closes nothing, and only the accepted messages exist.
    a1.assert_alive().await;
    let stored: Vec<String> = app
        .all_messages(&ann, room)
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, vec!["m1", "m2", "m3", "bob"]);
}

/// Reads `ws` until `total` (once known, i.e. non-zero) `message.created` frames of `room` have
/// come; meanwhile sets `offline_seen` when `watch_user` goes offline. Returns the frames.
async fn read_until_total(
    ws: &mut WsClient,
    room: i64,
    total: &AtomicI64,
    watch_user: i64,
    offline_seen: &AtomicBool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut frames = Vec::new();
    let mut count = 0;
    loop {
        let t = total.load(Ordering::SeqCst);
        if t > 0 && count >= t {
            return frames;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {count} of {t} messages came"
        );
        if let Some(f) = ws.next_within(Duration::from_millis(100)).await {
            if f["type"] == "message.created" && f["room_id"] == room {
                count += 1;
            }
            if f["type"] == "presence" && f["user_id"] == watch_user && f["status"] == "offline" {
                offline_seen.store(true, Ordering::SeqCst);
            }
            frames.push(f);
        }
    }
}

async fn a_slow_consumer_is_cut_and_the_others_get_everything(backend: Backend) {
    let queue = 8;
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.realtime.outbound_queue = queue;
        // Many sends from one user over REST; the send budget has its own tests.
        cfg.realtime.send_rate_per_sec = 1_000_000.0;
        cfg.realtime.send_burst = 1_000_000.0;
    })
    .await;
    let sam = app.register("sam").await;
    let olga = app.register("olga").await;
    let lou = app.register("lou").await;
    let room = id(&app.create_room(&sam, "general", false).await);
    app.join(&olga, room).await;
    app.join(&lou, room).await;

    // lou connects with a small receive buffer, then stops reading.
    let mut slow = WsClient::connect_with_recv_buffer(&app, &lou.access_token, 4096).await;
    assert!(slow.sync(json!({})).await.is_empty());
    let mut o = WsClient::connect_live(&app, &olga.access_token).await;
    let mut s = WsClient::connect_live(&app, &sam.access_token).await;
    for ws in [&mut o, &mut s] {
        ws.drain(Duration::from_millis(200)).await;
    }

    // Big messages until the server gives up on lou (olga sees him go offline), then a few more.
    let total = AtomicI64::new(0);
    let cut = AtomicBool::new(false);
    let never = AtomicBool::new(false);
    let body = "x".repeat(3900);
    let sender = async {
        let mut sent = 0i64;
        let mut after_cut = 0;
        while after_cut < 20 {
            assert!(sent < 5000, "lou was not cut after {sent} messages");
            let batch = futures_util::stream::iter(0..4)
                .map(|i| app.send(&sam, room, &body[i..]))
                .buffered(4)
                .collect::<Vec<_>>()
                .await;
            sent += batch.len() as i64;
            if cut.load(Ordering::SeqCst) {
                after_cut += batch.len();
            }
        }
        total.store(sent, Ordering::SeqCst);
        sent
    };
    let (sent, o_frames, s_frames) = tokio::join!(
        sender,
        read_until_total(&mut o, room, &total, lou.user_id, &cut),
        read_until_total(&mut s, room, &total, lou.user_id, &never),
    );
    let all: Vec<i64> = (1..=sent).collect();
    assert_eq!(
        seqs(&o_frames, room),
        all,
        "olga missed or repeated messages"
    );
    assert_eq!(
        seqs(&s_frames, room),
        all,
        "sam missed or repeated messages"
    );
    assert_eq!(
        of_type(&o_frames, "presence").len(),
        1,
        "only lou's offline: {:?}",
        of_type(&o_frames, "presence")
    );

    // lou, reading again: what had been queued for him, in order, then 1013.
    let (frames, code) = slow.frames_until_close().await;
    assert_eq!(code, Some(TRY_AGAIN_LATER));
    let got = seqs(&frames, room);
    let prefix: Vec<i64> = (1..=got.len() as i64).collect();
    assert_eq!(got, prefix, "lou's messages before the cut");
    assert!((got.len() as i64) < sent);
    eprintln!(
        "slow consumer: cut after {} of {sent} messages reached it (outbound_queue {queue})",
        got.len()
    );

    // He catches up with sync after reconnecting: exactly the rest, in order.
    let mut again = WsClient::connect(&app, &lou.access_token).await;
    let replay = again.sync(json!({ room.to_string(): got.len() })).await;
    let rest: Vec<i64> = ((got.len() as i64 + 1)..=sent).collect();
    assert_eq!(seqs(&replay, room), rest);
}

backend_tests!(
    frames_over_the_limit_close_with_1009,
    fragmented_messages_count_whole,
    bad_frames_get_error_frames_and_the_connection_lives_on,
    sends_over_the_rate_are_refused,
    a_slow_consumer_is_cut_and_the_others_get_everything,
);
