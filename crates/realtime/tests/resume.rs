//! Resuming: disconnect, miss messages, reconnect, `sync`: exactly the missed messages, once,
//! in order, also while the room keeps moving during the reconnect.
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use huddle_test_support::{backend_tests, of_type, seqs, Backend, TestApp, WsClient};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(600);

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

async fn reconnect_and_sync_gets_exactly_the_missed(backend: Backend) {
    let app = TestApp::spawn_unthrottled(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let general = id(&app.create_room(&ann, "general", false).await);
    let side = id(&app.create_room(&bob, "side", false).await);
    let quiet = id(&app.create_room(&ann, "quiet", false).await);
    app.join(&bob, general).await;
    app.join(&ann, side).await;
    app.join(&bob, quiet).await;
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;

    for i in 1..=5 {
        app.send(&ann, general, &format!("g{i}")).await;
    }
    for i in 1..=2 {
        app.send(&ann, side, &format!("s{i}")).await;
    }
    let mut frames = b.collect_messages(general, 5).await;
    let already = seqs(&frames, side).len();
    frames.extend(b.collect_messages(side, 2 - already).await);
    assert_eq!(seqs(&frames, general), range(1, 5));
    assert_eq!(seqs(&frames, side), range(1, 2));
    b.close().await;

    // While bob is away: 230 in general (more than one replay page), 3 in side by socket.
    let missed = 230;
    let sends: Vec<_> = (6..6 + missed)
        .map(|i| {
            let (app, ann) = (&app, &ann);
            async move { app.send(ann, general, &format!("g{i}")).await }
        })
        .collect();
    futures_util::stream::iter(sends)
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    for i in 3..=5 {
        let (ack, _) = a
            .request_collect(
                json!({"type": "send", "room_id": side, "body": format!("s{i}")}),
                "s",
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let last_general = 5 + missed;

    let mut b = WsClient::connect(&app, &bob.access_token).await;
    let mut rooms = b.ready["rooms"].as_array().expect("rooms").clone();
    rooms.sort_by_key(|r| r["room_id"].as_i64());
    // Each room's log also counts its members' joining; read state is checked elsewhere.
    let rooms: Vec<Value> = rooms
        .iter()
        .map(|r| json!({"room_id": r["room_id"], "last_seq": r["last_seq"]}))
        .collect();
    assert_eq!(
        rooms,
        vec![
            json!({"room_id": general, "last_seq": last_general}),
            json!({"room_id": side, "last_seq": 5}),
            json!({"room_id": quiet, "last_seq": 0}),
        ]
    );
    let replay = b
        .sync(json!({general.to_string(): 5, side.to_string(): 2, quiet.to_string(): 0}))
        .await;
    assert_eq!(seqs(&replay, general), range(6, last_general));
    assert_eq!(seqs(&replay, side), range(3, 5));
    assert!(seqs(&replay, quiet).is_empty());
    let bodies: Vec<&str> = of_type(&replay, "message.created")
        .iter()
        .filter(|f| f["room_id"] == side)
        .map(|f| f["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["s3", "s4", "s5"]);

    // Afterwards: live messages, once each, nothing replayed twice.
    app.send(&ann, general, "live").await;
    app.send(&ann, quiet, "first").await;
    let mut frames = b.collect_messages(general, 1).await;
    frames.extend(b.collect_messages(quiet, 1).await);
    frames.extend(b.drain(QUIET).await);
    assert_eq!(seqs(&frames, general), vec![last_general + 1]);
    assert_eq!(seqs(&frames, quiet), vec![1]);
    assert!(seqs(&frames, side).is_empty());

    // A send retried after a reconnect (same client_msg_id) is not stored twice.
    let (first, _) = b
        .request_collect(
            json!({"type": "send", "room_id": side, "body": "once", "client_msg_id": "cm-1"}),
            "c1",
        )
        .await;
    assert_eq!(first["type"], "ack", "{first}");
    b.close().await;
    let mut b = WsClient::connect(&app, &bob.access_token).await;
    let (again, replay) = b
        .request_collect(
            json!({"type": "send", "room_id": side, "body": "once", "client_msg_id": "cm-1"}),
            "c2",
        )
        .await;
    assert_eq!(again["type"], "ack", "{again}");
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    assert_eq!(again["message"]["seq"], 6);
    let mut frames = replay;
    frames.extend(b.drain(QUIET).await);
    assert!(
        seqs(&frames, side).is_empty(),
        "the retry must not be broadcast again: {frames:?}"
    );
    assert_eq!(app.all_messages(&bob, side).await.len(), 6);
}

async fn sync_of_a_room_one_is_not_in_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let private = id(&app.create_room(&ann, "private", true).await);
    let public = id(&app.create_room(&ann, "public", false).await);
    app.send(&ann, private, "secret").await;
    app.send(&ann, public, "hello").await;
    let mut b = WsClient::connect(&app, &bob.access_token).await;
    let (err, before) = b
        .request_collect(
            json!({"type": "sync", "since": {private.to_string(): 0}}),
            "x",
        )
        .await;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{err}"
    );
    let (err, _) = b
        .request_collect(
            json!({"type": "sync", "since": {public.to_string(): 0}}),
            "y",
        )
        .await;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{err}"
    );
    let frames = b.drain(QUIET).await;
    assert!(of_type(&frames, "message.created").is_empty(), "{frames:?}");
    b.assert_alive().await;
}

async fn make_before_break_reconnect_repeats_nothing(backend: Backend) {
    // The client opens its new connection before dropping the old one, reads the old one to
    // the end, then syncs the new one from there: `sync` sends only seqs above what it was
    // given, even when the new connection already holds some of those live.
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    app.join(&bob, room).await;
    let mut old = WsClient::connect_live(&app, &bob.access_token).await;
    app.send(&ann, room, "one").await;
    assert_eq!(seqs(&old.collect_messages(room, 1).await, room), vec![1]);

    let mut new = WsClient::connect(&app, &bob.access_token).await;
    // Sent while both are open: live on the old one, held on the new one.
    app.send(&ann, room, "two").await;
    app.send(&ann, room, "three").await;
    assert_eq!(seqs(&old.collect_messages(room, 2).await, room), vec![2, 3]);
    old.close().await;

    let replay = new.sync(json!({ room.to_string(): 3 })).await;
    assert!(
        seqs(&replay, room).is_empty(),
        "sync since 3 sent {:?}",
        seqs(&replay, room)
    );
    app.send(&ann, room, "four").await;
    let mut frames = new.collect_messages(room, 1).await;
    frames.extend(new.drain(QUIET).await);
    assert_eq!(seqs(&frames, room), vec![4]);

    // Same with a since in the middle of what is held: exactly the rest.
    let mut newer = WsClient::connect(&app, &bob.access_token).await;
    app.send(&ann, room, "five").await;
    app.send(&ann, room, "six").await;
    assert_eq!(seqs(&new.collect_messages(room, 2).await, room), vec![5, 6]);
    let replay = newer.sync(json!({ room.to_string(): 5 })).await;
    assert_eq!(seqs(&replay, room), vec![6]);
}

/// Reads `ws` until the `message.created` of seq `total` (once known, i.e. non-zero) has come;
/// returns the seqs of `room` read.
async fn read_to_the_end(ws: &mut WsClient, room: i64, total: &AtomicI64) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    loop {
        let t = total.load(Ordering::SeqCst);
        if t > 0 && got.last() == Some(&t) {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck at {:?} of {t}",
            got.last()
        );
        if let Some(f) = ws.next_within(Duration::from_millis(100)).await {
            got.extend(seqs(&[f], room));
        }
    }
}

async fn resume_while_another_client_keeps_sending(backend: Backend) {
    let app = TestApp::spawn_unthrottled(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "busy", false).await);
    app.join(&bob, room).await;
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;
    a.drain(Duration::from_millis(200)).await;

    // At least this many, and on until bob has finished reconnecting: however fast the server
    // stores them, bob's reconnects always happen while messages are flowing.
    let n = 300;
    let most = 20_000;
    let total = AtomicI64::new(0);
    let resumed = AtomicBool::new(false);
    // ann sends over her socket, a few in flight at a time, without pause; she reads her own
    // frames as they come.
    let sender = async {
        let mut acked = 0;
        let mut sent = 0;
        let mut created = Vec::new();
        loop {
            let stop = (sent >= n && resumed.load(Ordering::SeqCst)) || sent >= most;
            if stop && acked == sent {
                break;
            }
            while !stop && sent - acked < 4 {
                sent += 1;
                a.send(json!({"type": "send", "room_id": room, "body": format!("m{sent}"), "ref": format!("r{sent}")}))
                    .await;
            }
            let f = a.next().await;
            match f["type"].as_str() {
                Some("ack") => acked += 1,
                Some("message.created") => created.push(f["message"]["seq"].as_i64().unwrap()),
                _ => {}
            }
        }
        total.store(sent, Ordering::SeqCst);
        created
    };
    // bob reads a little, drops the connection, misses some, reconnects and syncs; five times.
    let resumer = async {
        let mut got: Vec<i64> = Vec::new();
        let mut reconnects = 0;
        for _ in 0..5 {
            let frames = b.collect_messages(room, 20).await;
            got.extend(seqs(&frames, room));
            let old = std::mem::replace(
                &mut b,
                WsClient::connect_raw(&app, Some(&bob.access_token)).await,
            );
            old.close().await;
            // The new connection opened already; give the room time to move on before sync.
            b.ready = b.expect("ready").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let last = got.last().copied().unwrap_or(0);
            let replay = b.sync(json!({ room.to_string(): last })).await;
            got.extend(seqs(&replay, room));
            reconnects += 1;
        }
        resumed.store(true, Ordering::SeqCst);
        (got, reconnects)
    };
    let (mut a_created, (mut got, reconnects)) = tokio::join!(sender, resumer);
    let n = total.load(Ordering::SeqCst);
    assert!(n < most, "ann sent {n}: bob never finished reconnecting");
    let expected = range(1, n);
    if got.last() != Some(&n) {
        got.extend(read_to_the_end(&mut b, room, &total).await);
    }
    let duplicates =
        got.len() as i64 - got.iter().collect::<std::collections::BTreeSet<_>>().len() as i64;
    assert_eq!(duplicates, 0, "bob got some messages twice");
    assert_eq!(
        got, expected,
        "bob, after {reconnects} reconnects: every seq once, in order"
    );
    let frames = b.drain(QUIET).await;
    assert!(seqs(&frames, room).is_empty(), "{frames:?}");
    if a_created.last() != Some(&n) {
        a_created.extend(read_to_the_end(&mut a, room, &total).await);
    }
    assert_eq!(a_created, expected, "the sender's own connection");
}

