//! Members: the paged list, adding (the way into a private room), kicking and its limits, and
//! role changes.
use std::collections::HashSet;

use huddle_test_support::{assert_error, backend_tests, Backend, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn user_ids(members: &[Value]) -> Vec<i64> {
    members
        .iter()
        .map(|m| m["user"]["id"].as_i64().unwrap())
        .collect()
}

async fn members_of(app: &TestApp, who: &Session, room: i64) -> Vec<Value> {
    app.walk_pages(who, &format!("/api/v1/rooms/{room}/members"), 100)
        .await
}

async fn member_list_pages_walk(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Some users registered before the owner, so the owner is not first by id.
    let early = app.register_many("early", 3).await;
    let owner = app.register("owner").await;
    let late = app.register_many("late", 24).await;
    let room = app.create_room(&owner, "crowd", false).await["id"]
        .as_i64()
        .unwrap();
    // Join in an order different from the id order.
    for u in late.iter().rev().chain(early.iter()) {
        app.join(u, room).await;
    }
    let mut expected: Vec<i64> = early.iter().chain(late.iter()).map(|s| s.user_id).collect();
    expected.push(owner.user_id);
    expected.sort_unstable();
    assert_eq!(expected.len(), 28);

    for limit in [1, 3, 4, 7, 27, 28, 29, 100] {
        let all = app
            .walk_pages(&late[5], &format!("/api/v1/rooms/{room}/members"), limit)
            .await;
        assert_eq!(
            user_ids(&all),
            expected,
            "limit {limit}: each member once, by user id"
        );
    }
    let all = members_of(&app, &owner, room).await;
    for m in &all {
        let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        // The contract's member, plus whether they are connected (nobody is, here).
        assert_eq!(keys, ["joined_at", "online", "role", "user"]);
        assert_eq!(m["online"], false);
        let expected_role = if m["user"]["id"] == owner.user_id {
            "owner"
        } else {
            "member"
        };
        assert_eq!(m["role"], expected_role);
        assert!(m["user"]["username"].is_string());
    }

    // Members leaving between pages: the walk continues after the last one seen, and nobody
    // is repeated.
    let path = format!("/api/v1/rooms/{room}/members?limit=10");
    let (_, first) = app.get(&path, &owner.access_token).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let seen_last = first["items"][9]["user"]["id"].as_i64().unwrap();
    let leaver = late.iter().find(|s| s.user_id == seen_last).unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/rooms/{room}/leave"),
            &leaver.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, second) = app
        .get(&format!("{path}&cursor={cursor}"), &owner.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_ids = user_ids(second["items"].as_array().unwrap());
    assert_eq!(second_ids, expected[10..20].to_vec());

    // Default page: 50; bounds.
    let (_, page) = app
        .get(
            &format!("/api/v1/rooms/{room}/members"),
            &owner.access_token,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 27);
    assert_eq!(page["next_cursor"], Value::Null);
    for limit in ["0", "101", "-5", "x"] {
        let resp = app
            .get(
                &format!("/api/v1/rooms/{room}/members?limit={limit}"),
                &owner.access_token,
            )
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("limit"),
        );
    }
    // "cm9vbXM6MQ" is a rooms-list cursor ("rooms:1"): not valid here.
    for cursor in ["nope", "cm9vbXM6MQ"] {
        let resp = app
            .get(
                &format!("/api/v1/rooms/{room}/members?cursor={cursor}"),
                &owner.access_token,
            )
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("cursor"),
        );
    }
}

