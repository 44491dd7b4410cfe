use std::time::Duration;

use huddle_server::{Application, Config, ShutdownHandle};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{Backend, TestDb};

/// A running server with its own database. Dropping it stops the server and drops the
/// database.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db_url: String,
    /// Where this server keeps uploaded files (a directory of its own, removed on drop).
    pub files_dir: std::path::PathBuf,
    handle: ShutdownHandle,
    _db: TestDb,
    _files: tempfile::TempDir,
}

/// A logged-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// The password [`TestApp::register`] gives every user.
pub const PASSWORD: &str = "password123";

/// The configuration tests start from: cheap bcrypt, no login limit, a fixed secret.
pub fn test_config(db_url: &str) -> Config {
    Config {
        host: "127.0.0.1".into(),
        port: 0,
        database_url: db_url.to_owned(),
        db_pool_size: 8,
        jwt_secret: Some("test-secret-test-secret-test-secret!".into()),
        bcrypt_cost: 4,
        auth_rate_limit: 0,
        workers: Some(2),
        shutdown_timeout: Duration::from_secs(5),
        files: huddle_server::FilesConfig {
            // Never the working directory's `huddle-files`; TestApp gives each server its own.
            store: huddle_server::StoreConfig::Local(
                std::env::temp_dir().join("huddle-test-files"),
            ),
            ..Default::default()
        },
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the server with the per-user send rate limit lifted, for tests about ordering and
    /// delivery that send faster than a person would (the limit has its own tests).
    pub async fn spawn_unthrottled(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |cfg| {
            cfg.realtime.send_rate_per_sec = 1_000_000.0;
            cfg.realtime.send_burst = 1_000_000.0;
        })
        .await
    }

    /// Starts the server with the test configuration changed by `adjust`.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::create(backend);
        let files = tempfile::tempdir().expect("a directory for files");
        let mut config = test_config(&db.url);
        config.files.store = huddle_server::StoreConfig::Local(files.path().to_owned());
        adjust(&mut config);
        let app = Application::build(config).await.expect("server starts");
        let port = app.port();
        let handle = app.shutdown_handle();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::new(),
            db_url: db.url.clone(),
            files_dir: files.path().to_owned(),
            handle,
            _db: db,
            _files: files,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON
    /// (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send_json(&self.client, method, &self.url(path), token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Registers `username` (password `password123`) and returns its session.
    pub async fn register(&self, username: &str) -> Session {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        session_from(&body)
    }

    /// Creates a room owned by `owner` and returns its JSON.
    pub async fn create_room(&self, owner: &Session, name: &str, private: bool) -> Value {
        let (status, room) = self
            .post(
                "/api/v1/rooms",
                &owner.access_token,
                json!({"name": name, "is_private": private}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create room: {room}");
        room
    }

    /// Posts a message and returns its JSON.
    pub async fn send(&self, who: &Session, room_id: i64, body: &str) -> Value {
        let (status, msg) = self
            .post(
                &format!("/api/v1/rooms/{room_id}/messages"),
                &who.access_token,
                json!({"body": body}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {msg}");
        msg
    }

    /// Sends `body` as is, with the given `Content-Type` (none when `None`), for requests that
    /// `call` cannot make: malformed JSON, wrong media types, huge bodies. Returns the headers too.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self.client.request(method, self.url(path)).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        read_json(req.send().await.expect("request sent"), path).await
    }

    /// What a bad request must not change: the rooms `who` is in, the messages of `room_id`,
    /// and `who`'s profile.
    pub async fn snapshot(&self, who: &Session, room_id: i64) -> Value {
        let rooms = self.walk_pages(who, "/api/v1/rooms?mine=true", 100).await;
        let messages = self.all_messages(who, room_id).await;
        let (_, me) = self.get("/api/v1/users/me", &who.access_token).await;
        json!({"rooms": rooms, "messages": messages, "me": me})
    }

    /// `POST /auth/login`, whatever the outcome.
    pub async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    /// Logs `username` in with [`PASSWORD`]: a new login of an existing user.
    pub async fn login_ok(&self, username: &str) -> Session {
        let (status, body) = self.login(username, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        session_from(&body)
    }

    /// `POST /auth/refresh`, whatever the outcome.
    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// Registers `prefix_0`, `prefix_1`, ... `prefix_{n-1}`.
    pub async fn register_many(&self, prefix: &str, n: usize) -> Vec<Session> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.register(&format!("{prefix}_{i}")).await);
        }
        out
    }

    /// `GET /rooms/{id}` as `who`, which must succeed.
    pub async fn room(&self, who: &Session, room_id: i64) -> Value {
        let (status, room) = self
            .get(&format!("/api/v1/rooms/{room_id}"), &who.access_token)
            .await;
        assert_eq!(status, StatusCode::OK, "get room {room_id}: {room}");
        room
    }

    /// `who` joins a public room; returns the member.
    pub async fn join(&self, who: &Session, room_id: i64) -> Value {
        let (status, member) = self
            .post(
                &format!("/api/v1/rooms/{room_id}/join"),
                &who.access_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "join {room_id}: {member}");
        member
    }

    /// `by` adds `user_id` to the room; returns the member.
    pub async fn add_member(&self, by: &Session, room_id: i64, user_id: i64) -> Value {
        let (status, member) = self
            .post(
                &format!("/api/v1/rooms/{room_id}/members"),
                &by.access_token,
                json!({"user_id": user_id}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "add member {user_id}: {member}"
        );
        member
    }

    /// The owner `by` gives `user_id` the `role` (`admin` or `member`); returns the member.
    pub async fn set_role(&self, by: &Session, room_id: i64, user_id: i64, role: &str) -> Value {
        let (status, member) = self
            .patch(
                &format!("/api/v1/rooms/{room_id}/members/{user_id}"),
                &by.access_token,
                json!({"role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "set role {role}: {member}");
        member
    }

    /// Every message of the room, ascending, read as `who` (walking forwards by `after_seq`).
    pub async fn all_messages(&self, who: &Session, room_id: i64) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut after = 0;
        loop {
            let (status, page) = self
                .get(
                    &format!("/api/v1/rooms/{room_id}/messages?after_seq={after}&limit=200"),
                    &who.access_token,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "history: {page}");
            let items = page["items"].as_array().expect("items").clone();
            if let Some(last) = items.last() {
                after = last["seq"].as_i64().expect("seq");
            }
            out.extend(items);
            if page["has_more"] != json!(true) {
                return out;
            }
        }
    }

    /// Follows `next_cursor` through a `{items, next_cursor}` list at `path` (which may carry a
    /// query already) and returns every item in order. Fails on a cursor loop.
    pub async fn walk_pages(&self, who: &Session, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!(
                    "{path}{sep}limit={limit}&{}",
                    query_string(&[("cursor", c)])
                ),
            };
            let (status, page) = self.get(&url, &who.access_token).await;
            assert_eq!(status, StatusCode::OK, "{url}: {page}");
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= limit, "{url}: more than {limit} items");
            out.extend(items.iter().cloned());
            match &page["next_cursor"] {
                Value::Null => return out,
                Value::String(c) => {
                    assert_eq!(items.len(), limit, "{url}: a short page must be the last");
                    cursor = Some(c.clone());
                }
                other => panic!("{url}: next_cursor is {other}"),
            }
        }
        panic!("{path}: the cursor never ended");
    }

    /// Stops the server as SIGTERM would.
    pub async fn stop(&self) {
        self.handle.shutdown().await;
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/ws", self.port)
    }
}

/// One request with an optional bearer token and JSON body: status and JSON (`Value::Null` for
/// an empty body). Panics on a non-JSON body, which the contract never sends.
pub async fn send_json(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, _, value) = read_json(req.send().await.expect("request sent"), url).await;
    (status, value)
}

