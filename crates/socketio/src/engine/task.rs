//! One task per Engine.IO session: it owns the state machine, the WebSocket (and an upgrade
//! candidate), the parked polling GET and the application's per-session state, and turns
//! what arrives (requests, WebSocket messages, packets to send, timers) into the machine's
//! inputs and its transmits into writes.
//!
//! The task is one hand-written poll loop rather than a `select!`: nothing is rebuilt per
//! wake-up (the timer is reset only when the deadline moves), and the future stays small
//! (an idle session's memory is mostly this future).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use switchboard_engineio::{
    CloseReason, EncodedPacket, Event, Protocol, Session, Transmit, TransportKind, WsFrame, WsInput,
};
use switchboard_ws_tokio::protocol::{CloseCode, Event as WsEvent, Message as WsMessage};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use super::compression::Encoding;
use super::mailbox::{Input, Mailbox, Outgoing, Packets, SendError, Taken, Ws};
use super::registry::Registry;
use super::{http_io, Body, EngineApp, RunningTask, Shared, CLOSE_FLUSH};

/// Sends packets to one session from anywhere. Cheap to clone.
#[derive(Clone)]
pub struct ConnHandle {
    sid: Arc<str>,
    mailbox: Arc<Mailbox>,
}

impl std::fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnHandle")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl ConnHandle {
    pub(crate) fn new(sid: Arc<str>, mailbox: Arc<Mailbox>) -> Self {
        Self { sid, mailbox }
    }

    /// Starts loading the mailbox into the cache (broadcast fan-out).
    pub(crate) fn prefetch(&self) {
        crate::prefetch::prefetch(Arc::as_ptr(&self.mailbox));
    }

    /// The Engine.IO session id.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The transport the session runs over now (Node's `socket.conn.transport.name`):
    /// polling until an upgrade completes.
    pub fn transport(&self) -> TransportKind {
        if self.mailbox.is_websocket() {
            TransportKind::WebSocket
        } else {
            TransportKind::Polling
        }
    }

    /// Queues a packet without waiting. When the session's queue is full it is a slow
    /// consumer: it is closed (`transport error`) and [`SendError::Full`] returned.
    pub fn send(&self, packet: EncodedPacket) -> Result<(), SendError> {
        let sent = self.mailbox.send(packet);
        if sent == Err(SendError::Full) {
            tracing::debug!(sid = %self.sid, "outgoing queue full: closing the session");
        }
        sent
    }

    /// Queues a packet unless the queue is full or the session's WebSocket is backed up (then
    /// the packet is dropped and the session lives on: Socket.IO's `volatile`).
    pub fn send_volatile(&self, packet: EncodedPacket) -> Result<(), SendError> {
        self.mailbox.send_volatile(std::slice::from_ref(&packet))
    }

    /// Queues a message and its binary attachments as [`send_volatile`](Self::send_volatile)
    /// does, all of them or none: a part dropped would leave the client reading the next
    /// packets as the missing attachments.
    pub fn send_volatile_all(&self, packets: &[EncodedPacket]) -> Result<(), SendError> {
        self.mailbox.send_volatile(packets)
    }

    /// Asks the session to close (`forced close`) once the packets queued before are out.
    pub fn close(&self) {
        self.mailbox.close(CloseReason::ForcedClose);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }
}

/// Rounds of work one wake-up may do before yielding to other tasks.
const ROUNDS_PER_WAKE: usize = 32;

/// How late a timer may fire and still count as on time (see [`on_time`]).
const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(2);

/// The time to hand the machine when its timer fired at `now` for `due`. tokio rounds a
/// deadline up to its next millisecond tick, so every timer fires up to a millisecond or so
/// late; counted from `now`, a ping's pong deadline would slip by as much, and a client that
/// checks the pong deadline to the millisecond (the official engine.io-protocol suite does)
/// would find the session still open. Within the slack the timer counts as on time; later
/// (an overloaded server), `now`, so the client still gets its whole ping timeout.
fn on_time(due: std::time::Instant, now: std::time::Instant) -> std::time::Instant {
    if now.saturating_duration_since(due) <= TIMER_SLACK {
        due
    } else {
        now
    }
}

