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
    /// Whether that directory goes with it.
    owns_tls_dir: bool,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
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
        Self::spawn(port, None, &[])
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
        Self::spawn(free_port(), Some((free_port(), dir)), &[])
    }

    fn spawn(port: u16, tls: Option<(u16, std::path::PathBuf)>, extra: &[String]) -> Option<Self> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra);
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
        let redis = Self {
            child,
            port,
            tls,
            owns_tls_dir: true,
        };
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
        if let (Some((_, dir)), true) = (&self.tls, self.owns_tls_dir) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A Redis Cluster of three primaries (no replicas) on free loopback ports, each node a
/// [`Redis`]; its files live in a temporary directory, removed on drop.
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
    dir: std::path::PathBuf,
    /// With [`RedisCluster::start_tls`]: the nodes speak TLS, to clients and to each other.
    tls: bool,
    /// With [`RedisCluster::start_behind`]: each node's port and the port it announces.
    announced: Vec<(u16, u16)>,
    /// Each node's cluster bus port, chosen free like the others (not port + 10000, which
    /// may be taken, or too large).
    buses: Vec<u16>,
}

impl RedisCluster {
    /// Starts three nodes and joins them with `redis-cli --cluster create`, or `None` (the test
    /// is skipped) when redis-server is missing and `SWITCHBOARD_INTEROP` is not set.
    pub fn start() -> Option<Self> {
        Self::start_with(false, &[])
    }

    /// On the given ports, each node telling clients (`CLUSTER SLOTS`) to connect to another
    /// port instead: `(port, announced)` pairs, the announced ports a proxy's in front.
    pub fn start_behind(ports: &[(u16, u16)]) -> Option<Self> {
        Self::start_with(false, ports)
    }

    /// As [`Redis::start_tls`], for every node: TLS to clients (a certificate for `localhost`
    /// and 127.0.0.1 from a private CA, client certificates asked for, a user `app` with
    /// password `s3cret`) and on the cluster bus; the plain ports stay, for the helpers.
    pub fn start_tls() -> Option<Self> {
        Self::start_with(true, &[])
    }

