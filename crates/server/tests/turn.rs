//! The STUN/TURN server in the binary: alone (`switchboard turn`) and inside `serve --turn`
//! (or `turn = true` in the TOML file), answering STUN over UDP and TCP, with its counters in
//! `/metrics`; `serve` without it opens no TURN port.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

struct Proc {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Proc {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn switchboard");
        let lines = BufReader::new(child.stdout.take().unwrap());
        Self { child, lines }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("ready line");
        line
    }

    fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..250 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scheme://ADDR` from a ready line.
fn addr(line: &str, scheme: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{scheme}://")))
        .and_then(|a| a.parse().ok())
}

const BINDING: [u8; 20] = [
    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];

fn is_binding_success(resp: &[u8]) -> bool {
    resp.len() >= 20 && resp[..2] == [0x01, 0x01] && resp[8..20] == BINDING[8..20]
}

fn stun_over_udp(server: SocketAddr) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&BINDING, server).unwrap();
    let mut buf = [0u8; 1500];
    let n = socket.recv(&mut buf).unwrap();
    is_binding_success(&buf[..n])
}

fn stun_over_tcp(server: SocketAddr) -> bool {
    let mut tcp = TcpStream::connect(server).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(&BINDING).unwrap();
    let mut head = [0u8; 20];
    tcp.read_exact(&mut head).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([head[2], head[3]]))];
    tcp.read_exact(&mut body).unwrap();
    is_binding_success(&head)
}

fn metrics(http: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(http).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    tcp.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn turn_alone_answers_over_udp_and_tcp_and_stops_on_sigterm() {
    let mut turn = Proc::start(&[
        "turn",
        "--turn-listen",
        "127.0.0.1:0",
        "--turn-user",
        "alice:pw",
        "--log-level",
        "warn",
    ]);
    let line = turn.line();
    assert!(line.starts_with("switchboard turn listening on"), "{line}");
    assert!(
        addr(&line, "tls").is_none(),
        "no certificate, no TLS: {line}"
    );
    assert!(stun_over_udp(addr(&line, "udp").unwrap()));
    assert!(stun_over_tcp(addr(&line, "tcp").unwrap()));
    assert!(turn.terminate(), "exits 0 on SIGTERM");
}

#[test]
fn turn_refuses_to_start_without_credentials() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["turn", "--turn-listen", "127.0.0.1:0"])
        .env_remove("SWITCHBOARD_TURN_USERS")
        .env_remove("SWITCHBOARD_TURN_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--turn-user"));
}

#[test]
fn serve_runs_turn_when_asked_and_reports_its_counters() {
    let mut serve = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
        "--turn",
        "--turn-listen",
        "127.0.0.1:0",
        "--turn-no-tcp",
        "--turn-user",
        "alice:pw",
    ]);
    let http = addr(&serve.line(), "http").unwrap();
    let line = serve.line();
    assert!(addr(&line, "tcp").is_none(), "{line}");
    assert!(stun_over_udp(addr(&line, "udp").unwrap()));
    let text = metrics(http);
    for metric in [
        "switchboard_connections_open",
        "switchboard_turn_allocations 0",
        "switchboard_turn_allocations_total 0",
        "switchboard_turn_relayed_bytes_total{direction=\"to_peer\"} 0",
        "switchboard_turn_auth_failures_total 0",
        "switchboard_turn_dropped_total 0",
    ] {
        assert!(text.contains(metric), "{metric} missing in:\n{text}");
    }
    assert!(serve.terminate(), "exits 0 on SIGTERM");
}

#[test]
fn serve_reads_turn_from_the_toml_file_and_is_off_by_default() {
    let dir = std::env::temp_dir().join(format!("sb-turn-toml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("switchboard.toml");
    std::fs::write(
        &path,
        "max_message_size = 1000\nturn = true\nturn_listen = \"127.0.0.1:0\"\n\
         turn_users = [\"alice:pw\"]\nturn_tcp = false\n",
    )
    .unwrap();
    let mut serve = Proc::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
        "-c",
        path.to_str().unwrap(),
    ]);
    let http = addr(&serve.line(), "http").unwrap();
    let line = serve.line();
    assert!(stun_over_udp(addr(&line, "udp").unwrap()), "{line}");
    assert!(metrics(http).contains("switchboard_turn_allocations 0"));
    assert!(serve.terminate());

    let mut plain = Proc::start(&["serve", "--listen", "127.0.0.1:0", "--log-level", "warn"]);
    let http = addr(&plain.line(), "http").unwrap();
    assert!(!metrics(http).contains("switchboard_turn"));
    assert!(plain.terminate());
    let _ = std::fs::remove_dir_all(dir);
}