pub(crate) struct SessionTask<A: EngineApp> {
    shared: Arc<Shared<A>>,
    sid: Arc<str>,
    session: Session,
    /// The WebSocket carrying the session (transport websocket).
    ws: Option<Box<Ws>>,
    /// A WebSocket asking to take over a polling session.
    candidate: Option<Box<Ws>>,
    /// The parked polling GET.
    pending_get: Option<oneshot::Sender<Response<Body>>>,
    /// The content coding the parked GET accepts.
    pending_encoding: Option<Encoding>,
    mailbox: Arc<Mailbox>,
    taken: Taken,
    /// The deadline the timer is set to.
    timer_at: Option<Instant>,
    /// Every WebSocket has returned `Pending` during this wake-up and nothing new arrived
    /// for them since: their wakers are set, later rounds need not poll them.
    ws_settled: bool,
    /// The time at the start of this round of work: one clock read per round rather than per
    /// message (the machine's deadlines are seconds long).
    now: std::time::Instant,
    /// The mailbox's lane is open: the flusher may be writing to the WebSocket's socket, which
    /// must not be touched before the lane is shut.
    lane_open: bool,
    state: Option<A::Session>,
    /// Counts this task for `Engine::closed` until the task and all it holds are dropped
    /// (the last field, so the last dropped).
    _running: RunningTask<A>,
}

impl<A: EngineApp> Drop for SessionTask<A> {
    /// A task dropped asleep (its runtime shutting down) shuts its lane before its WebSocket,
    /// and with it the socket the lane writes to, is closed.
    fn drop(&mut self) {
        if self.lane_open {
            self.mailbox.shut_lane(&mut self.taken);
        }
    }
}

impl<A: EngineApp> SessionTask<A> {
    pub(crate) fn new(
        shared: Arc<Shared<A>>,
        sid: Arc<str>,
        session: Session,
        ws: Option<Box<Ws>>,
        mailbox: Arc<Mailbox>,
        state: A::Session,
        running: RunningTask<A>,
    ) -> Self {
        Self {
            shared,
            sid,
            session,
            ws,
            candidate: None,
            pending_get: None,
            pending_encoding: None,
            mailbox,
            taken: Taken::default(),
            timer_at: None,
            ws_settled: false,
            now: now(),
            lane_open: false,
            state: Some(state),
            _running: running,
        }
    }

    pub(crate) async fn run(mut self) {
        // Re-armed in place whenever the session's deadline moves; never rebuilt.
        let timer = tokio::time::sleep_until(far_future());
        let mut timer = std::pin::pin!(timer);
        let reason = poll_fn(|cx| self.poll(cx, timer.as_mut())).await;
        let registry = &self.shared.registry;
        registry.remove(&self.sid, self.session.overtaken_poll_answer());
        // Requests that found the session before it was removed; a GET among them may be
        // the one the client's close overtook.
        for input in self.mailbox.close_for_good() {
            match input {
                Input::Poll { respond, .. } => {
                    let _ = respond.send(poll_without_session(registry, &self.sid));
                }
                other => refuse(other),
            }
        }
        if let Some(state) = self.state.take() {
            self.shared.app.close(state, reason);
        }
        for ws in [self.ws.take(), self.candidate.take()]
            .into_iter()
            .flatten()
        {
            tokio::spawn(close_ws(ws));
        }
    }

