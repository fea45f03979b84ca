//! A standalone TURN server for manual and interoperability tests (for example with coturn's
//! `turnutils_uclient`).
//!
//! ```text
//! cargo run --example turn_server -- --listen 127.0.0.1:3478 --relay 127.0.0.1 \
//!     --realm example.org --user alice:secret [--secret rest-secret] [--allow-loopback] [--legacy-channels]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use switchboard_turn::Credentials;
use switchboard_turn_tokio::{ShellConfig, TurnServer};

fn usage() -> ! {
    eprintln!(
        "usage: turn_server [--listen ADDR] [--relay IP] [--ports LO-HI] [--realm REALM] \
         [--user NAME:PASSWORD]... [--secret SECRET] [--allow-loopback] [--legacy-channels] [--bandwidth BYTES_PER_S]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 3478));
    let mut relay: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut ports = (49152u16, 65535u16);
    let mut realm = String::from("switchboard");
    let mut users = Vec::new();
    let mut secret = None;
    let mut allow_loopback = false;
    let mut bandwidth = None;
    let mut legacy_channels = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--listen" => listen = value().parse().unwrap_or_else(|_| usage()),
            "--relay" => relay = value().parse().unwrap_or_else(|_| usage()),
            "--ports" => {
                let v = value();
                let (lo, hi) = v.split_once('-').unwrap_or_else(|| usage());
                ports = (
                    lo.parse().unwrap_or_else(|_| usage()),
                    hi.parse().unwrap_or_else(|_| usage()),
                );
            }
            "--realm" => realm = value(),
            "--user" => {
                let v = value();
                let (u, p) = v.split_once(':').unwrap_or_else(|| usage());
                users.push((u.to_owned(), p.to_owned()));
            }
            "--secret" => secret = Some(value()),
            "--allow-loopback" => allow_loopback = true,
            "--legacy-channels" => legacy_channels = true,
            "--bandwidth" => bandwidth = Some(value().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    let mut credentials = Credentials::new(realm);
    for (u, p) in &users {
        credentials.add_user(u, p);
    }
    if let Some(s) = secret {
        credentials.set_shared_secret(s);
    }
    let mut config = ShellConfig::new(credentials, relay)?;
    config.listen = listen;
    config.tcp_listen = Some(listen);
    config.relay_ports = ports.0..=ports.1;
    config.turn.policy.allow_loopback = allow_loopback;
    config.turn.bandwidth_per_allocation = bandwidth;
    config.turn.legacy_channel_numbers = legacy_channels;
    config.turn.unauthenticated_limit.per_second = 1000;
    config.turn.unauthenticated_limit.burst = 2000;
    config.turn.max_allocations_per_user = 1000;
    let server = TurnServer::bind(config).await?;
    println!("listening on {}", server.local_addr());
    let handle = server.handle();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            println!("{:?}", handle.counters());
        }
    });
    server.run().await
}
