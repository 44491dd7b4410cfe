//! Who gets what: fan-out to every connection of every member and to nobody else, and how
//! joining, leaving, kicks and room deletion (by REST and by socket frames) change that on
//! connections that were already open.
use std::collections::BTreeMap;
use std::time::Duration;

use huddle_test_support::{backend_tests, of_type, seqs, Backend, Session, TestApp, WsClient};
use serde_json::{json, Value};

/// How long a connection must stay quiet to count as "received nothing more".
const QUIET: Duration = Duration::from_millis(600);

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// `(room_id, seq, body)` of every `message.created` among `frames`, in order.
fn created(frames: &[Value]) -> Vec<(i64, i64, String)> {
    of_type(frames, "message.created")
        .into_iter()
        .map(|f| {
            (
                f["room_id"].as_i64().expect("room_id"),
                f["message"]["seq"].as_i64().expect("seq"),
                f["message"]["body"].as_str().expect("body").to_owned(),
            )
        })
        .collect()
}

/// The frames of `room_id` (any type carrying that `room_id`).
fn about_room(frames: &[Value], room_id: i64) -> Vec<&Value> {
    frames.iter().filter(|f| f["room_id"] == room_id).collect()
}

async fn every_member_connection_and_nobody_else(backend: Backend) {
    let app = TestApp::spawn_unthrottled(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cat = app.register("cat").await;
    let dan = app.register("dan").await;
    let eve = app.register("eve").await;
    // general: ann, bob, cat. dev: bob, dan, ann. secret (private): cat, ann. elsewhere: eve.
    let general = id(&app.create_room(&ann, "general", false).await);
    let dev = id(&app.create_room(&bob, "dev", false).await);
    let secret = id(&app.create_room(&cat, "secret", true).await);
    let elsewhere = id(&app.create_room(&eve, "elsewhere", false).await);
    app.join(&bob, general).await;
    app.join(&cat, general).await;
    app.join(&dan, dev).await;
    app.join(&ann, dev).await;
    app.add_member(&cat, secret, ann.user_id).await;
    let members: BTreeMap<i64, Vec<i64>> = BTreeMap::from([
        (general, vec![ann.user_id, bob.user_id, cat.user_id]),
        (dev, vec![bob.user_id, dan.user_id, ann.user_id]),
        (secret, vec![cat.user_id, ann.user_id]),
        (elsewhere, vec![eve.user_id]),
    ]);

    // ann and bob have three and two connections, the others one each.
    let mut conns: Vec<(Session, WsClient)> = Vec::new();
    for who in [&ann, &ann, &ann, &bob, &bob, &cat, &dan, &eve] {
        conns.push((
            (*who).clone(),
            WsClient::connect_live(&app, &who.access_token).await,
        ));
    }
    // Every connection's presence frames are noise here; let them arrive first.
    for (_, ws) in &mut conns {
        ws.drain(Duration::from_millis(300)).await;
    }

    // Messages from sockets (several of one user's connections) and from REST, interleaved.
    // What a connection receives while waiting for its ack is kept, not skipped.
    let mut received: Vec<Vec<Value>> = vec![Vec::new(); conns.len()];
    let mut sent: Vec<(i64, String)> = Vec::new();
    for round in 0..3 {
        for (i, room) in [
            (0, general),
            (3, dev),
            (5, secret),
            (7, elsewhere),
            (1, general),
            (4, general),
        ] {
            let body = format!("r{round} c{i} room {room}");
            let (who, ws) = &mut conns[i];
            let (ack, before) = ws
                .request_collect(
                    json!({"type": "send", "room_id": room, "body": body}),
                    &body,
                )
                .await;
            assert_eq!(ack["type"], "ack", "{} sending: {ack}", who.username);
            received[i].extend(before);
            sent.push((room, body));
        }
        for (who, room) in [(&dan, dev), (&cat, secret), (&bob, general)] {
            let body = format!("r{round} rest {} room {room}", who.username);
            app.send(who, room, &body).await;
            sent.push((room, body));
        }
    }

    for ((who, ws), mut frames) in conns.iter_mut().zip(received) {
        let expected: Vec<(i64, String)> = sent
            .iter()
            .filter(|(room, _)| members[room].contains(&who.user_id))
            .cloned()
            .collect();
        for room in members.keys() {
            let count = expected.iter().filter(|(r, _)| r == room).count();
            let already = seqs(&frames, *room).len();
            frames.extend(
                ws.collect_messages(*room, count.saturating_sub(already))
                    .await,
            );
        }
        frames.extend(ws.drain(QUIET).await);
        let got = created(&frames);
        // Exactly the member rooms' messages, each once; per room in seq order 1, 2, 3...
        for room in members.keys() {
            let want: Vec<&str> = expected
                .iter()
                .filter(|(r, _)| r == room)
                .map(|(_, b)| b.as_str())
                .collect();
            let have: Vec<&str> = got
                .iter()
                .filter(|(r, _, _)| r == room)
                .map(|(_, _, b)| b.as_str())
                .collect();
            assert_eq!(have, want, "{}'s connection, room {room}", who.username);
            let want_seqs: Vec<i64> = (1..=want.len() as i64).collect();
            assert_eq!(
                seqs(&frames, *room),
                want_seqs,
                "{}'s connection, room {room}",
                who.username
            );
        }
        assert_eq!(got.len(), expected.len(), "{}: {got:?}", who.username);
    }
}

async fn rest_join_kick_and_add_on_open_connections(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    let private = id(&app.create_room(&ann, "private", true).await);
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b1 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut b2 = WsClient::connect_live(&app, &bob.access_token).await;
    a.drain(Duration::from_millis(200)).await;

    // Not a member yet: nothing of the room reaches bob.
    app.send(&ann, room, "before join").await;
    a.collect_messages(room, 1).await;
    for b in [&mut b1, &mut b2] {
        assert!(about_room(&b.drain(QUIET).await, room).is_empty());
    }

    // Joined by REST: both of bob's connections (opened before) follow the room at once.
    app.join(&bob, room).await;
    app.send(&ann, room, "after join").await;
    for b in [&mut b1, &mut b2] {
        let joined = b.expect("member.joined").await;
        assert_eq!(
            (
                joined["room_id"].as_i64(),
                joined["member"]["user"]["id"].as_i64()
            ),
            (Some(room), Some(bob.user_id))
        );
        let frames = b.collect_messages(room, 1).await;
        assert_eq!(created(&frames), vec![(room, 2, "after join".into())]);
    }
    let frames = a.collect_messages(room, 1).await;
    assert_eq!(
        of_type(&frames, "member.joined").len(),
        1,
        "ann sees bob join: {frames:?}"
    );

    // Kicked by REST: member.left, then silence from that room.
    let (status, body) = app
        .delete(
            &format!("/api/v1/rooms/{room}/members/{}", bob.user_id),
            &ann.access_token,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    app.send(&ann, room, "after kick").await;
    for b in [&mut b1, &mut b2] {
        let left = b.expect("member.left").await;
        assert_eq!(
            (left["room_id"].as_i64(), left["user_id"].as_i64()),
            (Some(room), Some(bob.user_id))
        );
        let rest = b.drain(QUIET).await;
        assert!(
            about_room(&rest, room).is_empty(),
            "after the kick: {rest:?}"
        );
        let err = b
            .request(
                json!({"type": "send", "room_id": room, "body": "still here?"}),
                "k",
            )
            .await;
        assert_eq!(err["type"], "error", "{err}");
        assert_eq!(err["code"], "forbidden", "{err}");
    }
    let frames = a.collect_messages(room, 1).await;
    assert_eq!(of_type(&frames, "member.left").len(), 1, "{frames:?}");
    assert_eq!(created(&frames), vec![(room, 3, "after kick".into())]);

    // Added to a private room by its owner: delivery starts on the open connections.
    app.add_member(&ann, private, bob.user_id).await;
    app.send(&ann, private, "welcome").await;
    for b in [&mut b1, &mut b2] {
        let frames = b.collect_messages(private, 1).await;
        assert_eq!(created(&frames), vec![(private, 1, "welcome".into())]);
        assert_eq!(of_type(&frames, "member.joined").len(), 1, "{frames:?}");
    }
    // Re-joining the public room by REST works the same as the first time.
    app.join(&bob, room).await;
    app.send(&ann, room, "again").await;
    for b in [&mut b1, &mut b2] {
        let frames = b.collect_messages(room, 1).await;
        assert_eq!(created(&frames), vec![(room, 4, "again".into())]);
        assert!(b
            .drain(QUIET)
            .await
            .iter()
            .all(|f| f["type"] != "message.created"));
    }
}

async fn socket_join_and_leave(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    let private = id(&app.create_room(&ann, "private", true).await);
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b1 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut b2 = WsClient::connect_live(&app, &bob.access_token).await;

    // Join by a frame on b1: the reply, and b2 (already open) follows the room too.
    let joined = b1
        .request(json!({"type": "join", "room_id": room}), "j")
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["room_id"], room);
    assert_eq!(joined["member"]["user"]["id"], bob.user_id);
    assert_eq!(joined["member"]["role"], "member");
    let (ack, mut a_frames) = a
        .request_collect(
            json!({"type": "send", "room_id": room, "body": "hi bob"}),
            "s1",
        )
        .await;
    assert_eq!(ack["message"]["seq"], 1, "{ack}");
    let b2_frames = b2.collect_messages(room, 1).await;
    assert_eq!(
        of_type(&b2_frames, "member.joined").len(),
        1,
        "{b2_frames:?}"
    );
    for (b, frames) in [(&mut b1, None), (&mut b2, Some(b2_frames))] {
        let frames = match frames {
            Some(f) => f,
            None => b.collect_messages(room, 1).await,
        };
        assert_eq!(created(&frames), vec![(room, 1, "hi bob".into())]);
    }

    // bob can now send from either connection.
    let (ack, b2_frames) = b2
        .request_collect(
            json!({"type": "send", "room_id": room, "body": "hi ann"}),
            "s2",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    if seqs(&b2_frames, room).is_empty() {
        b2.collect_messages(room, 1).await;
    }
    // The sender's other connection gets it too.
    let frames = b1.collect_messages(room, 1).await;
    assert_eq!(created(&frames), vec![(room, 2, "hi ann".into())]);
    let already = seqs(&a_frames, room).len();
    a_frames.extend(a.collect_messages(room, 2 - already).await);
    assert_eq!(seqs(&a_frames, room), vec![1, 2]);

    // Leave by a frame on b2: both connections stop getting the room.
    let left = b2
        .request(json!({"type": "leave", "room_id": room}), "l")
        .await;
    assert_eq!(left["type"], "left", "{left}");
    assert_eq!(left["room_id"], room);
    let (_, mut frames) = a
        .request_collect(
            json!({"type": "send", "room_id": room, "body": "gone?"}),
            "s3",
        )
        .await;
    if seqs(&frames, room).is_empty() {
        frames.extend(a.collect_messages(room, 1).await);
    }
    assert_eq!(seqs(&frames, room), vec![3]);
    assert_eq!(of_type(&frames, "member.left").len(), 1, "{frames:?}");
    for b in [&mut b1, &mut b2] {
        let rest = b.drain(QUIET).await;
        let of_room: Vec<_> = about_room(&rest, room)
            .into_iter()
            .filter(|f| f["type"] != "member.left")
            .collect();
        assert!(of_room.is_empty(), "after leaving: {of_room:?}");
    }

    // Refusals come back as error frames, and the connection carries on.
    let e = b1
        .request(json!({"type": "join", "room_id": private}), "p")
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{e}"
    );
    let e = b1
        .request(json!({"type": "join", "room_id": 999_999}), "n")
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{e}"
    );
    let e = a
        .request(json!({"type": "leave", "room_id": room}), "owner")
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("conflict")),
        "{e}"
    );
    let e = b1
        .request(json!({"type": "leave", "room_id": room}), "twice")
        .await;
    assert_eq!(e["type"], "error", "{e}");
    b1.assert_alive().await;
    app.send(&ann, private, "private").await;
    assert!(about_room(&b1.drain(QUIET).await, private).is_empty());
}

