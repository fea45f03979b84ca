//! `switchboard serve`: the HTTP listener, routing, and graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use switchboard_ws_tokio::{upgrade, Stream};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::app::{App, Counters};
use crate::config::ServeConfig;
use crate::workers::Workers;
use crate::{echo, pubsub};

/// Pending connections the kernel holds per listening socket.
const LISTEN_BACKLOG: u32 = 4096;

/// Time allowed for a TLS handshake or an HTTP request head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Bytes>;

/// Held by every connection task; when the last one drops, shutdown may finish.
#[derive(Clone)]
struct Alive {
    _tx: mpsc::Sender<()>,
    app: Arc<App>,
}

impl Alive {
    fn new(tx: &mpsc::Sender<()>, app: &Arc<App>) -> Self {
        Self {
            _tx: tx.clone(),
            app: app.clone(),
        }
    }
}

/// Counts one TCP connection as open for as long as it lives.
struct ConnectionGuard(Arc<App>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        Counters::sub(&self.0.counters.connections_open);
    }
}

/// Runs the server until SIGINT/SIGTERM, then drains connections.
pub(crate) fn run(config: ServeConfig) -> Result<(), String> {
    crate::limits::raise_fd_limit();
    let tls = match &config.tls {
        Some((cert, key)) => Some(TlsAcceptor::from(
            switchboard_ws_tokio::tls::server_config(cert, key).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    // TURN (when enabled) binds first, so a port conflict fails before anything listens.
    let turn = config
        .turn
        .as_ref()
        .map(crate::turn::Running::start)
        .transpose()?;
    let turn_handle = turn.as_ref().map(crate::turn::Running::handle);
    let workers = Workers::start(config.workers, "sb-worker")
        .map_err(|e| format!("cannot start workers: {e}"))?;
    let listeners = bind_listeners(config.listen, workers.handles())
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let local = listeners[0].local_addr().map_err(|e| e.to_string())?;
    let coordinator = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let signals = {
        let _runtime = coordinator.enter();
        Signals::install()
    };
    // With --redis-url, the server joins its cluster before it says it listens (or does not
    // start). The adapter's tasks run on the coordinator.
    let redis = match &config.redis {
        Some(settings) => {
            let factory = coordinator.block_on(settings.connect())?;
            info!(
                adapter = settings.adapter_name(),
                redis_cluster = settings.is_cluster(),
                uid = factory.uid(),
                "joined the Redis cluster"
            );
            Some(factory)
        }
        None => None,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_timeout = config.shutdown_timeout;
    let app = {
        let _runtime = coordinator.enter();
        App::new(config, shutdown_rx, redis.as_ref())
    };
    if let Some(redis) = &redis {
        coordinator.block_on(redis.subscribed());
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    announce(&format!("switchboard listening on {scheme}://{local}"));
    if let Some(turn) = &turn {
        announce(turn.ready_line());
    }
    info!(%local, tls = tls.is_some(), workers = listeners.len(), "listening");

    let handles = workers.handles().to_vec();
    coordinator.block_on(async move {
        if let Some(handle) = turn_handle {
            let _ = app.counters.turn.set(handle);
        }
        let app = Arc::new(app);
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        for (listener, handle) in listeners.into_iter().zip(&handles) {
            handle.spawn(accept_loop(
                listener,
                app.clone(),
                tls.clone(),
                alive_tx.clone(),
            ));
        }
        signals.recv().await;
        info!("shutting down");
        let _ = shutdown_tx.send(true);
        drop(alive_tx);
        // Every connection closes, and with Redis what the adapter queued goes out (the
        // sessions of Socket.IO clients that will recover on another server among it).
        let closed = async {
            tokio::join!(alive_rx.recv(), app.io.close());
        };
        if tokio::time::timeout(shutdown_timeout, closed)
            .await
            .is_err()
        {
            warn!("connections still open after the shutdown timeout; exiting anyway");
        }
    });
    workers.stop();
    drop(turn);
    info!("stopped");
    Ok(())
}

/// One listening socket per worker, registered with that worker's runtime and listening
/// before this returns (so the ready line is true). With several workers they share the port
/// through SO_REUSEPORT and the kernel spreads connections across them.
fn bind_listeners(addr: SocketAddr, workers: &[Handle]) -> std::io::Result<Vec<TcpListener>> {
    let count = workers.len();
    let mut listeners = Vec::with_capacity(count);
    let mut addr = addr;
    for worker in workers {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        if count > 1 {
            socket.set_reuseport(true)?;
        }
        socket.bind(addr)?;
        // Port 0 picks a free port once; the other workers join that one.
        addr = socket.local_addr()?;
        let _context = worker.enter();
        listeners.push(socket.listen(LISTEN_BACKLOG)?);
    }
    Ok(listeners)
}

/// Accepts connections on one worker until shutdown.
async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    alive_tx: mpsc::Sender<()>,
) {
    let mut stop = app.shutdown.clone();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    if app.counters.connections_open.load(std::sync::atomic::Ordering::Relaxed)
                        >= app.config.max_connections as u64
                    {
                        Counters::add(&app.counters.connections_refused);
                        debug!(%peer, "connection limit reached; refusing");
                        drop(tcp);
                        continue;
                    }
                    let alive = Alive::new(&alive_tx, &app);
                    tokio::spawn(serve_connection(tcp, peer, tls.clone(), alive));
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Prints the ready line on stdout (tests and scripts wait for it).
pub(crate) fn announce(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// SIGINT and SIGTERM, listened for from the moment this is made (inside a runtime): made
/// before the ready line is printed, so a signal sent right after it is never missed (and never
/// kills the process with the default action).
pub(crate) struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Registers the handlers; call within a runtime context.
    pub(crate) fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            Self { streams }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Waits for SIGINT or SIGTERM.
    pub(crate) async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.streams {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    alive: Alive,
) {
    Counters::add(&alive.app.counters.connections_open);
    Counters::add(&alive.app.counters.connections_total);
    let _guard = ConnectionGuard(alive.app.clone());
    if let Err(err) = tcp.set_nodelay(true) {
        debug!(%peer, %err, "set_nodelay failed");
    }
    let stream = match tls {
        Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
        {
            Ok(Ok(tls)) => Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))),
            Ok(Err(err)) => {
                debug!(%peer, %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        None => Stream::Plain(tcp),
    };
    let app = alive.app.clone();
    let service_alive = alive.clone();
    let service = service_fn(move |req| {
        let alive = service_alive.clone();
        async move { Ok::<_, Infallible>(route(req, alive).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .max_buf_size(app.config.max_header_size.max(8192));
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutdown = app.shutdown.clone();
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                debug!(%peer, %err, "HTTP connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn route(mut req: Request<Incoming>, alive: Alive) -> Response<Body> {
    let path = req.uri().path();
    if path.starts_with("/socket.io/") || path == "/socket.io" {
        let io = alive.app.io.clone();
        return io.handle::<Stream, _>(req).await;
    }
    if req.method() == Method::GET {
        if let Some((body, content_type)) = crate::web::asset(path) {
            return asset(body, content_type);
        }
    }
    match (req.method(), path) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/metrics") => text(StatusCode::OK, &alive.app.counters.render()),
        (_, "/ws/echo") => websocket(&mut req, alive, Endpoint::Echo),
        (_, "/ws") => websocket(&mut req, alive, Endpoint::PubSub),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Echo,
    PubSub,
}

fn websocket(req: &mut Request<Incoming>, alive: Alive, endpoint: Endpoint) -> Response<Body> {
    let app = alive.app.clone();
    match upgrade::accept(req, &app.ws_policy, app.ws_config.clone()) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                let _alive = alive;
                match pending.finish::<Stream>().await {
                    Ok(ws) => {
                        Counters::add(&app.counters.websockets_open);
                        match endpoint {
                            Endpoint::Echo => echo::serve(ws, app.clone()).await,
                            Endpoint::PubSub => pubsub::serve(ws, app.clone()).await,
                        }
                        Counters::sub(&app.counters.websockets_open);
                    }
                    Err(err) => debug!(%err, "upgrade failed"),
                }
            });
            response.map(|()| Body::default())
        }
        Err(err) => {
            Counters::add(&app.counters.handshakes_refused);
            debug!(
                status = err.status,
                reason = err.reason,
                "WebSocket handshake refused"
            );
            upgrade::error_response(&err).map(|body| Body::new(Bytes::from(body)))
        }
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::from_static(body.as_bytes())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(Body::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