/// Applies frames the way the web client does: `message.updated` / `message.deleted` change a
/// message it has; `message.created` puts the message as given. Returns id -> (body, deleted).
fn apply_like_the_web_client(frames: &[Value]) -> std::collections::BTreeMap<i64, (String, bool)> {
    let mut shown = std::collections::BTreeMap::new();
    for f in frames {
        let m = &f["message"];
        match f["type"].as_str() {
            Some("message.created") => {
                shown.insert(
                    m["id"].as_i64().unwrap(),
                    (m["body"].as_str().unwrap().to_owned(), m["deleted"] == true),
                );
            }
            Some("message.updated") => {
                if let Some(entry) = shown.get_mut(&m["id"].as_i64().unwrap()) {
                    *entry = (m["body"].as_str().unwrap().to_owned(), m["deleted"] == true);
                }
            }
            Some("message.deleted") => {
                if let Some(entry) = shown.get_mut(&f["message_id"].as_i64().unwrap()) {
                    *entry = (String::new(), true);
                }
            }
            _ => {}
        }
    }
    shown
}

/// Positions of the first frame of `kind` about message `id` (or `None`).
fn position(frames: &[Value], kind: &str, id: i64) -> Option<usize> {
    frames
        .iter()
        .position(|f| f["type"] == kind && (f["message"]["id"] == id || f["message_id"] == id))
}

