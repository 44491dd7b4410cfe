//! Stopping loses nothing: a real `huddle` process gets SIGTERM while a client is in the middle
//! of a pipelined burst of sends. Every send the server read is answered before its 1001 close
//! frame; what it did not read is neither answered nor stored, so the client resends exactly
//! the sends that got no answer (with their `client_msg_id`) and the room ends up with each
//! message once, in order. Many runs, the signal landing at a different point of the burst each
//! time; on SQLite and on PostgreSQL.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_test_support::cluster::{ws_connect, NodeClient, NodeProcess};
use huddle_test_support::{backend_tests, session_from, Backend, TestDb, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_huddle");
const SENDS: usize = 61;
const RUNS: u64 = 8;

fn node(db: &TestDb) -> NodeProcess {
    NodeProcess::spawn(
        BIN,
        &[
            ("DATABASE_URL", db.url.clone()),
            ("HUDDLE_WS_SEND_RATE", "100000".into()),
            ("HUDDLE_WS_SEND_BURST", "100000".into()),
            ("HUDDLE_WS_SYNC_GRACE_MS", "0".into()),
            // The client counts as done after this much silence; generous, so a test machine
            // that stalls the writer mid-burst does not end the drain early.
            ("HUDDLE_WS_DRAIN_QUIET_MS", "300".into()),
        ],
    )
}

/// What the client saw of its burst: the refs answered with an ack or an error, and how it
/// ended.
struct Outcome {
    acked: BTreeSet<usize>,
    refused: BTreeMap<usize, String>,
    close: Option<u16>,
    written: usize,
}

/// Writes the sends back to back (a short pause every few, so the burst spans some
/// milliseconds) while reading the answers; SIGTERM lands `signal_after` into the burst.
async fn burst_then_sigterm(
    mut server: NodeProcess,
    token: &str,
    room: i64,
    signal_after: Duration,
) -> Outcome {
    let ws = ws_connect(&server.ws_url(), token).await;
    let (mut sink, mut source) = ws.stream.split();
    let writer = tokio::spawn(async move {
        let mut written = 0;
        for i in 1..=SENDS {
            let frame = json!({"type": "send", "room_id": room, "body": format!("m{i}"),
                               "client_msg_id": format!("c{i}"), "ref": format!("{i}")});
            if sink.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
            written = i;
            if i % 8 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        (sink, written)
    });
    let signal = tokio::spawn(async move {
        tokio::time::sleep(signal_after).await;
        tokio::task::spawn_blocking(move || {
            let status = server.terminate();
            assert!(status.is_some(), "the server exits after SIGTERM");
            server
        })
        .await
        .expect("terminate")
    });
    let mut outcome = Outcome {
        acked: BTreeSet::new(),
        refused: BTreeMap::new(),
        close: None,
        written: 0,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, source.next()).await {
            Err(_) => panic!("no close within 20 s"),
            Ok(Some(Ok(Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).expect("JSON");
                let i = f["ref"].as_str().and_then(|r| r.parse::<usize>().ok());
                match (f["type"].as_str(), i) {
                    (Some("ack"), Some(i)) => {
                        outcome.acked.insert(i);
                    }
                    (Some("error"), Some(i)) => {
                        outcome.refused.insert(i, f["code"].to_string());
                    }
                    _ => {}
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                outcome.close = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => break,
        }
    }
    let (_sink, written) = writer.await.expect("writer");
    outcome.written = written;
    drop(signal.await.expect("signal"));
    outcome
}

async fn history(client: &NodeClient, token: &str, room: i64) -> Vec<Value> {
    let (status, body) = client
        .get(&format!("/api/v1/rooms/{room}/messages?limit=100"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut items = body["items"].as_array().expect("items").clone();
    items.sort_by_key(|m| m["seq"].as_i64());
    items
}

async fn a_sigterm_mid_burst_leaves_no_send_unanswered_yet_stored(backend: Backend) {
    if !backend.available() {
        return;
    }
    let mut unanswered_total = 0;
    for run in 0..RUNS {
        let db = TestDb::create(backend);
        let first = node(&db);
        let http = NodeClient::new(&first);
        let ann = http.register("ann").await;
        let (status, room) = http
            .post(
                "/api/v1/rooms",
                &ann.access_token,
                json!({"name": "general"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{room}");
        let room = room["id"].as_i64().expect("room id");

        // 0, 2, 4, ... ms into the burst: before, during and after its last write.
        let outcome = burst_then_sigterm(
            first,
            &ann.access_token,
            room,
            Duration::from_millis(run * 2),
        )
        .await;
        assert_eq!(outcome.close, Some(1001), "run {run}: closed with 1001");
        assert!(
            outcome.refused.is_empty(),
            "run {run}: {:?}",
            outcome.refused
        );
        // What was answered is a prefix of the burst; the rest was never read.
        let answered = outcome.acked.len();
        assert!(
            outcome.acked.iter().copied().eq(1..=answered),
            "run {run}: acks are the first {answered} sends: {:?}",
            outcome.acked
        );
        // Zero silent drops: every send written before the close was read and answered (with
        // no drain, i.e. HUDDLE_WS_DRAIN_QUIET_MS=0, runs leave 7-8 of them unanswered).
        assert_eq!(
            answered, outcome.written,
            "run {run}: every send written before the close is answered"
        );
        unanswered_total += SENDS - answered;

        // A new process on the same database: exactly the acked sends are stored.
        let second = node(&db);
        let http = NodeClient::new(&second);
        let (status, body) = http
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "ann", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = session_from(&body).access_token;
        let stored: Vec<String> = history(&http, &token, room)
            .await
            .iter()
            .map(|m| m["client_msg_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let acked: Vec<String> = outcome.acked.iter().map(|i| format!("c{i}")).collect();
        assert_eq!(
            stored, acked,
            "run {run}: stored = acked ({} written before the close)",
            outcome.written
        );

        // The client resends what got no answer, with the same ids: each message once, in order.
        let mut ws = ws_connect(&second.ws_url(), &token).await;
        for i in 1..=SENDS {
            let frame = json!({"type": "send", "room_id": room, "body": format!("m{i}"),
                               "client_msg_id": format!("c{i}"), "ref": format!("r{i}")});
            let reply = ws.request(frame, &format!("r{i}")).await;
            assert_eq!(reply["type"], "ack", "run {run}: {reply}");
        }
        let bodies: Vec<String> = history(&http, &token, room)
            .await
            .iter()
            .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = (1..=SENDS).map(|i| format!("m{i}")).collect();
        assert_eq!(
            bodies, expected,
            "run {run}: every message once, in send order"
        );
        eprintln!(
            "run {run}: SIGTERM at {} ms: {answered} acked, {} written, {} unanswered (resent)",
            run * 2,
            outcome.written,
            SENDS - answered
        );
    }
    eprintln!("{RUNS} runs: {unanswered_total} sends unanswered in all, none of them stored");
}

backend_tests!(a_sigterm_mid_burst_leaves_no_send_unanswered_yet_stored);
