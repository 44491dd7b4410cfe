//! Every text field against what a database cannot store or a person cannot see: NUL and other
//! control characters, lone surrogate escapes, and lengths at and one over the limit, over REST
//! and the socket, on SQLite and PostgreSQL. Bad input is a 400 (an `error` frame on the socket)
//! with the field named, never a 5xx, and nothing stored changes.
use huddle_domain::validation as v;
use huddle_test_support::{assert_error, backend_tests, Backend, TestApp, WsClient, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// One text field of one call. `path` may hold `{room}` and `{msg}`.
struct Field {
    method: Method,
    path: &'static str,
    /// The other fields of a valid body; the field under test is added to it.
    base: Value,
    name: &'static str,
    /// The longest valid value, in characters.
    max: usize,
    /// Newline and tab allowed (message bodies, bio, descriptions).
    multi_line: bool,
    /// The success status of a valid value.
    ok: StatusCode,
}

fn fields() -> Vec<Field> {
    use StatusCode as S;
    let f = |method: Method, path, base: Value, name, max, multi_line, ok| Field {
        method,
        path,
        base,
        name,
        max,
        multi_line,
        ok,
    };
    let pw = PASSWORD;
    vec![
        f(
            Method::POST,
            "/api/v1/auth/register",
            json!({"password": pw}),
            "username",
            v::USERNAME_MAX,
            false,
            S::CREATED,
        ),
        f(
            Method::POST,
            "/api/v1/auth/register",
            json!({"username": "@", "password": pw}),
            "display_name",
            v::DISPLAY_NAME_MAX,
            false,
            S::CREATED,
        ),
        f(
            Method::POST,
            "/api/v1/auth/register",
            json!({"username": "@"}),
            "password",
            v::PASSWORD_MAX,
            false,
            S::CREATED,
        ),
        f(
            Method::PATCH,
            "/api/v1/users/me",
            json!({}),
            "display_name",
            v::DISPLAY_NAME_MAX,
            false,
            S::OK,
        ),
        f(
            Method::PATCH,
            "/api/v1/users/me",
            json!({}),
            "bio",
            v::BIO_MAX,
            true,
            S::OK,
        ),
        f(
            Method::POST,
            "/api/v1/rooms",
            json!({}),
            "name",
            v::ROOM_NAME_MAX,
            false,
            S::CREATED,
        ),
        f(
            Method::POST,
            "/api/v1/rooms",
            json!({"name": "n"}),
            "description",
            v::ROOM_DESCRIPTION_MAX,
            true,
            S::CREATED,
        ),
        f(
            Method::PATCH,
            "/api/v1/rooms/{room}",
            json!({}),
            "name",
            v::ROOM_NAME_MAX,
            false,
            S::OK,
        ),
        f(
            Method::PATCH,
            "/api/v1/rooms/{room}",
            json!({}),
            "description",
            v::ROOM_DESCRIPTION_MAX,
            true,
            S::OK,
        ),
        f(
            Method::POST,
            "/api/v1/rooms/{room}/messages",
            json!({}),
            "body",
            v::MESSAGE_BODY_MAX,
            true,
            S::CREATED,
        ),
        f(
            Method::POST,
            "/api/v1/rooms/{room}/messages",
            json!({"body": "b"}),
            "client_msg_id",
            v::CLIENT_MSG_ID_MAX,
            false,
            S::CREATED,
        ),
        f(
            Method::PATCH,
            "/api/v1/rooms/{room}/messages/{msg}",
            json!({}),
            "body",
            v::MESSAGE_BODY_MAX,
            true,
            S::OK,
        ),
        // Last: a valid new password changes alice's password (her own session survives).
        f(
            Method::POST,
            "/api/v1/users/me/password",
            json!({"current_password": pw}),
            "new_password",
            v::PASSWORD_MAX,
            false,
            S::NO_CONTENT,
        ),
    ]
}

/// A value of `n` characters the field accepts (usernames are `[a-z]`, and unique).
fn valid(n: usize, unique: usize) -> String {
    let tag = format!("u{unique}x");
    format!("{tag}{}", "a".repeat(n - tag.len()))
}

/// The bad values: each with the code it gets and whether the field is named.
fn bad_values(field: &Field) -> Vec<(String, &'static str, bool)> {
    let text = |s: &str| serde_json::to_string(s).unwrap();
    let mut bad = vec![
        (text("a\u{0}b"), "validation_failed", true),
        (text("a\u{7}b"), "validation_failed", true),
        (text("a\u{1b}[31mb"), "validation_failed", true),
        (text("a\u{7f}b"), "validation_failed", true),
        (text("a\u{85}b"), "validation_failed", true),
        (text("a\rb"), "validation_failed", true),
        // JSON that no UTF-8 string can hold: refused by the parser.
        ("\"a\\ud800b\"".to_owned(), "malformed_json", false),
        ("\"\\udc00\"".to_owned(), "malformed_json", false),
        (text(&"a".repeat(field.max + 1)), "validation_failed", true),
    ];
    if !field.multi_line {
        bad.push((text("a\nb"), "validation_failed", true));
        bad.push((text("a\tb"), "validation_failed", true));
    }
    bad
}

/// `base` with the field set to the raw JSON text `value`.
fn body_with(base: &Value, name: &str, value: &str, unique: usize) -> String {
    let mut base = base.clone();
    if base.get("username") == Some(&json!("@")) {
        base["username"] = json!(format!("user{unique}"));
    }
    let mut text = serde_json::to_string(&base).unwrap();
    text.pop();
    if text.len() > 1 {
        text.push(',');
    }
    format!("{text}\"{name}\":{value}}}")
}

async fn every_text_field_refuses_what_it_cannot_hold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let msg = app.send(&alice, room, "hi").await["id"].as_i64().unwrap();
    let before = app.snapshot(&alice, room).await;
    let token = Some(alice.access_token.as_str());
    let ct = Some("application/json");
    let mut unique = 0;
    let mut wrong = Vec::new();
    for field in fields() {
        let path = field
            .path
            .replace("{room}", &room.to_string())
            .replace("{msg}", &msg.to_string());
        for (value, code, named) in bad_values(&field) {
            unique += 1;
            let body = body_with(&field.base, field.name, &value, unique);
            let (status, _, answer) = app.raw(field.method.clone(), &path, token, ct, body).await;
            let want_field = if named {
                json!(field.name)
            } else {
                Value::Null
            };
            let field_got = answer["error"].get("field").cloned().unwrap_or(Value::Null);
            if status != StatusCode::BAD_REQUEST
                || answer["error"]["code"] != code
                || field_got != want_field
            {
                wrong.push(format!(
                    "{} {path} {}={}: {status} {answer}",
                    field.method,
                    field.name,
                    value.chars().take(24).collect::<String>()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "expected 400 with the field:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        app.snapshot(&alice, room).await,
        before,
        "nothing stored changed"
    );

    // At the limit, and with the newline and tab that multi-line fields keep, every field works.
    for field in fields() {
        let path = field
            .path
            .replace("{room}", &room.to_string())
            .replace("{msg}", &msg.to_string());
        let mut values = vec![valid(field.max, unique)];
        if field.multi_line {
            values.push("line one\n\tline two".to_owned());
        }
        for value in values {
            unique += 1;
            let body = body_with(
                &field.base,
                field.name,
                &serde_json::to_string(&value).unwrap(),
                unique,
            );
            let (status, _, answer) = app.raw(field.method.clone(), &path, token, ct, body).await;
            assert_eq!(
                status, field.ok,
                "{} {path} {} at the limit: {answer}",
                field.method, field.name
            );
            if status.is_success() && field.name != "new_password" && field.name != "password" {
                let echoed = answer.as_object().and_then(|o| {
                    o.get(field.name)
                        .or_else(|| o.get("user").and_then(|u| u.get(field.name)))
                });
                if let Some(echoed) = echoed {
                    assert_eq!(echoed, &json!(value), "{} stored as sent", field.name);
                }
            }
        }
    }
}

/// A login's username is refused only for what no database can hold; any other unknown name,
/// however long, is a wrong login (401), so logins never tell which names exist.
async fn login_refuses_control_characters_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("alice").await;
    for name in ["a\u{0}b", "alice\u{7}", "ali\nce", "a\u{85}"] {
        let resp = app.login(name, PASSWORD).await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("username"),
        );
    }
    for name in ["", "nobody", &"a".repeat(v::USERNAME_MAX + 1)] {
        let resp = app.login(name, PASSWORD).await;
        assert_error(&resp, StatusCode::UNAUTHORIZED, "invalid_credentials", None);
    }
    let (status, _) = app.login("alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

async fn search_text_refuses_control_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    app.create_room(&alice, "general", false).await;
    // Control characters; bytes that are not UTF-8 (a lone surrogate's, a stray continuation
    // byte), refused rather than read as replacement characters; one character too many.
    let long = "a".repeat(v::SEARCH_QUERY_MAX + 1);
    for q in [
        "%00",
        "a%07b",
        "a%0Ab",
        "%C2%85",
        "%ED%A0%80",
        "a%80",
        &long,
    ] {
        let resp = app
            .get(&format!("/api/v1/rooms?q={q}"), &alice.access_token)
            .await;
        assert_error(
            &resp,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("q"),
        );
    }
    let (status, page) = app.get("/api/v1/rooms?q=gener", &alice.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["name"], "general");
}

async fn socket_sends_and_edits_refuse_control_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.register("alice").await;
    let room = app.create_room(&alice, "r", false).await["id"]
        .as_i64()
        .unwrap();
    let msg = app.send(&alice, room, "hi").await["id"].as_i64().unwrap();
    let before = app.all_messages(&alice, room).await;
    let mut ws = WsClient::connect(&app, &alice.access_token).await;
    let cases = [
        (
            json!({"type": "send", "room_id": room, "body": "a\u{0}b"}),
            "body",
        ),
        (
            json!({"type": "send", "room_id": room, "body": "a\u{1b}b"}),
            "body",
        ),
        (
            json!({"type": "send", "room_id": room, "body": "a".repeat(v::MESSAGE_BODY_MAX + 1)}),
            "body",
        ),
        (
            json!({"type": "send", "room_id": room, "body": "ok", "client_msg_id": "a\u{0}"}),
            "client_msg_id",
        ),
        (
            json!({"type": "send", "room_id": room, "body": "ok", "client_msg_id": "a\nb"}),
            "client_msg_id",
        ),
        (
            json!({"type": "edit", "room_id": room, "message_id": msg, "body": "a\u{0}b"}),
            "body",
        ),
    ];
    for (i, (frame, field)) in cases.into_iter().enumerate() {
        let reply = ws.request(frame.clone(), &format!("r{i}")).await;
        assert_eq!(reply["type"], "error", "{frame}: {reply}");
        assert_eq!(reply["code"], "validation_failed", "{reply}");
        assert_eq!(reply["field"], field, "{reply}");
    }
    // The connection is still usable, and nothing was stored.
    let reply = ws.request(json!({"type": "ping"}), "p").await;
    assert_eq!(reply["type"], "pong");
    assert_eq!(app.all_messages(&alice, room).await, before);
    let reply = ws
        .request(
            json!({"type": "send", "room_id": room, "body": "tab\there\nnewline"}),
            "ok",
        )
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    assert_eq!(reply["message"]["body"], "tab\there\nnewline");
}

backend_tests!(
    every_text_field_refuses_what_it_cannot_hold,
    login_refuses_control_characters_only,
    search_text_refuses_control_characters,
    socket_sends_and_edits_refuse_control_characters,
);
