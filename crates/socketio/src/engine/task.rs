//! One task per Engine.IO session: it owns the state machine, the WebSocket (and an upgrade
//! candidate), the parked polling GET and the application's per-session state, and turns
//! what arrives (requests, WebSocket messages, packets to send, timers) into the machine's
//! inputs and its transmits into writes.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::Response;
use switchboard_engineio::{
    CloseReason, EncodedPacket, Event, Session, Transmit, TransportKind, WsFrame, WsInput,
};
use switchboard_ws_tokio::protocol::{
    CloseCode, Event as WsEvent, Message as WsMessage, Utf8Bytes,
};
use switchboard_ws_tokio::{BoxTransport, WebSocket};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use super::{http_io, Body, EngineApp, Shared, CLOSE_FLUSH};

type Ws = WebSocket<BoxTransport>;

/// What request handlers hand to a session's task.
pub(crate) enum Input {
    /// A polling GET, answered through `respond`.
    Poll {
        respond: oneshot::Sender<Response<Body>>,
    },
    /// A polling POST and its body.
    Post {
        body: Bytes,
        binary: bool,
        respond: oneshot::Sender<Response<Body>>,
    },
    /// A WebSocket for this session (an upgrade).
    Upgrade { ws: Box<Ws> },
}

/// What the application sends a session.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A packet (possibly shared with many sessions).
    Packet(EncodedPacket),
    /// Close the session (reason `forced close`).
    Close,
}

/// Why a packet could not be queued for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The session's queue is full: it does not keep up (the session is being closed).
    Full,
    /// The session is gone.
    Closed,
}

/// Sends packets to one session from anywhere. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    sid: Arc<str>,
    tx: mpsc::Sender<Outgoing>,
    /// Closes the session even when its queue is full.
    kill: Arc<Notify>,
}

impl ConnHandle {
    pub(crate) fn new(sid: Arc<str>, tx: mpsc::Sender<Outgoing>) -> (Self, Arc<Notify>) {
        let kill = Arc::new(Notify::new());
        let handle = Self {
            sid,
            tx,
            kill: Arc::clone(&kill),
        };
        (handle, kill)
    }

