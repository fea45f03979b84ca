//! A private `redis-server` for tests, on a free loopback port (shared by this crate's tests
//! and `switchboard serve`'s).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "../../../../tests/support/certificates.rs"]
mod certificates;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer PING.
const READY: Duration = Duration::from_secs(10);

/// A private `redis-server`, killed on drop.
pub struct Redis {
    child: Child,
    /// Its port.
    pub port: u16,
    /// With [`Redis::start_tls`]: its TLS port and the directory of its certificates.
    tls: Option<(u16, std::path::PathBuf)>,
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    /// Starts one, or `None` (the test is skipped) when redis-server is missing and
    /// `SWITCHBOARD_INTEROP` is not set.
    pub fn start() -> Option<Self> {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Option<Self> {
        Self::spawn(port, None)
    }

    /// Also listening for TLS, with a certificate for `localhost` from a private CA, and
    /// asking clients for a certificate from that CA (Redis' default in TLS mode), and with a
    /// user `app` whose password is `s3cret`. The plain port stays, for the helpers below.
    pub fn start_tls() -> Option<Self> {
        let dir = std::env::temp_dir().join(format!(
            "sb-redis-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        certificates::make_test_certificates(&dir);
        Self::spawn(free_port(), Some((free_port(), dir)))
    }

    fn spawn(port: u16, tls: Option<(u16, std::path::PathBuf)>) -> Option<Self> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        if let Some((tls_port, dir)) = &tls {
            let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
            command
                .args(["--tls-port", &tls_port.to_string()])
                .args(["--tls-cert-file", &file("cert.pem")])
                .args(["--tls-key-file", &file("key.pem")])
                .args(["--tls-ca-cert-file", &file("ca.pem")])
                .args(["--tls-auth-clients", "yes"])
                // An ACL user with a password, for the TLS URL; the default user stays open
                // for the helpers below.
                .args(["--user", "app", "on", ">s3cret", "~*", "&*", "+@all"]);
        }
        let spawned = command.stdout(Stdio::null()).spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var_os("SWITCHBOARD_INTEROP").is_none() => {
                eprintln!("skipped: redis-server not started ({e})");
                return None;
            }
            Err(e) => panic!("redis-server: {e}"),
        };
        let redis = Self { child, port, tls };
        let deadline = Instant::now() + READY;
        while !redis.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        tcp.write_all(b"PING\r\n").is_ok()
            && tcp.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// With [`Redis::start_tls`]: its `rediss://` URL, as user `app` with `password`.
    pub fn tls_url(&self, password: &str) -> String {
        let (port, _) = self.tls.as_ref().expect("started with TLS");
        format!("rediss://app:{password}@localhost:{port}/")
    }

    /// With [`Redis::start_tls`]: the PEM file `name` among its certificates (`ca.pem`,
    /// `client.pem`, `client.key`, …).
    pub fn tls_file(&self, name: &str) -> std::path::PathBuf {
        let (_, dir) = self.tls.as_ref().expect("started with TLS");
        dir.join(name)
    }

    /// Sends one command (a RESP array of `args`) on a connection of its own, whose reply
    /// must come within a few seconds, and returns that connection to read the reply from.
    fn command(&self, args: &[&[u8]]) -> TcpStream {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut command = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            command.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            command.extend_from_slice(arg);
            command.extend_from_slice(b"\r\n");
        }
        tcp.write_all(&command).unwrap();
        tcp
    }

    /// Reads an integer reply (`:N`).
    fn integer_reply(tcp: &mut TcpStream) -> i64 {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&line);
        let number = text
            .strip_prefix(':')
            .unwrap_or_else(|| panic!("not an integer: {text}"));
        number.trim().parse().unwrap()
    }

    /// Publishes `payload` on `channel` as any Redis client could, with `verb` (`PUBLISH`, or
    /// `SPUBLISH` for a shard channel).
    pub fn publish(&self, verb: &str, channel: &str, payload: &[u8]) {
        let mut tcp = self.command(&[verb.as_bytes(), channel.as_bytes(), payload]);
        Self::integer_reply(&mut tcp);
    }

    /// How many clients subscribe to `channel`: `PUBSUB {which} channel` (`NUMSUB` or
    /// `SHARDNUMSUB`).
    pub fn subscribers(&self, which: &str, channel: &str) -> usize {
        let mut tcp = self.command(&[b"PUBSUB", which.as_bytes(), channel.as_bytes()]);
        // `*2 $len channel :N`: read until the integer's line ends.
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !(reply.contains(&b':') && reply.ends_with(b"\r\n")) {
            tcp.read_exact(&mut byte).unwrap();
            reply.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&reply);
        let count = text.rsplit(':').next().unwrap().trim();
        count.parse().unwrap()
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> bool {
        let mut tcp = self.command(&[b"EXISTS", key.as_bytes()]);
        Self::integer_reply(&mut tcp) == 1
    }

    /// How many entries `stream` holds (`XLEN`).
    pub fn stream_len(&self, stream: &str) -> i64 {
        let mut tcp = self.command(&[b"XLEN", stream.as_bytes()]);
        Self::integer_reply(&mut tcp)
    }

    /// Appends an entry of `fields` to `stream` (`XADD stream * field value …`).
    pub fn xadd(&self, stream: &str, fields: &[(&str, &[u8])]) {
        let mut args: Vec<&[u8]> = vec![b"XADD", stream.as_bytes(), b"*"];
        for (name, value) in fields {
            args.push(name.as_bytes());
            args.push(value);
        }
        let mut tcp = self.command(&args);
        let mut reply = [0u8; 1];
        tcp.read_exact(&mut reply).unwrap();
    }

    /// Stops it now, as dropping it does.
    pub fn stop(self) {}
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((_, dir)) = &self.tls {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
