//! The load generator: N WebSocket connections spread over rooms, some of which send.
//!
//! Every message carries its sender, its number and its send time in the body
//! (`lg <sender> <n> <send time in µs>`), so each receiver computes the send→receive latency
//! and checks every message it should get: per sender, numbers must arrive once each. After
//! the run, what a receiver never got of a sender's *acknowledged* messages is lost; what it
//! got twice is duplicated. Messages the server refused (an `error` reply) are not expected.
//!
//! Phases: connect everyone, warm up (senders send, nothing is measured), measure, then drain
//! (senders stop; receivers keep reading until every ack is in and deliveries go quiet).
//! Latency counts messages sent during the measurement; deliveries per second count
//! messages received during it.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::sample::{Tracker, Usage};
use crate::Result;

/// What the connections talk to.
#[derive(Debug, Clone)]
pub enum Target {
    /// Huddle's gateway, e.g. `ws://127.0.0.1:8080/api/v1/ws`; connections need tokens.
    Huddle { ws_url: String },
    /// The bare server, e.g. `ws://127.0.0.1:9000/ws`.
    Bare { ws_url: String },
    /// Huddle's Socket.IO endpoint over WebSocket, e.g.
    /// `ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket`, spoken as `socket.io-client`
    /// speaks it (`sendMessage` with an ack, `message` events); connections need tokens.
    SocketIo { ws_url: String },
    /// Several Huddle nodes sharing a database and the Redis bus: connection `i` goes to
    /// `ws_urls[i % n]`, so consecutive connections of a room land on different nodes.
    Nodes { ws_urls: Vec<String> },
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Huddle { .. } => "huddle",
            Target::Bare { .. } => "bare",
            Target::SocketIo { .. } => "socketio",
            Target::Nodes { .. } => "nodes",
        }
    }
}