async fn edits_deletes_and_room_updates_reach_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    app.join(&bob, room).await;
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b = WsClient::connect_live(&app, &bob.access_token).await;
    let mut e = WsClient::connect_live(&app, &eve.access_token).await;

    let ack = a
        .request(
            json!({"type": "send", "room_id": room, "body": "frist"}),
            "s",
        )
        .await;
    let message_id = ack["message"]["id"].as_i64().unwrap();
    b.collect_messages(room, 1).await;

    let edited = a
        .request(
            json!({"type": "edit", "room_id": room, "message_id": message_id, "body": "first"}),
            "e",
        )
        .await;
    assert_eq!(edited["type"], "edited", "{edited}");
    assert_eq!(edited["message"]["body"], "first");
    let updated = b.expect("message.updated").await;
    assert_eq!(updated["room_id"], room);
    assert_eq!(updated["message"]["id"], message_id);
    assert_eq!(updated["message"]["body"], "first");

    // bob may not edit or delete ann's message.
    let refused = b
        .request(
            json!({"type": "edit", "room_id": room, "message_id": message_id, "body": "mine"}),
            "x",
        )
        .await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{refused}"
    );
    let refused = b
        .request(
            json!({"type": "delete", "room_id": room, "message_id": message_id}),
            "y",
        )
        .await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{refused}"
    );

    let deleted = a
        .request(
            json!({"type": "delete", "room_id": room, "message_id": message_id}),
            "d",
        )
        .await;
    assert_eq!(deleted["type"], "deleted", "{deleted}");
    assert_eq!(deleted["message_id"], message_id);
    let gone = b.expect("message.deleted").await;
    assert_eq!(
        (
            gone["room_id"].as_i64(),
            gone["message_id"].as_i64(),
            gone["seq"].as_i64()
        ),
        (Some(room), Some(message_id), Some(1))
    );

    let (status, body) = app
        .patch(
            &format!("/api/v1/rooms/{room}"),
            &ann.access_token,
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for ws in [&mut a, &mut b] {
        let updated = ws.expect("room.updated").await;
        assert_eq!(updated["room"]["id"], room);
        assert_eq!(updated["room"]["name"], "renamed");
    }
    // eve is in no room: she saw none of it.
    let frames = e.drain(QUIET).await;
    assert!(frames.is_empty(), "{frames:?}");
}

