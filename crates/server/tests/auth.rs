//! Registration, login, refresh-token rotation with reuse detection, logout, password change,
//! expiry of access tokens, and the login rate limit.
use std::time::Duration;

use huddle_test_support::{assert_error, backend_tests, session_from, Backend, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn register_raw(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/api/v1/auth/register", None, Some(body))
        .await
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.get("/api/v1/users/me", token).await
}

async fn logout(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

fn assert_session(body: &Value, username: &str) {
    assert_eq!(body["user"]["username"], username, "{body}");
    assert!(body["user"]["id"].as_i64().is_some(), "{body}");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "a JWT: {body}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32),
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900, "default access lifetime is 15 min");
    let text = body.to_string();
    assert!(
        !text.contains("password"),
        "no password or hash in a session: {text}"
    );
    assert!(!text.contains("$2"), "no bcrypt hash in a session: {text}");
}

async fn register_answers_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) =
        register_raw(&app, json!({"username": "alice", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_session(&body, "alice");
    let user = &body["user"];
    assert_eq!(
        user["display_name"], "alice",
        "display_name defaults to the username"
    );
    assert_eq!(user["bio"], "");
    assert!(user["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z') || t.ends_with("+00:00")));
    let mut keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["bio", "created_at", "display_name", "id", "username"]
    );

    // The access token works.
    let (status, me_body) = me(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    // One's own profile adds one's settings to the user the session names.
    let mut settings = me_body.clone();
    let settings = settings.as_object_mut().unwrap();
    assert_eq!(settings.remove("share_read_receipts"), Some(json!(true)));
    assert_eq!(&Value::Object(settings.clone()), user);

    // A display name given at registration is kept, trimmed.
    let (status, body) = register_raw(
        &app,
        json!({"username": "bob", "password": PASSWORD, "display_name": "  Bob Ü  "}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["display_name"], "Bob Ü");
}

async fn register_validates_and_stores_nothing_bad(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({"username": "ab", "password": PASSWORD}), "username"),
        (
            json!({"username": "a".repeat(33), "password": PASSWORD}),
            "username",
        ),
        (json!({"username": "", "password": PASSWORD}), "username"),
        (
            json!({"username": "ann smith", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "änne", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "ann/x", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "annie", "password": "1234567"}),
            "password",
        ),
        (json!({"username": "annie", "password": ""}), "password"),
        (
            json!({"username": "annie", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"username": "annie", "password": PASSWORD, "display_name": "   "}),
            "display_name",
        ),
        (
            json!({"username": "annie", "password": PASSWORD, "display_name": "d".repeat(65)}),
            "display_name",
        ),
        (json!({"password": PASSWORD}), "username"),
        (json!({"username": "annie"}), "password"),
        (json!({"username": 42, "password": PASSWORD}), "username"),
        (json!({"username": "annie", "password": ["x"]}), "password"),
    ];
    for (body, field) in cases {
        let resp = register_raw(&app, body.clone()).await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some(field),
        );
        // Nothing was stored: the name is still free and cannot log in.
        if let Some(name) = body["username"].as_str() {
            let resp = app.login(name, PASSWORD).await;
            assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
        }
    }
    // "annie" was in most bad requests; it is still available.
    app.register("annie").await;

    // Limits count characters, not bytes: 8 two-byte characters are a valid password, 128 too.
    let (status, body) =
        register_raw(&app, json!({"username": "umlaut", "password": "üüüüüüüü"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app.login("umlaut", "üüüüüüüü").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = register_raw(
        &app,
        json!({"username": "a.b-c_D9", "password": "é".repeat(128)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = register_raw(
        &app,
        json!({"username": "x".repeat(32), "password": PASSWORD, "display_name": "ü".repeat(64)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn usernames_are_unique_case_insensitively(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("Alice").await;
    for name in ["Alice", "alice", "ALICE", "aLiCe"] {
        let resp = register_raw(
            &app,
            json!({"username": name, "password": "another-password"}),
        )
        .await;
        assert_error(&resp, StatusCode::CONFLICT, "username_taken", None);
    }
    // The original account is untouched: its password still works, the other does not.
    let (status, body) = app.login("Alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], alice.user_id);
    assert_eq!(body["user"]["username"], "Alice", "the name keeps its case");
    let resp = app.login("Alice", "another-password").await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
}

async fn login_and_bad_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let (status, body) = app.login("alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_session(&body, "alice");
    assert_eq!(body["user"]["id"], alice.user_id);
    let second = session_from(&body);
    assert_ne!(
        second.refresh_token, alice.refresh_token,
        "each login gets its own refresh token"
    );
    assert_eq!(me(&app, &second.access_token).await.0, StatusCode::OK);

    let wrong = app.login("alice", "wrong-password").await;
    assert_error(
        &wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    );
    let unknown = app.login("nobody", PASSWORD).await;
    assert_error(
        &unknown,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    );
    assert_eq!(
        wrong.1, unknown.1,
        "unknown user and wrong password answer the same"
    );
    let empty = app.login("alice", "").await;
    assert_error(
        &empty,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        None,
    );
    // A missing field is a bad request, not a failed login.
    let resp = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("password"),
    );
}

async fn refresh_rotates_and_reuse_revokes_the_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login1 = app.register("alice").await;
    let login2 = app.login_ok("alice").await;

    // Rotation: a new pair; the new access token works.
    let (status, body) = app.refresh(&login1.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_session(&body, "alice");
    let r2 = session_from(&body);
    assert_ne!(r2.refresh_token, login1.refresh_token);
    assert_eq!(me(&app, &r2.access_token).await.0, StatusCode::OK);

    // Rotating again with the fresh token works and spends it.
    let (status, body) = app.refresh(&r2.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r3 = session_from(&body);

    // The first token is spent: presenting it is theft. 401, and the whole login is revoked...
    let resp = app.refresh(&login1.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    // ...so the newest token of that login no longer works either,
    let resp = app.refresh(&r3.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    // nor the middle one.
    let resp = app.refresh(&r2.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);

    // Another login of the same user is a different family and is unaffected.
    let (status, body) = app.refresh(&login2.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Unknown and empty tokens.
    let resp = app.refresh("not-a-token").await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let resp = app.refresh("").await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let resp = app
        .call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({})))
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("refresh_token"),
    );
}

async fn concurrent_refreshes_of_one_token_let_exactly_one_through(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let alice = app.register("alice").await;
    let mut tasks = Vec::new();
    // Enough at once that, on SQLite, losers end the login while others still write.
    for _ in 0..16 {
        let app = app.clone();
        let token = alice.refresh_token.clone();
        tasks.push(tokio::spawn(async move { app.refresh(&token).await }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok.push(session_from(&body)),
            StatusCode::UNAUTHORIZED => assert_eq!(body["error"]["code"], "unauthenticated"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok.len(), 1, "exactly one of the concurrent rotations wins");
    // Any concurrent reuse revoked the login, so whoever won holds a dead token as well.
    for s in ok {
        let resp = app.refresh(&s.refresh_token).await;
        assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    }
}

async fn logout_ends_the_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("alice").await;
    let b = app.login_ok("alice").await;
    let (status, body) = logout(&app, &a.refresh_token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null, "204 has no body");
    let resp = app.refresh(&a.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    // Logging out twice, or with an unknown token, is harmless.
    assert_eq!(
        logout(&app, &a.refresh_token).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(logout(&app, "unknown").await.0, StatusCode::NO_CONTENT);
    // The other login lives on.
    let (status, body) = app.refresh(&b.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Logging out after a rotation ends the login: the rotated token dies too.
    let c = app.login_ok("alice").await;
    let (_, body) = app.refresh(&c.refresh_token).await;
    let c2 = session_from(&body);
    assert_eq!(
        logout(&app, &c2.refresh_token).await.0,
        StatusCode::NO_CONTENT
    );
    let resp = app.refresh(&c2.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
}

async fn password_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let current = app.register("alice").await;
    let other = app.login_ok("alice").await;
    let path = "/api/v1/users/me/password";

    let resp = app
        .post(
            path,
            &current.access_token,
            json!({"current_password": "wrong-one", "new_password": "new-password-1"}),
        )
        .await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    let resp = app
        .post(
            path,
            &current.access_token,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("new_password"),
    );
    let resp = app
        .post(
            path,
            &current.access_token,
            json!({"current_password": PASSWORD, "new_password": "x".repeat(129)}),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("new_password"),
    );
    let resp = app
        .post(
            path,
            &current.access_token,
            json!({"current_password": PASSWORD}),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("new_password"),
    );
    let resp = app
        .call(
            Method::POST,
            path,
            None,
            Some(json!({"current_password": PASSWORD, "new_password": "new-password-1"})),
        )
        .await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);

    // None of that changed anything: the old password works, both logins still refresh.
    assert_eq!(app.login("alice", PASSWORD).await.0, StatusCode::OK);
    let resp = app.login("alice", "new-password-1").await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    let (status, body) = app.refresh(&other.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = session_from(&body);

    let (status, body) = app
        .post(
            path,
            &current.access_token,
            json!({"current_password": PASSWORD, "new_password": "new-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Other logins are ended; the current one keeps working.
    let resp = app.refresh(&other.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let (status, body) = app.refresh(&current.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "the current login survives: {body}");
    let rotated = session_from(&body);
    let (status, _) = app.refresh(&rotated.refresh_token).await;
    assert_eq!(status, StatusCode::OK);

    // The new password logs in, the old one does not.
    let (status, body) = app.login("alice", "new-password-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = app.login("alice", PASSWORD).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
}

async fn expired_access_tokens_are_refused(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, |cfg| cfg.access_token_ttl = Duration::from_secs(1)).await;
    let alice = app.register("alice").await;
    let (status, body) = app.login("alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = me(&app, &alice.access_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "token_expired", None);
    let resp = app.get("/api/v1/rooms", &alice.access_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "token_expired", None);
    // The refresh token outlives it and gives a working access token.
    let (status, body) = app.refresh(&alice.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = session_from(&body);
    assert_eq!(me(&app, &fresh.access_token).await.0, StatusCode::OK);
}

async fn missing_or_bad_tokens_are_unauthenticated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "general", false).await;
    let room_path = format!("/api/v1/rooms/{}", room["id"]);

    for (method, path) in [
        (Method::GET, "/api/v1/users/me"),
        (Method::GET, "/api/v1/rooms"),
        (Method::GET, room_path.as_str()),
        (Method::GET, "/api/v1/users/1"),
    ] {
        let resp = app.call(method.clone(), path, None, None).await;
        assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
        let resp = app.call(method.clone(), path, Some("garbage"), None).await;
        assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    }

    // A tampered token: one changed character in the signature.
    let mut forged = alice.access_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let resp = me(&app, &forged).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);

    // A refresh token is not an access token.
    let resp = me(&app, &alice.refresh_token).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);

    // Other schemes, or a bare token, are not bearer auth.
    for header in [
        format!("Basic {}", alice.access_token),
        alice.access_token.clone(),
        "Bearer ".into(),
    ] {
        let resp = app
            .client
            .get(app.url("/api/v1/users/me"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers().get("www-authenticate").is_some());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
    }

    // Unauthenticated writes store nothing.
    let resp = app
        .call(
            Method::POST,
            "/api/v1/rooms",
            None,
            Some(json!({"name": "sneaky"})),
        )
        .await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let (_, list) = app.get("/api/v1/rooms", &alice.access_token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn login_attempts_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.auth_rate_limit = 3;
        cfg.auth_rate_window = Duration::from_secs(2);
    })
    .await;
    // Registrations and logins, failed or not, share the budget of one address.
    let alice = app.register("alice").await;
    assert_eq!(
        app.login("alice", "wrong-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login("alice", PASSWORD).await.0, StatusCode::OK);

    let (status, headers, body) = app
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some("application/json"),
            json!({"username": "alice", "password": PASSWORD}).to_string(),
        )
        .await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        None,
    );
    let retry_after: u64 = headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");

    let resp = app
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "bob", "password": PASSWORD})),
        )
        .await;
    assert_error(&resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None);
    // Other calls are not limited.
    let (status, body) = app.refresh(&alice.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Once the window has passed, attempts are allowed again; the refused registration
    // stored nothing.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = app.login("bob", PASSWORD).await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    assert_eq!(app.login("alice", PASSWORD).await.0, StatusCode::OK);
}

backend_tests!(
    register_answers_a_session,
    register_validates_and_stores_nothing_bad,
    usernames_are_unique_case_insensitively,
    login_and_bad_credentials,
    refresh_rotates_and_reuse_revokes_the_login,
    concurrent_refreshes_of_one_token_let_exactly_one_through,
    logout_ends_the_refresh_token,
    password_change,
    expired_access_tokens_are_refused,
    missing_or_bad_tokens_are_unauthenticated,
    login_attempts_are_rate_limited,
);
