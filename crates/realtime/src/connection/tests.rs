//! A whole connection, from `run` to its close frame, on a fake socket: what only the loop
//! decides (shutdown drain, kills, token expiry, answering a close).
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::json;

use super::run;
use super::testing::{socket, Client, Got, World};
use crate::config::RealtimeConfig;
use crate::hub::handle::HubCommand;

/// Starts a connection with `token` in the upgrade's header; returns the client once `ready`
/// came, and the task.
async fn open(world: &World, token: String) -> (Client, actix_web::rt::task::JoinHandle<()>) {
    let (mut client, server) = socket();
    let task = actix_web::rt::spawn(run(
        world.shared.clone(),
        server.outlet,
        server.stream,
        Some(token),
        None,
    ));
    assert_eq!(client.recv().await.json()["type"], "ready");
    (client, task)
}

/// The refs of the frames the client gets until the server's close frame, and that frame.
async fn refs_until_close(client: &mut Client) -> (Vec<String>, Got) {
    let mut refs = Vec::new();
    loop {
        match client.recv().await {
            Got::Text(v) => refs.push(v["ref"].as_str().unwrap().to_owned()),
            other => return (refs, other),
        }
    }
}

/// A connection that has sent (and been answered), with the send gate then shut by another
/// process far behind.
async fn held_after_a_send(world: &World) -> (Client, actix_web::rt::task::JoinHandle<()>) {
    let (mut client, task) = open(world, world.ann()).await;
    client.send(json!({"type": "send", "room_id": world.room_id, "body": "first", "ref": "first"}));
    client.until("ack").await;
    world
        .shared
        .hub
        .send_gate()
        .record_remote("node-b", Duration::from_secs(5));
    (client, task)
}

fn no_grace() -> RealtimeConfig {
    RealtimeConfig {
        sync_grace: Duration::ZERO,
        ..RealtimeConfig::default()
    }
}

/// The kill switch the hub was given for the connection.
fn registered_kill(world: &mut World) -> std::sync::Arc<crate::link::Kill> {
    world
        .told_hub()
        .into_iter()
        .find_map(|c| match c {
            HubCommand::Register { kill, .. } => Some(kill),
            _ => None,
        })
        .expect("registered")
}

#[actix_web::test]
async fn a_session_answers_in_order_and_echoes_the_clients_close() {
    let mut world = World::new(RealtimeConfig::default());
    let (mut client, task) = open(&world, world.ann()).await;
    assert_eq!(world.shared.active.load(Ordering::SeqCst), 1);
    let room = world.room_id;
    client.send(json!({"type": "sync", "since": {room.to_string(): 0}, "ref": "s"}));
    client.send(json!({"type": "send", "room_id": room, "body": "hi", "ref": "a"}));
    client.send(json!({"type": "leave", "room_id": room, "ref": "l"}));
    // Storage commands are answered in the order sent (a ping would be answered at once).
    let (synced, _) = client.until("synced").await;
    assert_eq!(synced["ref"], "s");
    let (ack, _) = client.until("ack").await;
    assert_eq!(
        (ack["ref"].clone(), ack["message"]["seq"].clone()),
        (json!("a"), json!(1))
    );
    let (refused, _) = client.until("error").await;
    assert_eq!(refused["ref"], "l", "the owner cannot leave");
    client.send_message(actix_ws::AggregatedMessage::Close(Some(
        actix_ws::CloseCode::Normal.into(),
    )));
    assert_eq!(client.recv().await, Got::Close(Some(1000), None));
    task.await.unwrap();
    assert_eq!(world.shared.active.load(Ordering::SeqCst), 0);
    assert!(world
        .told_hub()
        .iter()
        .any(|c| matches!(c, HubCommand::Unregister { conn: 1 })));
}

#[actix_web::test]
async fn a_shutdown_answers_what_was_read_then_closes_with_1001() {
    let world = World::new(RealtimeConfig {
        drain_quiet: Duration::from_millis(50),
        ..no_grace()
    });
    let (mut client, task) = open(&world, world.ann()).await;
    for i in 0..20 {
        client.send(
            json!({"type": "send", "room_id": world.room_id, "body": i.to_string(),
            "ref": i.to_string()}),
        );
    }
    world.shared.shutdown.send_replace(true);
    // Sent after the shutdown began but before the client was told: still answered.
    client.send(json!({"type": "send", "room_id": world.room_id, "body": "late", "ref": "late"}));
    let (refs, close) = refs_until_close(&mut client).await;
    let mut want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    want.push("late".into());
    assert_eq!(refs, want);
    assert_eq!(
        close,
        Got::Close(Some(1001), Some("server shutting down".into()))
    );
    task.await.unwrap();
}

#[actix_web::test]
async fn the_hub_can_close_a_connection_with_a_reason_for_its_code() {
    let mut world = World::new(no_grace());
    let (mut client, task) = open(&world, world.ann()).await;
    registered_kill(&mut world).kill(4401);
    assert_eq!(
        client.recv().await,
        Got::Close(Some(4401), Some("session ended".into()))
    );
    task.await.unwrap();

    let (mut client, task) = open(&world, world.ann()).await;
    registered_kill(&mut world).kill(1013);
    let got = client.recv().await;
    assert_eq!(
        got,
        Got::Close(Some(1013), Some("too slow: reconnect and sync".into()))
    );
    task.await.unwrap();
}

