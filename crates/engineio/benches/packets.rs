//! Engine.IO's per-message decoding: a WebSocket text message (`4` + a Socket.IO packet)
//! and a long-polling POST body of 16 such packets. `cargo bench -p switchboard-engineio`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_engineio::payload::decode_payload_into;
use switchboard_engineio::{Packet, Protocol};

/// The echo benchmark's emit: `42<id>["echo","<32 characters>"]`.
const EMIT: &str = r#"4217["echo","0000000000000abcxxxxxxxxxxxxxxxx"]"#;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine.io decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("websocket text message", |b| {
        b.iter(|| Packet::decode_text(black_box(EMIT), Protocol::V4).unwrap());
    });
    let body = vec![EMIT; 16].join("\x1e");
    let mut packets = Vec::with_capacity(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("polling payload of 16", |b| {
        b.iter(|| {
            packets.clear();
            decode_payload_into(black_box(body.as_bytes()), &mut packets).unwrap();
            assert_eq!(packets.len(), 16);
        });
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
