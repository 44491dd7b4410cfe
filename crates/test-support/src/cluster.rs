//! Real server processes and a private Redis, for the multi-node tests.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the tests' Redis lives: `HUDDLE_TEST_REDIS` or the machine's default.
pub fn redis_url() -> String {
    std::env::var("HUDDLE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether Redis tests can run: skips loudly outside CI when Redis is down, fails under CI.
pub fn redis_available() -> bool {
    let port = redis_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(6379);
    let ok = redis_cli(port, &["ping"]).is_some_and(|r| r == "PONG");
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("CI=true but Redis is unreachable at {}", redis_url());
        }
        eprintln!(
            "\n!!!!!!!! SKIPPING Redis test: {} unreachable (start redis-server or set HUDDLE_TEST_REDIS) !!!!!!!!\n",
            redis_url()
        );
    }
    ok
}

/// A key prefix of the test's own, whose keys are deleted afterwards.
pub struct RedisPrefix {
    pub prefix: String,
}

impl RedisPrefix {
    pub fn new() -> Self {
        Self {
            prefix: format!("huddle_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Default for RedisPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// A Redis server of the test's own (so it can be stopped and restarted), on a free port.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut redis = Self {
            port,
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port; returns once it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if redis_cli(self.port, &["ping"]).is_some_and(|r| r == "PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("private redis-server did not answer");
    }

    /// Kills it (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `huddle` server process.
pub struct NodeProcess {
    pub port: u16,
    pub address: String,
    child: Child,
    /// The node's own files directory, unless `env` gives it a bucket or another directory.
    _files: tempfile::TempDir,
}

impl NodeProcess {
    /// Starts the binary with `env` on a free port and waits until it listens.
    pub fn spawn(bin: &str, env: &[(&str, String)]) -> NodeProcess {
        let files = tempfile::tempdir().expect("a directory for files");
        let mut cmd = Command::new(bin);
        cmd.env("HUDDLE_PORT", "0")
            .env("HUDDLE_HOST", "127.0.0.1")
            .env("HUDDLE_LOG_FORMAT", "json")
            .env("HUDDLE_WORKERS", "1")
            .env("HUDDLE_BCRYPT_COST", "4")
            .env("HUDDLE_AUTH_RATE_LIMIT", "0")
            .env("HUDDLE_JWT_SECRET", "test-secret-test-secret-test-secret!")
            .env("HUDDLE_FILES_DIR", files.path())
            .env(
                "RUST_LOG",
                std::env::var("HUDDLE_TEST_NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("huddle starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let echo = std::env::var("HUDDLE_TEST_NODE_LOG").is_ok();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[node] {line}");
                }
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let port: String = rest
                        .split(':')
                        .nth(1)
                        .unwrap_or("")
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let (Some(tx), Ok(port)) = (tx.take(), port.parse::<u16>()) {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the node printed its address");
        NodeProcess {
            port,
            address: format!("http://127.0.0.1:{port}"),
            child,
            _files: files,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/ws", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no shutdown, no goodbyes.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP client for a node (the REST calls the cluster tests need).
#[derive(Clone)]
pub struct NodeClient {
    pub base: String,
    pub client: reqwest::Client,
}

impl NodeClient {
    pub fn new(node: &NodeProcess) -> Self {
        Self {
            base: node.address.clone(),
            client: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        crate::app::send_json(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            token,
            body,
        )
        .await
    }

    pub async fn register(&self, username: &str) -> crate::Session {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/register",
                None,
                Some(serde_json::json!({"username": username, "password": crate::PASSWORD})),
            )
            .await;
        assert_eq!(
            status,
            reqwest::StatusCode::CREATED,
            "register {username}: {body}"
        );
        crate::session_from(&body)
    }

    /// Creates a public room owned by `owner`; its id.
    pub async fn create_room(&self, owner: &crate::Session, name: &str) -> i64 {
        let (status, room) = self
            .post(
                "/api/v1/rooms",
                &owner.access_token,
                serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(
            status,
            reqwest::StatusCode::CREATED,
            "create {name}: {room}"
        );
        room["id"].as_i64().expect("a room id")
    }

    /// Joins `who` to a public room.
    pub async fn join(&self, who: &crate::Session, room: i64) {
        let (status, body) = self
            .post(
                &format!("/api/v1/rooms/{room}/join"),
                &who.access_token,
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "join {room}: {body}");
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn delete(
        &self,
        path: &str,
        token: &str,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }
}

/// Several server processes sharing one fresh PostgreSQL database and one Redis under a
/// prefix of their own.
pub struct TestCluster {
    pub nodes: Vec<NodeProcess>,
    pub db: crate::TestDb,
    pub prefix: RedisPrefix,
    bin: String,
    env: Vec<(&'static str, String)>,
}

impl TestCluster {
    /// `None` (after a loud message) when PostgreSQL or Redis is missing outside CI.
    pub fn start(
        bin: &str,
        nodes: usize,
        redis: &str,
        env: &[(&'static str, String)],
    ) -> Option<TestCluster> {
        if !crate::Backend::Postgres.available() || !redis_available() {
            return None;
        }
        let db = crate::TestDb::create(crate::Backend::Postgres);
        let prefix = RedisPrefix::new();
        let mut all_env = vec![
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", redis.to_owned()),
            ("HUDDLE_REDIS_PREFIX", prefix.prefix.clone()),
            ("HUDDLE_DB_POOL_SIZE", "6".to_owned()),
        ];
        all_env.extend(env.iter().cloned());
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            db,
            prefix,
            bin: bin.to_owned(),
            env: all_env,
        };
        for _ in 0..nodes {
            cluster.add_node();
        }
        Some(cluster)
    }

    pub fn add_node(&mut self) -> usize {
        let node = NodeProcess::spawn(&self.bin, &self.env);
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Starts a node on `port` in place of node `index` (killed before), as a restarted
    /// replica behind the same address would come back.
    pub fn replace_node(&mut self, index: usize, port: u16) {
        let mut env = self.env.clone();
        env.push(("HUDDLE_PORT", port.to_string()));
        self.nodes[index] = NodeProcess::spawn(&self.bin, &env);
    }

    pub fn client(&self, node: usize) -> NodeClient {
        NodeClient::new(&self.nodes[node])
    }
}

/// Connects a WebSocket client to a node with the token in the header; waits for `ready`.
pub async fn ws_connect(url: &str, token: &str) -> crate::WsClient {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("ws request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("ws connect");
    let mut client = crate::WsClient {
        stream,
        ready: serde_json::Value::Null,
    };
    client.ready = client.expect("ready").await;
    client
}
