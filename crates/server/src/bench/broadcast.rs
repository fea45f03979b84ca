//! Broadcast mode: one publisher, `connections` subscribers of one room on the `/ws` JSON
//! protocol. Counts deliveries (messages received by subscribers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard_ws::{Event, Message};
use switchboard_ws_tokio::{connect, Stream, WebSocket};
use tokio::runtime::Handle;
use tokio::sync::Notify;

use super::report::Recorder;
use super::{client_config, nanos_since, open_connections, worker, BenchArgs, Report};

const ROOM: &str = "bench";

/// Deliveries so far, and a wake-up for the publisher each time a publish may be complete.
struct Progress {
    delivered: AtomicU64,
    wake: Notify,
}

pub(super) async fn run(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let subscribers = open_connections(&args.url, args.connections, args.ramp, workers).await?;
    // Subscribe on each connection's own worker, all at once.
    let mut subscribing = Vec::with_capacity(subscribers.len());
    for (i, mut ws) in subscribers.into_iter().enumerate() {
        subscribing
            .push(worker(workers, i).spawn(async move { subscribe(&mut ws).await.map(|()| ws) }));
    }
    let mut subscribers = Vec::with_capacity(subscribing.len());
    for task in subscribing {
        subscribers.push(task.await.map_err(|e| e.to_string())??);
    }
    let url = args.url.clone();
    let (mut publisher, _) = worker(workers, args.connections)
        .spawn(async move { connect(&url, client_config()).await })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("publisher: {e}"))?;
    let recorder = Arc::new(Recorder::new()?);
    let progress = Arc::new(Progress {
        delivered: AtomicU64::new(0),
        wake: Notify::new(),
    });
    let origin = tokio::time::Instant::now();
    let n = args.connections as u64;
    let mut tasks = Vec::with_capacity(subscribers.len() + 1);
    for (i, ws) in subscribers.into_iter().enumerate() {
        tasks.push(tokio::spawn(receive(
            ws,
            i,
            recorder.clone(),
            progress.clone(),
            origin,
            n,
        )));
    }
    let pad = "x".repeat(args.size.saturating_sub(40));
    let (k, rec, prog) = (args.in_flight as u64, recorder.clone(), progress.clone());
    tasks.push(worker(workers, args.connections).spawn(async move {
        let mut published = 0u64;
        loop {
            // At most k publishes not yet delivered to everyone.
            while prog.delivered.load(Ordering::Relaxed) + k * n < (published + 1) * n {
                if tokio::time::timeout(Duration::from_millis(100), prog.wake.notified())
                    .await
                    .is_err()
                    && rec.stopped()
                {
                    return;
                }
            }
            if rec.stopped() {
                return;
            }
            let body = format!(
                r#"{{"type":"publish","room":"{ROOM}","data":{{"t":{},"p":"{pad}"}}}}"#,
                nanos_since(origin)
            );
            if publisher.send(Message::text(body)).await.is_err() {
                return;
            }
            published += 1;
        }
    }));
    let mut report = Report::new(args, "broadcast");
    report.measure(args, &recorder, &tasks).await;
    report.notes.push(format!(
        "{:.1} publishes/s fanned out to {} subscribers",
        report.messages_per_second / args.connections as f64,
        args.connections
    ));
    Ok(report)
}

/// Subscribes and waits until the server has processed it (an invalid request's error reply
/// comes back after the subscribe, on the same ordered connection).
async fn subscribe(ws: &mut WebSocket<Stream>) -> Result<(), String> {
    let request = format!(r#"{{"type":"subscribe","room":"{ROOM}"}}"#);
    ws.send(Message::text(request))
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::text("{}"))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next_event()).await {
            Ok(Ok(Some(Event::Message(m)))) if m.is_text() => return Ok(()),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) | Ok(Err(_)) => {
                return Err(String::from("subscriber closed while subscribing"))
            }
            Err(_) => return Err(String::from("no reply to subscribe within 10 s")),
        }
    }
}

/// Extracts the publish time from `…"t":123,…`.
fn sent_time(text: &str) -> Option<u64> {
    let start = text.find("\"t\":")? + 4;
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
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
        match ws.next_event().await {
            Ok(Some(Event::Message(Message::Text(text)))) => {
                if let Some(sent) = sent_time(&text) {
                    recorder.record(id, nanos_since(origin).saturating_sub(sent) / 1000);
                }
                let before = progress.delivered.fetch_add(1, Ordering::Relaxed);
                if (before + 1).is_multiple_of(n) {
                    progress.wake.notify_one();
                }
            }
            Ok(Some(Event::Closed(_))) | Ok(None) | Err(_) => return,
            Ok(Some(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_time_is_found_in_the_message() {
        let text = r#"{"type":"message","room":"bench","data":{"t":987654321,"p":"xx"}}"#;
        assert_eq!(sent_time(text), Some(987_654_321));
        assert_eq!(sent_time("{}"), None);
    }
}
