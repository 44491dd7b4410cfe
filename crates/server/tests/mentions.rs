//! Mentions with real sockets: the server recognises `@username` of members and `@room` from
//! managers, tells the mentioned on every open socket, and counts mentions in room lists and
//! `ready`; too many names is a 400.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::json;

async fn the_mentioned_are_told_and_counted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room = app.create_room(&ann, "r", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room).await;
    app.join(&carol, room).await;
    let mut carols = WsClient::connect(&app, &carol.access_token).await;
    carols
        .request(json!({"type": "sync", "since": {}}), "s")
        .await;
    let mut bobs = WsClient::connect(&app, &bob.access_token).await;
    bobs.request(json!({"type": "sync", "since": {}}), "s")
        .await;

    // Bob names carol: carol gets the message, then `mention`; bob, the author, no mention.
    let sent = app
        .send(
            &bob,
            room,
            "@carol can you look? (not @room: I am no admin)",
        )
        .await;
    assert_eq!(sent["mentions"], json!([carol.user_id]));
    assert_eq!(sent["mentions_room"], false);
    let created = carols.expect("message.created").await;
    let mention = carols.next().await;
    assert_eq!(mention["type"], "mention", "{mention}");
    assert_eq!(mention["room_id"], room);
    assert_eq!(mention["message"]["id"], created["message"]["id"]);
    // Ann, the owner, says @room: bob and carol are told.
    let (_, everyone) = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &ann.access_token,
            json!({"body": "@room standup in 5"}),
        )
        .await;
    assert_eq!(everyone["mentions_room"], true);
    for ws in [&mut carols, &mut bobs] {
        let m = ws.expect("mention").await;
        assert_eq!(m["message"]["id"], everyone["id"]);
    }
    let frames = bobs.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        frames.iter().all(|f| f["type"] != "mention"),
        "bob was mentioned once: {frames:?}"
    );

    // Counted in room lists, in `ready`, and in history.
    let (_, mine) = app
        .get("/api/v1/rooms?mine=true", &carol.access_token)
        .await;
    assert_eq!(
        (
            &mine["items"][0]["unread_count"],
            &mine["items"][0]["mention_count"]
        ),
        (&json!(2), &json!(2))
    );
    let again = WsClient::connect(&app, &bob.access_token).await;
    assert_eq!(again.ready["rooms"][0]["mention_count"], 1);
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &ann.access_token)
        .await;
    assert_eq!(history["items"][0]["mentions"], json!([carol.user_id]));
    // Reading past them clears them.
    let (status, read) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/rooms/{room}/read"),
            Some(&carol.access_token),
            Some(json!({"seq": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        (&read["unread_count"], &read["mention_count"]),
        (&json!(0), &json!(0))
    );
}

async fn too_many_names_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let body: String = (0..21).map(|i| format!("@user{i} ")).collect();
    let answer = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &ann.access_token,
            json!({ "body": body }),
        )
        .await;
    assert_error(
        &answer,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("body"),
    );
    // Twenty is fine, even when none of them is here.
    let body: String = (0..20).map(|i| format!("@user{i} ")).collect();
    let sent = app.send(&ann, room, &body).await;
    assert_eq!(sent["mentions"], json!([]));
}

backend_tests!(
    the_mentioned_are_told_and_counted,
    too_many_names_is_refused
);
