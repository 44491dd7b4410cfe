//! `/socket.io/` with the real `socket.io-client` 4.8 (Node.js, pinned by
//! `crates/test-support/socketio/package-lock.json`): long-polling, WebSocket-only and the
//! upgrade; acknowledgements; the same rooms, order, idempotency and revocation as native
//! clients, which it talks with both ways.
use std::time::Duration;

use huddle_test_support::socketio::{node_available, SioClient, Transports};
use huddle_test_support::{backend_tests, Backend, Session, TestApp, WsClient};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A server, ann's public room (ann is its owner) and bob, registered.
async fn world(backend: Backend) -> Option<(TestApp, Session, Session, i64)> {
    if !node_available() {
        return None;
    }
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&ann, "general", false).await["id"]
        .as_i64()
        .unwrap();
    Some((app, ann, bob, room))
}

/// The native client's next `kind` frame whose message has `body`.
async fn native_message(ws: &mut WsClient, kind: &str, body: &str) -> Value {
    loop {
        let frame = ws.expect(kind).await;
        if frame["message"]["body"] == body {
            return frame;
        }
    }
}

fn ok(ack: &Value) -> &Value {
    assert_eq!(ack["ok"], true, "not ok: {ack}");
    ack
}

backend_tests!(
    polling_and_websocket_clients_join_send_with_acks_and_hear_each_other,
    native_and_socketio_clients_hear_each_other,
    a_default_client_upgrades_to_websocket_and_loses_nothing,
    bad_tokens_are_connect_errors_that_say_why,
    a_room_the_user_may_not_read_cannot_be_joined_or_written,
    typing_presence_and_leaving_reach_the_room,
    a_revoked_session_is_disconnected_and_told_why,
    unknown_events_and_bad_arguments_are_answered_not_fatal,
    an_expired_token_disconnects_and_a_fresh_one_reconnects,
);

async fn polling_and_websocket_clients_join_send_with_acks_and_hear_each_other(backend: Backend) {
    let Some((app, ann, bob, room)) = world(backend).await else {
        return;
    };
    let mut a = SioClient::connected(&app.address, &ann.access_token, Transports::WebSocket).await;
    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::Polling).await;
    let ready = b.event("ready").await;
    assert_eq!(ready["user"]["id"], bob.user_id, "{ready}");
    assert_eq!(ready["rooms"], json!([]));

    let joined = b.ask("joinRoom", json!({"roomId": room})).await;
    assert_eq!(ok(&joined)["member"]["user"]["id"], bob.user_id, "{joined}");
    let seen = a.event("userJoined").await;
    assert_eq!(seen["roomId"], room);
    assert_eq!(seen["member"]["user"]["id"], bob.user_id);
    // Joining again is not an error, and tells no one.
    ok(&b.ask("joinRoom", json!({"roomId": room})).await);

    let sent = b
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "hi from polling", "clientMsgId": "c-1"}),
        )
        .await;
    let message = &ok(&sent)["message"];
    assert_eq!(message["body"], "hi from polling");
    assert_eq!(message["seq"], 1);
    assert_eq!(message["roomId"], room);
    assert_eq!(message["clientMsgId"], "c-1");
    let heard = a.event("message").await;
    assert_eq!(heard["id"], message["id"], "{heard}");
    assert_eq!(heard["author"]["id"], bob.user_id);

    // A retry with the same client_msg_id is the same message, stored and broadcast once.
    let again = b
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "hi from polling", "clientMsgId": "c-1"}),
        )
        .await;
    assert_eq!(ok(&again)["message"]["id"], message["id"]);

    let reply = a
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "hi from websocket", "replyTo": message["id"]}),
        )
        .await;
    assert_eq!(ok(&reply)["message"]["seq"], 2);
    assert_eq!(reply["message"]["replyTo"]["id"], message["id"]);
    let heard = b
        .event_where("message", |m| m["body"] == "hi from websocket")
        .await;
    assert_eq!(heard["seq"], 2, "the retry was not broadcast again");
    assert_eq!(b.transport().await, "polling");
    assert_eq!(a.transport().await, "websocket");

    let stored = app.all_messages(&ann, room).await;
    let bodies: Vec<&str> = stored.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hi from polling", "hi from websocket"]);
}

