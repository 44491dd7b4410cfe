//! Profiles: reading one's own and others', editing, and the validation of edits.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

async fn profile_read_and_update(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let (status, me) = app.get("/api/v1/users/me", &alice.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], alice.user_id);
    assert_eq!(me["username"], "alice");

    let (status, updated) = app
        .patch(
            "/api/v1/users/me",
            &alice.access_token,
            json!({"display_name": "  Alice Ä.  ", "bio": "Hi 👋"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["display_name"], "Alice Ä.", "trimmed");
    assert_eq!(updated["bio"], "Hi 👋");
    assert_eq!(updated["id"], alice.user_id);
    assert_eq!(updated["username"], "alice");
    assert_eq!(updated["created_at"], me["created_at"]);

    // Fields left out are kept; an empty bio clears it.
    let (status, updated) = app
        .patch("/api/v1/users/me", &alice.access_token, json!({"bio": ""}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["display_name"], "Alice Ä.");
    assert_eq!(updated["bio"], "");
    let (status, same) = app
        .patch("/api/v1/users/me", &alice.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, updated);

    // Others see the profile; nobody edits someone else's (there is no such route).
    let (status, seen) = app
        .get(
            &format!("/api/v1/users/{}", alice.user_id),
            &bob.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The public profile is one's own without one's settings.
    assert_eq!(updated["share_read_receipts"], true);
    let mut public = updated.clone();
    public
        .as_object_mut()
        .unwrap()
        .remove("share_read_receipts");
    assert_eq!(seen, public);
    assert!(seen.get("share_read_receipts").is_none());
    let resp = app
        .patch(
            &format!("/api/v1/users/{}", alice.user_id),
            &bob.access_token,
            json!({"bio": "pwned"}),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    );
    let (_, after) = app.get("/api/v1/users/me", &alice.access_token).await;
    assert_eq!(after["bio"], "");

    // Unknown and malformed ids.
    let resp = app.get("/api/v1/users/999999", &bob.access_token).await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    let resp = app.get("/api/v1/users/abc", &bob.access_token).await;
    assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
}

async fn profile_validation_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let (_, before) = app
        .patch(
            "/api/v1/users/me",
            &alice.access_token,
            json!({"display_name": "Alice", "bio": "original"}),
        )
        .await;

    let cases = [
        (json!({"display_name": ""}), "display_name"),
        (json!({"display_name": "   "}), "display_name"),
        (json!({"display_name": "ü".repeat(65)}), "display_name"),
        (json!({"display_name": "tab\there"}), "display_name"),
        (json!({"bio": "ü".repeat(501)}), "bio"),
        // One bad field spoils the whole request: the good one is not applied either.
        (
            json!({"display_name": "New name", "bio": "b".repeat(501)}),
            "bio",
        ),
        (json!({"display_name": 7}), "display_name"),
        (json!({"bio": {"text": "x"}}), "bio"),
    ];
    for (body, field) in cases {
        let resp = app
            .patch("/api/v1/users/me", &alice.access_token, body)
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
        let (_, now) = app.get("/api/v1/users/me", &alice.access_token).await;
        assert_eq!(now, before, "a refused edit changes nothing");
    }

    // The limits count characters: 64 and 500 multi-byte characters are fine.
    let (status, ok) = app
        .patch(
            "/api/v1/users/me",
            &alice.access_token,
            json!({"display_name": "ü".repeat(64), "bio": "🙂".repeat(500)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["display_name"].as_str().unwrap().chars().count(), 64);
    assert_eq!(ok["bio"].as_str().unwrap().chars().count(), 500);
}

async fn the_directory_finds_people_by_name_prefix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let alfred = app.register("Alfred").await;
    let bob = app.register("bob").await;
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            Some(&bob.access_token),
            Some(json!({"display_name": "Über Alpha"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids = |body: &serde_json::Value| -> Vec<i64> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    };
    // Username or display name, case-insensitively; users carry no private fields.
    let (status, body) = app.get("/api/v1/users?q=AL", &alice.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body), [alice.user_id, alfred.user_id]);
    assert!(body["items"][0].get("password_hash").is_none());
    let (_, body) = app
        .get("/api/v1/users?q=%C3%BCber", &alice.access_token)
        .await;
    assert_eq!(ids(&body), [bob.user_id]);
    // Paged: every user once, in id order.
    let all = app.walk_pages(&alice, "/api/v1/users", 1).await;
    let walked: Vec<i64> = all.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(walked, [alice.user_id, alfred.user_id, bob.user_id]);
    // Bad input gets the contract's shape; signed-out callers get nothing.
    assert_error(
        &app.get("/api/v1/users?q=a%00", &alice.access_token).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("q"),
    );
    assert_error(
        &app.get("/api/v1/users?limit=0", &alice.access_token).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("limit"),
    );
    assert_error(
        &app.get("/api/v1/users?cursor=nope", &alice.access_token)
            .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("cursor"),
    );
    assert_error(
        &app.get("/api/v1/users", "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
}

backend_tests!(
    profile_read_and_update,
    profile_validation_changes_nothing,
    the_directory_finds_people_by_name_prefix
);
