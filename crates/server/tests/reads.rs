//! Read state over REST and the socket: marks move forward only, unread counts in the room
//! list, live read.updated to one's own sockets, and receipts only for those who share them.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn read_state_is_kept_and_shared_as_chosen(backend: Backend) {
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
    for i in 0..4 {
        app.send(&ann, room, &format!("m{i}")).await;
    }
    app.send(&bob, room, "mine").await;
    let unread = |list: &Value| {
        let item = &list["items"].as_array().unwrap()[0];
        (
            item["last_read_seq"].as_i64(),
            item["unread_count"].as_i64(),
        )
    };
    let (_, mine) = app.get("/api/v1/rooms?mine=true", &bob.access_token).await;
    assert_eq!(unread(&mine), (Some(0), Some(4)), "{mine}");
    // Without mine=true a list carries no read state.
    let (_, all) = app.get("/api/v1/rooms", &bob.access_token).await;
    assert!(all["items"][0].get("unread_count").is_none());

    // Bob's other device hears of his reading; Ann hears it as a receipt.
    let mut bobs_phone = WsClient::connect(&app, &bob.access_token).await;
    let mut anns = WsClient::connect(&app, &ann.access_token).await;
    let read = format!("/api/v1/rooms/{room}/read");
    let (status, state) = app
        .call(
            reqwest::Method::PUT,
            &read,
            Some(&bob.access_token),
            Some(json!({"seq": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        (&state["last_read_seq"], &state["unread_count"]),
        (&json!(3), &json!(1))
    );
    let live = bobs_phone.expect("read.updated").await;
    assert_eq!(
        (&live["user_id"], &live["last_read_seq"]),
        (&json!(bob.user_id), &json!(3))
    );
    assert_eq!(anns.expect("read.updated").await["user_id"], bob.user_id);
    // Back is no move; past the end is the end.
    let (_, state) = app
        .call(
            reqwest::Method::PUT,
            &read,
            Some(&bob.access_token),
            Some(json!({"seq": 1})),
        )
        .await;
    assert_eq!(state["last_read_seq"], 3);
    let answer = bobs_phone
        .request(json!({"type": "read", "room_id": room, "seq": 999}), "r1")
        .await;
    assert_eq!(
        (
            &answer["type"],
            &answer["last_read_seq"],
            &answer["unread_count"]
        ),
        (&json!("read"), &json!(5), &json!(0))
    );
    let (_, reads) = app
        .get(&format!("/api/v1/rooms/{room}/reads"), &ann.access_token)
        .await;
    assert_eq!(
        reads["items"],
        json!([{"user_id": bob.user_id, "last_read_seq": 5}])
    );

    // Bob stops sharing: his marks leave the receipts, and Ann's socket no longer hears them.
    let (status, me) = app
        .patch(
            "/api/v1/users/me",
            &bob.access_token,
            json!({"share_read_receipts": false}),
        )
        .await;
    assert_eq!(
        (status, &me["share_read_receipts"], &me["username"]),
        (StatusCode::OK, &json!(false), &json!("bob"))
    );
    let (_, reads) = app
        .get(&format!("/api/v1/rooms/{room}/reads"), &ann.access_token)
        .await;
    assert_eq!(reads["items"], json!([]));
    app.send(&ann, room, "later").await;
    anns.drain(std::time::Duration::from_millis(200)).await;
    app.call(
        reqwest::Method::PUT,
        &read,
        Some(&bob.access_token),
        Some(json!({"seq": 6})),
    )
    .await;
    // The `read` frame's own read.updated (5) may have come after its reply, and still wait.
    let mut mark = bobs_phone.expect("read.updated").await;
    if mark["last_read_seq"] == 5 {
        mark = bobs_phone.expect("read.updated").await;
    }
    assert_eq!(mark["last_read_seq"], 6);
    let heard = anns.drain(std::time::Duration::from_millis(300)).await;
    assert!(
        heard.iter().all(|f| f["type"] != "read.updated"),
        "{heard:?}"
    );
}

async fn bad_read_marks_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let eve = app.register("eve").await;
    let room = app.create_room(&ann, "r", true).await["id"]
        .as_i64()
        .unwrap();
    let read = format!("/api/v1/rooms/{room}/read");
    let put = |token: &str, body: Value| {
        let (app, read, token) = (&app, read.clone(), token.to_owned());
        async move {
            app.call(reqwest::Method::PUT, &read, Some(&token), Some(body))
                .await
        }
    };
    assert_error(
        &put(&ann.access_token, json!({"seq": -1})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("seq"),
    );
    assert_error(
        &put(&ann.access_token, json!({"seq": "3"})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("seq"),
    );
    assert_error(
        &put(&ann.access_token, json!({})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("seq"),
    );
    assert_error(
        &put(&eve.access_token, json!({"seq": 1})).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}/reads"), &eve.access_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &app.patch(
            "/api/v1/users/me",
            &ann.access_token,
            json!({"share_read_receipts": "no"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("share_read_receipts"),
    );
}

backend_tests!(
    read_state_is_kept_and_shared_as_chosen,
    bad_read_marks_are_refused
);
