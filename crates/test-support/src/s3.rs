//! The S3-compatible server the shared-storage tests use: Garage, as `.ci/garage` installs and
//! starts it (one node on `127.0.0.1:3900`, a bucket and a key of its own). `HUDDLE_TEST_S3_*`
//! point the tests at another server.
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use huddle_server::S3Config;

/// The key `.ci/garage` imports. A test key for a throwaway local bucket, not a secret.
pub const GARAGE_KEY_ID: &str = "GK0123456789abcdef01234567";
pub const GARAGE_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The bucket's settings: `HUDDLE_TEST_S3_{ENDPOINT,BUCKET,REGION,ACCESS_KEY_ID,SECRET_ACCESS_KEY}`
/// or what `.ci/garage` sets up.
pub fn s3_config() -> S3Config {
    S3Config {
        endpoint: var("HUDDLE_TEST_S3_ENDPOINT", "http://127.0.0.1:3900"),
        bucket: var("HUDDLE_TEST_S3_BUCKET", "huddle-test"),
        region: var("HUDDLE_TEST_S3_REGION", "garage"),
        access_key_id: var("HUDDLE_TEST_S3_ACCESS_KEY_ID", GARAGE_KEY_ID),
        secret_access_key: var("HUDDLE_TEST_S3_SECRET_ACCESS_KEY", GARAGE_SECRET),
    }
}

/// Whether the S3 tests can run: skips loudly outside CI when nothing listens at the endpoint,
/// fails under CI (where `.ci/run` starts Garage).
pub fn s3_available() -> bool {
    let endpoint = s3_config().endpoint;
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(&endpoint)
        .trim_end_matches('/');
    let ok = host.to_socket_addrs().ok().is_some_and(|mut addrs| {
        addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    });
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("CI=true but no S3-compatible server listens at {endpoint} (bash .ci/garage starts one)");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPING S3 test: nothing listens at {endpoint} (run `bash .ci/garage`, or set HUDDLE_TEST_S3_ENDPOINT) !!!!!!!!\n"
        );
    }
    ok
}

/// The environment that makes a node keep its files in the bucket.
pub fn s3_env(c: &S3Config) -> Vec<(&'static str, String)> {
    vec![
        ("HUDDLE_FILES_S3_ENDPOINT", c.endpoint.clone()),
        ("HUDDLE_FILES_S3_BUCKET", c.bucket.clone()),
        ("HUDDLE_FILES_S3_REGION", c.region.clone()),
        ("HUDDLE_FILES_S3_ACCESS_KEY_ID", c.access_key_id.clone()),
        (
            "HUDDLE_FILES_S3_SECRET_ACCESS_KEY",
            c.secret_access_key.clone(),
        ),
    ]
}