#[actix_web::test]
async fn an_expired_token_closes_the_socket_unless_renewed() {
    let world = World::new(no_grace());
    let short = world.token(world.user_id, "s1", Duration::from_secs(1));
    let (mut client, task) = open(&world, short).await;
    assert_eq!(
        client.recv().await,
        Got::Close(Some(4401), Some("token expired".into()))
    );
    task.await.unwrap();

    let short = world.token(world.user_id, "s1", Duration::from_secs(1));
    let (mut client, task) = open(&world, short).await;
    let fresh = world.ann();
    client.send(json!({"type": "reauth", "token": fresh}));
    assert_eq!(client.recv().await.json()["type"], "reauthed");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        task.now_or_never().is_none(),
        "still open past the first token"
    );
}

#[actix_web::test]
async fn live_messages_are_held_for_the_grace_then_delivered() {
    let mut world = World::new(RealtimeConfig {
        sync_grace: Duration::from_millis(100),
        ..RealtimeConfig::default()
    });
    let (mut client, _task) = open(&world, world.ann()).await;
    let tx = world
        .told_hub()
        .into_iter()
        .find_map(|c| match c {
            HubCommand::Register { tx, .. } => Some(tx),
            _ => None,
        })
        .unwrap();
    let started = std::time::Instant::now();
    tx.try_send_all([crate::link::Outbound::Message {
        room_id: world.room_id,
        seq: 1,
        event_seq: 2,
        frame: r#"{"type":"message.created"}"#.into(),
    }])
    .unwrap();
    assert_eq!(client.recv().await.json()["type"], "message.created");
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "held for the grace"
    );
}

#[actix_web::test]
async fn a_socket_that_sent_is_not_read_while_fan_out_lags() {
    let world = World::new(no_grace());
    let (mut client, _task) = open(&world, world.ann()).await;
    let room = world.room_id;
    let gate = world.shared.hub.send_gate().clone();
    gate.record_remote("node-b", Duration::from_secs(5));
    assert!(!gate.is_open());
    // A socket that never sent is read as usual.
    client.send(json!({"type": "send", "room_id": room, "body": "one", "ref": "a"}));
    let (ack, _) = client.until("ack").await;
    assert_eq!(
        (ack["ref"].clone(), ack["message"]["seq"].clone()),
        (json!("a"), json!(1))
    );
    // Now nothing more is read, not even a ping, until the gate opens.
    client.send(json!({"type": "send", "room_id": room, "body": "two", "ref": "b"}));
    client.send(json!({"type": "ping", "ref": "p"}));
    let stored = || {
        use huddle_domain::repository::{HistoryWindow, MessageRepository};
        world
            .repo
            .history(room, HistoryWindow::Latest, 10)
            .unwrap()
            .len()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored(), 1, "read while held");
    // Under the limit but not under half of it: still held.
    gate.record_remote("node-b", Duration::from_millis(200));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stored(), 1, "read while held");
    gate.record_remote("node-b", Duration::ZERO);
    // Both are read now (a ping is answered at once: before or after the send's ack).
    let mut got = [client.recv().await.json(), client.recv().await.json()];
    got.sort_by_key(|f| f["type"].to_string());
    assert_eq!(
        (got[0]["ref"].clone(), got[0]["message"]["seq"].clone()),
        (json!("b"), json!(2))
    );
    assert_eq!(got[1], json!({"type": "pong", "ref": "p"}));
    assert_eq!(stored(), 2);
}

#[actix_web::test]
async fn without_a_lag_limit_sockets_are_never_held() {
    let world = World::new(RealtimeConfig {
        fanout_lag_limit: None,
        ..no_grace()
    });
    let (mut client, _task) = open(&world, world.ann()).await;
    let room = world.room_id;
    world
        .shared
        .hub
        .send_gate()
        .record_remote("node-b", Duration::from_secs(5));
    for (i, r) in ["a", "b"].into_iter().enumerate() {
        client.send(json!({"type": "send", "room_id": room, "body": "hi", "ref": r}));
        let (ack, _) = client.until("ack").await;
        assert_eq!(
            (ack["ref"].clone(), ack["message"]["seq"].clone()),
            (json!(r), json!(i + 1))
        );
    }
}

#[actix_web::test]
async fn a_held_socket_is_not_dropped_as_silent() {
    let world = World::new(RealtimeConfig {
        heartbeat_interval: Duration::from_millis(50),
        client_timeout: Duration::from_millis(200),
        ..no_grace()
    });
    let (mut client, task) = held_after_a_send(&world).await;
    let gate = world.shared.hub.send_gate().clone();
    client.send(json!({"type": "send", "room_id": world.room_id, "body": "two", "ref": "b"}));
    // Held for longer than the client may be silent; its pongs are not read meanwhile.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!task.is_finished(), "dropped while held");
    gate.record_remote("node-b", Duration::ZERO);
    let (ack, _) = client.until("ack").await;
    assert_eq!(ack["ref"], "b");
}

#[actix_web::test]
async fn a_shutdown_reads_held_sockets_to_answer_them() {
    let world = World::new(RealtimeConfig {
        drain_quiet: Duration::from_millis(50),
        ..no_grace()
    });
    let (mut client, task) = held_after_a_send(&world).await;
    let room = world.room_id;
    for i in 0..5 {
        client.send(json!({"type": "send", "room_id": room, "body": "held", "ref": i.to_string()}));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    world.shared.shutdown.send_replace(true);
    let (refs, close) = refs_until_close(&mut client).await;
    assert_eq!(refs, ["0", "1", "2", "3", "4"], "every send answered");
    assert_eq!(
        close,
        Got::Close(Some(1001), Some("server shutting down".into()))
    );
    task.await.unwrap();
}
