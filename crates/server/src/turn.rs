//! The built-in STUN/TURN server (issue #4): `switchboard turn` runs it alone, and
//! `switchboard serve --turn` runs it beside the HTTP server on a thread of its own.
//!
//! Settings come, as for `serve`, from flags, then `SWITCHBOARD_TURN_*` variables, then the
//! TOML file (the flags' names with underscores: `turn_listen`, `turn_users`, ...; `turn =
//! true` enables it in `serve`), then defaults. UDP and TCP listen on `--turn-listen`
//! (default 127.0.0.1:3478); TLS listens on `--turn-tls-listen` (default port 5349) when a
//! certificate is configured, its own or the one `serve` uses.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde::Deserialize;
use switchboard_turn::{Cidr, Credentials};
use switchboard_turn_tokio::{Handle, ShellConfig, TurnServer, DEFAULT_PORT, DEFAULT_TLS_PORT};
use tracing::info;

/// TURN settings shared by `serve` and `turn` (each also read from its `SWITCHBOARD_TURN_*`
/// variable, and from the TOML file as `turn_*`).
#[derive(Debug, Default, Args)]
pub(crate) struct TurnArgs {
    /// TURN: UDP and TCP address for STUN/TURN [default: 127.0.0.1:3478].
    #[arg(long, env = "SWITCHBOARD_TURN_LISTEN")]
    turn_listen: Option<SocketAddr>,
    /// TURN: no TCP listener (UDP and TLS only).
    #[arg(long, env = "SWITCHBOARD_TURN_NO_TCP")]
    turn_no_tcp: bool,
    /// TURN: TLS address [default: the --turn-listen IP, port 5349]; TLS listens only when a
    /// certificate is configured (--turn-tls-cert, or serve's --tls-cert).
    #[arg(long, env = "SWITCHBOARD_TURN_TLS_LISTEN")]
    turn_tls_listen: Option<SocketAddr>,
    /// TURN: PEM certificate chain for TLS [default: serve's --tls-cert].
    #[arg(long, env = "SWITCHBOARD_TURN_TLS_CERT", requires = "turn_tls_key")]
    turn_tls_cert: Option<PathBuf>,
    /// TURN: PEM private key for --turn-tls-cert [default: serve's --tls-key].
    #[arg(long, env = "SWITCHBOARD_TURN_TLS_KEY", requires = "turn_tls_cert")]
    turn_tls_key: Option<PathBuf>,
    /// TURN: no TLS listener even when a certificate is configured.
    #[arg(long, env = "SWITCHBOARD_TURN_NO_TLS")]
    turn_no_tls: bool,
    /// TURN: address relay sockets bind to and clients are told (the server's public
    /// address) [default: the --turn-listen IP, unless it is unspecified].
    #[arg(long, env = "SWITCHBOARD_TURN_RELAY_IP")]
    turn_relay_ip: Option<IpAddr>,
    /// TURN: relay port range, LOW-HIGH [default: 49152-65535].
    #[arg(long, env = "SWITCHBOARD_TURN_RELAY_PORTS")]
    turn_relay_ports: Option<String>,
    /// TURN: authentication realm [default: switchboard].
    #[arg(long, env = "SWITCHBOARD_TURN_REALM")]
    turn_realm: Option<String>,
    /// TURN: a static user as NAME:PASSWORD (long-term credentials; repeatable).
    #[arg(
        long = "turn-user",
        env = "SWITCHBOARD_TURN_USERS",
        value_delimiter = ','
    )]
    turn_users: Vec<String>,
    /// TURN: shared secret for TURN REST credentials (username `EXPIRY:USER`, password
    /// base64(HMAC-SHA1(secret, username)); expired usernames are refused).
    #[arg(long, env = "SWITCHBOARD_TURN_SECRET", hide_env_values = true)]
    turn_secret: Option<String>,
    /// TURN: most allocations in total; more get 508 [default: 10000].
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_ALLOCATIONS")]
    turn_max_allocations: Option<usize>,
    /// TURN: most allocations per user (REST usernames count under their user part); more
    /// get 486 [default: 10].
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_ALLOCATIONS_PER_USER")]
    turn_max_allocations_per_user: Option<usize>,
    /// TURN: relayed bytes per second per allocation, both directions; 0 for no limit
    /// [default: 2000000].
    #[arg(long, env = "SWITCHBOARD_TURN_BANDWIDTH")]
    turn_bandwidth: Option<u64>,
    /// TURN: unauthenticated requests per second per source address (bursts of twice as
    /// many) before it is ignored [default: 20].
    #[arg(long, env = "SWITCHBOARD_TURN_UNAUTHENTICATED_RATE")]
    turn_unauthenticated_rate: Option<u64>,
    /// TURN: most TCP and TLS connections [default: 10000].
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_CONNECTIONS")]
    turn_max_connections: Option<usize>,
    /// TURN: most TCP and TLS connections from one IP address [default: 256].
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_CONNECTIONS_PER_IP")]
    turn_max_connections_per_ip: Option<usize>,
    /// TURN: a peer network (CIDR) relays may reach despite the safe defaults, which deny
    /// loopback, private, link-local, multicast and the server's own addresses (repeatable).
    #[arg(
        long = "turn-allow-peer",
        env = "SWITCHBOARD_TURN_ALLOW_PEERS",
        value_delimiter = ','
    )]
    turn_allow_peers: Vec<String>,
    /// TURN: allow relaying to loopback peers (tests only).
    #[arg(long, env = "SWITCHBOARD_TURN_ALLOW_LOOPBACK")]
    turn_allow_loopback: bool,
    /// TURN: also accept channel numbers 0x5000-0x7FFE (RFC 5766 clients such as coturn's
    /// turnutils_uclient).
    #[arg(long, env = "SWITCHBOARD_TURN_LEGACY_CHANNELS")]
    turn_legacy_channels: bool,
}