async fn edits_and_deletes_never_overtake_their_message(backend: Backend) {
    // Live messages are held after `ready` until the first `sync` (or the grace runs out); an
    // edit or delete of a held message must not reach the client before the message does.
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    app.join(&bob, room).await;
    // b1 will sync without replay once the changes are made; b2 never sends anything.
    let mut b1 = WsClient::connect(&app, &bob.access_token).await;
    let mut b2 = WsClient::connect(&app, &bob.access_token).await;

    let one = app.send(&ann, room, "one").await;
    let two = app.send(&ann, room, "two").await;
    let (one_id, two_id) = (id(&one), id(&two));
    let (status, edited) = app
        .patch(
            &format!("/api/v1/rooms/{room}/messages/{one_id}"),
            &ann.access_token,
            json!({"body": "one, edited"}),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let (status, body) = app
        .delete(
            &format!("/api/v1/rooms/{room}/messages/{two_id}"),
            &ann.access_token,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let stored: std::collections::BTreeMap<i64, (String, bool)> = app
        .all_messages(&bob, room)
        .await
        .iter()
        .map(|m| {
            (
                id(m),
                (m["body"].as_str().unwrap().to_owned(), m["deleted"] == true),
            )
        })
        .collect();

    let mut frames1 = b1.sync(json!({})).await;
    frames1.extend(b1.drain(QUIET).await);
    // b2: the grace (1.5 s) runs out on its own.
    let frames2 = b2.drain(Duration::from_millis(2500)).await;
    for (name, frames) in [("synced", &frames1), ("grace ran out", &frames2)] {
        assert_eq!(seqs(frames, room), vec![1, 2], "{name}");
        let created_one = position(frames, "message.created", one_id).unwrap();
        let created_two = position(frames, "message.created", two_id).unwrap();
        if let Some(updated) = position(frames, "message.updated", one_id) {
            assert!(
                created_one < updated,
                "{name}: the edit came before its message: {frames:?}"
            );
        }
        if let Some(deleted) = position(frames, "message.deleted", two_id) {
            assert!(
                created_two < deleted,
                "{name}: the delete came before its message: {frames:?}"
            );
        }
        assert_eq!(
            apply_like_the_web_client(frames),
            stored,
            "{name}: what a client shows"
        );
    }
}

backend_tests!(
    make_before_break_reconnect_repeats_nothing,
    edits_and_deletes_never_overtake_their_message,
    reconnect_and_sync_gets_exactly_the_missed,
    sync_of_a_room_one_is_not_in_is_refused,
    resume_while_another_client_keeps_sending,
);