/// One connection: its room (the only one it sends to and, for the check, listens to) and,
/// for Huddle, its user's access token.
#[derive(Debug, Clone)]
pub struct Conn {
    pub room: i64,
    pub token: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum SendMode {
    /// Each sender sends `rate` messages per second on a fixed schedule, whatever the replies
    /// (skipping, and counting, a send when `max_in_flight` are unacknowledged).
    Open { rate: f64, max_in_flight: usize },
    /// Each sender keeps `window` messages unacknowledged: as fast as acks allow.
    Closed { window: usize },
}

#[derive(Debug, Clone)]
pub struct Load {
    pub target: Target,
    pub conns: Vec<Conn>,
    /// Indexes into `conns` of the connections that send.
    pub senders: Vec<usize>,
    pub mode: SendMode,
    pub warmup: Duration,
    pub duration: Duration,
    /// Longest wait after sending stops for the last acks and deliveries.
    pub drain: Duration,
    /// Padding added to each body.
    pub body_bytes: usize,
    /// Handshakes in flight at once while connecting.
    pub connect_parallel: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// What one sender did, for checking what the receivers and the database got.
#[derive(Debug, Clone, Default)]
pub struct SenderOutcome {
    pub conn: usize,
    pub room: i64,
    /// The `client_msg_id` of message `n` is `{prefix}{n}`.
    pub cmid_prefix: String,
    pub sent: u64,
    /// Every message up to this number got its reply (ack or error).
    pub replied_upto: u64,
    /// Numbers the server refused.
    pub failed: Vec<u64>,
}

impl SenderOutcome {
    /// The numbers the server acknowledged.
    pub fn acked(&self) -> impl Iterator<Item = u64> + '_ {
        (1..=self.replied_upto).filter(|n| !self.failed.contains(n))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadResult {
    pub target: String,
    pub connections: usize,
    pub senders: usize,
    pub connect_failures: u64,
    pub connect_seconds: f64,
    pub measure_seconds: f64,
    /// Messages sent during the measurement, per second.
    pub sent_per_s: f64,
    /// Acks received during the measurement, per second.
    pub acked_per_s: f64,
    /// Deliveries the room sizes called for, for the messages sent during the measurement.
    pub offered_deliveries_per_s: f64,
    /// Messages received during the measurement, per second (all connections).
    pub deliveries_per_s: f64,
    pub latency: Latency,
    pub ack_latency: Latency,
    pub sent: u64,
    pub acked: u64,
    /// Sends refused with an `error` reply.
    pub send_errors: u64,
    /// Sends skipped because too many were unacknowledged (open mode).
    pub skipped: u64,
    /// Acknowledged messages some receiver of the room never got.
    pub lost: u64,
    pub duplicates: u64,
    /// Other `error` frames.
    pub errors: u64,
    /// Connections closed or broken before the end.
    pub disconnects: u64,
    /// Close codes of those, e.g. 1013 for slow consumers.
    pub close_codes: HashMap<u16, u64>,
    pub usage: Vec<Usage>,
    #[serde(skip)]
    pub sender_outcomes: Vec<SenderOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connect,
    Warmup,
    Measure,
    Drain,
    Done,
}

const SHARDS: usize = 16;

#[derive(Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

struct Shared {
    start: Instant,
    target: Target,
    mode: SendMode,
    body_bytes: usize,
    /// The measurement window, in µs since `start` (end is u64::MAX until it ends).
    measure_from: AtomicU64,
    measure_to: AtomicU64,
    latency: Vec<Mutex<Histogram<u64>>>,
    ack_latency: Vec<Mutex<Histogram<u64>>>,
    in_flight: AtomicI64,
    /// Deliveries so far, sharded by connection (one cache line each) so that counting costs
    /// no cross-core traffic at millions per second.
    deliveries_total: Vec<Padded>,
    nonce: String,
    connect_gate: Semaphore,
}

impl Shared {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn measuring_at(&self, t: u64) -> bool {
        t >= self.measure_from.load(Ordering::Relaxed)
            && t < self.measure_to.load(Ordering::Relaxed)
    }
}

fn histogram() -> Result<Histogram<u64>> {
    // 1 µs to 10 minutes, 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// Per sender, what one receiver got.
#[derive(Debug, Default)]
struct Track {
    next: u64,
    missing: Vec<u64>,
    duplicates: u64,
}

impl Track {
    fn got(&mut self, n: u64) {
        if self.next == 0 {
            self.next = 1;
        }
        if n == self.next {
            self.next += 1;
        } else if n > self.next {
            self.missing.extend(self.next..n);
            self.next = n + 1;
        } else if let Some(i) = self.missing.iter().position(|m| *m == n) {
            self.missing.swap_remove(i);
        } else {
            self.duplicates += 1;
        }
    }

    /// How many of `sender`'s acknowledged messages this receiver lacks.
    fn lost_of(&self, sender: &SenderOutcome) -> u64 {
        let next = self.next.max(1);
        let tail = (next..=sender.replied_upto)
            .filter(|n| !sender.failed.contains(n))
            .count() as u64;
        let holes = self
            .missing
            .iter()
            .filter(|n| **n <= sender.replied_upto && !sender.failed.contains(n))
            .count() as u64;
        tail + holes
    }
}

#[derive(Debug, Default)]
struct ConnOutcome {
    connected: bool,
    disconnected: bool,
    close_code: Option<u16>,
    tracks: HashMap<u32, Track>,
    sender: Option<SenderOutcome>,
    deliveries_in_window: u64,
    sent_in_window: u64,
    acked_in_window: u64,
    acked: u64,
    skipped: u64,
    errors: u64,
}

/// The frame kinds the generator cares about.
enum Kind<'a> {
    Delivery(&'a str),
    Reply { send_ref: Option<u64>, error: bool },
    Other { error: bool },
}

fn classify<'a>(target: &Target, text: &'a str) -> Kind<'a> {
    let delivery_prefix = match target {
        Target::Huddle { .. } | Target::Nodes { .. } => "{\"type\":\"message.created\"",
        Target::Bare { .. } => "{\"type\":\"send\"",
        Target::SocketIo { .. } => return classify_socketio(text),
    };
    if text.starts_with(delivery_prefix) {
        return Kind::Delivery(text);
    }
    let is = |kind: &str| {
        text.starts_with(&format!("{{\"type\":\"{kind}\""))
            || text.ends_with(&format!("\"type\":\"{kind}\"}}"))
    };
    let send_ref = text
        .find("\"ref\":\"s")
        .and_then(|at| parse_u64(&text[at + 8..]).map(|(n, _)| n));
    if is("ack") {
        Kind::Reply {
            send_ref,
            error: false,
        }
    } else if is("error") {
        match send_ref {
            Some(_) => Kind::Reply {
                send_ref,
                error: true,
            },
            None => Kind::Other { error: true },
        }
    } else {
        Kind::Other { error: false }
    }
}

/// Socket.IO packets: `42["message",{...}]` deliveries, `43<ack id>[{"ok":true,...}]` or
/// `43<ack id>[{"error":{...}}]` replies (the ack id is the send's number).
fn classify_socketio(text: &str) -> Kind<'_> {
    if text.starts_with("42[\"message\",") {
        return Kind::Delivery(text);
    }
    if let Some(rest) = text.strip_prefix("43") {
        let parsed = parse_u64(rest);
        return Kind::Reply {
            send_ref: parsed.map(|(n, _)| n),
            error: parsed.is_some_and(|(_, after)| after.starts_with("[{\"error\"")),
        };
    }
    Kind::Other {
        error: text.starts_with("42[\"error\""),
    }
}

fn parse_u64(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// `(sender, n, sent at µs)` from a frame whose body is `lg <sender> <n> <µs> ...`.
fn parse_body(frame: &str) -> Option<(u32, u64, u64)> {
    let at = frame.find("\"body\":\"lg ")?;
    let rest = &frame[at + 11..];
    let (sender, rest) = parse_u64(rest)?;
    let (n, rest) = parse_u64(rest.strip_prefix(' ')?)?;
    let (t, _) = parse_u64(rest.strip_prefix(' ')?)?;
    Some((u32::try_from(sender).ok()?, n, t))
}

struct SenderState {
    id: usize,
    room: i64,
    n: u64,
    fifo: VecDeque<(u64, u64)>,
    outcome: SenderOutcome,
    pad: String,
}

impl SenderState {
    fn frame(&mut self, shared: &Shared) -> (String, u64) {
        self.n += 1;
        let n = self.n;
        let t = shared.now_us();
        let body = format!("lg {} {n} {t} {}", self.id, self.pad);
        let text = match shared.target {
            Target::Huddle { .. } | Target::Nodes { .. } => format!(
                "{{\"type\":\"send\",\"room_id\":{},\"body\":\"{body}\",\"client_msg_id\":\"{}{n}\",\"ref\":\"s{n}\"}}",
                self.room, self.outcome.cmid_prefix
            ),
            Target::Bare { .. } => format!(
                "{{\"type\":\"send\",\"room_id\":{},\"body\":\"{body}\",\"ref\":\"s{n}\"}}",
                self.room
            ),
            Target::SocketIo { .. } => format!(
                "42{n}[\"sendMessage\",{{\"roomId\":{},\"body\":\"{body}\",\"clientMsgId\":\"{}{n}\"}}]",
                self.room, self.outcome.cmid_prefix
            ),
        };
        self.fifo.push_back((n, t));
        (text, t)
    }

    /// The reply to send `n` (or to the oldest send, when replies carry no ref).
    fn replied(&mut self, send_ref: Option<u64>) -> Option<(u64, u64)> {
        let at = match send_ref {
            Some(n) => self.fifo.iter().position(|(m, _)| *m == n)?,
            None => 0,
        };
        let (n, t) = self.fifo.remove(at)?;
        self.outcome.replied_upto = self
            .fifo
            .front()
            .map_or(self.n, |(oldest, _)| oldest - 1)
            .max(self.outcome.replied_upto);
        Some((n, t))
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(shared: &Shared, idx: usize, conn: &Conn) -> Result<Ws> {
    let _permit = shared.connect_gate.acquire().await?;
    let (url, token) = match &shared.target {
        Target::Huddle { ws_url } => (ws_url.clone(), conn.token.clone()),
        Target::Bare { ws_url } => (format!("{ws_url}?room={}", conn.room), None),
        Target::SocketIo { ws_url } => return connect_socketio(ws_url, conn).await,
        Target::Nodes { ws_urls } => {
            let url = ws_urls.get(idx % ws_urls.len().max(1)).ok_or("no nodes")?;
            (url.clone(), conn.token.clone())
        }
    };
    let mut request = url.into_client_request()?;
    if let Some(t) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(request, Some(crate::bare::ws_config()), true),
    )
    .await??;
    if let Target::Huddle { .. } | Target::Nodes { .. } = shared.target {
        // Wait for `ready`, then ask for no replay: live messages flow at once.
        loop {
            match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"type\":\"ready\"") => break,
                Some(Ok(Message::Close(c))) => {
                    return Err(format!("closed before ready: {c:?}").into())
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err("closed before ready".into()),
            }
        }
        ws.send(Message::text("{\"type\":\"sync\",\"since\":{}}"))
            .await?;
    }
    Ok(ws)
}

/// Opens Engine.IO over WebSocket and connects to `/` with the token, as `socket.io-client`
/// with `transports: ["websocket"]` does; returns once `ready` came (the server needs no sync
/// from a Socket.IO client).
async fn connect_socketio(ws_url: &str, conn: &Conn) -> Result<Ws> {
    let request = ws_url.into_client_request()?;
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(request, Some(crate::bare::ws_config()), true),
    )
    .await??;
    let token = conn.token.clone().unwrap_or_default();
    let mut asked = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
            Some(Ok(Message::Text(t))) => {
                let t = t.as_str();
                if t.starts_with('0') && !asked {
                    ws.send(Message::text(format!("40{{\"token\":\"{token}\"}}")))
                        .await?;
                    asked = true;
                } else if t.starts_with("44") {
                    return Err(format!("connect refused: {t}").into());
                } else if t.starts_with("42[\"ready\"") {
                    return Ok(ws);
                }
            }
            Some(Ok(Message::Close(c))) => return Err(format!("closed before ready: {c:?}").into()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("closed before ready".into()),
        }
    }
}