    fn start_with(tls: bool, announced: &[(u16, u16)]) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!(
            "sb-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if tls {
            certificates::make_test_certificates(&dir);
        }
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
            tls,
            announced: announced.to_vec(),
            buses: Vec::new(),
        };
        for i in 0..3 {
            let port = announced.get(i).map_or_else(free_port, |(port, _)| *port);
            let bus = free_port();
            cluster.buses.push(bus);
            let node = cluster.node(port, tls.then(free_port), bus)?;
            cluster.nodes.push(node);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "127.0.0.1:{}",
                    n.tls.as_ref().map_or(n.port, |(port, _)| *port)
                )
            })
            .collect();
        let file = |name: &str| cluster.dir.join(name).to_str().unwrap().to_owned();
        let mut create = Command::new("redis-cli");
        if tls {
            create.args(["--tls", "--cacert", &file("ca.pem")]).args([
                "--cert",
                &file("client.pem"),
                "--key",
                &file("client.key"),
            ]);
        }
        let created = create
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(created.success(), "redis-cli --cluster create failed");
        cluster.wait_ok();
        Some(cluster)
    }

    fn node(&self, port: u16, tls_port: Option<u16>, bus: u16) -> Option<Redis> {
        let dir = &self.dir;
        let config = dir.join(format!("nodes-{port}.conf"));
        let mut extra = vec![
            "--cluster-enabled".to_owned(),
            "yes".to_owned(),
            "--cluster-config-file".to_owned(),
            config.to_str().unwrap().to_owned(),
            "--cluster-node-timeout".to_owned(),
            "2000".to_owned(),
            "--cluster-port".to_owned(),
            bus.to_string(),
            "--dir".to_owned(),
            dir.to_str().unwrap().to_owned(),
        ];
        if let Some((_, to)) = self.announced.iter().find(|(p, _)| *p == port) {
            extra.extend([
                "--cluster-announce-port".to_owned(),
                to.to_string(),
                "--cluster-announce-bus-port".to_owned(),
                bus.to_string(),
            ]);
        }
        let Some(tls_port) = tls_port else {
            return Redis::spawn(port, None, &extra);
        };
        extra.extend(["--tls-cluster".to_owned(), "yes".to_owned()]);
        let mut node = Redis::spawn(port, Some((tls_port, dir.clone())), &extra)?;
        // The certificates are the cluster's, removed with it.
        node.owns_tls_dir = false;
        Some(node)
    }

    /// With [`RedisCluster::start_tls`]: the nodes' `rediss://` URLs, as user `app` with
    /// `password`.
    pub fn tls_urls(&self, password: &str) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.tls_url(password).replace("localhost", "127.0.0.1"))
            .collect()
    }

    /// With [`RedisCluster::start_tls`]: a PEM file among the certificates (`ca.pem`, …).
    pub fn tls_file(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    /// The nodes' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Redis::url).collect()
    }

    /// Runs `redis-cli -p PORT args…` on node `i`, returning its output.
    pub fn cli(&self, i: usize, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.nodes[i].port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until every node says the cluster is ok and agrees on who owns every slot.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = (0..self.nodes.len()).all(|i| {
                let info = self.cli(i, &["cluster", "info"]);
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            });
            let views: Vec<Vec<(u16, usize)>> =
                (0..self.nodes.len()).map(|i| self.owners(i)).collect();
            if ok && views.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis cluster did not settle"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Node `i`'s view of the slot ranges: the first slot of each range and its owner's index.
    fn owners(&self, i: usize) -> Vec<(u16, usize)> {
        let mut owners = Vec::new();
        for line in self.cli(i, &["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(address) = fields.get(1) else {
                continue;
            };
            let port: u16 = address
                .split(['@', ':'])
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let real = self
                .announced
                .iter()
                .find(|(_, to)| *to == port)
                .map_or(port, |(p, _)| *p);
            let Some(owner) = self.nodes.iter().position(|n| n.port == real) else {
                continue;
            };
            for range in fields.iter().skip(8).filter(|f| !f.starts_with('[')) {
                let first = range.split('-').next().unwrap().parse().unwrap();
                owners.push((first, owner));
            }
        }
        owners.sort_unstable();
        owners
    }

    /// `PUBSUB {which} channel` on every node, added up (a node counts its own subscribers).
    pub fn subscribers(&self, which: &str, channel: &str) -> usize {
        self.nodes
            .iter()
            .map(|n| n.subscribers(which, channel))
            .sum()
    }

    /// The node id of node `i`.
    pub fn id(&self, i: usize) -> String {
        self.cli(i, &["cluster", "myid"]).trim().to_owned()
    }

    /// The slot of `key` (hash tags included).
    pub fn slot(&self, key: &str) -> u16 {
        self.cli(0, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap()
    }

    /// The index of the node that owns `slot`.
    pub fn owner(&self, slot: u16) -> usize {
        self.owners(0)
            .into_iter()
            .rev()
            .find(|(first, _)| *first <= slot)
            .map(|(_, owner)| owner)
            .unwrap()
    }

    /// Moves `slot` (holding no keys) to node `to`, as a resharding does, and waits until every
    /// node agrees.
    pub fn move_slot(&self, slot: u16, to: usize) {
        let from = self.owner(slot);
        let slot = slot.to_string();
        let (from_id, to_id) = (self.id(from), self.id(to));
        self.cli(to, &["cluster", "setslot", &slot, "importing", &from_id]);
        self.cli(from, &["cluster", "setslot", &slot, "migrating", &to_id]);
        for i in 0..self.nodes.len() {
            self.cli(i, &["cluster", "setslot", &slot, "node", &to_id]);
        }
        self.wait_ok();
    }

    /// Kills node `i`, then starts it again on the same port with the same cluster
    /// configuration, and waits until the cluster is ok again.
    pub fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let (port, tls_port) = (node.port, node.tls.as_ref().map(|(port, _)| *port));
        let _ = node.child.kill();
        let _ = node.child.wait();
        self.nodes[i] = self.node(port, tls_port, self.buses[i]).unwrap();
        self.wait_ok();
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy that can drop the connections it carries the way a NAT or a load balancer
/// that forgot them does: Redis's side is closed, the server's side stays open and hears
/// nothing more. Connections made afterwards pass.
pub struct Forgetful {
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    forget: tokio::sync::watch::Sender<u64>,
}

impl Forgetful {
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("redis://127.0.0.1:{port}");
        let (forget, forgotten) = tokio::sync::watch::channel(0u64);
        tokio::spawn(async move {
            // The server's ends of forgotten connections: never read, never closed.
            let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            while let Ok((mut near, _)) = listener.accept().await {
                let Ok(mut far) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    continue;
                };
                let mut forgotten = forgotten.clone();
                let born = *forgotten.borrow();
                let kept = std::sync::Arc::clone(&kept);
                tokio::spawn(async move {
                    let dropped = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut near, &mut far) => false,
                        _ = forgotten.wait_for(|n| *n > born) => true,
                    };
                    if dropped {
                        drop(far);
                        kept.lock().unwrap().push(near);
                    }
                });
            }
        });
        Self { url, port, forget }
    }

    /// Forgets every connection open now.
    pub fn forget_all(&self) {
        self.forget.send_modify(|n| *n += 1);
    }
}
