//! Socket.IO modes, over the WebSocket transport (Engine.IO 4, Socket.IO 5), against any
//! server whose namespace `/` acknowledges `echo` with its arguments and relays `broadcast` to
//! every other socket (`bench/node-socketio/server.mjs`, `bench/peers/socketioxide-server`,
//! the `bench_server` example of switchboard-socketio):
//!
//! - `sio-echo`: every socket keeps `in_flight` `echo` emits waiting for their acks;
//! - `sio-broadcast`: one sender emits `broadcast`, `connections` sockets receive it;
//! - `sio-idle`: open sockets joined to `/` and report the server's memory per socket.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_ws::{Event, Message};
use switchboard_ws_tokio::{connect, Stream, WebSocket};
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore};

use super::procstat::rss_bytes;
use super::report::Recorder;
use super::{client_config, nanos_since, sleep_secs, worker, BenchArgs, Report};

/// The Engine.IO WebSocket URL for `--url`: used as given when it names `/socket.io/`,
/// otherwise that path on the URL's host.
pub(super) fn sio_url(url: &str) -> String {
    if url.contains("/socket.io/") {
        return url.to_owned();
    }
    let (scheme, rest) = url.split_once("://").unwrap_or(("ws", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}/socket.io/?EIO=4&transport=websocket")
}

/// Opens a WebSocket and joins namespace `/`: waits for the open packet, sends `40`, waits
/// for the server's CONNECT.
async fn join(url: &str) -> Result<WebSocket<Stream>, String> {
    let (mut ws, _) = connect(url, client_config())
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    let mut opened = false;
    loop {
        let text = match ws.next_event().await {
            Ok(Some(Event::Message(Message::Text(text)))) => text,
            Ok(Some(Event::Message(_) | Event::Ping(_) | Event::Pong(_))) => continue,
            other => return Err(format!("connection ended during the handshake: {other:?}")),
        };
        match text.as_bytes().as_ref() {
            [b'0', ..] if !opened => {
                opened = true;
                ws.send(Message::text("40"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            [b'4', b'0', ..] => return Ok(ws),
            [b'2', ..] => ws.queue(Message::text("3")).map_err(|e| e.to_string())?,
            _ => return Err(format!("unexpected packet during the handshake: {text:?}")),
        }
    }
}

/// Joins `n` sockets, at most `ramp` handshakes at a time, socket `i` on worker `i`.
async fn join_all(
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
            join(&url).await
        }));
    }
    let mut sockets = Vec::with_capacity(n);
    for task in tasks {
        sockets.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(sockets)
}

/// A string argument of `size` bytes starting with the send time in 16 hex digits.
pub(super) fn stamped(size: usize, sent: u64) -> String {
    let mut s = String::with_capacity(size.max(16));
    push_stamp(&mut s, size, sent);
    s
}

/// Appends what [`stamped`] returns, without `fmt`: the load generator must cost less per
/// message than the servers it measures, or they stop being saturated.
fn push_stamp(out: &mut String, size: usize, sent: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(HEX[(sent >> (shift * 4)) as usize & 0xf]));
    }
    out.extend(std::iter::repeat_n('x', size.saturating_sub(16)));
}

