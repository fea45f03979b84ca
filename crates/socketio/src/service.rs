//! tower integration: [`SocketIoService`] answers Socket.IO requests (mount it at
//! `/socket.io/`), [`SocketIoLayer`] puts Socket.IO in front of any service (requests under
//! the path go to Socket.IO, the rest pass through).
//!
//! ```no_run
//! use switchboard_socketio::{Config, Socket, SocketIo, SocketIoLayer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = SocketIo::new(Config::default());
//! io.ns("/", |socket: Socket| async move {
//!     socket.on("ping", |socket: Socket| async move {
//!         let _ = socket.emit("pong", &());
//!     });
//! });
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello" }))
//!     .layer(SocketIoLayer::new(io));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Either;
use tokio::net::TcpStream;

use crate::engine::Body;
use crate::io::SocketIo;

/// The path Socket.IO clients use by default.
pub const DEFAULT_PATH: &str = "/socket.io/";

/// A tower `Service` answering Socket.IO requests. WebSocket upgrades keep the stream
/// without an extra layer when the server runs on `TcpStream` (axum's `serve`, a hyper
/// accept loop); other streams work too, boxed.
#[derive(Debug, Clone)]
pub struct SocketIoService {
    io: SocketIo,
}

impl SocketIoService {
    /// A service for `io`.
    pub fn new(io: SocketIo) -> Self {
        Self { io }
    }
}

impl<B> tower_service::Service<Request<B>> for SocketIoService
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let io = self.io.clone();
        Box::pin(async move { Ok(io.handle::<TcpStream, B>(req).await) })
    }
}

/// Puts Socket.IO in front of a service: requests under [`DEFAULT_PATH`] (or the path
/// given) go to Socket.IO, the others to the inner service.
#[derive(Debug, Clone)]
pub struct SocketIoLayer {
    io: SocketIo,
    path: String,
}

impl SocketIoLayer {
    /// A layer serving `io` at `/socket.io/`.
    pub fn new(io: SocketIo) -> Self {
        Self {
            io,
            path: DEFAULT_PATH.to_owned(),
        }
    }

    /// Serves Socket.IO under another path (the client's `path` option).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
}

impl<S> tower_layer::Layer<S> for SocketIoLayer {
    type Service = SocketIoRouter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SocketIoRouter {
            io: self.io.clone(),
            path: self.path.clone(),
            inner,
        }
    }
}

/// The service [`SocketIoLayer`] makes.
#[derive(Debug, Clone)]
pub struct SocketIoRouter<S> {
    io: SocketIo,
    path: String,
    inner: S,
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for SocketIoRouter<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: hyper::body::Body<Data = Bytes>,
{
    type Response = Response<Either<Body, ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let path = req.uri().path();
        if path.starts_with(&self.path) || path == self.path.trim_end_matches('/') {
            let io = self.io.clone();
            Box::pin(async move { Ok(io.handle::<TcpStream, B>(req).await.map(Either::Left)) })
        } else {
            let future = self.inner.call(req);
            Box::pin(async move { Ok(future.await?.map(Either::Right)) })
        }
    }
}