    /// The Engine.IO session id.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Queues a packet without waiting. When the queue is full the session is a slow
    /// consumer: it is closed (`transport error`) and [`SendError::Full`] returned.
    pub fn send(&self, packet: EncodedPacket) -> Result<(), SendError> {
        match self.tx.try_send(Outgoing::Packet(packet)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!(sid = %self.sid, "outgoing queue full: closing the session");
                self.kill.notify_one();
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Queues a packet unless the queue is full (then the packet is dropped and the session
    /// lives on: Socket.IO's `volatile`).
    pub fn send_volatile(&self, packet: EncodedPacket) -> Result<(), SendError> {
        match self.tx.try_send(Outgoing::Packet(packet)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(SendError::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Asks the session to close (`forced close`) once the packets queued before are out.
    pub fn close(&self) {
        if self.tx.try_send(Outgoing::Close).is_err() {
            self.kill.notify_one();
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The task's ends of a session's queues.
pub(crate) struct Queues {
    pub(crate) inputs: mpsc::Receiver<Input>,
    pub(crate) outgoing: mpsc::Receiver<Outgoing>,
    pub(crate) kill: Arc<Notify>,
}

pub(crate) struct SessionTask<A: EngineApp> {
    shared: Arc<Shared<A>>,
    sid: Arc<str>,
    session: Session,
    /// The WebSocket carrying the session (transport websocket).
    ws: Option<Ws>,
    /// A WebSocket asking to take over a polling session.
    candidate: Option<Ws>,
    /// The parked polling GET.
    pending_get: Option<oneshot::Sender<Response<Body>>>,
    inputs: mpsc::Receiver<Input>,
    outgoing: mpsc::Receiver<Outgoing>,
    kill: Arc<Notify>,
    state: Option<A::Session>,
}

/// Packets taken from the outgoing queue per wake-up before the task writes.
const OUTGOING_BATCH: usize = 64;

impl<A: EngineApp> SessionTask<A> {
    pub(crate) fn new(
        shared: Arc<Shared<A>>,
        sid: Arc<str>,
        session: Session,
        ws: Option<Ws>,
        queues: Queues,
        state: A::Session,
    ) -> Self {
        let Queues {
            inputs,
            outgoing,
            kill,
        } = queues;
        Self {
            shared,
            sid,
            session,
            ws,
            candidate: None,
            pending_get: None,
            inputs,
            outgoing,
            kill,
            state: Some(state),
        }
    }

    pub(crate) async fn run(mut self) {
        let reason = loop {
            if let Some(reason) = self.drain() {
                break reason;
            }
            let deadline = self.session.poll_timeout().map(Instant::from_std);
            tokio::select! {
                biased;
                input = self.inputs.recv() => match input {
                    Some(input) => self.input(input),
                    // The registry dropped us (shutdown).
                    None => self.session.close_with(now(), CloseReason::ServerShuttingDown),
                },
                event = next_ws_event(&mut self.ws) => self.ws_event(event, false),
                event = next_ws_event(&mut self.candidate) => self.ws_event(event, true),
                packet = self.outgoing.recv() => match packet {
                    Some(first) => self.outgoing(first),
                    None => self.session.close(now()),
                },
                () = self.kill.notified() => {
                    self.session.close_with(now(), CloseReason::TransportError);
                }
                () = sleep_until(deadline) => self.session.handle_timeout(now()),
                () = get_abandoned(&mut self.pending_get) => {
                    self.pending_get = None;
                    self.session.handle_poll_aborted(now());
                }
                () = poll_fn(|cx| {
                    if let Some(state) = self.state.as_mut() {
                        self.shared.app.poll(state, cx);
                    }
                    Poll::<()>::Pending
                }) => {}
            }
        };
        self.shared.registry.remove(&self.sid);
        if let Some(state) = self.state.take() {
            self.shared.app.close(state, reason);
        }
        // Write what is left (a last poll answer went out in drain) and close the sockets.
        for ws in [self.ws.take(), self.candidate.take()]
            .into_iter()
            .flatten()
        {
            close_ws(ws).await;
        }
    }

    /// Carries out the machine's transmits and hands its events to the application; the
    /// close reason once the session has ended.
    fn drain(&mut self) -> Option<CloseReason> {
        let mut closed = None;
        loop {
            let mut progressed = false;
            while let Some(transmit) = self.session.poll_transmit() {
                progressed = true;
                self.transmit(transmit);
            }
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                match event {
                    Event::Message(message) => {
                        if let Some(state) = self.state.as_mut() {
                            self.shared.app.message(state, message);
                        }
                    }
                    Event::Upgrading => {}
                    Event::Upgraded => {
                        if self.ws.is_none() {
                            self.ws = self.candidate.take();
                        }
                    }
                    Event::Closed(reason) => closed = Some(reason),
                }
            }
            if !progressed {
                return closed;
            }
        }
    }

    fn transmit(&mut self, transmit: Transmit) {
        let on_candidate = self.session.transport() == TransportKind::Polling;
        if !on_candidate && self.ws.is_none() {
            // The upgrade just completed: frames queued behind it (before the `Upgraded`
            // event is drained) belong to the candidate, now the session's WebSocket.
            self.ws = self.candidate.take();
        }
        match transmit {
            Transmit::Poll(poll) => {
                if let Some(respond) = self.pending_get.take() {
                    let _ = respond.send(http_io::poll_response(poll));
                }
            }
            Transmit::Ws(frame) => {
                let ws = if on_candidate {
                    self.candidate.as_mut()
                } else {
                    self.ws.as_mut()
                };
                if let Some(ws) = ws {
                    let message = match frame {
                        WsFrame::Text(bytes) => match Utf8Bytes::try_from_bytes(bytes) {
                            Ok(text) => WsMessage::Text(text),
                            Err(_) => return,
                        },
                        WsFrame::Binary(bytes) => WsMessage::Binary(bytes),
                    };
                    if ws.queue(message).is_err() {
                        tracing::debug!(sid = %self.sid, "WebSocket no longer accepts messages");
                    }
                }
            }
            Transmit::CloseWs => {
                let ws = if on_candidate {
                    self.candidate.take()
                } else {
                    self.ws.take()
                };
                if let Some(ws) = ws {
                    tokio::spawn(close_ws(ws));
                }
            }
        }
    }

    fn input(&mut self, input: Input) {
        let now = now();
        match input {
            Input::Poll { respond } => match self.session.handle_poll(now) {
                Ok(()) => self.pending_get = Some(respond),
                Err(e) => {
                    let _ = respond.send(http_io::request_error(&e));
                }
            },
            Input::Post {
                body,
                binary,
                respond,
            } => {
                let answer = match self.session.handle_post(now, &body, binary) {
                    Ok(()) => http_io::post_ok(),
                    Err(e) => http_io::request_error(&e),
                };
                let _ = respond.send(answer);
            }
            Input::Upgrade { ws } => match self.session.handle_ws_upgrade(now) {
                Ok(()) => self.candidate = Some(*ws),
                Err(e) => {
                    tracing::debug!(sid = %self.sid, error = ?e, "upgrade refused");
                    tokio::spawn(close_ws(*ws));
                }
            },
        }
    }

    fn ws_event(&mut self, event: std::io::Result<Option<WsEvent>>, candidate: bool) {
        let now = now();
        match event {
            Ok(Some(WsEvent::Message(message))) => {
                let input = match &message {
                    WsMessage::Text(text) => WsInput::Text(text.as_str()),
                    WsMessage::Binary(bytes) => WsInput::Binary(bytes),
                };
                self.session.handle_ws_message(now, input);
            }
            Ok(Some(WsEvent::Ping(_) | WsEvent::Pong(_))) => {}
            Ok(Some(WsEvent::Closed(_)) | None) | Err(_) => {
                if candidate {
                    self.candidate = None;
                } else {
                    self.ws = None;
                }
                self.session.handle_ws_closed(now);
            }
        }
    }

    fn outgoing(&mut self, first: Outgoing) {
        let now = now();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(item) = next.take() {
            match item {
                Outgoing::Packet(packet) => {
                    if self.session.send(packet).is_err() && !self.session.is_closed() {
                        self.session.close_with(now, CloseReason::TransportError);
                    }
                }
                Outgoing::Close => self.session.close(now),
            }
            taken += 1;
            if taken < OUTGOING_BATCH {
                next = self.outgoing.try_recv().ok();
            }
        }
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn next_ws_event(ws: &mut Option<Ws>) -> std::io::Result<Option<WsEvent>> {
    match ws {
        Some(ws) => ws.next_event().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Completes when the client of the parked GET has gone away.
async fn get_abandoned(pending: &mut Option<oneshot::Sender<Response<Body>>>) {
    match pending {
        Some(respond) => respond.closed().await,
        None => std::future::pending().await,
    }
}

/// Closes a WebSocket normally, bounded in time.
async fn close_ws(mut ws: Ws) {
    let close = ws.close(CloseCode::NORMAL, "");
    let _ = tokio::time::timeout(CLOSE_FLUSH, close).await;
}