async fn native_and_socketio_clients_hear_each_other(backend: Backend) {
    let Some((app, ann, bob, room)) = world(backend).await else {
        return;
    };
    app.join(&bob, room).await;
    let mut native = WsClient::connect_live(&app, &ann.access_token).await;
    let mut sio = SioClient::connected(&app.address, &bob.access_token, Transports::Polling).await;
    sio.event("ready").await;

    native
        .request(
            json!({"type": "send", "room_id": room, "body": "from native"}),
            "n1",
        )
        .await;
    let heard = sio.event("message").await;
    assert_eq!(heard["body"], "from native");
    assert_eq!(heard["author"]["id"], ann.user_id);

    ok(&sio
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "from socket.io"}),
        )
        .await);
    let frame = native_message(&mut native, "message.created", "from socket.io").await;
    assert_eq!(frame["message"]["seq"], 2);

    // Edits, deletes and reactions made natively arrive under their Socket.IO names.
    let id = frame["message"]["id"].as_i64().unwrap();
    let first = heard["id"].as_i64().unwrap();
    native
        .request(
            json!({"type": "edit", "room_id": room, "message_id": first, "body": "edited"}),
            "n2",
        )
        .await;
    let updated = sio.event("messageUpdated").await;
    assert_eq!(
        (updated["id"].as_i64(), &updated["body"]),
        (Some(first), &json!("edited"))
    );
    native
        .request(
            json!({"type": "react", "room_id": room, "message_id": id, "emoji": "👍", "on": true}),
            "n3",
        )
        .await;
    let reaction = sio.event("reaction").await;
    assert_eq!(reaction["emoji"], "👍");
    assert_eq!(reaction["on"], true);
    assert_eq!(reaction["userId"], ann.user_id);
    native
        .request(
            json!({"type": "delete", "room_id": room, "message_id": first}),
            "n4",
        )
        .await;
    let deleted = sio.event("messageDeleted").await;
    assert_eq!(deleted["messageId"], first);

    // And the other way: a Socket.IO edit reaches the native client.
    let edited = sio
        .ask(
            "editMessage",
            json!({"roomId": room, "messageId": id, "body": "fixed"}),
        )
        .await;
    assert_eq!(ok(&edited)["message"]["body"], "fixed");
    let frame = native_message(&mut native, "message.updated", "fixed").await;
    assert_eq!(frame["message"]["id"], id);
}

async fn a_default_client_upgrades_to_websocket_and_loses_nothing(backend: Backend) {
    let Some((app, ann, bob, room)) = world(backend).await else {
        return;
    };
    app.join(&bob, room).await;
    let mut native = WsClient::connect_live(&app, &ann.access_token).await;
    let mut sio = SioClient::start(
        &app.address,
        Some(&bob.access_token),
        Transports::Default,
        false,
    )
    .await;
    // Messages keep coming while the client connects and upgrades.
    let sender = {
        let app_address = app.address.clone();
        let token = ann.access_token.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..30 {
                let r = http
                    .post(format!("{app_address}/api/v1/rooms/{room}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"body": format!("m{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    sio.line("connect").await;
    let upgrade = sio.line("upgrade").await;
    assert_eq!(upgrade["transport"], "websocket");
    sender.await.unwrap();
    native.collect_messages(room, 30).await;
    // Everything sent after the connect arrived once, in order, across the upgrade.
    let mut seqs = Vec::new();
    while seqs.last() != Some(&30) {
        let m = sio.event("message").await;
        seqs.push(m["seq"].as_i64().unwrap());
    }
    let first = seqs[0];
    assert_eq!(seqs, (first..=30).collect::<Vec<_>>(), "lost or repeated");
    assert_eq!(sio.transport().await, "websocket");
    ok(&sio
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "after the upgrade"}),
        )
        .await);
    native_message(&mut native, "message.created", "after the upgrade").await;
}

async fn bad_tokens_are_connect_errors_that_say_why(backend: Backend) {
    let Some(app) = world(backend).await.map(|w| w.0) else {
        return;
    };
    for (token, code) in [
        (None, "unauthenticated"),
        (Some("junk"), "unauthenticated"),
        (Some(""), "unauthenticated"),
    ] {
        for transports in [Transports::Polling, Transports::WebSocket] {
            let mut c = SioClient::start(&app.address, token, transports, false).await;
            let error = c.line("connect_error").await;
            assert_eq!(error["message"], code, "{token:?}: {error}");
            assert_eq!(error["data"]["code"], code);
            assert!(error["data"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
    }
}

async fn a_room_the_user_may_not_read_cannot_be_joined_or_written(backend: Backend) {
    let Some((app, ann, bob, _)) = world(backend).await else {
        return;
    };
    let secret = app.create_room(&ann, "secret", true).await["id"]
        .as_i64()
        .unwrap();
    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::WebSocket).await;
    let joined = b.ask("joinRoom", json!({"roomId": secret})).await;
    assert_eq!(joined["error"]["code"], "not_found", "{joined}");
    let sent = b
        .ask(
            "sendMessage",
            json!({"roomId": secret, "body": "let me in"}),
        )
        .await;
    assert!(
        ["not_found", "forbidden"].contains(&sent["error"]["code"].as_str().unwrap_or("")),
        "{sent}"
    );
    app.send(&ann, secret, "private").await;
    assert!(
        !b.gets_event("message", Duration::from_millis(500)).await,
        "a message of a room bob may not read reached him"
    );
    let (status, _) = app
        .get(
            &format!("/api/v1/rooms/{secret}/members"),
            &ann.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.all_messages(&ann, secret).await.len(),
        1,
        "nothing stored for bob"
    );
}

async fn typing_presence_and_leaving_reach_the_room(backend: Backend) {
    let Some((app, ann, bob, room)) = world(backend).await else {
        return;
    };
    app.join(&bob, room).await;
    let mut a = SioClient::connected(&app.address, &ann.access_token, Transports::Polling).await;
    a.event("ready").await;
    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::WebSocket).await;
    let online = a
        .event_where("presence", |p| p["userId"] == bob.user_id)
        .await;
    assert_eq!(online["status"], "online");

    b.emit("typing", json!({"roomId": room})).await;
    let typing = a.event("typing").await;
    assert_eq!(typing, json!({"roomId": room, "userId": bob.user_id}));
    // Asked for, typing is acknowledged too (the native socket never answers it).
    tokio::time::sleep(Duration::from_millis(600)).await;
    ok(&b.ask("typing", json!({"roomId": room})).await);
    assert_eq!(a.event("typing").await["userId"], bob.user_id);
    let pong = b.ask("ping", json!(null)).await;
    assert_eq!(pong, json!({"ok": true}));

    b.disconnect().await;
    b.line("disconnect").await;
    let offline = a
        .event_where("presence", |p| p["status"] == "offline")
        .await;
    assert_eq!(offline["userId"], bob.user_id);

    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::Polling).await;
    a.event_where("presence", |p| p["status"] == "online").await;
    ok(&b.ask("leaveRoom", json!({"roomId": room})).await);
    let left = a.event("userLeft").await;
    assert_eq!(
        (&left["roomId"], &left["userId"]),
        (&json!(room), &json!(bob.user_id))
    );
    assert!(left["eventSeq"].is_i64(), "{left}");
    // Gone from the room: nothing of it reaches bob any more.
    ok(&a
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "after bob left"}),
        )
        .await);
    assert!(!b.gets_event("message", Duration::from_millis(500)).await);
}

