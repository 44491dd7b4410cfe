//! Direct conversations over REST and the socket: opened by username, found again, private,
//! without owner powers, and live like any room.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::json;

async fn direct_messages_reach_only_their_people(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let mut bobs_socket = WsClient::connect(&app, &bob.access_token).await;

    let (status, dm) = app
        .post(
            "/api/v1/dms",
            &ann.access_token,
            json!({"usernames": ["Bob"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    assert_eq!(
        (&dm["kind"], &dm["is_private"], &dm["member_count"]),
        (&json!("direct"), &json!(true), &json!(2))
    );
    let room = dm["id"].as_i64().unwrap();
    // Bob's open socket learns of it and then hears its messages.
    let joined = bobs_socket.expect("member.joined").await;
    assert_eq!(joined["room_id"], room);
    let (status, again) = app
        .post(
            "/api/v1/dms",
            &bob.access_token,
            json!({"usernames": ["ann", "bob"]}),
        )
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &json!(room)));
    app.send(&ann, room, "psst").await;
    let message = bobs_socket.expect("message.created").await;
    assert_eq!(
        (&message["room_id"], &message["message"]["body"]),
        (&json!(room), &json!("psst"))
    );

    // Nobody else sees it, finds it, joins it or is added to it.
    for path in [
        format!("/api/v1/rooms/{room}"),
        format!("/api/v1/rooms/{room}/messages"),
    ] {
        assert_error(
            &app.get(&path, &eve.access_token).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
    }
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/join"),
            &eve.access_token,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{room}/members"),
            &ann.access_token,
            json!({"user_id": eve.user_id}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_error(
        &app.delete(&format!("/api/v1/rooms/{room}"), &ann.access_token)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    // Listed among the caller's direct conversations, not among group rooms.
    let (_, direct) = app
        .get("/api/v1/rooms?mine=true&kind=direct", &bob.access_token)
        .await;
    assert_eq!(direct["items"].as_array().unwrap().len(), 1);
    assert_eq!(direct["items"][0]["id"], room);
    let (_, groups) = app
        .get("/api/v1/rooms?mine=true&kind=group", &bob.access_token)
        .await;
    assert!(groups["items"].as_array().unwrap().is_empty());
    let (_, public) = app.get("/api/v1/rooms", &eve.access_token).await;
    assert!(public["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["id"] != room));
}

async fn opening_a_conversation_checks_its_people(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let many: Vec<String> = (0..9).map(|i| format!("user{i}")).collect();
    for name in &many {
        app.register(name).await;
    }
    for (body, status, code, field) in [
        (
            json!({"usernames": []}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("usernames"),
        ),
        (
            json!({"usernames": ["ann"]}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("usernames"),
        ),
        (
            json!({"usernames": many}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("usernames"),
        ),
        (
            json!({"usernames": ["x\u{0}y"]}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("usernames"),
        ),
        (
            json!({"usernames": "ann"}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("usernames"),
        ),
        (
            json!({}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("usernames"),
        ),
        (
            json!({"usernames": ["nobody"]}),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
    ] {
        assert_error(
            &app.post("/api/v1/dms", &ann.access_token, body).await,
            status,
            code,
            field,
        );
    }
    // Eight others is the most: a conversation of nine.
    let (status, dm) = app
        .post(
            "/api/v1/dms",
            &ann.access_token,
            json!({"usernames": many[..8]}),
        )
        .await;
    assert_eq!(
        (status, &dm["member_count"]),
        (StatusCode::CREATED, &json!(9))
    );
    assert_error(
        &app.get("/api/v1/rooms?kind=secret", &ann.access_token)
            .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("kind"),
    );
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/dms",
            None,
            Some(json!({"usernames": ["user1"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

backend_tests!(
    direct_messages_reach_only_their_people,
    opening_a_conversation_checks_its_people
);
