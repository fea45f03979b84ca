//! Our own conformance suite against `/ws/echo`, over raw TCP with hand-built frames, covering
//! the ground of the Autobahn testsuite's sections 1–7 (framing, pings, reserved bits, opcodes,
//! fragmentation, UTF-8, close), 9 (large and many-fragment messages), and 12–13
//! (permessage-deflate with different parameters).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::io::Write;

use common::{encode_frame, RawClient, Server};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

#[test]
fn section1_framing_text_and_binary_at_every_length_class() {
    let server = Server::start(&[]);
    let mut c = RawClient::echo(server.port);
    for len in [0usize, 1, 125, 126, 127, 128, 65535, 65536, 65537] {
        let text = "*".repeat(len);
        c.send_text(&text);
        assert_eq!(c.read_message(), (1, text.into_bytes()), "text {len}");
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        c.send_frame(true, 0, 2, &data);
        assert_eq!(c.read_message(), (2, data), "binary {len}");
    }
    // 1.1.8-style: a 65536-byte message written in small chops.
    let frame = encode_frame(true, 0, 2, &vec![0xfe; 65536], Some([1, 2, 3, 4]));
    for chop in frame.chunks(997) {
        c.stream.write_all(chop).unwrap();
    }
    assert_eq!(c.read_message(), (2, vec![0xfe; 65536]));
    c.send_frame(true, 0, 8, &1000u16.to_be_bytes());
    assert_eq!(c.expect_close(), Some(1000));
    c.expect_eof();
}

#[test]
fn section2_pings_are_answered_with_the_same_payload() {
    let server = Server::start(&[]);
    let mut c = RawClient::echo(server.port);
    for payload in [
        &b""[..],
        b"Hello, world!",
        &[0u8, 0xff, 0xfe, 0x80][..],
        &[b'p'; 125][..],
    ] {
        c.send_frame(true, 0, 9, payload);
        let pong = c.read_frame().unwrap();
        assert_eq!((pong.opcode, pong.payload.as_slice()), (0xA, payload));
    }
    // Unsolicited pongs are ignored; the next message still echoes.
    c.send_frame(true, 0, 0xA, b"unsolicited");
    c.send_text("after pong");
    assert_eq!(c.read_message(), (1, b"after pong".to_vec()));
    // Ten pings in a row: ten pongs in order.
    for i in 0..10u8 {
        c.send_frame(true, 0, 9, &[i]);
    }
    for i in 0..10u8 {
        assert_eq!(c.read_frame().unwrap().payload, vec![i]);
    }
    // A ping over 125 bytes is a protocol error.
    c.send_frame(true, 0, 9, &[b'x'; 126]);
    assert_eq!(c.expect_close(), Some(1002));
    c.expect_eof();
}

#[test]
fn section3_reserved_bits_fail_the_connection() {
    let server = Server::start(&["--no-deflate"]);
    for (rsv, opcode) in [(1u8, 1u8), (2, 1), (3, 2), (4, 2), (5, 9), (6, 1), (7, 8)] {
        let mut c = RawClient::echo(server.port);
        c.send_frame(true, rsv, opcode, b"x");
        assert_eq!(c.expect_close(), Some(1002), "rsv {rsv} opcode {opcode}");
        c.expect_eof();
    }
    // Echoed messages before the bad frame still come back first.
    let mut c = RawClient::echo(server.port);
    c.send_text("first");
    c.send_frame(true, 4, 1, b"bad");
    assert_eq!(c.read_message(), (1, b"first".to_vec()));
    assert_eq!(c.expect_close(), Some(1002));
}

#[test]
fn section4_reserved_opcodes_fail_the_connection() {
    let server = Server::start(&[]);
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let mut c = RawClient::echo(server.port);
        c.send_frame(true, 0, opcode, b"payload");
        assert_eq!(c.expect_close(), Some(1002), "opcode {opcode:#x}");
        c.expect_eof();
    }
}

