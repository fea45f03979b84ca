//! `sio-polling`: Socket.IO over HTTP long-polling only (Engine.IO 4, Socket.IO 5), driven the
//! way `socket.io-client` with `transports: ['polling']` drives it in a browser: each socket
//! keeps one keep-alive connection for its parked GET and one for its POSTs, and the emits
//! made while a POST is out travel together in the next one (`\x1e`-joined). Every socket keeps
//! `in_flight` `echo` emits waiting for their acks; a message is one acknowledged emit.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Semaphore};

use super::report::Recorder;
use super::sio::{stamp_of, stamped};
use super::{nanos_since, worker, BenchArgs, Report};

/// Engine.IO's packet separator in a polling payload.
const SEPARATOR: u8 = 0x1e;

pub(super) async fn echo(args: &BenchArgs, workers: &[Handle]) -> Result<Report, String> {
    let authority = authority(&args.url)?;
    let permits = Arc::new(Semaphore::new(args.ramp.max(1)));
    let mut opening = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let (permits, authority) = (permits.clone(), authority.clone());
        opening.push(worker(workers, i).spawn(async move {
            let _permit = permits.acquire_owned().await;
            PollingSocket::open(&authority).await
        }));
    }
    let mut sockets = Vec::with_capacity(opening.len());
    for task in opening {
        sockets.push(task.await.map_err(|e| e.to_string())??);
    }
    let recorder = Arc::new(Recorder::new()?);
    let origin = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(sockets.len());
    for (i, socket) in sockets.into_iter().enumerate() {
        let recorder = recorder.clone();
        let (size, k) = (args.size, args.in_flight.max(1));
        tasks.push(worker(workers, i).spawn(socket.drive(i, recorder, origin, size, k)));
    }
    let mut report = Report::new(args, "sio-polling");
    report.measure(args, &recorder, &tasks).await;
    Ok(report)
}

/// `host:port` of an `http://` (or `ws://`) URL.
fn authority(url: &str) -> Result<String, String> {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    if rest.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok(rest.to_owned())
}

/// One keep-alive HTTP/1.1 connection.
struct Http {
    authority: String,
    send: SendRequest<Full<Bytes>>,
}

impl Http {
    async fn open(authority: &str) -> Result<Self, String> {
        let tcp = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connecting to {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (send, connection) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Self {
            authority: authority.to_owned(),
            send,
        })
    }

    async fn request(&mut self, method: Method, path: &str, body: Bytes) -> Result<Bytes, String> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        self.send.ready().await.map_err(|e| e.to_string())?;
        let response = self
            .send
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("{path}: HTTP {}", response.status()));
        }
        let body = response.into_body().collect().await;
        Ok(body.map_err(|e| e.to_string())?.to_bytes())
    }
}

/// A socket joined to `/` over polling.
struct PollingSocket {
    path: String,
    gets: Http,
    posts: Http,
}

impl PollingSocket {
    /// The Engine.IO handshake, then the Socket.IO CONNECT to `/`.
    async fn open(authority: &str) -> Result<Self, String> {
        let mut gets = Http::open(authority).await?;
        let open = gets
            .request(
                Method::GET,
                "/socket.io/?EIO=4&transport=polling",
                Bytes::new(),
            )
            .await?;
        let sid = open_sid(&open).ok_or_else(|| format!("no sid in {open:?}"))?;
        let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        let mut posts = Http::open(authority).await?;
        posts
            .request(Method::POST, &path, Bytes::from_static(b"40"))
            .await?;
        loop {
            let payload = gets.request(Method::GET, &path, Bytes::new()).await?;
            let mut joined = false;
            for packet in payload.split(|&b| b == SEPARATOR) {
                match packet {
                    [b'4', b'0', ..] => joined = true,
                    [b'2', ..] => {
                        posts
                            .request(Method::POST, &path, Bytes::from_static(b"3"))
                            .await?;
                    }
                    _ => {}
                }
            }
            if joined {
                return Ok(Self { path, gets, posts });
            }
        }
    }

