//! Ordering under load: many clients sending at once into one room, every client receiving
//! every message exactly once, in `seq` order.
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use huddle_test_support::{backend_tests, seqs, Backend, TestApp, WsClient};
use serde_json::{json, Value};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 10;
const PER_CLIENT: usize = 50;

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// What one client saw: the `message.created` (seq, body) in arrival order, and its acks by ref.
struct Seen {
    client: usize,
    created: Vec<(i64, String)>,
    acks: Vec<Value>,
}

async fn ten_clients_fifty_concurrent_sends_each(backend: Backend) {
    let app = TestApp::spawn_unthrottled(backend).await;
    let owner = app.register("owner").await;
    let room = id(&app.create_room(&owner, "busy", false).await);
    let users = app.register_many("user", CLIENTS).await;
    for u in &users {
        app.join(u, room).await;
    }
    let mut clients = Vec::new();
    for u in &users {
        clients.push(WsClient::connect_live(&app, &u.access_token).await);
    }
    // Let the presence frames of the later connections arrive before the clock starts.
    for ws in &mut clients {
        ws.drain(Duration::from_millis(200)).await;
    }

    let total = CLIENTS * PER_CLIENT;
    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let mut tasks = Vec::new();
    for (client, ws) in clients.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = ws.stream.split();
            barrier.wait().await;
            // All 50 sends go out back to back, without waiting for acks, while reading.
            let send = async {
                for k in 0..PER_CLIENT {
                    let frame = json!({
                        "type": "send",
                        "room_id": room,
                        "body": format!("c{client} m{k}"),
                        "client_msg_id": format!("c{client}-{k}"),
                        "ref": format!("r{k}"),
                    });
                    sink.send(Message::text(frame.to_string()))
                        .await
                        .expect("send frame");
                }
            };
            let receive = async {
                let mut seen = Seen {
                    client,
                    created: Vec::new(),
                    acks: Vec::new(),
                };
                let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
                while seen.created.len() < total || seen.acks.len() < PER_CLIENT {
                    let msg = tokio::time::timeout_at(deadline, stream.next())
                        .await
                        .unwrap_or_else(|_| {
                            panic!(
                                "client {client}: {} messages, {} acks after 120 s",
                                seen.created.len(),
                                seen.acks.len()
                            )
                        });
                    let Some(Ok(Message::Text(text))) = msg else {
                        match msg {
                            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                            other => panic!("client {client}: {other:?}"),
                        }
                    };
                    let frame: Value = serde_json::from_str(&text).expect("JSON");
                    match frame["type"].as_str() {
                        Some("message.created") => {
                            assert_eq!(frame["room_id"], room);
                            seen.created.push((
                                frame["message"]["seq"].as_i64().expect("seq"),
                                frame["message"]["body"].as_str().expect("body").to_owned(),
                            ));
                        }
                        Some("ack") => seen.acks.push(frame),
                        Some("presence") => {}
                        _ => panic!("client {client}: unexpected {frame}"),
                    }
                }
                seen
            };
            let ((), seen) = tokio::join!(send, receive);
            // No message may follow: no duplicates after the 500th. (Clients that finished
            // first close; their presence frames are fine.)
            while let Ok(Some(Ok(msg))) =
                tokio::time::timeout(Duration::from_millis(300), stream.next()).await
            {
                if let Message::Text(t) = msg {
                    assert!(
                        !t.contains("\"message.created\""),
                        "client {client}: more after all {total}: {t}"
                    );
                }
            }
            seen
        }));
    }
    barrier.wait().await;
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("client task"));
    }
    let elapsed = started.elapsed();

    let all_seqs: Vec<i64> = (1..=total as i64).collect();
    let all_bodies: BTreeSet<String> = (0..CLIENTS)
        .flat_map(|c| (0..PER_CLIENT).map(move |k| format!("c{c} m{k}")))
        .collect();
    let mut by_seq: Option<Vec<(i64, String)>> = None;
    for seen in &results {
        let c = seen.client;
        let got: Vec<i64> = seen.created.iter().map(|(s, _)| *s).collect();
        assert_eq!(got, all_seqs, "client {c}: every seq once, in order");
        let bodies: BTreeSet<String> = seen.created.iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(bodies, all_bodies, "client {c}: every message");
        // Every client saw the same message at each seq.
        match &by_seq {
            None => by_seq = Some(seen.created.clone()),
            Some(first) => assert_eq!(&seen.created, first, "client {c} disagrees on the order"),
        }
        // Its own sends: all acked, stored in the order sent.
        let mut acked: Vec<(usize, i64)> = seen
            .acks
            .iter()
            .map(|a| {
                assert_eq!(a["type"], "ack", "client {c}: {a}");
                let k: usize = a["ref"].as_str().expect("ref")[1..]
                    .parse()
                    .expect("ref number");
                assert_eq!(
                    a["message"]["body"],
                    format!("c{c} m{k}"),
                    "client {c}: {a}"
                );
                (k, a["message"]["seq"].as_i64().expect("seq"))
            })
            .collect();
        acked.sort_unstable();
        assert_eq!(
            acked.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            (0..PER_CLIENT).collect::<Vec<_>>()
        );
        assert!(
            acked.windows(2).all(|w| w[0].1 < w[1].1),
            "client {c}: its sends out of order: {acked:?}"
        );
    }
    let stored = app.all_messages(&owner, room).await;
    let stored_seqs: Vec<i64> = stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(stored_seqs, all_seqs);

    let deliveries = CLIENTS * total;
    eprintln!(
        "ordering ({backend:?}): {CLIENTS} clients x {PER_CLIENT} concurrent sends = {total} messages, \
         {deliveries} deliveries in {elapsed:.2?}: about {:.0} deliveries/s, {:.0} messages/s stored",
        deliveries as f64 / elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
    );
}

