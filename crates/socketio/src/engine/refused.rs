//! Requests refused before they reach a session (Node's `connection_error` event of
//! `io.engine`): each is logged at debug level and handed to the application's hook, if any.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Uri};
use switchboard_engineio::EngineError;

use super::RemoteAddr;

/// A request the engine refused: a bad handshake, an unknown session id, a request
/// `allowRequest` turned down, a WebSocket handshake that is not one.
#[derive(Debug, Clone)]
pub struct ConnectionError {
    /// What was wrong, as the `code` of Node's answer (see [`EngineError`]).
    pub error: EngineError,
    /// The message sent back: Node's for the error, or the `allowRequest` hook's reason.
    pub message: String,
    /// The request's method.
    pub method: Method,
    /// Its URI (path and query: transport, `sid`, `EIO`).
    pub uri: Uri,
    /// The remote address, when the server put a [`RemoteAddr`] into the request.
    pub remote_addr: Option<SocketAddr>,
}

impl ConnectionError {
    pub(crate) fn new<B>(req: &Request<B>, error: EngineError, message: &str) -> Self {
        let remote_addr = req.extensions().get::<RemoteAddr>().map(|addr| addr.0);
        Self::of(req.method(), req.uri(), remote_addr, error, message)
    }

    pub(crate) fn of(
        method: &Method,
        uri: &Uri,
        remote_addr: Option<SocketAddr>,
        error: EngineError,
        message: &str,
    ) -> Self {
        let message = if message.is_empty() {
            error.message()
        } else {
            message
        };
        Self {
            error,
            message: message.to_owned(),
            method: method.clone(),
            uri: uri.clone(),
            remote_addr,
        }
    }
}

type Hook = dyn Fn(&ConnectionError) + Send + Sync;

/// Told of every refused request (Node's `io.engine.on("connection_error", …)`). It runs on
/// the request's task before the answer goes out: keep it short.
///
/// ```
/// use switchboard_socketio::engine::{EngineConfig, OnConnectionError};
///
/// let mut config = EngineConfig::default();
/// config.on_connection_error = Some(OnConnectionError::new(|refused| {
///     eprintln!("refused {} {}: {}", refused.method, refused.uri, refused.message);
/// }));
/// ```
#[derive(Clone)]
pub struct OnConnectionError(Arc<Hook>);

impl OnConnectionError {
    /// A hook from a function.
    pub fn new(hook: impl Fn(&ConnectionError) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }
}

impl std::fmt::Debug for OnConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnConnectionError(..)")
    }
}

/// Logs a refusal and tells the hook.
pub(crate) fn report(hook: Option<&OnConnectionError>, refused: &ConnectionError) {
    tracing::debug!(
        code = refused.error.code(),
        message = %refused.message,
        method = %refused.method,
        uri = %refused.uri,
        remote = ?refused.remote_addr,
        "engine.io request refused"
    );
    if let Some(hook) = hook {
        (hook.0)(refused);
    }
}
