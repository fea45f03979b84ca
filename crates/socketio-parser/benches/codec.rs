//! Socket.IO's per-message codec work: the event JSON the server parses for every emit
//! (`parse_event`, which the server's decoder calls), a whole packet through [`Decoder`], and
//! an acknowledgement encoded. `cargo bench -p switchboard-socketio-parser`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_socketio_parser::{encode, parse_event, Decoder, Limits, Packet, Value};

/// The echo benchmark's emit payload.
const ARGS: &str = r#"["echo","0000000000000abcxxxxxxxxxxxxxxxx"]"#;

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("socket.io");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_event of an echo emit", |b| {
        b.iter(|| {
            let (_, args) = parse_event(black_box(ARGS)).unwrap();
            assert_eq!(args.len(), 1);
        });
    });
    let object =
        r#"["move",{"x":12.5,"y":-3,"player":"p-17","keys":["up","left"],"t":1733580000123}]"#;
    group.bench_function("parse_event of a game update", |b| {
        b.iter(|| parse_event(black_box(object)).unwrap());
    });
    let packet = format!("217{ARGS}");
    let mut decoder = Decoder::new(Limits::default());
    group.bench_function("Decoder::decode_text of an echo emit", |b| {
        b.iter(|| decoder.decode_text(black_box(&packet)).unwrap().unwrap());
    });
    let arg = Value::String("0000000000000abcxxxxxxxxxxxxxxxx".into());
    group.bench_function("encode an ack", |b| {
        b.iter(|| encode(&Packet::ack("/", 17, vec![black_box(arg.clone())])));
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
