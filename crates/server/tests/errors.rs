//! The error contract at the edges: unknown routes and methods, bad ids in paths, malformed
//! JSON, wrong media types and oversized bodies, each in the one error shape and each storing
//! nothing.
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const JSON: Option<&str> = Some("application/json");

/// Status and body of a raw request, for [`assert_error`].
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let (status, headers, body) = app.raw(method, path, token, ct, body).await;
    if !status.is_success() {
        let ct = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            ct.as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}: error content type {ct:?}"
        );
    }
    (status, body)
}

async fn unknown_routes_and_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let t = Some(alice.access_token.as_str());
    for path in [
        "/nope",
        "/api/v1",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v2/rooms",
        "/api/v1/rooms/1/nope",
        "/api/v1/users/me/nope",
    ] {
        let resp = raw(&app, Method::GET, path, t, None, "").await;
        assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
        // Unauthenticated too: an unknown route is not found, whoever asks.
        let resp = raw(&app, Method::GET, path, None, None, "").await;
        assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
    }
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let wrong_methods = [
        (Method::PUT, "/api/v1/rooms".to_owned()),
        (Method::DELETE, "/api/v1/rooms".to_owned()),
        (Method::GET, "/api/v1/auth/login".to_owned()),
        (Method::GET, "/api/v1/auth/register".to_owned()),
        (Method::DELETE, "/api/v1/users/me".to_owned()),
        (Method::GET, "/api/v1/users/me/password".to_owned()),
        (Method::PUT, format!("/api/v1/rooms/{room}")),
        (Method::GET, format!("/api/v1/rooms/{room}/join")),
        (Method::DELETE, format!("/api/v1/rooms/{room}/members")),
        (
            Method::GET,
            format!("/api/v1/rooms/{room}/members/{}", alice.user_id),
        ),
        (Method::GET, format!("/api/v1/rooms/{room}/messages/1")),
        (Method::POST, "/healthz".to_owned()),
    ];
    let mut wrong = Vec::new();
    for (method, path) in wrong_methods {
        let (status, headers, body) = app.raw(method.clone(), &path, t, JSON, "{}").await;
        // RFC 9110: a 405 names the methods the resource does take.
        let allow = headers.get("allow").map(|v| v.to_str().unwrap().to_owned());
        let allowed: Vec<&str> = allow.as_deref().unwrap_or("").split(", ").collect();
        if allowed.is_empty() || allowed.contains(&method.as_str()) || allowed.contains(&"") {
            wrong.push(format!("{method} {path}: Allow {allow:?}"));
        }
        let resp = (status, body);
        if resp.0 != StatusCode::METHOD_NOT_ALLOWED {
            wrong.push(format!("{method} {path}: {} {}", resp.0, resp.1));
            continue;
        }
        assert_error(
            &resp,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            None,
        );
    }
    assert!(
        wrong.is_empty(),
        "expected 405 method_not_allowed:\n{}",
        wrong.join("\n")
    );
    assert_eq!(app.room(&alice, room).await["name"], "r");
}