async fn run_conn(
    shared: Arc<Shared>,
    idx: usize,
    conn: Conn,
    sender: Option<SenderState>,
    connected: mpsc::UnboundedSender<bool>,
    mut phase: watch::Receiver<Phase>,
) -> ConnOutcome {
    let mut out = ConnOutcome::default();
    let ws = match connect(&shared, idx, &conn).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("connection {idx}: {e}");
            let _ = connected.send(false);
            return out;
        }
    };
    out.connected = true;
    let _ = connected.send(true);
    let shard = idx % SHARDS;
    let (mut sink, mut source) = ws.split();
    let mut sender = sender;
    let (rate, max_in_flight, window) = match shared.mode {
        SendMode::Open {
            rate,
            max_in_flight,
        } => (rate, max_in_flight, 0),
        SendMode::Closed { window } => (0.0, window, window),
    };
    // Open mode: a fixed schedule with a random phase, so senders do not fire together.
    let period = Duration::from_secs_f64(if rate > 0.0 { 1.0 / rate } else { 3600.0 });
    let offset = period.mul_f64(rand::random::<f64>());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    let open = sender.is_some() && rate > 0.0;
    let closed = sender.is_some() && window > 0;
    let mut current = *phase.borrow();

    loop {
        let sending = matches!(current, Phase::Warmup | Phase::Measure);
        // Closed mode: top the window up.
        if closed && sending {
            if let Some(s) = sender.as_mut() {
                let mut burst = false;
                while s.fifo.len() < window {
                    let (text, t) = s.frame(&shared);
                    if sink.feed(Message::text(text)).await.is_err() {
                        break;
                    }
                    burst = true;
                    s.outcome.sent += 1;
                    shared.in_flight.fetch_add(1, Ordering::Relaxed);
                    if shared.measuring_at(t) {
                        out.sent_in_window += 1;
                    }
                }
                if burst && sink.flush().await.is_err() {
                    out.disconnected = true;
                    break;
                }
            }
        }
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() {
                    break;
                }
                current = *phase.borrow();
                if current == Phase::Done {
                    break;
                }
            }
            msg = source.next() => match msg {
                // Engine.IO's ping, answered as a client does.
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                    if sink.send(Message::text("3")).await.is_err() {
                        out.disconnected = true;
                        break;
                    }
                }
                Some(Ok(Message::Text(text))) => on_text(&shared, shard, text.as_str(), &mut sender, &mut out),
                Some(Ok(Message::Close(frame))) => {
                    out.disconnected = true;
                    out.close_code = frame.map(|f| u16::from(f.code));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    out.disconnected = true;
                    break;
                }
            },
            _ = ticker.tick(), if open && sending => {
                if let Some(s) = sender.as_mut() {
                    if s.fifo.len() >= max_in_flight {
                        out.skipped += 1;
                    } else {
                        let (text, t) = s.frame(&shared);
                        if sink.send(Message::text(text)).await.is_err() {
                            out.disconnected = true;
                            break;
                        }
                        s.outcome.sent += 1;
                        shared.in_flight.fetch_add(1, Ordering::Relaxed);
                        if shared.measuring_at(t) {
                            out.sent_in_window += 1;
                        }
                    }
                }
            }
        }
    }
    if let Some(s) = sender.as_mut() {
        // Whatever is still unanswered stays unexpected.
        shared
            .in_flight
            .fetch_sub(s.fifo.len() as i64, Ordering::Relaxed);
    }
    out.sender = sender.map(|s| s.outcome);
    if !out.disconnected {
        let _ = sink.send(Message::Close(None)).await;
    }
    out
}

