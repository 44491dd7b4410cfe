//! Resuming from the event log with real sockets: a client that was away gets every kind of
//! event it missed (edits, deletes, reactions, members, renames, not only messages), in order,
//! once; `ready` says where each room's log stands; past the retention it is told to reload.
use std::time::Duration;

use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use reqwest::Method;
use serde_json::{json, Value};

fn room_of(ready: &Value, room: i64) -> &Value {
    ready["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room_id"] == room)
        .unwrap_or_else(|| panic!("room {room} not in {ready}"))
}

/// Sends `sync since_events` and returns the frames before `synced`.
async fn sync_events(ws: &mut WsClient, room: i64, after: i64) -> Vec<Value> {
    sync_frame(
        ws,
        json!({"type": "sync", "since_events": {room.to_string(): after}}),
    )
    .await
}

/// Sends the sync frame and returns every frame before `synced` (errors and resets for a room
/// carry the sync's ref too).
async fn sync_frame(ws: &mut WsClient, mut frame: Value) -> Vec<Value> {
    frame["ref"] = json!("s");
    ws.send(frame).await;
    let mut before = Vec::new();
    loop {
        let next = ws.next().await;
        if next["type"] == "synced" {
            assert_eq!(next["ref"], "s");
            return before;
        }
        before.push(next);
    }
}

async fn every_event_missed_while_away_is_replayed_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room).await;
    let first = app.send(&ann, room, "before").await;

    let away = WsClient::connect(&app, &ann.access_token).await;
    let had = room_of(&away.ready, room)["last_event_seq"]
        .as_i64()
        .unwrap();
    // ann joined (1), bob joined (2), the first message (3).
    assert_eq!(had, 3);
    away.close().await;

    // While ann is away: one change of every kind.
    let second = app.send(&bob, room, "while away").await;
    let second_id = second["id"].as_i64().unwrap();
    let first_id = first["id"].as_i64().unwrap();
    let (status, _) = app
        .patch(
            &format!("/api/v1/rooms/{room}/messages/{second_id}"),
            &bob.access_token,
            json!({"body": "edited while away"}),
        )
        .await;
    assert!(status.is_success());
    let thumbs = format!("/api/v1/rooms/{room}/messages/{first_id}/reactions/%F0%9F%91%8D");
    let (status, _) = app
        .call(Method::PUT, &thumbs, Some(&bob.access_token), None)
        .await;
    assert!(status.is_success());
    app.join(&carol, room).await;
    let (status, _) = app
        .post(
            &format!("/api/v1/rooms/{room}/leave"),
            &carol.access_token,
            json!({}),
        )
        .await;
    assert!(status.is_success());
    let (status, _) = app
        .patch(
            &format!("/api/v1/rooms/{room}"),
            &ann.access_token,
            json!({"name": "renamed"}),
        )
        .await;
    assert!(status.is_success());
    let third = app.send(&bob, room, "still here").await;
    let (status, _) = app
        .delete(
            &format!("/api/v1/rooms/{room}/messages/{second_id}"),
            &bob.access_token,
        )
        .await;
    assert!(status.is_success());

    let mut back = WsClient::connect(&app, &ann.access_token).await;
    let cursor = room_of(&back.ready, room);
    assert_eq!(cursor["last_event_seq"], had + 8, "{cursor}");
    assert_eq!(cursor["last_seq"], 3);
    // Read state rides in ready: bob's two messages, one since deleted.
    assert_eq!(
        (&cursor["last_read_seq"], &cursor["unread_count"]),
        (&json!(0), &json!(1))
    );

    let replay = sync_events(&mut back, room, had).await;
    let kinds: Vec<&str> = replay.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message.created",
            "message.updated",
            "reaction.added",
            "member.joined",
            "member.left",
            "room.updated",
            "message.created",
            "message.deleted",
        ]
    );
    let seqs: Vec<i64> = replay
        .iter()
        .map(|f| f["event_seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, ((had + 1)..=(had + 8)).collect::<Vec<_>>());
    // Things are shown as they are now: the second message is deleted by now.
    assert_eq!(replay[0]["message"]["id"], second_id);
    assert_eq!(replay[0]["message"]["deleted"], true);
    assert_eq!(replay[2]["user_id"], bob.user_id);
    assert_eq!(replay[3]["member"]["user"]["id"], carol.user_id);
    assert_eq!(replay[5]["room"]["name"], "renamed");
    assert_eq!(replay[6]["message"]["id"], third["id"]);

    // From where the log stands: nothing more; the next change comes live, next in line.
    assert!(sync_events(&mut back, room, had + 8).await.is_empty());
    app.send(&bob, room, "live").await;
    let live = back.expect("message.created").await;
    assert_eq!(live["event_seq"], had + 9);
    assert_eq!(live["message"]["seq"], 4);
}

async fn a_resume_from_before_the_retention_is_told_to_reload(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.event_retention = Duration::from_secs(1);
    })
    .await;
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    app.send(&ann, room, "old").await;
    // The server prunes every second what is a second old: the owner's joining goes.
    let mut reset = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut ws = WsClient::connect(&app, &ann.access_token).await;
        let frames = sync_events(&mut ws, room, 0).await;
        if let Some(f) = frames.iter().find(|f| f["type"] == "sync.reset") {
            reset = Some((f.clone(), frames.len()));
            break;
        }
        ws.close().await;
    }
    let (frame, count) = reset.expect("no sync.reset within 10 s");
    assert_eq!(
        frame,
        json!({"type": "sync.reset", "room_id": room, "ref": "s"})
    );
    assert_eq!(count, 1, "nothing replayed with the reset");
    // The history itself is all there.
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &ann.access_token)
        .await;
    assert_eq!(history["items"][0]["body"], "old");
}

async fn a_bad_since_events_is_refused_in_the_contracts_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let mut ws = WsClient::connect(&app, &ann.access_token).await;
    for bad in [
        json!({"type": "sync", "since_events": {"general": 1}}),
        json!({"type": "sync", "since_events": [1, 2]}),
        json!({"type": "sync", "since_events": {"1": "x"}}),
    ] {
        let reply = ws.request(bad.clone(), "b").await;
        assert_eq!(
            (&reply["type"], &reply["code"]),
            (&json!("error"), &json!("validation_failed")),
            "{bad}: {reply}"
        );
    }
    // A room one cannot read: an error for it, then synced.
    let before = sync_frame(
        &mut ws,
        json!({"type": "sync", "since_events": {"999999": 0}}),
    )
    .await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        (&before[0]["type"], &before[0]["code"], &before[0]["ref"]),
        (&json!("error"), &json!("not_found"), &json!("s"))
    );
    ws.assert_alive().await;
}

backend_tests!(
    every_event_missed_while_away_is_replayed_in_order,
    a_resume_from_before_the_retention_is_told_to_reload,
    a_bad_since_events_is_refused_in_the_contracts_shape,
);