#[test]
fn section5_fragmentation() {
    let server = Server::start(&[]);
    let mut c = RawClient::echo(server.port);
    // Text in three fragments, with a ping between them.
    c.send_frame(false, 0, 1, b"frag");
    c.send_frame(true, 0, 9, b"mid");
    c.send_frame(false, 0, 0, b"men");
    c.send_frame(true, 0, 0, b"ts");
    let pong = c.read_frame().unwrap();
    assert_eq!((pong.opcode, pong.payload), (0xA, b"mid".to_vec()));
    assert_eq!(c.read_message(), (1, b"fragments".to_vec()));
    // Binary with empty fragments.
    c.send_frame(false, 0, 2, b"");
    c.send_frame(false, 0, 0, b"ab");
    c.send_frame(true, 0, 0, b"");
    assert_eq!(c.read_message(), (2, b"ab".to_vec()));
    // 1000 one-byte fragments.
    c.send_frame(false, 0, 1, b"a");
    for _ in 0..998 {
        c.send_frame(false, 0, 0, b"a");
    }
    c.send_frame(true, 0, 0, b"a");
    assert_eq!(c.read_message(), (1, vec![b'a'; 1000]));

    let violations: [&[(bool, u8, &[u8])]; 5] = [
        &[(true, 0, b"continuation with nothing to continue")],
        &[(false, 0, b"starts with continuation"), (true, 0, b"x")],
        &[(false, 9, b"fragmented ping"), (true, 0, b"x")],
        &[(false, 1, b"text"), (true, 1, b"new text before the end")],
        &[(false, 1, b"text"), (false, 8, b"fragmented close")],
    ];
    for frames in violations {
        let mut c = RawClient::echo(server.port);
        for (fin, opcode, payload) in frames {
            c.send_frame(*fin, 0, *opcode, payload);
        }
        assert_eq!(c.expect_close(), Some(1002), "{frames:?}");
        c.expect_eof();
    }
}

#[test]
fn section6_utf8_validation() {
    let server = Server::start(&[]);
    let valid = [
        "κόσμε",
        "\u{10FFFF}",
        "\u{FFFD}",
        "\u{7FF}\u{800}\u{FFFF}\u{10000}",
        "",
    ];
    let mut c = RawClient::echo(server.port);
    for text in valid {
        c.send_text(text);
        assert_eq!(c.read_message(), (1, text.as_bytes().to_vec()));
        // The same text split at every byte.
        let bytes = text.as_bytes();
        if bytes.len() > 1 {
            c.send_frame(false, 0, 1, &bytes[..1]);
            for b in &bytes[1..bytes.len() - 1] {
                c.send_frame(false, 0, 0, std::slice::from_ref(b));
            }
            c.send_frame(true, 0, 0, &bytes[bytes.len() - 1..]);
            assert_eq!(c.read_message(), (1, bytes.to_vec()));
        }
    }
    let invalid: [&[u8]; 10] = [
        &[
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80,
            0x65, 0x64, 0x69, 0x74, 0x65, 0x64,
        ],
        &[0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
        &[0xed, 0xa0, 0x80],       // surrogate
        &[0xc0, 0xaf],             // overlong "/"
        &[0xe0, 0x80, 0xaf],       // overlong
        &[0x80],                   // lone continuation
        &[0xfe],                   // never valid
        &[0xc2],                   // truncated at the end
        &[0xf0, 0x90, 0x80],       // truncated at the end
        &[b'a', 0xff, b'b'],
    ];
    for bytes in invalid {
        let mut c = RawClient::echo(server.port);
        c.send_frame(true, 0, 1, bytes);
        assert_eq!(c.expect_close(), Some(1007), "{bytes:x?}");
        c.expect_eof();
    }
    // Fail fast: an invalid first fragment closes before the message is finished.
    let mut c = RawClient::echo(server.port);
    c.send_frame(false, 0, 1, &[0xce, 0xba, 0xf4, 0x90, 0x80, 0x80]);
    assert_eq!(c.expect_close(), Some(1007));
}

#[test]
fn section7_close_handling() {
    let server = Server::start(&[]);
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut c = RawClient::echo(server.port);
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(b"reason");
        c.send_frame(true, 0, 8, &payload);
        assert_eq!(c.expect_close(), Some(code));
        c.expect_eof();
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let mut c = RawClient::echo(server.port);
        c.send_frame(true, 0, 8, &code.to_be_bytes());
        assert_eq!(c.expect_close(), Some(1002), "code {code}");
        c.expect_eof();
    }
    // Empty close: answered with an empty close.
    let mut c = RawClient::echo(server.port);
    c.send_frame(true, 0, 8, b"");
    assert_eq!(c.expect_close(), None);
    c.expect_eof();
    // One-byte payload, over-long payload, invalid UTF-8 reason.
    for (payload, code) in [
        (vec![0x03], 1002),
        ([&1000u16.to_be_bytes()[..], &[b'r'; 124]].concat(), 1002),
        (
            [&1000u16.to_be_bytes()[..], &[0xce, 0xba, 0xff]].concat(),
            1007,
        ),
    ] {
        let mut c = RawClient::echo(server.port);
        c.send_frame(true, 0, 8, &payload);
        assert_eq!(c.expect_close(), Some(code));
    }
    // A 123-byte reason is fine; data after the close is not echoed.
    let mut c = RawClient::echo(server.port);
    c.send_frame(
        true,
        0,
        8,
        &[&1000u16.to_be_bytes()[..], &[b'r'; 123]].concat(),
    );
    c.send_text("after close");
    assert_eq!(c.expect_close(), Some(1000));
    c.expect_eof();
}

