//! Rooms: creation and its validation, updates, deletion (with the messages), listing with its
//! filters and cursor, joining, leaving, and `member_count` through all of it.
use std::collections::HashSet;

use huddle_test_support::{
    assert_error, backend_tests, ids, query_string, Backend, Session, TestApp,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn mine(app: &TestApp, who: &Session) -> Vec<Value> {
    app.walk_pages(who, "/api/v1/rooms?mine=true", 100).await
}

/// An RFC 3339 UTC time as (seconds part, nanoseconds), comparable; the fraction's length
/// varies, so the strings themselves do not sort.
fn instant(v: &Value) -> (String, u32) {
    let s = v.as_str().expect("a time string");
    let s = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix("+00:00"))
        .expect("UTC");
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    assert_eq!(secs.len(), 19, "{s}");
    (secs.to_owned(), format!("{frac:0<9}").parse().unwrap())
}

async fn create_room_answers_the_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let (status, room) = app
        .post(
            "/api/v1/rooms",
            &alice.access_token,
            json!({"name": "  General chat  "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert!(room["id"].as_i64().is_some());
    assert_eq!(room["name"], "General chat", "names are trimmed");
    assert_eq!(room["description"], "");
    assert_eq!(room["is_private"], false);
    assert_eq!(room["kind"], "group");
    assert_eq!(room["owner_id"], alice.user_id);
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["last_seq"], 0);
    assert!(room["created_at"].is_string() && room["updated_at"].is_string());
    let mut keys: Vec<&str> = room
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "description",
            "id",
            "is_private",
            "kind",
            "last_seq",
            "member_count",
            "name",
            "owner_id",
            "updated_at"
        ]
    );
    assert_eq!(app.room(&alice, room["id"].as_i64().unwrap()).await, room);

    // The creator is its owner and only member.
    let (status, members) = app
        .get(
            &format!("/api/v1/rooms/{}/members", room["id"]),
            &alice.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert_eq!(members["items"][0]["user"]["id"], alice.user_id);
    assert_eq!(members["items"][0]["role"], "owner");

    let (status, private) = app
        .post(
            "/api/v1/rooms",
            &alice.access_token,
            json!({"name": "secret", "description": "Ünïcode ✓", "is_private": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{private}");
    assert_eq!(private["is_private"], true);
    assert_eq!(private["description"], "Ünïcode ✓");

    // Names need not be unique.
    let (status, _) = app
        .post(
            "/api/v1/rooms",
            &alice.access_token,
            json!({"name": "General chat"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn room_validation_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "\t\n"}), "name"),
        (json!({"name": "ü".repeat(65)}), "name"),
        (json!({"name": "a".repeat(65)}), "name"),
        (json!({"name": "bad\u{0}name"}), "name"),
        (
            json!({"name": "ok", "description": "d".repeat(1001)}),
            "description",
        ),
        (
            json!({"name": "ok", "description": "ü".repeat(1001)}),
            "description",
        ),
        (json!({}), "name"),
        (json!({"description": "no name"}), "name"),
        (json!({"name": 12}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": "ok", "is_private": "yes"}), "is_private"),
        (json!({"name": "ok", "description": 5}), "description"),
    ];
    for (body, field) in cases {
        let resp = app
            .post("/api/v1/rooms", &alice.access_token, body.clone())
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
        assert!(mine(&app, &alice).await.is_empty(), "{body} stored a room");
    }

    // The limits count characters: 64 "ü" (128 bytes) and a padded 64-character name are fine.
    let (status, room) = app
        .post(
            "/api/v1/rooms",
            &alice.access_token,
            json!({"name": "ü".repeat(64)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["name"].as_str().unwrap().chars().count(), 64);
    let padded = format!("   {}   ", "x".repeat(64));
    let (status, room) = app
        .post(
            "/api/v1/rooms",
            &alice.access_token,
            json!({"name": padded}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(room["name"], "x".repeat(64));
    let (status, room) = app
        .post(
            "/api/v1/rooms",
            &alice.access_token,
            json!({"name": "🎉", "description": "🙂".repeat(1000)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    assert_eq!(mine(&app, &alice).await.len(), 3);
}

async fn update_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&alice, "general", false).await;
    let id = room["id"].as_i64().unwrap();
    let path = format!("/api/v1/rooms/{id}");

    let (status, updated) = app
        .patch(
            &path,
            &alice.access_token,
            json!({"name": " Lobby ", "description": "all welcome"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Lobby");
    assert_eq!(updated["description"], "all welcome");
    assert_eq!(updated["is_private"], false);
    assert_eq!(updated["created_at"], room["created_at"]);
    assert!(instant(&updated["updated_at"]) > instant(&room["updated_at"]));
    assert_eq!(app.room(&alice, id).await, updated);

    // Bad patches change nothing.
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "n".repeat(65)}), "name"),
        (json!({"description": "d".repeat(1001)}), "description"),
        (
            json!({"name": "fine", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"is_private": 1}), "is_private"),
    ];
    for (body, field) in cases {
        let resp = app.patch(&path, &alice.access_token, body).await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
        assert_eq!(
            app.room(&alice, id).await,
            updated,
            "a refused patch changed the room"
        );
    }
    // An empty patch is fine and keeps everything but the update time.
    let (status, same) = app.patch(&path, &alice.access_token, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["name"], "Lobby");

    // Going private hides the room from outsiders at once.
    assert_eq!(app.room(&bob, id).await["id"], id);
    let (status, private) = app
        .patch(&path, &alice.access_token, json!({"is_private": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(private["is_private"], true);
    assert_error(
        &app.get(&path, &bob.access_token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    let listed = app.walk_pages(&bob, "/api/v1/rooms", 50).await;
    assert!(!ids(&listed).contains(&id));
    // And public again.
    let (status, _) = app
        .patch(&path, &alice.access_token, json!({"is_private": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.room(&bob, id).await["is_private"], false);
}

async fn deleting_a_room_removes_its_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let doomed = app.create_room(&alice, "doomed", false).await["id"]
        .as_i64()
        .unwrap();
    let kept = app.create_room(&alice, "kept", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, doomed).await;
    app.join(&bob, kept).await;
    let mut doomed_ids = Vec::new();
    for i in 0..5 {
        doomed_ids.push(
            app.send(&bob, doomed, &format!("doomed {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
        app.send(&alice, kept, &format!("kept {i}")).await;
    }

    let (status, body) = app
        .delete(&format!("/api/v1/rooms/{doomed}"), &alice.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null);

    for who in [&alice, &bob] {
        let t = &who.access_token;
        assert_error(
            &app.get(&format!("/api/v1/rooms/{doomed}"), t).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
        assert_error(
            &app.get(&format!("/api/v1/rooms/{doomed}/messages"), t)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
        assert_error(
            &app.get(&format!("/api/v1/rooms/{doomed}/members"), t).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
        let listed = app.walk_pages(who, "/api/v1/rooms", 50).await;
        assert_eq!(ids(&listed), vec![kept]);
    }
    // Its messages are gone, not just hidden: no path reaches them.
    for mid in doomed_ids {
        for room in [doomed, kept] {
            let path = format!("/api/v1/rooms/{room}/messages/{mid}");
            assert_error(
                &app.patch(&path, &bob.access_token, json!({"body": "x"}))
                    .await,
                StatusCode::NOT_FOUND,
                "not_found",
                None,
            );
            assert_error(
                &app.delete(&path, &alice.access_token).await,
                StatusCode::NOT_FOUND,
                "not_found",
                None,
            );
        }
    }
    // Deleting again, or joining it, is 404.
    assert_error(
        &app.delete(&format!("/api/v1/rooms/{doomed}"), &alice.access_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_error(
        &app.post(
            &format!("/api/v1/rooms/{doomed}/join"),
            &bob.access_token,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    // The other room is untouched.
    let msgs = app.all_messages(&bob, kept).await;
    assert_eq!(msgs.len(), 5);
    assert_eq!(
        msgs.iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(app.room(&bob, kept).await["member_count"], 2);
}

async fn list_rooms_visibility_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let id = |v: Value| v["id"].as_i64().unwrap();
    let general = id(app.create_room(&alice, "General", false).await);
    let random = id(app.create_room(&alice, "random", false).await);
    let alice_secret = id(app.create_room(&alice, "alice's secret", true).await);
    let bob_secret = id(app.create_room(&bob, "bob's secret general", true).await);
    let sale = id(app.create_room(&bob, "50% off", false).await);
    let percent = id(app.create_room(&bob, "50 percent", false).await);
    let under = id(app.create_room(&bob, "a_b", false).await);
    let axb = id(app.create_room(&bob, "axb", false).await);
    let umlaut = id(app.create_room(&bob, "Grüße", false).await);
    let upper = id(app.create_room(&bob, "ÜBER ÉTÉ", false).await);

    let list = |who: &Session, q: &str| {
        let path = if q.is_empty() {
            "/api/v1/rooms".to_owned()
        } else {
            format!("/api/v1/rooms?{q}")
        };
        let who = who.clone();
        let app = &app;
        async move {
            let mut got = ids(&app.walk_pages(&who, &path, 100).await);
            got.sort_unstable();
            got
        }
    };

    // Public rooms and one's own private rooms; never someone else's private room.
    assert_eq!(
        list(&alice, "").await,
        [
            general,
            random,
            alice_secret,
            sale,
            percent,
            under,
            axb,
            umlaut,
            upper
        ]
    );
    assert_eq!(
        list(&bob, "").await,
        [general, random, bob_secret, sale, percent, under, axb, umlaut, upper]
    );
    // mine=true: only rooms one is in (owned, joined), private or not.
    assert_eq!(
        list(&alice, "mine=true").await,
        [general, random, alice_secret]
    );
    app.join(&alice, sale).await;
    assert_eq!(
        list(&alice, "mine=true").await,
        [general, random, alice_secret, sale]
    );
    assert_eq!(list(&bob, "mine=false").await.len(), 9);

    // q: case-insensitive substring of the name.
    assert_eq!(list(&alice, "q=general").await, [general]);
    assert_eq!(list(&bob, "q=GENERAL").await, [general, bob_secret]);
    assert_eq!(list(&alice, "q=NeRa").await, [general]);
    assert_eq!(list(&alice, "q=secret").await, [alice_secret]);
    assert_eq!(list(&alice, "q=nothing-like-it").await, Vec::<i64>::new());
    assert_eq!(list(&alice, "q=general&mine=true").await, [general]);
    assert_eq!(list(&bob, "q=general&mine=true").await, [bob_secret]);
    // Case-insensitive beyond ASCII too.
    assert_eq!(
        list(&alice, &query_string(&[("q", "grüße")])).await,
        [umlaut]
    );
    assert_eq!(list(&alice, &query_string(&[("q", "GRÜ")])).await, [umlaut]);
    assert_eq!(list(&alice, &query_string(&[("q", "über")])).await, [upper]);
    assert_eq!(
        list(&alice, &query_string(&[("q", "r été")])).await,
        [upper]
    );
    // LIKE wildcards in q are literal characters.
    assert_eq!(list(&alice, &query_string(&[("q", "%")])).await, [sale]);
    assert_eq!(list(&alice, &query_string(&[("q", "50%")])).await, [sale]);
    assert_eq!(list(&alice, &query_string(&[("q", "_")])).await, [under]);
    assert_eq!(list(&alice, &query_string(&[("q", "a_b")])).await, [under]);
    assert_eq!(
        list(&alice, &query_string(&[("q", "\\")])).await,
        Vec::<i64>::new()
    );
    // A blank q is no filter.
    assert_eq!(list(&alice, "q=").await.len(), 9);
}

async fn list_rooms_pagination_walk(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let users = app.register_many("u", 3).await;
    let viewer = app.register("viewer").await;
    let mut visible = Vec::new();
    let mut joined = Vec::new();
    for i in 0..23 {
        let owner = &users[i % 3];
        let private = i % 5 == 4;
        let id = app
            .create_room(owner, &format!("room {i:02}"), private)
            .await["id"]
            .as_i64()
            .unwrap();
        if !private {
            visible.push(id);
        }
        if i % 4 == 0 && !private {
            app.join(&viewer, id).await;
            joined.push(id);
        }
        if i % 7 == 0 {
            // The viewer's own private rooms are listed to it.
            let own = app
                .create_room(&viewer, &format!("viewer {i:02}"), true)
                .await["id"]
                .as_i64()
                .unwrap();
            visible.push(own);
            joined.push(own);
        }
    }
    visible.sort_unstable();
    joined.sort_unstable();
    assert!(visible.len() > 15);

    for limit in [1, 2, 5, visible.len(), visible.len() + 1, 100] {
        let all = ids(&app.walk_pages(&viewer, "/api/v1/rooms", limit).await);
        assert_eq!(
            all, visible,
            "limit {limit}: every visible room exactly once, in id order"
        );
        let mine = ids(&app
            .walk_pages(&viewer, "/api/v1/rooms?mine=true", limit)
            .await);
        assert_eq!(mine, joined, "limit {limit}, mine=true");
    }
    let filtered = ids(&app.walk_pages(&viewer, "/api/v1/rooms?q=room%201", 2).await);
    assert_eq!(
        filtered.len(),
        10 - 2,
        "room 10..=19 minus the private 14 and 19"
    );
    let unique: HashSet<_> = filtered.iter().collect();
    assert_eq!(unique.len(), filtered.len());

    // Default page size 50, with no cursor when everything fits.
    let (status, page) = app.get("/api/v1/rooms", &viewer.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(page["items"].as_array().unwrap()), visible);
    assert_eq!(page["next_cursor"], Value::Null);

    // Bad limits and cursors.
    for limit in ["0", "101", "-1", "abc", "1.5"] {
        let resp = app
            .get(
                &format!("/api/v1/rooms?limit={limit}"),
                &viewer.access_token,
            )
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("limit"),
        );
    }
    assert_eq!(
        app.get("/api/v1/rooms?limit=100", &viewer.access_token)
            .await
            .0,
        StatusCode::OK
    );
    for cursor in ["garbage", "!!!", "cm9vbXM6eA", "bWVtYmVyczox"] {
        // "cm9vbXM6eA" is base64 of "rooms:x"; "bWVtYmVyczox" of "members:1" (another list's).
        let resp = app
            .get(
                &format!("/api/v1/rooms?cursor={cursor}"),
                &viewer.access_token,
            )
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("cursor"),
        );
    }
    let resp = app
        .get("/api/v1/rooms?mine=maybe", &viewer.access_token)
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("mine"),
    );
}

async fn join_is_idempotent_and_private_rooms_stay_hidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let public = app.create_room(&alice, "public", false).await["id"]
        .as_i64()
        .unwrap();
    let private = app.create_room(&alice, "private", true).await["id"]
        .as_i64()
        .unwrap();

    let member = app.join(&bob, public).await;
    assert_eq!(member["user"]["id"], bob.user_id);
    assert_eq!(member["user"]["username"], "bob");
    assert_eq!(member["role"], "member");
    assert!(member["joined_at"].is_string());
    assert_eq!(app.room(&bob, public).await["member_count"], 2);

    // Joining again answers the same membership and counts nobody twice.
    for _ in 0..3 {
        assert_eq!(app.join(&bob, public).await, member);
    }
    assert_eq!(app.room(&bob, public).await["member_count"], 2);
    // The owner joining its own room keeps its role.
    assert_eq!(app.join(&alice, public).await["role"], "owner");
    assert_eq!(app.room(&alice, public).await["member_count"], 2);

    // A private room cannot be joined, and does not admit it exists.
    let path = format!("/api/v1/rooms/{private}/join");
    let resp = app.post(&path, &bob.access_token, json!({})).await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(app.room(&alice, private).await["member_count"], 1);
    let resp = app
        .post("/api/v1/rooms/424242/join", &bob.access_token, json!({}))
        .await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    // Once added, the member may "join" it idempotently.
    let added = app.add_member(&alice, private, bob.user_id).await;
    assert_eq!(app.join(&bob, private).await, added);
}

async fn leaving(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&alice, "general", false).await["id"]
        .as_i64()
        .unwrap();
    let leave = format!("/api/v1/rooms/{room}/leave");
    app.join(&bob, room).await;
    app.send(&bob, room, "hi").await;

    let (status, body) = app.post(&leave, &bob.access_token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(app.room(&alice, room).await["member_count"], 1);
    // No longer a member: member-only calls are refused, leaving again too.
    let resp = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.access_token)
        .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);
    let resp = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            &bob.access_token,
            json!({"body": "x"}),
        )
        .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);
    assert_error(
        &app.post(&leave, &bob.access_token, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_eq!(app.room(&alice, room).await["member_count"], 1);
    assert!(mine(&app, &bob).await.is_empty());
    // The message stays, with its author.
    let msgs = app.all_messages(&alice, room).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["author"]["id"], bob.user_id);

    // The owner cannot leave.
    let resp = app.post(&leave, &alice.access_token, json!({})).await;
    assert_error(&resp, StatusCode::CONFLICT, "conflict", None);
    assert_eq!(app.room(&alice, room).await["member_count"], 1);
    assert_eq!(ids(&mine(&app, &alice).await), [room]);

    // Rejoining works.
    assert_eq!(app.join(&bob, room).await["role"], "member");
    assert_eq!(app.room(&alice, room).await["member_count"], 2);
}

async fn member_count_stays_right(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.register("owner").await;
    let users = app.register_many("m", 6).await;
    let room = app.create_room(&owner, "counted", false).await["id"]
        .as_i64()
        .unwrap();
    let private = app.create_room(&owner, "counted too", true).await["id"]
        .as_i64()
        .unwrap();

    async fn check(app: &TestApp, owner: &Session, room: i64, expected: i64) {
        let got = app.room(owner, room).await["member_count"]
            .as_i64()
            .unwrap();
        assert_eq!(got, expected, "member_count of room {room}");
        let members = app
            .walk_pages(owner, &format!("/api/v1/rooms/{room}/members"), 100)
            .await;
        assert_eq!(
            members.len() as i64,
            expected,
            "members listed in room {room}"
        );
        let listed = app.walk_pages(owner, "/api/v1/rooms?mine=true", 100).await;
        let in_list = listed.iter().find(|r| r["id"] == room).unwrap();
        assert_eq!(
            in_list["member_count"], expected,
            "member_count in the room list"
        );
    }

    check(&app, &owner, room, 1).await;
    for (i, u) in users.iter().enumerate() {
        app.join(u, room).await;
        check(&app, &owner, room, 2 + i as i64).await;
    }
    app.join(&users[0], room).await; // idempotent
    check(&app, &owner, room, 7).await;

    let leave = |u: &Session| {
        let path = format!("/api/v1/rooms/{room}/leave");
        let token = u.access_token.clone();
        let app = &app;
        async move { app.post(&path, &token, json!({})).await.0 }
    };
    assert_eq!(leave(&users[1]).await, StatusCode::NO_CONTENT);
    check(&app, &owner, room, 6).await;
    assert_eq!(leave(&users[1]).await, StatusCode::FORBIDDEN); // not a member any more
    check(&app, &owner, room, 6).await;
    assert_eq!(leave(&owner).await, StatusCode::CONFLICT);
    check(&app, &owner, room, 6).await;

    let kick = |target: i64| {
        let path = format!("/api/v1/rooms/{room}/members/{target}");
        let token = owner.access_token.clone();
        let app = &app;
        async move { app.delete(&path, &token).await.0 }
    };
    assert_eq!(kick(users[2].user_id).await, StatusCode::NO_CONTENT);
    check(&app, &owner, room, 5).await;
    assert_eq!(kick(users[2].user_id).await, StatusCode::NOT_FOUND); // already out
    check(&app, &owner, room, 5).await;
    assert_eq!(kick(users[1].user_id).await, StatusCode::NOT_FOUND); // left earlier
    check(&app, &owner, room, 5).await;
    assert_eq!(kick(owner.user_id).await, StatusCode::FORBIDDEN);
    check(&app, &owner, room, 5).await;

    // Rejoin after a kick and after a leave.
    app.join(&users[2], room).await;
    app.join(&users[1], room).await;
    check(&app, &owner, room, 7).await;

    // Adding to a private room; a duplicate add is refused and counts nothing.
    check(&app, &owner, private, 1).await;
    app.add_member(&owner, private, users[0].user_id).await;
    check(&app, &owner, private, 2).await;
    let resp = app
        .post(
            &format!("/api/v1/rooms/{private}/members"),
            &owner.access_token,
            json!({"user_id": users[0].user_id}),
        )
        .await;
    assert_error(&resp, StatusCode::CONFLICT, "conflict", None);
    check(&app, &owner, private, 2).await;
    check(&app, &owner, room, 7).await;
}

backend_tests!(
    create_room_answers_the_room,
    room_validation_stores_nothing,
    update_room,
    deleting_a_room_removes_its_messages,
    list_rooms_visibility_and_filters,
    list_rooms_pagination_walk,
    join_is_idempotent_and_private_rooms_stay_hidden,
    leaving,
    member_count_stays_right,
);
