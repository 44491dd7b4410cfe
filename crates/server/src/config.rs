//! Configuration from the environment. Every variable is optional; the defaults start a
//! development server on an embedded SQLite file. The README lists them all.
use std::time::Duration;

use huddle_files::{S3Config, StoreConfig};
use huddle_realtime::RealtimeConfig;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// `postgres://…` for PostgreSQL; otherwise an SQLite path (`sqlite://huddle.db` by default).
    pub database_url: String,
    pub db_pool_size: u32,
    /// Message writer threads; `None`: 4 on PostgreSQL (at most half the pool), 1 on SQLite.
    pub db_writers: Option<u32>,
    pub environment: Environment,
    /// HS256 secret. Required in production; generated per start in development.
    pub jwt_secret: Option<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub bcrypt_cost: u32,
    /// Login and register attempts per client address per window; 0 disables the limit.
    pub auth_rate_limit: u32,
    pub auth_rate_window: Duration,
    pub max_body_bytes: usize,
    pub trust_proxy_headers: bool,
    pub log_format: LogFormat,
    /// HTTP worker threads; default: one per core.
    pub workers: Option<usize>,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    pub realtime: RealtimeConfig,
    /// Set: several processes share the load through this Redis. Unset: one process.
    pub redis_url: Option<String>,
    /// Starts every Redis key and channel.
    pub redis_prefix: String,
    /// A process whose presence lease is this old is dead and its users go offline.
    pub presence_lease: Duration,
    /// This process's name in the cluster; random per start unless set.
    pub node_id: Option<String>,
    /// How long each room's logged changes are kept for clients resuming with
    /// `sync since_events`; older ones are pruned, and resuming from before them reloads.
    pub event_retention: Duration,
    pub files: FilesConfig,
}

