//! `huddle-bench`: Huddle's load generator. It starts Huddle (`target/release/huddle`, on a
//! fresh PostgreSQL database it creates) and the bare server, runs the scenarios against both,
//! prints a table per scenario and, last, one JSON line with every figure; then stops both
//! servers and drops the database. `BENCHMARKS.md` describes the scenarios.
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use huddle_bench::scenarios::{
    self, FanoutOptions, HistoryOptions, IdleOptions, Run, SearchOptions, Settings, StoreOptions,
};
use huddle_bench::Result;
use huddle_persistence::Backend;
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Db {
    Postgres,
    Sqlite,
}

#[derive(Parser)]
#[command(
    about = "Load generator and benchmarks for Huddle, against the bare broadcast server and a naive store"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// The Huddle binary (default: `huddle` beside this one).
    #[arg(long, global = true)]
    huddle_bin: Option<PathBuf>,
    /// The bare server binary (default: `bare-server` beside this one).
    #[arg(long, global = true)]
    bare_bin: Option<PathBuf>,
    /// The database Huddle runs on: a fresh database on the PostgreSQL server (`--pg`), or a
    /// fresh SQLite file (every scenario but scale-out; search still asks `--pg`'s stemmer for
    /// its corpus; `all` runs store, history and the room list on SQLite too).
    #[arg(long, global = true, value_enum, default_value_t = Db::Postgres)]
    db: Db,
    /// PostgreSQL server for the run's fresh database.
    #[arg(
        long,
        global = true,
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg: String,
    /// The Redis the scale-out scenario's nodes share.
    #[arg(long, global = true, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Seconds of warm-up before each measurement.
    #[arg(long, global = true, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds each measurement lasts.
    #[arg(long, global = true, default_value_t = 15.0)]
    duration: f64,
    /// Longest wait, in seconds, for the last replies and deliveries after sending stops.
    #[arg(long, global = true, default_value_t = 10.0)]
    drain: f64,
    /// Bytes of padding in each message body.
    #[arg(long, global = true, default_value_t = 64)]
    body_bytes: usize,
    /// Extra environment for Huddle, `KEY=VALUE` (repeatable).
    #[arg(long = "huddle-env", global = true)]
    huddle_env: Vec<String>,
    /// Where the servers' logs go.
    #[arg(long, global = true, default_value = "target/bench-logs")]
    log_dir: PathBuf,
    /// Leave the run's database in place at the end (its name is printed), e.g. to look at
    /// query plans.
    #[arg(long, global = true)]
    keep_db: bool,
    /// Also write the JSON line to this file.
    #[arg(long, global = true)]
    json_out: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct FanoutArgs {
    #[arg(long, default_value_t = 2000)]
    connections: usize,
    #[arg(long, default_value_t = 20)]
    rooms: usize,
    /// Sending connections, spread evenly over the rooms.
    #[arg(long, default_value_t = 200)]
    senders: usize,
    /// Messages per second per sender; without it, the bare server's saturating rate is found.
    #[arg(long)]
    rate: Option<f64>,
    /// Where the saturation search starts, in messages per second over all senders.
    #[arg(long, default_value_t = 1000.0)]
    search_from: f64,
    /// Growth of the rate between search steps.
    #[arg(long, default_value_t = 1.5)]
    search_factor: f64,
    #[arg(long, default_value_t = 12)]
    max_steps: usize,
    /// Skip the latency run at half the rate.
    #[arg(long)]
    no_latency: bool,
}

#[derive(Args, Clone)]
struct StoreArgs {
    #[arg(long, default_value_t = 100)]
    store_rooms: usize,
    #[arg(long, default_value_t = 1)]
    senders_per_room: usize,
    /// Unacknowledged sends each sender keeps in flight (the target's figure; a run with one
    /// in flight is reported beside it).
    #[arg(long, default_value_t = 4)]
    window: usize,
    /// Connections of the naive baseline (default: Huddle's pool size, 10, on PostgreSQL; one
    /// on SQLite, which has one write lock).
    #[arg(long)]
    naive_connections: Option<usize>,
}

#[derive(Args, Clone)]
struct HistoryArgs {
    #[arg(long, default_value_t = 100_000)]
    messages: i64,
    /// Requests per second.
    #[arg(long, default_value_t = 1000.0)]
    history_rate: f64,
    #[arg(long, default_value_t = 50)]
    page: i64,
    /// Rooms the room list's reader is in (the list is one page of them).
    #[arg(long, default_value_t = 50)]
    list_rooms: usize,
    /// Messages in each of the reader's rooms, all by another user.
    #[arg(long, default_value_t = 2000)]
    list_messages: i64,
    /// Room-list requests per second.
    #[arg(long, default_value_t = 200.0)]
    list_rate: f64,
}

