//! Sessions end when users end them: logout, logout-all, ending one from the sessions list, a
//! password change and refresh-token reuse refuse the session's access tokens at once and close
//! its sockets with 4401 within a second; other sessions carry on. Two-node behaviour through
//! Redis is in `cluster.rs`.
use std::time::Duration;

use huddle_server::Application;
use huddle_test_support::{
    assert_error, backend_tests, test_config, Backend, Session, TestApp, WsClient, PASSWORD,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const UNAUTHENTICATED: u16 = 4401;

/// The close code, which must come within a second.
async fn closed_within_a_second(ws: &mut WsClient) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(1), ws.expect_close())
        .await
        .expect("the socket of an ended session closes within 1 s")
}

async fn me_status(app: &TestApp, who: &Session) -> StatusCode {
    app.get("/api/v1/users/me", &who.access_token).await.0
}

async fn sessions(app: &TestApp, who: &Session) -> Vec<Value> {
    let (status, body) = app
        .get("/api/v1/users/me/sessions", &who.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("an array").clone()
}

async fn logout_ends_that_session_and_no_other(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("ann").await;
    let b = app.login_ok("ann").await;
    let mut ws_a = WsClient::connect(&app, &a.access_token).await;
    let mut ws_b = WsClient::connect(&app, &b.access_token).await;

    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": a.refresh_token})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // At once: the very next request.
    let (status, body) = app.get("/api/v1/users/me", &a.access_token).await;
    assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    assert_eq!(
        closed_within_a_second(&mut ws_a).await,
        Some(UNAUTHENTICATED)
    );
    let (status, body) = app.refresh(&a.refresh_token).await;
    assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    // A new socket with the ended session's token is refused too.
    let mut again = WsClient::connect_raw(&app, Some(&a.access_token)).await;
    assert_eq!(again.expect_close().await, Some(UNAUTHENTICATED));

    // The other login is untouched.
    assert_eq!(me_status(&app, &b).await, StatusCode::OK);
    ws_b.assert_alive().await;
    assert_eq!(sessions(&app, &b).await.len(), 1);
}

async fn sessions_are_listed_and_ended_one_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("ann").await;
    let (status, body) = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("User-Agent", "Firefox\t/128 (X11; Linux)")
        .json(&json!({"username": "ann", "password": PASSWORD}))
        .send()
        .await
        .map(|r| (r.status(), r))
        .expect("login");
    assert_eq!(status, StatusCode::OK);
    let second = huddle_test_support::session_from(&body.json::<Value>().await.expect("json"));
    let mallory = app.register("mallory").await;

    let listed = sessions(&app, &second).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        listed[0]["current"], true,
        "newest first, and it is the caller's"
    );
    assert_eq!(listed[0]["user_agent"], "Firefox/128 (X11; Linux)");
    assert_eq!(listed[1]["current"], false);
    for s in &listed {
        for field in ["id", "created_at", "last_used_at"] {
            assert!(s[field].is_string(), "{field} in {s}");
        }
    }
    // The same list, seen from the other session, marks that one current.
    let from_first = sessions(&app, &first).await;
    assert_eq!(from_first[1]["current"], true);
    assert_eq!(from_first[1]["id"], listed[1]["id"]);

    // Another user's session cannot be ended, nor a made-up one.
    let mallorys = sessions(&app, &mallory).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [mallorys.as_str(), "no-such-session"] {
        let (status, body) = app
            .delete(
                &format!("/api/v1/users/me/sessions/{id}"),
                &first.access_token,
            )
            .await;
        assert_error(&(status, body), StatusCode::NOT_FOUND, "not_found", None);
    }
    assert_eq!(me_status(&app, &mallory).await, StatusCode::OK);

    let mut ws_first = WsClient::connect(&app, &first.access_token).await;
    let other = listed[1]["id"].as_str().unwrap();
    let (status, _) = app
        .delete(
            &format!("/api/v1/users/me/sessions/{other}"),
            &second.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        closed_within_a_second(&mut ws_first).await,
        Some(UNAUTHENTICATED)
    );
    assert_eq!(
        app.refresh(&first.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Ended sessions are no longer listed, and ending one twice is a 404.
    let left = sessions(&app, &second).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    let (status, body) = app
        .delete(
            &format!("/api/v1/users/me/sessions/{other}"),
            &second.access_token,
        )
        .await;
    assert_error(&(status, body), StatusCode::NOT_FOUND, "not_found", None);

    // A refresh keeps the session (same id) and moves its last use on.
    let before = left[0].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, body) = app.refresh(&second.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = huddle_test_support::session_from(&body);
    let after = sessions(&app, &renewed).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], before["id"]);
    assert_eq!(after[0]["created_at"], before["created_at"]);
    assert!(
        after[0]["last_used_at"].as_str() > before["last_used_at"].as_str(),
        "{before} then {}",
        after[0]
    );
}

