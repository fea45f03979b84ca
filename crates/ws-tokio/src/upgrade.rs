//! Accepting WebSockets from hyper: validate the request, answer 101, take over the stream.

use std::io;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use switchboard_ws::handshake::{self, Accepted, HandshakeError, HeaderLookup, ServerPolicy};
use switchboard_ws::{Config, Connection, DeflateParams, Role};

use crate::socket::WebSocket;
use crate::stream::{BoxTransport, Transport};

/// Adapts hyper's header map to the protocol crate's [`HeaderLookup`].
#[derive(Debug, Clone, Copy)]
pub struct HeaderMapLookup<'a>(pub &'a http::HeaderMap);

impl HeaderLookup for HeaderMapLookup<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0.get_all(name).iter().map(|v| v.as_bytes()).collect()
    }
}

/// Whether `req` asks for a WebSocket upgrade (whatever else is wrong with it).
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    handshake::is_upgrade_request(&HeaderMapLookup(req.headers()))
}

/// An accepted handshake whose stream hyper hands over once the 101 response is sent.
#[derive(Debug)]
pub struct PendingUpgrade {
    on_upgrade: OnUpgrade,
    deflate: Option<DeflateParams>,
    config: Config,
    protocol: Option<String>,
}

/// Validates `req`. On success returns the 101 response to send and the upgrade to await; on
/// failure, the refusal (see [`error_response`]).
pub fn accept<B>(
    req: &mut http::Request<B>,
    policy: &ServerPolicy,
    config: Config,
) -> Result<(http::Response<()>, PendingUpgrade), HandshakeError> {
    let accepted = handshake::accept_request(
        req.method().as_str(),
        &HeaderMapLookup(req.headers()),
        policy,
    )?;
    let on_upgrade = hyper::upgrade::on(req);
    let response = switching_protocols(&accepted);
    Ok((
        response,
        PendingUpgrade {
            on_upgrade,
            deflate: accepted.deflate,
            config,
            protocol: accepted.protocol,
        },
    ))
}

fn switching_protocols(accepted: &Accepted) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    for (name, value) in accepted.response_headers() {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The HTTP response for a refused handshake: its status, extra headers and reason as body.
pub fn error_response(err: &HandshakeError) -> http::Response<String> {
    let mut response = http::Response::new(format!("{}\n", err.reason));
    *response.status_mut() =
        http::StatusCode::from_u16(err.status).unwrap_or(http::StatusCode::BAD_REQUEST);
    for (name, value) in err.response_headers() {
        response
            .headers_mut()
            .insert(*name, http::HeaderValue::from_static(value));
    }
    response
}

impl PendingUpgrade {
    /// The subprotocol agreed on.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Waits for hyper to hand over the stream and wraps it. `S` must be the transport type the
    /// hyper connection was served on (inside `TokioIo`).
    pub async fn finish<S: Transport>(self) -> io::Result<WebSocket<S>> {
        let upgraded = self
            .on_upgrade
            .await
            .map_err(|err| io::Error::new(io::ErrorKind::ConnectionAborted, err))?;
        let parts = upgraded.downcast::<TokioIo<S>>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "upgraded stream is not the expected transport",
            )
        })?;
        let now = tokio::time::Instant::now().into_std();
        let conn = Connection::new(Role::Server, self.config, self.deflate, now);
        Ok(WebSocket::new(parts.io.into_inner(), conn, &parts.read_buf))
    }

    /// Like [`finish`](Self::finish), boxing the stream: it is recovered as `S` (no extra
    /// layer) when hyper served that type, and kept as hyper's upgraded stream otherwise.
    pub async fn finish_boxed<S: Transport>(self) -> io::Result<WebSocket<BoxTransport>> {
        let upgraded = self
            .on_upgrade
            .await
            .map_err(|err| io::Error::new(io::ErrorKind::ConnectionAborted, err))?;
        let (io, read_buf): (BoxTransport, _) = match upgraded.downcast::<TokioIo<S>>() {
            Ok(parts) => (Box::new(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (Box::new(TokioIo::new(upgraded)), bytes::Bytes::new()),
        };
        let now = tokio::time::Instant::now().into_std();
        let conn = Connection::new(Role::Server, self.config, self.deflate, now);
        Ok(WebSocket::new(io, conn, &read_buf))
    }
}
