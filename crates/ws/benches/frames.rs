//! The per-message framing work of a WebSocket server: reading a batch of masked client text
//! frames (the echo benchmark's 16 in flight) and writing answers, at the sizes
//! `switchboard bench` uses. `cargo bench -p switchboard-ws`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_ws::{Config, Connection, Event, Message, Role};

/// How many frames arrive, and are answered, per read: one connection's 16 in flight.
const BATCH: usize = 16;

/// A client text frame: final, masked with `key`.
fn masked_text_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

fn receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws receive");
    for size in [48, 4096] {
        let text = "x".repeat(size);
        let batch: Vec<u8> = (0..BATCH)
            .flat_map(|_| masked_text_frame(text.as_bytes(), [1, 2, 3, 4]))
            .collect();
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(format!("{BATCH} text frames of {size} B"), |b| {
            let now = Instant::now();
            let mut conn = Connection::new(Role::Server, Config::default(), None, now);
            b.iter(|| {
                conn.handle_input(now, black_box(&batch));
                let mut messages = 0;
                while let Some(event) = conn.poll_event() {
                    if let Event::Message(Message::Text(text)) = event {
                        messages += black_box(text.as_str()).len() / size;
                    }
                }
                assert_eq!(messages, BATCH);
            });
        });
    }
    group.finish();
}

fn send(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws send");
    for size in [48, 4096] {
        let text = bytes::Bytes::from("x".repeat(size));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(format!("{BATCH} text frames of {size} B"), |b| {
            let now = Instant::now();
            let mut conn = Connection::new(Role::Server, Config::default(), None, now);
            b.iter(|| {
                for _ in 0..BATCH {
                    conn.send_text_bytes(text.clone(), false).unwrap();
                }
                let mut written = 0;
                while let Some(bytes) = conn.poll_transmit() {
                    written += black_box(bytes).len();
                }
                assert!(written > BATCH * size);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, receive, send);
criterion_main!(benches);
