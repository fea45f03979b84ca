//! `switchboard bench`: load generator for WebSocket servers (ours and others).
//!
//! Modes: `echo` (each connection keeps messages in flight against an echo endpoint),
//! `broadcast` (one publisher, N subscribers on the `/ws` JSON protocol) and `idle` (open N
//! connections and report the server's memory per connection), and the same three for
//! Socket.IO (`sio-echo`, `sio-broadcast`, `sio-idle`), plus `sio-polling` (echo over HTTP
//! long-polling). Reports messages per second,
//! latency percentiles, the generator's CPU use and, given `--server-pid`, the server's CPU
//! use and messages per server CPU-second.

mod broadcast;
mod echo;
mod idle;
mod procstat;
mod report;
mod sio;
mod sio_polling;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use switchboard_ws::Config;
use switchboard_ws_tokio::{connect, ClientConfig, Stream, WebSocket};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::workers::Workers;

pub(crate) use report::Report;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Echo round trips.
    Echo,
    /// One publisher fanning out to every subscriber of a room.
    Broadcast,
    /// Idle connections: the server's memory per connection.
    Idle,
    /// Socket.IO: `echo` emits acknowledged by the server (WebSocket transport).
    SioEcho,
    /// Socket.IO: one sender's `broadcast` relayed to every other socket.
    SioBroadcast,
    /// Socket.IO: idle sockets joined to `/`: the server's memory per socket.
    SioIdle,
    /// Socket.IO over HTTP long-polling: `echo` emits acknowledged by the server.
    SioPolling,
}

/// `switchboard bench` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    /// Measurement mode.
    #[arg(long, value_enum, default_value = "echo")]
    pub(crate) mode: Mode,
    /// Server URL: the echo endpoint for `echo`, the pub/sub endpoint for `broadcast`.
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws/echo")]
    pub(crate) url: String,
    /// `sio-broadcast` only: the sender connects here rather than to `--url`, so that the
    /// broadcasts cross a cluster (another server sharing the same Redis, say).
    #[arg(long)]
    pub(crate) sender_url: Option<String>,
    /// Connections (subscribers in broadcast mode).
    #[arg(long, short = 'n', default_value_t = 100)]
    pub(crate) connections: usize,
    /// Message payload size in bytes (at least 16).
    #[arg(long, short = 's', default_value_t = 32)]
    pub(crate) size: usize,
    /// Messages in flight per connection (echo) or publishes in flight (broadcast).
    #[arg(long, short = 'k', default_value_t = 1)]
    pub(crate) in_flight: usize,
    /// Seconds to measure.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) warmup: f64,
    /// Process id of the server, to report its CPU use and memory.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Connections opened at once while ramping up.
    #[arg(long, default_value_t = 128)]
    pub(crate) ramp: usize,
    /// Send text frames instead of binary in echo mode.
    #[arg(long)]
    pub(crate) text: bool,
    /// A label for the report (for example the server's name).
    #[arg(long, default_value = "")]
    pub(crate) label: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs the benchmark and prints its report.
pub(crate) fn main(args: BenchArgs) -> Result<(), String> {
    if args.size < 16 {
        return Err(String::from(
            "--size must be at least 16 bytes (a timestamp travels in each message)",
        ));
    }
    if args.connections == 0 || args.in_flight == 0 {
        return Err(String::from(
            "--connections and --in-flight must be at least 1",
        ));
    }
    crate::limits::raise_fd_limit();
    // The same thread-per-core layout as the server, so the generator is fair to every
    // connection and its own tail latency does not pollute the measurement.
    let workers =
        Workers::start(Workers::default_count(), "sb-bench").map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let handles = workers.handles().to_vec();
    let report = runtime.block_on(async {
        match args.mode {
            Mode::Echo => echo::run(&args, &handles).await,
            Mode::Broadcast => broadcast::run(&args, &handles).await,
            Mode::Idle => idle::run(&args, &handles).await,
            Mode::SioEcho => sio::echo(&args, &handles).await,
            Mode::SioBroadcast => sio::broadcast(&args, &handles).await,
            Mode::SioIdle => sio::idle(&args, &handles).await,
            Mode::SioPolling => sio_polling::echo(&args, &handles).await,
        }
    });
    drop(runtime);
    workers.stop();
    let report = report?;
    // A closed stdout (`| head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = if args.json {
        writeln!(out, "{}", report.to_json())
    } else {
        writeln!(out, "{report}")
    };
    Ok(())
}

/// Client settings for load: no keep-alive pings, no compression, large limits.
fn client_config() -> ClientConfig {
    ClientConfig {
        config: Config {
            ping_interval: None,
            ..Config::default()
        },
        ..ClientConfig::default()
    }
}

/// Opens `n` connections to `url`, at most `ramp` handshakes at a time. Connection `i` is
/// opened on worker `i % workers`; drive it there too (see [`worker`]).
async fn open_connections(
    url: &str,
    n: usize,
    ramp: usize,
    workers: &[Handle],
) -> Result<Vec<WebSocket<Stream>>, String> {
    let permits = Arc::new(Semaphore::new(ramp.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permits = permits.clone();
        let url = url.to_owned();
        tasks.push(worker(workers, i).spawn(async move {
            let _permit = permits.acquire_owned().await;
            connect(&url, client_config()).await.map(|(ws, _)| ws)
        }));
    }
    let mut sockets = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(Ok(ws)) => sockets.push(ws),
            Ok(Err(err)) => return Err(format!("connecting to {url}: {err}")),
            Err(err) => return Err(format!("connect task failed: {err}")),
        }
    }
    Ok(sockets)
}

/// The worker that owns connection `i`.
fn worker(workers: &[Handle], i: usize) -> &Handle {
    &workers[i % workers.len()]
}

/// Nanoseconds since `origin`, as carried in messages.
fn nanos_since(origin: tokio::time::Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// Sleeps `secs` seconds (fractional).
async fn sleep_secs(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
}
