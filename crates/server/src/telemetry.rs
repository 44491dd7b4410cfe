use tracing_subscriber::{fmt, EnvFilter};

use crate::LogFormat;

/// Logs to stdout, filtered by `RUST_LOG` (default `info`). Call once, at start-up.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
