//! Node's `allowRequest` option: the application accepts or refuses each handshake request
//! before a session exists.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use super::RequestInfo;

/// The future an [`AllowRequest`] hook returns.
pub type AllowFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

type Hook = dyn Fn(&RequestInfo) -> AllowFuture + Send + Sync;

/// Decides whether a handshake request may open a session (Node's `allowRequest`).
///
/// The hook sees the handshake request (headers, URI, protocol revision and, when the server
/// provides it, the remote address) and answers `Ok(())` to accept or `Err(message)` to
/// refuse. It runs for handshakes only, as in Node: requests of an existing session (polls,
/// posts, upgrades) are not asked again.
///
/// A refused polling handshake is answered `403` with `{"code":4,"message":…}`: the hook's
/// message, or `Forbidden` when it is empty. A refused WebSocket handshake is answered
/// before the upgrade, as Node's `abortUpgrade()` does: `400 Bad Request`, the message as a
/// `text/html` body, and the connection closed. As in Node, the hook runs before the protocol
/// revision is checked (a refused `EIO=3` handshake gets 403, not code 5).
///
/// ```
/// use switchboard_socketio::engine::{AllowRequest, EngineConfig};
///
/// let mut config = EngineConfig::default();
/// config.allow_request = Some(AllowRequest::new(|request| {
///     let banned = request.headers.contains_key("x-banned");
///     async move {
///         if banned {
///             Err(String::from("banned"))
///         } else {
///             Ok(())
///         }
///     }
/// }));
/// ```
#[derive(Clone)]
pub struct AllowRequest(Arc<Hook>);

impl AllowRequest {
    /// A hook from an async function. It gets the request by reference: copy what the
    /// future needs before it starts.
    pub fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(&RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self(Arc::new(move |request: &RequestInfo| -> AllowFuture {
            Box::pin(hook(request))
        }))
    }

    /// Asks the hook about `request`.
    pub(crate) fn check(&self, request: &RequestInfo) -> AllowFuture {
        (self.0)(request)
    }
}

impl std::fmt::Debug for AllowRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AllowRequest(..)")
    }
}

/// The remote address of the connection a request came on. The engine cannot see it: a
/// server that knows it inserts it into each request's extensions
/// (`request.extensions_mut().insert(RemoteAddr(peer))`) and the engine hands it on in
/// [`RequestInfo::remote_addr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteAddr(pub SocketAddr);