async fn per_room_order_across_rooms(backend: Backend) {
    // Two rooms written at once by the same users: each room's seqs arrive in order, and
    // rooms do not disturb each other.
    let app = TestApp::spawn_unthrottled(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let one = id(&app.create_room(&ann, "one", false).await);
    let two = id(&app.create_room(&bob, "two", false).await);
    app.join(&bob, one).await;
    app.join(&ann, two).await;
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;
    b.drain(Duration::from_millis(200)).await;
    let n = 60;
    for i in 0..n {
        let room = if i % 2 == 0 { one } else { two };
        a.send(json!({"type": "send", "room_id": room, "body": format!("a{i}")}))
            .await;
        b.send(json!({"type": "send", "room_id": room, "body": format!("b{i}")}))
            .await;
    }
    for ws in [&mut a, &mut b] {
        let mut frames = ws.collect_messages(one, n).await;
        let already = seqs(&frames, two).len();
        frames.extend(ws.collect_messages(two, n - already).await);
        let want: Vec<i64> = (1..=n as i64).collect();
        assert_eq!(seqs(&frames, one), want);
        assert_eq!(seqs(&frames, two), want);
    }
}

/// Twenty sends written back to back, without waiting, to two rooms (which may be stored by
/// different writers) and, amid them, to a room the sender is not in and to a missing room: the
/// twenty replies come in send order, each send stored in that order; a command after the sends
/// is answered only after all of them, and sends after that command only after it.
async fn pipelined_sends_are_answered_in_send_order(backend: Backend) {
    let app = TestApp::spawn_unthrottled(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let one = id(&app.create_room(&ann, "one", false).await);
    let two = id(&app.create_room(&ann, "two", false).await);
    let bobs = id(&app.create_room(&bob, "bobs", false).await);
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;
    let room_of = |i: usize| match i {
        7 => bobs,
        13 => bobs + 1000,
        i if i % 3 == 0 => two,
        _ => one,
    };
    for i in 0..20 {
        ws.send(json!({
            "type": "send",
            "room_id": room_of(i),
            "body": format!("m{i}"),
            "client_msg_id": format!("c{i}"),
            "ref": format!("r{i}"),
        }))
        .await;
    }
    ws.send(json!({"type": "join", "room_id": bobs, "ref": "join"}))
        .await;
    for i in 20..25 {
        ws.send(json!({
            "type": "send",
            "room_id": bobs,
            "body": format!("m{i}"),
            "ref": format!("r{i}"),
        }))
        .await;
    }
    let mut replies = Vec::new();
    while replies.len() < 26 {
        let frame = ws.next().await;
        if frame.get("ref").is_some() {
            replies.push(frame);
        }
    }
    let refs: Vec<&str> = replies.iter().map(|f| f["ref"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    assert_eq!(
        &refs[..20],
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(refs[20], "join");
    assert_eq!(replies[20]["type"], "joined");
    for (k, reply) in replies[21..].iter().enumerate() {
        assert_eq!(reply["ref"], format!("r{}", 20 + k));
        assert_eq!(reply["type"], "ack", "a member now: {reply}");
        assert_eq!(reply["message"]["seq"], k + 1, "{reply}");
    }
    let mut seq = std::collections::HashMap::new();
    for (i, reply) in replies[..20].iter().enumerate() {
        match i {
            7 => {
                assert_eq!(reply["type"], "error", "{reply}");
                assert_eq!(reply["code"], "forbidden", "{reply}");
            }
            13 => {
                assert_eq!(reply["type"], "error", "{reply}");
                assert_eq!(reply["code"], "not_found", "{reply}");
            }
            _ => {
                assert_eq!(reply["type"], "ack", "{reply}");
                let m = &reply["message"];
                assert_eq!(m["body"], format!("m{i}"));
                let next = seq.entry(room_of(i)).or_insert(0);
                *next += 1;
                assert_eq!(m["seq"], *next, "stored in send order: {reply}");
            }
        }
    }
    for room in [one, two] {
        let bodies: Vec<String> = app
            .all_messages(&ann, room)
            .await
            .iter()
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (0..20)
            .filter(|&i| room_of(i) == room)
            .map(|i| format!("m{i}"))
            .collect();
        assert_eq!(bodies, want, "room {room}");
    }
    assert_eq!(
        app.all_messages(&bob, bobs).await.len(),
        5,
        "only the sends after the join"
    );
}

/// A thousand sends written back to back, more than the connection's command queue, its worker's
/// pipeline and its reply queue hold together: every one is answered, in send order, and the
/// socket still answers afterwards (the connection keeps writing replies while it waits to hand
/// the worker a command, so the two never wait on each other).
async fn a_flood_of_pipelined_sends_is_answered_in_full(backend: Backend) {
    let app = TestApp::spawn_unthrottled(backend).await;
    let ann = app.register("ann").await;
    let room = id(&app.create_room(&ann, "flood", false).await);
    let mut ws = WsClient::connect_live(&app, &ann.access_token).await;
    let n = 1000;
    for i in 0..n {
        ws.send(json!({"type": "send", "room_id": room, "body": format!("f{i}"), "ref": format!("r{i}")}))
            .await;
    }
    let mut acks = Vec::new();
    while acks.len() < n {
        let frame = ws.next().await;
        if frame.get("ref").is_some() {
            assert_eq!(frame["type"], "ack", "{frame}");
            acks.push(frame["message"]["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(acks, (1..=n as i64).collect::<Vec<_>>());
    let pong = ws.request(json!({"type": "ping"}), "after").await;
    assert_eq!(pong["type"], "pong", "{pong}");
    assert_eq!(app.all_messages(&ann, room).await.len(), n);
}

backend_tests!(
    ten_clients_fifty_concurrent_sends_each,
    per_room_order_across_rooms,
    pipelined_sends_are_answered_in_send_order,
    a_flood_of_pipelined_sends_is_answered_in_full
);