/// Shared files: where they are kept and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// A local directory (`./huddle-files` by default) or an S3-compatible bucket.
    pub store: StoreConfig,
    /// The largest upload.
    pub max_bytes: u64,
    /// Links to files are valid for between this and twice this.
    pub link_period: Duration,
    /// How often each node empties the trash of deleted files (also right after a delete).
    pub sweep_interval: Duration,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            store: StoreConfig::Local("huddle-files".into()),
            max_bytes: huddle_domain::files::DEFAULT_FILE_SIZE_MAX,
            link_period: Duration::from_secs(6 * 3600),
            sweep_interval: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            database_url: "sqlite://huddle.db".into(),
            db_pool_size: 10,
            db_writers: None,
            environment: Environment::Development,
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            bcrypt_cost: 12,
            auth_rate_limit: 20,
            auth_rate_window: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
            trust_proxy_headers: false,
            log_format: LogFormat::Text,
            workers: None,
            shutdown_timeout: Duration::from_secs(30),
            realtime: RealtimeConfig::default(),
            redis_url: None,
            redis_prefix: "huddle".into(),
            presence_lease: Duration::from_secs(15),
            node_id: None,
            event_retention: huddle_domain::event_log::DEFAULT_RETENTION,
            files: FilesConfig::default(),
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("HUDDLE_JWT_SECRET must be set (at least 32 characters) when HUDDLE_ENV=production")]
    MissingSecret,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Config::default();
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let environment = match get("HUDDLE_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "HUDDLE_ENV",
                    other,
                    "use development or production",
                ))
            }
        };
        let jwt_secret = get("HUDDLE_JWT_SECRET");
        if let Some(s) = &jwt_secret {
            if s.len() < 32 {
                return Err(invalid(
                    "HUDDLE_JWT_SECRET",
                    "<hidden>",
                    "must be at least 32 characters",
                ));
            }
        } else if environment == Environment::Production {
            return Err(ConfigError::MissingSecret);
        }
        let log_format = match get("HUDDLE_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("HUDDLE_LOG_FORMAT", other, "use text or json")),
        };
        let bcrypt_cost = num(&get, "HUDDLE_BCRYPT_COST", d.bcrypt_cost)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(invalid(
                "HUDDLE_BCRYPT_COST",
                &bcrypt_cost.to_string(),
                "must be 4-31",
            ));
        }
        Ok(Config {
            host: get("HUDDLE_HOST").unwrap_or(d.host),
            port: num(&get, "HUDDLE_PORT", d.port)?,
            database_url: get("DATABASE_URL").unwrap_or(d.database_url),
            db_pool_size: positive(&get, "HUDDLE_DB_POOL_SIZE", d.db_pool_size)?,
            db_writers: get("HUDDLE_DB_WRITERS")
                .map(|_| positive(&get, "HUDDLE_DB_WRITERS", 1u32))
                .transpose()?,
            environment,
            jwt_secret,
            access_token_ttl: secs(&get, "HUDDLE_ACCESS_TOKEN_TTL_SECS", d.access_token_ttl)?,
            refresh_token_ttl: secs(&get, "HUDDLE_REFRESH_TOKEN_TTL_SECS", d.refresh_token_ttl)?,
            bcrypt_cost,
            auth_rate_limit: num(&get, "HUDDLE_AUTH_RATE_LIMIT", d.auth_rate_limit)?,
            auth_rate_window: secs(&get, "HUDDLE_AUTH_RATE_WINDOW_SECS", d.auth_rate_window)?,
            max_body_bytes: positive(&get, "HUDDLE_MAX_BODY_BYTES", d.max_body_bytes)?,
            trust_proxy_headers: flag(&get, "HUDDLE_TRUST_PROXY_HEADERS", d.trust_proxy_headers)?,
            log_format,
            workers: get("HUDDLE_WORKERS")
                .map(|v| parse("HUDDLE_WORKERS", &v))
                .transpose()?
                .filter(|w: &usize| *w > 0),
            shutdown_timeout: secs(&get, "HUDDLE_SHUTDOWN_TIMEOUT_SECS", d.shutdown_timeout)?,
            realtime: realtime(&get, d.realtime)?,
            redis_url: get("REDIS_URL"),
            redis_prefix: get("HUDDLE_REDIS_PREFIX").unwrap_or(d.redis_prefix),
            presence_lease: millis(&get, "HUDDLE_PRESENCE_LEASE_MS", d.presence_lease)?,
            node_id: get("HUDDLE_NODE_ID"),
            event_retention: secs(&get, "HUDDLE_EVENT_RETENTION_SECS", d.event_retention)?,
            files: files(&get, d.files)?,
        })
    }
}

/// `HUDDLE_FILES_S3_ENDPOINT` picks a bucket (then its name and keys are required); otherwise
/// files go to `HUDDLE_FILES_DIR`.
fn files(
    get: &impl Fn(&str) -> Option<String>,
    d: FilesConfig,
) -> Result<FilesConfig, ConfigError> {
    let store = match get("HUDDLE_FILES_S3_ENDPOINT") {
        Some(endpoint) => {
            let required = |name: &'static str| {
                get(name).ok_or_else(|| invalid(name, "", "required with HUDDLE_FILES_S3_ENDPOINT"))
            };
            StoreConfig::S3(S3Config {
                endpoint,
                bucket: required("HUDDLE_FILES_S3_BUCKET")?,
                region: get("HUDDLE_FILES_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                access_key_id: required("HUDDLE_FILES_S3_ACCESS_KEY_ID")?,
                secret_access_key: required("HUDDLE_FILES_S3_SECRET_ACCESS_KEY")?,
            })
        }
        None => get("HUDDLE_FILES_DIR").map_or(d.store, |dir| StoreConfig::Local(dir.into())),
    };
    Ok(FilesConfig {
        store,
        max_bytes: positive(get, "HUDDLE_FILES_MAX_BYTES", d.max_bytes)?,
        link_period: secs(get, "HUDDLE_FILE_LINK_SECS", d.link_period)?,
        sweep_interval: secs(get, "HUDDLE_FILES_SWEEP_SECS", d.sweep_interval)?,
    })
}