async fn room_deletion_then_silence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let doomed = id(&app.create_room(&ann, "doomed", false).await);
    let other = id(&app.create_room(&ann, "other", false).await);
    app.join(&bob, doomed).await;
    app.join(&bob, other).await;
    let mut a = WsClient::connect_live(&app, &ann.access_token).await;
    let mut b1 = WsClient::connect_live(&app, &bob.access_token).await;
    let mut b2 = WsClient::connect_live(&app, &bob.access_token).await;
    app.send(&bob, doomed, "last words").await;
    for ws in [&mut a, &mut b1, &mut b2] {
        ws.collect_messages(doomed, 1).await;
    }

    let (status, body) = app
        .delete(&format!("/api/v1/rooms/{doomed}"), &ann.access_token)
        .await;
    assert_eq!(status, 204, "{body}");
    for ws in [&mut a, &mut b1, &mut b2] {
        let deleted = ws.expect("room.deleted").await;
        assert_eq!(deleted, json!({"type": "room.deleted", "room_id": doomed}));
    }

    // A socket send into the deleted room is refused; the other room carries on as before.
    let e = b1
        .request(
            json!({"type": "send", "room_id": doomed, "body": "hello?"}),
            "d",
        )
        .await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{e}"
    );
    a.send(json!({"type": "typing", "room_id": doomed})).await;
    let before = a.assert_alive().await;
    assert!(before.is_empty(), "typing into a deleted room: {before:?}");
    app.send(&ann, other, "still here").await;
    for ws in [&mut a, &mut b1, &mut b2] {
        let mut frames = ws.collect_messages(other, 1).await;
        frames.extend(ws.drain(QUIET).await);
        assert_eq!(created(&frames), vec![(other, 1, "still here".into())]);
        assert!(
            about_room(&frames, doomed).is_empty(),
            "after room.deleted: {frames:?}"
        );
    }
}

