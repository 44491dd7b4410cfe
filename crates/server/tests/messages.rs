//! Messages: posting and its validation, editing, deleting, the history window and its walks,
//! idempotent retries, and `seq` under concurrency.
use std::collections::HashSet;
use std::sync::Arc;

use huddle_test_support::{assert_error, backend_tests, ids, Backend, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn seqs(items: &[Value]) -> Vec<i64> {
    items.iter().map(|m| m["seq"].as_i64().unwrap()).collect()
}

async fn history(app: &TestApp, who: &Session, room: i64, query: &str) -> (StatusCode, Value) {
    app.get(
        &format!("/api/v1/rooms/{room}/messages{query}"),
        &who.access_token,
    )
    .await
}

async fn post(app: &TestApp, who: &Session, room: i64, body: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        &who.access_token,
        body,
    )
    .await
}

/// A room owned by alice, joined by bob.
async fn setup(app: &TestApp) -> (Session, Session, i64) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let room = app.create_room(&alice, "chat", false).await["id"]
        .as_i64()
        .unwrap();
    app.join(&bob, room).await;
    (alice, bob, room)
}

async fn posting_answers_the_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, room) = setup(&app).await;
    let (status, m) = post(&app, &bob, room, json!({"body": "  hello\n  world  "})).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert!(m["id"].as_i64().is_some());
    assert_eq!(m["room_id"], room);
    assert_eq!(m["seq"], 1);
    assert_eq!(
        m["body"], "  hello\n  world  ",
        "bodies keep their whitespace"
    );
    assert_eq!(m["author"]["id"], bob.user_id);
    assert_eq!(m["author"]["username"], "bob");
    assert_eq!(m["client_msg_id"], Value::Null);
    assert_eq!(m["edited_at"], Value::Null);
    assert_eq!(m["deleted"], false);
    assert!(m["created_at"].is_string());
    assert_eq!(
        m["attachments"],
        json!([]),
        "a message without files has none"
    );
    let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attachments",
            "author",
            "body",
            "client_msg_id",
            "created_at",
            "deleted",
            "edited_at",
            "id",
            "mentions",
            "mentions_room",
            "reactions",
            "reply_to",
            "room_id",
            "seq"
        ]
    );
    assert_eq!(
        (&m["reply_to"], &m["mentions"], &m["mentions_room"]),
        (&Value::Null, &json!([]), &json!(false)),
        "a plain message answers none and mentions no one"
    );
    assert_eq!(
        m["reactions"],
        json!([]),
        "a message just sent has no reactions"
    );

    let m2 = app.send(&alice, room, "second").await;
    assert_eq!(m2["seq"], 2);
    let (status, m3) = post(
        &app,
        &alice,
        room,
        json!({"body": "third", "client_msg_id": "c-3"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(m3["seq"], 3);
    assert_eq!(m3["client_msg_id"], "c-3");
    assert_eq!(app.room(&alice, room).await["last_seq"], 3);

    // Reading it back gives the same objects.
    let (status, page) = history(&app, &bob, room, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"], json!([m, m2, m3]));
    assert_eq!(page["has_more"], false);

    // Seqs are per room.
    let other = app.create_room(&bob, "other", false).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.send(&bob, other, "first here").await["seq"], 1);
}

async fn message_validation_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, _bob, room) = setup(&app).await;
    app.send(&alice, room, "before").await;
    let cases = [
        (json!({"body": ""}), "body"),
        (json!({"body": "   "}), "body"),
        (json!({"body": "\n\t \r\n"}), "body"),
        (json!({"body": "a".repeat(4001)}), "body"),
        (json!({"body": "🙂".repeat(4001)}), "body"),
        (json!({}), "body"),
        (json!({"client_msg_id": "x"}), "body"),
        (json!({"body": 42}), "body"),
        (json!({"body": ["hi"]}), "body"),
        (json!({"body": null}), "body"),
        (json!({"body": "ok", "client_msg_id": ""}), "client_msg_id"),
        (
            json!({"body": "ok", "client_msg_id": "c".repeat(65)}),
            "client_msg_id",
        ),
        (json!({"body": "ok", "client_msg_id": 7}), "client_msg_id"),
    ];
    for (body, field) in cases {
        let resp = post(&app, &alice, room, body.clone()).await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
        let all = app.all_messages(&alice, room).await;
        assert_eq!(seqs(&all), [1], "{body} stored something");
        assert_eq!(
            app.room(&alice, room).await["last_seq"],
            1,
            "{body} moved last_seq"
        );
    }

    // Lengths count characters: 4000 emoji (16000 bytes) and 4000 "a" are fine.
    let long = "🙂".repeat(4000);
    let m = app.send(&alice, room, &long).await;
    assert_eq!(m["body"], long.as_str());
    assert_eq!(m["seq"], 2, "the refused posts left no gap");
    let m = app.send(&alice, room, &"a".repeat(4000)).await;
    assert_eq!(m["seq"], 3);
    let (status, m) = post(
        &app,
        &alice,
        room,
        json!({"body": "ok", "client_msg_id": "ü".repeat(64)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let stored = app.all_messages(&alice, room).await;
    assert_eq!(stored[1]["body"].as_str().unwrap().chars().count(), 4000);
}

async fn editing_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, room) = setup(&app).await;
    let carol = app.register("carol").await;
    app.join(&carol, room).await;
    app.set_role(&alice, room, carol.user_id, "admin").await;
    let original = app.send(&bob, room, "original").await;
    let mid = original["id"].as_i64().unwrap();
    let path = format!("/api/v1/rooms/{room}/messages/{mid}");

    let (status, edited) = app
        .patch(&path, &bob.access_token, json!({"body": "edited ✓"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["body"], "edited ✓");
    assert_eq!(edited["id"], mid);
    assert_eq!(edited["seq"], original["seq"], "an edit keeps the seq");
    assert_eq!(edited["created_at"], original["created_at"]);
    assert!(edited["edited_at"].is_string());
    assert_eq!(app.all_messages(&alice, room).await, vec![edited.clone()]);

    // Only the author edits; bad bodies are refused. Nothing changes.
    let refused = [
        (
            &alice,
            json!({"body": "owner's"}),
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        ),
        (
            &carol,
            json!({"body": "admin's"}),
            StatusCode::FORBIDDEN,
            "forbidden",
            None,
        ),
        (
            &bob,
            json!({"body": ""}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("body"),
        ),
        (
            &bob,
            json!({"body": "  "}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("body"),
        ),
        (
            &bob,
            json!({"body": "x".repeat(4001)}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("body"),
        ),
        (
            &bob,
            json!({"body": false}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("body"),
        ),
        (
            &bob,
            json!({}),
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("body"),
        ),
    ];
    for (who, body, status, code, field) in refused {
        let resp = app.patch(&path, &who.access_token, body.clone()).await;
        assert_error(&resp, status, code, field);
        assert_eq!(
            app.all_messages(&alice, room).await,
            vec![edited.clone()],
            "{body} by {}",
            who.username
        );
    }
    // Unknown message ids.
    for bad in ["999999", "abc"] {
        let resp = app
            .patch(
                &format!("/api/v1/rooms/{room}/messages/{bad}"),
                &bob.access_token,
                json!({"body": "x"}),
            )
            .await;
        assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    }

    // A deleted message cannot be edited.
    let (status, _) = app.delete(&path, &bob.access_token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let resp = app
        .patch(&path, &bob.access_token, json!({"body": "resurrected"}))
        .await;
    assert_error(&resp, StatusCode::CONFLICT, "conflict", None);
    let all = app.all_messages(&alice, room).await;
    assert_eq!(all[0]["body"], "");
    assert_eq!(all[0]["deleted"], true);
}

async fn deleting_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, room) = setup(&app).await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    app.join(&carol, room).await;
    app.join(&dave, room).await;
    app.set_role(&alice, room, carol.user_id, "admin").await;
    let mut sent = Vec::new();
    for (who, text) in [
        (&bob, "b1"),
        (&bob, "b2"),
        (&bob, "b3"),
        (&alice, "a4"),
        (&dave, "d5"),
    ] {
        sent.push(app.send(who, room, text).await["id"].as_i64().unwrap());
    }
    let path = |i: usize| format!("/api/v1/rooms/{room}/messages/{}", sent[i]);

    // A plain member may not delete someone else's message; nothing changes.
    let before = app.all_messages(&alice, room).await;
    assert_error(
        &app.delete(&path(0), &dave.access_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_error(
        &app.delete(&path(3), &bob.access_token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        None,
    );
    assert_eq!(app.all_messages(&alice, room).await, before);

    // The author, an admin and the owner may.
    assert_eq!(
        app.delete(&path(0), &bob.access_token).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path(1), &carol.access_token).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path(2), &alice.access_token).await.0,
        StatusCode::NO_CONTENT
    );
    // An admin may delete the owner's message too.
    assert_eq!(
        app.delete(&path(3), &carol.access_token).await.0,
        StatusCode::NO_CONTENT
    );
    // Twice is fine.
    let (status, body) = app.delete(&path(0), &bob.access_token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        app.delete(&path(1), &alice.access_token).await.0,
        StatusCode::NO_CONTENT
    );

    // Deleted messages keep their seq, with an empty body; the others are untouched.
    let after = app.all_messages(&bob, room).await;
    assert_eq!(seqs(&after), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&after), sent);
    for (i, m) in after.iter().enumerate() {
        if i < 4 {
            assert_eq!(m["deleted"], true, "{m}");
            assert_eq!(m["body"], "", "{m}");
            assert_eq!(m["author"], before[i]["author"], "the author stays");
        } else {
            assert_eq!(m, &before[i]);
        }
    }
    // Posting continues after the deleted ones.
    assert_eq!(app.send(&dave, room, "d6").await["seq"], 6);
    assert_eq!(app.room(&alice, room).await["last_seq"], 6);
}

async fn history_window_and_bounds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, room) = setup(&app).await;
    let (status, empty) = history(&app, &alice, room, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"items": [], "has_more": false}));

    for i in 1..=120 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        app.send(who, room, &format!("m{i}")).await;
    }
    let check = |q: &'static str, expected: Vec<i64>, more: bool| {
        let app = &app;
        let alice = &alice;
        async move {
            let (status, page) = history(app, alice, room, q).await;
            assert_eq!(status, StatusCode::OK, "{q}: {page}");
            let items = page["items"].as_array().unwrap();
            assert_eq!(seqs(items), expected, "{q}");
            for m in items {
                assert_eq!(m["body"], format!("m{}", m["seq"]), "{q}");
            }
            assert_eq!(page["has_more"], more, "{q}: has_more");
        }
    };
    // Default: the newest 50, ascending.
    check("", (71..=120).collect(), true).await;
    check("?limit=200", (1..=120).collect(), false).await;
    check("?limit=120", (1..=120).collect(), false).await;
    check("?limit=119", (2..=120).collect(), true).await;
    check("?limit=1", (120..=120).collect(), true).await;
    check("?before_seq=10", (1..=9).collect(), false).await;
    check("?before_seq=10&limit=9", (1..=9).collect(), false).await;
    check("?before_seq=10&limit=8", (2..=9).collect(), true).await;
    check("?before_seq=1", vec![], false).await;
    check("?before_seq=100&limit=5", (95..=99).collect(), true).await;
    check("?before_seq=500&limit=3", (118..=120).collect(), true).await;
    check("?after_seq=0&limit=5", (1..=5).collect(), true).await;
    check("?after_seq=110", (111..=120).collect(), false).await;
    check("?after_seq=115&limit=5", (116..=120).collect(), false).await;
    check("?after_seq=114&limit=5", (115..=119).collect(), true).await;
    check("?after_seq=120", vec![], false).await;
    check("?after_seq=9999", vec![], false).await;

    let bad = [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=ten", "limit"),
        ("?before_seq=5&after_seq=1", "before_seq"),
        ("?before_seq=0", "before_seq"),
        ("?before_seq=-3", "before_seq"),
        ("?after_seq=-1", "after_seq"),
        ("?after_seq=x", "after_seq"),
        ("?before_seq=1.5", "before_seq"),
    ];
    for (q, field) in bad {
        let resp = history(&app, &alice, room, q).await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
    }
}