/// The `turn`/`turn_*` keys of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TurnFile {
    /// `serve` runs TURN too.
    pub(crate) turn: Option<bool>,
    turn_listen: Option<SocketAddr>,
    turn_tcp: Option<bool>,
    turn_tls_listen: Option<SocketAddr>,
    turn_tls_cert: Option<PathBuf>,
    turn_tls_key: Option<PathBuf>,
    turn_tls: Option<bool>,
    turn_relay_ip: Option<IpAddr>,
    turn_relay_ports: Option<String>,
    turn_realm: Option<String>,
    turn_users: Option<Vec<String>>,
    turn_secret: Option<String>,
    turn_max_allocations: Option<usize>,
    turn_max_allocations_per_user: Option<usize>,
    turn_bandwidth: Option<u64>,
    turn_unauthenticated_rate: Option<u64>,
    turn_max_connections: Option<usize>,
    turn_max_connections_per_ip: Option<usize>,
    turn_allow_peers: Option<Vec<String>>,
    turn_allow_loopback: Option<bool>,
    turn_legacy_channels: Option<bool>,
}

impl TurnFile {
    /// Moves the `turn` and `turn_*` keys out of a parsed TOML file and reads them.
    pub(crate) fn take(table: &mut toml::Table) -> Result<Self, String> {
        crate::config::take_prefixed(table, |k| k == "turn" || k.starts_with("turn_"))
    }
}

/// TURN settings in force, after merging.
#[derive(Clone)]
pub(crate) struct TurnSettings {
    listen: SocketAddr,
    tcp: bool,
    tls_listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    relay_ip: IpAddr,
    relay_ports: RangeInclusive<u16>,
    realm: String,
    users: Vec<(String, String)>,
    secret: Option<String>,
    max_allocations: usize,
    max_allocations_per_user: usize,
    bandwidth: u64,
    unauthenticated_rate: u64,
    max_connections: usize,
    max_connections_per_ip: usize,
    allow_peers: Vec<Cidr>,
    allow_loopback: bool,
    legacy_channels: bool,
}

