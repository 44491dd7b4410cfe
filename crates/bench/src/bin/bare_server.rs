//! The bare broadcast server as its own process, so its CPU and memory are measured apart
//! from the load generator's. `bare-server --port 9000`; `GET /ws?room=N`.
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(
    about = "WebSocket broadcast to rooms: no auth, no database, no JSON (Huddle's baseline)"
)]
struct Args {
    #[arg(long, default_value_t = 9000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

fn main() -> huddle_bench::Result<()> {
    let args = Args::parse();
    let limit = huddle_bench::raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, limit))
}

async fn serve(args: Args, limit: u64) -> huddle_bench::Result<()> {
    {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
        println!(
            "bare-server listening on {}:{} (open files limit {limit})",
            args.host, args.port
        );
        let stats = huddle_bench::bare::spawn(listener);
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let d = stats.deliveries.load(std::sync::atomic::Ordering::Relaxed);
            if d != last {
                println!(
                    "connections {} deliveries {d} drops {}",
                    stats.connections.load(std::sync::atomic::Ordering::Relaxed),
                    stats.drops.load(std::sync::atomic::Ordering::Relaxed)
                );
                last = d;
            }
        }
    }
}