#[derive(Args, Clone)]
struct SearchArgs {
    /// Messages seeded for the search (straight in the database).
    #[arg(long, default_value_t = 1_000_000)]
    search_messages: i64,
    /// Rooms they are spread over, the searching user a member of all of them.
    #[arg(long, default_value_t = 100)]
    search_rooms: usize,
    /// Searches per second.
    #[arg(long, default_value_t = 200.0)]
    search_rate: f64,
    /// Results per page (the API's default is 20).
    #[arg(long, default_value_t = 20)]
    search_page: usize,
    /// Runs of each kind of query straight in the database, for its floor.
    #[arg(long, default_value_t = 40)]
    search_floor_runs: usize,
    /// Only these kinds of query in the mix (comma-separated; default: all six, in turn).
    #[arg(long, value_enum, value_delimiter = ',')]
    search_kinds: Vec<huddle_bench::search::Kind>,
}

#[derive(Args, Clone)]
struct ScaleArgs {
    #[command(flatten)]
    fanout: FanoutArgs,
    /// Each node's CPU budget in cores (a cgroup CFS quota; needs root and a cgroup `cpu`
    /// controller): one node and each of two get the same, as on machines of their own.
    #[arg(long)]
    node_cpu: Option<f64>,
    /// Each node on a CPU of its own (`taskset`): the single node and the first of two on CPU
    /// 0, the second on CPU 1, so two nodes do not share cores as two machines would not.
    #[arg(long)]
    pin_nodes: bool,
}

#[derive(Args, Clone)]
struct FilesArgs {
    /// The file's size, in MiB.
    #[arg(long, default_value_t = 16)]
    file_mib: usize,
    /// Uploads and downloads measured (and copies for the baseline).
    #[arg(long, default_value_t = 8)]
    file_rounds: usize,
}

#[derive(Args, Clone)]
struct IdleArgs {
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Users owning the idle connections (each opens connections/users of them).
    #[arg(long, default_value_t = 2000)]
    idle_users: usize,
}

#[derive(Subcommand, Clone)]
enum Command {
    /// Fan-out at the bare server's saturating rate, then latency at half of it.
    Fanout(FanoutArgs),
    /// Fan-out through `/socket.io/` against the native socket, per server CPU-second.
    Socketio(FanoutArgs),
    /// Two nodes on one database and Redis against one node, at the fan-out layout and rate;
    /// and what the Redis hop costs per delivery.
    Scaleout(ScaleArgs),
    /// Acked messages/s against the naive one-transaction-per-message baseline.
    Store(StoreArgs),
    /// History pages, then the room list with unread counts, at fixed request rates.
    History(HistoryArgs),
    /// Message search at a fixed request rate over a seeded corpus.
    Search(SearchArgs),
    /// Server memory per idle authenticated connection.
    Idle(IdleArgs),
    /// File upload and download throughput against the raw copy speed.
    Files(FilesArgs),
    /// The standard set: fan-out and latency, Socket.IO fan-out, scale-out, store, history
    /// and the room list, search, files, idle.
    All {
        #[command(flatten)]
        fanout: FanoutArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        history: HistoryArgs,
        #[command(flatten)]
        search: SearchArgs,
        #[command(flatten)]
        idle: IdleArgs,
        #[command(flatten)]
        files: FilesArgs,
    },
}

fn settings(c: &Common) -> Result<Settings> {
    let bin = |given: &Option<PathBuf>, name: &str| match given {
        Some(p) => Ok(p.clone()),
        None => huddle_bench::procs::sibling_binary(name),
    };
    let mut huddle_env = Vec::new();
    for kv in &c.huddle_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--huddle-env {kv}: not KEY=VALUE"))?;
        huddle_env.push((k.to_owned(), v.to_owned()));
    }
    Ok(Settings {
        huddle_bin: bin(&c.huddle_bin, "huddle")?,
        bare_bin: bin(&c.bare_bin, "bare-server")?,
        backend: match c.db {
            Db::Postgres => Backend::Postgres,
            Db::Sqlite => Backend::Sqlite,
        },
        pg_base: c.pg.clone(),
        log_dir: c.log_dir.clone(),
        warmup: Duration::from_secs_f64(c.warmup),
        duration: Duration::from_secs_f64(c.duration),
        drain: Duration::from_secs_f64(c.drain),
        body_bytes: c.body_bytes,
        huddle_env,
        keep_db: c.keep_db,
    })
}

fn fanout_options(a: &FanoutArgs) -> FanoutOptions {
    FanoutOptions {
        connections: a.connections,
        rooms: a.rooms,
        senders: a.senders,
        rate: a.rate,
        start_total_rate: a.search_from,
        factor: a.search_factor,
        max_steps: a.max_steps,
        latency: !a.no_latency,
    }
}

async fn fanout(run: &mut Run, a: &FanoutArgs) -> Result<f64> {
    scenarios::fanout(run, &fanout_options(a)).await
}

async fn socketio(run: &mut Run, a: &FanoutArgs) -> Result<()> {
    scenarios::socketio(run, &fanout_options(a)).await
}

async fn scaleout(
    run: &mut Run,
    a: &FanoutArgs,
    node_cpu: Option<f64>,
    pin_nodes: bool,
    redis: &str,
) -> Result<()> {
    huddle_bench::scaleout::scaleout(
        run,
        &huddle_bench::scaleout::ScaleOptions {
            fanout: fanout_options(a),
            redis_url: redis.to_owned(),
            node_cpu,
            pin_nodes,
        },
    )
    .await
}