impl TurnSettings {
    /// How WebRTC participants reach this server: its ports, and the secret their TURN
    /// credentials are made with (valid for `ttl`).
    pub(crate) fn ice(&self, ttl: std::time::Duration) -> switchboard_rtc::TurnIce {
        switchboard_rtc::TurnIce {
            port: self.listen.port(),
            tls_port: self.tls.as_ref().map(|_| self.tls_listen.port()),
            secret: self.secret.as_ref().map(|s| s.as_bytes().to_vec()),
            ttl,
        }
    }
}

/// Passwords and the secret stay out of logs.
impl std::fmt::Debug for TurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnSettings")
            .field("listen", &self.listen)
            .field("tcp", &self.tcp)
            .field("tls_listen", &self.tls_listen)
            .field("tls", &self.tls)
            .field("relay_ip", &self.relay_ip)
            .field("relay_ports", &self.relay_ports)
            .field("realm", &self.realm)
            .field("users", &self.users.len())
            .field("secret", &self.secret.is_some())
            .field("max_allocations", &self.max_allocations)
            .field("max_allocations_per_user", &self.max_allocations_per_user)
            .field("bandwidth", &self.bandwidth)
            .field("unauthenticated_rate", &self.unauthenticated_rate)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("allow_peers", &self.allow_peers)
            .field("allow_loopback", &self.allow_loopback)
            .field("legacy_channels", &self.legacy_channels)
            .finish()
    }
}

fn parse_user(spec: &str) -> Result<(String, String), String> {
    spec.split_once(':')
        .filter(|(name, password)| !name.is_empty() && !password.is_empty())
        .map(|(n, p)| (n.to_owned(), p.to_owned()))
        .ok_or_else(|| format!("turn user {spec:?}: expected NAME:PASSWORD"))
}

fn parse_ports(spec: &str) -> Result<RangeInclusive<u16>, String> {
    spec.split_once('-')
        .and_then(|(l, h)| Some((l.trim().parse::<u16>().ok()?, h.trim().parse::<u16>().ok()?)))
        .filter(|(l, h)| 0 < *l && l <= h)
        .map(|(l, h)| l..=h)
        .ok_or_else(|| format!("turn relay ports {spec:?}: expected LOW-HIGH"))
}