async fn a_revoked_session_is_disconnected_and_told_why(backend: Backend) {
    let Some((app, _ann, bob, _room)) = world(backend).await else {
        return;
    };
    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::Polling).await;
    b.event("ready").await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": bob.refresh_token})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let error = b.event("error").await;
    assert_eq!(error["code"], "unauthenticated", "{error}");
    let gone = b.line("disconnect").await;
    assert_eq!(gone["reason"], "io server disconnect");
    // And the token opens no new socket.
    let mut again = SioClient::start(
        &app.address,
        Some(&bob.access_token),
        Transports::WebSocket,
        false,
    )
    .await;
    assert_eq!(
        again.line("connect_error").await["message"],
        "unauthenticated"
    );
}

async fn unknown_events_and_bad_arguments_are_answered_not_fatal(backend: Backend) {
    let Some((app, _ann, bob, room)) = world(backend).await else {
        return;
    };
    app.join(&bob, room).await;
    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::WebSocket).await;
    let unknown = b.ask("launchRockets", json!({})).await;
    assert_eq!(unknown["error"]["code"], "unknown_type", "{unknown}");
    let bad = b.ask("sendMessage", json!({"roomId": "three"})).await;
    assert_eq!(bad["error"]["code"], "validation_failed", "{bad}");
    let empty = b
        .ask("sendMessage", json!({"roomId": room, "body": ""}))
        .await;
    assert_eq!(empty["error"]["code"], "validation_failed", "{empty}");
    let huge = b
        .ask(
            "sendMessage",
            json!({"roomId": room, "body": "x".repeat(10_000)}),
        )
        .await;
    assert_eq!(huge["error"]["code"], "validation_failed", "{huge}");
    let control = b
        .ask("sendMessage", json!({"roomId": room, "body": "a\u{0}b"}))
        .await;
    assert_eq!(control["error"]["code"], "validation_failed", "{control}");
    assert_eq!(control["error"]["field"], "body");
    // Without an ack, the error comes as an event.
    b.emit("launchRockets", json!({})).await;
    assert_eq!(b.event("error").await["code"], "unknown_type");
    // Still connected and working.
    ok(&b
        .ask("sendMessage", json!({"roomId": room, "body": "still here"}))
        .await);
}

async fn an_expired_token_disconnects_and_a_fresh_one_reconnects(backend: Backend) {
    if !node_available() {
        return;
    }
    let app =
        TestApp::spawn_with(backend, |cfg| cfg.access_token_ttl = Duration::from_secs(2)).await;
    let bob = app.register("bob").await;
    let mut b = SioClient::connected(&app.address, &bob.access_token, Transports::Polling).await;
    b.event("ready").await;
    let error = b.event("error").await;
    assert_eq!(error["code"], "token_expired", "{error}");
    assert_eq!(b.line("disconnect").await["reason"], "io server disconnect");
    // JWT expiry counts whole seconds: past the next one, the token is refused outright.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut late = SioClient::start(
        &app.address,
        Some(&bob.access_token),
        Transports::WebSocket,
        false,
    )
    .await;
    assert_eq!(late.line("connect_error").await["message"], "token_expired");
    // A refreshed token connects again.
    let (status, fresh) = app.refresh(&bob.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let token = fresh["access_token"].as_str().unwrap();
    let mut again = SioClient::connected(&app.address, token, Transports::WebSocket).await;
    assert_eq!(again.event("ready").await["user"]["id"], bob.user_id);
}
