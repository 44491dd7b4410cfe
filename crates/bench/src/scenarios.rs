//! The standard scenarios, each measuring Huddle against its baseline in the same run:
//! fan-out and latency against the bare server, store against the naive one-transaction-per-
//! message baseline, idle memory per connection (the bare server's figure beside it), history
//! paging (an absolute target), and message search (an absolute target, beside the database's
//! own time for the same statements).
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::db::{self, NaiveResult, StoreCheck};
use crate::history::{self, HistoryLoad, HistoryResult, Read};
use crate::load::{self, Conn, Load, LoadResult, SendMode, Target};
use crate::procs::{self, Database, Server};
use crate::sample::{Probe, Tracker};
use crate::search::{self, SearchLoad, SearchResult, Workload};
use crate::setup::{Api, User};
use crate::Result;
use huddle_persistence::Backend;

/// Unacknowledged sends an open-loop sender allows itself before it skips a beat (and counts
/// the skip), like a client with a send window. Huddle queues up to 64 commands per
/// connection; a client that keeps more in flight blocks its own connection, which then
/// stops reading and is cut as a slow consumer (1013).
pub const MAX_IN_FLIGHT: usize = 32;

/// Where the servers come from and how long things run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub huddle_bin: PathBuf,
    pub bare_bin: PathBuf,
    /// Which database Huddle runs on: a fresh one on the PostgreSQL server at `pg_base`, or a
    /// fresh SQLite file.
    pub backend: Backend,
    pub pg_base: String,
    pub log_dir: PathBuf,
    pub warmup: Duration,
    pub duration: Duration,
    pub drain: Duration,
    pub body_bytes: usize,
    /// Extra environment for Huddle (`KEY=VALUE`), e.g. a different pool size.
    pub huddle_env: Vec<(String, String)>,
    /// Leave the run's database in place at the end.
    pub keep_db: bool,
}

/// The processes and the database of a run.
pub struct Run {
    pub settings: Settings,
    pub db: Database,
    pub huddle: Server,
    pub bare: Server,
    pub api: Api,
    /// Scenario results, as JSON, in the order run.
    pub results: Vec<(String, Value)>,
    users_made: usize,
}

fn trackers(huddle: &Server, bare: &Server, which: &str, backend: Backend) -> Vec<Tracker> {
    let server = if which == "bare" { bare } else { huddle };
    let mut t = vec![
        Tracker::new(which, Probe::Pid(server.pid())),
        Tracker::new("load generator", Probe::Pid(std::process::id())),
    ];
    // What Huddle's messages cost the database (the bare server stores nothing), when
    // PostgreSQL runs on this machine. SQLite's work is inside Huddle's process.
    if backend == Backend::Postgres {
        t.push(Tracker::new("postgresql", Probe::Processes("postgres")));
    }
    t
}

impl Run {
    pub fn start(settings: Settings) -> Result<Self> {
        let mut db = match settings.backend {
            Backend::Postgres => Database::create(&settings.pg_base)?,
            Backend::Sqlite => Database::create_sqlite()?,
        };
        db.keep = settings.keep_db;
        let huddle = procs::start_huddle(
            &settings.huddle_bin,
            &db.url(),
            &settings.log_dir,
            &settings.huddle_env,
        )?;
        let bare = procs::start_bare(&settings.bare_bin, &settings.log_dir)?;
        let api = Api::new(&huddle.http_base())?;
        eprintln!(
            "huddle pid {} on :{} (database {}), bare-server pid {} on :{}",
            huddle.pid(),
            huddle.port,
            db.url(),
            bare.pid(),
            bare.port
        );
        Ok(Self {
            settings,
            db,
            huddle,
            bare,
            api,
            results: Vec::new(),
            users_made: 0,
        })
    }

    /// Fresh server processes (same database), so memory figures start from a clean heap.
    pub fn restart_servers(&mut self) -> Result<()> {
        self.huddle.stop();
        self.bare.stop();
        let s = &self.settings;
        self.huddle =
            procs::start_huddle(&s.huddle_bin, &self.db.url(), &s.log_dir, &s.huddle_env)?;
        self.bare = procs::start_bare(&s.bare_bin, &s.log_dir)?;
        self.api = Api::new(&self.huddle.http_base())?;
        Ok(())
    }