fn on_text(
    shared: &Shared,
    shard: usize,
    text: &str,
    sender: &mut Option<SenderState>,
    out: &mut ConnOutcome,
) {
    match classify(&shared.target, text) {
        Kind::Delivery(frame) => {
            let Some((from, n, sent_at)) = parse_body(frame) else {
                return;
            };
            let now = shared.now_us();
            shared.deliveries_total[shard]
                .0
                .fetch_add(1, Ordering::Relaxed);
            if shared.measuring_at(now) {
                out.deliveries_in_window += 1;
            }
            if shared.measuring_at(sent_at) {
                if let Ok(mut h) = shared.latency[shard].lock() {
                    h.saturating_record(now.saturating_sub(sent_at).max(1));
                }
            }
            out.tracks.entry(from).or_default().got(n);
        }
        Kind::Reply { send_ref, error } => {
            let Some(s) = sender.as_mut() else {
                out.errors += u64::from(error);
                return;
            };
            let Some((n, sent_at)) = s.replied(send_ref) else {
                return;
            };
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            if error {
                s.outcome.failed.push(n);
                return;
            }
            out.acked += 1;
            let now = shared.now_us();
            if shared.measuring_at(now) {
                out.acked_in_window += 1;
            }
            if shared.measuring_at(sent_at) {
                if let Ok(mut h) = shared.ack_latency[shard].lock() {
                    h.saturating_record(now.saturating_sub(sent_at).max(1));
                }
            }
        }
        Kind::Other { error } => out.errors += u64::from(error),
    }
}