async fn store(run: &mut Run, a: &StoreArgs) -> Result<()> {
    scenarios::store(
        run,
        &StoreOptions {
            rooms: a.store_rooms,
            senders_per_room: a.senders_per_room,
            window: a.window,
            naive_connections: a.naive_connections,
        },
    )
    .await
}

async fn history(run: &mut Run, a: &HistoryArgs) -> Result<()> {
    scenarios::history(
        run,
        &HistoryOptions {
            messages: a.messages,
            rate: a.history_rate,
            page: a.page,
            list_rooms: a.list_rooms.clamp(1, 100),
            list_messages: a.list_messages.max(1),
            list_rate: a.list_rate,
        },
    )
    .await
}

async fn search(run: &mut Run, a: &SearchArgs) -> Result<()> {
    scenarios::search(
        run,
        &SearchOptions {
            messages: a.search_messages,
            rooms: a.search_rooms.max(1),
            rate: a.search_rate,
            limit: a.search_page,
            floor_runs: a.search_floor_runs.max(1),
            kinds: a.search_kinds.clone(),
        },
    )
    .await
}

async fn idle(run: &mut Run, a: &IdleArgs) -> Result<()> {
    scenarios::idle(
        run,
        &IdleOptions {
            connections: a.idle_connections,
            users: a.idle_users.min(a.idle_connections).max(1),
            settle: Duration::from_secs(3),
        },
    )
    .await
}

async fn files(run: &mut Run, a: &FilesArgs) -> Result<()> {
    huddle_bench::files::run(
        run,
        &huddle_bench::files::FilesOptions {
            mib: a.file_mib.max(1),
            rounds: a.file_rounds.max(1),
        },
    )
    .await
}

async fn main_async(cli: Cli) -> Result<()> {
    let started = std::time::Instant::now();
    let mut run = Run::start(settings(&cli.common)?)?;
    let scenario = async {
        match &cli.command {
            Command::Fanout(a) => fanout(&mut run, a).await.map(|_rate| ()),
            Command::Socketio(a) => socketio(&mut run, a).await,
            Command::Scaleout(a) => {
                scaleout(
                    &mut run,
                    &a.fanout,
                    a.node_cpu,
                    a.pin_nodes,
                    &cli.common.redis,
                )
                .await
            }
            Command::Store(a) => store(&mut run, a).await,
            Command::History(a) => history(&mut run, a).await,
            Command::Search(a) => search(&mut run, a).await,
            Command::Idle(a) => idle(&mut run, a).await,
            Command::Files(a) => files(&mut run, a).await,
            Command::All {
                fanout: f,
                store: s,
                history: h,
                search: q,
                idle: i,
                files: f2,
            } => {
                let rate = fanout(&mut run, f).await?;
                // At fan-out's rate: its saturation search is not run twice.
                let at_rate = FanoutArgs {
                    rate: Some(rate),
                    ..f.clone()
                };
                socketio(&mut run, &at_rate).await?;
                scaleout(&mut run, &at_rate, None, false, &cli.common.redis).await?;
                store(&mut run, s).await?;
                history(&mut run, h).await?;
                search(&mut run, q).await?;
                files(&mut run, f2).await?;
                idle(&mut run, i).await?;
                // The database-bound scenarios again on the embedded default, with servers of
                // their own; their figures join this run's summary.
                if run.db.backend() == Backend::Postgres {
                    let mut lite = Run::start(Settings {
                        backend: Backend::Sqlite,
                        ..run.settings.clone()
                    })?;
                    let outcome = async {
                        store(&mut lite, s).await?;
                        history(&mut lite, h).await
                    }
                    .await;
                    run.results.append(&mut lite.results);
                    outcome?;
                }
                Ok(())
            }
        }
    };
    // Ctrl-C still stops both servers and drops the database (when `run` is dropped).
    let outcome: Result<()> = tokio::select! {
        r = scenario => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    let mut scenarios = Map::new();
    for (name, value) in std::mem::take(&mut run.results) {
        scenarios.insert(name, value);
    }
    println!("\n== summary ({:.0} s) ==", started.elapsed().as_secs_f64());
    for (name, v) in &scenarios {
        println!("{name:<8} target met: {}", v["met"]);
    }
    let line = json!({
        "machine": scenarios::machine(),
        "seconds": started.elapsed().as_secs_f64().round(),
        "error": outcome.as_ref().err().map(|e| e.to_string()),
        "scenarios": Value::Object(scenarios),
    })
    .to_string();
    println!("{line}");
    if let Some(path) = &cli.common.json_out {
        std::fs::write(path, format!("{line}\n"))?;
    }
    outcome
}

fn main() {
    let cli = Cli::parse();
    let limit = huddle_bench::raise_open_files_limit();
    eprintln!("open files limit: {limit}");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("huddle-bench: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(main_async(cli)) {
        eprintln!("huddle-bench: {e}");
        std::process::exit(1);
    }
}