    pub async fn users(&mut self, count: usize) -> Result<Vec<User>> {
        let prefix = format!("u{}_", self.users_made);
        self.users_made += count;
        let started = std::time::Instant::now();
        let users = self.api.register_users(&prefix, count).await?;
        eprintln!(
            "registered {count} users in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(users)
    }

    /// Keeps a scenario's figures under its name, with `_sqlite` appended on SQLite (so one
    /// summary holds both backends' runs).
    pub(crate) fn record(&mut self, name: &str, value: Value) {
        let name = match self.db.backend() {
            Backend::Postgres => name.to_owned(),
            Backend::Sqlite => format!("{name}_sqlite"),
        };
        self.results.push((name, value));
    }

    pub(crate) fn load(
        &self,
        target: Target,
        conns: Vec<Conn>,
        senders: Vec<usize>,
        mode: SendMode,
    ) -> Load {
        Load {
            target,
            conns,
            senders,
            mode,
            warmup: self.settings.warmup,
            duration: self.settings.duration,
            drain: self.settings.drain,
            body_bytes: self.settings.body_bytes,
            connect_parallel: 64,
        }
    }

    fn bare_target(&self) -> Target {
        Target::Bare {
            ws_url: format!("ws://127.0.0.1:{}/ws", self.bare.port),
        }
    }

    fn huddle_target(&self) -> Target {
        Target::Huddle {
            ws_url: self.api.ws_url(),
        }
    }

    fn socketio_target(&self) -> Target {
        Target::SocketIo {
            ws_url: self.api.socketio_url(),
        }
    }

    pub async fn run_load(&self, load: &Load) -> Result<LoadResult> {
        let which = load.target.name();
        let mut t = trackers(&self.huddle, &self.bare, which, self.db.backend());
        let r = load::run(load, &mut t).await?;
        print_load(&r);
        Ok(r)
    }
}

/// Connections of a fan-out layout: `rooms` rooms, the same number of connections in each,
/// and `senders` of them sending, spread evenly over the rooms.
#[derive(Debug, Clone)]
pub struct Layout {
    pub huddle: Vec<Conn>,
    pub bare: Vec<Conn>,
    pub senders: Vec<usize>,
}

impl Layout {
    pub fn new(rooms: &[(i64, Vec<User>)], senders_per_room: usize) -> Self {
        let mut huddle = Vec::new();
        let mut bare = Vec::new();
        let mut senders = Vec::new();
        for (r, (room, members)) in rooms.iter().enumerate() {
            for (i, u) in members.iter().enumerate() {
                if i < senders_per_room {
                    senders.push(huddle.len());
                }
                huddle.push(Conn {
                    room: *room,
                    token: Some(u.token.clone()),
                });
                bare.push(Conn {
                    room: r as i64 + 1,
                    token: None,
                });
            }
        }
        Self {
            huddle,
            bare,
            senders,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub rate_per_sender: f64,
    pub messages_per_s: f64,
    pub offered_deliveries_per_s: f64,
    pub deliveries_per_s: f64,
    pub p99_ms: f64,
    pub lost: u64,
    pub kept_up: bool,
}

/// Raises the bare server's load until it no longer keeps up (delivers less than 95% of what
/// the room sizes call for, or loses messages): that rate saturates it.
pub async fn find_saturation(
    run: &Run,
    layout: &Layout,
    start_total_rate: f64,
    factor: f64,
    max_steps: usize,
) -> Result<(f64, Vec<Step>)> {
    let senders = layout.senders.len().max(1) as f64;
    let mut rate = start_total_rate / senders;
    let mut steps = Vec::new();
    let mut retried = false;
    for _ in 0..max_steps {
        let mut l = run.load(
            run.bare_target(),
            layout.bare.clone(),
            layout.senders.clone(),
            SendMode::Open {
                rate,
                max_in_flight: MAX_IN_FLIGHT,
            },
        );
        l.warmup = Duration::from_secs(1);
        l.duration = Duration::from_secs(3);
        l.drain = Duration::from_secs(3);
        let mut t = Vec::new();
        let r = load::run(&l, &mut t).await?;
        // Offered: what the nominal rate calls for. Falling short of it is saturation, whether
        // the server or the load generator (on the same cores) is what cannot keep up.
        let room_size = (layout.bare.len() as f64 / rooms_of(&layout.bare) as f64).max(1.0);
        let nominal = rate * senders * room_size;
        let kept_up = r.deliveries_per_s >= 0.95 * nominal && r.lost == 0 && r.disconnects == 0;
        let step = Step {
            rate_per_sender: rate,
            messages_per_s: r.sent_per_s,
            offered_deliveries_per_s: nominal,
            deliveries_per_s: r.deliveries_per_s,
            p99_ms: r.latency.p99_ms,
            lost: r.lost,
            kept_up,
        };
        eprintln!(
            "  saturation search: {:>8.1} msg/s ({:>8.1} sent), offered {:>10.0} deliveries/s, got {:>10.0} (p99 {:.1} ms, lost {}){}",
            rate * senders,
            step.messages_per_s,
            step.offered_deliveries_per_s,
            step.deliveries_per_s,
            step.p99_ms,
            step.lost,
            if kept_up { "" } else { "  <- saturated" }
        );
        steps.push(step);
        if !kept_up {
            // Once more at the same rate, so that a hiccup elsewhere on the machine does not
            // end the search early.
            if retried {
                return Ok((rate, steps));
            }
            retried = true;
            continue;
        }
        retried = false;
        rate *= factor;
    }
    eprintln!(
        "  the bare server kept up with every rate tried: using the highest ({rate:.2} per sender)"
    );
    Ok((rate / factor, steps))
}

fn rooms_of(conns: &[Conn]) -> usize {
    conns
        .iter()
        .map(|c| c.room)
        .collect::<std::collections::HashSet<_>>()
        .len()
        .max(1)
}

pub struct FanoutOptions {
    pub connections: usize,
    pub rooms: usize,
    pub senders: usize,
    /// Per sender; `None` finds the bare server's saturating rate.
    pub rate: Option<f64>,
    pub start_total_rate: f64,
    pub factor: f64,
    pub max_steps: usize,
    pub latency: bool,
}

/// A fan-out layout's users and rooms, and its rate per sender: `o.rate`, or the bare
/// server's saturating rate (found, with the steps that found it).
pub(crate) async fn fanout_layout(
    run: &mut Run,
    o: &FanoutOptions,
    name: &str,
) -> Result<(Layout, f64, Vec<Step>)> {
    println!(
        "\n== {name}: {} connections, {} rooms of {}, {} senders ==",
        o.connections,
        o.rooms,
        o.connections / o.rooms,
        o.senders
    );
    let users = run.users(o.connections).await?;
    let rooms = run.api.rooms_of(&users, o.rooms, name).await?;
    let layout = Layout::new(&rooms, o.senders / o.rooms.max(1));
    let (rate, steps) = match o.rate {
        Some(r) => (r, Vec::new()),
        None => find_saturation(run, &layout, o.start_total_rate, o.factor, o.max_steps).await?,
    };
    Ok((layout, rate, steps))
}

/// Huddle's deliveries/s at the bare server's saturating rate, as a share of the bare
/// server's (issue 22; it was 0.70 before).
const FANOUT_RATIO_MIN: f64 = 0.85;

/// Fan-out at the saturating rate, then latency at half of it; both servers each time.
/// Returns the rate used, per sender.
pub async fn fanout(run: &mut Run, o: &FanoutOptions) -> Result<f64> {
    let (layout, rate, steps) = fanout_layout(run, o, "fan-out").await?;
    let mode = |rate| SendMode::Open {
        rate,
        max_in_flight: MAX_IN_FLIGHT,
    };
    let bare = run
        .run_load(&run.load(
            run.bare_target(),
            layout.bare.clone(),
            layout.senders.clone(),
            mode(rate),
        ))
        .await?;
    let huddle = run
        .run_load(&run.load(
            run.huddle_target(),
            layout.huddle.clone(),
            layout.senders.clone(),
            mode(rate),
        ))
        .await?;
    let ratio = huddle.deliveries_per_s / bare.deliveries_per_s.max(1e-9);
    println!(
        "fan-out: Huddle {:.0} deliveries/s = {:.1}% of the bare server's {:.0} (target >= {:.0}%)",
        huddle.deliveries_per_s,
        100.0 * ratio,
        bare.deliveries_per_s,
        100.0 * FANOUT_RATIO_MIN
    );
    run.record(
        "fanout",
        json!({
            "rate_per_sender": rate,
            "saturation_search": steps,
            "bare": bare,
            "huddle": huddle,
            "deliveries_ratio": ratio,
            "target_ratio_min": FANOUT_RATIO_MIN,
            "met": ratio >= FANOUT_RATIO_MIN,
        }),
    );
    if !o.latency {
        return Ok(rate);
    }
    let half = rate / 2.0;
    println!("\n== latency: the same at half that rate ({half:.2} msg/s per sender) ==");
    let bare = run
        .run_load(&run.load(
            run.bare_target(),
            layout.bare.clone(),
            layout.senders.clone(),
            mode(half),
        ))
        .await?;
    let huddle = run
        .run_load(&run.load(
            run.huddle_target(),
            layout.huddle.clone(),
            layout.senders.clone(),
            mode(half),
        ))
        .await?;
    let ratio = huddle.latency.p99_ms / bare.latency.p99_ms.max(1e-9);
    println!(
        "latency: Huddle p99 {:.2} ms = {:.2}x the bare server's {:.2} ms (target <= 2x), lost {} (target 0)",
        huddle.latency.p99_ms, ratio, bare.latency.p99_ms, huddle.lost
    );
    run.record(
        "latency",
        json!({
            "rate_per_sender": half,
            "bare": bare,
            "huddle": huddle,
            "p99_ratio": ratio,
            "target_ratio_max": 2.0,
            "met": ratio <= 2.0 && huddle.lost == 0 && huddle.duplicates == 0,
        }),
    );
    Ok(rate)
}

/// Fan-out through `/socket.io/` (as `socket.io-client` over WebSocket) against the native
/// socket, the same layout at the same rate in the same run: deliveries per server
/// CPU-second, the translation's cost being the difference.
pub async fn socketio(run: &mut Run, o: &FanoutOptions) -> Result<()> {
    let (layout, rate, _) = fanout_layout(run, o, "socket.io fan-out").await?;
    let mode = SendMode::Open {
        rate,
        max_in_flight: MAX_IN_FLIGHT,
    };
    let mut results = Vec::new();
    for target in [run.huddle_target(), run.socketio_target()] {
        let load = run.load(target, layout.huddle.clone(), layout.senders.clone(), mode);
        results.push(run.run_load(&load).await?);
    }
    let (native, sio) = (&results[0], &results[1]);
    let per_cpu = |r: &LoadResult| {
        let cpu = r
            .usage
            .iter()
            .find(|u| u.process == r.target)
            .map_or(0.0, |u| u.cpu_percent / 100.0);
        r.deliveries_per_s / cpu.max(1e-9)
    };
    let (native_per_cpu, sio_per_cpu) = (per_cpu(native), per_cpu(sio));
    let ratio = sio_per_cpu / native_per_cpu.max(1e-9);
    println!(
        "socket.io: {sio_per_cpu:.0} deliveries per server CPU-second = {:.1}% of the native socket's {native_per_cpu:.0} (target >= 70%); lost {} (target 0)",
        100.0 * ratio,
        sio.lost
    );
    run.record(
        "socketio",
        json!({
            "rate_per_sender": rate,
            "native": native,
            "socketio": sio,
            "native_deliveries_per_cpu_s": native_per_cpu,
            "socketio_deliveries_per_cpu_s": sio_per_cpu,
            "per_cpu_ratio": ratio,
            "target_ratio_min": 0.70,
            "met": ratio >= 0.70 && sio.lost == 0 && sio.duplicates == 0,
        }),
    );
    Ok(())
}

pub struct StoreOptions {
    pub rooms: usize,
    pub senders_per_room: usize,
    pub window: usize,
    /// The naive baseline's connections; `None`: Huddle's pool size (10) on PostgreSQL, one on
    /// SQLite, whose one write lock more connections only queue for (in its busy handler's
    /// sleeps).
    pub naive_connections: Option<usize>,
}

/// Store throughput: Huddle's acked messages/s with senders as fast as acks allow, against
/// the naive one-transaction-per-message baseline on the same database; then every acked
/// message is looked up.
pub async fn store(run: &mut Run, o: &StoreOptions) -> Result<()> {
    let backend = run.db.backend();
    println!(
        "\n== store on {}: {} rooms, {} sender(s) each, window {} ==",
        backend.name(),
        o.rooms,
        o.senders_per_room,
        o.window
    );
    let users = run.users(o.rooms * o.senders_per_room + o.rooms).await?;
    let (senders, naive_owners) = users.split_at(o.rooms * o.senders_per_room);
    let rooms = run.api.rooms_of(senders, o.rooms, "store").await?;
    let mut naive_rooms = Vec::new();
    for (i, owner) in naive_owners.iter().enumerate() {
        naive_rooms.push((
            run.api.create_room(owner, &format!("naive-{i}")).await?,
            owner.id,
        ));
    }

    let s = run.settings.clone();
    let url = run.db.url();
    let naive_rooms2 = naive_rooms.clone();
    let conns = o.naive_connections.unwrap_or(match backend {
        Backend::Postgres => 10,
        Backend::Sqlite => 1,
    });
    let naive: NaiveResult = tokio::task::spawn_blocking(move || {
        db::naive_store(
            &url,
            &naive_rooms2,
            conns,
            s.body_bytes,
            s.warmup,
            s.duration,
        )
    })
    .await??;
    println!(
        "naive baseline ({} connections, one transaction per message): {:.0} messages/s, commit p99 {:.2} ms",
        naive.connections, naive.stored_per_s, naive.commit_latency.p99_ms
    );

    // The target's window first, then one send in flight (reported beside it), each into rooms
    // of its own: the load generator numbers its `client_msg_id`s from zero in every run.
    let mut windows = vec![o.window];
    if o.window != 1 {
        windows.push(1);
    }
    let mut runs = Vec::new();
    for (i, &window) in windows.iter().enumerate() {
        let rooms = if i == 0 {
            rooms.clone()
        } else {
            run.api
                .rooms_of(senders, o.rooms, &format!("store-w{window}"))
                .await?
        };
        let (huddle, check) = store_huddle(run, &rooms, o.senders_per_room, window).await?;
        let ratio = huddle.acked_per_s / naive.stored_per_s.max(1e-9);
        println!(
            "store, {window} in flight per sender: Huddle {:.0} acked messages/s = {:.1}x the naive baseline's {:.0}{}; \
             {} acked, {} of them missing from the database, {} rooms with seq gaps",
            huddle.acked_per_s,
            ratio,
            naive.stored_per_s,
            if i == 0 { " (target >= 10x)" } else { " (reported)" },
            check.acked,
            check.acked_missing,
            check.rooms_with_seq_gaps
        );
        runs.push(json!({
            "window": window,
            "huddle": huddle,
            "check": check,
            "acked_ratio": ratio,
            "intact": check.acked_missing == 0 && check.rooms_with_seq_gaps == 0,
        }));
    }
    let target = &runs[0];
    let met = target["acked_ratio"].as_f64().unwrap_or(0.0) >= 10.0
        && runs.iter().all(|r| r["intact"] == json!(true));
    run.record(
        "store",
        json!({
            "naive": naive,
            "window": o.window,
            "huddle": target["huddle"],
            "check": target["check"],
            "acked_ratio": target["acked_ratio"],
            "one_in_flight": runs.get(1),
            "target_ratio_min": 10.0,
            "met": met,
        }),
    );
    // A lost acknowledged send is a defect, not a figure: the run fails (CI runs it).
    if runs.iter().any(|r| r["intact"] != json!(true)) {
        return Err("store: an acknowledged message is missing or a room's seqs have a gap".into());
    }
    Ok(())
}

/// One run of Huddle's senders into `rooms`, `window` sends in flight each, then the check
/// that every acked message is stored and every room's seqs are gap-free.
async fn store_huddle(
    run: &Run,
    rooms: &[(i64, Vec<User>)],
    senders_per_room: usize,
    window: usize,
) -> Result<(LoadResult, StoreCheck)> {
    let layout = Layout::new(rooms, senders_per_room);
    let l = run.load(
        run.huddle_target(),
        layout.huddle.clone(),
        layout.senders.clone(),
        SendMode::Closed { window },
    );
    let huddle = run.run_load(&l).await?;
    let mut c = run.db.connect()?;
    let outcomes = huddle.sender_outcomes.clone();
    let check: StoreCheck =
        tokio::task::spawn_blocking(move || db::verify_store(&mut c, &outcomes)).await??;
    Ok((huddle, check))
}

pub struct HistoryOptions {
    pub messages: i64,
    pub rate: f64,
    pub page: i64,
    /// The room list's reader is in this many rooms (one page of them).
    pub list_rooms: usize,
    /// Messages seeded in each of those rooms, all by another user.
    pub list_messages: i64,
    /// Room-list requests per second.
    pub list_rate: f64,
}

/// History paging from one long room.
pub async fn history(run: &mut Run, o: &HistoryOptions) -> Result<()> {
    println!(
        "\n== history on {}: pages of {} from a room of {} messages at {} requests/s ==",
        run.db.backend().name(),
        o.page,
        o.messages,
        o.rate
    );
    let users = run.users(1).await?;
    let owner = users.first().ok_or("no user")?.clone();
    let room = run.api.create_room(&owner, "history").await?;
    let mut c = run.db.connect()?;
    let (messages, owner_id) = (o.messages, owner.id);
    let seeding = std::time::Instant::now();
    tokio::task::spawn_blocking(move || db::seed_history(&mut c, room, owner_id, messages))
        .await??;
    eprintln!(
        "seeded {} messages in {:.1}s",
        o.messages,
        seeding.elapsed().as_secs_f64()
    );
    let read = Read::History {
        room,
        messages: o.messages,
        page: o.page,
    };
    let (r, met) = read_load(run, "history", "wrong pages", &owner.token, read, o.rate).await?;
    run.record(
        "history",
        json!({"messages": o.messages, "rate": o.rate, "result": r, "target_p99_ms_max": 5.0, "met": met}),
    );
    room_list(run, o).await
}

/// The room list with unread counts: a reader in `list_rooms` rooms of `list_messages`
/// messages each (by another user), read up to a different point in each, asks for its rooms.
async fn room_list(run: &mut Run, o: &HistoryOptions) -> Result<()> {
    println!(
        "\n== room list on {}: {} rooms of {} messages, unread counts, at {} requests/s ==",
        run.db.backend().name(),
        o.list_rooms,
        o.list_messages,
        o.list_rate
    );
    let users = run.users(2).await?;
    let [author, reader] = [&users[0], &users[1]];
    let mut unread = HashMap::new();
    let mut joins = Vec::new();
    let mut rooms = Vec::new();
    for r in 0..o.list_rooms {
        let room = run.api.create_room(author, &format!("list-{r}")).await?;
        joins.push((reader.clone(), room));
        rooms.push(room);
    }
    run.api.join_all(joins).await?;
    let seeding = std::time::Instant::now();
    let (mut c, messages, author_id) = (run.db.connect()?, o.list_messages, author.id);
    let seeded = rooms.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for room in seeded {
            db::seed_history(&mut c, room, author_id, messages)?;
        }
        Ok(())
    })
    .await??;
    for (r, &room) in rooms.iter().enumerate() {
        // Read marks from 0 to nearly all: unread counts from every message to a few.
        let mark = o.list_messages * r as i64 / o.list_rooms.max(1) as i64;
        if mark > 0 {
            run.api.mark_read(reader, room, mark).await?;
        }
        unread.insert(room, o.list_messages - mark);
    }
    eprintln!(
        "seeded {} messages and {} read marks in {:.1}s",
        o.list_messages * o.list_rooms as i64,
        o.list_rooms,
        seeding.elapsed().as_secs_f64()
    );
    let read = Read::RoomList {
        unread: Arc::new(unread),
        limit: o.list_rooms,
    };
    let (r, met) = read_load(
        run,
        "room list",
        "wrong answers",
        &reader.token,
        read,
        o.list_rate,
    )
    .await?;
    run.record(
        "room_list",
        json!({"rooms": o.list_rooms, "messages_per_room": o.list_messages, "rate": o.list_rate,
               "result": r, "target_p99_ms_max": 5.0, "met": met}),
    );
    Ok(())
}

/// One read path at `rate` requests/s for the run's warm-up and duration, printed; whether it
/// met the read target (p99 under 5 ms, no errors, no wrong answers, the rate kept).
async fn read_load(
    run: &Run,
    label: &str,
    wrong: &str,
    token: &str,
    read: Read,
    rate: f64,
) -> Result<(HistoryResult, bool)> {
    let load = HistoryLoad {
        base: run.api.base.clone(),
        token: token.to_owned(),
        read,
        rate,
        warmup: run.settings.warmup,
        duration: run.settings.duration,
    };
    let mut t = trackers(&run.huddle, &run.bare, "huddle", run.db.backend());
    let r: HistoryResult = history::run(&load, &mut t).await?;
    println!(
        "{label}: {:.0} requests/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 5 ms), {} errors, {} {wrong}",
        r.requests_per_s, r.latency.p50_ms, r.latency.p95_ms, r.latency.p99_ms, r.latency.max_ms, r.errors, r.wrong_pages
    );
    print_usage(&r.usage);
    let met = r.latency.p99_ms < 5.0
        && r.errors == 0
        && r.wrong_pages == 0
        && r.requests_per_s >= 0.95 * rate;
    Ok((r, met))
}

pub struct SearchOptions {
    /// Messages seeded over the rooms.
    pub messages: i64,
    pub rooms: usize,
    /// Searches per second.
    pub rate: f64,
    /// Results per page (`limit`).
    pub limit: usize,
    /// Runs of each kind of query straight in the database (the floor).
    pub floor_runs: usize,
    /// The kinds of query in the mix (all when empty).
    pub kinds: Vec<search::Kind>,
}

/// A planted word or phrase: how many messages hold it by construction, by a regular
/// expression over the bodies, and as the search found them (every page followed).
#[derive(Debug, Clone, Serialize)]
pub struct PlantedCount {
    pub text: String,
    pub phrase: bool,
    pub seeded: i64,
    pub in_bodies: i64,
    pub found: i64,
    pub right: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchCheck {
    pub planted: Vec<PlantedCount>,
    pub planted_wrong: u64,
    /// Searches by the user who is in none of the rooms (every query of the mix without a
    /// room), and what they found: nothing, or the check fails.
    pub outsider_queries: u64,
    pub outsider_hits: u64,
    /// The same user naming one of the rooms (every room): answers other than 403.
    pub outsider_room_queries: u64,
    pub outsider_room_not_403: u64,
}

impl SearchCheck {
    pub fn passed(&self) -> bool {
        self.planted_wrong == 0 && self.outsider_hits == 0 && self.outsider_room_not_403 == 0
    }
}

/// The most hits [`SearchCheck`] follows pages for: the server pages no deeper than 1,000.
const CHECK_HITS_MAX: usize = 1000;

/// Checks the search of a seeded corpus (`messages` messages in `rooms`, all of which `member`
/// is in and `outsider` none): each planted word and phrase is found exactly as often as a
/// regular expression finds it in the bodies (a rare word as often as it was planted), every
/// page of it right; `outsider` finds nothing with any query of the mix and is refused
/// (403) when naming a room.
#[allow(clippy::too_many_arguments)]
pub async fn search_check(
    api: &Api,
    db_url: &str,
    member: &User,
    outsider: &User,
    rooms: &[i64],
    corpus: &search::Corpus,
    workload: &Workload,
    messages: i64,
) -> Result<SearchCheck> {
    let mut check = SearchCheck::default();
    let member_rooms: HashSet<i64> = rooms.iter().copied().collect();
    let (client, base) = (&api.client, api.base.as_str());
    for p in &corpus.planted {
        let mut c = huddle_persistence::DatabaseConfig::from_url(db_url, 1).connect()?;
        let (rooms2, text) = (rooms.to_vec(), p.text.clone());
        let in_bodies =
            tokio::task::spawn_blocking(move || db::count_holding(&mut c, &rooms2, &text))
                .await??;
        let phrase = p.text.contains(' ');
        let q = if phrase {
            format!("\"{}\"", p.text)
        } else {
            p.text.clone()
        };
        let query = workload
            .all()
            .find(|w| w.q == q)
            .ok_or("a planted text without its query")?;
        let found = search::all_hits(
            client,
            base,
            &member.token,
            query,
            &member_rooms,
            CHECK_HITS_MAX,
        )
        .await?
        .len() as i64;
        let seeded = p.expected(messages);
        // A phrase's two words may also meet by chance; a rare word is nowhere else.
        let right = found == in_bodies.min(CHECK_HITS_MAX as i64)
            && if phrase {
                in_bodies >= seeded
            } else {
                in_bodies == seeded
            };
        if !right {
            check.planted_wrong += 1;
        }
        check.planted.push(PlantedCount {
            text: p.text.clone(),
            phrase,
            seeded,
            in_bodies,
            found,
            right,
        });
    }
    for q in workload.all() {
        let (status, page) = search::get_page(client, base, &outsider.token, q, 50, None).await?;
        if q.room.is_some() {
            check.outsider_room_queries += 1;
            if status != 403 {
                check.outsider_room_not_403 += 1;
            }
        } else {
            check.outsider_queries += 1;
            let hits = page["items"].as_array().map_or(0, Vec::len);
            if status != 200 || hits > 0 {
                check.outsider_hits += hits.max(1) as u64;
            }
        }
    }
    Ok(check)
}

/// Message search over a seeded corpus: the counts of planted words checked page by page and a
/// user in none of the rooms finding nothing; the mix's statements straight in the database,
/// one at a time (its floor); then the mix at a fixed rate through Huddle, every answer
/// checked.
pub async fn search(run: &mut Run, o: &SearchOptions) -> Result<()> {
    use diesel::Connection;
    let backend = run.db.backend();
    // The corpus's words are chosen with PostgreSQL's stemmer (each its own lexeme), so on
    // SQLite too; PostgreSQL's `postgres` database answers that.
    let mut stemmer = match backend {
        Backend::Postgres => run.db.connect_pg()?,
        Backend::Sqlite => diesel::PgConnection::establish(&format!(
            "{}/postgres",
            run.settings.pg_base.trim_end_matches('/')
        ))?,
    };
    println!(
        "\n== search on {}: {} messages in {} rooms, {} searches/s, pages of {} ==",
        backend.name(),
        o.messages,
        o.rooms,
        o.rate,
        o.limit
    );
    let users = run.users(2).await?;
    let (member, outsider) = match users.as_slice() {
        [m, x] => (m.clone(), x.clone()),
        _ => return Err("no users".into()),
    };
    let mut rooms = Vec::with_capacity(o.rooms);
    for r in 0..o.rooms {
        rooms.push(run.api.create_room(&member, &format!("search-{r}")).await?);
    }
    // On PostgreSQL the stemmer's connection is the run's database, and seeds it.
    let mut sqlite = match backend {
        Backend::Postgres => None,
        Backend::Sqlite => Some(run.db.connect()?),
    };
    let (rooms2, author, messages) = (rooms.clone(), member.id, o.messages);
    let seeding = std::time::Instant::now();
    let corpus = tokio::task::spawn_blocking(move || -> Result<search::Corpus> {
        let corpus = db::search_corpus(&mut stemmer)?;
        match sqlite.as_mut() {
            None => db::seed_search(&mut stemmer, &rooms2, author, &corpus, messages)?,
            Some(c) => db::seed_search_sqlite(c, &rooms2, author, &corpus, messages)?,
        }
        Ok(corpus)
    })
    .await??;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    eprintln!(
        "seeded {} messages ({} words in the vocabulary) in {seed_seconds:.1}s",
        o.messages,
        corpus.vocabulary.len(),
    );
    let workload = Workload::new(&corpus, &rooms);
    let checking = std::time::Instant::now();
    let check = search_check(
        &run.api,
        &run.db.url(),
        &member,
        &outsider,
        &rooms,
        &corpus,
        &workload,
        o.messages,
    )
    .await?;
    eprintln!(
        "checked the planted counts and the outsider in {:.1}s",
        checking.elapsed().as_secs_f64()
    );
    for p in &check.planted {
        println!(
            "  {:<8} {:<22} seeded {:>5}, in bodies {:>5}, found {:>5}{}",
            if p.phrase { "phrase" } else { "rare" },
            p.text,
            p.seeded,
            p.in_bodies,
            p.found,
            if p.right { "" } else { "  <- WRONG" }
        );
    }
    println!(
        "  outsider: {} searches, {} hits (must be 0); {} naming a room, {} not refused with 403",
        check.outsider_queries,
        check.outsider_hits,
        check.outsider_room_queries,
        check.outsider_room_not_403
    );

    // The database's floor: the same statements one at a time, on a quiet database.
    let mix = workload.only(&o.kinds);
    let mix_kinds: Vec<search::Kind> = mix.by_kind.iter().map(|(k, _)| *k).collect();
    let (url, viewer, limit, runs, w) =
        (run.db.url(), member.id, o.limit, o.floor_runs, mix.clone());
    let floor =
        tokio::task::spawn_blocking(move || db::search_floor(&url, viewer, &w, limit, runs))
            .await??;

    let load = SearchLoad {
        base: run.api.base.clone(),
        token: member.token.clone(),
        rooms: Arc::new(rooms.iter().copied().collect()),
        workload: Arc::new(mix),
        rate: o.rate,
        limit: o.limit,
        warmup: run.settings.warmup,
        duration: run.settings.duration,
        drain: run.settings.drain,
    };
    let mut t = trackers(&run.huddle, &run.bare, "huddle", run.db.backend());
    let r: SearchResult = search::run(&load, &mut t).await?;

    // Huddle may still be working through searches the generator gave up on (on PostgreSQL,
    // where other sessions can be seen; an SQLite database is Huddle's own).
    let backlog = match backend {
        Backend::Postgres => {
            let mut c = run.db.connect_pg()?;
            tokio::task::spawn_blocking(move || db::wait_quiet(&mut c, Duration::from_secs(120)))
                .await??
        }
        Backend::Sqlite => Duration::ZERO,
    };
    println!(
        "  {:<12} {:>6} {:>8} {:>8} {:>8} {:>9} {:>6} {:>6} {:>6} | {:>9} {:>9}",
        "query",
        "n",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "wrong",
        "hits",
        "db p50",
        "db p99"
    );
    for k in &r.by_kind {
        let f = floor.iter().find(|f| f.kind == k.kind);
        println!(
            "  {:<12} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>6} {:>6} {:>6.1} | {:>9.2} {:>9.2}",
            k.kind.name(),
            k.requests,
            k.latency.p50_ms,
            k.latency.p90_ms,
            k.latency.p99_ms,
            k.latency.max_ms,
            k.errors,
            k.wrong,
            k.hits_mean,
            f.map_or(0.0, |f| f.latency.p50_ms),
            f.map_or(0.0, |f| f.latency.p99_ms),
        );
    }
    // What the mix costs the database, one query at a time: the mean of the kinds' means
    // (the mix runs every kind as often).
    let floor_mix_ms =
        floor.iter().map(|f| f.latency.mean_ms).sum::<f64>() / floor.len().max(1) as f64;
    println!(
        "search: {:.0} requests/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 50 ms); \
         {} errors ({} timed out, {:?}), {} wrong answers; the database alone: {:.2} ms per query of the mix, \
         {:.0} queries/s per core",
        r.requests_per_s,
        r.latency.p50_ms,
        r.latency.p90_ms,
        r.latency.p99_ms,
        r.latency.max_ms,
        r.errors,
        r.timed_out,
        r.error_statuses,
        r.wrong,
        floor_mix_ms,
        1000.0 / floor_mix_ms.max(1e-9)
    );
    for e in &r.wrong_examples {
        println!("  wrong: {e}");
    }
    if backlog > Duration::from_millis(200) {
        println!(
            "  Huddle went on with the searches given up on for {:.1}s after the drain",
            backlog.as_secs_f64()
        );
    }
    print_usage(&r.usage);
    let met = r.latency.p99_ms < 50.0 && r.errors == 0 && r.wrong == 0 && check.passed();
    run.record(
        "search",
        json!({
            "messages": o.messages,
            "rooms": o.rooms,
            "rate": o.rate,
            "limit": o.limit,
            "vocabulary": corpus.vocabulary.len(),
            "seed_seconds": seed_seconds,
            "check": check,
            "result": r,
            "db_floor": floor,
            "db_floor_mix_ms": floor_mix_ms,
            "kinds": mix_kinds,
            "backlog_seconds": backlog.as_secs_f64(),
            "target_p99_ms_max": 50.0,
            "met": met,
        }),
    );
    Ok(())
}

pub struct IdleOptions {
    pub connections: usize,
    /// Users the connections belong to (each opens connections / users).
    pub users: usize,
    pub settle: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleResult {
    pub connections: usize,
    pub connected: usize,
    pub rss_mib_before: f64,
    pub rss_mib_after: f64,
    pub kib_per_connection: f64,
    pub connect_seconds: f64,
    /// What the server's `/metrics` said at most (`huddle_ws_sockets_open`,
    /// `huddle_ws_connections`), for Huddle.
    pub server_sockets_open: Option<f64>,
    pub server_connections: Option<f64>,
}

/// Server memory per idle authenticated socket that the idle scenario allows: below the bare
/// tungstenite server's (9.4 KiB on these machines).
const IDLE_KIB_MAX: f64 = 9.0;

/// Memory per idle connection, on freshly started servers.
pub async fn idle(run: &mut Run, o: &IdleOptions) -> Result<()> {
    println!(
        "\n== idle: {} authenticated idle connections ({} users) ==",
        o.connections, o.users
    );
    let users = run.users(o.users).await?;
    let rooms = run
        .api
        .rooms_of(&users, (o.users / 100).max(1), "idle")
        .await?;
    run.restart_servers()?;
    let mut huddle_conns = Vec::with_capacity(o.connections);
    let mut bare_conns = Vec::with_capacity(o.connections);
    let members: Vec<(i64, usize, &User)> = rooms
        .iter()
        .enumerate()
        .flat_map(|(r, (room, us))| us.iter().map(move |u| (*room, r, u)))
        .collect();
    for i in 0..o.connections {
        let (room, r, u) = members[i % members.len()];
        huddle_conns.push(Conn {
            room,
            token: Some(u.token.clone()),
        });
        bare_conns.push(Conn {
            room: r as i64 + 1,
            token: None,
        });
    }
    let huddle = idle_one(
        "huddle",
        run,
        run.huddle_target(),
        huddle_conns,
        run.huddle.pid(),
        o.settle,
    )
    .await?;
    let bare = idle_one(
        "bare",
        run,
        run.bare_target(),
        bare_conns.clone(),
        run.bare.pid(),
        o.settle,
    )
    .await?;
    // What an upgraded socket costs before Huddle's own per-connection state exists: the same
    // number of sockets that have not sent their `auth` frame yet (on a fresh process).
    run.restart_servers()?;
    let upgraded = idle_one(
        "huddle, not authenticated",
        run,
        Target::Bare {
            ws_url: run.api.ws_url(),
        },
        bare_conns,
        run.huddle.pid(),
        o.settle,
    )
    .await?;
    println!(
        "idle: Huddle {:.1} KiB per connection (target <= {IDLE_KIB_MAX} KiB), of which {:.1} KiB before authentication \
         (HTTP upgrade and WebSocket session); the bare server {:.1} KiB",
        huddle.kib_per_connection, upgraded.kib_per_connection, bare.kib_per_connection
    );
    run.record(
        "idle",
        json!({
            "huddle": huddle,
            "huddle_unauthenticated": upgraded,
            "bare": bare,
            "target_kib_max": IDLE_KIB_MAX,
            "met": huddle.kib_per_connection <= IDLE_KIB_MAX && huddle.connected == huddle.connections,
        }),
    );
    Ok(())
}

async fn idle_one(
    label: &str,
    run: &Run,
    target: Target,
    conns: Vec<Conn>,
    pid: u32,
    settle: Duration,
) -> Result<IdleResult> {
    let probe = Probe::Pid(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = probe
        .sample()
        .await
        .ok_or("cannot read the server's memory")?;
    let n = conns.len();
    let mut l = run.load(target, conns, Vec::new(), SendMode::Closed { window: 0 });
    l.warmup = settle;
    l.duration = Duration::from_secs(2);
    l.drain = Duration::ZERO;
    // Sample while every connection is open: at the end of the measurement.
    let mut t = vec![Tracker::new("server", probe.clone())];
    // Huddle's own count of the sockets, from /metrics, while they are open.
    let scrape = (pid == run.huddle.pid()).then(|| {
        let url = format!("{}/metrics", run.api.base);
        let client = run.api.client.clone();
        tokio::spawn(async move {
            let mut most = (0.0f64, 0.0f64);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Ok(resp) = client.get(&url).send().await else {
                    continue;
                };
                let Ok(text) = resp.text().await else {
                    continue;
                };
                let open = crate::sample::metric(&text, "huddle_ws_sockets_open").unwrap_or(0.0);
                let conns = crate::sample::metric(&text, "huddle_ws_connections").unwrap_or(0.0);
                most = (most.0.max(open), most.1.max(conns));
                if open == 0.0 && most.0 > 0.0 {
                    return most;
                }
            }
        })
    });
    let r = load::run(&l, &mut t).await?;
    let counted = match scrape {
        Some(task) => tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .ok()
            .and_then(|r| r.ok()),
        None => None,
    };
    let after = t
        .first()
        .and_then(Tracker::usage)
        .ok_or("cannot read the server's memory")?;
    let connected = n - r.connect_failures as usize - r.disconnects as usize;
    let before_mib = before.rss_bytes as f64 / (1024.0 * 1024.0);
    let per = (after.rss_mib_end - before_mib) * 1024.0 / connected.max(1) as f64;
    let res = IdleResult {
        connections: n,
        connected,
        rss_mib_before: before_mib,
        rss_mib_after: after.rss_mib_end,
        kib_per_connection: per,
        connect_seconds: r.connect_seconds,
        server_sockets_open: counted.map(|c| c.0),
        server_connections: counted.map(|c| c.1),
    };
    println!(
        "{label:>7}: {} of {} connected in {:.1}s; RSS {:.1} MiB -> {:.1} MiB: {:.2} KiB per connection",
        connected,
        n,
        res.connect_seconds,
        res.rss_mib_before,
        res.rss_mib_after,
        res.kib_per_connection
    );
    if let Some((open, conns)) = counted {
        println!(
            "         the server's /metrics counted {open} open sockets, {conns} authenticated"
        );
    }
    Ok(res)
}

fn print_usage(usage: &[crate::sample::Usage]) {
    for u in usage {
        println!(
            "         {:<15} CPU {:>5.0}%  RSS {:>7.1} MiB (max {:.1})",
            u.process, u.cpu_percent, u.rss_mib_end, u.rss_mib_max
        );
    }
}

pub fn print_load(r: &LoadResult) {
    println!(
        "{:>7}: {:>5} conns {:>4} senders | sent {:>8.0}/s acked {:>8.0}/s | deliveries {:>9.0}/s of {:>9.0}/s offered",
        r.target, r.connections, r.senders, r.sent_per_s, r.acked_per_s, r.deliveries_per_s, r.offered_deliveries_per_s
    );
    println!(
        "         latency ms p50 {:>7.2} p95 {:>7.2} p99 {:>7.2} max {:>8.2} | ack p50 {:>7.2} p99 {:>7.2}",
        r.latency.p50_ms, r.latency.p95_ms, r.latency.p99_ms, r.latency.max_ms, r.ack_latency.p50_ms, r.ack_latency.p99_ms
    );
    println!(
        "         lost {} duplicated {} | send errors {} other errors {} skipped {} | disconnects {} {:?} | connect failures {}",
        r.lost, r.duplicates, r.send_errors, r.errors, r.skipped, r.disconnects, r.close_codes, r.connect_failures
    );
    print_usage(&r.usage);
}

/// The machine the figures come from.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| {
                    v.split_whitespace()
                        .next()
                        .and_then(|k| k.parse::<f64>().ok())
                })
        })
        .map(|kib| kib / (1024.0 * 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({"cpu": cpu, "cores": cores, "memory_gib": (mem_gib * 10.0).round() / 10.0})
}
