//! `switchboard turn`: the built-in STUN/TURN server on its own (UDP; issue #4).

use std::net::{IpAddr, SocketAddr};

use clap::Args;
use switchboard_turn::{Cidr, Credentials};
use switchboard_turn_tokio::{ShellConfig, TurnServer};
use tracing::info;

/// `switchboard turn` flags (each also read from its `SWITCHBOARD_TURN_*` variable).
#[derive(Debug, Args)]
pub(crate) struct TurnArgs {
    /// UDP address for STUN/TURN.
    #[arg(
        long,
        env = "SWITCHBOARD_TURN_LISTEN",
        default_value = "127.0.0.1:3478"
    )]
    listen: SocketAddr,
    /// Address relays are bound on and advertised as (the server's public address).
    #[arg(long, env = "SWITCHBOARD_TURN_RELAY_IP", default_value = "127.0.0.1")]
    relay_ip: IpAddr,
    /// Relay port range, LOW-HIGH.
    #[arg(
        long,
        env = "SWITCHBOARD_TURN_RELAY_PORTS",
        default_value = "49152-65535"
    )]
    relay_ports: String,
    /// Authentication realm.
    #[arg(long, env = "SWITCHBOARD_TURN_REALM", default_value = "switchboard")]
    realm: String,
    /// A static user as NAME:PASSWORD (long-term credentials; repeatable).
    #[arg(long = "user", env = "SWITCHBOARD_TURN_USERS", value_delimiter = ',')]
    users: Vec<String>,
    /// Shared secret for TURN REST credentials (username `expiry:user`,
    /// password base64(HMAC-SHA1(secret, username))).
    #[arg(long, env = "SWITCHBOARD_TURN_SECRET")]
    secret: Option<String>,
    /// Peer networks to allow despite the safe defaults, as CIDR (repeatable).
    #[arg(
        long = "allow-peer",
        env = "SWITCHBOARD_TURN_ALLOW_PEERS",
        value_delimiter = ','
    )]
    allow_peers: Vec<String>,
    /// Allow relaying to loopback peers (tests only).
    #[arg(long, env = "SWITCHBOARD_TURN_ALLOW_LOOPBACK")]
    allow_loopback: bool,
    /// Accept channel numbers 0x5000-0x7FFF (RFC 5766 clients such as coturn's tools).
    #[arg(long, env = "SWITCHBOARD_TURN_LEGACY_CHANNELS")]
    legacy_channels: bool,
    /// Relayed bytes per second per allocation (0: unlimited) [default: 2000000].
    #[arg(long, env = "SWITCHBOARD_TURN_BANDWIDTH")]
    bandwidth: Option<u64>,
    /// Unauthenticated requests per second per source before it is throttled [default: 20].
    #[arg(long, env = "SWITCHBOARD_TURN_UNAUTHENTICATED_RATE")]
    unauthenticated_rate: Option<u64>,
    /// Most allocations per user [default: 10].
    #[arg(long, env = "SWITCHBOARD_TURN_MAX_ALLOCATIONS_PER_USER")]
    max_allocations_per_user: Option<usize>,
    /// Log filter [default: info].
    #[arg(long, env = "SWITCHBOARD_LOG", default_value = "info")]
    pub(crate) log_level: String,
}

fn parse_user(spec: &str) -> Result<(&str, &str), String> {
    spec.split_once(':')
        .filter(|(name, password)| !name.is_empty() && !password.is_empty())
        .ok_or_else(|| format!("--user {spec:?}: expected NAME:PASSWORD"))
}

fn parse_cidr(spec: &str) -> Result<Cidr, String> {
    let bad = || format!("--allow-peer {spec:?}: expected ADDRESS/PREFIX");
    let (addr, prefix) = spec.split_once('/').ok_or_else(bad)?;
    Cidr::new(
        addr.parse().map_err(|_| bad())?,
        prefix.parse().map_err(|_| bad())?,
    )
    .ok_or_else(bad)
}

/// Builds the shell configuration from the flags.
fn shell_config(args: &TurnArgs) -> Result<ShellConfig, String> {
    if args.users.is_empty() && args.secret.is_none() {
        return Err(String::from(
            "give at least one --user NAME:PASSWORD or a --secret",
        ));
    }
    let mut credentials = Credentials::new(args.realm.clone());
    for spec in &args.users {
        let (name, password) = parse_user(spec)?;
        credentials.add_user(name, password);
    }
    if let Some(secret) = &args.secret {
        credentials.set_shared_secret(secret.as_bytes().to_vec());
    }
    let mut config = ShellConfig::new(credentials, args.relay_ip).map_err(|e| e.to_string())?;
    config.listen = args.listen;
    let (low, high) = args
        .relay_ports
        .split_once('-')
        .and_then(|(l, h)| Some((l.parse::<u16>().ok()?, h.parse::<u16>().ok()?)))
        .filter(|(l, h)| l <= h)
        .ok_or_else(|| format!("--relay-ports {:?}: expected LOW-HIGH", args.relay_ports))?;
    config.relay_ports = low..=high;
    for spec in &args.allow_peers {
        config.turn.policy.allow.push(parse_cidr(spec)?);
    }
    config.turn.policy.allow_loopback = args.allow_loopback;
    config.turn.legacy_channel_numbers = args.legacy_channels;
    if let Some(bandwidth) = args.bandwidth {
        config.turn.bandwidth_per_allocation = (bandwidth > 0).then_some(bandwidth);
    }
    if let Some(rate) = args.unauthenticated_rate {
        config.turn.unauthenticated_limit.per_second = rate;
        config.turn.unauthenticated_limit.burst = rate.saturating_mul(2);
    }
    if let Some(max) = args.max_allocations_per_user {
        config.turn.max_allocations_per_user = max;
    }
    Ok(config)
}

/// Runs the TURN server until SIGINT/SIGTERM.
pub(crate) fn main(args: TurnArgs) -> Result<(), String> {
    let config = shell_config(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let server = TurnServer::bind(config)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        crate::serve::announce(&format!(
            "switchboard turn listening on udp://{}",
            server.local_addr()
        ));
        info!(local = %server.local_addr(), "TURN listening");
        let handle = server.handle();
        let run = tokio::spawn(server.run());
        crate::serve::wait_for_signal().await;
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

    #[test]
    fn flags_build_a_shell_config() {
        let cli = Cli::parse_from([
            "t",
            "--user",
            "alice:pw",
            "--relay-ports",
            "50000-50100",
            "--allow-peer",
            "10.1.0.0/16",
            "--legacy-channels",
            "--bandwidth",
            "0",
        ]);
        let config = shell_config(&cli.turn).unwrap();
        assert_eq!(config.relay_ports, 50000..=50100);
        assert!(config.turn.legacy_channel_numbers);
        assert_eq!(config.turn.bandwidth_per_allocation, None);
        assert_eq!(config.turn.policy.allow.len(), 1);
    }

    #[test]
    fn bad_flags_are_explained() {
        for args in [
            vec!["t"],
            vec!["t", "--user", "nopassword"],
            vec!["t", "--user", "a:b", "--relay-ports", "9-1"],
            vec!["t", "--user", "a:b", "--allow-peer", "10.0.0.0"],
        ] {
            let cli = Cli::parse_from(args.clone());
            assert!(shell_config(&cli.turn).is_err(), "{args:?}");
        }
    }
}