async fn adding_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let admin = app.register("admin").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let room = app.create_room(&owner, "private", true).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/rooms/{room}/members");

    // Outsiders see nothing of a private room.
    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}"), &carol.access_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );

    let added = app.add_member(&owner, room, admin.user_id).await;
    assert_eq!(added["user"]["id"], admin.user_id);
    assert_eq!(added["role"], "member");
    app.set_role(&owner, room, admin.user_id, "admin").await;
    // An admin may add too; the added member now sees the room and its messages.
    app.send(&owner, room, "welcome").await;
    let added = app.add_member(&admin, room, carol.user_id).await;
    assert_eq!(added["user"]["id"], carol.user_id);
    assert_eq!(app.room(&carol, room).await["member_count"], 3);
    assert_eq!(app.all_messages(&carol, room).await.len(), 1);

    // Refusals leave the member list as it was.
    let before = members_of(&app, &owner, room).await;
    let resp = app
        .post(
            &path,
            &owner.access_token,
            json!({"user_id": carol.user_id}),
        )
        .await;
    assert_error(&resp, StatusCode::CONFLICT, "conflict", None);
    let resp = app
        .post(
            &path,
            &owner.access_token,
            json!({"user_id": owner.user_id}),
        )
        .await;
    assert_error(&resp, StatusCode::CONFLICT, "conflict", None);
    let resp = app
        .post(&path, &owner.access_token, json!({"user_id": 987_654}))
        .await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    let resp = app
        .post(&path, &carol.access_token, json!({"user_id": dave.user_id}))
        .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);
    let resp = app
        .post(&path, &dave.access_token, json!({"user_id": dave.user_id}))
        .await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    let resp = app
        .post(&path, &owner.access_token, json!({"user_id": "4"}))
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("user_id"),
    );
    let resp = app.post(&path, &owner.access_token, json!({})).await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("user_id"),
    );
    let resp = app
        .post(
            &path,
            &owner.access_token,
            json!({"user_id": dave.user_id, "username": "dave"}),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("user_id"),
    );
    let resp = app
        .post(&path, &owner.access_token, json!({"username": "nobody"}))
        .await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    let resp = app
        .post(&path, &owner.access_token, json!({"username": "da\u{0}ve"}))
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("username"),
    );
    assert_eq!(members_of(&app, &owner, room).await, before);
    assert_eq!(app.room(&owner, room).await["member_count"], 3);

    // By username, in any case, as the directory shows it.
    let (status, added) = app
        .post(&path, &admin.access_token, json!({"username": "DAVE"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(added["user"]["id"], dave.user_id);
    assert_eq!(app.room(&dave, room).await["member_count"], 4);
}

async fn kicking_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let admin1 = app.register("admin1").await;
    let admin2 = app.register("admin2").await;
    let m1 = app.register("mem1").await;
    let m2 = app.register("mem2").await;
    let m3 = app.register("mem3").await;
    let outsider = app.register("outsider").await;
    let room = app.create_room(&owner, "club", false).await["id"]
        .as_i64()
        .unwrap();
    for s in [&admin1, &admin2, &m1, &m2, &m3] {
        app.join(s, room).await;
    }
    app.set_role(&owner, room, admin1.user_id, "admin").await;
    app.set_role(&owner, room, admin2.user_id, "admin").await;
    let kick = |by: &Session, target: i64| {
        let path = format!("/api/v1/rooms/{room}/members/{target}");
        let token = by.access_token.clone();
        let app = &app;
        async move { app.delete(&path, &token).await }
    };

    // Refused kicks, each leaving the room as it was.
    let refused = [
        (&admin1, admin2.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&admin1, owner.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&owner, owner.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&m1, m2.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&m1, owner.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&m1, m1.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&outsider, m1.user_id, StatusCode::FORBIDDEN, "forbidden"),
        (&owner, outsider.user_id, StatusCode::NOT_FOUND, "not_found"),
        (&owner, 999_999, StatusCode::NOT_FOUND, "not_found"),
    ];
    for (by, target, status, code) in refused {
        let before = members_of(&app, &owner, room).await;
        let resp = kick(by, target).await;
        assert_error(&resp, status, code, None);
        assert_eq!(
            members_of(&app, &owner, room).await,
            before,
            "{} kicking {target}",
            by.username
        );
        assert_eq!(app.room(&owner, room).await["member_count"], 6);
    }

    // Allowed: admin kicks a member, owner kicks a member and an admin.
    assert_eq!(kick(&admin1, m1.user_id).await.0, StatusCode::NO_CONTENT);
    assert_eq!(kick(&owner, m2.user_id).await.0, StatusCode::NO_CONTENT);
    assert_eq!(kick(&owner, admin2.user_id).await.0, StatusCode::NO_CONTENT);
    let left: HashSet<i64> = user_ids(&members_of(&app, &owner, room).await)
        .into_iter()
        .collect();
    assert_eq!(
        left,
        HashSet::from([owner.user_id, admin1.user_id, m3.user_id])
    );
    assert_eq!(app.room(&owner, room).await["member_count"], 3);

    // The kicked lose member-only access to the public room.
    let resp = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &m1.access_token)
        .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);
    // The kicked admin lost its powers with its membership; rejoining makes it a plain member.
    assert_eq!(app.join(&admin2, room).await["role"], "member");
    assert_error(
        &kick(&admin2, m3.user_id).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );

    // Kicked from a private room: it disappears.
    let private = app.create_room(&owner, "hidden", true).await["id"]
        .as_i64()
        .unwrap();
    app.add_member(&owner, private, m3.user_id).await;
    assert_eq!(app.room(&m3, private).await["member_count"], 2);
    let (status, _) = app
        .delete(
            &format!("/api/v1/rooms/{private}/members/{}", m3.user_id),
            &owner.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let resp = app
        .get(&format!("/api/v1/rooms/{private}"), &m3.access_token)
        .await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    let resp = app
        .post(
            &format!("/api/v1/rooms/{private}/join"),
            &m3.access_token,
            json!({}),
        )
        .await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
}

