use huddle_server::{init_tracing, Application, Config};

#[actix_web::main]
async fn main() {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("huddle: configuration error: {e}");
            std::process::exit(2);
        }
    };
    init_tracing(config.log_format);
    raise_open_files_limit();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "could not start");
            eprintln!("huddle: could not start: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = app.run_until_stopped().await {
        tracing::error!(error = %e, "server failed");
        std::process::exit(1);
    }
}

/// Every socket is a file descriptor, and the usual soft limit (1024) would refuse the
/// 1025th connection: raise it to the hard limit. Failing to is not fatal.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
}
