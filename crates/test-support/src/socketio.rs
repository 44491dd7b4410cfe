//! The real `socket.io-client` (npm, pinned in `socketio/package-lock.json`), one Node.js
//! process per client, driven line by line: the tests say what to do, the client says what it
//! saw. Installed with `npm ci` the first time a test needs it.
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long a test waits for what it expects.
pub const WAIT: Duration = Duration::from_secs(10);

fn driver_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/socketio"))
}

/// Whether Node.js runs here; under CI it must, and a missing one fails the test.
pub fn node_available() -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true: Node.js (`node`) is needed for the socket.io-client tests");
        }
        eprintln!("\n!!!!!!!! SKIPPING Socket.IO client test: Node.js (`node`) is not installed !!!!!!!!\n");
    }
    ok
}

/// Installs the pinned client once (`npm ci`), for all the tests of a process.
fn ensure_installed() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut done = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let dir = driver_dir();
    if !dir
        .join("node_modules/socket.io-client/package.json")
        .exists()
    {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
    *done = true;
}

/// Which transports the client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transports {
    /// Long-polling first, then the upgrade to WebSocket: the client's default.
    Default,
    /// Long-polling only.
    Polling,
    /// WebSocket from the start.
    WebSocket,
}

/// One `socket.io-client` in its own Node.js process.
pub struct SioClient {
    /// Held for its `kill_on_drop`: the client's process ends with the test's client.
    _child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Lines read past while looking for another.
    seen: VecDeque<Value>,
    next_ack: u64,
}

impl SioClient {
    /// Starts a client connecting to `base` (`http://host:port`) with `token` as its `auth`
    /// (none when `None`). `reconnection` turns on the client's own reconnecting.
    pub async fn start(
        base: &str,
        token: Option<&str>,
        transports: Transports,
        reconnection: bool,
    ) -> SioClient {
        ensure_installed();
        let mut child = Command::new("node")
            .arg(driver_dir().join("driver.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({"type": "unparsed", "line": line}));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let mut client = SioClient {
            _child: child,
            stdin,
            lines,
            seen: VecDeque::new(),
            next_ack: 0,
        };
        let transports = match transports {
            Transports::Default => Value::Null,
            Transports::Polling => json!(["polling"]),
            Transports::WebSocket => json!(["websocket"]),
        };
        client
            .command(json!({"op": "connect", "url": base, "token": token,
                "transports": transports, "reconnection": reconnection}))
            .await;
        client
    }

    /// Starts a client and waits for its `connect` (whose line it returns).
    pub async fn connected(base: &str, token: &str, transports: Transports) -> SioClient {
        let mut client = SioClient::start(base, Some(token), transports, false).await;
        let connect = client.line("connect").await;
        assert!(connect["id"].is_string(), "{connect}");
        client
    }

    async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("the client takes commands");
    }

    /// The next line of `kind` (`connect`, `connect_error`, `disconnect`, `upgrade`,
    /// `reconnect`) within [`WAIT`]; lines of other kinds are kept for later.
    pub async fn line(&mut self, kind: &str) -> Value {
        let found = self.find(|v| v["type"] == kind, WAIT).await;
        found.unwrap_or_else(|| panic!("no {kind} within {WAIT:?}; saw {:?}", self.seen))
    }

    /// The next `name` event's argument within [`WAIT`].
    pub async fn event(&mut self, name: &str) -> Value {
        self.event_where(name, |_| true).await
    }

    /// The next `name` event whose argument passes `test`.
    pub async fn event_where(&mut self, name: &str, test: impl Fn(&Value) -> bool) -> Value {
        let found = self
            .find(
                |v| v["type"] == "event" && v["name"] == name && test(&v["data"]),
                WAIT,
            )
            .await;
        match found {
            Some(v) => v["data"].clone(),
            None => panic!("no {name} event within {WAIT:?}; saw {:?}", self.seen),
        }
    }

    /// Whether a `name` event arrives within `wait`.
    pub async fn gets_event(&mut self, name: &str, wait: Duration) -> bool {
        self.find(|v| v["type"] == "event" && v["name"] == name, wait)
            .await
            .is_some()
    }

    /// Emits `event` with `arg` and waits for its acknowledgement's argument.
    pub async fn ask(&mut self, event: &str, arg: Value) -> Value {
        self.next_ack += 1;
        let id = self.next_ack;
        self.command(json!({"op": "emit", "id": id, "event": event, "arg": arg, "ack": true}))
            .await;
        let found = self
            .find(|v| v["type"] == "ack" && v["id"] == id, WAIT + WAIT)
            .await
            .unwrap_or_else(|| panic!("no answer to {event}"));
        assert!(found["timeout"].is_null(), "{event} was never acknowledged");
        found["data"].clone()
    }

    /// Emits `event` without asking for an acknowledgement.
    pub async fn emit(&mut self, event: &str, arg: Value) {
        self.command(json!({"op": "emit", "event": event, "arg": arg, "ack": false}))
            .await;
    }

    /// The transport in use now (`polling` or `websocket`).
    pub async fn transport(&mut self) -> String {
        self.command(json!({"op": "transport"})).await;
        let line = self.line("transport").await;
        line["name"].as_str().unwrap_or_default().to_owned()
    }

    /// Disconnects the socket (the client's `socket.disconnect()`).
    pub async fn disconnect(&mut self) {
        self.command(json!({"op": "disconnect"})).await;
    }

    async fn find(&mut self, want: impl Fn(&Value) -> bool, wait: Duration) -> Option<Value> {
        if let Some(i) = self.seen.iter().position(&want) {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(v)) if want(&v) => return Some(v),
                Ok(Some(v)) => self.seen.push_back(v),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}