async fn changing_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let outsider = app.register("outsider").await;
    let room = app.create_room(&owner, "roles", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&alice, room).await;
    app.join(&bob, room).await;
    let role_path = |uid: i64| format!("/api/v1/rooms/{room}/members/{uid}");
    let room_path = format!("/api/v1/rooms/{room}");

    // A plain member may not manage the room.
    let resp = app
        .patch(&room_path, &alice.access_token, json!({"name": "mine now"}))
        .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);

    let promoted = app.set_role(&owner, room, alice.user_id, "admin").await;
    assert_eq!(promoted["role"], "admin");
    assert_eq!(promoted["user"]["id"], alice.user_id);
    // Promotion takes effect: the admin manages the room.
    let (status, _) = app
        .patch(
            &room_path,
            &alice.access_token,
            json!({"description": "by alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Setting the same role again is fine.
    assert_eq!(
        app.set_role(&owner, room, alice.user_id, "admin").await["role"],
        "admin"
    );

    // Only the owner changes roles; values are "admin" or "member"; the owner's role is fixed.
    let before = members_of(&app, &owner, room).await;
    let refused = [
        (
            &alice,
            bob.user_id,
            json!({"role": "admin"}),
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        ),
        (
            &alice,
            alice.user_id,
            json!({"role": "member"}),
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        ),
        (
            &bob,
            bob.user_id,
            json!({"role": "admin"}),
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        ),
        (
            &outsider,
            bob.user_id,
            json!({"role": "admin"}),
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        ),
        (
            &owner,
            bob.user_id,
            json!({"role": "owner"}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("role"),
        ),
        (
            &owner,
            bob.user_id,
            json!({"role": "boss"}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("role"),
        ),
        (
            &owner,
            bob.user_id,
            json!({"role": "Admin"}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("role"),
        ),
        (
            &owner,
            bob.user_id,
            json!({"role": ""}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("role"),
        ),
        (
            &owner,
            bob.user_id,
            json!({"role": 1}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("role"),
        ),
        (
            &owner,
            bob.user_id,
            json!({}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("role"),
        ),
        (
            &owner,
            owner.user_id,
            json!({"role": "member"}),
            StatusCode::CONFLICT,
            "conflict",
            None,
        ),
        (
            &owner,
            owner.user_id,
            json!({"role": "admin"}),
            StatusCode::CONFLICT,
            "conflict",
            None,
        ),
        (
            &owner,
            outsider.user_id,
            json!({"role": "admin"}),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            &owner,
            999_999,
            json!({"role": "admin"}),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
    ];
    for (by, target, body, status, code, field) in refused {
        let resp = app
            .patch(&role_path(target), &by.access_token, body.clone())
            .await;
        assert_error(&resp, status, code, field);
        assert_eq!(
            members_of(&app, &owner, room).await,
            before,
            "{} setting {body} on {target}",
            by.username
        );
    }

    // Demotion takes effect too.
    assert_eq!(
        app.set_role(&owner, room, alice.user_id, "member").await["role"],
        "member"
    );
    let resp = app
        .patch(
            &room_path,
            &alice.access_token,
            json!({"description": "again"}),
        )
        .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(app.room(&owner, room).await["description"], "by alice");
}

backend_tests!(
    member_list_pages_walk,
    adding_members,
    kicking_members,
    changing_roles
);