async fn membership_changes_racing_a_connect(backend: Backend) {
    // A connection that opens while its user is kicked from (or added to) a room must end up
    // following the room exactly when the user is a member, whichever finished first.
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = id(&app.create_room(&ann, "general", false).await);
    let rounds = 40;
    let (mut leaks, mut misses) = (0, 0);
    for i in 0..rounds {
        // Kick racing the connect: afterwards bob is not a member.
        app.join(&bob, room).await;
        let delay = Duration::from_micros((i * 137 % 3000) as u64);
        let kick = async {
            tokio::time::sleep(delay).await;
            let (status, body) = app
                .delete(
                    &format!("/api/v1/rooms/{room}/members/{}", bob.user_id),
                    &ann.access_token,
                )
                .await;
            assert_eq!(status, 204, "{body}");
        };
        let (mut b, ()) = tokio::join!(WsClient::connect(&app, &bob.access_token), kick);
        b.sync(json!({})).await;
        let body = format!("after kick {i}");
        app.send(&ann, room, &body).await;
        let frames = b.drain(Duration::from_millis(300)).await;
        if created(&frames).iter().any(|(_, _, b)| *b == body) {
            leaks += 1;
        }
        b.close().await;

        // Join racing the connect: afterwards bob is a member.
        let join = async {
            tokio::time::sleep(delay).await;
            app.join(&bob, room).await;
        };
        let (mut b, ()) = tokio::join!(WsClient::connect(&app, &bob.access_token), join);
        b.sync(json!({})).await;
        let body = format!("after join {i}");
        app.send(&ann, room, &body).await;
        let frames = b.drain(Duration::from_millis(300)).await;
        if !created(&frames).iter().any(|(_, _, b)| *b == body) {
            misses += 1;
        }
        b.close().await;
        let (status, _) = app
            .delete(
                &format!("/api/v1/rooms/{room}/members/{}", bob.user_id),
                &ann.access_token,
            )
            .await;
        assert_eq!(status, 204);
    }
    assert_eq!(
        (leaks, misses),
        (0, 0),
        "of {rounds} rounds: messages leaked to a kicked user's new connection, messages missed by a joined user's new connection"
    );
}

backend_tests!(
    membership_changes_racing_a_connect,
    every_member_connection_and_nobody_else,
    rest_join_kick_and_add_on_open_connections,
    socket_join_and_leave,
    edits_deletes_and_room_updates_reach_members,
    room_deletion_then_silence,
);
