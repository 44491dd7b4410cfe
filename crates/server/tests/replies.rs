//! Replies over REST and the socket: a reply quotes a message of its room as that message is
//! now (live, in history, after a delete), and a bad `reply_to` is refused in the contract's
//! shape with nothing stored.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::json;

async fn a_reply_quotes_its_message_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&ann, "r", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room).await;
    let question = app.send(&ann, room, "question?").await;
    let qid = question["id"].as_i64().unwrap();
    let mut anns = WsClient::connect(&app, &ann.access_token).await;
    anns.request(json!({"type": "sync", "since": {}}), "s")
        .await;

    let (status, reply) = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &bob.access_token,
            json!({"body": "answer", "reply_to": qid}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let want = json!({"id": qid, "seq": 1, "author": question["author"],
                      "body_preview": "question?", "deleted": false});
    assert_eq!(reply["reply_to"], want);
    let live = anns.expect("message.created").await;
    assert_eq!(live["message"]["reply_to"], want);

    // Over the socket too; a plain message says `reply_to: null`.
    let ack = anns
        .request(
            json!({"type": "send", "room_id": room, "body": "and again", "reply_to": qid}),
            "r",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["message"]["reply_to"]["id"], qid);
    assert!(question["reply_to"].is_null());

    // The quote follows its message.
    let (status, _) = app
        .delete(
            &format!("/api/v1/rooms/{room}/messages/{qid}"),
            &ann.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.access_token)
        .await;
    let quote = &history["items"][1]["reply_to"];
    assert_eq!(
        (&quote["id"], &quote["deleted"], &quote["body_preview"]),
        (&json!(qid), &json!(true), &json!(""))
    );
}

async fn a_bad_reply_to_is_refused_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let other = app.create_room(&ann, "other", false).await["id"]
        .as_i64()
        .unwrap();
    let elsewhere = app.send(&ann, other, "elsewhere").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/rooms/{room}/messages");
    for bad in [json!(elsewhere), json!(999_999)] {
        let answer = app
            .post(
                &path,
                &ann.access_token,
                json!({"body": "x", "reply_to": bad}),
            )
            .await;
        assert_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("reply_to"),
        );
    }
    let (status, _) = app
        .post(
            &path,
            &ann.access_token,
            json!({"body": "x", "reply_to": "one"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut ws = WsClient::connect(&app, &ann.access_token).await;
    let error = ws
        .request(
            json!({"type": "send", "room_id": room, "body": "x", "reply_to": elsewhere}),
            "b",
        )
        .await;
    assert_eq!(
        (&error["type"], &error["code"], &error["field"]),
        (
            &json!("error"),
            &json!("validation_failed"),
            &json!("reply_to")
        )
    );
    assert!(
        app.all_messages(&ann, room).await.is_empty(),
        "nothing stored"
    );
    // The next message still gets seq 1.
    assert_eq!(app.send(&ann, room, "first").await["seq"], 1);
}

backend_tests!(
    a_reply_quotes_its_message_everywhere,
    a_bad_reply_to_is_refused_and_stores_nothing,
);