async fn ids_in_paths_must_be_numbers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let m = app.send(&alice, room, "hi").await["id"].as_i64().unwrap();
    let before = app.snapshot(&alice, room).await;
    let t = Some(alice.access_token.as_str());
    for bad in [
        "abc",
        "1.5",
        "1e3",
        "99999999999999999999",
        "-",
        "%20",
        "0x10",
    ] {
        let cases = [
            (Method::GET, format!("/api/v1/rooms/{bad}"), None),
            (
                Method::PATCH,
                format!("/api/v1/rooms/{bad}"),
                Some(json!({"name": "x"})),
            ),
            (Method::DELETE, format!("/api/v1/rooms/{bad}"), None),
            (
                Method::POST,
                format!("/api/v1/rooms/{bad}/join"),
                Some(json!({})),
            ),
            (Method::GET, format!("/api/v1/rooms/{bad}/messages"), None),
            (
                Method::POST,
                format!("/api/v1/rooms/{bad}/messages"),
                Some(json!({"body": "x"})),
            ),
            (
                Method::PATCH,
                format!("/api/v1/rooms/{room}/messages/{bad}"),
                Some(json!({"body": "x"})),
            ),
            (
                Method::DELETE,
                format!("/api/v1/rooms/{room}/messages/{bad}"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/rooms/{room}/members/{bad}"),
                None,
            ),
            (
                Method::PATCH,
                format!("/api/v1/rooms/{room}/members/{bad}"),
                Some(json!({"role": "admin"})),
            ),
            (Method::GET, format!("/api/v1/users/{bad}"), None),
        ];
        for (method, path, body) in cases {
            let resp = app.call(method.clone(), &path, t, body).await;
            assert_error(&resp, StatusCode::NOT_FOUND, "not_found", None);
        }
    }
    // Ids that are numbers but name nothing.
    for path in ["/api/v1/rooms/0", "/api/v1/rooms/-1", "/api/v1/users/0"] {
        assert_error(
            &app.get(path, &alice.access_token).await,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        );
    }
    assert_error(
        &app.delete(
            &format!("/api/v1/rooms/{room}/messages/{}", m + 1000),
            &alice.access_token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_eq!(app.snapshot(&alice, room).await, before);
}

async fn malformed_json_and_media_types(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    app.send(&alice, room, "hi").await;
    let before = app.snapshot(&alice, room).await;
    let t = Some(alice.access_token.as_str());
    let msgs = format!("/api/v1/rooms/{room}/messages");
    let room_path = format!("/api/v1/rooms/{room}");
    let targets = [
        (Method::POST, "/api/v1/rooms"),
        (Method::POST, msgs.as_str()),
        (Method::PATCH, room_path.as_str()),
        (Method::PATCH, "/api/v1/users/me"),
    ];
    let malformed = [
        "{",
        "{\"body\": }",
        "{\"name\": \"x\",}",
        "{'name': 'x'}",
        "{\"name\": \"x\"} trailing",
        "not json at all",
        "",
        "{\"name\": \"unterminated}",
        "\u{0}",
    ];
    for (method, path) in targets {
        for body in malformed {
            let resp = raw(&app, method.clone(), path, t, JSON, body).await;
            assert_error(&resp, StatusCode::BAD_REQUEST, "malformed_json", None);
        }
        // Invalid UTF-8 is not JSON either.
        let resp = raw(
            &app,
            method.clone(),
            path,
            t,
            JSON,
            vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
        )
        .await;
        assert_eq!(resp.0, StatusCode::BAD_REQUEST, "{path}: {}", resp.1);
        // Valid JSON of the wrong shape is a validation failure, not malformed.
        for body in ["[]", "\"name\"", "42", "null"] {
            let resp = raw(&app, method.clone(), path, t, JSON, body).await;
            assert_error(&resp, StatusCode::BAD_REQUEST, "validation_failed", None);
        }
        // The body must be declared JSON.
        let good = if path.ends_with("messages") {
            r#"{"body":"x"}"#
        } else {
            r#"{"name":"x"}"#
        };
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
        ] {
            let resp = raw(&app, method.clone(), path, t, ct, good).await;
            assert_error(
                &resp,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            );
        }
    }
    // Auth endpoints too.
    let resp = raw(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        None,
        JSON,
        "{\"username\": ",
    )
    .await;
    assert_error(&resp, StatusCode::BAD_REQUEST, "malformed_json", None);
    let resp = raw(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some("text/plain"),
        r#"{"username":"alice","password":"password123"}"#,
    )
    .await;
    assert_error(
        &resp,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    );
    assert_eq!(
        app.snapshot(&alice, room).await,
        before,
        "no bad request changed anything"
    );

    // JSON with a charset parameter is still JSON.
    let (status, _) = raw(
        &app,
        Method::POST,
        &msgs,
        t,
        Some("application/json; charset=utf-8"),
        r#"{"body":"ok"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// POSTs a JSON body of `kib` KiB with `Transfer-Encoding: chunked` (no Content-Length), over a
/// plain socket since the test client always sends a length.
async fn post_chunked(app: &TestApp, path: &str, token: &str, kib: usize) -> (StatusCode, Value) {
    use std::io::{Read, Write};
    let port = app.port;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.write_all(head.as_bytes()).unwrap();
        // `{"body":"` + spaces... : valid JSON so far, too long before it ends.
        let mut chunks = vec![b"{\"body\":\"".to_vec()];
        chunks.extend((0..kib).map(|_| vec![b'a'; 1024]));
        for c in chunks {
            let framed = [
                format!("{:x}\r\n", c.len()).into_bytes(),
                c,
                b"\r\n".to_vec(),
            ]
            .concat();
            // The server may answer and close before taking everything.
            if sock.write_all(&framed).is_err() {
                break;
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n");
        let mut resp = Vec::new();
        let _ = sock.read_to_end(&mut resp);
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status: {text}"));
        let (headers, body) = text.split_once("\r\n\r\n").unwrap();
        let body = if headers
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            // One chunk is enough for an error body.
            body.split("\r\n").nth(1).unwrap_or("").to_owned()
        } else {
            body.to_owned()
        };
        (
            StatusCode::from_u16(status).unwrap(),
            serde_json::from_str(&body).unwrap_or(Value::Null),
        )
    })
    .await
    .unwrap()
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let before = app.snapshot(&alice, room).await;
    let t = Some(alice.access_token.as_str());
    let msgs = format!("/api/v1/rooms/{room}/messages");

    // Just over the default 64 KiB, valid JSON otherwise.
    let pad = "x".repeat(64 * 1024);
    let big_message = json!({"body": "hi", "padding": pad}).to_string();
    assert!(big_message.len() > 64 * 1024);
    let resp = raw(&app, Method::POST, &msgs, t, JSON, big_message).await;
    assert_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );
    let resp = raw(
        &app,
        Method::POST,
        "/api/v1/rooms",
        t,
        JSON,
        json!({"name": "big", "description": pad}).to_string(),
    )
    .await;
    assert_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );
    let resp = raw(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        None,
        JSON,
        json!({"username": "big", "password": pad}).to_string(),
    )
    .await;
    assert_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );
    // Far over it: a megabyte.
    let huge = json!({"body": "y".repeat(1 << 20)}).to_string();
    let resp = raw(&app, Method::POST, &msgs, t, JSON, huge).await;
    assert_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );
    // Streamed without a Content-Length (chunked): the limit holds as the body arrives.
    let resp = post_chunked(&app, &msgs, &alice.access_token, 80).await;
    assert_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );

    assert_eq!(app.snapshot(&alice, room).await, before, "nothing stored");
    let resp = app.login("big", "x").await;
    assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);

    // A body of the maximum valid message (4000 four-byte characters, ~16 KiB) fits.
    let (status, m) = app
        .post(
            &msgs,
            &alice.access_token,
            json!({"body": "🙂".repeat(4000)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
}

async fn the_body_limit_is_configurable(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.max_body_bytes = 1024).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let msgs = format!("/api/v1/rooms/{room}/messages");
    // A valid message body that does not fit the configured limit.
    let resp = app
        .post(
            &msgs,
            &alice.access_token,
            json!({"body": "z".repeat(2000)}),
        )
        .await;
    assert_error(
        &resp,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    );
    assert!(app.all_messages(&alice, room).await.is_empty());
    assert_eq!(app.room(&alice, room).await["last_seq"], 0);
    // Under the limit is fine.
    let (status, _) = app
        .post(&msgs, &alice.access_token, json!({"body": "z".repeat(900)}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn error_bodies_never_leak_internals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    // A user name that is taken, a bad login and a forbidden call: none mentions SQL, hashes,
    // or the database.
    let mut bodies = Vec::new();
    bodies.push(
        app.call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"username": "alice", "password": "password123"})),
        )
        .await
        .1,
    );
    bodies.push(app.login("alice", "nope-nope").await.1);
    let room = app.create_room(&alice, "r", true).await["id"]
        .as_i64()
        .unwrap();
    let bob = app.register("bob").await;
    bodies.push(
        app.get(&format!("/api/v1/rooms/{room}"), &bob.access_token)
            .await
            .1,
    );
    bodies.push(
        app.post(
            &format!("/api/v1/rooms/{room}/members"),
            &alice.access_token,
            json!({"user_id": bob.user_id + 100}),
        )
        .await
        .1,
    );
    for b in bodies {
        let text = b.to_string().to_lowercase();
        for word in [
            "sql",
            "diesel",
            "constraint",
            "unique",
            "$2",
            "panick",
            "postgres",
            "select",
        ] {
            assert!(!text.contains(word), "{word} in {text}");
        }
    }
}

backend_tests!(
    unknown_routes_and_methods,
    ids_in_paths_must_be_numbers,
    malformed_json_and_media_types,
    oversized_bodies_are_refused,
    the_body_limit_is_configurable,
    error_bodies_never_leak_internals,
);
