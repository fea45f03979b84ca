//! The `switchboard` binary: `serve` runs the server, `bench` measures it, `turn` runs the
//! STUN/TURN server alone.

mod app;
mod bench;
mod config;
mod echo;
mod limits;
mod pubsub;
mod redis_adapter;
mod rooms;
mod rtc;
mod serve;
mod socketio;
mod turn;
mod web;
mod workers;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Switchboard: WebSocket, Socket.IO and WebRTC on one real-time server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTP, Socket.IO at /socket.io/, /ws publish/subscribe, /ws/echo, the chat
    /// demo at /, /healthz, /metrics).
    Serve(Box<config::ServeArgs>),
    /// Load-test a WebSocket or Socket.IO server: echo or broadcast throughput and latency, idle
    /// memory.
    Bench(bench::BenchArgs),
    /// Run the STUN/TURN server alone (UDP, TCP and TLS).
    Turn(Box<turn::TurnCommand>),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_main(*args),
        Command::Bench(args) => bench::main(args),
        Command::Turn(args) => turn::main(*args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchboard: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve_main(args: config::ServeArgs) -> Result<(), String> {
    let config = config::ServeConfig::load(args)?;
    init_logging(&config.log_level)?;
    serve::run(config)
}

/// Logs to stderr (stdout carries the ready line) with a tracing filter.
fn init_logging(level: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| format!("bad log level: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
