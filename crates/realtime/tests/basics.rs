//! The socket's basics against a real server: authentication, ready, live messages.
use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use serde_json::json;

async fn header_auth_gets_ready_with_rooms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = app.create_room(&ann, "general", false).await;
    let room_id = room["id"].as_i64().unwrap();
    app.send(&ann, room_id, "one").await;
    let ws = WsClient::connect(&app, &ann.access_token).await;
    assert_eq!(ws.ready["user"]["id"], ann.user_id);
    assert_eq!(
        ws.ready["rooms"],
        json!([{"room_id": room_id, "last_seq": 1, "last_event_seq": 2, "last_read_seq": 0,
                "unread_count": 0, "mention_count": 0}])
    );
    assert!(ws.ready["connection_id"].is_string());
}

async fn messages_reach_members_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room_id = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room_id).await;
    let mut a = WsClient::connect(&app, &ann.access_token).await;
    let mut b = WsClient::connect_with_frame(&app, &bob.access_token).await;
    a.request(json!({"type":"sync","since":{}}), "s").await;
    b.request(json!({"type":"sync","since":{}}), "s").await;
    let ack = a
        .request(
            json!({"type":"send","room_id":room_id,"body":"hello","client_msg_id":"c1"}),
            "r1",
        )
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["message"]["seq"], 1);
    let got = b.expect("message.created").await;
    assert_eq!(got["message"]["body"], "hello");
    assert_eq!(got["room_id"], room_id);
    app.send(&bob, room_id, "via rest").await;
    // Ann's socket also gets her own "hello" (before or after its ack): skip it.
    let mut got = a.expect("message.created").await;
    if got["message"]["body"] == "hello" {
        got = a.expect("message.created").await;
    }
    assert_eq!(got["message"]["body"], "via rest");
}

backend_tests!(
    header_auth_gets_ready_with_rooms,
    messages_reach_members_live
);
