//! End-to-end tests of the web app in a real browser: Debian's Chromium, driven through
//! chromedriver (WebDriver) with fantoccini, against the real server on SQLite.
//!
//! Outside CI the test skips loudly when `/usr/bin/chromium` or `/usr/bin/chromedriver` is
//! missing; with `CI=true` it fails instead. Screenshots go to `target/e2e-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use huddle_server::Application;
use huddle_test_support::{assert_error, test_config, Backend, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(20);
const ENTER: &str = "\u{E007}";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the browser is here; skips loudly (or fails in CI) when it is not.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if in_ci() {
        panic!("CI=true but {missing:?} missing: install Debian's chromium and chromium-driver");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPING browser end-to-end tests: {missing:?} not found. \
         Install them with `apt-get install chromium chromium-driver`. !!!!!!!!\n"
    );
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = target_dir().join("e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        // Its own process group, so the browsers it starts go with it even after a panic.
        let child = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Driver { child, url };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/status", driver.url)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and every Chromium it started (same process group).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session with its own fresh profile.
struct Browser {
    name: &'static str,
    c: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(driver: &Driver, name: &'static str, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-background-timer-throttling".to_owned(),
            "--disable-renderer-backgrounding".to_owned(),
            "--disable-backgrounding-occluded-windows".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--password-store=basic".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("open a Chromium session");
        c.set_window_size(width, height).await.unwrap();
        Browser {
            name,
            c,
            _profile: profile,
        }
    }

    async fn js(&self, script: &str) -> Value {
        self.c
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("[{}] script failed: {e}\n{script}", self.name))
    }

    async fn screenshot(&self, file: &str) -> PathBuf {
        let png = self.c.screenshot().await.unwrap();
        let path = screenshot_dir().join(format!("{file}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Polls a JavaScript expression until it is truthy; fails with a screenshot otherwise.
    async fn wait_js(&self, what: &str, expr: &str) -> Value {
        let script = format!("return ({expr});");
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(&script).await;
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("FAILED-{}", self.name)).await;
                panic!(
                    "[{}] timed out waiting for {what} ({expr}); last value {v}; screenshot {}",
                    self.name,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_visible(&self, css: &str) {
        let sel = serde_json::to_string(css).unwrap();
        self.wait_js(
            &format!("{css} visible"),
            &format!("(() => {{ const e = document.querySelector({sel}); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'; }})()"),
        )
        .await;
    }

    async fn is_visible(&self, css: &str) -> bool {
        let sel = serde_json::to_string(css).unwrap();
        self.js(&format!(
            "const e = document.querySelector({sel}); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';"
        ))
        .await
            == json!(true)
    }

    /// Clicks the element; again when the page re-rendered it between finding and clicking.
    async fn click(&self, css: &str) {
        for attempt in 1.. {
            self.wait_visible(css).await;
            let clicked = match self.c.find(Locator::Css(css)).await {
                Ok(el) => el.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if attempt < 5 && e.to_string().contains("stale element") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("[{}] click {css}: {e}", self.name),
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.wait_visible(css).await;
        let el = self.c.find(Locator::Css(css)).await.unwrap();
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("[{}] type into {css}: {e}", self.name));
    }

    async fn fill(&self, css: &str, text: &str) {
        self.wait_visible(css).await;
        let el = self.c.find(Locator::Css(css)).await.unwrap();
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// The texts of the message bodies shown in the open room, in order.
    async fn bodies(&self) -> Vec<String> {
        let v = self
            .js("return Array.from(document.querySelectorAll('#messages [data-testid=message-body]')).map(e => e.textContent);")
            .await;
        serde_json::from_value(v).unwrap()
    }

    async fn wait_message(&self, text: &str) {
        let t = serde_json::to_string(text).unwrap();
        self.wait_js(
            &format!("message {text:?}"),
            &format!("Array.from(document.querySelectorAll('#messages [data-testid=message-body]')).some(e => e.textContent === {t})"),
        )
        .await;
    }

    /// Sends a message from the composer with Enter.
    async fn send(&self, text: &str) {
        self.type_into("#composer-input", &format!("{text}{ENTER}"))
            .await;
    }

    async fn register(&self, base: &str, username: &str, display: &str) {
        self.c.goto(base).await.unwrap();
        self.wait_visible("#auth-form").await;
        self.click("#auth-toggle").await;
        self.wait_visible("#auth-display-name").await;
        self.fill("#auth-username", username).await;
        self.fill("#auth-display-name", display).await;
        self.fill("#auth-password", "password123").await;
        self.click("#auth-submit").await;
    }

    /// Registers and waits until the chat view is up and its socket online.
    async fn register_and_connect(&self, base: &str, username: &str, display: &str) {
        self.register(base, username, display).await;
        self.wait_visible("#main-view").await;
        self.wait_js(
            "connected",
            "document.getElementById('conn-status').dataset.state === 'online'",
        )
        .await;
    }

    async fn wait_auth_error(&self, needle: &str) {
        let n = serde_json::to_string(needle).unwrap();
        self.wait_js(
            &format!("auth error {needle:?}"),
            &format!("document.getElementById('auth-error').textContent.includes({n})"),
        )
        .await;
    }
}

/// The server on a fixed port, restartable on the same database.
async fn restart(db_url: &str, port: u16) -> huddle_server::ShutdownHandle {
    let mut config = test_config(db_url);
    config.port = port;
    config.auth_rate_limit = 8;
    let deadline = Instant::now() + Duration::from_secs(10);
    let app = loop {
        match Application::build(config.clone()).await {
            Ok(app) => break app,
            Err(e) if Instant::now() < deadline => {
                eprintln!("restart: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("restart failed: {e}"),
        }
    };
    let handle = app.shutdown_handle();
    tokio::spawn(app.run_until_stopped());
    handle
}

/// The browser tests take turns: each runs two Chromium sessions on a small machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Removes screenshots of an earlier failed run.
fn clear_failure_shots() {
    if let Ok(entries) = std::fs::read_dir(screenshot_dir()) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("FAILED-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn step(name: &str) {
    eprintln!("---- e2e: {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_chat_in_real_browsers() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    clear_failure_shots();
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.auth_rate_limit = 8;
        // The scroll-back check fills a room over REST faster than a person sends.
        cfg.realtime.send_rate_per_sec = 1_000_000.0;
        cfg.realtime.send_burst = 1_000_000.0;
    })
    .await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    let bob = Browser::open(&driver, "bob", 1280, 800).await;

    step("the sign-in page is served from the binary");
    ann.c.goto(&base).await.unwrap();
    ann.wait_visible("#auth-form").await;
    ann.screenshot("01-sign-in").await;

    step("register ann; bob gets clear messages for a wrong password and a taken name");
    ann.register(&base, "ann", "Ann Archer").await;
    ann.wait_visible("#main-view").await;
    ann.wait_js(
        "name in the top bar",
        "document.getElementById('me-name').textContent === 'Ann Archer'",
    )
    .await;

    bob.c.goto(&base).await.unwrap();
    bob.fill("#auth-username", "ann").await;
    bob.fill("#auth-password", "not-the-password").await;
    bob.click("#auth-submit").await;
    bob.wait_auth_error("Wrong username or password").await;
    bob.screenshot("02-wrong-password").await;
    bob.register(&base, "ann", "Not Ann").await;
    bob.wait_auth_error("username is taken").await;
    bob.fill("#auth-username", "bob").await;
    bob.fill("#auth-display-name", "Bob Baker").await;
    bob.click("#auth-submit").await;
    bob.wait_visible("#main-view").await;

    step("ann creates a room; owner controls are shown to her");
    ann.wait_js(
        "connected",
        "document.getElementById('conn-status').dataset.state === 'online'",
    )
    .await;
    ann.click("#new-room-btn").await;
    ann.fill("#room-name", "general").await;
    ann.fill("#room-description", "Plans, releases & <everything> else")
        .await;
    ann.click("#room-save").await;
    ann.wait_js(
        "room open",
        "document.getElementById('room-title').textContent.includes('general')",
    )
    .await;
    ann.wait_js("description shown as text", "document.getElementById('room-desc').textContent === 'Plans, releases & <everything> else'").await;
    assert!(
        ann.is_visible("#delete-room-btn").await,
        "the owner may delete the room"
    );
    assert!(
        ann.is_visible("#room-settings-btn").await,
        "the owner may edit the room"
    );
    assert!(
        !ann.is_visible("#leave-room-btn").await,
        "the owner cannot leave"
    );
    let room_id = ann
        .wait_js(
            "room id",
            "Number((location.hash.match(/room\\/(\\d+)/) || [])[1])",
        )
        .await
        .as_i64()
        .unwrap();

    step("bob finds the room by search and joins it");
    bob.click("#browse-btn").await;
    bob.type_into("#room-search", "gene").await;
    bob.wait_js(
        "search result",
        &format!("!!document.querySelector('[data-testid=join-{room_id}]')"),
    )
    .await;
    bob.screenshot("03-browse").await;
    bob.click(&format!("[data-testid=join-{room_id}]")).await;
    bob.wait_js(
        "room open",
        "document.getElementById('room-title').textContent.includes('general')",
    )
    .await;

    step("an unauthorised action is not offered: bob is a plain member");
    assert!(
        !bob.is_visible("#delete-room-btn").await,
        "a member must not be offered room deletion"
    );
    assert!(
        !bob.is_visible("#room-settings-btn").await,
        "a member must not be offered room editing"
    );
    assert!(
        bob.is_visible("#leave-room-btn").await,
        "a member may leave"
    );

    step("messages appear live on both screens");
    ann.click("#members-btn").await;
    ann.wait_js(
        "bob in members",
        "!!document.querySelector('#member-list [data-username=bob]')",
    )
    .await;
    ann.send("Hello Bob! Welcome to general.").await;
    bob.wait_message("Hello Bob! Welcome to general.").await;
    ann.wait_message("Hello Bob! Welcome to general.").await;
    bob.send("Hi Ann! Glad to be here.").await;
    ann.wait_message("Hi Ann! Glad to be here.").await;
    ann.send("The release notes are ready. Could you review them today?")
        .await;
    bob.wait_message("The release notes are ready. Could you review them today?")
        .await;
    bob.send("Sure, I'll read them after lunch.").await;
    ann.wait_message("Sure, I'll read them after lunch.").await;
    let authors = ann
        .js("return Array.from(document.querySelectorAll('#messages [data-testid=message]')).map(e => e.dataset.author);")
        .await;
    assert_eq!(
        authors,
        json!(["ann", "bob", "ann", "bob"]),
        "every message once, in order, with its author"
    );
    let times = ann
        .js("return Array.from(document.querySelectorAll('#messages time')).every(e => e.textContent.length > 0);")
        .await;
    assert_eq!(times, json!(true), "every message shows its time");
    ann.wait_js(
        "bob shown online",
        "document.querySelector('#member-list [data-username=bob]').dataset.presence === 'online'",
    )
    .await;

    step("bob may not edit or delete ann's message");
    let offered = bob
        .js("return document.querySelectorAll('#messages [data-author=ann] [data-testid=edit-message], #messages [data-author=ann] [data-testid=delete-message]').length;")
        .await;
    assert_eq!(
        offered,
        json!(0),
        "no edit/delete on other people's messages for a member"
    );

    step("typing indicator");
    bob.type_into("#composer-input", "I am typing").await;
    ann.wait_js(
        "typing shown",
        "document.getElementById('typing').textContent.includes('Bob Baker is typing')",
    )
    .await;
    ann.screenshot("04-chat-desktop").await;
    bob.screenshot("05-chat-desktop-member").await;
    let keys = "\u{E009}a\u{E000}\u{E003}"; // Ctrl+A, then Backspace: clear the composer
    bob.type_into("#composer-input", keys).await;

    step("what users type is shown as text, never as markup");
    let evil = "<img src=x onerror=\"document.body.dataset.pwned=1\"> <script>document.body.dataset.pwned=1</script> <b>bold?</b>";
    bob.send(evil).await;
    ann.wait_message(evil).await;
    bob.wait_message(evil).await;
    for b in [&ann, &bob] {
        let injected = b
            .js("return document.querySelectorAll('#messages img, #messages script, #messages b').length + (document.body.dataset.pwned ? 100 : 0);")
            .await;
        assert_eq!(
            injected,
            json!(0),
            "[{}] user text must never become markup",
            b.name
        );
    }
    bob.send("Shall we plan the release?").await;
    ann.wait_message("Shall we plan the release?").await;

    step("an edit appears on the other screen");
    let ann_msg = "#messages [data-author=ann]";
    ann.click(&format!("{ann_msg} .msg-body")).await;
    ann.click(&format!("{ann_msg} [data-testid=edit-message]"))
        .await;
    ann.wait_visible("[data-testid=edit-input]").await;
    ann.type_into(
        "[data-testid=edit-input]",
        "\u{E009}a\u{E000}\u{E003}Hello Bob, edited!",
    )
    .await;
    ann.type_into("[data-testid=edit-input]", ENTER).await;
    bob.wait_message("Hello Bob, edited!").await;
    bob.wait_js(
        "edited mark",
        "!!document.querySelector('#messages [data-author=ann] [data-testid=edited]')",
    )
    .await;
    ann.wait_message("Hello Bob, edited!").await;

    step("a delete appears on the other screen");
    let bob_last = "#messages [data-testid=message][data-author=bob]:last-child";
    bob.click(&format!("{bob_last} .msg-body")).await;
    bob.click(&format!("{bob_last} [data-testid=delete-message]"))
        .await;
    bob.click("#confirm-ok").await;
    ann.wait_message("This message was deleted.").await;
    bob.wait_message("This message was deleted.").await;
    assert!(!ann
        .bodies()
        .await
        .contains(&"Shall we plan the release?".to_owned()));

    step("promote bob; after a reload he is still signed in, in the same room, and an admin");
    ann.click("#member-list [data-username=bob] [data-testid=promote]")
        .await;
    ann.wait_js(
        "bob is admin",
        "document.querySelector('#member-list [data-username=bob]').dataset.role === 'admin'",
    )
    .await;
    bob.c.refresh().await.unwrap();
    bob.wait_visible("#main-view").await;
    bob.wait_js(
        "room reopened",
        "document.getElementById('room-title').textContent.includes('general')",
    )
    .await;
    bob.wait_message("Hello Bob, edited!").await;
    bob.wait_visible("#room-settings-btn").await;
    assert!(
        !bob.is_visible("#delete-room-btn").await,
        "only the owner deletes a room"
    );

    step("history scroll-back loads older messages");
    let ann_api = app.login_ok("ann").await;
    for i in 1..=120 {
        app.send(&ann_api, room_id, &format!("history {i}")).await;
    }
    bob.wait_message("history 120").await;
    bob.c.refresh().await.unwrap();
    bob.wait_message("history 120").await;
    let shown = bob.bodies().await.len();
    assert!(
        shown <= 60,
        "the first page is the newest 50, not all ({shown})"
    );
    let scroll_up = "document.getElementById('message-scroll').scrollTop = 0; return document.querySelectorAll('#messages [data-testid=message]').length;";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        bob.js(scroll_up).await;
        if bob.is_visible("#history-start").await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "scrolling up never reached the first message"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let bodies = bob.bodies().await;
    assert_eq!(
        bodies.first().map(String::as_str),
        Some("Hello Bob, edited!")
    );
    assert_eq!(bodies.len(), 126, "every message once, in order");
    let seqs = bob
        .js("return Array.from(document.querySelectorAll('#messages [data-testid=message]')).map(e => Number(e.dataset.seq));")
        .await;
    let seqs: Vec<i64> = serde_json::from_value(seqs).unwrap();
    assert_eq!(seqs, (1..=126).collect::<Vec<_>>());

    step("unread counts per room");
    ann.click("#new-room-btn").await;
    ann.fill("#room-name", "random").await;
    ann.click("#room-save").await;
    ann.wait_js(
        "random open",
        "document.getElementById('room-title').textContent.includes('random')",
    )
    .await;
    bob.send("ping from bob").await;
    ann.wait_js("unread badge", &format!("(document.querySelector('[data-testid=unread-{room_id}]') || {{}}).textContent === '1'")).await;
    ann.screenshot("06-unread").await;
    ann.click(&format!("#room-list [data-room-id='{room_id}']"))
        .await;
    ann.wait_message("ping from bob").await;
    ann.wait_js(
        "badge cleared",
        &format!("!document.querySelector('[data-testid=unread-{room_id}]')"),
    )
    .await;

    step("server restart: offline banner, pending message resent, messages sent meanwhile shown");
    let port = app.port;
    app.stop().await;
    ann.wait_visible("#offline-banner").await;
    bob.wait_visible("#offline-banner").await;
    bob.send("sent while offline").await;
    bob.wait_js(
        "pending shown",
        "document.querySelectorAll('#pending [data-testid=pending-message]').length === 1",
    )
    .await;
    bob.screenshot("07-offline").await;
    let server = restart(&app.db_url, port).await;
    // Before the pages are back (they retry with backoff): an edit and a reaction, which only
    // a resume from the room's event log brings them.
    let first = app.all_messages(&ann_api, room_id).await[0].clone();
    let (status, body) = app
        .patch(
            &format!("/api/v1/rooms/{room_id}/messages/{}", first["id"]),
            &ann_api.access_token,
            json!({ "body": "Hello Bob, edited twice!" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/rooms/{room_id}/messages/{}/reactions/%F0%9F%8E%89",
                first["id"]
            ),
            Some(&ann_api.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    app.send(&ann_api, room_id, "posted during the restart")
        .await;
    // Bob has the whole history loaded (scrolled back above).
    bob.wait_message("Hello Bob, edited twice!").await;
    bob.wait_js(
        "the reaction made meanwhile",
        "(document.querySelector(\"#messages [data-seq='1'] [data-testid=reaction]\") || {dataset: {}}).dataset.emoji === '🎉'",
    )
    .await;
    for b in [&ann, &bob] {
        b.wait_message("posted during the restart").await;
        b.wait_message("sent while offline").await;
        b.wait_js(
            "banner gone",
            "document.getElementById('offline-banner').hidden",
        )
        .await;
    }
    bob.wait_js(
        "nothing pending",
        "document.querySelectorAll('#pending [data-testid=pending-message]').length === 0",
    )
    .await;
    let once = ann
        .js("return Array.from(document.querySelectorAll('#messages [data-testid=message-body]')).filter(e => e.textContent === 'sent while offline').length;")
        .await;
    assert_eq!(once, json!(1), "a resent message is stored and shown once");

    step("profile editing");
    bob.click("#profile-btn").await;
    bob.fill("#profile-display-name", "Bobby Tables").await;
    bob.fill("#profile-bio", "Drops tables for fun.").await;
    bob.screenshot("08-profile").await;
    bob.click("#profile-save").await;
    bob.wait_js(
        "name updated",
        "document.getElementById('me-name').textContent === 'Bobby Tables'",
    )
    .await;
    bob.send("new name, who dis").await;
    ann.wait_js(
        "new name on ann's screen",
        "Array.from(document.querySelectorAll('#messages [data-author=bob] [data-testid=message-author]')).some(e => e.textContent === 'Bobby Tables')",
    )
    .await;

    step("phone-sized window");
    bob.c.set_window_size(390, 844).await.unwrap();
    bob.wait_js(
        "sidebar off screen",
        "document.getElementById('sidebar').getBoundingClientRect().right <= 0",
    )
    .await;
    bob.wait_visible("#composer-input").await;
    bob.send("hello from a phone").await;
    ann.wait_message("hello from a phone").await;
    bob.screenshot("09-chat-phone").await;
    bob.click("#menu-btn").await;
    bob.wait_js(
        "drawer open",
        "document.getElementById('sidebar').getBoundingClientRect().left >= 0",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.screenshot("10-rooms-phone").await;
    bob.click(&format!("#room-list [data-room-id='{room_id}']"))
        .await;
    bob.wait_js(
        "drawer closed",
        "!document.body.classList.contains('drawer-open')",
    )
    .await;

    step("the owner deletes the room; it disappears for the member");
    ann.click("#delete-room-btn").await;
    ann.click("#confirm-ok").await;
    ann.wait_js(
        "room gone for ann",
        &format!("!document.querySelector('#room-list [data-room-id=\"{room_id}\"]')"),
    )
    .await;
    bob.wait_js(
        "room gone for bob",
        &format!("!document.querySelector('#room-list [data-room-id=\"{room_id}\"]')"),
    )
    .await;
    bob.wait_visible("#empty-view").await;

    step("sign out, then the rate limit is explained");
    bob.c.set_window_size(1280, 800).await.unwrap();
    bob.click("#logout-btn").await;
    bob.wait_visible("#auth-form").await;
    let mut limited = false;
    for _ in 0..12 {
        bob.fill("#auth-username", "bob").await;
        bob.fill("#auth-password", "wrong-password").await;
        bob.click("#auth-submit").await;
        bob.wait_js("an answer", "document.getElementById('auth-error').textContent.length > 0 && !document.getElementById('auth-submit').disabled").await;
        let text = bob
            .js("return document.getElementById('auth-error').textContent;")
            .await;
        if text.as_str().unwrap_or("").contains("Too many attempts") {
            limited = true;
            break;
        }
        assert!(
            text.as_str()
                .unwrap_or("")
                .contains("Wrong username or password"),
            "{text}"
        );
        bob.js("document.getElementById('auth-error').textContent = ''; return 1;")
            .await;
    }
    assert!(limited, "the rate limit message never showed");
    bob.screenshot("11-rate-limited").await;

    ann.c.close().await.unwrap();
    bob.c.close().await.unwrap();
    server.shutdown().await;
    let shot = screenshot_dir().join("04-chat-desktop.png");
    eprintln!("screenshots in {}", shot.parent().unwrap().display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_are_refreshed_silently() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let ttl = Duration::from_secs(10);
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.access_token_ttl = ttl;
    })
    .await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let cat = Browser::open(&driver, "cat", 1024, 768).await;

    step("register and open a room");
    cat.register(&base, "cat", "Cat Cooper").await;
    cat.wait_visible("#main-view").await;
    cat.click("#new-room-btn").await;
    cat.fill("#room-name", "tokens").await;
    cat.click("#room-save").await;
    cat.wait_js(
        "room open",
        "document.getElementById('room-title').textContent.includes('tokens')",
    )
    .await;
    cat.wait_js(
        "connected",
        "document.getElementById('conn-status').dataset.state === 'online'",
    )
    .await;
    let token = "return JSON.parse(localStorage.getItem('huddle.session')).access_token;";
    let first = cat.js(token).await;
    let connections = cat
        .wait_js("connections counted", "document.body.dataset.connections")
        .await;

    step("wait past the access token's lifetime");
    tokio::time::sleep(ttl * 2).await;
    let second = cat.js(token).await;
    assert_ne!(first, second, "the access token was refreshed");
    assert_eq!(
        cat.js("return document.body.dataset.connections;").await,
        connections,
        "the socket took the new token without reconnecting (no 4401)"
    );
    cat.send("still here after the token expired").await;
    cat.wait_message("still here after the token expired").await;
    cat.wait_js(
        "nothing pending",
        "document.querySelectorAll('#pending [data-testid=pending-message]').length === 0",
    )
    .await;

    step("a reload keeps the session");
    cat.c.refresh().await.unwrap();
    cat.wait_visible("#main-view").await;
    cat.wait_message("still here after the token expired").await;
    cat.c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_manage_a_private_room() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let dan = Browser::open(&driver, "dan", 1280, 800).await;
    let eve = Browser::open(&driver, "eve", 1280, 800).await;
    dan.register(&base, "dan", "Dan Diaz").await;
    eve.register(&base, "eve", "Eve Evans").await;
    dan.wait_visible("#main-view").await;
    eve.wait_visible("#main-view").await;

    step("the owner creates a private room and adds a member by her username");
    dan.click("#new-room-btn").await;
    dan.fill("#room-name", "secret").await;
    dan.click("#room-private").await;
    dan.click("#room-save").await;
    dan.wait_js(
        "private room open",
        "document.getElementById('room-title').textContent === 'Private: secret' && !!document.querySelector('#room-title svg.lock')",
    )
    .await;
    let room_id = dan
        .wait_js(
            "room id",
            "Number((location.hash.match(/room\\/(\\d+)/) || [])[1])",
        )
        .await
        .as_i64()
        .unwrap();
    let link = format!("#room-list [data-room-id='{room_id}']");
    dan.click("#members-btn").await;
    dan.fill("#add-member-name", "nobody99").await;
    dan.type_into("#add-member-name", ENTER).await;
    dan.wait_js(
        "unknown user explained",
        "document.getElementById('add-member-error').textContent.startsWith('No user is called “nobody99”')",
    )
    .await;
    dan.fill("#add-member-name", "eve").await;
    dan.type_into("#add-member-name", ENTER).await;
    dan.wait_js(
        "eve listed",
        "!!document.querySelector('#member-list [data-username=eve]')",
    )
    .await;
    eve.wait_js(
        "room appears for eve",
        &format!("!!document.querySelector(\"{link}\")"),
    )
    .await;
    eve.click(&link).await;
    dan.send("only for us").await;
    eve.wait_message("only for us").await;
    assert!(!eve.is_visible("#room-settings-btn").await);
    assert!(!eve.is_visible("#delete-room-btn").await);
    eve.click("#members-btn").await;
    eve.wait_js(
        "members listed",
        "!!document.querySelector('#member-list [data-username=dan]')",
    )
    .await;
    let offered = eve
        .js("return document.querySelectorAll('#member-list [data-testid=kick], #member-list [data-testid=promote], #add-member-form:not([hidden])').length;")
        .await;
    assert_eq!(
        offered,
        json!(0),
        "a member is offered no member management"
    );

    step("a rename and description reach the member live");
    dan.click("#room-settings-btn").await;
    dan.fill("#room-name", "top secret").await;
    dan.fill("#room-description", "Launch plans").await;
    dan.click("#room-save").await;
    eve.wait_js(
        "renamed",
        "document.getElementById('room-title').textContent === 'Private: top secret'",
    )
    .await;
    eve.wait_js(
        "described",
        "document.getElementById('room-desc').textContent === 'Launch plans'",
    )
    .await;

    step("the owner removes the member; the room disappears for her");
    dan.click("#member-list [data-username=eve] [data-testid=kick]")
        .await;
    dan.click("#confirm-ok").await;
    dan.wait_js(
        "eve gone from members",
        "!document.querySelector('#member-list [data-username=eve]')",
    )
    .await;
    eve.wait_js(
        "room gone for eve",
        &format!("!document.querySelector(\"{link}\")"),
    )
    .await;
    eve.wait_visible("#empty-view").await;

    step("added again, she leaves by herself");
    dan.fill("#add-member-name", "@Eve").await;
    dan.type_into("#add-member-name", ENTER).await;
    eve.wait_js(
        "room back for eve",
        &format!("!!document.querySelector(\"{link}\")"),
    )
    .await;
    eve.click(&link).await;
    eve.click("#leave-room-btn").await;
    eve.click("#confirm-ok").await;
    eve.wait_js("left", &format!("!document.querySelector(\"{link}\")"))
        .await;
    dan.wait_js(
        "eve left dan's member list",
        "!document.querySelector('#member-list [data-username=eve]')",
    )
    .await;
    dan.screenshot("12-private-room-owner").await;
    dan.c.close().await.unwrap();
    eve.c.close().await.unwrap();
}

/// `GET /users/me/sessions` as `who`: the sessions, newest first (asserting 200 and an array).
async fn api_sessions(app: &TestApp, who: &Session) -> Vec<Value> {
    let (status, body) = app
        .get("/api/v1/users/me/sessions", &who.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "GET /users/me/sessions: {body}");
    body.as_array()
        .unwrap_or_else(|| panic!("the sessions are an array: {body}"))
        .clone()
}

/// The id of the one session in `sessions` whose `current` is `current`.
fn session_id(sessions: &[Value], current: bool) -> String {
    let found: Vec<&Value> = sessions
        .iter()
        .filter(|s| s["current"] == json!(current))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one session with current={current}: {sessions:?}"
    );
    found[0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a session id is a string: {}", found[0]))
        .to_owned()
}

/// The profile dialog's row of one session.
fn session_row(id: &str) -> String {
    assert!(
        !id.contains(['"', '\\']),
        "a session id fit for a CSS string: {id}"
    );
    format!("#sessions-list [data-session-id=\"{id}\"]")
}

const SESSION_ROWS: &str = "document.querySelectorAll('#sessions-list [data-testid=session]')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_ended_from_the_profile() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let fay = Browser::open(&driver, "fay", 1280, 800).await;

    step("signed in in the browser and, separately, over the API: two sessions");
    fay.register_and_connect(&base, "fay", "Fay Fisher").await;
    let api = app.login_ok("fay").await;
    let listed = api_sessions(&app, &api).await;
    assert_eq!(listed.len(), 2, "the browser's and the API's: {listed:?}");
    let api_id = session_id(&listed, true);
    let browser_id = session_id(&listed, false);
    let browser_agent = listed
        .iter()
        .find(|s| s["id"] == json!(browser_id))
        .map(|s| s["user_agent"].clone())
        .unwrap();

    step("the profile lists both, the browser's as this device");
    fay.click("#profile-btn").await;
    fay.wait_js(
        "two sessions listed",
        &format!("{SESSION_ROWS}.length === 2"),
    )
    .await;
    let current = fay
        .js("return Array.from(document.querySelectorAll('#sessions-list [data-current=true]')).map(e => e.dataset.sessionId);")
        .await;
    assert_eq!(
        current,
        json!([browser_id]),
        "the browser's session is current"
    );
    let this_row = session_row(&browser_id);
    let other_row = session_row(&api_id);
    let this_text = fay
        .js(&format!(
            "return document.querySelector('{this_row}').textContent;"
        ))
        .await;
    let this_text = this_text.as_str().unwrap();
    assert!(this_text.contains("This device"), "{this_text}");
    assert!(
        this_text.contains("Signed in") && this_text.contains("last active"),
        "{this_text}"
    );
    let name = fay
        .js(&format!(
            "return document.querySelector('{this_row} [data-testid=session-name]').textContent;"
        ))
        .await;
    let name = name.as_str().unwrap();
    match browser_agent.as_str() {
        // Chromium's long agent string, shortened to something readable.
        Some(ua) if ua.contains("Chrome") && ua.contains("Linux") => assert!(
            name.starts_with("Chrome") && name.ends_with(" on Linux"),
            "{name} for {ua}"
        ),
        Some(ua) => assert!(
            !name.is_empty() && name.chars().count() <= 60,
            "{name} for {ua}"
        ),
        None => assert_eq!(name, "Unknown device"),
    }
    let buttons = fay
        .js(&format!(
            "return [document.querySelectorAll('{this_row} [data-testid=end-session]').length, document.querySelectorAll('{other_row} [data-testid=end-session]').length];"
        ))
        .await;
    assert_eq!(
        buttons,
        json!([0, 1]),
        "only the other session has a Sign out button"
    );
    fay.screenshot("13-sessions").await;

    step("signing out the other session ends it on the server");
    fay.click(&format!("{other_row} [data-testid=end-session]"))
        .await;
    fay.wait_js(
        "only this device left",
        &format!(
            "{SESSION_ROWS}.length === 1 && !!document.querySelector('{this_row}[data-current=true]')"
        ),
    )
    .await;
    assert_eq!(
        fay.js("return document.getElementById('sessions-error').textContent;")
            .await,
        json!(""),
        "no error shown"
    );
    let (status, body) = app.get("/api/v1/users/me", &api.access_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the ended session's access token stops working at once: {body}"
    );
    let (status, body) = app.refresh(&api.refresh_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the ended session's refresh token is refused: {body}"
    );
    let again = app.login_ok("fay").await;
    let listed = api_sessions(&app, &again).await;
    let ids: Vec<&str> = listed.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(
        listed.len(),
        2,
        "the browser's and the new login: {listed:?}"
    );
    assert!(
        ids.contains(&browser_id.as_str()) && !ids.contains(&api_id.as_str()),
        "{listed:?}"
    );
    fay.wait_js(
        "the browser is still signed in and connected",
        "!document.getElementById('main-view').hidden && document.getElementById('conn-status').dataset.state === 'online'",
    )
    .await;

    step("sign out everywhere returns the browser to the sign-in screen");
    let browser_refresh = fay
        .js("return JSON.parse(localStorage.getItem('huddle.session')).refresh_token;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    fay.click("#logout-all-btn").await;
    fay.click("#confirm-ok").await;
    fay.wait_visible("#auth-form").await;
    fay.wait_js(
        "signed out cleanly: tokens gone, no dialog, no error",
        "document.getElementById('main-view').hidden && localStorage.getItem('huddle.session') === null && !document.querySelector('dialog[open]') && document.getElementById('auth-error').textContent === ''",
    )
    .await;
    fay.screenshot("14-signed-out-everywhere").await;
    let (status, body) = app.refresh(&browser_refresh).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the browser's session is over: {body}"
    );
    let (status, body) = app.get("/api/v1/users/me", &again.access_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "every other session is over too: {body}"
    );
    fay.c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_signs_the_browser_out() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let gus = Browser::open(&driver, "gus", 1024, 768).await;

    step("signed in in the browser and over the API");
    gus.register_and_connect(&base, "gus", "Gus Grant").await;
    let api = app.login_ok("gus").await;
    let listed = api_sessions(&app, &api).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let browser_id = session_id(&listed, false);

    step("with the profile open, the API ends the browser's session");
    gus.click("#profile-btn").await;
    gus.wait_js("sessions listed", &format!("{SESSION_ROWS}.length === 2"))
        .await;
    let started = Instant::now();
    let (status, body) = app
        .delete(
            &format!("/api/v1/users/me/sessions/{browser_id}"),
            &api.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    gus.wait_visible("#auth-form").await;
    gus.wait_auth_error("You were signed out").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the sign-in screen took {took:?}"
    );
    gus.wait_js(
        "nothing left of the session: tokens gone, no dialog over the sign-in screen",
        "document.getElementById('main-view').hidden && localStorage.getItem('huddle.session') === null && !document.querySelector('dialog[open]')",
    )
    .await;
    gus.screenshot("15-signed-out-elsewhere").await;

    step("the API's own session goes on; the ended one is gone");
    let (status, body) = app.get("/api/v1/users/me", &api.access_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let left = api_sessions(&app, &api).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["current"], json!(true), "{left:?}");
    let again = app
        .delete(
            &format!("/api/v1/users/me/sessions/{browser_id}"),
            &api.access_token,
        )
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found", None);

    step("signing in again works");
    gus.fill("#auth-username", "gus").await;
    gus.fill("#auth-password", "password123").await;
    gus.click("#auth-submit").await;
    gus.wait_visible("#main-view").await;
    gus.wait_js(
        "connected again",
        "document.getElementById('conn-status').dataset.state === 'online'",
    )
    .await;
    gus.c.close().await.unwrap();
}

/// Registers `username` over the API with a display name, as a person would have.
async fn register_api(app: &TestApp, username: &str, display: &str) -> Session {
    let who = app.register(username).await;
    let (status, body) = app
        .patch(
            "/api/v1/users/me",
            &who.access_token,
            json!({ "display_name": display }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "set display name: {body}");
    who
}

/// What one shown message's body is made of: its text, and each link's text, href, target
/// and rel. `css` picks the message (`li.msg`).
async fn body_parts(b: &Browser, css: &str) -> Value {
    let sel = serde_json::to_string(&format!("{css} [data-testid=message-body]")).unwrap();
    b.js(&format!(
        "const p = document.querySelector({sel});
         return {{
           text: p.textContent,
           nodes: Array.from(p.childNodes).map(n => n.nodeType === 3 ? 'text' : n.tagName.toLowerCase()),
           links: Array.from(p.querySelectorAll('a')).map(a => ({{
             text: a.textContent, href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel'),
           }})),
           elements: p.querySelectorAll('*').length,
         }};"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_in_messages_are_clickable_and_safe() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let hal = Browser::open(&driver, "hal", 1280, 800).await;
    let ivy = Browser::open(&driver, "ivy", 1280, 800).await;

    step("hal opens a room, ivy joins it");
    hal.register_and_connect(&base, "hal", "Hal Hughes").await;
    ivy.register_and_connect(&base, "ivy", "Ivy Irwin").await;
    hal.click("#new-room-btn").await;
    hal.fill("#room-name", "links").await;
    hal.click("#room-save").await;
    let room_id = hal
        .wait_js(
            "room id",
            "Number((location.hash.match(/room\\/(\\d+)/) || [])[1])",
        )
        .await
        .as_i64()
        .unwrap();
    let ivy_api = app.login_ok("ivy").await;
    app.join(&ivy_api, room_id).await;
    let link = format!("#room-list [data-room-id='{room_id}']");
    ivy.click(&link).await;
    ivy.wait_js(
        "room open",
        "document.getElementById('room-title').textContent.includes('links')",
    )
    .await;

    step("a URL becomes one link; trailing punctuation and javascript: stay text");
    let text = "See https://example.com/a_(b). Never javascript:alert(1) though.";
    hal.send(text).await;
    for b in [&hal, &ivy] {
        b.wait_message(text).await;
        let parts = body_parts(b, "#messages [data-seq='1']").await;
        assert_eq!(
            parts,
            json!({
                "text": text,
                "nodes": ["text", "a", "text"],
                "links": [{
                    "text": "https://example.com/a_(b)",
                    "href": "https://example.com/a_(b)",
                    "target": "_blank",
                    "rel": "noopener noreferrer",
                }],
                "elements": 1,
            }),
            "[{}] exactly one link, the rest text",
            b.name
        );
    }

    step("bare www. addresses link as https; markup and other schemes stay text");
    let text = "Docs (at www.example.org/guide) or <a href=\"javascript:alert(1)\">click</a> data:text/html,<b>hi</b> ftp://example.net/x";
    ivy.send(text).await;
    for b in [&hal, &ivy] {
        b.wait_message(text).await;
        let parts = body_parts(b, "#messages [data-seq='2']").await;
        assert_eq!(parts["text"], json!(text), "[{}] {parts}", b.name);
        assert_eq!(
            parts["links"],
            json!([{
                "text": "www.example.org/guide",
                "href": "https://www.example.org/guide",
                "target": "_blank",
                "rel": "noopener noreferrer",
            }]),
            "[{}] {parts}",
            b.name
        );
        assert_eq!(parts["elements"], json!(1), "[{}] {parts}", b.name);
        let unsafe_links = b
            .js("return Array.from(document.querySelectorAll('#messages a')).filter(a => !/^https?:\\/\\//.test(a.getAttribute('href'))).length + document.querySelectorAll('#messages b').length;")
            .await;
        assert_eq!(
            unsafe_links,
            json!(0),
            "[{}] only http(s) links, no markup",
            b.name
        );
    }

    step("an edit re-renders the links on both screens");
    let first = "#messages [data-seq='1']";
    // The author's name, not the body: a click on the body could land on its link.
    hal.click(&format!("{first} [data-testid=message-author]"))
        .await;
    hal.click(&format!("{first} [data-testid=edit-message]"))
        .await;
    hal.wait_visible("[data-testid=edit-input]").await;
    let edited = "Moved: http://example.net/new?x=1&y=2, and https://example.com/two!";
    hal.type_into(
        "[data-testid=edit-input]",
        &format!("\u{E009}a\u{E000}\u{E003}{edited}"),
    )
    .await;
    hal.type_into("[data-testid=edit-input]", ENTER).await;
    for b in [&ivy, &hal] {
        b.wait_message(edited).await;
        let parts = body_parts(b, first).await;
        let hrefs: Vec<&str> = parts["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["href"].as_str().unwrap())
            .collect();
        assert_eq!(
            hrefs,
            ["http://example.net/new?x=1&y=2", "https://example.com/two"],
            "[{}] {parts}",
            b.name
        );
        assert_eq!(parts["text"], json!(edited), "[{}] {parts}", b.name);
    }
    ivy.screenshot("16-links").await;

    step("clicking a link opens a new tab and leaves the chat where it was");
    let before = ivy.c.windows().await.unwrap().len();
    ivy.click("#messages [data-seq='2'] a").await;
    let deadline = Instant::now() + WAIT;
    while ivy.c.windows().await.unwrap().len() == before {
        assert!(Instant::now() < deadline, "the link opened no new tab");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let here = ivy.c.current_url().await.unwrap();
    assert!(
        here.as_str().starts_with(&app.address),
        "the chat tab stayed on the chat: {here}"
    );
    ivy.wait_visible("#composer-input").await;
    hal.c.close().await.unwrap();
    ivy.c.close().await.unwrap();
}

/// The directory suggestions shown under the add-people field: `[username, text]` each.
async fn suggestions(b: &Browser) -> Value {
    b.js("return Array.from(document.querySelectorAll('#add-member-suggestions [data-testid=member-suggestion]')).map(e => [e.dataset.username, e.textContent, e.getAttribute('aria-selected')]);")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_add_people_by_name_with_suggestions() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let jay = Browser::open(&driver, "jay", 1280, 800).await;
    let kim = Browser::open(&driver, "kim", 1280, 800).await;
    jay.register_and_connect(&base, "jay", "Jay Jones").await;
    kim.register_and_connect(&base, "kim", "Kim Kelly").await;
    register_api(&app, "kip", "Kip Kane").await;
    register_api(&app, "zoe", "Kind Zoe").await;

    step("jay creates a private room and opens its members");
    jay.click("#new-room-btn").await;
    jay.fill("#room-name", "plans").await;
    jay.click("#room-private").await;
    jay.click("#room-save").await;
    let room_id = jay
        .wait_js(
            "room id",
            "Number((location.hash.match(/room\\/(\\d+)/) || [])[1])",
        )
        .await
        .as_i64()
        .unwrap();
    let link = format!("#room-list [data-room-id='{room_id}']");
    jay.click("#members-btn").await;
    jay.wait_visible("#add-member-name").await;

    step("an unknown username is explained");
    jay.type_into("#add-member-name", "zed").await;
    jay.wait_js(
        "no match said",
        "document.getElementById('add-member-hint').textContent === 'No one matches “zed”.'",
    )
    .await;
    jay.type_into("#add-member-name", ENTER).await;
    jay.wait_js(
        "unknown user explained",
        "document.getElementById('add-member-error').textContent.startsWith('No user is called “zed”')",
    )
    .await;
    jay.screenshot("17-add-unknown").await;

    step("typing part of a name suggests matching people, by username and display name");
    jay.fill("#add-member-name", "ki").await;
    jay.wait_js(
        "three suggestions",
        "document.querySelectorAll('#add-member-suggestions [data-testid=member-suggestion]').length === 3",
    )
    .await;
    assert_eq!(
        jay.js("return document.getElementById('add-member-error').textContent;")
            .await,
        json!(""),
        "typing again clears the error"
    );
    assert_eq!(
        suggestions(&jay).await,
        json!([
            ["kim", "KKim Kelly@kim", "false"],
            ["kip", "KKip Kane@kip", "false"],
            ["zoe", "KKind Zoe@zoe", "false"],
        ]),
        "display name and @username of each; the owner (a member) is not offered"
    );
    assert_eq!(
        jay.js("return document.getElementById('add-member-name').getAttribute('aria-expanded');")
            .await,
        json!("true")
    );
    jay.screenshot("18-add-suggestions").await;

    step("arrow keys move through the list; Escape closes it but not the panel");
    jay.type_into("#add-member-name", "\u{E015}\u{E015}\u{E015}\u{E013}")
        .await; // down x3, up: the second
    let selected = suggestions(&jay).await;
    assert_eq!(
        selected
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s[2].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["false", "true", "false"],
        "{selected}"
    );
    jay.type_into("#add-member-name", "\u{E00C}").await; // Escape
    jay.wait_js(
        "list closed",
        "document.getElementById('add-member-suggestions').hidden && document.getElementById('add-member-name').getAttribute('aria-expanded') === 'false'",
    )
    .await;
    assert!(
        jay.is_visible("#members-panel").await,
        "Escape in the list leaves the panel open"
    );

    step("picking a suggestion with the keyboard adds kim; her browser gets the room");
    jay.type_into("#add-member-name", "\u{E003}i").await; // Backspace, "i": "ki" again
    jay.wait_js(
        "suggestions again",
        "document.querySelectorAll('#add-member-suggestions [data-testid=member-suggestion]').length === 3",
    )
    .await;
    jay.type_into("#add-member-name", &format!("\u{E015}{ENTER}"))
        .await;
    jay.wait_js(
        "kim listed",
        "!!document.querySelector('#member-list [data-username=kim]')",
    )
    .await;
    jay.wait_js(
        "field emptied",
        "document.getElementById('add-member-name').value === '' && document.getElementById('add-member-error').textContent === ''",
    )
    .await;
    kim.wait_js(
        "room appears for kim",
        &format!("!!document.querySelector(\"{link}\")"),
    )
    .await;
    kim.click(&link).await;
    jay.send("welcome to the plans").await;
    kim.wait_message("welcome to the plans").await;

    step("someone already in the room: not suggested, and a 409 is explained");
    jay.type_into("#add-member-name", "kim").await;
    jay.wait_js(
        "already in said",
        "document.getElementById('add-member-hint').textContent === 'Everyone matching “kim” is already in this room.'",
    )
    .await;
    assert_eq!(suggestions(&jay).await, json!([]));
    jay.type_into("#add-member-name", ENTER).await;
    jay.wait_js(
        "conflict explained",
        "document.getElementById('add-member-error').textContent === '@kim is already a member of this room.'",
    )
    .await;

    step("a click on a suggestion found by display name adds that person");
    jay.fill("#add-member-name", "Kind").await;
    jay.wait_js(
        "zoe suggested",
        "document.querySelectorAll('#add-member-suggestions [data-username=zoe]').length === 1",
    )
    .await;
    jay.click("#add-member-suggestions [data-username=zoe]")
        .await;
    jay.wait_js(
        "zoe listed",
        "!!document.querySelector('#member-list [data-username=zoe]')",
    )
    .await;
    let zoe = app.login_ok("zoe").await;
    let (status, body) = app
        .get(&format!("/api/v1/rooms/{room_id}"), &zoe.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "zoe may see the room now: {body}");
    jay.screenshot("19-added-by-name").await;
    jay.c.close().await.unwrap();
    kim.c.close().await.unwrap();
}

/// Whether `psql` is here (it comes with PostgreSQL); skips loudly, or fails in CI, otherwise.
fn psql_available() -> bool {
    let found = Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if in_ci() {
            panic!("CI=true but psql is missing: install PostgreSQL's client");
        }
        eprintln!("\n!!!!!!!! SKIPPING the day-separator browser test: psql not found. !!!!!!!!\n");
    }
    found
}

/// Runs SQL on a test's PostgreSQL database: messages' times cannot be set over the API.
fn psql(db_url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([db_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The open room's list as the eye reads it: `day:<label>` for a separator, `<seq>` for a
/// message (the "New messages" line left out).
async fn day_layout(b: &Browser) -> Vec<String> {
    let v = b
        .js("return Array.from(document.getElementById('messages').children).filter(e => !e.classList.contains('new-line')).map(e => e.classList.contains('day-sep') ? 'day:' + e.textContent : e.dataset.seq);")
        .await;
    serde_json::from_value(v).unwrap()
}

fn seq_range(from: i64, to: i64) -> Vec<String> {
    (from..=to).map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_separators_in_history() {
    if !browser_available() || !Backend::Postgres.available() || !psql_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn_with(Backend::Postgres, |cfg| {
        cfg.realtime.send_rate_per_sec = 1_000_000.0;
        cfg.realtime.send_burst = 1_000_000.0;
    })
    .await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    let ann_api = app.login_ok("ann").await;
    let bob = register_api(&app, "bob", "Bob Baker").await;

    // The browser's local days decide the separators: noon three days ago and yesterday, and
    // the label it should give three days ago, in microseconds since the epoch (the store's).
    let days = ann
        .js("const n = new Date();
             const at = (d, h, m) => new Date(n.getFullYear(), n.getMonth(), n.getDate() - d, h, m).getTime() * 1000;
             return { old: at(3, 12, 0), yesterday: at(1, 12, 0), late: at(1, 16, 5), old_day: new Date(at(3, 12, 0) / 1000).getDate() };")
        .await;
    let old = days["old"].as_i64().unwrap();
    let yesterday = days["yesterday"].as_i64().unwrap();
    let late = days["late"].as_i64().unwrap();
    let old_day = days["old_day"].as_i64().unwrap();

    step("a room with 2 messages of three days ago, 1 of yesterday and 57 of today");
    let room = app.create_room(&ann_api, "random", false).await;
    let room_id = room["id"].as_i64().unwrap();
    app.join(&bob, room_id).await;
    for i in 1..=60 {
        let who = if i % 3 == 0 { &bob } else { &ann_api };
        app.send(who, room_id, &format!("message {i}")).await;
    }
    psql(
        &app.db_url,
        &format!(
            "UPDATE messages SET created_at = {old} + seq * 60000000 WHERE room_id = {room_id} AND seq <= 2;
             UPDATE messages SET created_at = {yesterday} WHERE room_id = {room_id} AND seq = 3;"
        ),
    );

    step("the newest page: one Today separator, before its first message");
    ann.c.refresh().await.unwrap();
    ann.wait_visible("#main-view").await;
    ann.click(&format!("#room-list [data-room-id='{room_id}']"))
        .await;
    ann.wait_message("message 60").await;
    let mut want = vec!["day:Today".to_owned()];
    want.extend(seq_range(11, 60));
    assert_eq!(day_layout(&ann).await, want, "the first page");

    step("older history prepended: a date, Yesterday, and Today moved up");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        ann.js("document.getElementById('message-scroll').scrollTop = 0; return 1;")
            .await;
        if ann.is_visible("#history-start").await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "scrolling up never reached the first message"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let layout = day_layout(&ann).await;
    let old_label = layout[0].clone();
    assert!(
        old_label.starts_with("day:")
            && !old_label.contains("Today")
            && !old_label.contains("Yesterday")
            && old_label.contains(&old_day.to_string()),
        "three days ago is shown as its date (day {old_day}): {old_label}"
    );
    let mut want = vec![old_label.clone(), "1".into(), "2".into()];
    want.extend(["day:Yesterday".to_owned(), "3".to_owned()]);
    want.push("day:Today".into());
    want.extend(seq_range(4, 60));
    assert_eq!(layout, want, "after the older page");
    let grouped = ann
        .js("return ['1', '2', '3', '4'].map(s => document.querySelector(`#messages [data-seq='${s}']`).classList.contains('cont'));")
        .await;
    assert_eq!(
        grouped,
        json!([false, true, false, false]),
        "a new day starts a new group; the same author a minute later continues one"
    );

    step("live messages of today add no separator");
    app.send(&bob, room_id, "message 61").await;
    ann.wait_message("message 61").await;
    ann.send("message 62").await;
    ann.wait_message("message 62").await;
    let layout = day_layout(&ann).await;
    assert_eq!(
        layout.iter().filter(|e| e.starts_with("day:")).count(),
        3,
        "{layout:?}"
    );
    assert_eq!(
        layout[layout.len() - 3..],
        ["60".to_owned(), "61".to_owned(), "62".to_owned()],
        "{layout:?}"
    );
    ann.screenshot("20-day-separators").await;

    step("the README's picture: two rooms and two conversations, yesterday and today, a link, a reply, reactions, an image, a mention, typing, presence");
    let cleo = register_api(&app, "cleo", "Cleo Cruz").await;
    for (who, with) in [(&ann_api, "bob"), (&cleo, "ann")] {
        let (status, body) = app
            .post(
                "/api/v1/dms",
                &who.access_token,
                json!({ "usernames": [with] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        if with == "ann" {
            let dm = body["id"].as_i64().unwrap();
            app.send(&cleo, dm, "Lunch at noon?").await;
        }
    }
    ann.wait_js(
        "both conversations listed",
        "Array.from(document.querySelectorAll('#dm-list [data-testid=dm-link]')).map(e => e.dataset.roomName).join() === 'Bob Baker,Cleo Cruz'",
    )
    .await;
    // Cleo wrote at once: her message is unread even when it came before the room did.
    ann.wait_js(
        "cleo's message unread",
        "(document.querySelector('#dm-list [data-room-name=\"Cleo Cruz\"] .badge') || {}).textContent === '1'",
    )
    .await;
    let general = app.create_room(&ann_api, "general", false).await;
    let general_id = general["id"].as_i64().unwrap();
    let (status, body) = app
        .patch(
            &format!("/api/v1/rooms/{general_id}"),
            &ann_api.access_token,
            json!({ "description": "Plans, releases & everything else" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.join(&bob, general_id).await;
    app.send(
        &bob,
        general_id,
        "The draft release notes are up for review.",
    )
    .await;
    app.send(
        &ann_api,
        general_id,
        "Thanks! I'll go through them tomorrow.",
    )
    .await;
    psql(
        &app.db_url,
        &format!(
            "UPDATE messages SET created_at = {late} + seq * 240000000 WHERE room_id = {general_id};"
        ),
    );
    let notes = app
        .send(
            &ann_api,
            general_id,
            "The notes look good. The changelog is at https://example.com/huddle/releases/2.1 (draft).",
        )
        .await;
    let notes_id = notes["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/rooms/{general_id}/messages"),
            &bob.access_token,
            json!({"body": "Great, I'll tag the release after lunch.", "reply_to": notes_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (who, emoji) in [
        (&bob, "%F0%9F%91%8D"),
        (&ann_api, "%F0%9F%91%8D"),
        (&bob, "%F0%9F%8E%89"),
    ] {
        let (status, body) = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/rooms/{general_id}/messages/{notes_id}/reactions/{emoji}"),
                Some(&who.access_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let chart = canvas_png(&ann, 720, 200).await;
    let (status, body) = app
        .upload(
            &bob.access_token,
            general_id,
            huddle_test_support::files::Upload::new("signups.png", Some("image/png"), &chart),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.send(&ann_api, general_id, "Perfect. See you at the demo, @bob!")
        .await;
    let mut bob_ws = huddle_test_support::WsClient::connect(&app, &bob.access_token).await;
    // A 1280x800 page: the window is a little larger than what it shows.
    let inner = ann.js("return window.innerHeight;").await.as_i64().unwrap();
    let height = u32::try_from(800 + 800 - inner).unwrap();
    ann.c.set_window_size(1280, height).await.unwrap();
    ann.wait_js(
        "a 1280x800 page",
        "window.innerWidth === 1280 && window.innerHeight === 800",
    )
    .await;
    ann.click(&format!("#room-list [data-room-id='{general_id}']"))
        .await;
    ann.wait_message("Perfect. See you at the demo, @bob!")
        .await;
    ann.wait_js(
        "the reply's quote, the reactions, the image and the mention shown",
        "document.querySelector('[data-testid=reply-quote]') && document.querySelectorAll('[data-testid=reaction]').length === 2 && document.querySelector('[data-testid=mention]') && (document.querySelector('#messages img') || {}).naturalWidth > 0",
    )
    .await;
    ann.click("#members-btn").await;
    ann.wait_js(
        "bob online",
        "(document.querySelector('#member-list [data-username=bob]') || {dataset: {}}).dataset.presence === 'online'",
    )
    .await;
    bob_ws
        .send(json!({"type": "typing", "room_id": general_id}))
        .await;
    ann.wait_js(
        "typing shown",
        "document.getElementById('typing').textContent.includes('Bob Baker is typing')",
    )
    .await;
    ann.js("document.activeElement && document.activeElement.blur(); document.getElementById('message-scroll').scrollTop = 1e9; document.getElementById('toasts').replaceChildren(); return 1;")
        .await;
    let layout = day_layout(&ann).await;
    assert_eq!(
        layout,
        ["day:Yesterday", "1", "2", "day:Today", "3", "4", "5", "6"],
        "the picture's room"
    );
    let shot = ann.screenshot("21-chat-readme").await;
    eprintln!("README picture candidate: {}", shot.display());
    bob_ws.close().await;
    ann.c.close().await.unwrap();
}

/// The id of the room the page's address opens (`#/room/<id>`), once it does.
async fn room_in_address(b: &Browser) -> i64 {
    b.wait_js(
        "room id in the address",
        "Number((location.hash.match(/room\\/(\\d+)/) || [])[1])",
    )
    .await
    .as_i64()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_open_live_on_both_screens() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    let bob = Browser::open(&driver, "bob", 1280, 800).await;
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    bob.register_and_connect(&base, "bob", "Bob Baker").await;
    register_api(&app, "bonnie", "Bonnie Blue").await;

    step("ann starts a conversation with bob, picked from the directory suggestions");
    ann.click("#new-dm-btn").await;
    ann.wait_visible("#dm-name").await;
    ann.type_into("#dm-name", "bo").await;
    ann.wait_js(
        "bob and bonnie suggested",
        "Array.from(document.querySelectorAll('#dm-suggestions [data-testid=dm-suggestion]')).map(e => e.dataset.username).join() === 'bob,bonnie'",
    )
    .await;
    ann.screenshot("22-new-message").await;
    ann.click("#dm-suggestions [data-username=bob]").await;
    ann.wait_js(
        "bob picked",
        "Array.from(document.querySelectorAll('#dm-chosen [data-testid=dm-chosen]')).map(e => e.dataset.username).join() === 'bob' && document.getElementById('dm-name').value === ''",
    )
    .await;
    ann.click("#dm-open").await;
    ann.wait_js(
        "the conversation is open, titled by bob's display name",
        "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'Bob Baker' && !document.getElementById('dm-dialog').open",
    )
    .await;
    let dm = room_in_address(&ann).await;
    let dm_link = format!("#dm-list [data-room-id='{dm}']");
    ann.wait_js(
        "listed under Direct messages, not under rooms",
        &format!(
            "document.querySelector(\"{dm_link}\").dataset.roomName === 'Bob Baker' && !document.querySelector(\"#room-list [data-room-id='{dm}']\")"
        ),
    )
    .await;
    for (css, what) in [
        ("#invite-btn", "invites"),
        ("#room-settings-btn", "editing"),
        ("#delete-room-btn", "deletion"),
    ] {
        assert!(
            !ann.is_visible(css).await,
            "no {what} in a direct conversation"
        );
    }

    step("bob's page shows it live under Direct messages, titled by ann's display name");
    bob.wait_js(
        "the conversation appears for bob",
        &format!("(document.querySelector(\"{dm_link}\") || {{dataset: {{}}}}).dataset.roomName === 'Ann Archer'"),
    )
    .await;
    assert_eq!(
        bob.js(&format!(
            "return !!document.querySelector(\"#room-list [data-room-id='{dm}']\");"
        ))
        .await,
        json!(false),
        "a conversation is not listed among the rooms"
    );

    step("ann writes; bob sees it unread, opens it, and gets the next ones live");
    ann.send("Hi Bob, a word in private?").await;
    ann.wait_message("Hi Bob, a word in private?").await;
    bob.wait_js(
        "unread badge on the conversation",
        &format!("(document.querySelector(\"{dm_link} [data-testid=unread-{dm}]\") || {{}}).textContent === '1'"),
    )
    .await;
    bob.click(&dm_link).await;
    bob.wait_message("Hi Bob, a word in private?").await;
    bob.wait_js(
        "bob's title is ann",
        "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'Ann Archer'",
    )
    .await;
    ann.send("The budget is approved.").await;
    bob.wait_message("The budget is approved.").await;
    bob.send("Great news, thanks!").await;
    ann.wait_message("Great news, thanks!").await;
    bob.screenshot("23-direct-message").await;

    step("opening the conversation again, by typing the username, opens the same one");
    ann.click("#new-dm-btn").await;
    ann.wait_visible("#dm-name").await;
    ann.type_into("#dm-name", &format!("bob{ENTER}")).await;
    ann.wait_js(
        "bob picked by name",
        "document.querySelectorAll('#dm-chosen [data-testid=dm-chosen]').length === 1",
    )
    .await;
    ann.type_into("#dm-name", ENTER).await;
    ann.wait_js(
        "dialog closed",
        "!document.getElementById('dm-dialog').open",
    )
    .await;
    assert_eq!(room_in_address(&ann).await, dm, "the same conversation");
    ann.wait_message("Great news, thanks!").await;
    assert_eq!(
        ann.js("return document.querySelectorAll('#dm-list [data-testid=dm-link]').length;")
            .await,
        json!(1),
        "listed once"
    );
    let (status, rooms) = app
        .get(
            "/api/v1/rooms?mine=true&kind=direct",
            &app.login_ok("bob").await.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rooms}");
    assert_eq!(rooms["items"].as_array().unwrap().len(), 1, "{rooms}");
    ann.c.close().await.unwrap();
    bob.c.close().await.unwrap();
}

/// The invite page's parts as shown: `[lead, name, description, member count, problem]`, and
/// whether Join is offered.
async fn invite_page(b: &Browser) -> Value {
    b.js("const t = (id) => { const e = document.getElementById(id); return e.hidden ? null : e.textContent; };
          return [t('invite-lead'), t('invite-room-name'), t('invite-room-desc'), t('invite-room-count'), t('invite-problem'), !document.getElementById('invite-join').hidden];")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_links_are_made_previewed_joined_and_revoked() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let cal = Browser::open(&driver, "cal", 1280, 800).await;
    let dee = Browser::open(&driver, "dee", 1280, 800).await;
    cal.register_and_connect(&base, "cal", "Cal Carter").await;

    step("cal makes a private room and an invite link: 1 day, 2 uses");
    cal.click("#new-room-btn").await;
    cal.fill("#room-name", "book club").await;
    cal.fill("#room-description", "Monthly reads & <b>snacks</b>")
        .await;
    cal.click("#room-private").await;
    cal.click("#room-save").await;
    let room_id = room_in_address(&cal).await;
    cal.click("#invite-btn").await;
    cal.wait_visible("#invite-create").await;
    cal.js("const s = document.getElementById('invite-expiry'); s.value = '86400'; return 1;")
        .await;
    cal.fill("#invite-max-uses", "2").await;
    cal.click("#invite-create").await;
    let link = cal
        .wait_js(
            "the new link",
            "document.getElementById('invite-link').value",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let code = link
        .strip_prefix(&format!("{base}invite/"))
        .unwrap_or_else(|| panic!("the link is <origin>/invite/<code>: {link}"))
        .to_owned();
    let row = format!("#invite-list [data-code='{code}']");
    cal.wait_js(
        "listed with its uses",
        &format!("(document.querySelector(\"{row} [data-testid=invite-uses]\") || {{}}).textContent === '0 of 2 uses'"),
    )
    .await;
    let expires = cal
        .js(&format!(
            "return document.querySelector(\"{row} time\").textContent;"
        ))
        .await;
    assert_eq!(expires, json!("expires in 1 day"), "the expiry chosen");
    cal.click("#invite-copy").await;
    cal.wait_js(
        "copied",
        "document.getElementById('invite-copied').textContent.length > 0",
    )
    .await;
    cal.screenshot("24-invite-links").await;
    cal.click("#invite-dialog [data-close]").await;

    step("dee, signed out, opens the link: sign-in first, then the preview");
    dee.c.goto(&link).await.unwrap();
    dee.wait_visible("#auth-form").await;
    dee.wait_js(
        "the invite is mentioned",
        "document.getElementById('auth-note').textContent.includes('invite')",
    )
    .await;
    dee.click("#auth-toggle").await;
    dee.wait_visible("#auth-display-name").await;
    dee.fill("#auth-username", "dee").await;
    dee.fill("#auth-display-name", "Dee Dunn").await;
    dee.fill("#auth-password", "password123").await;
    dee.click("#auth-submit").await;
    dee.wait_visible("#invite-view").await;
    dee.wait_js(
        "the preview",
        "document.getElementById('invite-room-name').textContent === 'book club' && !document.getElementById('invite-join').hidden",
    )
    .await;
    assert_eq!(
        invite_page(&dee).await,
        json!([
            "You are invited to join",
            "book club",
            "Monthly reads & <b>snacks</b>",
            "1 member",
            null,
            true
        ])
    );
    assert_eq!(
        dee.js("return document.querySelectorAll('#invite-view b').length;")
            .await,
        json!(0),
        "the description is text"
    );
    dee.screenshot("25-invite-preview").await;

    step("dee joins and is in the room; messages reach her live");
    dee.click("#invite-join").await;
    dee.wait_js(
        "the room is open",
        "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'book club'",
    )
    .await;
    assert_eq!(room_in_address(&dee).await, room_id);
    assert_eq!(
        dee.js("return location.pathname;").await,
        json!("/"),
        "the address leaves the invite"
    );
    dee.wait_visible(&format!("#room-list [data-room-id='{room_id}']"))
        .await;
    cal.send("Welcome, Dee!").await;
    dee.wait_message("Welcome, Dee!").await;
    cal.click("#invite-btn").await;
    cal.wait_js(
        "one use counted",
        &format!("(document.querySelector(\"{row} [data-testid=invite-uses]\") || {{}}).textContent === '1 of 2 uses'"),
    )
    .await;

    step("cal revokes the link; opening it now says it is not valid");
    cal.click(&format!("{row} [data-testid=revoke-invite]"))
        .await;
    cal.wait_js(
        "gone from the list",
        &format!("!document.querySelector(\"{row}\") && document.getElementById('invite-list').textContent.includes('No live links')"),
    )
    .await;
    dee.c.goto(&link).await.unwrap();
    dee.wait_js(
        "invalid said",
        "!document.getElementById('invite-problem').hidden && document.getElementById('invite-problem').textContent.startsWith('This invite link is not valid')",
    )
    .await;
    assert_eq!(
        invite_page(&dee).await[5],
        json!(false),
        "no Join on a revoked link"
    );
    dee.screenshot("26-invite-revoked").await;

    step("a used-up link says so");
    cal.fill("#invite-max-uses", "1").await;
    cal.click("#invite-create").await;
    let used_up = cal
        .wait_js(
            "a second link",
            &format!(
                "(v => v && v !== {} && v)(document.getElementById('invite-link').value)",
                serde_json::to_string(&link).unwrap()
            ),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let used_code = used_up.rsplit('/').next().unwrap().to_owned();
    let eli = app.register("eli").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/invites/{used_code}/accept"),
            &eli.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "eli spends the one use: {body}");
    dee.c.goto(&used_up).await.unwrap();
    dee.wait_js(
        "used up said",
        "!document.getElementById('invite-problem').hidden && document.getElementById('invite-problem').textContent.startsWith('This invite has expired or been used up')",
    )
    .await;
    dee.click("#invite-dismiss").await;
    dee.wait_js(
        "back in the chat",
        "location.pathname === '/' && document.getElementById('invite-view').hidden",
    )
    .await;
    cal.c.close().await.unwrap();
    dee.c.close().await.unwrap();
}

/// Whether the message `seq` of the open room is inside the message list's visible area.
async fn message_in_view(b: &Browser, seq: i64) -> bool {
    b.js(&format!(
        "const e = document.querySelector(\"#messages [data-seq='{seq}']\");
         if (!e) return false;
         const r = e.getBoundingClientRect(), s = document.getElementById('message-scroll').getBoundingClientRect();
         return r.height > 0 && r.top >= s.top - 1 && r.bottom <= s.bottom + 1;"
    ))
    .await
        == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_a_message_and_opens_it_in_its_room() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.realtime.send_rate_per_sec = 1_000_000.0;
        cfg.realtime.send_burst = 1_000_000.0;
    })
    .await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let fay = Browser::open(&driver, "fay", 1280, 800).await;
    fay.register_and_connect(&base, "fay", "Fay Fox").await;
    let fay_api = app.login_ok("fay").await;
    let gil = register_api(&app, "gil", "Gil Grant").await;

    step("a room whose message about the zeppelin is far back in its history");
    let room = app.create_room(&fay_api, "launches", false).await;
    let room_id = room["id"].as_i64().unwrap();
    app.join(&gil, room_id).await;
    let other = app.create_room(&fay_api, "elsewhere", false).await;
    let other_id = other["id"].as_i64().unwrap();
    for i in 1..=4 {
        app.send(&fay_api, room_id, &format!("warm-up {i}")).await;
    }
    let target = "The zeppelin launch moved to Friday <b>sharp</b>";
    let sent = app.send(&gil, room_id, target).await;
    let target_seq = sent["seq"].as_i64().unwrap();
    for i in 1..=120 {
        app.send(&fay_api, room_id, &format!("filler {i}")).await;
    }
    app.send(&fay_api, other_id, "nothing to see here").await;

    step("fay, in another room, searches for the word");
    fay.c.refresh().await.unwrap();
    fay.wait_visible("#main-view").await;
    fay.click(&format!("#room-list [data-room-id='{other_id}']"))
        .await;
    fay.wait_message("nothing to see here").await;
    fay.type_into("#search-input", &format!("zeppelins{ENTER}"))
        .await;
    fay.wait_js(
        "one result",
        "document.querySelectorAll('#search-results [data-testid=search-result]').length === 1",
    )
    .await;
    let hit = fay
        .js("const r = document.querySelector('#search-results [data-testid=search-result]');
             return {
               room: r.querySelector('[data-testid=search-room]').textContent,
               author: r.querySelector('[data-testid=search-author]').textContent,
               snippet: r.querySelector('[data-testid=search-snippet]').textContent,
               marks: Array.from(r.querySelectorAll('mark')).map(m => m.textContent),
               elements: Array.from(r.querySelectorAll('[data-testid=search-snippet] *')).map(e => e.tagName.toLowerCase()),
               seq: Number(r.dataset.seq),
             };")
        .await;
    assert_eq!(
        hit,
        json!({
            "room": "launches",
            "author": "Gil Grant",
            "snippet": target,
            "marks": ["zeppelin"],
            "elements": ["mark"],
            "seq": target_seq,
        }),
        "the snippet as text, the matched word (stemmed) marked"
    );
    assert!(
        fay.is_visible("#search-view").await && !fay.is_visible("#room-view").await,
        "the results take the room view's place"
    );
    fay.screenshot("27-search-results").await;

    step("clicking it opens the room at the message, loaded around it, and highlights it");
    fay.click("#search-results [data-testid=search-result] button")
        .await;
    fay.wait_js(
        "the room is open",
        "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'launches' && document.getElementById('search-view').hidden",
    )
    .await;
    fay.wait_js(
        "the message is there",
        &format!("!!document.querySelector(\"#messages [data-seq='{target_seq}']\")"),
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while !message_in_view(&fay, target_seq).await {
        assert!(
            Instant::now() < deadline,
            "the found message was never scrolled into view"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        fay.js(&format!(
            "return document.querySelector(\"#messages [data-seq='{target_seq}']\").classList.contains('flash');"
        ))
        .await,
        json!(true),
        "highlighted"
    );
    fay.screenshot("28-search-opened").await;
    let shown = fay
        .js("return Array.from(document.querySelectorAll('#messages [data-testid=message]')).map(e => Number(e.dataset.seq));")
        .await;
    let shown: Vec<i64> = serde_json::from_value(shown).unwrap();
    assert!(
        !shown.contains(&125),
        "only the messages around it are loaded, not the newest: {shown:?}"
    );

    step("a live message meanwhile; Jump to the newest loads everything between, without a gap");
    app.send(&gil, room_id, "fresh off the press").await;
    fay.click("#jump-latest").await;
    fay.wait_message("fresh off the press").await;
    let seqs = fay
        .js("return Array.from(document.querySelectorAll('#messages [data-testid=message]')).map(e => Number(e.dataset.seq));")
        .await;
    let seqs: Vec<i64> = serde_json::from_value(seqs).unwrap();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..=126).collect::<Vec<_>>(),
        "every message once, in order, up to the newest"
    );

    step("a query of only exclusions is explained");
    fay.fill("#search-input", "-zeppelin").await;
    fay.type_into("#search-input", ENTER).await;
    fay.wait_js(
        "explained",
        "document.getElementById('search-error').textContent.startsWith('Search for at least one word')",
    )
    .await;
    fay.click("#search-close").await;
    fay.wait_visible("#room-view").await;
    fay.c.close().await.unwrap();
}

/// The reaction chips under message `seq` of the open room: emoji, count, whether yours
/// (`aria-pressed`), and the title naming who reacted.
async fn chips(b: &Browser, seq: i64) -> Value {
    b.js(&format!(
        "return Array.from(document.querySelectorAll(\"#messages [data-seq='{seq}'] [data-testid=reaction]\")).map(c => ({{
           emoji: c.dataset.emoji, count: Number(c.dataset.count), mine: c.getAttribute('aria-pressed') === 'true', title: c.title,
         }}));"
    ))
    .await
}

/// Waits until message `seq` of the open room shows exactly these chips.
async fn wait_chips(b: &Browser, seq: i64, want: Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = chips(b, seq).await;
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            let shot = b.screenshot(&format!("FAILED-{}", b.name)).await;
            panic!(
                "[{}] reactions on {seq}: got {got}, want {want}; screenshot {}",
                b.name,
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_show_live_on_both_screens() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    let bob = Browser::open(&driver, "bob", 1280, 800).await;

    step("ann and bob in one room, a message of ann's");
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    bob.register_and_connect(&base, "bob", "Bob Baker").await;
    let ann_api = app.login_ok("ann").await;
    let bob_api = app.login_ok("bob").await;
    let room = app.create_room(&ann_api, "launch", false).await;
    let room_id = room["id"].as_i64().unwrap();
    app.join(&bob_api, room_id).await;
    let link = format!("#room-list [data-room-id='{room_id}']");
    for b in [&ann, &bob] {
        b.click(&link).await;
        b.wait_js(
            "room open",
            "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'launch'",
        )
        .await;
    }
    ann.send("Ready to ship?").await;
    bob.wait_message("Ready to ship?").await;
    let msg = "#messages [data-seq='1']";

    step("bob picks 👍 from the picker; ann sees the chip live, bob's own is highlighted");
    bob.click(&format!("{msg} .msg-body")).await;
    bob.click(&format!("{msg} .msg-actions [data-testid=add-reaction]"))
        .await;
    bob.wait_visible("#reaction-picker").await;
    let offered = bob
        .js("return Array.from(document.querySelectorAll('#reaction-picker [data-testid=reaction-pick]')).map(b => b.dataset.emoji);")
        .await;
    assert_eq!(
        offered.as_array().map(Vec::len),
        Some(12),
        "a dozen common emoji: {offered}"
    );
    bob.screenshot("30-reaction-picker").await;
    bob.click("#reaction-picker [data-emoji='👍']").await;
    wait_chips(
        &bob,
        1,
        json!([{"emoji": "👍", "count": 1, "mine": true, "title": "You reacted with 👍"}]),
    )
    .await;
    assert!(
        !bob.is_visible("#reaction-picker").await,
        "the picker closes"
    );
    wait_chips(
        &ann,
        1,
        json!([{"emoji": "👍", "count": 1, "mine": false, "title": "Bob Baker reacted with 👍"}]),
    )
    .await;

    step("ann clicks the chip: two; a second emoji from ann's picker");
    ann.click(&format!("{msg} [data-testid=reaction][data-emoji='👍']"))
        .await;
    wait_chips(
        &bob,
        1,
        json!([{"emoji": "👍", "count": 2, "mine": true, "title": "You and Ann Archer reacted with 👍"}]),
    )
    .await;
    wait_chips(
        &ann,
        1,
        json!([{"emoji": "👍", "count": 2, "mine": true, "title": "You and Bob Baker reacted with 👍"}]),
    )
    .await;
    ann.click(&format!("{msg} .reactions [data-testid=add-reaction]"))
        .await;
    ann.click("#reaction-picker [data-emoji='🎉']").await;
    wait_chips(
        &bob,
        1,
        json!([
            {"emoji": "👍", "count": 2, "mine": true, "title": "You and Ann Archer reacted with 👍"},
            {"emoji": "🎉", "count": 1, "mine": false, "title": "Ann Archer reacted with 🎉"},
        ]),
    )
    .await;
    ann.screenshot("31-reactions").await;

    step("bob takes his back; a reload shows what the server kept, ann's own highlighted");
    bob.click(&format!("{msg} [data-testid=reaction][data-emoji='👍']"))
        .await;
    let after = json!([
        {"emoji": "👍", "count": 1, "mine": true, "title": "You reacted with 👍"},
        {"emoji": "🎉", "count": 1, "mine": true, "title": "You reacted with 🎉"},
    ]);
    wait_chips(&ann, 1, after.clone()).await;
    wait_chips(
        &bob,
        1,
        json!([
            {"emoji": "👍", "count": 1, "mine": false, "title": "Ann Archer reacted with 👍"},
            {"emoji": "🎉", "count": 1, "mine": false, "title": "Ann Archer reacted with 🎉"},
        ]),
    )
    .await;
    ann.c.refresh().await.unwrap();
    ann.wait_message("Ready to ship?").await;
    wait_chips(&ann, 1, after).await;
    let (status, body) = app
        .get(
            &format!("/api/v1/rooms/{room_id}/messages"),
            &bob_api.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored: Vec<(String, i64)> = body["items"][0]["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap().to_owned(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, [("👍".to_owned(), 1), ("🎉".to_owned(), 1)]);

    step("a deleted message loses its reactions on both screens");
    ann.click(&format!("{msg} .msg-body")).await;
    ann.click(&format!("{msg} [data-testid=delete-message]"))
        .await;
    ann.click("#confirm-ok").await;
    for b in [&ann, &bob] {
        b.wait_message("This message was deleted.").await;
        wait_chips(b, 1, json!([])).await;
    }
    ann.c.close().await.unwrap();
    bob.c.close().await.unwrap();
}

/// The unread badge of a room in the sidebar ("" when none).
async fn badge(b: &Browser, room_id: i64) -> String {
    b.js(&format!(
        "return (document.querySelector('[data-testid=unread-{room_id}]') || {{textContent: ''}}).textContent;"
    ))
    .await
    .as_str()
    .unwrap()
    .to_owned()
}

async fn wait_badge(b: &Browser, room_id: i64, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = badge(b, room_id).await;
        if got == want {
            return;
        }
        if Instant::now() > deadline {
            let shot = b.screenshot(&format!("FAILED-{}", b.name)).await;
            panic!(
                "[{}] unread badge of room {room_id}: got {got:?}, want {want:?}; screenshot {}",
                b.name,
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The read state `who`'s room list (GET /rooms?mine=true) gives a room: last read seq and
/// unread count.
async fn read_state(app: &TestApp, who: &Session, room_id: i64) -> (i64, i64) {
    let rooms = app.walk_pages(who, "/api/v1/rooms?mine=true", 100).await;
    let room = rooms
        .iter()
        .find(|r| r["id"].as_i64() == Some(room_id))
        .expect("the room is listed");
    (
        room["last_read_seq"].as_i64().unwrap(),
        room["unread_count"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_state_agrees_across_tabs() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    // One browser profile, two windows: ann's two tabs.
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    let ann_api = app.login_ok("ann").await;
    let bob = register_api(&app, "bob", "Bob Baker").await;

    step("two rooms of ann's, bob in one; ann's second tab");
    let alpha = app.create_room(&ann_api, "alpha", false).await;
    let alpha_id = alpha["id"].as_i64().unwrap();
    app.join(&bob, alpha_id).await;
    let beta = app.create_room(&ann_api, "beta", false).await;
    let beta_id = beta["id"].as_i64().unwrap();
    let first = ann.c.window().await.unwrap();
    let second = ann.c.new_window(false).await.unwrap().handle;
    ann.c.switch_to_window(second.clone()).await.unwrap();
    ann.c.goto(&base).await.unwrap();
    ann.wait_js(
        "the second tab is signed in and connected",
        "document.getElementById('conn-status').dataset.state === 'online'",
    )
    .await;
    let tabs = [first.clone(), second.clone()];
    for tab in &tabs {
        ann.c.switch_to_window(tab.clone()).await.unwrap();
        ann.click(&format!("#room-list [data-room-id='{beta_id}']"))
            .await;
        ann.wait_js(
            "beta open",
            "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'beta'",
        )
        .await;
    }

    step("bob writes in alpha: both tabs count two unread, from the server");
    app.send(&bob, alpha_id, "Morning, Ann.").await;
    app.send(&bob, alpha_id, "The build is green.").await;
    for tab in &tabs {
        ann.c.switch_to_window(tab.clone()).await.unwrap();
        wait_badge(&ann, alpha_id, "2").await;
    }
    assert_eq!(read_state(&app, &ann_api, alpha_id).await, (0, 2));
    ann.screenshot("32-unread-two-tabs").await;

    step("read in the first tab: the server moves the mark and the second tab's badge clears");
    ann.c.switch_to_window(first.clone()).await.unwrap();
    ann.click(&format!("#room-list [data-room-id='{alpha_id}']"))
        .await;
    ann.wait_message("The build is green.").await;
    ann.wait_js(
        "the new messages line above bob's first message",
        "(document.querySelector('#messages [data-testid=new-messages-line]') || {}).nextElementSibling === document.querySelector(\"#messages [data-seq='1']\")",
    )
    .await;
    ann.screenshot("33-new-messages-line").await;
    wait_badge(&ann, alpha_id, "").await;
    ann.c.switch_to_window(second.clone()).await.unwrap();
    wait_badge(&ann, alpha_id, "").await;
    let deadline = Instant::now() + WAIT;
    while read_state(&app, &ann_api, alpha_id).await != (2, 0) {
        assert!(
            Instant::now() < deadline,
            "the mark never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    step("a reload of the second tab keeps it read (nothing in localStorage)");
    ann.c.refresh().await.unwrap();
    ann.wait_js(
        "reloaded and listed",
        &format!("!!document.querySelector(\"#room-list [data-room-id='{alpha_id}']\") && document.getElementById('conn-status').dataset.state === 'online'"),
    )
    .await;
    assert_eq!(badge(&ann, alpha_id).await, "");
    assert_eq!(
        ann.js("return Object.keys(localStorage).filter(k => k.startsWith('huddle.read'));")
            .await,
        json!([]),
        "read marks are not kept in the browser"
    );

    step("the first tab moves to beta; one more from bob: one unread on both; the second tab reads it, with the line above it");
    ann.c.switch_to_window(first.clone()).await.unwrap();
    ann.click(&format!("#room-list [data-room-id='{beta_id}']"))
        .await;
    ann.wait_js(
        "beta open",
        "(document.querySelector('#room-title [data-testid=room-name]') || {}).textContent === 'beta'",
    )
    .await;
    app.send(&bob, alpha_id, "Lunch at one?").await;
    wait_badge(&ann, alpha_id, "1").await;
    ann.c.switch_to_window(second.clone()).await.unwrap();
    wait_badge(&ann, alpha_id, "1").await;
    ann.click(&format!("#room-list [data-room-id='{alpha_id}']"))
        .await;
    ann.wait_message("Lunch at one?").await;
    ann.wait_js(
        "the line moved to where ann left off",
        "(document.querySelector('#messages [data-testid=new-messages-line]') || {}).nextElementSibling === document.querySelector(\"#messages [data-seq='3']\")",
    )
    .await;
    ann.c.switch_to_window(first.clone()).await.unwrap();
    wait_badge(&ann, alpha_id, "").await;

    step("seen by: bob reads ann's answer; ann's tabs show it under her message");
    ann.c.switch_to_window(second.clone()).await.unwrap();
    ann.send("Yes, see you there.").await;
    ann.wait_message("Yes, see you there.").await;
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/rooms/{alpha_id}/read"),
            Some(&bob.access_token),
            Some(json!({ "seq": 4 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ann.c.switch_to_window(first.clone()).await.unwrap();
    // The first tab is on beta: open alpha there to see it.
    ann.click(&format!("#room-list [data-room-id='{alpha_id}']"))
        .await;
    for tab in &tabs {
        ann.c.switch_to_window(tab.clone()).await.unwrap();
        ann.wait_js(
            "seen by bob under ann's message",
            "(() => { const s = document.querySelector(\"#messages [data-seq='4'] [data-testid=seen-by]\"); return !!s && s.textContent === 'Seen by 1' && s.title === 'Seen by Bob Baker'; })()",
        )
        .await;
    }
    ann.screenshot("34-seen-by").await;

    step("the profile turns read receipts off");
    ann.click("#profile-btn").await;
    ann.wait_js(
        "sharing is on by default",
        "document.getElementById('profile-receipts').checked === true",
    )
    .await;
    ann.click("#profile-receipts").await;
    ann.click("#profile-save").await;
    ann.wait_js("saved", "!document.getElementById('profile-dialog').open")
        .await;
    let (status, me) = app.get("/api/v1/users/me", &ann_api.access_token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["share_read_receipts"], json!(false));
    ann.c.close().await.unwrap();
}

const ESCAPE: &str = "\u{E00C}";

/// The quote above message `seq` of the open room: its author and preview texts, and whether it
/// says the quoted message was deleted (null when the message quotes nothing).
async fn quote(b: &Browser, seq: i64) -> Value {
    b.js(&format!(
        "const q = document.querySelector(\"#messages [data-seq='{seq}'] [data-testid=reply-quote]\");
         if (!q) return null;
         return {{
           author: (q.querySelector('.reply-author') || {{textContent: null}}).textContent,
           preview: q.querySelector('.reply-preview').textContent,
           deleted: q.classList.contains('deleted'),
         }};"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_quote_and_scroll_to_the_message() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn_unthrottled(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    let bob = Browser::open(&driver, "bob", 1280, 800).await;
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    bob.register_and_connect(&base, "bob", "Bob Baker").await;
    let ann_api = app.login_ok("ann").await;
    let bob_api = app.login_ok("bob").await;

    step("a room where bob's question is far back and his latest is the newest message");
    let room = app.create_room(&ann_api, "launch", false).await;
    let room_id = room["id"].as_i64().unwrap();
    app.join(&bob_api, room_id).await;
    let question = app
        .send(&bob_api, room_id, "Which day works for the launch?")
        .await;
    for i in 1..=70 {
        app.send(&ann_api, room_id, &format!("filler {i}")).await;
    }
    app.send(&bob_api, room_id, "Friday?").await;
    let link = format!("#room-list [data-room-id='{room_id}']");
    for b in [&ann, &bob] {
        b.click(&link).await;
        b.wait_message("Friday?").await;
    }

    step("ann replies to bob's latest: the bar, Escape cancels it, then the reply with its quote");
    let friday = "#messages [data-seq='72']";
    ann.click(&format!("{friday} .msg-body")).await;
    ann.click(&format!("{friday} [data-testid=reply-message]"))
        .await;
    ann.wait_js(
        "the reply bar",
        "document.getElementById('reply-bar-author').textContent === 'Bob Baker' && document.getElementById('reply-bar-preview').textContent === 'Friday?' && !document.getElementById('reply-bar').hidden",
    )
    .await;
    ann.screenshot("35-replying").await;
    ann.type_into("#composer-input", ESCAPE).await;
    ann.wait_js(
        "Escape cancels the reply",
        "document.getElementById('reply-bar').hidden",
    )
    .await;
    // Still selected: its actions still show.
    ann.click(&format!("{friday} [data-testid=reply-message]"))
        .await;
    ann.wait_visible("#reply-bar").await;
    ann.send("Friday works.").await;
    ann.wait_js(
        "the bar closes once sent",
        "document.getElementById('reply-bar').hidden",
    )
    .await;
    let want = json!({"author": "Bob Baker", "preview": "Friday?", "deleted": false});
    for b in [&ann, &bob] {
        b.wait_message("Friday works.").await;
        b.wait_js(
            "the reply quotes bob's message",
            "!!document.querySelector(\"#messages [data-seq='73'] [data-testid=reply-quote]\")",
        )
        .await;
        assert_eq!(quote(b, 73).await, want, "[{}]", b.name);
    }
    ann.screenshot("36-reply-sent").await;
    assert_eq!(
        quote(&bob, 72).await,
        Value::Null,
        "no quote without reply_to"
    );
    let stored = app.all_messages(&bob_api, room_id).await;
    assert_eq!(stored[72]["reply_to"]["seq"], json!(72));

    step("a reply to the question far back: bob clicks its quote, older pages load and it flashes");
    let (status, body) = app
        .post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            &ann_api.access_token,
            json!({ "body": "About your first question: Friday.", "reply_to": question["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    bob.wait_message("About your first question: Friday.").await;
    assert!(
        bob.js("return !document.querySelector(\"#messages [data-seq='1']\");")
            .await
            == json!(true),
        "the question is not loaded yet"
    );
    assert_eq!(
        quote(&bob, 74).await,
        json!({"author": "Bob Baker", "preview": "Which day works for the launch?", "deleted": false})
    );
    bob.click("#messages [data-seq='74'] [data-testid=reply-quote]")
        .await;
    let deadline = Instant::now() + WAIT;
    while !message_in_view(&bob, 1).await {
        assert!(
            Instant::now() < deadline,
            "the quoted message was never scrolled into view"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        bob.js("return document.querySelector(\"#messages [data-seq='1']\").classList.contains('flash');")
            .await,
        json!(true),
        "highlighted"
    );
    let seqs = bob
        .js("return Array.from(document.querySelectorAll('#messages [data-testid=message]')).map(e => Number(e.dataset.seq));")
        .await;
    let seqs: Vec<i64> = serde_json::from_value(seqs).unwrap();
    assert_eq!(
        seqs,
        (1..=74).collect::<Vec<_>>(),
        "older pages, no window: everything from it to the newest"
    );
    bob.screenshot("37-reply-quote-clicked").await;

    step("bob deletes the message ann answered: her quote says so, live and after a reload");
    bob.click("#jump-latest").await;
    bob.wait_js(
        "back at the newest",
        "document.getElementById('jump-latest').hidden",
    )
    .await;
    bob.click(&format!("{friday} .msg-body")).await;
    bob.click(&format!("{friday} [data-testid=delete-message]"))
        .await;
    bob.click("#confirm-ok").await;
    let gone = json!({"author": null, "preview": "deleted message", "deleted": true});
    ann.wait_js(
        "the quote says deleted",
        "!!document.querySelector(\"#messages [data-seq='73'] [data-testid=reply-quote].deleted\")",
    )
    .await;
    assert_eq!(quote(&ann, 73).await, gone);
    ann.c.refresh().await.unwrap();
    ann.wait_message("Friday works.").await;
    assert_eq!(quote(&ann, 73).await, gone);
    ann.c.close().await.unwrap();
    bob.c.close().await.unwrap();
}

const TAB: &str = "\u{E004}";
const ARROW_DOWN: &str = "\u{E015}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_complete_highlight_and_badge() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    let bob = Browser::open(&driver, "bob", 1280, 800).await;
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    bob.register_and_connect(&base, "bob", "Bob Baker").await;
    let ann_api = app.login_ok("ann").await;
    let bob_api = app.login_ok("bob").await;
    register_api(&app, "andy", "Andy Arnold").await;

    step("ann reads elsewhere; bob is in plans with her");
    let plans = app.create_room(&ann_api, "plans", false).await;
    let plans_id = plans["id"].as_i64().unwrap();
    app.join(&bob_api, plans_id).await;
    let elsewhere = app.create_room(&ann_api, "elsewhere", false).await;
    let elsewhere_id = elsewhere["id"].as_i64().unwrap();
    ann.click(&format!("#room-list [data-room-id='{elsewhere_id}']"))
        .await;
    bob.click(&format!("#room-list [data-room-id='{plans_id}']"))
        .await;
    bob.wait_js(
        "bob knows the room's members",
        "document.getElementById('member-count').textContent === '2 members'",
    )
    .await;

    step("@ in bob's composer offers the room's members only; Escape closes, Tab picks");
    bob.type_into("#composer-input", "Heads up @a").await;
    bob.wait_js(
        "ann offered (andy is not in the room, bob is himself)",
        "Array.from(document.querySelectorAll('#mention-suggestions [data-testid=mention-suggestion]')).map(e => e.dataset.username).join() === 'ann'",
    )
    .await;
    bob.screenshot("38-mention-completion").await;
    bob.type_into("#composer-input", ESCAPE).await;
    bob.wait_js(
        "closed, the text kept",
        "document.getElementById('mention-suggestions').hidden && document.getElementById('composer-input').value === 'Heads up @a'",
    )
    .await;
    bob.type_into("#composer-input", "n").await;
    bob.wait_visible("#mention-suggestions").await;
    bob.type_into("#composer-input", TAB).await;
    bob.wait_js(
        "picked",
        "document.getElementById('composer-input').value === 'Heads up @ann ' && document.getElementById('mention-suggestions').hidden",
    )
    .await;
    bob.send("the demo moved to 3pm.").await;
    bob.wait_message("Heads up @ann the demo moved to 3pm.")
        .await;
    assert_eq!(
        bob.js("return Array.from(document.querySelectorAll('#messages [data-testid=mention]')).map(e => e.textContent);")
            .await,
        json!(["@ann"]),
        "the mention stands out (as text)"
    );

    step("ann's room list shows an @1 badge beside the unread count, live");
    ann.wait_js(
        "mention badge",
        &format!("(document.querySelector('[data-testid=mentions-{plans_id}]') || {{}}).textContent === '@1'"),
    )
    .await;
    wait_badge(&ann, plans_id, "1").await;
    ann.screenshot("39-mention-badge").await;
    let stored = app.all_messages(&ann_api, plans_id).await;
    assert_eq!(stored[0]["mentions"], json!([ann_api.user_id]));

    step("ann opens the room: the message is highlighted for her, the badges clear");
    ann.click(&format!("#room-list [data-room-id='{plans_id}']"))
        .await;
    ann.wait_message("Heads up @ann the demo moved to 3pm.")
        .await;
    ann.wait_js(
        "highlighted as mentioning her",
        "document.querySelector(\"#messages [data-seq='1']\").classList.contains('mentioned') && !!document.querySelector(\"#messages [data-seq='1'] .mention.mention-me\")",
    )
    .await;
    ann.wait_js(
        "badges cleared",
        &format!("!document.querySelector('[data-testid=mentions-{plans_id}]') && !document.querySelector('[data-testid=unread-{plans_id}]')"),
    )
    .await;
    ann.screenshot("40-mentioned").await;
    assert_eq!(
        bob.js("return document.querySelector(\"#messages [data-seq='1']\").classList.contains('mentioned');")
            .await,
        json!(false),
        "not highlighted for its author"
    );

    step("arrow keys and Enter pick from several; a mention while away counts again, and a reload keeps it");
    ann.click(&format!("#room-list [data-room-id='{elsewhere_id}']"))
        .await;
    bob.type_into("#composer-input", "@").await;
    bob.wait_js(
        "ann offered",
        "document.querySelectorAll('#mention-suggestions [data-testid=mention-suggestion]').length === 1",
    )
    .await;
    bob.type_into("#composer-input", &format!("{ARROW_DOWN}{ENTER}"))
        .await;
    bob.wait_js(
        "picked with Enter, not sent",
        "document.getElementById('composer-input').value === '@ann '",
    )
    .await;
    bob.send("one more thing").await;
    ann.wait_js(
        "mention badge again",
        &format!("(document.querySelector('[data-testid=mentions-{plans_id}]') || {{}}).textContent === '@1'"),
    )
    .await;
    ann.c.refresh().await.unwrap();
    ann.wait_js(
        "the server's count after a reload",
        &format!("(document.querySelector('[data-testid=mentions-{plans_id}]') || {{}}).textContent === '@1'"),
    )
    .await;
    ann.c.close().await.unwrap();
    bob.c.close().await.unwrap();
}

/// A PNG the page draws on a canvas (`w`x`h`: a sky, a few bars and a caption), as its bytes.
async fn canvas_png(b: &Browser, w: u32, h: u32) -> Vec<u8> {
    let v = b
        .js(&format!(
            "const c = document.createElement('canvas');
             c.width = {w}; c.height = {h};
             const g = c.getContext('2d');
             const sky = g.createLinearGradient(0, 0, 0, {h});
             sky.addColorStop(0, '#dfe8fb'); sky.addColorStop(1, '#f7f9fd');
             g.fillStyle = sky; g.fillRect(0, 0, {w}, {h});
             const bars = [0.35, 0.55, 0.48, 0.72, 0.9];
             const bw = {w} / (bars.length * 2 + 1);
             bars.forEach((v, i) => {{
               g.fillStyle = i === bars.length - 1 ? '#2451b7' : '#8ea9e8';
               g.fillRect(bw * (1 + i * 2), {h} * (0.92 - v * 0.75), bw, {h} * v * 0.75);
             }});
             g.fillStyle = '#1c2230';
             g.font = `bold ${{Math.round(Math.max({h} / 12, {w} / 30))}}px sans-serif`;
             g.fillText('Sign-ups per week', bw, {h} / 8);
             return new Promise((done) => c.toBlob((blob) => blob.arrayBuffer().then((a) => done(Array.from(new Uint8Array(a)))), 'image/png'));"
        ))
        .await;
    serde_json::from_value(v).unwrap()
}

/// Chooses a file in the composer as the file picker would: written to `dir` and its path typed
/// into the `<input type=file>` (chromedriver's way of choosing files); waits for the bar.
async fn attach(b: &Browser, dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let input = b.c.find(Locator::Css("#file-input")).await.unwrap();
    input
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap_or_else(|e| panic!("[{}] choose {name}: {e}", b.name));
    let n = serde_json::to_string(name).unwrap();
    b.wait_js(
        &format!("{name} ready to send"),
        &format!("!document.getElementById('attach-bar').hidden && document.getElementById('attach-name').textContent === {n}"),
    )
    .await;
}

/// The attachments of message `seq` of the open room, as shown: for an image its attributes, its
/// size on screen and whether it loaded; for a file its card's texts and link.
async fn attachments(b: &Browser, seq: i64) -> Value {
    b.js(&format!(
        "const m = document.querySelector(\"#messages [data-seq='{seq}']\");
         if (!m) return null;
         return Array.from(m.querySelectorAll('[data-testid=attachment]')).map(a => {{
           const img = a.querySelector('img');
           if (img) {{
             const r = img.getBoundingClientRect();
             return {{ kind: a.dataset.kind, width: img.getAttribute('width'), height: img.getAttribute('height'),
                      alt: img.alt, shown: [Math.round(r.width), Math.round(r.height)],
                      loaded: img.complete && img.naturalWidth > 0, natural: [img.naturalWidth, img.naturalHeight],
                      same_link: a.getAttribute('href') === img.getAttribute('src'), target: a.target,
                      signed: /^\\/api\\/v1\\/files\\/[^?]+\\?exp=\\d+&sig=/.test(img.getAttribute('src')) }};
           }}
           return {{ kind: a.dataset.kind, tag: a.tagName.toLowerCase(), name: a.querySelector('[data-testid=attachment-name]').textContent,
                    size: a.querySelector('[data-testid=attachment-size]').textContent,
                    type: a.querySelector('[data-testid=attachment-type]').textContent,
                    download: a.getAttribute('download'),
                    signed: /^\\/api\\/v1\\/files\\/[^?]+\\?exp=\\d+&sig=/.test(a.getAttribute('href')) }};
         }});"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_upload_an_image_and_a_file() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.realtime.send_rate_per_sec = 1_000_000.0;
        cfg.realtime.send_burst = 1_000_000.0;
        // Small enough to go over in a test.
        cfg.files.max_bytes = 1024 * 1024;
    })
    .await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let ann = Browser::open(&driver, "ann", 1280, 800).await;
    let bob = Browser::open(&driver, "bob", 1280, 800).await;
    ann.register_and_connect(&base, "ann", "Ann Archer").await;
    bob.register_and_connect(&base, "bob", "Bob Baker").await;
    let ann_api = app.login_ok("ann").await;
    let bob_api = app.login_ok("bob").await;
    let dir = tempfile::tempdir().unwrap();

    step("ann and bob in one room, each in their own window");
    let room = app.create_room(&ann_api, "design", false).await;
    let room_id = room["id"].as_i64().unwrap();
    app.join(&bob_api, room_id).await;
    app.send(&bob_api, room_id, "Any numbers yet?").await;
    let link = format!("#room-list [data-room-id='{room_id}']");
    for b in [&ann, &bob] {
        b.click(&link).await;
        b.wait_message("Any numbers yet?").await;
    }

    step("ann attaches an 800x600 PNG with the button's file input and sends it with a caption");
    let png = canvas_png(&ann, 800, 600).await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "the canvas made a PNG");
    ann.type_into("#composer-input", "Sign-ups this month")
        .await;
    attach(&ann, dir.path(), "signups.png", &png).await;
    ann.screenshot("41-file-staged").await;
    ann.click("#send-btn").await;

    step("bob sees it live: the image with its size set before it loads, loaded through the signed link, and the caption");
    bob.wait_message("Sign-ups this month").await;
    bob.wait_js(
        "the image loaded",
        "(() => { const i = document.querySelector(\"#messages [data-seq='2'] img\"); return !!i && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    let want = json!([{
        "kind": "image", "width": "800", "height": "600", "alt": "signups.png",
        // Scaled down into the 360x280 box, its aspect ratio kept.
        "shown": [360, 270], "loaded": true, "natural": [800, 600],
        "same_link": true, "target": "_blank", "signed": true,
    }]);
    assert_eq!(attachments(&bob, 2).await, want, "bob's view");
    ann.wait_js(
        "ann's image loaded",
        "(() => { const i = document.querySelector(\"#messages [data-seq='2'] img\"); return !!i && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    assert_eq!(attachments(&ann, 2).await, want, "ann's view");
    assert_eq!(
        ann.js("return [document.getElementById('composer-input').value, document.getElementById('attach-bar').hidden, document.getElementById('attach-error').textContent];")
            .await,
        json!(["", true, ""]),
        "ann's composer is empty again"
    );
    let stored = app.all_messages(&bob_api, room_id).await;
    assert_eq!(stored[1]["body"], "Sign-ups this month");
    assert_eq!(stored[1]["attachments"][0]["content_type"], "image/png");
    assert_eq!(
        stored[1]["client_msg_id"].as_str().map(str::len),
        Some(36),
        "sent with a client_msg_id"
    );
    bob.screenshot("42-image-received").await;

    step("an image without a caption has no empty text above it");
    let small = canvas_png(&ann, 120, 80).await;
    attach(&ann, dir.path(), "thumb.png", &small).await;
    ann.type_into("#composer-input", ENTER).await;
    bob.wait_js(
        "the second image",
        "(() => { const i = document.querySelector(\"#messages [data-seq='3'] img\"); return !!i && i.complete && i.naturalWidth > 0; })()",
    )
    .await;
    assert_eq!(
        bob.js("const m = document.querySelector(\"#messages [data-seq='3']\");
                return { bodies: m.querySelectorAll('.msg-body').length, text: m.querySelector('.msg-main').innerText.includes('thumb.png'),
                         size: [m.querySelector('img').getAttribute('width'), m.querySelector('img').getAttribute('height')],
                         edit: !!m.querySelector('[data-testid=edit-message]') };")
            .await,
        json!({"bodies": 0, "text": false, "size": ["120", "80"], "edit": false}),
        "no body paragraph, nothing to edit, shown at its own size"
    );

    step("a text file: bob gets a download card with its name, size and type, and the link works");
    let notes: String = "Launch checklist: ship it.\n".repeat(60);
    assert_eq!(notes.len(), 1620);
    attach(&ann, dir.path(), "notes.txt", notes.as_bytes()).await;
    ann.type_into("#composer-input", &format!("The checklist{ENTER}"))
        .await;
    bob.wait_message("The checklist").await;
    assert_eq!(
        attachments(&bob, 4).await,
        json!([{"kind": "file", "tag": "a", "name": "notes.txt", "size": "1.6 KB", "type": "text/plain", "download": "notes.txt", "signed": true}])
    );
    let fetched = bob
        .js("const a = document.querySelector(\"#messages [data-seq='4'] [data-testid=attachment]\");
             return fetch(a.getAttribute('href')).then(r => r.text().then(t => ({ status: r.status, disposition: r.headers.get('content-disposition'), length: t.length })));")
        .await;
    assert_eq!(fetched["status"], 200, "{fetched}");
    assert_eq!(fetched["length"], 1620, "{fetched}");
    assert!(
        fetched["disposition"]
            .as_str()
            .is_some_and(|d| d.starts_with("attachment")),
        "downloaded, not shown: {fetched}"
    );
    bob.screenshot("43-file-card").await;

    step("a refused upload: x.png that is text; the server's words are shown and the text stays");
    ann.type_into("#composer-input", "This text stays").await;
    attach(&ann, dir.path(), "x.png", b"not a picture at all").await;
    ann.click("#send-btn").await;
    ann.wait_js(
        "the server's refusal",
        "document.getElementById('attach-error').textContent.includes('is said to be image/png but its content is text/plain')",
    )
    .await;
    assert_eq!(
        ann.js("return [document.getElementById('attach-error').textContent, document.getElementById('composer-input').value, document.getElementById('composer-input').readOnly, document.getElementById('attach-bar').hidden];")
            .await,
        json!([
            "“x.png” was not sent: the file is said to be image/png but its content is text/plain.",
            "This text stays",
            false,
            true
        ]),
        "the file is dropped, the text kept and editable"
    );
    ann.screenshot("44-upload-refused").await;

    step("too large: the limit is 1 MiB here");
    let big = vec![b'a'; 3 * 1024 * 1024];
    attach(&ann, dir.path(), "big.txt", &big).await;
    ann.type_into("#composer-input", ENTER).await;
    ann.wait_js(
        "too large",
        "document.getElementById('attach-error').textContent.startsWith('“big.txt” was not sent')",
    )
    .await;
    assert_eq!(
        ann.js("return [document.getElementById('attach-error').textContent, document.getElementById('composer-input').value];")
            .await,
        json!([
            "“big.txt” was not sent: the file is larger than the limit of 1048576 bytes (1 MB).",
            "This text stays"
        ])
    );

    step("the text goes on its own; nothing refused was stored");
    ann.type_into("#composer-input", ENTER).await;
    bob.wait_message("This text stays").await;
    let stored = app.all_messages(&bob_api, room_id).await;
    assert_eq!(stored.len(), 5, "no message for a refused file");

    step("ann deletes the image: bob's copy goes live");
    ann.click("#messages [data-seq='2'] .msg-body").await;
    ann.click("#messages [data-seq='2'] [data-testid=delete-message]")
        .await;
    ann.click("#confirm-ok").await;
    bob.wait_js(
        "deleted, without its image",
        "(() => { const m = document.querySelector(\"#messages [data-seq='2']\"); return m.classList.contains('deleted') && !m.querySelector('img'); })()",
    )
    .await;
    ann.c.close().await.unwrap();
    bob.c.close().await.unwrap();
}

/// The search results shown: "<author> in <room>: <snippet>", in order.
async fn search_hits(b: &Browser) -> Vec<String> {
    let v = b
        .js("return Array.from(document.querySelectorAll('#search-results [data-testid=search-result]')).map(r =>
               `${r.querySelector('[data-testid=search-author]').textContent} in ${r.querySelector('[data-testid=search-room]').textContent}: ${r.querySelector('[data-testid=search-snippet]').textContent}`);")
        .await;
    let mut hits: Vec<String> = serde_json::from_value(v).unwrap();
    hits.sort();
    hits
}

/// Waits until the results (sorted) are `want` and no search is under way.
async fn wait_hits(b: &Browser, want: &[&str]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let busy = b
            .js("return document.getElementById('search-results').hasAttribute('aria-busy');")
            .await
            == json!(true);
        let hits = search_hits(b).await;
        if !busy && hits == want {
            return;
        }
        if Instant::now() > deadline {
            let shot = b.screenshot(&format!("FAILED-{}", b.name)).await;
            panic!(
                "[{}] results {hits:?}, wanted {want:?}; screenshot {}",
                b.name,
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sets a date field as a date picker would (typing into one depends on the locale).
async fn set_date(b: &Browser, id: &str, value: &str) {
    b.js(&format!(
        "const e = document.getElementById('{id}'); e.value = '{value}'; e.dispatchEvent(new Event('change', {{bubbles: true}})); return 1;"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_narrow_the_results() {
    if !browser_available() {
        return;
    }
    let _turn = SERIAL.lock().await;
    let app = TestApp::spawn_unthrottled(Backend::Sqlite).await;
    let base = format!("{}/", app.address);
    let driver = Driver::start().await;
    let fay = Browser::open(&driver, "fay", 1280, 800).await;
    fay.register_and_connect(&base, "fay", "Fay Fox").await;
    let fay_api = app.login_ok("fay").await;
    let gil = register_api(&app, "gil", "Gil Grant").await;
    register_api(&app, "gilda", "Gilda Gray").await;

    step("two authors in two rooms write about the rocket");
    let alpha = app.create_room(&fay_api, "alpha", false).await;
    let alpha_id = alpha["id"].as_i64().unwrap();
    let beta = app.create_room(&fay_api, "beta", false).await;
    let beta_id = beta["id"].as_i64().unwrap();
    for id in [alpha_id, beta_id] {
        app.join(&gil, id).await;
    }
    app.send(&fay_api, alpha_id, "rocket one by fay").await;
    app.send(&gil, alpha_id, "rocket two by gil").await;
    app.send(&fay_api, beta_id, "rocket three by fay").await;
    app.send(&gil, beta_id, "rocket four by gil").await;
    app.send(&gil, beta_id, "nothing about it").await;
    fay.wait_js(
        "both rooms listed",
        "document.querySelectorAll('#room-list [data-testid=room-link]').length === 2",
    )
    .await;

    step("without filters: all four");
    fay.type_into("#search-input", &format!("rocket{ENTER}"))
        .await;
    wait_hits(
        &fay,
        &[
            "Fay Fox in alpha: rocket one by fay",
            "Fay Fox in beta: rocket three by fay",
            "Gil Grant in alpha: rocket two by gil",
            "Gil Grant in beta: rocket four by gil",
        ],
    )
    .await;

    step("the room filter: only beta's");
    fay.click("#search-filters-btn").await;
    fay.wait_visible("#filter-room").await;
    assert_eq!(
        fay.js("return Array.from(document.querySelectorAll('#filter-room option')).map(o => [o.value, o.textContent]);")
            .await,
        json!([["", "All rooms"], [alpha_id.to_string(), "#alpha"], [beta_id.to_string(), "#beta"]]),
        "the user's rooms"
    );
    let select = fay.c.find(Locator::Css("#filter-room")).await.unwrap();
    select.select_by_value(&beta_id.to_string()).await.unwrap();
    wait_hits(
        &fay,
        &[
            "Fay Fox in beta: rocket three by fay",
            "Gil Grant in beta: rocket four by gil",
        ],
    )
    .await;
    assert_eq!(
        fay.js("return [document.getElementById('search-summary').textContent, document.getElementById('search-filters-btn').textContent];")
            .await,
        json!(["2 messages matching “rocket” in beta", "Filters (1)"])
    );

    step("and the author, picked by name: only gil's in beta");
    fay.type_into("#filter-author", "gil").await;
    fay.wait_js(
        "gil and gilda offered",
        "Array.from(document.querySelectorAll('#filter-author-suggestions [data-testid=filter-author-suggestion]')).map(e => e.dataset.username).join() === 'gil,gilda'",
    )
    .await;
    fay.screenshot("45-search-filter-author").await;
    fay.click("#filter-author-suggestions [data-username=gil]")
        .await;
    wait_hits(&fay, &["Gil Grant in beta: rocket four by gil"]).await;
    assert_eq!(
        fay.js("return [document.getElementById('filter-author').value, document.getElementById('search-summary').textContent];")
            .await,
        json!(["@gil", "1 message matching “rocket” in beta, from Gil Grant"])
    );
    fay.screenshot("46-search-filters").await;

    step("the author alone, in every room");
    select.select_by_value("").await.unwrap();
    wait_hits(
        &fay,
        &[
            "Gil Grant in alpha: rocket two by gil",
            "Gil Grant in beta: rocket four by gil",
        ],
    )
    .await;

    step("days: from tomorrow finds nothing; today to today finds them again");
    let days = fay
        .js("const d = (n) => { const t = new Date(); t.setDate(t.getDate() + n);
                               return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`; };
             return [d(0), d(1)];")
        .await;
    let (today, tomorrow) = (
        days[0].as_str().unwrap().to_owned(),
        days[1].as_str().unwrap().to_owned(),
    );
    set_date(&fay, "filter-from", &tomorrow).await;
    wait_hits(&fay, &[]).await;
    fay.wait_js(
        "nothing in that range",
        "document.getElementById('search-summary').textContent.startsWith('No messages match “rocket” from Gil Grant, since ')",
    )
    .await;
    set_date(&fay, "filter-to", &today).await;
    fay.wait_js(
        "a backwards range is explained",
        "document.getElementById('search-error').textContent.startsWith('The first day is after the last one')",
    )
    .await;
    set_date(&fay, "filter-from", &today).await;
    wait_hits(
        &fay,
        &[
            "Gil Grant in alpha: rocket two by gil",
            "Gil Grant in beta: rocket four by gil",
        ],
    )
    .await;
    assert_eq!(
        fay.js("return document.getElementById('search-filters-btn').textContent;")
            .await,
        json!("Filters (2)")
    );

    step("cleared, then an exact username typed with Enter");
    fay.click("#filter-clear").await;
    wait_hits(
        &fay,
        &[
            "Fay Fox in alpha: rocket one by fay",
            "Fay Fox in beta: rocket three by fay",
            "Gil Grant in alpha: rocket two by gil",
            "Gil Grant in beta: rocket four by gil",
        ],
    )
    .await;
    fay.type_into("#filter-author", &format!("fay{ENTER}"))
        .await;
    wait_hits(
        &fay,
        &[
            "Fay Fox in alpha: rocket one by fay",
            "Fay Fox in beta: rocket three by fay",
        ],
    )
    .await;
    fay.fill("#filter-author", "nobody").await;
    fay.type_into("#filter-author", ENTER).await;
    fay.wait_js(
        "an unknown name is said so",
        "document.getElementById('search-error').textContent.startsWith('No one is called “nobody”')",
    )
    .await;
    fay.c.close().await.unwrap();
}