fn realtime(
    get: &impl Fn(&str) -> Option<String>,
    d: RealtimeConfig,
) -> Result<RealtimeConfig, ConfigError> {
    Ok(RealtimeConfig {
        auth_timeout: millis(get, "HUDDLE_WS_AUTH_TIMEOUT_MS", d.auth_timeout)?,
        heartbeat_interval: millis(get, "HUDDLE_WS_HEARTBEAT_MS", d.heartbeat_interval)?,
        client_timeout: millis(get, "HUDDLE_WS_CLIENT_TIMEOUT_MS", d.client_timeout)?,
        max_frame_bytes: positive(get, "HUDDLE_WS_MAX_FRAME_BYTES", d.max_frame_bytes)?,
        outbound_queue: positive(get, "HUDDLE_WS_OUTBOUND_QUEUE", d.outbound_queue)?,
        send_rate_per_sec: num(get, "HUDDLE_WS_SEND_RATE", d.send_rate_per_sec)?,
        send_burst: num(get, "HUDDLE_WS_SEND_BURST", d.send_burst)?,
        typing_interval: millis(get, "HUDDLE_WS_TYPING_INTERVAL_MS", d.typing_interval)?,
        gap_wait: millis(get, "HUDDLE_WS_GAP_WAIT_MS", d.gap_wait)?,
        sync_grace: millis(get, "HUDDLE_WS_SYNC_GRACE_MS", d.sync_grace)?,
        max_sockets_per_user: num(
            get,
            "HUDDLE_WS_MAX_SOCKETS_PER_USER",
            d.max_sockets_per_user,
        )?,
        drain_quiet: millis(get, "HUDDLE_WS_DRAIN_QUIET_MS", d.drain_quiet)?,
        drain_limit: millis(get, "HUDDLE_WS_DRAIN_LIMIT_MS", d.drain_limit)?,
        // 0 turns the gate off.
        fanout_lag_limit: Some(millis(
            get,
            "HUDDLE_WS_FANOUT_LAG_MS",
            d.fanout_lag_limit.unwrap_or_default(),
        )?)
        .filter(|limit| !limit.is_zero()),
    })
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let v: u64 = num(
        get,
        name,
        u64::try_from(default.as_millis()).unwrap_or(u64::MAX),
    )?;
    Ok(Duration::from_millis(v))
}

fn invalid(name: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason,
    }
}

fn parse<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(name, value, "not a valid number"))
}

fn num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    get(name).map_or(Ok(default), |v| parse(name, &v))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    let v = num(get, name, default)?;
    if v <= T::default() {
        return Err(invalid(name, "0", "must be positive"));
    }
    Ok(v)
}

fn secs(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let v: u64 = num(get, name, default.as_secs())?;
    if v == 0 {
        return Err(invalid(name, "0", "must be positive"));
    }
    Ok(Duration::from_secs(v))
}