async fn history_walks_backwards_and_forwards(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, room) = setup(&app).await;
    let total = 137;
    for i in 1..=total {
        let who = if i % 3 == 0 { &alice } else { &bob };
        app.send(who, room, &format!("m{i}")).await;
    }
    // A few deleted ones stay in the walk.
    let (_, page) = history(&app, &alice, room, "?after_seq=40&limit=3").await;
    for m in page["items"].as_array().unwrap() {
        let (status, _) = app
            .delete(
                &format!("/api/v1/rooms/{room}/messages/{}", m["id"]),
                &alice.access_token,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let all: Vec<i64> = (1..=total).collect();

    for limit in [1, 7, 25, 50, 137, 200] {
        // Backwards: newest page first, then before the oldest seen.
        let mut seen: Vec<i64> = Vec::new();
        let mut ids_seen = HashSet::new();
        let (status, mut page) = history(&app, &bob, room, &format!("?limit={limit}")).await;
        assert_eq!(status, StatusCode::OK);
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(
                pages <= total + 1,
                "limit {limit}: the backward walk does not end"
            );
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= limit as usize);
            let page_seqs = seqs(items);
            assert!(
                page_seqs.windows(2).all(|w| w[0] < w[1]),
                "ascending within a page"
            );
            for m in items {
                assert!(
                    ids_seen.insert(m["id"].as_i64().unwrap()),
                    "limit {limit}: {m} repeated"
                );
            }
            let mut next = page_seqs.clone();
            next.extend(seen);
            seen = next;
            if page["has_more"] == false {
                break;
            }
            assert_eq!(
                items.len(),
                limit as usize,
                "a page with more behind it is full"
            );
            let oldest = page_seqs[0];
            let (status, p) = history(
                &app,
                &bob,
                room,
                &format!("?before_seq={oldest}&limit={limit}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            page = p;
        }
        assert_eq!(
            seen, all,
            "limit {limit}: backwards, nothing missing or repeated"
        );

        // Forwards from the start.
        let mut seen: Vec<i64> = Vec::new();
        let mut after = 0;
        loop {
            let (status, page) = history(
                &app,
                &bob,
                room,
                &format!("?after_seq={after}&limit={limit}"),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let items = page["items"].as_array().unwrap();
            seen.extend(seqs(items));
            if page["has_more"] == false {
                break;
            }
            assert_eq!(items.len(), limit as usize);
            after = *seen.last().unwrap();
            assert!(
                seen.len() <= all.len(),
                "limit {limit}: the forward walk does not end"
            );
        }
        assert_eq!(
            seen, all,
            "limit {limit}: forwards, nothing missing or repeated"
        );
    }
    let walked = app.all_messages(&alice, room).await;
    assert_eq!(walked.iter().filter(|m| m["deleted"] == true).count(), 3);
}

async fn idempotent_retries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, room) = setup(&app).await;
    let (status, first) = post(
        &app,
        &alice,
        room,
        json!({"body": "hello", "client_msg_id": "abc-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // The retry answers 200 with the first message, even with another body.
    for body in ["hello", "hello (edited before retry)"] {
        let (status, again) = post(
            &app,
            &alice,
            room,
            json!({"body": body, "client_msg_id": "abc-1"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again, first);
    }
    assert_eq!(app.all_messages(&bob, room).await, vec![first.clone()]);
    assert_eq!(app.room(&alice, room).await["last_seq"], 1);

    // A retry leaves no gap in the seqs.
    let (status, second) = post(
        &app,
        &alice,
        room,
        json!({"body": "next", "client_msg_id": "abc-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["seq"], 2);
    // Another author may use the same id; so may the same author in another room.
    let (status, bobs) = post(
        &app,
        &bob,
        room,
        json!({"body": "mine", "client_msg_id": "abc-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bobs}");
    assert_eq!(bobs["seq"], 3);
    assert_ne!(bobs["id"], first["id"]);
    let other = app.create_room(&alice, "other", false).await["id"]
        .as_i64()
        .unwrap();
    let (status, elsewhere) = post(
        &app,
        &alice,
        other,
        json!({"body": "hi", "client_msg_id": "abc-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(elsewhere["seq"], 1);
    // Bob's retry finds Bob's message, not Alice's.
    let (status, bobs_again) = post(
        &app,
        &bob,
        room,
        json!({"body": "mine", "client_msg_id": "abc-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bobs_again, bobs);
    // Without client_msg_id, identical bodies are separate messages.
    assert_eq!(app.send(&alice, room, "same").await["seq"], 4);
    assert_eq!(app.send(&alice, room, "same").await["seq"], 5);

    // A retry of a message edited or deleted since answers it as it is now.
    let path = format!("/api/v1/rooms/{room}/messages/{}", second["id"]);
    let (_, edited) = app
        .patch(&path, &alice.access_token, json!({"body": "next, edited"}))
        .await;
    let (status, again) = post(
        &app,
        &alice,
        room,
        json!({"body": "next", "client_msg_id": "abc-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, edited);
    app.delete(&path, &alice.access_token).await;
    let (status, again) = post(
        &app,
        &alice,
        room,
        json!({"body": "next", "client_msg_id": "abc-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["deleted"], true);
    assert_eq!(again["seq"], 2);

    let all = app.all_messages(&bob, room).await;
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5]);
    assert_eq!(app.room(&alice, room).await["last_seq"], 5);
    // A retry from someone who has since left is refused like any post.
    let (status, _) = app
        .post(
            &format!("/api/v1/rooms/{room}/leave"),
            &bob.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let resp = post(
        &app,
        &bob,
        room,
        json!({"body": "mine", "client_msg_id": "abc-1"}),
    )
    .await;
    assert_error(&resp, StatusCode::FORBIDDEN, "forbidden", None);
}

async fn sixty_concurrent_posts_get_seqs_one_to_sixty(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let owner = app.register("owner").await;
    let room = app.create_room(&owner, "busy", false).await["id"]
        .as_i64()
        .unwrap();
    let mut users = app.register_many("poster", 5).await;
    for u in &users {
        app.join(u, room).await;
    }
    users.push(owner.clone());

    let mut tasks = Vec::new();
    for i in 0..60 {
        let app = app.clone();
        let who = users[i % users.len()].clone();
        tasks.push(tokio::spawn(async move {
            let resp = post(&app, &who, room, json!({"body": format!("msg {i}")})).await;
            (i, who.user_id, resp)
        }));
    }
    let mut returned = Vec::new();
    for t in tasks {
        let (i, author, (status, m)) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "post {i}: {m}");
        assert_eq!(m["body"], format!("msg {i}"));
        assert_eq!(m["author"]["id"], author);
        returned.push(m);
    }
    let mut got = seqs(&returned);
    got.sort_unstable();
    assert_eq!(
        got,
        (1..=60).collect::<Vec<_>>(),
        "each seq exactly once, no gap"
    );

    let stored = app.all_messages(&owner, room).await;
    assert_eq!(seqs(&stored), (1..=60).collect::<Vec<_>>());
    let unique_ids: HashSet<i64> = ids(&stored).into_iter().collect();
    assert_eq!(unique_ids.len(), 60);
    // What each poster was told is what is stored.
    for m in &returned {
        let s = &stored[(m["seq"].as_i64().unwrap() - 1) as usize];
        assert_eq!(s, m);
    }
    assert_eq!(app.room(&owner, room).await["last_seq"], 60);
}

async fn concurrent_retries_store_once(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let (alice, bob, room) = setup(&app).await;
    app.send(&bob, room, "before").await;
    // Noise from another author at the same time must not disturb the seqs either.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let app = app.clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &app,
                &alice,
                room,
                json!({"body": format!("attempt {i}"), "client_msg_id": "same-id"}),
            )
            .await
        }));
    }
    let mut noise = Vec::new();
    for i in 0..5 {
        let app = app.clone();
        let bob = bob.clone();
        noise.push(tokio::spawn(async move {
            post(&app, &bob, room, json!({"body": format!("noise {i}")})).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    for t in noise {
        assert_eq!(t.await.unwrap().0, StatusCode::CREATED);
    }
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let retried = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(
        (created, retried),
        (1, 9),
        "one store, nine retries: {answers:?}"
    );
    let first = &answers
        .iter()
        .find(|(s, _)| *s == StatusCode::CREATED)
        .unwrap()
        .1;
    for (_, m) in &answers {
        assert_eq!(m, first, "every answer carries the stored message");
    }

    let stored = app.all_messages(&alice, room).await;
    assert_eq!(
        seqs(&stored),
        (1..=7).collect::<Vec<_>>(),
        "1 before + 1 stored + 5 noise, no gap"
    );
    assert_eq!(
        stored
            .iter()
            .filter(|m| m["client_msg_id"] == "same-id")
            .count(),
        1
    );
    assert_eq!(app.room(&alice, room).await["last_seq"], 7);
    assert_eq!(app.send(&alice, room, "after").await["seq"], 8);
}

/// Posts by non-members, concurrent with members' posts (so they share the writer's batches):
/// a public room's non-member gets 403, a private room's non-member and a missing room 404;
/// none uses a seq, and the members' posts get 1..n.
async fn refused_posts_use_no_seq(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let (alice, bob, public) = setup(&app).await;
    let private = app.create_room(&alice, "secret", true).await["id"]
        .as_i64()
        .unwrap();
    let carol = app.register("carol").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app = app.clone();
        let (who, room, want) = match i % 5 {
            0 => (alice.clone(), private, StatusCode::CREATED),
            1 | 2 => (bob.clone(), public, StatusCode::CREATED),
            3 => (carol.clone(), public, StatusCode::FORBIDDEN),
            _ if i % 2 == 0 => (bob.clone(), private, StatusCode::NOT_FOUND),
            _ => (carol.clone(), private + 1000, StatusCode::NOT_FOUND),
        };
        tasks.push(tokio::spawn(async move {
            let resp = post(&app, &who, room, json!({"body": format!("m{i}")})).await;
            (i, want, resp)
        }));
    }
    for t in tasks {
        let (i, want, resp) = t.await.unwrap();
        match want {
            StatusCode::CREATED => assert_eq!(resp.0, want, "post {i}: {}", resp.1),
            StatusCode::FORBIDDEN => {
                assert_error(&resp, want, "forbidden", None);
                assert_eq!(
                    resp.1["error"]["message"],
                    "you are not a member of this room"
                );
            }
            _ => {
                assert_error(&resp, want, "not_found", None);
                assert_eq!(resp.1["error"]["message"], "room not found");
            }
        }
    }
    let stored = app.all_messages(&alice, public).await;
    assert_eq!(seqs(&stored), (1..=16).collect::<Vec<_>>());
    let stored = app.all_messages(&alice, private).await;
    assert_eq!(seqs(&stored), (1..=8).collect::<Vec<_>>());
    assert_eq!(app.room(&alice, public).await["last_seq"], 16);
    assert_eq!(app.room(&alice, private).await["last_seq"], 8);
}

backend_tests!(
    refused_posts_use_no_seq,
    posting_answers_the_message,
    message_validation_stores_nothing,
    editing_messages,
    deleting_messages,
    history_window_and_bounds,
    history_walks_backwards_and_forwards,
    idempotent_retries,
    sixty_concurrent_posts_get_seqs_one_to_sixty,
    concurrent_retries_store_once,
);
