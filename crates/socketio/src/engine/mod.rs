//! The Engine.IO shell: answers HTTP long-polling requests and WebSocket upgrades for
//! [`switchboard_engineio::Session`]s, one task per session.
//!
//! Requests for a session may arrive on any connection (and, in `switchboard serve`, on any
//! worker thread): the registry maps a session id to its task's input queue. The task owns
//! the session's state machine, its WebSocket (and an upgrade candidate), the parked polling
//! GET, and the application's per-session state ([`EngineApp::Session`]); it is the only
//! place any of them change.

mod allow;
mod compression;
mod cookie;
mod http_io;
mod lane;
mod mailbox;
mod refused;
mod registry;
mod task;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use switchboard_engineio::{
    classify, generate_sid, Config, EngineError, Handshake, Protocol, RequestKind, Session,
    Transmit,
};
use switchboard_ws::handshake::HandshakeError;
use switchboard_ws_tokio::{upgrade, Transport};
use tokio::sync::oneshot;

pub use allow::{AllowFuture, AllowRequest, RemoteAddr};
pub use compression::HttpCompression;
use cookie::SessionCookie;
pub use cookie::{Cookie, SameSite};
pub use http_io::Cors;
pub use mailbox::SendError;
use mailbox::{Input, Mailbox};
pub use refused::{ConnectionError, OnConnectionError};
use registry::Registry;
pub use switchboard_engineio::TransportKind;
pub use task::ConnHandle;
use task::SessionTask;

/// What the application layer (Socket.IO) does with each Engine.IO session. Called from the
/// session's task only, so the per-session state needs no lock.
pub trait EngineApp: Send + Sync + 'static {
    /// Per-session state.
    type Session: Send + 'static;

    /// A session opened; `conn` sends packets to it (cheap to clone, usable from anywhere).
    fn open(&self, conn: ConnHandle, request: &RequestInfo) -> Self::Session;

    /// The client sent a message.
    fn message(&self, session: &mut Self::Session, message: switchboard_engineio::Message);

    /// Drives the session's in-flight work (the application's handler futures). Called
    /// whenever the task wakes; work that cannot progress registers `cx`'s waker.
    fn poll(&self, session: &mut Self::Session, cx: &mut std::task::Context<'_>) {
        let _ = (session, cx);
    }

    /// Called first thing at every wake-up of the session's task, before anything is read:
    /// a hint to start loading into the cache what handling a message will touch, so that
    /// the loads overlap the read. It must be cheap, must not block, and must change nothing
    /// observable.
    fn warm(&self, session: &Self::Session) {
        let _ = session;
    }

    /// The session ended.
    fn close(&self, session: Self::Session, reason: switchboard_engineio::CloseReason);
}

/// What the application learns about the handshake request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The request's headers.
    pub headers: http::HeaderMap,
    /// The request URI (path and query).
    pub uri: http::Uri,
    /// The Engine.IO protocol revision.
    pub protocol: switchboard_engineio::Protocol,
    /// The remote address of the connection, when the server put a [`RemoteAddr`] into the
    /// request's extensions.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// When the handshake request arrived (Node's `handshake.issued`).
    pub issued: std::time::SystemTime,
}

