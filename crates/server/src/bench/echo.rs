//! Echo mode: every connection keeps `in_flight` messages outstanding.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use switchboard_ws::{Event, Message};
use switchboard_ws_tokio::{Stream, WebSocket};

use super::report::Recorder;
use tokio::runtime::Handle;

use super::{nanos_since, open_connections, worker, BenchArgs, Report};

/// A payload of `size` bytes starting with the send time: binary little-endian nanoseconds,
/// or 16 hex digits for text.
fn payload(size: usize, text: bool, sent: u64) -> Message {
    let mut buf = BytesMut::with_capacity(size);
    if text {
        buf.extend_from_slice(format!("{sent:016x}").as_bytes());
        buf.put_bytes(b'x', size - 16);
        Message::text(String::from_utf8_lossy(&buf).into_owned())
    } else {
        buf.put_u64_le(sent);
        buf.put_bytes(0xab, size - 8);
        Message::Binary(buf.freeze())
    }
}

fn sent_time(message: &Message) -> Option<u64> {
    let bytes = message.payload();
    if message.is_text() {
        let hex = std::str::from_utf8(bytes.get(..16)?).ok()?;
        u64::from_str_radix(hex, 16).ok()
    } else {
        Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
    }
}

pub(super) async fn run(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let sockets = open_connections(&args.url, args.connections, args.ramp, workers).await?;
    let recorder = Arc::new(Recorder::new()?);
    let origin = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(sockets.len());
    for (i, ws) in sockets.into_iter().enumerate() {
        let recorder = recorder.clone();
        let (size, text, k) = (args.size, args.text, args.in_flight);
        tasks.push(worker(workers, i).spawn(drive(ws, i, recorder, origin, size, text, k)));
    }
    let mut report = Report::new(args, "echo");
    report.measure(args, &recorder, &tasks).await;
    Ok(report)
}

async fn drive(
    mut ws: WebSocket<Stream>,
    id: usize,
    recorder: Arc<Recorder>,
    origin: tokio::time::Instant,
    size: usize,
    text: bool,
    in_flight: usize,
) {
    for _ in 0..in_flight {
        if ws.queue(payload(size, text, nanos_since(origin))).is_err() {
            return;
        }
    }
    loop {
        match ws.next_event().await {
            Ok(Some(Event::Message(message))) => {
                let now = nanos_since(origin);
                if let Some(sent) = sent_time(&message) {
                    recorder.record(id, now.saturating_sub(sent) / 1000);
                }
                if recorder.stopped() || ws.queue(payload(size, text, now)).is_err() {
                    return;
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
    fn payload_carries_its_timestamp() {
        for text in [false, true] {
            let m = payload(32, text, 0x1234_5678_9abc);
            assert_eq!(m.payload().len(), 32);
            assert_eq!(sent_time(&m), Some(0x1234_5678_9abc));
        }
    }
}
