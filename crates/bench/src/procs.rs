//! The servers under test, as child processes: Huddle (`target/release/huddle`) on a fresh
//! PostgreSQL database or SQLite file, and the bare server. Both are killed, and the database dropped, when
//! their handles are dropped.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use huddle_persistence::{AnyConnection, Backend, DatabaseConfig};

use crate::Result;

/// A free port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The sibling binary `name` of the running one (cargo puts them side by side).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .ok_or("no directory for the running binary")?
        .to_path_buf();
    // Test binaries live one level down, in deps/.
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release -p huddle-server -p huddle-bench)",
            path.display()
        )
        .into())
    }
}

/// The run's database, made fresh for it and removed at the end: a database on a PostgreSQL
/// server, or an SQLite file in a temporary directory (Huddle's embedded default).
pub struct Database {
    pub name: String,
    /// Left in place at the end, to look at afterwards.
    pub keep: bool,
    place: Place,
}

enum Place {
    Postgres { base: String },
    Sqlite { dir: Option<tempfile::TempDir> },
}

impl Database {
    /// Creates `huddle_bench_<pid>_<time>` on the server at `base` (e.g.
    /// `postgres://postgres@127.0.0.1:5432`).
    pub fn create(base: &str) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        let name = Self::fresh_name()?;
        let mut admin = PgConnection::establish(&format!("{base}/postgres"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            name,
            keep: false,
            place: Place::Postgres { base },
        })
    }

    /// An SQLite file in a new temporary directory; Huddle creates and migrates it on start,
    /// as it does `./huddle.db` for a newcomer.
    pub fn create_sqlite() -> Result<Self> {
        let name = Self::fresh_name()?;
        let dir = tempfile::Builder::new().prefix(&name).tempdir()?;
        Ok(Self {
            name,
            keep: false,
            place: Place::Sqlite { dir: Some(dir) },
        })
    }

    fn fresh_name() -> Result<String> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        Ok(format!("huddle_bench_{}_{stamp}", std::process::id()))
    }

    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Postgres { .. } => Backend::Postgres,
            Place::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Huddle's `DATABASE_URL` for it.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Postgres { base } => format!("{base}/{}", self.name),
            Place::Sqlite { dir } => {
                let dir = dir
                    .as_ref()
                    .map(|d| d.path().to_path_buf())
                    .unwrap_or_default();
                format!("sqlite://{}", dir.join("huddle.db").display())
            }
        }
    }

    /// A connection of its own, set up as Huddle's pool sets up its connections.
    pub fn connect(&self) -> Result<AnyConnection> {
        Ok(DatabaseConfig::from_url(&self.url(), 1).connect()?)
    }

    /// A PostgreSQL connection, for the scenarios that only run there (search).
    pub fn connect_pg(&self) -> Result<PgConnection> {
        match self.backend() {
            Backend::Postgres => Ok(PgConnection::establish(&self.url())?),
            Backend::Sqlite => Err("this scenario runs on PostgreSQL only (--db postgres)".into()),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        match &mut self.place {
            Place::Sqlite { dir } => {
                if self.keep {
                    if let Some(dir) = dir.take() {
                        eprintln!(
                            "database {} left in place (--keep-db)",
                            dir.keep().display()
                        );
                    }
                }
            }
            Place::Postgres { base } => {
                let url = format!("{base}/{}", self.name);
                if self.keep {
                    eprintln!("database {url} left in place (--keep-db)");
                    return;
                }
                let dropped =
                    PgConnection::establish(&format!("{base}/postgres")).and_then(|mut c| {
                        c.batch_execute(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            self.name
                        ))
                        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
                    });
                if let Err(e) = dropped {
                    eprintln!("could not drop database {}: {e}", self.name);
                }
            }
        }
    }
}

/// A child process killed on drop.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    pub log: PathBuf,
    /// Huddle's files directory (in the temporary directory), removed with the server.
    _files: Option<tempfile::TempDir>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_listening(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "{} exited at start ({status}); see {}",
                    self.name,
                    self.log.display()
                )
                .into());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "{} did not listen within {within:?}; see {}",
            self.name,
            self.log.display()
        )
        .into())
    }

    /// Kills the process and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn log_file(dir: &Path, name: &str) -> Result<(PathBuf, std::fs::File)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}

/// The environment Huddle runs with in the benchmarks, besides the database and the port.
/// The send rate limit is lifted (the generator's senders are the load, not abuse), bcrypt is
/// at its cheapest (thousands of users are registered), access tokens outlive the run, the
/// sync grace is off (the generator syncs right after `ready`), sockets may wait two minutes
/// for their `auth` frame (the idle scenario holds unauthenticated sockets open), and logs are at `warn` (an
/// access log line per request would be measured too).
pub const HUDDLE_BENCH_ENV: &[(&str, &str)] = &[
    ("HUDDLE_HOST", "127.0.0.1"),
    (
        "HUDDLE_JWT_SECRET",
        "huddle-bench-secret-huddle-bench-secret",
    ),
    ("HUDDLE_BCRYPT_COST", "4"),
    ("HUDDLE_AUTH_RATE_LIMIT", "0"),
    ("HUDDLE_ACCESS_TOKEN_TTL_SECS", "86400"),
    ("HUDDLE_WS_SEND_RATE", "1000000"),
    ("HUDDLE_WS_SEND_BURST", "1000000"),
    // The generator opens many sockets per user.
    ("HUDDLE_WS_MAX_SOCKETS_PER_USER", "0"),
    ("HUDDLE_WS_SYNC_GRACE_MS", "0"),
    ("HUDDLE_WS_AUTH_TIMEOUT_MS", "120000"),
    ("RUST_LOG", "warn"),
];

/// Starts Huddle on `database_url`.
pub fn start_huddle(
    bin: &Path,
    database_url: &str,
    log_dir: &Path,
    extra_env: &[(String, String)],
) -> Result<Server> {
    start_huddle_named("huddle", bin, database_url, log_dir, extra_env)
}

/// Starts Huddle on `database_url`, logging to `{log_dir}/{name}.log` (several nodes at once).
pub fn start_huddle_named(
    name: &'static str,
    bin: &Path,
    database_url: &str,
    log_dir: &Path,
    extra_env: &[(String, String)],
) -> Result<Server> {
    let port = free_port()?;
    let (log, file) = log_file(log_dir, name)?;
    let files = tempfile::Builder::new()
        .prefix("huddle-bench-files")
        .tempdir()?;
    let mut cmd = Command::new(bin);
    cmd.envs(HUDDLE_BENCH_ENV.iter().copied())
        .env("HUDDLE_FILES_DIR", files.path())
        .env("HUDDLE_PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let mut server = Server {
        name,
        port,
        child: cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?,
        log,
        _files: Some(files),
    };
    server.wait_listening(Duration::from_secs(60))?;
    Ok(server)
}

/// Starts the bare server.
pub fn start_bare(bin: &Path, log_dir: &Path) -> Result<Server> {
    let port = free_port()?;
    let (log, file) = log_file(log_dir, "bare-server")?;
    let mut cmd = Command::new(bin);
    cmd.arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    let mut server = Server {
        name: "bare-server",
        port,
        child: cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?,
        log,
        _files: None,
    };
    server.wait_listening(Duration::from_secs(10))?;
    Ok(server)
}