/// Settings of the shell, beside the protocol's [`Config`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Protocol settings (ping interval and timeout, buffer size, transports, ...).
    pub protocol: Config,
    /// Cross-origin settings for polling requests.
    pub cors: Option<Cors>,
    /// Outbound packets queued per session between the application and the session task;
    /// a session whose queue is full when a packet is sent to it is closed (slow consumer).
    pub outgoing_queue: usize,
    /// Unwritten bytes a session's WebSocket may hold; past them the session stops taking
    /// packets from its queue (4 MiB; 0: only once all is written). A client that stops reading then fills the queue
    /// (`outgoing_queue`) and is closed, instead of growing the server's memory until its
    /// ping timeout. Polling sessions are bounded by `protocol.max_queued_packets` instead.
    pub send_buffer: usize,
    /// WebSocket frame and message limits for the websocket transport, and, when
    /// permessage-deflate is on, its `compression_threshold` (1024 bytes, as in Node) and
    /// `compression_level`.
    pub ws: switchboard_ws::Config,
    /// The session cookie set on handshake responses (Node's `cookie`); `None`, the default,
    /// sets none. A polling handshake carries it on the response with the open packet, a
    /// WebSocket-only handshake on its `101` (where Node 6 sets none).
    pub cookie: Option<Cookie>,
    /// Accepts or refuses handshake requests before any session exists (Node's
    /// `allowRequest`); `None`, the default, accepts all.
    pub allow_request: Option<AllowRequest>,
    /// Compression of polling responses (Node's `httpCompression`): on by default, gzip or
    /// deflate as the client's `Accept-Encoding` allows, for payloads of at least 1024 bytes.
    /// `None` turns it off.
    pub http_compression: Option<HttpCompression>,
    /// permessage-deflate on the websocket transport (Node's `perMessageDeflate`): `None`,
    /// the default as in Node's engine.io 4 and later, declines every client's offer;
    /// `Some` accepts it, compressing outgoing messages of at least
    /// `ws.compression_threshold` bytes at `ws.compression_level`. Each connection
    /// compresses for itself: a broadcast is compressed once per receiver.
    pub per_message_deflate: Option<switchboard_ws::DeflateConfig>,
    /// Told of every request refused before it reached a session (Node's
    /// `connection_error` event); each is also logged at debug level. `None` by default.
    pub on_connection_error: Option<OnConnectionError>,
    /// Packets for a WebSocket session whose task sleeps with nothing left to write are
    /// written to its socket by a shared writer, many sessions in a row, instead of waking
    /// the session's task for each (on by default; Linux, plain TCP, Engine.IO 4, no
    /// permessage-deflate, payloads up to 4 KiB; `send_buffer` 0 turns it off too). A
    /// broadcast then costs one buffer append per receiver, and one write per receiver for
    /// all that gathered meanwhile. Off, every packet goes through its session's task.
    pub direct_writes: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let protocol = Config::default();
        // Engine.IO's maxPayload bounds WebSocket messages too.
        let ws = switchboard_ws::Config {
            max_message_size: protocol.max_http_buffer_size,
            max_frame_size: protocol.max_http_buffer_size,
            // Engine.IO's own heartbeat watches the connection.
            ping_interval: None,
            ..switchboard_ws::Config::default()
        };
        Self {
            protocol,
            cors: None,
            outgoing_queue: 1024,
            send_buffer: 4 << 20,
            ws,
            cookie: None,
            allow_request: None,
            http_compression: Some(HttpCompression::default()),
            per_message_deflate: None,
            on_connection_error: None,
            direct_writes: true,
        }
    }
}

/// An Engine.IO server: route requests under its path to [`Engine::handle`].
pub struct Engine<A: EngineApp> {
    shared: Arc<Shared<A>>,
}

impl<A: EngineApp> Clone for Engine<A> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: EngineApp> std::fmt::Debug for Engine<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sessions", &self.shared.registry.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<A: EngineApp> {
    pub(crate) config: EngineConfig,
    pub(crate) app: A,
    pub(crate) registry: Registry,
    /// Session tasks not yet finished (a session leaves the registry before its task has
    /// told the application it closed).
    running: Running,
    ws_policy: switchboard_ws::handshake::ServerPolicy,
    cookie: Option<SessionCookie>,
    /// Writes the lanes of sleeping WebSocket sessions (`direct_writes`).
    flusher: Arc<lane::Flusher>,
}

/// The response body type.
pub type Body = Full<Bytes>;

impl<A: EngineApp> Engine<A> {
    /// An engine serving `app`. Invalid [`Cookie`] settings disable the cookie, with a
    /// warning (check them with [`Cookie::validate`] first).
    pub fn new(config: EngineConfig, app: A) -> Self {
        let ws_policy = switchboard_ws::handshake::ServerPolicy {
            deflate: config.per_message_deflate.clone(),
            ..switchboard_ws::handshake::ServerPolicy::default()
        };
        let cookie = config.cookie.as_ref().and_then(SessionCookie::new);
        Self {
            shared: Arc::new(Shared {
                config,
                app,
                registry: Registry::default(),
                running: Running::default(),
                ws_policy,
                cookie,
                flusher: lane::Flusher::new(),
            }),
        }
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.shared.app
    }

    /// Open sessions.
    pub fn sessions(&self) -> usize {
        self.shared.registry.len()
    }

