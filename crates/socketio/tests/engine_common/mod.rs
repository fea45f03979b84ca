//! Helpers for the Engine.IO option tests: an echo application, requests straight to
//! `Engine::handle` (no sockets), and a raw-bytes WebSocket client for a server on a free
//! loopback port (to see the `101` and the frame bits).

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_engineio::{payload, v3, CloseReason, EncodedPacket, Message};
use switchboard_socketio::engine::{
    Body, ConnHandle, Engine, EngineApp, EngineConfig, RemoteAddr, RequestInfo,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const WAIT: Duration = Duration::from_secs(5);

/// Sends every message back to its session.
pub struct Echo;

impl EngineApp for Echo {
    type Session = ConnHandle;

    fn open(&self, conn: ConnHandle, _request: &RequestInfo) -> ConnHandle {
        conn
    }

    fn message(&self, conn: &mut ConnHandle, message: Message) {
        let _ = conn.send(EncodedPacket::message(&message));
    }

    fn close(&self, _conn: ConnHandle, _reason: CloseReason) {}
}

pub fn engine(config: EngineConfig) -> Engine<Echo> {
    Engine::new(config, Echo)
}

/// Answers one request built from `method`, the query and extra headers.
pub async fn call<A: EngineApp>(
    engine: &Engine<A>,
    method: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/engine.io/?{query}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    tokio::time::timeout(WAIT, engine.handle::<TcpStream, _>(req))
        .await
        .expect("an answer in time")
}

pub async fn body(response: Response<Body>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

pub fn inflate_zlib(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid zlib");
    out
}

pub fn vary(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::VARY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A v4 polling handshake; the session id and the response.
pub async fn handshake<A: EngineApp>(
    engine: &Engine<A>,
    headers: &[(&str, &str)],
) -> (String, Response<Body>) {
    let response = call(engine, "GET", "EIO=4&transport=polling", headers, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    let (parts, bytes) = response.into_parts();
    let bytes = match parts.headers.get(header::CONTENT_ENCODING) {
        Some(v) if v == "gzip" => Bytes::from(gunzip(&bytes_of(bytes).await)),
        _ => bytes_of(bytes).await,
    };
    let text = std::str::from_utf8(&bytes).unwrap();
    let open: serde_json::Value = serde_json::from_str(text.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();
    (sid, Response::from_parts(parts, Body::new(bytes)))
}

pub async fn bytes_of(body: Body) -> Bytes {
    body.collect().await.unwrap().to_bytes()
}

/// Posts `message` to the echo session `sid` and returns the GET that carries it back.
pub async fn echo_back(
    engine: &Engine<Echo>,
    sid: &str,
    protocol: u8,
    message: EncodedPacket,
    get_headers: &[(&str, &str)],
) -> Response<Body> {
    let query = format!("EIO={protocol}&transport=polling&sid={sid}");
    let post = if protocol == 4 {
        payload::encode_payload([&message])
    } else {
        v3::encode_string_payload([&message])
    };
    let posted = call(engine, "POST", &query, &[], post).await;
    assert_eq!(posted.status(), StatusCode::OK);
    let response = call(engine, "GET", &query, get_headers, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    response
}

// ---- WebSocket on raw bytes ----------------------------------------------------------

/// Serves `engine` on a free loopback port, telling it each connection's remote address.
pub async fn serve(engine: Engine<Echo>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let engine = engine.clone();
            tokio::spawn(async move {
                let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    let engine = engine.clone();
                    req.extensions_mut().insert(RemoteAddr(peer));
                    async move { Ok::<_, Infallible>(engine.handle::<TcpStream, _>(req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// A WebSocket client on raw bytes: the response head, then frames as they come.
pub struct RawWs {
    tcp: TcpStream,
    buf: Vec<u8>,
    pub head: String,
}

/// One server frame: FIN/RSV/opcode byte and payload.
pub struct Frame {
    pub first: u8,
    pub payload: Vec<u8>,
}

impl RawWs {
    pub async fn connect(addr: SocketAddr, extra: &str) -> Self {
        Self::connect_to(addr, "/engine.io/", extra).await
    }

    /// Opens a websocket-transport session at `path` with `extra` request headers.
    pub async fn connect_to(addr: SocketAddr, path: &str, extra: &str) -> Self {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut ws = Self {
            tcp,
            buf: Vec::new(),
            head: String::new(),
        };
        let end = loop {
            if let Some(end) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            ws.fill().await;
        };
        ws.head = String::from_utf8(ws.buf[..end].to_vec()).unwrap();
        ws.buf.drain(..end + 4);
        ws
    }

    /// Values of response header `name` (lower case).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    pub async fn frame(&mut self) -> Frame {
        loop {
            if self.buf.len() >= 2 {
                let (len, start) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= start + len {
                    let first = self.buf[0];
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return Frame { first, payload };
                }
            }
            self.fill().await;
        }
    }

    /// Sends a masked text frame (mask key zero: the payload goes as it is).
    pub async fn send_text(&mut self, text: &str) {
        let mut frame = vec![0x81];
        match text.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(text.as_bytes());
        self.tcp.write_all(&frame).await.unwrap();
    }
}

pub const DEFLATE_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// Inflates permessage-deflate messages from a server, keeping the context across them
/// (RFC 7692: raw deflate, the `00 00 ff ff` tail removed by the sender).
pub struct Inflater(flate2::Decompress);

impl Inflater {
    pub fn new() -> Self {
        Self(flate2::Decompress::new(false))
    }

    pub fn inflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(64 * 1024);
        self.0
            .decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        out
    }
}
