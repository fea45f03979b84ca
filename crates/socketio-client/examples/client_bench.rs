//! Load from the client's side: `SOCKETS` sockets (each on its own connection) keep
//! `IN_FLIGHT` acknowledged `echo` emits each in flight for `SECONDS`, against a server that
//! acknowledges `echo` with its arguments (the `bench_server` example, or any server of
//! `bench/`). Prints one JSON line: acknowledged echoes, the client's CPU seconds (user +
//! system, from /proc/self/stat) and echoes per client CPU-second. One thread, as a Node
//! client has. `bench/socketio-client.sh` runs it beside Node's `socket.io-client`.
//!
//! With `IN_FLIGHT` 0 it measures memory instead: the growth of the process's RSS from
//! before the sockets connect to `SECONDS` after, divided by `SOCKETS`.
//!
//! ```sh
//! cargo run --release -p switchboard-socketio-client --example client_bench -- \
//!     http://127.0.0.1:3400 100 4 8 websocket
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_socketio_client::{socket, ClientConfig, TransportKind, Value};

/// The resident set of this process, in bytes (from /proc/self/status).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which ends with the last ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let url = arg(0, "http://127.0.0.1:3400");
    let sockets: usize = arg(1, "100").parse()?;
    let in_flight: usize = arg(2, "1").parse()?;
    let seconds: f64 = arg(3, "8").parse()?;
    let transports = match arg(4, "websocket").as_str() {
        "polling" => vec![TransportKind::Polling],
        _ => vec![TransportKind::WebSocket],
    };

    let config = ClientConfig {
        transports,
        ..ClientConfig::default()
    };
    let rss_before = rss_bytes();
    let mut connected = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let socket = socket(&url, config.clone())?;
        socket.connect();
        connected.push(socket);
    }
    for socket in &connected {
        socket.wait_connected().await?;
    }

    if in_flight == 0 {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let grown = rss_bytes().saturating_sub(rss_before);
        println!(
            "{{\"client\":\"switchboard-socketio-client\",\"sockets\":{sockets},\"idle_seconds\":{seconds},\"rss_growth_bytes\":{grown},\"rss_per_socket_bytes\":{}}}",
            grown / sockets.max(1) as u64
        );
        return Ok(());
    }

    let acked = Arc::new(AtomicU64::new(0));
    let payload = Value::from("x".repeat(32));
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut loops = tokio::task::JoinSet::new();
    for socket in &connected {
        for _ in 0..in_flight {
            let (socket, acked, payload) = (socket.clone(), acked.clone(), payload.clone());
            loops.spawn(async move {
                while Instant::now() < deadline {
                    let echo = socket.emit_args_with_ack(
                        "echo",
                        vec![payload.clone()],
                        Duration::from_secs(10),
                    );
                    if echo.await.is_err() {
                        break;
                    }
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    while loops.join_next().await.is_some() {}
    let cpu = cpu_seconds() - cpu_start;
    let elapsed = start.elapsed().as_secs_f64();
    let acked = acked.load(Ordering::Relaxed);
    println!(
        "{{\"client\":\"switchboard-socketio-client\",\"sockets\":{sockets},\"in_flight\":{in_flight},\"seconds\":{elapsed:.2},\"acked\":{acked},\"cpu_seconds\":{cpu:.2},\"acked_per_cpu_second\":{:.0}}}",
        acked as f64 / cpu.max(0.01)
    );
    for socket in &connected {
        socket.disconnect();
    }
    Ok(())
}