fn flag(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(invalid(name, other, "use true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_a_development_sqlite_server() {
        let c = from(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://huddle.db");
        assert_eq!(c.port, 8080);
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.bcrypt_cost, 12);
        assert!(c.jwt_secret.is_none());
    }

    #[test]
    fn production_requires_a_secret() {
        assert_eq!(
            from(&[("HUDDLE_ENV", "production")]).unwrap_err(),
            ConfigError::MissingSecret
        );
        let secret = "x".repeat(32);
        let c = from(&[("HUDDLE_ENV", "production"), ("HUDDLE_JWT_SECRET", &secret)]).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert!(from(&[("HUDDLE_JWT_SECRET", "short")]).is_err());
    }

    #[test]
    fn values_are_parsed_and_checked() {
        let c = from(&[
            ("HUDDLE_PORT", "9000"),
            ("DATABASE_URL", "postgres://localhost/huddle"),
            ("HUDDLE_BCRYPT_COST", "4"),
            ("HUDDLE_ACCESS_TOKEN_TTL_SECS", "60"),
            ("HUDDLE_LOG_FORMAT", "json"),
            ("HUDDLE_TRUST_PROXY_HEADERS", "true"),
        ])
        .unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.bcrypt_cost, 4);
        assert_eq!(c.access_token_ttl, Duration::from_secs(60));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.trust_proxy_headers);
        assert!(from(&[("HUDDLE_PORT", "eighty")]).is_err());
        assert!(from(&[("HUDDLE_BCRYPT_COST", "3")]).is_err());
        assert!(from(&[("HUDDLE_DB_POOL_SIZE", "0")]).is_err());
        assert!(from(&[("HUDDLE_DB_WRITERS", "0")]).is_err());
        assert_eq!(
            from(&[("HUDDLE_DB_WRITERS", "3")]).unwrap().db_writers,
            Some(3)
        );
        assert_eq!(from(&[]).unwrap().db_writers, None);
        assert!(from(&[("HUDDLE_ENV", "staging")]).is_err());
        assert!(from(&[("HUDDLE_ACCESS_TOKEN_TTL_SECS", "0")]).is_err());
    }

    #[test]
    fn files_go_to_a_directory_or_a_bucket() {
        let c = from(&[]).unwrap();
        assert_eq!(c.files.store, StoreConfig::Local("huddle-files".into()));
        assert_eq!(c.files.max_bytes, 25 * 1024 * 1024);
        let c = from(&[
            ("HUDDLE_FILES_DIR", "/srv/f"),
            ("HUDDLE_FILES_MAX_BYTES", "1000"),
        ])
        .unwrap();
        assert_eq!(
            (c.files.store, c.files.max_bytes),
            (StoreConfig::Local("/srv/f".into()), 1000)
        );
        let s3 = [
            ("HUDDLE_FILES_S3_ENDPOINT", "http://127.0.0.1:3900"),
            ("HUDDLE_FILES_S3_BUCKET", "huddle"),
            ("HUDDLE_FILES_S3_ACCESS_KEY_ID", "GK1"),
            ("HUDDLE_FILES_S3_SECRET_ACCESS_KEY", "secret"),
        ];
        let StoreConfig::S3(b) = from(&s3).unwrap().files.store else {
            panic!("not S3")
        };
        assert_eq!(
            (b.bucket.as_str(), b.region.as_str()),
            ("huddle", "us-east-1")
        );
        assert!(
            !format!("{b:?}").contains("secret\""),
            "the key is never printed"
        );
        assert!(from(&s3[..2]).is_err(), "keys are required");
        assert!(from(&[("HUDDLE_FILES_MAX_BYTES", "0")]).is_err());
    }

    #[test]
    fn socket_settings() {
        let c = from(&[
            ("HUDDLE_WS_HEARTBEAT_MS", "250"),
            ("HUDDLE_WS_SEND_RATE", "2.5"),
        ])
        .unwrap();
        assert_eq!(c.realtime.heartbeat_interval, Duration::from_millis(250));
        assert_eq!(c.realtime.send_rate_per_sec, 2.5);
        assert_eq!(c.realtime.max_frame_bytes, 16 * 1024);
        assert!(from(&[("HUDDLE_WS_OUTBOUND_QUEUE", "0")]).is_err());
    }

    #[test]
    fn the_send_gate_is_on_unless_turned_off() {
        let lag = |pairs: &[(&str, &str)]| from(pairs).map(|c| c.realtime.fanout_lag_limit);
        assert_eq!(lag(&[]).unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(
            lag(&[("HUDDLE_WS_FANOUT_LAG_MS", "1000")]).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(lag(&[("HUDDLE_WS_FANOUT_LAG_MS", "0")]).unwrap(), None);
        assert!(lag(&[("HUDDLE_WS_FANOUT_LAG_MS", "-1")]).is_err());
        assert!(lag(&[("HUDDLE_WS_FANOUT_LAG_MS", "soon")]).is_err());
    }
}