    /// Answers one request for this engine's path. `S` is the stream type the HTTP connection
    /// runs over, recovered without an extra layer when a WebSocket upgrade takes it over (any
    /// other type still works, boxed behind hyper's upgraded stream).
    pub async fn handle<S, B>(&self, req: Request<B>) -> Response<Body>
    where
        S: Transport,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let cors = self.shared.config.cors.as_ref();
        let cors_request = cors
            .map(|_| http_io::CorsRequest::of(&req))
            .unwrap_or_default();
        let mut response = if req.method() == Method::OPTIONS {
            http_io::empty(StatusCode::NO_CONTENT)
        } else {
            self.route::<S, B>(req).await
        };
        if let Some(cors) = cors {
            cors.apply(&cors_request, &mut response);
        }
        response
    }

    async fn route<S, B>(&self, mut req: Request<B>) -> Response<Body>
    where
        S: Transport,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let query = req.uri().query().unwrap_or("").to_owned();
        let websocket = upgrade::is_upgrade_request(&req);
        let kind = match classify(
            req.method().as_str(),
            &query,
            websocket,
            &self.shared.config.protocol,
        ) {
            Ok(kind) => kind,
            // Only handshakes fail this way. Node asks `allowRequest` first (`verify()`),
            // and checks the revision afterwards (`handshake()`).
            Err(EngineError::UnsupportedProtocolVersion) => {
                if self.shared.config.allow_request.is_some() {
                    let info = Self::request_info(&req, Protocol::V3);
                    if let Err(refusal) = self.allowed(req.method(), &info, websocket).await {
                        return refusal;
                    }
                }
                return self.refuse(&req, EngineError::UnsupportedProtocolVersion);
            }
            Err(e) => return self.refuse(&req, e),
        };
        match kind {
            RequestKind::Handshake(_) if self.shared.registry.is_shut_down() => {
                tracing::debug!(uri = %req.uri(), "handshake refused: the server stops");
                http_io::shutting_down()
            }
            RequestKind::Handshake(handshake) => {
                let info = Self::request_info(&req, handshake.protocol);
                if let Err(refusal) = self.allowed(req.method(), &info, websocket).await {
                    return refusal;
                }
                match handshake.transport {
                    TransportKind::Polling => self.open_polling(&req, handshake, info),
                    TransportKind::WebSocket => {
                        self.open_websocket::<S, B>(&mut req, handshake, info)
                    }
                }
            }
            RequestKind::Poll { sid } => {
                let encoding = self.poll_encoding(&req);
                let Some(mailbox) = self.shared.registry.get(&sid) else {
                    return task::overtaken_poll_answer(&self.shared.registry, &sid)
                        .unwrap_or_else(|| self.refuse(&req, EngineError::UnknownSid));
                };
                let (respond, answer) = oneshot::channel();
                let input = Input::Poll { respond, encoding };
                send_input(&mailbox, input, answer).await
            }
            RequestKind::Post { sid } => {
                let Some(mailbox) = self.shared.registry.get(&sid) else {
                    return self.refuse(&req, EngineError::UnknownSid);
                };
                let binary = http_io::is_binary(&req);
                let protocol = &self.shared.config.protocol;
                let limit = protocol.max_http_buffer_size;
                // A body still incomplete when the session's heartbeat would have failed is
                // not coming (a client posts one body at a time, its pongs among them): it
                // would hold its buffer and connection for as long as the sender likes. Node
                // bounds the same with its HTTP server's `requestTimeout`, and answers 408.
                let deadline = protocol.ping_interval + protocol.ping_timeout;
                let read = Limited::new(req.into_body(), limit + 1).collect();
                let body = match tokio::time::timeout(deadline, read).await {
                    Ok(Ok(collected)) => collected.to_bytes(),
                    // Over the limit: Node answers 413 and the session lives on.
                    Ok(Err(_)) => return http_io::empty(StatusCode::PAYLOAD_TOO_LARGE),
                    Err(_) => {
                        tracing::debug!(%sid, "POST body incomplete after {deadline:?}: 408");
                        return http_io::empty(StatusCode::REQUEST_TIMEOUT);
                    }
                };
                let (respond, answer) = oneshot::channel();
                let input = Input::Post {
                    body,
                    binary,
                    respond,
                };
                send_input(&mailbox, input, answer).await
            }
            RequestKind::Upgrade { sid } => {
                let Some(mailbox) = self.shared.registry.get(&sid) else {
                    return self.refuse(&req, EngineError::UnknownSid);
                };
                match upgrade::accept(
                    &mut req,
                    &self.shared.ws_policy,
                    self.shared.config.ws.clone(),
                ) {
                    Ok((response, pending)) => {
                        tokio::spawn(async move {
                            match pending.finish_boxed::<S>().await {
                                Ok(ws) => {
                                    let ws = Box::new(ws);
                                    if let Err(Input::Upgrade { ws }) =
                                        mailbox.input(Input::Upgrade { ws })
                                    {
                                        task::close_ws(ws).await;
                                    }
                                }
                                Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                            }
                        });
                        response.map(|()| Body::default())
                    }
                    Err(e) => self.refuse_upgrade(&req, &e),
                }
            }
        }
    }

    fn hook(&self) -> Option<&OnConnectionError> {
        self.shared.config.on_connection_error.as_ref()
    }

    /// The answer to a WebSocket handshake that is not one (code 3 when reported).
    fn refuse_upgrade<B>(&self, req: &Request<B>, e: &HandshakeError) -> Response<Body> {
        let refused = ConnectionError::new(req, EngineError::BadRequest, e.reason);
        refused::report(self.hook(), &refused);
        upgrade::error_response(e).map(|b| Body::new(Bytes::from(b)))
    }

    /// Node's answer to a refused request, reported first.
    fn refuse<B>(&self, req: &Request<B>, error: EngineError) -> Response<Body> {
        refused::report(self.hook(), &ConnectionError::new(req, error, ""));
        http_io::engine_error(error)
    }

    /// What the application keeps of the handshake request. Header values and the URI are
    /// copied: hyper's are views into its 8 KiB read buffer, which they would keep alive for
    /// the whole session.
    fn request_info<B>(req: &Request<B>, protocol: Protocol) -> RequestInfo {
        let mut headers = http::HeaderMap::with_capacity(req.headers().len());
        for (name, value) in req.headers() {
            if let Ok(owned) = http::HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(name.clone(), owned);
            }
        }
        RequestInfo {
            headers,
            uri: req.uri().to_string().parse().unwrap_or_default(),
            protocol,
            remote_addr: req.extensions().get::<RemoteAddr>().map(|addr| addr.0),
            issued: std::time::SystemTime::now(),
        }
    }

    /// Runs the `allowRequest` hook on a handshake; the answer to send when it refuses.
    async fn allowed(
        &self,
        method: &Method,
        info: &RequestInfo,
        websocket: bool,
    ) -> Result<(), Response<Body>> {
        let Some(hook) = &self.shared.config.allow_request else {
            return Ok(());
        };
        let verdict = hook.check(info).await;
        if let Err(message) = &verdict {
            let refused = ConnectionError::of(
                method,
                &info.uri,
                info.remote_addr,
                EngineError::Forbidden,
                message,
            );
            refused::report(self.hook(), &refused);
        }
        match verdict {
            Ok(()) => Ok(()),
            Err(message) if websocket => {
                Err(http_io::upgrade_refused(EngineError::Forbidden, &message))
            }
            Err(message) => Err(http_io::engine_error_with_message(
                EngineError::Forbidden,
                &message,
            )),
        }
    }

    /// The content coding for a polling GET's answer, if compression is on and the client
    /// accepts one.
    fn poll_encoding<B>(&self, req: &Request<B>) -> Option<compression::Encoding> {
        self.shared.config.http_compression?;
        compression::negotiate(req.headers())
    }

    /// Adds the session cookie, if configured, to a handshake response.
    fn set_cookie(&self, response: &mut Response<Body>, sid: &str) {
        if let Some(value) = self.shared.cookie.as_ref().and_then(|c| c.header(sid)) {
            response
                .headers_mut()
                .append(http::header::SET_COOKIE, value);
        }
    }

    /// A polling handshake: the open packet answers this GET; the task takes it from there.
    fn open_polling<B>(
        &self,
        req: &Request<B>,
        handshake: Handshake,
        info: RequestInfo,
    ) -> Response<Body> {
        let now = tokio::time::Instant::now().into_std();
        let mut session =
            Session::new(now, generate_sid(), handshake, &self.shared.config.protocol);
        let open = match session.poll_transmit() {
            Some(Transmit::Poll(open)) => open,
            _ => return http_io::engine_error(EngineError::BadRequest),
        };
        let sid: Arc<str> = Arc::from(session.sid());
        self.spawn(session, None, &info);
        let compression = self.shared.config.http_compression.as_ref();
        let mut response = http_io::poll_response(open, compression, self.poll_encoding(req));
        self.set_cookie(&mut response, &sid);
        response
    }

    /// A WebSocket handshake without a session: the session starts on WebSocket. Its id is
    /// chosen now, for the cookie on the `101`.
    fn open_websocket<S, B>(
        &self,
        req: &mut Request<B>,
        handshake: Handshake,
        info: RequestInfo,
    ) -> Response<Body>
    where
        S: Transport,
    {
        match upgrade::accept(req, &self.shared.ws_policy, self.shared.config.ws.clone()) {
            Ok((response, pending)) => {
                let sid = generate_sid();
                let mut response = response.map(|()| Body::default());
                self.set_cookie(&mut response, &sid);
                let engine = self.clone();
                tokio::spawn(async move {
                    match pending.finish_boxed::<S>().await {
                        Ok(ws) => {
                            let now = tokio::time::Instant::now().into_std();
                            let session =
                                Session::new(now, sid, handshake, &engine.shared.config.protocol);
                            engine.spawn(session, Some(Box::new(ws)), &info);
                        }
                        Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                    }
                });
                response
            }
            Err(e) => self.refuse_upgrade(req, &e),
        }
    }

    /// Registers the session and starts its task.
    fn spawn(&self, session: Session, ws: Option<Box<mailbox::Ws>>, info: &RequestInfo) {
        let sid: Arc<str> = Arc::from(session.sid());
        let config = &self.shared.config;
        let lane_bytes = config.send_buffer.min(lane::MAX_BYTES);
        let mailbox = Arc::new(
            if config.direct_writes && lane::SUPPORTED && lane_bytes > 0 {
                let flusher = Arc::clone(&self.shared.flusher);
                let shard = flusher.shard_here();
                Mailbox::with_lane(config.outgoing_queue, flusher, shard, lane_bytes)
            } else {
                Mailbox::new(config.outgoing_queue)
            },
        );
        if session.transport() == TransportKind::WebSocket {
            mailbox.set_websocket();
        }
        // Counted before it can be seen, so that `closed` never finds it registered and
        // uncounted.
        let running = RunningTask::new(Arc::clone(&self.shared));
        let conn = ConnHandle::new(Arc::clone(&sid), Arc::clone(&mailbox));
        let state = self.shared.app.open(conn, info);
        let open = self
            .shared
            .registry
            .insert(Arc::clone(&sid), Arc::clone(&mailbox));
        if !open {
            // A handshake that raced `shutdown`: it closes as the others did.
            mailbox.close(switchboard_engineio::CloseReason::ServerShuttingDown);
        }
        let task = SessionTask::new(
            Arc::clone(&self.shared),
            sid,
            session,
            ws,
            mailbox,
            state,
            running,
        );
        // Spawned as it is: wrapping it in another future (to drop the count after it) kept a
        // second copy of the whole task in that future, 0.77 KiB more per idle session.
        tokio::spawn(task.run());
    }

    /// Closes every session (reason `server shutting down`), WebSockets with a close frame
    /// and parked polls answered with a close packet (polling sessions without one end at
    /// once). Later handshakes get `503 Service Unavailable`, and a session whose handshake
    /// was already under way closes at once. For a stop: it cannot be undone.
    pub fn shutdown(&self) {
        for mailbox in self.shared.registry.shut_down() {
            mailbox.close(switchboard_engineio::CloseReason::ServerShuttingDown);
        }
    }

    /// Resolves once no session is left: each one's task has ended and told the application
    /// (after [`shutdown`](Self::shutdown), for a graceful stop).
    pub async fn closed(&self) {
        let running = &self.shared.running;
        loop {
            let notified = running.idle.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a task ending in between is not missed.
            notified.as_mut().enable();
            if running.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// How many session tasks run, and a wake-up for [`Engine::closed`] when none does.
#[derive(Default)]
struct Running {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Counts one session task while it lives (dropped with it, even if it panicked).
pub(crate) struct RunningTask<A: EngineApp>(Arc<Shared<A>>);

impl<A: EngineApp> RunningTask<A> {
    fn new(shared: Arc<Shared<A>>) -> Self {
        shared.running.count.fetch_add(1, Ordering::AcqRel);
        Self(shared)
    }
}

impl<A: EngineApp> Drop for RunningTask<A> {
    fn drop(&mut self) {
        let running = &self.0.running;
        if running.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            running.idle.notify_waiters();
        }
    }
}

/// How long a closing WebSocket may take to flush before it is dropped.
pub(crate) const CLOSE_FLUSH: Duration = Duration::from_secs(1);

/// Hands a polling request to its session's task and waits for the answer.
async fn send_input(
    mailbox: &Mailbox,
    input: Input,
    answer: oneshot::Receiver<Response<Body>>,
) -> Response<Body> {
    if mailbox.input(input).is_err() {
        // Gone meanwhile (a POST's body can take a while), or flooded with requests.
        return http_io::engine_error(if mailbox.is_closed() {
            EngineError::UnknownSid
        } else {
            EngineError::BadRequest
        });
    }
    answer
        .await
        .unwrap_or_else(|_| http_io::engine_error(EngineError::UnknownSid))
}
