//! The ICE servers handed to each participant: the built-in STUN/TURN server with TURN REST
//! credentials made for that participant, and any others the operator lists.

use std::time::Duration;

use serde::Serialize;

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// The TURN username, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The TURN password, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Where the built-in TURN server listens and how to make credentials for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnIce {
    /// Its UDP and TCP port.
    pub port: u16,
    /// Its TLS port, when TLS is on.
    pub tls_port: Option<u16>,
    /// The TURN REST shared secret; without it only STUN is offered.
    pub secret: Option<Vec<u8>>,
    /// How long credentials stay valid.
    pub ttl: Duration,
}

/// What ICE servers participants get.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceConfig {
    /// The built-in STUN/TURN server, when it runs.
    pub turn: Option<TurnIce>,
    /// Servers listed by the operator, handed out as they are.
    pub extra: Vec<IceServer>,
    /// The host name for the built-in server's URLs; by default the one the client used
    /// to reach this server.
    pub host: Option<String>,
}

impl IceConfig {
    /// The ICE servers for participant `user` reaching this server as `host` (from the
    /// request's `Host` header), at `now_unix` seconds.
    pub fn servers_for(&self, host: &str, user: &str, now_unix: u64) -> Vec<IceServer> {
        let mut out = Vec::new();
        if let Some(turn) = &self.turn {
            let host = bracket_ipv6(self.host.as_deref().unwrap_or(host));
            out.push(IceServer {
                urls: vec![format!("stun:{host}:{}", turn.port)],
                username: None,
                credential: None,
            });
            if let Some(secret) = &turn.secret {
                let expiry = now_unix.saturating_add(turn.ttl.as_secs());
                let (username, credential) =
                    switchboard_turn::rest_credentials(secret, user, expiry);
                let mut urls = vec![
                    format!("turn:{host}:{}?transport=udp", turn.port),
                    format!("turn:{host}:{}?transport=tcp", turn.port),
                ];
                if let Some(tls) = turn.tls_port {
                    urls.push(format!("turns:{host}:{tls}?transport=tcp"));
                }
                out.push(IceServer {
                    urls,
                    username: Some(username),
                    credential: Some(credential),
                });
            }
        }
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// The host part of a `Host` header value (port dropped), ready to put in a URL.
pub fn host_of(header: &str) -> &str {
    if let Some(rest) = header.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match header.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => header,
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_follow_the_rest_scheme() {
        let config = IceConfig {
            turn: Some(TurnIce {
                port: 3478,
                tls_port: Some(5349),
                secret: Some(b"secret".to_vec()),
                ttl: Duration::from_secs(3600),
            }),
            extra: Vec::new(),
            host: None,
        };
        let servers = config.servers_for("example.org", "p1", 1_000);
        assert_eq!(servers[0].urls, ["stun:example.org:3478"]);
        let turn = &servers[1];
        assert_eq!(
            turn.urls,
            [
                "turn:example.org:3478?transport=udp",
                "turn:example.org:3478?transport=tcp",
                "turns:example.org:5349?transport=tcp"
            ]
        );
        assert_eq!(turn.username.as_deref(), Some("4600:p1"));
        let expected = switchboard_turn::rest_password(b"secret", "4600:p1");
        assert_eq!(turn.credential.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn without_a_secret_only_stun_is_offered() {
        let config = IceConfig {
            turn: Some(TurnIce {
                port: 3478,
                tls_port: None,
                secret: None,
                ttl: Duration::from_secs(60),
            }),
            extra: vec![IceServer {
                urls: vec!["stun:stun.example.net".into()],
                username: None,
                credential: None,
            }],
            host: None,
        };
        let servers = config.servers_for("::1", "p", 0);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:[::1]:3478"]);
        assert_eq!(servers[1].urls, ["stun:stun.example.net"]);
        let public = IceConfig {
            host: Some("turn.example.org".into()),
            ..config
        };
        assert_eq!(
            public.servers_for("10.0.0.1", "p", 0)[0].urls,
            ["stun:turn.example.org:3478"]
        );
    }

    #[test]
    fn host_headers_lose_their_port() {
        assert_eq!(host_of("example.org:3000"), "example.org");
        assert_eq!(host_of("example.org"), "example.org");
        assert_eq!(host_of("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host_of("[::1]:3000"), "::1");
        assert_eq!(host_of("::1"), "::1");
    }
}