#[test]
fn section9_large_messages_and_many_fragments() {
    let server = Server::start(&[]);
    let mut c = RawClient::echo(server.port);
    for len in [1 << 20, 4 << 20, 16 << 20] {
        let data = vec![b'*'; len];
        c.send_frame(true, 0, 1, &data);
        assert_eq!(c.read_message().1.len(), len, "text {len}");
    }
    // 4 MiB in 64-byte fragments (9.3.x ground).
    let total = 4 << 20;
    let mut wire = Vec::with_capacity(total * 2);
    for (i, chunk) in vec![0x5au8; total].chunks(64).enumerate() {
        let opcode = if i == 0 { 2 } else { 0 };
        wire.extend(encode_frame(
            (i + 1) * 64 >= total,
            0,
            opcode,
            chunk,
            Some([9, 9, 9, 9]),
        ));
    }
    c.stream.write_all(&wire).unwrap();
    assert_eq!(c.read_message(), (2, vec![0x5a; total]));
}

#[test]
fn limits_close_with_1009() {
    let server = Server::start(&["--max-message-size", "65536", "--max-frame-size", "32768"]);
    let mut c = RawClient::echo(server.port);
    c.send_frame(true, 0, 2, &vec![1u8; 32768]);
    assert_eq!(c.read_message().1.len(), 32768);
    // A frame over the frame limit: closed as soon as its header arrives.
    c.send_raw(&encode_frame(true, 0, 2, &vec![0u8; 40000], Some([1, 1, 1, 1]))[..14]);
    assert_eq!(c.expect_close(), Some(1009));
    // A message over the message limit, in allowed frames.
    let mut c = RawClient::echo(server.port);
    c.send_frame(false, 0, 2, &vec![1u8; 32768]);
    c.send_frame(false, 0, 0, &vec![1u8; 32768]);
    c.send_frame(true, 0, 0, &[1u8]);
    assert_eq!(c.expect_close(), Some(1009));
}

/// A minimal permessage-deflate peer built on flate2 directly.
struct DeflatePeer {
    compress: Compress,
    decompress: Decompress,
    no_context_takeover: bool,
}

impl DeflatePeer {
    fn new(client_bits: u8, no_context_takeover: bool) -> Self {
        Self {
            compress: Compress::new_with_window_bits(Compression::default(), false, client_bits),
            decompress: Decompress::new_with_window_bits(false, 15),
            no_context_takeover,
        }
    }

    fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        self.compress
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        while out.len() == out.capacity() {
            out.reserve(out.len());
            self.compress
                .compress_vec(&[], &mut out, FlushCompress::Sync)
                .unwrap();
        }
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        if self.no_context_takeover {
            self.compress.reset();
        }
        out
    }

    fn inflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut input = data.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(data.len() * 8 + 1024);
        let mut consumed = 0;
        loop {
            let before = self.decompress.total_in();
            self.decompress
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                .unwrap();
            consumed += (self.decompress.total_in() - before) as usize;
            if consumed >= input.len() && out.len() < out.capacity() {
                return out;
            }
            out.reserve(out.capacity());
        }
    }
}

#[test]
fn sections12_13_permessage_deflate_with_every_parameter_set() {
    let server = Server::start(&["--deflate-threshold", "0"]);
    let offers = [
        ("permessage-deflate", 15, false, None),
        ("permessage-deflate; client_max_window_bits", 15, false, None),
        ("permessage-deflate; client_no_context_takeover", 15, true, None),
        ("permessage-deflate; server_no_context_takeover", 15, false, Some("server_no_context_takeover")),
        ("permessage-deflate; server_max_window_bits=9", 15, false, Some("server_max_window_bits=9")),
        ("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10", 10, false, Some("server_max_window_bits=12")),
        ("permessage-deflate; client_max_window_bits=9; client_no_context_takeover; server_no_context_takeover", 9, true, Some("server_no_context_takeover")),
    ];
    for (offer, client_bits, client_reset, expect_in_response) in offers {
        let (mut c, head) = RawClient::connect(
            server.port,
            "/ws/echo",
            &format!("Sec-WebSocket-Extensions: {offer}\r\n"),
        );
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains("sec-websocket-extensions: permessage-deflate"),
            "{offer}: {head}"
        );
        if let Some(param) = expect_in_response {
            assert!(lower.contains(param), "{offer}: {head}");
        }
        let mut peer = DeflatePeer::new(client_bits, client_reset);
        for (i, size) in [16usize, 64, 256, 1024, 4096, 32768, 131072]
            .into_iter()
            .enumerate()
        {
            let text = format!("{i}:{}", "Hello, compression! ".repeat(size / 20 + 1));
            let text = &text[..size];
            c.send_frame(true, 4, 1, &peer.deflate(text.as_bytes()));
            let frame = c.read_frame().unwrap();
            assert!(frame.fin);
            let data = if frame.rsv & 4 != 0 {
                peer.inflate(&frame.payload)
            } else {
                frame.payload
            };
            assert_eq!(data, text.as_bytes(), "{offer} size {size}");
        }
        // A compressed message split in fragments (RSV1 on the first only).
        let compressed = peer.deflate(&[b'q'; 5000]);
        let (a, b) = compressed.split_at(compressed.len() / 2);
        c.send_frame(false, 4, 2, a);
        c.send_frame(true, 0, 0, b);
        let frame = c.read_frame().unwrap();
        let data = if frame.rsv & 4 != 0 {
            peer.inflate(&frame.payload)
        } else {
            frame.payload
        };
        assert_eq!(data, vec![b'q'; 5000], "{offer}");
        c.send_frame(true, 0, 8, &1000u16.to_be_bytes());
        assert_eq!(c.expect_close(), Some(1000));
    }
    // RSV1 on a continuation frame is a protocol error even with deflate.
    let (mut c, _) = RawClient::connect(
        server.port,
        "/ws/echo",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    c.send_frame(false, 0, 1, b"a");
    c.send_frame(true, 4, 0, b"b");
    assert_eq!(c.expect_close(), Some(1002));
    // Garbage compressed data fails the connection.
    let (mut c, _) = RawClient::connect(
        server.port,
        "/ws/echo",
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    );
    c.send_frame(true, 4, 2, &[0xff, 0xff, 0xff, 0xff, 0x00]);
    assert_eq!(c.expect_close(), Some(1002));
}
