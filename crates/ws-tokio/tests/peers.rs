//! Our client against servers nobody here wrote: Node's `ws` and Python's `websockets`
//! (`tests/interop/*/peer*echo*`). `scripts/install-test-deps.sh` installs them; CI sets
//! `SWITCHBOARD_INTEROP=1`, which turns a missing peer into a failure instead of a skip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchboard_ws::handshake::ClientOptions;
use switchboard_ws::{CloseCode, DeflateConfig, Event, Message};
use switchboard_ws_tokio::{connect, ClientConfig};

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts a peer server and returns it with its `ws://` URL, or `None` (skip) when its
/// runtime is not installed and CI did not ask for interop.
fn start(program: &Path, script: &Path, ready: &Path) -> Option<(Peer, String)> {
    if !program.exists() || !ready.exists() || !script.exists() {
        assert!(
            std::env::var_os("SWITCHBOARD_INTEROP").is_none(),
            "interop peer missing: {} / {} (run scripts/install-test-deps.sh)",
            program.display(),
            ready.display()
        );
        eprintln!("skipping: {} not installed", ready.display());
        return None;
    }
    let mut child = Command::new(program)
        .arg(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn peer");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("peer ready line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no ws:// URL in {line:?}"))
        .to_owned();
    Some((Peer(child), url))
}

async fn exercise(url: &str, deflate: bool) {
    let config = ClientConfig {
        options: ClientOptions {
            deflate: deflate.then(DeflateConfig::default),
            ..ClientOptions::default()
        },
        ..ClientConfig::default()
    };
    let (mut ws, accepted) = tokio::time::timeout(Duration::from_secs(10), connect(url, config))
        .await
        .expect("connect in time")
        .expect("handshake");
    assert_eq!(
        accepted.deflate.is_some(),
        deflate,
        "deflate negotiated as offered"
    );
    let messages = [
        Message::text(""),
        Message::text("héllo"),
        Message::text("x".repeat(70_000)),
        Message::binary(vec![0u8; 125]),
        Message::binary((0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()),
    ];
    for message in &messages {
        ws.send(message.clone()).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(10), ws.recv())
            .await
            .expect("echo in time")
            .expect("open")
            .expect("no error");
        assert_eq!(&echoed, message);
    }
    ws.connection().ping(b"are you there").unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next_event().await {
                Ok(Some(Event::Pong(payload))) => return payload,
                Ok(Some(_)) => continue,
                other => panic!("no pong: {other:?}"),
            }
        }
    })
    .await
    .expect("pong in time");
    assert_eq!(&pong[..], b"are you there");
    tokio::time::timeout(Duration::from_secs(10), ws.close(CloseCode(4000), "bye"))
        .await
        .expect("close handshake in time")
        .unwrap();
}

#[tokio::test]
async fn our_client_against_node_ws() {
    let root = repo();
    let Some((_peer, url)) = start(
        Path::new("/usr/bin/node"),
        &root.join("tests/interop/node/peer-echo-server.mjs"),
        &root.join("tests/interop/node_modules/ws"),
    ) else {
        return;
    };
    exercise(&url, true).await;
    exercise(&url, false).await;
}

#[tokio::test]
async fn our_client_against_python_websockets() {
    let root = repo();
    let python = root.join(".test-deps/venv/bin/python");
    let Some((_peer, url)) = start(
        &python,
        &root.join("tests/interop/python/peer_echo_server.py"),
        &python,
    ) else {
        return;
    };
    exercise(&url, true).await;
    exercise(&url, false).await;
}
