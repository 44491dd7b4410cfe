//! The servers under test, as child processes: Huddle (`target/release/huddle`) on a fresh
//! PostgreSQL database, and the bare server. Both are killed, and the database dropped, when
//! their handles are dropped.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

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

/// A PostgreSQL database made for one run, dropped at the end.
pub struct Database {
    pub base: String,
    pub name: String,
    /// Left in place at the end, to look at afterwards.
    pub keep: bool,
}

impl Database {
    /// Creates `huddle_bench_<pid>_<time>` on the server at `base` (e.g.
    /// `postgres://postgres@127.0.0.1:5432`).
    pub fn create(base: &str) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let name = format!("huddle_bench_{}_{stamp}", std::process::id());
        let mut admin = PgConnection::establish(&format!("{base}/postgres"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            base,
            name,
            keep: false,
        })
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.name)
    }

    pub fn connect(&self) -> Result<PgConnection> {
        Ok(PgConnection::establish(&self.url())?)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("database {} left in place (--keep-db)", self.url());
            return;
        }
        let dropped =
            PgConnection::establish(&format!("{}/postgres", self.base)).and_then(|mut c| {
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