/// The echo emit `42<id>["echo","<stamp>"]`, in one exact allocation.
fn echo_packet(ack_id: u64, size: usize, sent: u64) -> String {
    let digits = ack_id.checked_ilog10().map_or(1, |d| d as usize + 1);
    let mut out = String::with_capacity(2 + digits + r#"["echo",""]"#.len() + size.max(16));
    // Writing to a String cannot fail.
    let _ = write!(out, "42{ack_id}");
    out.push_str(r#"["echo",""#);
    push_stamp(&mut out, size, sent);
    out.push_str(r#""]"#);
    out
}

/// The send time in the first string argument of an event or ack (`…["<16 hex>…`).
pub(super) fn stamp_of(packet: &str) -> Option<u64> {
    let start = packet.find('"')? + 1;
    let rest = &packet[start..];
    // An event's first string is its name: skip it.
    let rest = if packet.as_bytes().get(1) == Some(&b'2') {
        let after_name = rest.find('"')? + 1;
        let next = rest[after_name..].find('"')? + after_name + 1;
        &rest[next..]
    } else {
        rest
    };
    u64::from_str_radix(rest.get(..16)?, 16).ok()
}

pub(super) async fn echo(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let url = sio_url(&args.url);
    let sockets = join_all(&url, args.connections, args.ramp, workers).await?;
    let recorder = Arc::new(Recorder::new()?);
    let origin = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(sockets.len());
    for (i, ws) in sockets.into_iter().enumerate() {
        let recorder = recorder.clone();
        let (size, k) = (args.size, args.in_flight);
        tasks.push(worker(workers, i).spawn(drive_echo(ws, i, recorder, origin, size, k)));
    }
    let mut report = Report::new(args, "sio-echo");
    report.measure(args, &recorder, &tasks).await;
    Ok(report)
}

async fn drive_echo(
    mut ws: WebSocket<Stream>,
    id: usize,
    recorder: Arc<Recorder>,
    origin: tokio::time::Instant,
    size: usize,
    in_flight: usize,
) {
    let mut next_ack = 0u64;
    let mut emit = |ws: &mut WebSocket<Stream>, now: u64| {
        let packet = echo_packet(next_ack, size, now);
        next_ack += 1;
        ws.queue(Message::text(packet)).is_ok()
    };
    for _ in 0..in_flight {
        if !emit(&mut ws, nanos_since(origin)) {
            return;
        }
    }
    loop {
        let text = match ws.next_event().await {
            Ok(Some(Event::Message(Message::Text(text)))) => text,
            Ok(Some(Event::Closed(_)) | None) | Err(_) => return,
            Ok(Some(_)) => continue,
        };
        if text.starts_with("43") {
            let now = nanos_since(origin);
            if let Some(sent) = stamp_of(&text) {
                recorder.record(id, now.saturating_sub(sent) / 1000);
            }
            if recorder.stopped() || !emit(&mut ws, now) {
                return;
            }
        } else if text.as_str() == "2" && ws.queue(Message::text("3")).is_err() {
            return;
        }
    }
}

/// Deliveries so far, and a wake-up for the sender each time a broadcast may be complete.
struct Progress {
    delivered: AtomicU64,
    wake: Notify,
}

pub(super) async fn broadcast(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let url = sio_url(&args.url);
    let receivers = join_all(&url, args.connections, args.ramp, workers).await?;
    let sender_url = args
        .sender_url
        .as_deref()
        .map_or_else(|| url.clone(), sio_url);
    let mut sender = worker(workers, args.connections)
        .spawn(async move { join(&sender_url).await })
        .await
        .map_err(|e| e.to_string())??;
    let recorder = Arc::new(Recorder::new()?);
    let progress = Arc::new(Progress {
        delivered: AtomicU64::new(0),
        wake: Notify::new(),
    });
    let origin = tokio::time::Instant::now();
    let n = args.connections as u64;
    let mut tasks = Vec::with_capacity(receivers.len() + 1);
    for (i, ws) in receivers.into_iter().enumerate() {
        let (recorder, progress) = (recorder.clone(), progress.clone());
        tasks.push(worker(workers, i).spawn(receive(ws, i, recorder, progress, origin, n)));
    }
    let (k, size, rec, prog) = (
        args.in_flight as u64,
        args.size,
        recorder.clone(),
        progress.clone(),
    );
    tasks.push(worker(workers, args.connections).spawn(async move {
        let mut sent = 0u64;
        loop {
            // At most k broadcasts not yet delivered to everyone.
            while prog.delivered.load(Ordering::Relaxed) + k * n < (sent + 1) * n {
                let woke = tokio::time::timeout(Duration::from_millis(100), prog.wake.notified());
                tokio::select! {
                    w = woke => if w.is_err() && rec.stopped() { return },
                    event = sender.next_event() => match event {
                        Ok(Some(Event::Message(Message::Text(t)))) if t.as_str() == "2" => {
                            let _ = sender.queue(Message::text("3"));
                        }
                        Ok(Some(Event::Closed(_)) | None) | Err(_) => return,
                        Ok(Some(_)) => {}
                    },
                }
            }
            if rec.stopped() {
                return;
            }
            let packet = format!(
                r#"42["broadcast","{}"]"#,
                stamped(size, nanos_since(origin))
            );
            if sender.send(Message::text(packet)).await.is_err() {
                return;
            }
            sent += 1;
        }
    }));
    let mut report = Report::new(args, "sio-broadcast");
    report.measure(args, &recorder, &tasks).await;
    report.notes.push(format!(
        "{:.1} broadcasts/s fanned out to {} sockets",
        report.messages_per_second / args.connections as f64,
        args.connections
    ));
    Ok(report)
}

async fn receive(
    mut ws: WebSocket<Stream>,
    id: usize,
    recorder: Arc<Recorder>,
    progress: Arc<Progress>,
    origin: tokio::time::Instant,
    n: u64,
) {
    loop {
        let text = match ws.next_event().await {
            Ok(Some(Event::Message(Message::Text(text)))) => text,
            Ok(Some(Event::Closed(_)) | None) | Err(_) => return,
            Ok(Some(_)) => continue,
        };
        if text.starts_with("42") {
            if let Some(sent) = stamp_of(&text) {
                recorder.record(id, nanos_since(origin).saturating_sub(sent) / 1000);
            }
            // Wake the sender once per complete fan-out, not per delivery.
            if (progress.delivered.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(n) {
                progress.wake.notify_one();
            }
        } else if text.as_str() == "2" && ws.queue(Message::text("3")).is_err() {
            return;
        }
    }
}

pub(super) async fn idle(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let pid = args.server_pid.ok_or("sio-idle mode needs --server-pid")?;
    let url = sio_url(&args.url);
    let before = rss_bytes(pid).ok_or("cannot read the server's memory")?;
    let sockets = join_all(&url, args.connections, args.ramp, workers).await?;
    sleep_secs(args.warmup.max(1.0)).await;
    let after = rss_bytes(pid).ok_or("cannot read the server's memory")?;
    let mut report = Report {
        in_flight: 0,
        server_rss_bytes: Some(after),
        server_rss_per_connection: Some(after.saturating_sub(before) as f64 / sockets.len() as f64),
        ..Report::new(args, "sio-idle")
    };
    report.notes.push(format!(
        "server RSS {:.1} MiB before, {:.1} MiB with {} idle Socket.IO sockets (websocket)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        sockets.len()
    ));
    drop(sockets);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_in_events_and_acks() {
        let s = stamped(32, 0xabc);
        assert_eq!(s.len(), 32);
        assert_eq!(stamp_of(&format!(r#"4317["{s}"]"#)), Some(0xabc));
        assert_eq!(stamp_of(&format!(r#"42["broadcast","{s}"]"#)), Some(0xabc));
        assert_eq!(stamp_of("43["), None);
    }

    #[test]
    fn echo_packets_are_exact() {
        for (id, size, sent) in [
            (0, 32, 0xabc),
            (9, 8, 1),
            (10, 32, u64::MAX),
            (12345, 100, 7),
            (u64::MAX, 32, 5),
        ] {
            let packet = echo_packet(id, size, sent);
            let expected = format!(r#"42{id}["echo","{}"]"#, stamped(size, sent));
            assert_eq!(packet, expected);
            assert_eq!(packet.len(), packet.capacity(), "{packet}");
            assert_eq!(stamp_of(&packet), Some(sent));
        }
    }

    #[test]
    fn urls_default_to_the_socket_io_path() {
        assert_eq!(
            sio_url("ws://127.0.0.1:3000/ws/echo"),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        let full = "ws://h:1/socket.io/?EIO=4&transport=websocket";
        assert_eq!(sio_url(full), full);
    }
}