async fn logout_all_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("ann").await;
    let b = app.login_ok("ann").await;
    let c = app.login_ok("ann").await;
    let bob = app.register("bob").await;
    let mut sockets = Vec::new();
    for s in [&a, &b, &c] {
        sockets.push(WsClient::connect(&app, &s.access_token).await);
    }
    let mut bobs = WsClient::connect(&app, &bob.access_token).await;

    let (status, body) = app
        .call(Method::POST, "/api/v1/auth/logout-all", None, None)
        .await;
    assert_error(
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            Some(&b.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for s in [&a, &b, &c] {
        assert_eq!(me_status(&app, s).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.refresh(&s.refresh_token).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    for ws in &mut sockets {
        assert_eq!(closed_within_a_second(ws).await, Some(UNAUTHENTICATED));
    }
    // Another user is untouched; a fresh login works.
    assert_eq!(me_status(&app, &bob).await, StatusCode::OK);
    bobs.assert_alive().await;
    let fresh = app.login_ok("ann").await;
    assert_eq!(sessions(&app, &fresh).await.len(), 1);
}

async fn password_change_ends_every_other_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let keep = app.register("ann").await;
    let other = app.login_ok("ann").await;
    let mut ws_keep = WsClient::connect(&app, &keep.access_token).await;
    let mut ws_other = WsClient::connect(&app, &other.access_token).await;
    let (status, body) = app
        .post(
            "/api/v1/users/me/password",
            &keep.access_token,
            json!({"current_password": PASSWORD, "new_password": "another-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(me_status(&app, &other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        closed_within_a_second(&mut ws_other).await,
        Some(UNAUTHENTICATED)
    );
    assert_eq!(me_status(&app, &keep).await, StatusCode::OK);
    ws_keep.assert_alive().await;
}

async fn refresh_token_reuse_ends_the_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("ann").await;
    let (status, body) = app.refresh(&first.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let rotated = huddle_test_support::session_from(&body);
    let mut ws = WsClient::connect(&app, &rotated.access_token).await;
    // The spent token again: copied, so the whole login ends, its newest tokens included.
    assert_eq!(
        app.refresh(&first.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_status(&app, &rotated).await, StatusCode::UNAUTHORIZED);
    assert_eq!(closed_within_a_second(&mut ws).await, Some(UNAUTHENTICATED));
    assert_eq!(
        app.refresh(&rotated.refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_reauth_into_an_ended_session_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let live = app.register("ann").await;
    let ended = app.login_ok("ann").await;
    let mut ws = WsClient::connect(&app, &live.access_token).await;
    app.call(
        Method::POST,
        "/api/v1/auth/logout",
        None,
        Some(json!({"refresh_token": ended.refresh_token})),
    )
    .await;
    let reply = ws
        .request(json!({"type": "reauth", "token": ended.access_token}), "r1")
        .await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "unauthenticated");
    // The socket keeps its own, live session.
    ws.assert_alive().await;
}

async fn ended_sessions_stay_refused_after_a_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.register("ann").await;
    let b = app.login_ok("ann").await;
    app.delete(
        &format!(
            "/api/v1/users/me/sessions/{}",
            sessions(&app, &b).await[1]["id"].as_str().unwrap()
        ),
        &b.access_token,
    )
    .await;
    app.stop().await;

    // A fresh process on the same database (same secret), which never saw the logout.
    let restarted = Application::build(test_config(&app.db_url))
        .await
        .expect("restarts");
    let url = format!("http://127.0.0.1:{}/api/v1/users/me", restarted.port());
    let handle = restarted.shutdown_handle();
    tokio::spawn(restarted.run_until_stopped());
    let status = |token: String| {
        let url = url.clone();
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(
        status(a.access_token.clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status(b.access_token.clone()).await, StatusCode::OK);
    handle.shutdown().await;
}

backend_tests!(
    logout_ends_that_session_and_no_other,
    sessions_are_listed_and_ended_one_at_a_time,
    logout_all_ends_every_session,
    password_change_ends_every_other_session,
    refresh_token_reuse_ends_the_login,
    a_reauth_into_an_ended_session_is_refused,
    ended_sessions_stay_refused_after_a_restart,
);
