//! Message search over REST: only the caller's rooms, highlighted, narrowed and paged, and bad
//! queries refused in the contract's shape.
use huddle_test_support::{assert_error, backend_tests, query_string, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

fn bodies(page: &Value) -> Vec<String> {
    let mut b: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"]["body"].as_str().unwrap().to_owned())
        .collect();
    b.sort();
    b
}

async fn search_finds_messages_of_the_callers_rooms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let open = app.create_room(&ann, "open", false).await["id"]
        .as_i64()
        .unwrap();
    let hidden = app.create_room(&bob, "hidden", true).await["id"]
        .as_i64()
        .unwrap();
    app.send(&ann, open, "The deploy of the kestrel service went fine")
        .await;
    app.send(&ann, open, "kestrel dashboards are slow").await;
    app.send(&bob, hidden, "kestrel secrets").await;
    let search = |who: &huddle_test_support::Session, params: &[(&str, &str)]| {
        let path = format!("/api/v1/search/messages?{}", query_string(params));
        let token = who.access_token.clone();
        let app = &app;
        async move { app.get(&path, &token).await }
    };

    let (status, page) = search(&ann, &[("q", "kestrel")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        bodies(&page),
        [
            "The deploy of the kestrel service went fine",
            "kestrel dashboards are slow"
        ]
    );
    // Highlights are character ranges of the snippet holding the word.
    for hit in page["items"].as_array().unwrap() {
        let snippet: Vec<char> = hit["snippet"].as_str().unwrap().chars().collect();
        let ranges = hit["highlights"].as_array().unwrap();
        assert!(!ranges.is_empty(), "{hit}");
        for r in ranges {
            let (a, b) = (
                r[0].as_u64().unwrap() as usize,
                r[1].as_u64().unwrap() as usize,
            );
            let word: String = snippet[a..b].iter().collect();
            assert_eq!(word.to_lowercase(), "kestrel");
        }
    }
    // Bob finds his private room's message; Ann never does, even naming the room.
    assert_eq!(
        bodies(&search(&bob, &[("q", "secrets")]).await.1),
        ["kestrel secrets"]
    );
    assert!(bodies(&search(&ann, &[("q", "secrets")]).await.1).is_empty());
    let hidden_id = hidden.to_string();
    assert_error(
        &search(&ann, &[("q", "kestrel"), ("room_id", &hidden_id)]).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    // Phrases, exclusions, an author, a room; then a page at a time.
    assert_eq!(
        bodies(&search(&ann, &[("q", "kestrel -slow")]).await.1),
        ["The deploy of the kestrel service went fine"]
    );
    assert_eq!(
        bodies(&search(&ann, &[("q", "\"kestrel dashboards\"")]).await.1),
        ["kestrel dashboards are slow"]
    );
    let bob_id = bob.user_id.to_string();
    assert!(bodies(
        &search(
            &bob,
            &[("q", "kestrel"), ("author_id", &ann.user_id.to_string())]
        )
        .await
        .1
    )
    .is_empty());
    assert_eq!(
        bodies(
            &search(&bob, &[("q", "kestrel"), ("author_id", &bob_id)])
                .await
                .1
        ),
        ["kestrel secrets"]
    );
    let (_, first) = search(&ann, &[("q", "kestrel"), ("limit", "1")]).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = search(
        &ann,
        &[("q", "kestrel"), ("limit", "1"), ("cursor", &cursor)],
    )
    .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(
        first["items"][0]["message"]["id"],
        second["items"][0]["message"]["id"]
    );
    assert_eq!(second["next_cursor"], Value::Null);
    // A time window.
    assert!(bodies(
        &search(&ann, &[("q", "kestrel"), ("after", "2999-01-01T00:00:00Z")])
            .await
            .1
    )
    .is_empty());
    assert_eq!(
        bodies(
            &search(
                &ann,
                &[("q", "kestrel"), ("before", "2999-01-01T00:00:00Z")]
            )
            .await
            .1
        )
        .len(),
        2
    );
}

async fn bad_searches_get_the_contracts_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let long = "w".repeat(10_000);
    for (params, field) in [
        (vec![("q", "")], "q"),
        (vec![("q", "-only -exclusions")], "q"),
        (vec![("q", "!!! ???")], "q"),
        (vec![("q", long.as_str())], "q"),
        (vec![("q", "a\u{0}b")], "q"),
        (vec![("q", "x"), ("limit", "0")], "limit"),
        (vec![("q", "x"), ("limit", "51")], "limit"),
        (vec![("q", "x"), ("cursor", "nope")], "cursor"),
        (vec![("q", "x"), ("after", "yesterday")], "after"),
        (vec![("q", "x"), ("room_id", "one")], "room_id"),
    ] {
        let path = format!("/api/v1/search/messages?{}", query_string(&params));
        assert_error(
            &app.get(&path, &ann.access_token).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
    }
    assert_error(
        &app.get("/api/v1/search/messages", &ann.access_token).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("q"),
    );
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/search/messages?q=x",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

backend_tests!(
    search_finds_messages_of_the_callers_rooms,
    bad_searches_get_the_contracts_errors
);
