//! Socket.IO clients across nodes: real server processes on one PostgreSQL and one Redis, the
//! real `socket.io-client`, and native clients beside them; a node killed and replaced while a
//! client waits to reconnect.
use huddle_test_support::cluster::{redis_url, ws_connect, TestCluster};
use huddle_test_support::socketio::{node_available, SioClient, Transports};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_huddle");

#[tokio::test]
async fn socketio_and_native_clients_on_two_nodes_hear_each_other() {
    if !node_available() {
        return;
    }
    let Some(cluster) = TestCluster::start(BIN, 2, &redis_url(), &[]) else {
        return;
    };
    let (n0, n1) = (cluster.client(0), cluster.client(1));
    let ann = n0.register("ann").await;
    let bob = n1.register("bob").await;
    let carol = n1.register("carol").await;
    let room = n0.create_room(&ann, "general").await;
    n1.join(&bob, room).await;
    n1.join(&carol, room).await;

    let mut a = SioClient::connected(
        &cluster.nodes[0].address,
        &ann.access_token,
        Transports::WebSocket,
    )
    .await;
    a.event("ready").await;
    let mut b = SioClient::connected(
        &cluster.nodes[1].address,
        &bob.access_token,
        Transports::Polling,
    )
    .await;
    b.event("ready").await;
    let mut c = ws_connect(&cluster.nodes[1].ws_url(), &carol.access_token).await;
    c.request(json!({"type": "sync", "since": {}}), "s0").await;

    let sent = a
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "from node 0"}),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        b.event_where("message", |m| m["body"] == "from node 0")
            .await["seq"],
        1
    );
    loop {
        let f = c.expect("message.created").await;
        if f["message"]["body"] == "from node 0" {
            break;
        }
    }

    let sent = b
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "from node 1"}),
        )
        .await;
    assert_eq!(sent["message"]["seq"], 2, "{sent}");
    assert_eq!(
        a.event_where("message", |m| m["body"] == "from node 1")
            .await["seq"],
        2
    );

    c.request(
        json!({"type": "send", "room_id": room, "body": "native on node 1"}),
        "c1",
    )
    .await;
    for client in [&mut a, &mut b] {
        let m = client
            .event_where("message", |m| m["body"] == "native on node 1")
            .await;
        assert_eq!(m["seq"], 3);
        assert_eq!(m["author"]["id"], carol.user_id);
    }

    b.emit("typing", json!({"roomId": room})).await;
    let typing = a.event("typing").await;
    assert_eq!(typing, json!({"roomId": room, "userId": bob.user_id}));
}

#[tokio::test]
async fn a_client_reconnects_to_a_replaced_node_and_syncs_what_it_missed() {
    if !node_available() {
        return;
    }
    let Some(mut cluster) = TestCluster::start(BIN, 2, &redis_url(), &[]) else {
        return;
    };
    let (n0, n1) = (cluster.client(0), cluster.client(1));
    let ann = n1.register("ann").await;
    let bob = n0.register("bob").await;
    let room = n1.create_room(&ann, "general").await;
    n0.join(&bob, room).await;
    let address = cluster.nodes[0].address.clone();
    let port = cluster.nodes[0].port;

    let mut b = SioClient::start(
        &address,
        Some(&bob.access_token),
        Transports::WebSocket,
        true,
    )
    .await;
    b.line("connect").await;
    b.event("ready").await;
    let sent = n1
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &ann.access_token,
            json!({"body": "before"}),
        )
        .await;
    assert_eq!(sent.0, reqwest::StatusCode::CREATED);
    assert_eq!(b.event("message").await["seq"], 1);

    cluster.nodes[0].kill9();
    let gone = b.line("disconnect").await;
    assert_eq!(gone["reason"], "transport close", "{gone}");
    for i in 0..3 {
        let sent = n1
            .post(
                &format!("/api/v1/rooms/{room}/messages"),
                &ann.access_token,
                json!({"body": format!("missed {i}")}),
            )
            .await;
        assert_eq!(sent.0, reqwest::StatusCode::CREATED);
    }
    cluster.replace_node(0, port);

    // The client comes back by itself, and asks for what it missed since seq 1.
    b.line("connect").await;
    let ready = b.event("ready").await;
    assert_eq!(ready["rooms"][0]["lastSeq"], 4, "{ready}");
    let synced = b.ask("sync", json!({"since": {room.to_string(): 1}})).await;
    assert_eq!(synced["ok"], true, "{synced}");
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(b.event("message").await["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, [2, 3, 4]);
    let sent = b
        .ask("sendMessage", json!({"roomId": room, "body": "back"}))
        .await;
    assert_eq!(sent["message"]["seq"], 5, "{sent}");
}
