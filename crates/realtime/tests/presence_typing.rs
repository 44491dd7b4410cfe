//! Presence (first connection online, last connection offline, only to users sharing a room)
//! and typing (relayed to the room's other users, throttled).
use std::time::Duration;

use huddle_test_support::{backend_tests, of_type, Backend, TestApp, WsClient};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(600);

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

fn presence_of(frames: &[Value], user_id: i64) -> Vec<String> {
    of_type(frames, "presence")
        .into_iter()
        .filter(|f| f["user_id"] == user_id)
        .map(|f| f["status"].as_str().expect("status").to_owned())
        .collect()
}

async fn presence_follows_first_and_last_connection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    // ann and bob share "general"; cat shares nothing with ann.
    let general = id(&app.create_room(&bob, "general", false).await);
    app.join(&ann, general).await;
    app.create_room(&cat, "cats", false).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;
    let mut c = WsClient::connect_live(&app, &cat.access_token).await;
    b.drain(Duration::from_millis(200)).await;

    // First connection: bob hears ann come online.
    let a1 = WsClient::connect_live(&app, &ann.access_token).await;
    let online = b.expect("presence").await;
    assert_eq!(
        online,
        json!({"type": "presence", "user_id": ann.user_id, "status": "online"})
    );

    // A second connection of ann is not news.
    let mut a2 = WsClient::connect_live(&app, &ann.access_token).await;
    let frames = b.drain(QUIET).await;
    assert!(
        presence_of(&frames, ann.user_id).is_empty(),
        "second connection: {frames:?}"
    );

    // Closing one of two is not offline; the other still gets the room's messages.
    a1.close().await;
    let frames = b.drain(QUIET).await;
    assert!(
        presence_of(&frames, ann.user_id).is_empty(),
        "one of two closed: {frames:?}"
    );
    app.send(&bob, general, "still there?").await;
    let mut a2_frames = a2.collect_messages(general, 1).await;
    a2_frames.extend(a2.drain(Duration::from_millis(200)).await);
    assert!(
        presence_of(&a2_frames, ann.user_id).is_empty(),
        "ann hears about herself: {a2_frames:?}"
    );

    // The last one closing is.
    a2.close().await;
    let offline = b.expect("presence").await;
    assert_eq!(
        offline,
        json!({"type": "presence", "user_id": ann.user_id, "status": "offline"})
    );

    // Back again: online once more, once.
    let _a3 = WsClient::connect_live(&app, &ann.access_token).await;
    let frames = b.drain(QUIET).await;
    assert_eq!(
        presence_of(&frames, ann.user_id),
        vec!["online"],
        "{frames:?}"
    );

    // cat shares no room with ann and heard nothing about her all along.
    let frames = c.drain(QUIET).await;
    assert!(presence_of(&frames, ann.user_id).is_empty(), "{frames:?}");
}

async fn presence_reaches_every_connection_of_room_mates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    // ann shares one room with bob and another with cat, and two with neither.
    let ab = id(&app.create_room(&ann, "ab", false).await);
    let ac = id(&app.create_room(&ann, "ac", false).await);
    app.join(&bob, ab).await;
    app.join(&cat, ac).await;
    let mut b1 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut b2 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut c = WsClient::connect_live(&app, &cat.access_token).await;
    for ws in [&mut b1, &mut b2, &mut c] {
        ws.drain(Duration::from_millis(200)).await;
    }
    let a = WsClient::connect_live(&app, &ann.access_token).await;
    for ws in [&mut b1, &mut b2, &mut c] {
        let frames = ws.drain(QUIET).await;
        assert_eq!(
            presence_of(&frames, ann.user_id),
            vec!["online"],
            "{frames:?}"
        );
    }
    a.close().await;
    for ws in [&mut b1, &mut b2, &mut c] {
        let frames = ws.drain(QUIET).await;
        assert_eq!(
            presence_of(&frames, ann.user_id),
            vec!["offline"],
            "{frames:?}"
        );
    }
    // bob and cat share nothing: neither heard of the other.
    let frames = c.drain(Duration::from_millis(100)).await;
    assert!(presence_of(&frames, bob.user_id).is_empty(), "{frames:?}");
}

async fn typing_reaches_other_users_only_and_is_throttled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.realtime.typing_interval = Duration::from_millis(300);
    })
    .await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    // general: ann, bob. shared: ann, cat. cats: cat only.
    let general = id(&app.create_room(&ann, "general", false).await);
    let shared = id(&app.create_room(&ann, "shared", false).await);
    let cats = id(&app.create_room(&cat, "cats", false).await);
    app.join(&bob, general).await;
    app.join(&cat, shared).await;
    let mut a1 = WsClient::connect_live(&app, &ann.access_token).await;
    let mut a2 = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b1 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut b2 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut c = WsClient::connect_live(&app, &cat.access_token).await;
    for ws in [&mut a1, &mut a2, &mut b1, &mut b2, &mut c] {
        ws.drain(Duration::from_millis(200)).await;
    }
    let typing = |room: i64, user: i64| json!({"type": "typing", "room_id": room, "user_id": user});

    // ann types in general, four times in a burst: bob's connections get it once.
    for _ in 0..4 {
        a1.send(json!({"type": "typing", "room_id": general})).await;
    }
    for b in [&mut b1, &mut b2] {
        let frames = b.drain(QUIET).await;
        assert_eq!(
            of_type(&frames, "typing"),
            vec![&typing(general, ann.user_id)],
            "{frames:?}"
        );
    }
    // After the interval, the next one goes through again.
    a1.send(json!({"type": "typing", "room_id": general})).await;
    for b in [&mut b1, &mut b2] {
        let frames = b.drain(QUIET).await;
        assert_eq!(
            of_type(&frames, "typing"),
            vec![&typing(general, ann.user_id)],
            "{frames:?}"
        );
    }
    // Typing has no reply, and ann's own connections and cat (not in general) heard nothing.
    for ws in [&mut a1, &mut a2, &mut c] {
        let frames = ws.drain(Duration::from_millis(100)).await;
        assert!(frames.is_empty(), "{frames:?}");
    }

    // bob types: both of ann's connections get it, bob's other connection does not.
    b1.send(json!({"type": "typing", "room_id": general})).await;
    for a in [&mut a1, &mut a2] {
        let frames = a.drain(QUIET).await;
        assert_eq!(
            of_type(&frames, "typing"),
            vec![&typing(general, bob.user_id)],
            "{frames:?}"
        );
    }
    let frames = b2.drain(Duration::from_millis(100)).await;
    assert!(frames.is_empty(), "{frames:?}");

    // Typing in a room one is not in goes nowhere; the connection carries on.
    a2.send(json!({"type": "typing", "room_id": cats})).await;
    let before = a2.assert_alive().await;
    assert!(before.is_empty(), "{before:?}");
    let frames = c.drain(QUIET).await;
    assert!(of_type(&frames, "typing").is_empty(), "{frames:?}");

    // Typing in "shared" reaches cat, and not bob.
    a2.send(json!({"type": "typing", "room_id": shared})).await;
    let frames = c.drain(QUIET).await;
    assert_eq!(
        of_type(&frames, "typing"),
        vec![&typing(shared, ann.user_id)],
        "{frames:?}"
    );
    let frames = b1.drain(Duration::from_millis(100)).await;
    assert!(frames.is_empty(), "{frames:?}");
}

backend_tests!(
    presence_follows_first_and_last_connection,
    presence_reaches_every_connection_of_room_mates,
    typing_reaches_other_users_only_and_is_throttled,
);