    /// Keeps `in_flight` emits waiting: the GET loop records acks and asks the POST loop for
    /// as many new emits (and pongs), which it batches into its next POST.
    async fn drive(
        self,
        id: usize,
        recorder: Arc<Recorder>,
        origin: tokio::time::Instant,
        size: usize,
        in_flight: usize,
    ) {
        let Self {
            path,
            mut gets,
            mut posts,
        } = self;
        let (wants, mut wanted) = mpsc::unbounded_channel::<Want>();
        let receive = async {
            while !recorder.stopped() {
                let Ok(payload) = gets.request(Method::GET, &path, Bytes::new()).await else {
                    return;
                };
                for packet in payload.split(|&b| b == SEPARATOR) {
                    let want = match packet {
                        [b'4', b'3', ..] => {
                            let text = std::str::from_utf8(packet).unwrap_or_default();
                            if let Some(sent) = stamp_of(text) {
                                let latency = nanos_since(origin).saturating_sub(sent) / 1000;
                                recorder.record(id, latency);
                            }
                            Want::Emit
                        }
                        [b'2', ..] => Want::Pong,
                        _ => continue,
                    };
                    if wants.send(want).is_err() {
                        return;
                    }
                }
            }
        };
        let send = async {
            let mut next_ack = 0u64;
            let mut batch = Vec::new();
            let mut emits = in_flight;
            let mut pongs = 0;
            loop {
                batch.clear();
                for _ in 0..pongs {
                    push_packet(&mut batch, b"3");
                }
                for _ in 0..emits {
                    let packet = format!(
                        r#"42{next_ack}["echo","{}"]"#,
                        stamped(size, nanos_since(origin))
                    );
                    next_ack += 1;
                    push_packet(&mut batch, packet.as_bytes());
                }
                let body = Bytes::from(std::mem::take(&mut batch));
                if posts.request(Method::POST, &path, body).await.is_err() {
                    return;
                }
                // Wait for something to send, then take everything that is waiting.
                let Some(first) = wanted.recv().await else {
                    return;
                };
                (emits, pongs) = (0, 0);
                let mut count = |want: Want| match want {
                    Want::Emit => emits += 1,
                    Want::Pong => pongs += 1,
                };
                count(first);
                while let Ok(want) = wanted.try_recv() {
                    count(want);
                }
            }
        };
        tokio::join!(receive, send);
    }
}

/// What the GET loop asks the POST loop to send.
enum Want {
    /// A new `echo` emit (one was acknowledged).
    Emit,
    /// A pong (the server pinged).
    Pong,
}

/// Appends one packet to a polling payload.
fn push_packet(payload: &mut Vec<u8>, packet: &[u8]) {
    if !payload.is_empty() {
        payload.push(SEPARATOR);
    }
    payload.extend_from_slice(packet);
}

/// The `sid` of an Engine.IO open packet (`0{"sid":…}`), possibly followed by more packets.
fn open_sid(payload: &[u8]) -> Option<String> {
    let first = payload.split(|&b| b == SEPARATOR).next()?;
    let json: serde_json::Value = serde_json::from_slice(first.strip_prefix(b"0")?).ok()?;
    Some(json.get("sid")?.as_str()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_authority_and_the_sid() {
        assert_eq!(
            authority("http://127.0.0.1:3000/").unwrap(),
            "127.0.0.1:3000"
        );
        assert_eq!(authority("ws://h:1").unwrap(), "h:1");
        assert!(authority("http:///x").is_err());
        assert_eq!(
            open_sid(b"0{\"sid\":\"abc\",\"upgrades\":[]}\x1e40").as_deref(),
            Some("abc")
        );
        assert_eq!(open_sid(b"40"), None);
        let mut payload = Vec::new();
        push_packet(&mut payload, b"3");
        push_packet(&mut payload, b"42[]");
        assert_eq!(payload, b"3\x1e42[]");
    }
}

#[cfg(test)]
mod load_tests {
    use switchboard_socketio::{Ack, Args, Config, Socket, SocketIo};
    use tokio::net::TcpListener;

    use super::*;
    use crate::bench::Mode;

    /// A server whose `/` acknowledges `echo` with its arguments, on a free port.
    async fn echo_server() -> String {
        let io = SocketIo::new(Config::default());
        io.ns("/", |socket: Socket| async move {
            socket.on("echo", |Args(args): Args, ack: Ack| async move {
                ack.send_args(args);
            });
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { io.serve(listener).await });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn polling_sockets_get_their_emits_acknowledged() {
        let args = BenchArgs {
            sender_url: None,
            mode: Mode::SioPolling,
            url: echo_server().await,
            connections: 4,
            size: 32,
            in_flight: 2,
            duration: 0.5,
            warmup: 0.2,
            server_pid: None,
            ramp: 4,
            text: false,
            label: String::new(),
            json: true,
        };
        let report = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            echo(&args, &[Handle::current()]),
        )
        .await
        .expect("the run ends")
        .expect("a report");
        assert!(report.messages > 0, "acks were counted: {report}");
        assert!(report.p50_us > 0 && report.p50_us <= report.p99_us);
        assert!(
            report.notes.is_empty(),
            "no load task ended early: {report}"
        );
    }
}
