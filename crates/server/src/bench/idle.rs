//! Idle mode: the server's resident memory per open WebSocket.

use std::time::Duration;

use tokio::runtime::Handle;

use super::procstat::rss_bytes;
use super::{open_connections, sleep_secs, BenchArgs, Report};

pub(super) async fn run(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let pid = args.server_pid.ok_or("idle mode needs --server-pid")?;
    let before = rss_bytes(pid).ok_or("cannot read the server's memory")?;
    let sockets = open_connections(&args.url, args.connections, args.ramp, workers).await?;
    // Let the server finish setting up every connection before reading its memory.
    sleep_secs(args.warmup.max(1.0)).await;
    let after = rss_bytes(pid).ok_or("cannot read the server's memory")?;
    let mut report = Report {
        in_flight: 0,
        server_rss_bytes: Some(after),
        server_rss_per_connection: Some(after.saturating_sub(before) as f64 / sockets.len() as f64),
        ..Report::new(args, "idle")
    };
    report.notes.push(format!(
        "server RSS {:.1} MiB before, {:.1} MiB with {} idle connections",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        sockets.len()
    ));
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(sockets);
    Ok(report)
}