    /// One round reads, hands what came to the application, runs its handlers, takes what
    /// they (and others) sent and writes it: a message and its answer take one round, and
    /// the task's own sends never wake it.
    fn poll(&mut self, cx: &mut Context<'_>, mut timer: Pin<&mut Sleep>) -> Poll<CloseReason> {
        if let Some(state) = self.state.as_ref() {
            self.shared.app.warm(state);
        }
        self.ws_settled = false;
        self.mailbox.at_work();
        if self.lane_open {
            self.mailbox.shut_lane(&mut self.taken);
            self.lane_open = false;
        }
        if !self.taken.lane.is_empty() {
            // Frames the lane did not write go out before anything of this wake-up.
            let frames = bytes::Bytes::from(std::mem::take(&mut self.taken.lane));
            if let Some(ws) = self.ws.as_mut() {
                ws.queue_raw(frames);
            }
        }
        for _ in 0..ROUNDS_PER_WAKE {
            self.now = now();
            let mut progressed = !self.ws_settled && self.poll_websockets(cx);
            if let Some(respond) = self.pending_get.as_mut() {
                if respond.poll_closed(cx).is_ready() {
                    self.pending_get = None;
                    self.session.handle_poll_aborted(self.now);
                    progressed = true;
                }
            }
            progressed |= self.poll_timer(cx, timer.as_mut());
            if let Some(reason) = self.drain() {
                return Poll::Ready(reason);
            }
            if let Some(state) = self.state.as_mut() {
                self.shared.app.poll(state, cx);
            }
            // A round that found nothing else listens to the mailbox as it takes from it.
            let quiet = !progressed;
            let room = self.transport_has_room();
            let packets = if room { Packets::Take } else { Packets::Leave };
            progressed |= self.poll_mailbox(cx, quiet, packets);
            if self.lane_open {
                // Quiet, and nothing queued anywhere: sleep, leaving the socket to the lane.
                return Poll::Pending;
            }
            if let Some(reason) = self.drain() {
                return Poll::Ready(reason);
            }
            progressed |= self.flush_websockets(cx);
            // Packets held for want of room: a flush that made some takes them next round
            // (no waker would: held packets wake nobody, and the flush is done).
            progressed |= !room && self.transport_has_room();
            if !progressed {
                return Poll::Pending;
            }
        }
        // Busy: let other sessions run, then carry on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Whether the session's transport takes more packets: not while its WebSocket holds
    /// more than `send_buffer` unwritten bytes. Packets then wait in the mailbox, whose bound
    /// closes a session whose client stopped reading (without this they would pile up in
    /// the WebSocket's buffer, without bound, until the ping timeout).
    fn transport_has_room(&self) -> bool {
        self.ws
            .as_ref()
            .is_none_or(|ws| ws.buffered_amount() <= self.shared.config.send_buffer)
    }

    /// Takes what the mailbox holds (listening for more when it is empty and `listen`);
    /// with [`Packets::Leave`], requests and a kill only (and a close with what is before it).
    fn poll_mailbox(&mut self, cx: &mut Context<'_>, listen: bool, packets: Packets) -> bool {
        let lane = if listen { self.lane_fd() } else { None };
        self.lane_open = self
            .mailbox
            .take(cx, &mut self.taken, listen, packets, lane);
        if self.taken.is_empty() {
            return false;
        }
        let now = self.now;
        if let Some(reason) = self.taken.kill.take() {
            self.session.close_with(now, reason);
        }
        while let Some(input) = self.taken.inputs.pop_front() {
            self.input(input);
        }
        while let Some(item) = self.taken.packets.pop_front() {
            match item {
                Outgoing::Packet(packet) => {
                    if self.session.send(packet).is_err() && !self.session.is_closed() {
                        self.session.close_with(now, CloseReason::TransportError);
                    }
                }
                Outgoing::Close(reason) => self.session.close_with(now, reason),
            }
        }
        true
    }

    /// The socket a lane may write to: an Engine.IO 4 session settled on its WebSocket (no
    /// upgrade under way), open, with nothing queued anywhere
    /// ([`switchboard_ws_tokio::WebSocket::direct_fd`] says which sockets qualify).
    fn lane_fd(&self) -> Option<super::lane::RawFd> {
        let settled = self.mailbox.has_lane()
            && self.candidate.is_none()
            && self.pending_get.is_none()
            && self.session.transport() == TransportKind::WebSocket
            && self.session.protocol() == Protocol::V4
            && !self.session.is_closed();
        let ws = self.ws.as_ref().filter(|_| settled)?;
        #[cfg(unix)]
        let fd = ws.direct_fd();
        #[cfg(not(unix))]
        let fd = {
            let _ = ws;
            None
        };
        fd
    }

    /// Writes the frames the round queued; true when a write failed (the next read reports
    /// it). A full socket wakes the task when it drains.
    fn flush_websockets(&mut self, cx: &mut Context<'_>) -> bool {
        let mut failed = false;
        for ws in [self.ws.as_mut(), self.candidate.as_mut()]
            .into_iter()
            .flatten()
        {
            if ws.buffered_amount() > 0 {
                failed |= matches!(ws.poll_flush(cx), Poll::Ready(Err(_)));
            }
        }
        failed
    }

    /// Reads what the WebSockets have (bounded), writing their queued frames meanwhile.
    fn poll_websockets(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progressed = false;
        let mut settled = true;
        for candidate in [false, true] {
            let mut pending = false;
            for _ in 0..ROUNDS_PER_WAKE {
                let slot = if candidate {
                    &mut self.candidate
                } else {
                    &mut self.ws
                };
                let Some(ws) = slot.as_mut() else {
                    pending = true;
                    break;
                };
                match ws.poll_next_event(cx) {
                    Poll::Pending => {
                        pending = true;
                        break;
                    }
                    Poll::Ready(event) => {
                        progressed = true;
                        self.ws_event(event, candidate);
                    }
                }
            }
            settled &= pending;
        }
        self.ws_settled = settled;
        progressed
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>, mut timer: Pin<&mut Sleep>) -> bool {
        let wanted = self.session.poll_timeout().map(Instant::from_std);
        if wanted != self.timer_at {
            self.timer_at = wanted;
            timer.as_mut().reset(wanted.unwrap_or_else(far_future));
        }
        if let Some(due) = self.timer_at {
            if timer.as_mut().poll(cx).is_ready() {
                self.timer_at = None;
                self.now = now();
                self.session
                    .handle_timeout(on_time(due.into_std(), self.now));
                return true;
            }
        }
        false
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
                        self.mailbox.set_websocket();
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
                    let compression = self.shared.config.http_compression.as_ref();
                    let encoding = self.pending_encoding.take();
                    let _ = respond.send(http_io::poll_response(poll, compression, encoding));
                }
            }
            Transmit::Ws { frame, compress } => {
                let ws = if on_candidate {
                    self.candidate.as_mut()
                } else {
                    self.ws.as_mut()
                };
                if let Some(ws) = ws {
                    // Engine.IO writes text frames from `str`s: they are UTF-8 already.
                    let queued = match frame {
                        WsFrame::Text(text) => ws.queue_text_bytes(text, compress),
                        WsFrame::Binary(bytes) if compress => ws.queue(WsMessage::Binary(bytes)),
                        WsFrame::Binary(bytes) => ws.queue_uncompressed(WsMessage::Binary(bytes)),
                    };
                    if queued.is_err() {
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
        let now = self.now;
        match input {
            Input::Poll { respond, encoding } => match self.session.handle_poll(now) {
                Ok(()) => {
                    self.pending_get = Some(respond);
                    self.pending_encoding = encoding;
                }
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
                Ok(()) => {
                    self.candidate = Some(ws);
                    self.ws_settled = false;
                }
                Err(e) => {
                    tracing::debug!(sid = %self.sid, error = ?e, "upgrade refused");
                    tokio::spawn(close_ws(ws));
                }
            },
        }
    }

    fn ws_event(&mut self, event: std::io::Result<Option<WsEvent>>, candidate: bool) {
        let now = self.now;
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
}

/// Answers a request the session can no longer take.
fn refuse(input: Input) {
    match input {
        Input::Poll { respond, .. } | Input::Post { respond, .. } => {
            let _ = respond.send(unknown_session());
        }
        Input::Upgrade { ws } => {
            tokio::spawn(close_ws(ws));
        }
    }
}

/// The answer a closed session left for the GET its client's close overtook (the noop,
/// once), if any.
pub(crate) fn overtaken_poll_answer(registry: &Registry, sid: &str) -> Option<Response<Body>> {
    registry
        .take_overtaken_poll(sid)
        .map(|noop| http_io::poll_response(noop, None, None))
}

/// The answer to a GET for a session that is gone: the overtaken GET's noop, or Node's 400.
fn poll_without_session(registry: &Registry, sid: &str) -> Response<Body> {
    overtaken_poll_answer(registry, sid).unwrap_or_else(unknown_session)
}

fn unknown_session() -> Response<Body> {
    http_io::engine_error(switchboard_engineio::EngineError::UnknownSid)
}

pub(crate) fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// A deadline that never comes in practice (a year away).
fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600)
}

/// Closes a WebSocket normally, bounded in time.
pub(crate) async fn close_ws(mut ws: Box<Ws>) {
    let close = ws.close(CloseCode::NORMAL, "");
    let _ = tokio::time::timeout(CLOSE_FLUSH, close).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_timer_within_the_slack_counts_as_on_time_and_a_late_one_does_not() {
        let due = std::time::Instant::now();
        assert_eq!(on_time(due, due + Duration::from_micros(1500)), due);
        assert_eq!(on_time(due, due), due);
        let late = due + Duration::from_millis(50);
        assert_eq!(on_time(due, late), late);
    }
}
