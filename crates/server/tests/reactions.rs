//! Reactions over REST and the socket: live to the room, in history with `me`, idempotent,
//! bounded, and refused in the contract's shape.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::json;

async fn reactions_are_live_and_in_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&ann, "r", false).await["id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/rooms/{room}/join"),
        &bob.access_token,
        json!({}),
    )
    .await;
    let message = app.send(&ann, room, "hello").await;
    let id = message["id"].as_i64().unwrap();
    let mut anns = WsClient::connect(&app, &ann.access_token).await;
    let thumbs = format!("/api/v1/rooms/{room}/messages/{id}/reactions/%F0%9F%91%8D");

    let (status, _) = app
        .call(reqwest::Method::PUT, &thumbs, Some(&bob.access_token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let live = anns.expect("reaction.added").await;
    assert_eq!(
        (
            &live["room_id"],
            &live["message_id"],
            &live["emoji"],
            &live["user_id"]
        ),
        (&json!(room), &json!(id), &json!("👍"), &json!(bob.user_id))
    );
    // Again: no change, no event.
    let (status, _) = app
        .call(reqwest::Method::PUT, &thumbs, Some(&bob.access_token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Over the socket, answered with `reacted`.
    let mut bobs = WsClient::connect(&app, &bob.access_token).await;
    let answer = bobs
        .request(
            json!({"type": "react", "room_id": room, "message_id": id, "emoji": "🎉", "on": true}),
            "r1",
        )
        .await;
    assert_eq!(
        (&answer["type"], &answer["on"]),
        (&json!("reacted"), &json!(true))
    );
    let live = anns.expect("reaction.added").await;
    assert_eq!(live["emoji"], "🎉", "the repeated PUT announced nothing");

    let (_, history) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.access_token)
        .await;
    let reactions = &history["items"][0]["reactions"];
    assert_eq!(reactions[0]["emoji"], "👍");
    assert_eq!(
        (&reactions[0]["count"], &reactions[0]["me"]),
        (&json!(1), &json!(true))
    );
    assert_eq!(reactions[0]["user_ids"], json!([bob.user_id]));
    assert_eq!(reactions[1]["emoji"], "🎉");
    let (_, for_ann) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &ann.access_token)
        .await;
    assert_eq!(for_ann["items"][0]["reactions"][0]["me"], false);

    let (status, _) = app.delete(&thumbs, &bob.access_token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let live = anns.expect("reaction.removed").await;
    assert_eq!(
        (&live["emoji"], &live["user_id"]),
        (&json!("👍"), &json!(bob.user_id))
    );
}

async fn bad_reactions_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let eve = app.register("eve").await;
    let room = app.create_room(&ann, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let id = app.send(&ann, room, "hello").await["id"].as_i64().unwrap();
    let put = |path: String, token: String| {
        let app = &app;
        async move {
            app.call(reqwest::Method::PUT, &path, Some(&token), None)
                .await
        }
    };
    let at = |emoji: &str| format!("/api/v1/rooms/{room}/messages/{id}/reactions/{emoji}");
    for bad in ["abc", "%00", "%F0%9F%91%8D%20x"] {
        assert_error(
            &put(at(bad), ann.access_token.clone()).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("emoji"),
        );
    }
    assert_error(
        &put(at("%F0%9F%91%8D"), eve.access_token.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_error(
        &put(
            format!("/api/v1/rooms/{room}/messages/987654/reactions/%F0%9F%91%8D"),
            ann.access_token.clone(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    for i in 0..20u32 {
        let e = char::from_u32(0x1F600 + i).unwrap().to_string();
        let (status, body) = put(at(&urlencode(&e)), ann.access_token.clone()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_error(
        &put(at(&urlencode("🦀")), ann.access_token.clone()).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    app.delete(
        &format!("/api/v1/rooms/{room}/messages/{id}"),
        &ann.access_token,
    )
    .await;
    assert_error(
        &put(at("%F0%9F%91%8D"), ann.access_token.clone()).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &ann.access_token)
        .await;
    assert_eq!(history["items"][0]["reactions"], json!([]));
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

backend_tests!(reactions_are_live_and_in_history, bad_reactions_are_refused);