impl TurnSettings {
    /// Merges flags and environment (combined by clap) over the file over defaults.
    /// `serve_tls` is the certificate `serve` uses, the TLS default.
    pub(crate) fn resolve(
        args: TurnArgs,
        file: TurnFile,
        serve_tls: Option<&(PathBuf, PathBuf)>,
    ) -> Result<Self, String> {
        let listen = args
            .turn_listen
            .or(file.turn_listen)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        let tls_listen = args
            .turn_tls_listen
            .or(file.turn_tls_listen)
            .unwrap_or(SocketAddr::new(listen.ip(), DEFAULT_TLS_PORT));
        let own_tls = match (
            args.turn_tls_cert.or(file.turn_tls_cert),
            args.turn_tls_key.or(file.turn_tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(String::from(
                    "turn_tls_cert and turn_tls_key must be given together",
                ))
            }
        };
        let tls_on = !args.turn_no_tls && file.turn_tls.unwrap_or(true);
        let tls = own_tls.or_else(|| serve_tls.cloned()).filter(|_| tls_on);
        let relay_ip = match args.turn_relay_ip.or(file.turn_relay_ip) {
            Some(ip) => ip,
            None if listen.ip().is_unspecified() => {
                return Err(String::from(
                    "give turn_relay_ip: the listen address is unspecified, and clients must \
                     be told a specific relay address",
                ))
            }
            None => listen.ip(),
        };
        if relay_ip.is_unspecified() {
            return Err(String::from("turn_relay_ip must be a specific address"));
        }
        let relay_ports = parse_ports(
            args.turn_relay_ports
                .or(file.turn_relay_ports)
                .as_deref()
                .unwrap_or("49152-65535"),
        )?;
        let user_specs = if args.turn_users.is_empty() {
            file.turn_users.unwrap_or_default()
        } else {
            args.turn_users
        };
        let users = user_specs
            .iter()
            .map(|s| parse_user(s))
            .collect::<Result<Vec<_>, _>>()?;
        let secret = args.turn_secret.or(file.turn_secret);
        if users.is_empty() && secret.is_none() {
            return Err(String::from(
                "TURN needs at least one turn user (--turn-user NAME:PASSWORD) or a \
                 --turn-secret",
            ));
        }
        let peer_specs = if args.turn_allow_peers.is_empty() {
            file.turn_allow_peers.unwrap_or_default()
        } else {
            args.turn_allow_peers
        };
        let allow_peers = peer_specs
            .iter()
            .map(|s| {
                s.parse::<Cidr>()
                    .map_err(|_| format!("turn allow peer {s:?}: expected ADDRESS/PREFIX"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let settings = Self {
            listen,
            tcp: !args.turn_no_tcp && file.turn_tcp.unwrap_or(true),
            tls_listen,
            tls,
            relay_ip,
            relay_ports,
            realm: args
                .turn_realm
                .or(file.turn_realm)
                .unwrap_or_else(|| "switchboard".into()),
            users,
            secret,
            max_allocations: args
                .turn_max_allocations
                .or(file.turn_max_allocations)
                .unwrap_or(10_000),
            max_allocations_per_user: args
                .turn_max_allocations_per_user
                .or(file.turn_max_allocations_per_user)
                .unwrap_or(10),
            bandwidth: args
                .turn_bandwidth
                .or(file.turn_bandwidth)
                .unwrap_or(2_000_000),
            unauthenticated_rate: args
                .turn_unauthenticated_rate
                .or(file.turn_unauthenticated_rate)
                .unwrap_or(20),
            max_connections: args
                .turn_max_connections
                .or(file.turn_max_connections)
                .unwrap_or(10_000),
            max_connections_per_ip: args
                .turn_max_connections_per_ip
                .or(file.turn_max_connections_per_ip)
                .unwrap_or(256),
            allow_peers,
            allow_loopback: args.turn_allow_loopback || file.turn_allow_loopback.unwrap_or(false),
            legacy_channels: args.turn_legacy_channels
                || file.turn_legacy_channels.unwrap_or(false),
        };
        if settings.max_allocations == 0
            || settings.max_allocations_per_user == 0
            || settings.max_connections == 0
            || settings.max_connections_per_ip == 0
        {
            return Err(String::from(
                "turn_max_allocations, turn_max_allocations_per_user, turn_max_connections and \
                 turn_max_connections_per_ip must be at least 1",
            ));
        }
        Ok(settings)
    }

    /// The shell's configuration; reads the TLS files.
    fn shell_config(&self) -> Result<ShellConfig, String> {
        let mut credentials = Credentials::new(self.realm.clone());
        for (name, password) in &self.users {
            credentials.add_user(name, password);
        }
        if let Some(secret) = &self.secret {
            credentials.set_shared_secret(secret.as_bytes().to_vec());
        }
        let mut config = ShellConfig::new(credentials, self.relay_ip).map_err(|e| e.to_string())?;
        config.listen = self.listen;
        config.tcp_listen = self.tcp.then_some(self.listen);
        config.tls_listen = Some(self.tls_listen);
        config.tls = match &self.tls {
            Some((cert, key)) => Some(tls_config(cert, key)?),
            None => None,
        };
        config.relay_ports = self.relay_ports.clone();
        config.streams.max_connections = self.max_connections;
        config.streams.max_connections_per_ip = self.max_connections_per_ip;
        let turn = &mut config.turn;
        turn.software = Some(format!("switchboard {}", env!("CARGO_PKG_VERSION")));
        turn.max_allocations = self.max_allocations;
        turn.max_allocations_per_user = self.max_allocations_per_user;
        turn.bandwidth_per_allocation = (self.bandwidth > 0).then_some(self.bandwidth);
        turn.unauthenticated_limit.per_second = self.unauthenticated_rate;
        turn.unauthenticated_limit.burst = self.unauthenticated_rate.saturating_mul(2);
        turn.policy.allow.extend(self.allow_peers.iter().copied());
        turn.policy.allow_loopback = self.allow_loopback;
        turn.legacy_channel_numbers = self.legacy_channels;
        Ok(config)
    }
}

/// rustls settings from the PEM files, without ALPN (serve's offers `http/1.1`, which a
/// TURN client would not ask for).
fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let config = switchboard_ws_tokio::tls::server_config(cert, key).map_err(|e| e.to_string())?;
    let mut config = (*config).clone();
    config.alpn_protocols.clear();
    Ok(Arc::new(config))
}

/// Binds every listener of `settings`.
async fn bind(settings: &TurnSettings) -> Result<TurnServer, String> {
    let config = settings.shell_config()?;
    TurnServer::bind(config)
        .await
        .map_err(|e| format!("TURN cannot listen on {}: {e}", settings.listen))
}

/// The ready line: every listener's address.
fn ready_line(server: &TurnServer) -> String {
    let mut line = format!(
        "switchboard turn listening on udp://{}",
        server.local_addr()
    );
    if let Some(tcp) = server.tcp_local_addr() {
        line.push_str(&format!(" tcp://{tcp}"));
    }
    if let Some(tls) = server.tls_local_addr() {
        line.push_str(&format!(" tls://{tls}"));
    }
    line
}

/// A TURN server running on its own thread (inside `serve`); stopped on drop.
pub(crate) struct Running {
    handle: Handle,
    ready: String,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Binds, then runs the server on a new thread with a single-threaded runtime.
    pub(crate) fn start(settings: &TurnSettings) -> Result<Self, String> {
        let settings = settings.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sb-turn".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match bind(&settings).await {
                        Ok(server) => {
                            let _ = tx.send(Ok((server.handle(), ready_line(&server))));
                            if let Err(e) = server.run().await {
                                tracing::error!(error = %e, "TURN server stopped");
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| format!("cannot start the TURN thread: {e}"))?;
        let (handle, ready) = rx
            .recv()
            .map_err(|_| String::from("the TURN thread ended early"))??;
        info!(%ready, "TURN running");
        Ok(Self {
            handle,
            ready,
            thread: Some(thread),
        })
    }

    /// A handle for counters.
    pub(crate) fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The ready line naming every listener.
    pub(crate) fn ready_line(&self) -> &str {
        &self.ready
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// TURN counters in the Prometheus text format, appended to `/metrics`.
pub(crate) fn render_metrics(handle: &Handle) -> String {
    let c = handle.counters();
    format!(
        "# TYPE switchboard_turn_allocations gauge\nswitchboard_turn_allocations {}\n\
         # TYPE switchboard_turn_allocations_total counter\nswitchboard_turn_allocations_total {}\n\
         # TYPE switchboard_turn_connections gauge\nswitchboard_turn_connections {}\n\
         # TYPE switchboard_turn_relayed_bytes_total counter\n\
         switchboard_turn_relayed_bytes_total{{direction=\"to_peer\"}} {}\n\
         switchboard_turn_relayed_bytes_total{{direction=\"to_client\"}} {}\n\
         # TYPE switchboard_turn_relayed_packets_total counter\n\
         switchboard_turn_relayed_packets_total{{direction=\"to_peer\"}} {}\n\
         switchboard_turn_relayed_packets_total{{direction=\"to_client\"}} {}\n\
         # TYPE switchboard_turn_relayed_internally_total counter\n\
         switchboard_turn_relayed_internally_total {}\n\
         # TYPE switchboard_turn_auth_failures_total counter\nswitchboard_turn_auth_failures_total {}\n\
         # TYPE switchboard_turn_peers_denied_total counter\nswitchboard_turn_peers_denied_total {}\n\
         # TYPE switchboard_turn_rate_limited_total counter\nswitchboard_turn_rate_limited_total {}\n\
         # TYPE switchboard_turn_dropped_total counter\nswitchboard_turn_dropped_total {}\n",
        c.allocations_active,
        c.allocations_created,
        handle.connections(),
        c.bytes_to_peers,
        c.bytes_to_clients,
        c.packets_to_peers,
        c.packets_to_clients,
        c.relayed_internally,
        c.auth_failures,
        c.peers_denied,
        c.rate_limited,
        c.dropped_packets,
    )
}

/// `switchboard turn` flags.
#[derive(Debug, Args)]
pub(crate) struct TurnCommand {
    /// TOML configuration file (the one `serve` reads): its `turn_*` keys, and `tls_cert`,
    /// `tls_key` and `log_level`, apply; flags and environment variables override them.
    #[arg(long, short = 'c', env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive [default: info].
    #[arg(long, env = "SWITCHBOARD_LOG")]
    log_level: Option<String>,
    #[command(flatten)]
    turn: TurnArgs,
}

/// The serve keys `switchboard turn` also reads from the file.
#[derive(Debug, Default, Deserialize)]
struct SharedKeys {
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_level: Option<String>,
}

impl TurnCommand {
    /// The settings in force and the log filter.
    fn load(self) -> Result<(TurnSettings, String), String> {
        let (file, shared) = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let mut table: toml::Table =
                    toml::from_str(&text).map_err(|e| format!("in {}: {e}", path.display()))?;
                let turn = TurnFile::take(&mut table)
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                let shared: SharedKeys = toml::Value::Table(table)
                    .try_into()
                    .map_err(|e| format!("in {}: {e}", path.display()))?;
                (turn, shared)
            }
            None => (TurnFile::default(), SharedKeys::default()),
        };
        let env_path = |name: &str| std::env::var_os(name).map(PathBuf::from);
        let serve_tls = match (
            env_path("SWITCHBOARD_TLS_CERT").or(shared.tls_cert),
            env_path("SWITCHBOARD_TLS_KEY").or(shared.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => None,
        };
        let log_level = self
            .log_level
            .or(shared.log_level)
            .unwrap_or_else(|| "info".into());
        let settings = TurnSettings::resolve(self.turn, file, serve_tls.as_ref())?;
        Ok((settings, log_level))
    }
}

/// `switchboard turn`: runs the TURN server until SIGINT/SIGTERM.
pub(crate) fn main(command: TurnCommand) -> Result<(), String> {
    let (settings, log_level) = command.load()?;
    crate::init_logging(&log_level)?;
    crate::limits::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let server = bind(&settings).await?;
        let signals = crate::serve::Signals::install();
        crate::serve::announce(&ready_line(&server));
        info!(?settings, "TURN listening");
        let handle = server.handle();
        let run = tokio::spawn(server.run());
        signals.recv().await;
        info!(counters = ?handle.counters(), "TURN shutting down");
        handle.shutdown();
        let _ = run.await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        turn: TurnArgs,
    }

    fn args(flags: &[&str]) -> TurnArgs {
        Cli::parse_from(std::iter::once("t").chain(flags.iter().copied())).turn
    }

    fn file(text: &str) -> TurnFile {
        let mut table: toml::Table = toml::from_str(text).unwrap();
        TurnFile::take(&mut table).unwrap()
    }

    #[test]
    fn defaults_are_loopback_and_safe() {
        let s = TurnSettings::resolve(args(&["--turn-user", "a:b"]), TurnFile::default(), None)
            .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3478");
        assert_eq!(s.tls_listen.to_string(), "127.0.0.1:5349");
        assert!(s.tcp && s.tls.is_none() && !s.allow_loopback && !s.legacy_channels);
        assert_eq!(s.relay_ip.to_string(), "127.0.0.1");
        assert_eq!(s.relay_ports, 49152..=65535);
        assert_eq!((s.bandwidth, s.unauthenticated_rate), (2_000_000, 20));
        assert_eq!(
            (s.max_allocations, s.max_allocations_per_user),
            (10_000, 10)
        );
        let config = s.shell_config().unwrap();
        assert_eq!(config.tcp_listen, Some(s.listen));
        assert!(config.tls.is_none());
        assert!(!config.turn.policy.allow_loopback);
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let f = file(
            "turn = true\nturn_realm = \"file.realm\"\nturn_users = [\"f:pw\"]\n\
             turn_relay_ports = \"50000-50010\"\nturn_bandwidth = 5\nturn_tcp = false\n\
             turn_allow_peers = [\"10.0.0.0/8\"]\nturn_legacy_channels = true\n",
        );
        assert_eq!(f.turn, Some(true));
        let a = args(&[
            "--turn-user",
            "x:y",
            "--turn-user",
            "z:w",
            "--turn-bandwidth",
            "0",
            "--turn-relay-ports",
            "40000-40100",
            "--turn-allow-loopback",
        ]);
        let s = TurnSettings::resolve(a, f, None).unwrap();
        assert_eq!(s.realm, "file.realm");
        assert_eq!(s.users.len(), 2);
        assert_eq!(s.relay_ports, 40000..=40100);
        assert_eq!(s.bandwidth, 0);
        assert!(!s.tcp && s.allow_loopback && s.legacy_channels);
        assert_eq!(s.allow_peers.len(), 1);
        let config = s.shell_config().unwrap();
        assert_eq!(config.turn.bandwidth_per_allocation, None);
        assert_eq!(config.tcp_listen, None);
        assert!(config.turn.legacy_channel_numbers);
    }

    #[test]
    fn serve_tls_is_reused_unless_turned_off() {
        let serve = (PathBuf::from("c.pem"), PathBuf::from("k.pem"));
        let s = TurnSettings::resolve(
            args(&["--turn-secret", "s"]),
            TurnFile::default(),
            Some(&serve),
        )
        .unwrap();
        assert_eq!(s.tls, Some(serve.clone()));
        let s = TurnSettings::resolve(
            args(&[
                "--turn-secret",
                "s",
                "--turn-tls-cert",
                "t.pem",
                "--turn-tls-key",
                "tk.pem",
            ]),
            TurnFile::default(),
            Some(&serve),
        )
        .unwrap();
        assert_eq!(s.tls.map(|t| t.0), Some(PathBuf::from("t.pem")));
        let s = TurnSettings::resolve(
            args(&["--turn-secret", "s"]),
            file("turn_tls = false"),
            Some(&serve),
        )
        .unwrap();
        assert_eq!(s.tls, None);
    }

    #[test]
    fn bad_settings_are_explained() {
        for (flags, toml) in [
            (vec![], ""),
            (vec!["--turn-user", "nopassword"], ""),
            (vec!["--turn-user", "a:b", "--turn-relay-ports", "9-1"], ""),
            (
                vec!["--turn-user", "a:b", "--turn-allow-peer", "10.0.0.0/40"],
                "",
            ),
            (
                vec!["--turn-user", "a:b", "--turn-listen", "0.0.0.0:3478"],
                "",
            ),
            (
                vec!["--turn-user", "a:b", "--turn-max-allocations", "0"],
                "",
            ),
            (
                vec!["--turn-user", "a:b"],
                "turn_tls_cert = \"only-cert.pem\"",
            ),
        ] {
            let result = TurnSettings::resolve(args(&flags), file(toml), None);
            assert!(result.is_err(), "{flags:?} {toml}");
        }
        let mut table: toml::Table = toml::from_str("turn_no_such_key = 1").unwrap();
        let err = TurnFile::take(&mut table).unwrap_err();
        assert!(err.contains("turn_no_such_key"), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = TurnSettings::resolve(
            args(&["--turn-user", "alice:hunter2", "--turn-secret", "s3cr3t"]),
            TurnFile::default(),
            None,
        )
        .unwrap();
        let text = format!("{s:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("s3cr3t"),
            "{text}"
        );
    }
}