/// A response's status, headers and JSON body (`Value::Null` for an empty body). Panics on a
/// non-JSON body, which the contract never sends.
async fn read_json(resp: reqwest::Response, what: &str) -> (StatusCode, HeaderMap, Value) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body read");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "non-JSON body for {what}: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, headers, value)
}

pub fn session_from(body: &Value) -> Session {
    Session {
        user_id: body["user"]["id"].as_i64().expect("user.id"),
        username: body["user"]["username"]
            .as_str()
            .expect("username")
            .to_owned(),
        access_token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh_token: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    }
}

/// `a=1&b=x%25y`: the pairs, URL-encoded, for a query string.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("static URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// Asserts a contract error: the status, `{"error": {"code", "message", "field"?}}` with this
/// code, a non-empty message, and `field` exactly as given (absent when `None`).
#[track_caller]
pub fn assert_error(
    resp: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    let (got, body) = resp;
    assert_eq!(*got, status, "status; body: {body}");
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    assert_eq!(obj.len(), 1, "only `error` at the top: {body}");
    let err = &body["error"];
    assert_eq!(err["code"], code, "code: {body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    match field {
        Some(f) => assert_eq!(err["field"], f, "field: {body}"),
        None => assert!(err.get("field").is_none(), "no field expected: {body}"),
    }
}

/// The `id`s of a list of JSON objects.
pub fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop without waiting; the database is dropped right after, forcibly.
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.shutdown().await });
    }
}
