//! Connecting to `ws://` and `wss://` servers.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use switchboard_ws::handshake::{
    ClientAccepted, ClientHandshake, ClientOptions, DEFAULT_MAX_HEAD_SIZE,
};
use switchboard_ws::{Config, Connection, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::socket::WebSocket;
use crate::stream::Stream;

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// Whether to use TLS.
    pub secure: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 or 443 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl WsUrl {
    /// Parses `ws://host[:port][/path][?query]` or the `wss://` form.
    pub fn parse(url: &str) -> io::Result<Self> {
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad WebSocket URL {url:?}: {why}"),
            )
        };
        let (secure, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else {
            return Err(bad("scheme must be ws:// or wss://"));
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, String::from("/")),
        };
        if authority.contains('@') {
            return Err(bad("user info is not supported"));
        }
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("junk after ]")),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), port.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            secure,
            host,
            port,
            target,
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Handshake options: subprotocols, deflate offer, extra headers.
    pub options: ClientOptions,
    /// Limits and timers of the connection.
    pub config: Config,
    /// TLS settings for `wss://` (the Mozilla roots when `None`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Time allowed for TCP connect, TLS and the handshake together.
    pub handshake_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            options: ClientOptions::default(),
            config: Config::default(),
            tls: None,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Connects to `url`, performs the opening handshake and returns the socket and what the
/// server agreed to.
pub async fn connect(
    url: &str,
    config: ClientConfig,
) -> io::Result<(WebSocket<Stream>, ClientAccepted)> {
    let url = WsUrl::parse(url)?;
    let timeout = config.handshake_timeout;
    tokio::time::timeout(timeout, connect_inner(url, config))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "WebSocket handshake timed out"))?
}

/// Opens the byte stream `url` names: TCP (with `TCP_NODELAY`), and TLS over it for `wss://`
/// (with `tls`, or the Mozilla roots when `None`). For other protocols to the same server, such
/// as HTTP long-polling.
pub async fn connect_stream(
    url: &WsUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Stream> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port)).await?;
    tcp.set_nodelay(true)?;
    if !url.secure {
        return Ok(Stream::Plain(tcp));
    }
    let tls = match tls {
        Some(tls) => tls,
        None => crate::tls::client_config(None)?,
    };
    let name = rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls_stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(
        tls_stream,
    ))))
}

async fn connect_inner(
    url: WsUrl,
    config: ClientConfig,
) -> io::Result<(WebSocket<Stream>, ClientAccepted)> {
    let mut stream = connect_stream(&url, config.tls).await?;
    let (handshake, request) =
        ClientHandshake::new(&url.host_header(), &url.target, config.options);
    stream.write_all(&request).await?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed during handshake",
            ));
        }
        match handshake.parse_response(&buf, DEFAULT_MAX_HEAD_SIZE) {
            Ok(Some((accepted, used))) => {
                let now = tokio::time::Instant::now().into_std();
                let conn = Connection::new(Role::Client, config.config, accepted.deflate, now);
                let socket = WebSocket::new(stream, conn, &buf[used..]);
                return Ok((socket, accepted));
            }
            Ok(None) => continue,
            Err(err) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = WsUrl::parse("ws://127.0.0.1:3000/ws/echo?x=1").unwrap();
        assert_eq!(
            (u.secure, u.host.as_str(), u.port, u.target.as_str()),
            (false, "127.0.0.1", 3000, "/ws/echo?x=1")
        );
        let u = WsUrl::parse("wss://example.com").unwrap();
        assert_eq!(
            (u.secure, u.port, u.target.as_str(), u.host_header()),
            (true, 443, "/", "example.com".into())
        );
        let u = WsUrl::parse("ws://[::1]:9000?q").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str(), u.host_header()),
            ("::1", 9000, "/?q", "[::1]:9000".into())
        );
        for bad in [
            "http://x",
            "ws://",
            "ws://h:notaport/",
            "ws://u@h/",
            "ws://[::1",
        ] {
            assert!(WsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
