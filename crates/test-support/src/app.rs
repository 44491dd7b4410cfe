use std::time::Duration;

use actix_web::dev::ServerHandle;
use huddle_server::{Application, Config};
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
    handle: ServerHandle,
    _db: TestDb,
}

/// A logged-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    pub access_token: String,
    pub refresh_token: String,
}

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
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the server with the test configuration changed by `adjust`.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::create(backend);
        let mut config = test_config(&db.url);
        adjust(&mut config);
        let app = Application::build(config).await.expect("server starts");
        let port = app.port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::new(),
            db_url: db.url.clone(),
            handle,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON
    /// (`Value::Null` for an empty body).
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body read");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body for {path}: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
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
                Some(json!({"username": username, "password": "password123"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        session_from(&body)
    }

    /// Creates a room owned by `owner` and returns its JSON.
    pub async fn create_room(&self, owner: &Session, name: &str, private: bool) -> Value {
        let (status, room) = self
            .post("/api/v1/rooms", &owner.access_token, json!({"name": name, "is_private": private}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create room: {room}");
        room
    }

    /// Posts a message and returns its JSON.
    pub async fn send(&self, who: &Session, room_id: i64, body: &str) -> Value {
        let (status, msg) = self
            .post(&format!("/api/v1/rooms/{room_id}/messages"), &who.access_token, json!({"body": body}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {msg}");
        msg
    }

    /// Stops the server as SIGTERM would.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

pub fn session_from(body: &Value) -> Session {
    Session {
        user_id: body["user"]["id"].as_i64().expect("user.id"),
        username: body["user"]["username"].as_str().expect("username").to_owned(),
        access_token: body["access_token"].as_str().expect("access_token").to_owned(),
        refresh_token: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop without waiting; the database is dropped right after, forcibly.
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}
