//! Invite links over REST: made, listed and revoked by managers; previewed and accepted by
//! whoever holds the code; and every way a code stops working, each with the contract's error.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient};
use reqwest::StatusCode;
use serde_json::json;

async fn an_invite_link_lets_people_join_a_private_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let guest = app.register("guest").await;
    let member = app.register("member").await;
    let room = app.create_room(&owner, "hideout", true).await["id"]
        .as_i64()
        .unwrap();
    app.add_member(&owner, room, member.user_id).await;
    let invites = format!("/api/v1/rooms/{room}/invites");

    let (status, invite) = app
        .post(&invites, &owner.access_token, json!({"max_uses": 2}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let code = invite["code"].as_str().unwrap().to_owned();
    assert!(code.len() >= 16, "a code is hard to guess: {code}");
    assert_eq!(
        (
            &invite["room_id"],
            &invite["created_by"],
            &invite["uses"],
            &invite["max_uses"]
        ),
        (&json!(room), &json!(owner.user_id), &json!(0), &json!(2))
    );
    // Members who do not manage the room neither make nor see invites.
    assert_error(
        &app.post(&invites, &member.access_token, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_error(
        &app.get(&invites, &guest.access_token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );

    // The guest sees what the room is before joining, then joins; the room hears of it.
    let mut watcher = WsClient::connect(&app, &owner.access_token).await;
    let (status, preview) = app
        .get(&format!("/api/v1/invites/{code}"), &guest.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["room"]["name"], "hideout");
    assert_eq!(preview["room"]["member_count"], 2);
    assert!(preview["room"].get("owner_id").is_none());
    let accept = format!("/api/v1/invites/{code}/accept");
    let (status, joined) = app.post(&accept, &guest.access_token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(
        (&joined["user"]["id"], &joined["role"]),
        (&json!(guest.user_id), &json!("member"))
    );
    let event = watcher.expect("member.joined").await;
    assert_eq!(event["member"]["user"]["id"], guest.user_id);
    assert_eq!(app.room(&guest, room).await["member_count"], 3);
    // Opening the link again is harmless: the same membership, no use spent.
    let (status, again) = app.post(&accept, &guest.access_token, json!({})).await;
    assert_eq!(
        (status, &again["user"]["id"]),
        (StatusCode::OK, &json!(guest.user_id))
    );
    let (_, listed) = app.get(&invites, &owner.access_token).await;
    assert_eq!(listed["items"][0]["uses"], 1);
    assert_eq!(listed["next_cursor"], serde_json::Value::Null);

    // The second use is the last; a third person finds it used up.
    let late = app.register("late").await;
    let later = app.register("later").await;
    assert_eq!(
        app.post(&accept, &late.access_token, json!({})).await.0,
        StatusCode::OK
    );
    assert_error(
        &app.post(&accept, &later.access_token, json!({})).await,
        StatusCode::GONE,
        "invite_expired",
        None,
    );
    assert_error(
        &app.get(&format!("/api/v1/invites/{code}"), &later.access_token)
            .await,
        StatusCode::GONE,
        "invite_expired",
        None,
    );
    assert!(app.get(&invites, &owner.access_token).await.1["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_error(
        &app.get(&format!("/api/v1/rooms/{room}"), &later.access_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
}

async fn revoked_unknown_and_malformed_invites_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let admin = app.register("admin").await;
    let guest = app.register("guest").await;
    let room = app.create_room(&owner, "r", true).await["id"]
        .as_i64()
        .unwrap();
    app.add_member(&owner, room, admin.user_id).await;
    app.set_role(&owner, room, admin.user_id, "admin").await;
    let invites = format!("/api/v1/rooms/{room}/invites");
    let (status, invite) = app.post(&invites, &admin.access_token, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let code = invite["code"].as_str().unwrap();
    let (status, _) = app
        .delete(&format!("{invites}/{code}"), &owner.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.delete(&format!("{invites}/{code}"), &owner.access_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    for path in [
        format!("/api/v1/invites/{code}"),
        "/api/v1/invites/nosuchcode".into(),
        "/api/v1/invites/a%00b".into(),
        format!("/api/v1/invites/{}", "x".repeat(2000)),
    ] {
        assert_error(
            &app.get(&path, &guest.access_token).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
        assert_error(
            &app.post(&format!("{path}/accept"), &guest.access_token, json!({}))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
    }
    assert_eq!(app.room(&owner, room).await["member_count"], 2);
    // Limits are named; signed-out callers get nothing.
    for (body, field) in [
        (json!({"expires_in_s": 10}), "expires_in_s"),
        (json!({"expires_in_s": 99_999_999}), "expires_in_s"),
        (json!({"max_uses": 0}), "max_uses"),
        (json!({"max_uses": 1001}), "max_uses"),
        (json!({"max_uses": "3"}), "max_uses"),
    ] {
        assert_error(
            &app.post(&invites, &owner.access_token, body).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
    }
    let (status, _) = app
        .call(reqwest::Method::GET, "/api/v1/invites/abc", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Deleting the room takes its invites with it.
    let (_, invite) = app.post(&invites, &owner.access_token, json!({})).await;
    let code = invite["code"].as_str().unwrap();
    app.delete(&format!("/api/v1/rooms/{room}"), &owner.access_token)
        .await;
    assert_error(
        &app.get(&format!("/api/v1/invites/{code}"), &guest.access_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
}

backend_tests!(
    an_invite_link_lets_people_join_a_private_room,
    revoked_unknown_and_malformed_invites_are_refused
);