/// Runs the load; `trackers` sample processes through the measurement.
pub async fn run(load: &Load, trackers: &mut [Tracker]) -> Result<LoadResult> {
    let mut latency = Vec::with_capacity(SHARDS);
    let mut ack_latency = Vec::with_capacity(SHARDS);
    for _ in 0..SHARDS {
        latency.push(Mutex::new(histogram()?));
        ack_latency.push(Mutex::new(histogram()?));
    }
    let shared = Arc::new(Shared {
        start: Instant::now(),
        target: load.target.clone(),
        mode: load.mode,
        body_bytes: load.body_bytes,
        measure_from: AtomicU64::new(u64::MAX),
        measure_to: AtomicU64::new(u64::MAX),
        latency,
        ack_latency,
        in_flight: AtomicI64::new(0),
        deliveries_total: (0..SHARDS).map(|_| Padded::default()).collect(),
        nonce: format!("{:08x}", rand::random::<u32>()),
        connect_gate: Semaphore::new(load.connect_parallel.max(1)),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let (connected_tx, mut connected_rx) = mpsc::unbounded_channel();
    let is_sender: HashSet<usize> = load.senders.iter().copied().collect();
    let pad = "x".repeat(shared.body_bytes);

    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(load.conns.len());
    for (idx, conn) in load.conns.iter().enumerate() {
        let sender = is_sender.contains(&idx).then(|| SenderState {
            id: idx,
            room: conn.room,
            n: 0,
            fifo: VecDeque::new(),
            outcome: SenderOutcome {
                conn: idx,
                room: conn.room,
                cmid_prefix: format!("{}-{idx}-", shared.nonce),
                ..SenderOutcome::default()
            },
            pad: pad.clone(),
        });
        tasks.push(tokio::spawn(run_conn(
            shared.clone(),
            idx,
            conn.clone(),
            sender,
            connected_tx.clone(),
            phase_rx.clone(),
        )));
    }
    drop(connected_tx);
    let mut connect_failures = 0;
    let mut answered = 0;
    while answered < load.conns.len() {
        match connected_rx.recv().await {
            Some(ok) => {
                answered += 1;
                connect_failures += u64::from(!ok);
            }
            None => break,
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();

    let _ = phase_tx.send(Phase::Warmup);
    tokio::time::sleep(load.warmup).await;
    for t in trackers.iter_mut() {
        t.start().await;
    }
    shared
        .measure_from
        .store(shared.now_us(), Ordering::Relaxed);
    let _ = phase_tx.send(Phase::Measure);
    let measure_started = Instant::now();
    let tick = Duration::from_millis(500);
    while measure_started.elapsed() < load.duration {
        tokio::time::sleep(tick.min(load.duration.saturating_sub(measure_started.elapsed()))).await;
        for t in trackers.iter_mut() {
            t.tick().await;
        }
    }
    shared.measure_to.store(shared.now_us(), Ordering::Relaxed);
    let measure_seconds = measure_started.elapsed().as_secs_f64();
    let _ = phase_tx.send(Phase::Drain);

    // Drain: every reply in, and no delivery for a while.
    let drain_until = Instant::now() + load.drain;
    let total = || -> u64 {
        shared
            .deliveries_total
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .sum()
    };
    let mut last = total();
    let mut quiet_since = Instant::now();
    while Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = total();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
        if shared.in_flight.load(Ordering::Relaxed) <= 0
            && quiet_since.elapsed() > Duration::from_millis(300)
        {
            break;
        }
    }
    let _ = phase_tx.send(Phase::Done);

    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await?);
    }
    summarise(
        load,
        &shared,
        outcomes,
        connect_failures,
        connect_seconds,
        measure_seconds,
        trackers,
    )
}

fn summarise(
    load: &Load,
    shared: &Shared,
    mut outcomes: Vec<ConnOutcome>,
    connect_failures: u64,
    connect_seconds: f64,
    measure_seconds: f64,
    trackers: &[Tracker],
) -> Result<LoadResult> {
    let mut r = LoadResult {
        target: load.target.name().into(),
        connections: load.conns.len(),
        senders: load.senders.len(),
        connect_failures,
        connect_seconds,
        measure_seconds,
        ..LoadResult::default()
    };
    let mut merged = Vec::new();
    for hs in [&shared.latency, &shared.ack_latency] {
        let mut all = histogram()?;
        for h in hs.iter() {
            if let Ok(h) = h.lock() {
                let _ = all.add(&*h);
            }
        }
        merged.push(all);
    }
    r.latency = Latency::of(&merged[0]);
    r.ack_latency = Latency::of(&merged[1]);

    // Who sends in which room, and how many connections each room has.
    let mut room_senders: HashMap<i64, Vec<usize>> = HashMap::new();
    let mut room_size: HashMap<i64, u64> = HashMap::new();
    for (idx, c) in load.conns.iter().enumerate() {
        *room_size.entry(c.room).or_default() += 1;
        if outcomes[idx].sender.is_some() {
            room_senders.entry(c.room).or_default().push(idx);
        }
    }
    let senders: HashMap<usize, SenderOutcome> = outcomes
        .iter_mut()
        .enumerate()
        .filter_map(|(i, o)| o.sender.take().map(|s| (i, s)))
        .collect();

    let mut sent_in_window = 0;
    let mut offered = 0;
    for (idx, o) in outcomes.iter().enumerate() {
        let room = load.conns[idx].room;
        r.deliveries_per_s += o.deliveries_in_window as f64;
        r.acked_per_s += o.acked_in_window as f64;
        sent_in_window += o.sent_in_window;
        offered += o.sent_in_window * room_size.get(&room).copied().unwrap_or(0);
        r.acked += o.acked;
        r.skipped += o.skipped;
        r.errors += o.errors;
        if o.disconnected {
            r.disconnects += 1;
            *r.close_codes.entry(o.close_code.unwrap_or(0)).or_default() += 1;
        }
        if !o.connected {
            continue;
        }
        for s in room_senders.get(&room).into_iter().flatten() {
            let Some(sender) = senders.get(s) else {
                continue;
            };
            let track = o.tracks.get(&(*s as u32));
            r.lost += match track {
                Some(t) => t.lost_of(sender),
                None => Track::default().lost_of(sender),
            };
        }
        r.duplicates += o.tracks.values().map(|t| t.duplicates).sum::<u64>();
    }
    for s in senders.values() {
        r.sent += s.sent;
        r.send_errors += s.failed.len() as u64;
    }
    let secs = measure_seconds.max(1e-9);
    r.deliveries_per_s /= secs;
    r.acked_per_s /= secs;
    r.sent_per_s = sent_in_window as f64 / secs;
    r.offered_deliveries_per_s = offered as f64 / secs;
    r.usage = trackers.iter().filter_map(Tracker::usage).collect();
    let mut outcomes: Vec<SenderOutcome> = senders.into_values().collect();
    outcomes.sort_by_key(|s| s.conn);
    r.sender_outcomes = outcomes;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse() {
        let f = r#"{"type":"message.created","room_id":1,"message":{"id":9,"body":"lg 12 345 678 xxxx","seq":3}}"#;
        assert_eq!(parse_body(f), Some((12, 345, 678)));
        assert_eq!(parse_body(r#"{"body":"hello"}"#), None);
    }

    #[test]
    fn frames_classify() {
        let h = Target::Huddle {
            ws_url: String::new(),
        };
        assert!(matches!(
            classify(&h, r#"{"message":{},"ref":"s12","type":"ack"}"#),
            Kind::Reply {
                send_ref: Some(12),
                error: false
            }
        ));
        assert!(matches!(
            classify(&h, r#"{"type":"error","code":"x","ref":"s3"}"#),
            Kind::Reply {
                send_ref: Some(3),
                error: true
            }
        ));
        assert!(matches!(
            classify(&h, r#"{"type":"message.created"}"#),
            Kind::Delivery(_)
        ));
        assert!(matches!(
            classify(&h, r#"{"type":"presence"}"#),
            Kind::Other { error: false }
        ));
        let b = Target::Bare {
            ws_url: String::new(),
        };
        assert!(matches!(
            classify(&b, r#"{"type":"ack"}"#),
            Kind::Reply {
                send_ref: None,
                error: false
            }
        ));
        assert!(matches!(
            classify(&b, r#"{"type":"send","body":"lg 1 2 3"}"#),
            Kind::Delivery(_)
        ));
    }

    #[test]
    fn tracks_count_losses_reorders_and_duplicates() {
        let mut t = Track::default();
        for n in [1, 2, 4, 3, 3, 6] {
            t.got(n);
        }
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.missing, vec![5]);
        let sender = SenderOutcome {
            replied_upto: 8,
            failed: vec![7],
            ..SenderOutcome::default()
        };
        // 5 and 8 are lost; 7 was refused, so not expected.
        assert_eq!(t.lost_of(&sender), 2);
        assert_eq!(Track::default().lost_of(&sender), 7);
    }

    #[test]
    fn replies_match_refs_and_advance_the_replied_mark() {
        let mut s = SenderState {
            id: 0,
            room: 1,
            n: 0,
            fifo: VecDeque::new(),
            outcome: SenderOutcome::default(),
            pad: String::new(),
        };
        for n in 1..=3 {
            s.n = n;
            s.fifo.push_back((n, 0));
        }
        assert_eq!(s.replied(Some(2)).map(|r| r.0), Some(2));
        assert_eq!(s.outcome.replied_upto, 0, "1 is still unanswered");
        assert_eq!(s.replied(None).map(|r| r.0), Some(1));
        assert_eq!(s.outcome.replied_upto, 2);
        assert_eq!(s.replied(Some(3)).map(|r| r.0), Some(3));
        assert_eq!(s.outcome.replied_upto, 3);
    }
}
