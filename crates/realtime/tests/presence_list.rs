//! What the REST API says about live state: the members list shows who is connected, and a
//! room's creator follows it on sockets opened before it existed.
use std::time::Duration;

use huddle_test_support::{backend_tests, Backend, TestApp, WsClient};
use serde_json::{json, Value};

fn online_of(list: &Value, user_id: i64) -> bool {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == user_id)
        .unwrap_or_else(|| panic!("user {user_id} not listed: {list}"))["online"]
        .as_bool()
        .unwrap()
}

async fn members_list_shows_who_is_connected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room_id = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room_id).await;
    let path = format!("/api/v1/rooms/{room_id}/members");

    let (_, list) = app.get(&path, &bob.access_token).await;
    assert!(
        !online_of(&list, ann.user_id) && !online_of(&list, bob.user_id),
        "{list}"
    );

    let ws = WsClient::connect(&app, &ann.access_token).await;
    let (_, list) = app.get(&path, &bob.access_token).await;
    assert!(
        online_of(&list, ann.user_id),
        "ann has a socket open: {list}"
    );
    assert!(!online_of(&list, bob.user_id));
    assert_eq!(
        list["items"][0]["role"], "owner",
        "the member fields are still there: {list}"
    );

    ws.close().await;
    let mut offline = false;
    for _ in 0..50 {
        let (_, list) = app.get(&path, &bob.access_token).await;
        if !online_of(&list, ann.user_id) {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(offline, "ann is offline once her socket closed");
}

async fn a_new_rooms_creator_follows_it_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let mut a = WsClient::connect(&app, &ann.access_token).await;
    a.request(json!({"type": "sync", "since": {}}), "s").await;
    // Created after the socket opened.
    let room_id = app.create_room(&ann, "later", false).await["id"]
        .as_i64()
        .unwrap();
    let joined = a.expect("member.joined").await;
    assert_eq!(
        (
            joined["room_id"].as_i64(),
            joined["member"]["role"].as_str()
        ),
        (Some(room_id), Some("owner"))
    );
    app.join(&bob, room_id).await;
    app.send(&bob, room_id, "hi ann").await;
    let m = a.expect("message.created").await;
    assert_eq!(m["message"]["body"], "hi ann");
}

backend_tests!(
    members_list_shows_who_is_connected,
    a_new_rooms_creator_follows_it_live
);
