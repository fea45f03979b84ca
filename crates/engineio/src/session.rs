//! One Engine.IO session: handshake, heartbeat, polling cycles, upgrade, close.
//!
//! The shell feeds it what happens on the wire (`handle_*`), and takes out what to write
//! ([`poll_transmit`](Session::poll_transmit)), what to tell the application
//! ([`poll_event`](Session::poll_event)) and when to call back
//! ([`poll_timeout`](Session::poll_timeout), [`handle_timeout`](Session::handle_timeout)).
//! Behaviour follows the Node.js server (`lib/socket.ts`, `lib/transports/polling.ts`).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use crate::close::CloseReason;
use crate::config::Config;
use crate::encoded::{EncodedPacket, WsFrame};
use crate::error::{DecodeError, EngineError, RequestError, SendError};
use crate::packet::{Message, Packet, PacketType, Protocol};
use crate::request::{Handshake, TransportKind};
use crate::{payload, v3};

/// The body of the answer to a successful POST (HTTP 200), as Node sends it.
pub const POST_OK_BODY: &str = "ok";
/// The content type of the answer to a successful POST (`text/html`, as Node sends it).
pub const POST_OK_CONTENT_TYPE: &str = "text/html";

/// Something the application learns about a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client sent a message.
    Message(Message),
    /// A candidate WebSocket answered the probe: the upgrade is under way.
    Upgrading,
    /// The session now runs over WebSocket.
    Upgraded,
    /// The session ended; it accepts nothing more. Drain [`Session::poll_transmit`], then drop it.
    Closed(CloseReason),
}

/// An answer to the pending polling GET: HTTP 200 with this body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollResponse {
    /// The encoded payload.
    pub body: Bytes,
    /// Whether the body is a v3 binary payload rather than text.
    pub binary: bool,
    /// Whether the body may be HTTP-compressed: some packet in it allows compression.
    pub compress: bool,
}

impl PollResponse {
    /// The `Content-Type` header, as Node sends it.
    pub fn content_type(&self) -> &'static str {
        if self.binary {
            "application/octet-stream"
        } else {
            "text/plain; charset=UTF-8"
        }
    }
}

/// Something the shell must write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Answer the pending polling GET.
    Poll(PollResponse),
    /// Send a message on the session's WebSocket (the upgrade candidate while polling),
    /// with permessage-deflate unless `compress` is false.
    Ws {
        /// The message.
        frame: WsFrame,
        /// Whether it may be compressed.
        compress: bool,
    },
    /// Close the session's WebSocket (the upgrade candidate while polling).
    CloseWs,
}

/// A WebSocket message received by the shell, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsInput<'a> {
    /// A text message (the WebSocket layer has validated its UTF-8).
    Text(&'a str),
    /// A binary message: kept without a copy (a v4 message's data is these bytes).
    Binary(&'a Bytes),
}

impl WsInput<'_> {
    fn len(&self) -> usize {
        match self {
            WsInput::Text(t) => t.len(),
            WsInput::Binary(b) => b.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The application closed a polling session; the close packet waits for a GET.
    Closing {
        deadline: Instant,
        reason: CloseReason,
    },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    None,
    Pending { deadline: Instant, probed: bool },
    Done,
}

/// What the pending GET receives when the session ends under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastAnswer {
    Close,
    Noop,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenData<'a> {
    sid: &'a str,
    upgrades: &'a [&'a str],
    ping_interval: u128,
    ping_timeout: u128,
    max_payload: usize,
}

/// One Engine.IO session, without I/O.
#[derive(Debug)]
pub struct Session {
    sid: String,
    protocol: Protocol,
    b64: bool,
    config: Config,
    state: State,
    transport: TransportKind,
    upgrade: Upgrade,
    poll_pending: bool,
    post_pending: bool,
    /// The client closed over polling while no GET was waiting (see
    /// [`Session::overtaken_poll_answer`]).
    closed_without_poll: bool,
    queue: VecDeque<EncodedPacket>,
    transmits: VecDeque<Transmit>,
    /// How many of `transmits` are WebSocket frames (they count against the queue limit):
    /// kept rather than counted on every send, which cost a walk of the queue per packet.
    ws_frames_queued: usize,
    events: VecDeque<Event>,
    /// v4: when the next ping goes out.
    next_ping: Option<Instant>,
    /// v4: the pong deadline; v3: the deadline for the client's next ping.
    heartbeat_deadline: Option<Instant>,
}

impl Session {
    /// Opens a session for a classified handshake.
    ///
    /// The open packet is queued at once: on polling it answers the handshake GET (the first
    /// [`Transmit::Poll`]), on WebSocket it is the first [`Transmit::Ws`]. In v4 the first
    /// ping is due `ping_interval` from `now`; in v3 the client must ping within
    /// `ping_interval + ping_timeout`.
    #[must_use]
    pub fn new(now: Instant, sid: String, handshake: Handshake, config: &Config) -> Self {
        let upgrades: &[&str] = if handshake.transport == TransportKind::Polling
            && config.allow_upgrades
            && config.transports.websocket
        {
            &["websocket"]
        } else {
            &[]
        };
        // Node 6 sends maxPayload to v3 clients too; they ignore it.
        let open = OpenData {
            sid: &sid,
            upgrades,
            ping_interval: config.ping_interval.as_millis(),
            ping_timeout: config.ping_timeout.as_millis(),
            max_payload: config.max_http_buffer_size,
        };
        let json = serde_json::to_string(&open).unwrap_or_default();
        let mut session = Session {
            sid,
            protocol: handshake.protocol,
            b64: handshake.b64,
            config: *config,
            state: State::Open,
            transport: handshake.transport,
            upgrade: Upgrade::None,
            poll_pending: handshake.transport == TransportKind::Polling,
            post_pending: false,
            closed_without_poll: false,
            queue: VecDeque::new(),
            transmits: VecDeque::new(),
            ws_frames_queued: 0,
            events: VecDeque::new(),
            next_ping: None,
            heartbeat_deadline: None,
        };
        match session.protocol {
            Protocol::V4 => session.next_ping = Some(now + config.ping_interval),
            Protocol::V3 => session.reset_v3_deadline(now),
        }
        session
            .queue
            .push_back(EncodedPacket::control(PacketType::Open, &json));
        session.flush();
        session
    }

    /// The session id.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The protocol revision.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The transport currently carrying the session.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// Whether a candidate WebSocket is open and the upgrade not yet complete.
    pub fn is_upgrading(&self) -> bool {
        matches!(self.upgrade, Upgrade::Pending { .. })
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The answer for a GET that reaches the shell after the session ended because the client
    /// closed it over polling with no GET waiting: the noop a waiting GET would have got.
    ///
    /// A browser sends its GET and its POST on separate connections, so a GET sent before the
    /// POST carrying `close` can arrive after it (the official test suite's "forcefully close"
    /// test does this, and fails now and then in Chromium against Node's server, whose answer
    /// is 400). The shell answers one such GET for a short while; `None` for any other end,
    /// and once [`handle_poll`](Self::handle_poll) has answered that GET itself.
    pub fn overtaken_poll_answer(&self) -> Option<PollResponse> {
        self.closed_without_poll.then(|| {
            let noop = [EncodedPacket::control(PacketType::Noop, "")];
            self.encode_poll(noop.iter())
        })
    }

    /// Packets accepted but not yet taken out through [`poll_transmit`](Self::poll_transmit).
    pub fn queued(&self) -> usize {
        self.queue.len() + self.ws_frames_queued
    }

    // ----- application side -----

    /// Queues a packet (usually a message from [`EncodedPacket::text`] or
    /// [`EncodedPacket::binary`], possibly shared with other sessions).
    ///
    /// Refused once the session is closing or closed, and when `max_queued_packets` are
    /// already waiting ([`SendError::QueueFull`]: nothing is queued, the session is unchanged).
    pub fn send(&mut self, packet: EncodedPacket) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if self.queued() >= self.config.max_queued_packets {
            return Err(SendError::QueueFull);
        }
        if self.transport == TransportKind::WebSocket && self.queue.is_empty() {
            // What `flush` would do, without the round trip through the queue.
            self.push_ws_transmit(packet);
            return Ok(());
        }
        self.queue.push_back(packet);
        self.flush();
        Ok(())
    }

    /// Closes the session from the application side (reason `forced close`).
    ///
    /// On WebSocket, queued packets are flushed and the WebSocket closed (Node sends no close
    /// packet there). On polling, a close packet is queued behind the pending packets and goes
    /// out with the next GET; the session ends then, or after `close_timeout` without a GET.
    /// An upgrade candidate that has not answered the probe is closed at once; one that has
    /// is let finish (its client has paused polling and waits to send the upgrade packet),
    /// and the session then closes over the new WebSocket.
    pub fn close(&mut self, now: Instant) {
        self.close_with(now, CloseReason::ForcedClose);
    }

    /// Like [`close`](Self::close), with the reason the final [`Event::Closed`] carries.
    ///
    /// With [`CloseReason::ServerShuttingDown`] a polling session ends at once, as Node
    /// discards the transport of a server that stops: a parked GET takes the close packet, and
    /// without one the session does not wait for a GET that the stopping server's closed
    /// connections may never carry; an upgrade under way is dropped.
    pub fn close_with(&mut self, now: Instant, reason: CloseReason) {
        if self.state != State::Open {
            return;
        }
        let stopping = reason == CloseReason::ServerShuttingDown;
        if stopping || !matches!(self.upgrade, Upgrade::Pending { probed: true, .. }) {
            self.abort_candidate();
        }
        self.next_ping = None;
        match self.transport {
            TransportKind::WebSocket => {
                self.flush();
                self.transmits.push_back(Transmit::CloseWs);
                self.finish(reason);
            }
            TransportKind::Polling => {
                self.queue
                    .push_back(EncodedPacket::control(PacketType::Close, ""));
                self.state = State::Closing {
                    deadline: now + self.config.close_timeout,
                    reason,
                };
                self.flush();
                if stopping && self.state != State::Closed {
                    self.queue.clear();
                    self.finish(reason);
                }
            }
        }
    }

    // ----- HTTP long-polling -----

    /// A polling GET arrived. On success the GET is parked until a [`Transmit::Poll`] answers
    /// it (at once if packets are waiting, or during an upgrade with a `noop`).
    ///
    /// Errors: the session is closed ([`EngineError::UnknownSid`]) or runs over WebSocket
    /// ([`EngineError::BadRequest`], Node's transport mismatch); a GET is already pending
    /// ([`RequestError::Overlap`]: the pending one is answered with a close packet and the
    /// session closes with `transport error`).
    ///
    /// What was due by `now` happens first: a GET that comes after the pong deadline finds the
    /// session closed, however late the shell's timer (as does a POST, in
    /// [`handle_post_start`](Self::handle_post_start)).
    pub fn handle_poll(&mut self, now: Instant) -> Result<(), RequestError> {
        self.catch_up(now);
        if self.closed_without_poll {
            // The GET the client's close overtook (see `overtaken_poll_answer`), handed in
            // before the shell forgot the session.
            self.closed_without_poll = false;
            self.answer_poll_with(PacketType::Noop);
            return Ok(());
        }
        self.check_polling()?;
        if self.poll_pending {
            self.fail(CloseReason::TransportError, LastAnswer::Close);
            return Err(RequestError::Overlap);
        }
        self.poll_pending = true;
        self.flush();
        if self.poll_pending && matches!(self.upgrade, Upgrade::Pending { probed: true, .. }) {
            self.answer_poll_with(PacketType::Noop);
        }
        Ok(())
    }

    /// The client went away before its pending GET was answered: the session closes with
    /// `transport error` (Node: "poll connection closed prematurely").
    pub fn handle_poll_aborted(&mut self, _now: Instant) {
        if self.poll_pending && self.state != State::Closed {
            self.poll_pending = false;
            self.fail(CloseReason::TransportError, LastAnswer::Close);
        }
    }

    /// A polling POST arrived; its body follows with [`handle_post`](Self::handle_post).
    ///
    /// Errors as for [`handle_poll`](Self::handle_poll); a second POST while one is being read
    /// is an [`RequestError::Overlap`] that closes the session.
    pub fn handle_post_start(&mut self, now: Instant) -> Result<(), RequestError> {
        self.catch_up(now);
        self.check_polling()?;
        if self.post_pending {
            self.post_pending = false;
            self.fail(CloseReason::TransportError, LastAnswer::Close);
            return Err(RequestError::Overlap);
        }
        self.post_pending = true;
        Ok(())
    }

    /// The body of a POST (started with [`handle_post_start`](Self::handle_post_start), or
    /// not: then this starts it too). `binary`: the request's content type was
    /// `application/octet-stream`.
    ///
    /// The shell needs to read at most `max_http_buffer_size + 1` bytes: a longer body is
    /// refused with [`RequestError::PayloadTooLarge`] (413, session unchanged). On success
    /// answer HTTP 200 with [`POST_OK_BODY`] as [`POST_OK_CONTENT_TYPE`].
    pub fn handle_post(
        &mut self,
        now: Instant,
        body: &[u8],
        binary: bool,
    ) -> Result<(), RequestError> {
        if !self.post_pending {
            self.handle_post_start(now)?;
        }
        self.post_pending = false;
        if self.state == State::Closed {
            return Err(EngineError::UnknownSid.into());
        }
        if body.len() > self.config.max_http_buffer_size {
            return Err(RequestError::PayloadTooLarge);
        }
        if binary && self.protocol == Protocol::V4 {
            self.fail(CloseReason::TransportError, LastAnswer::Close);
            return Err(RequestError::InvalidContent);
        }
        let mut packets = Vec::new();
        let result = match self.protocol {
            Protocol::V4 => payload::decode_payload_into(body, &mut packets),
            Protocol::V3 => v3::decode_payload_into(body, binary, &mut packets),
        };
        for packet in packets {
            if self.state != State::Open {
                return Ok(());
            }
            if packet == Packet::Close {
                // Node's polling transport: a pending GET gets a noop, then `transport close`.
                self.fail(CloseReason::TransportClose, LastAnswer::Noop);
                return Ok(());
            }
            self.on_packet(now, packet);
        }
        match result {
            Err(e) if self.state != State::Closed => {
                self.fail(CloseReason::ParseError, LastAnswer::Close);
                Err(RequestError::Parse(e))
            }
            _ => Ok(()),
        }
    }

    /// The client went away while its POST body was being read: the session closes with
    /// `transport error`.
    pub fn handle_post_aborted(&mut self, _now: Instant) {
        if self.post_pending && self.state != State::Closed {
            self.post_pending = false;
            self.fail(CloseReason::TransportError, LastAnswer::Close);
        }
    }

    /// Runs the timeouts due by `now`, each at its own time, before a request is handled: the
    /// shell's timer is only a wake-up, and may fire after a request that came later than
    /// the deadline. (A ping due before `now` went out then, so its pong deadline counts from
    /// then, as with a timer on time.) Each step clears the deadline it ran; there are four
    /// kinds (ping, pong, upgrade, close), hence the bound.
    fn catch_up(&mut self, now: Instant) {
        for _ in 0..4 {
            match self.poll_timeout() {
                Some(due) if due <= now => self.handle_timeout(due),
                _ => return,
            }
        }
    }

    fn check_polling(&self) -> Result<(), RequestError> {
        if self.state == State::Closed {
            return Err(EngineError::UnknownSid.into());
        }
        if self.transport != TransportKind::Polling {
            return Err(EngineError::BadRequest.into());
        }
        Ok(())
    }

    // ----- WebSocket -----

    /// A WebSocket for this sid has opened while the session is on polling: it becomes the
    /// upgrade candidate, which has `upgrade_timeout` to complete the upgrade.
    ///
    /// Refused (the shell closes that WebSocket; Node answers nothing more) when the session
    /// is closed ([`EngineError::UnknownSid`]), already upgrading or upgraded, upgrades are
    /// disabled, or the session is closing ([`EngineError::BadRequest`]).
    pub fn handle_ws_upgrade(&mut self, now: Instant) -> Result<(), EngineError> {
        match self.state {
            State::Closed => return Err(EngineError::UnknownSid),
            State::Closing { .. } => return Err(EngineError::BadRequest),
            State::Open => {}
        }
        if self.transport != TransportKind::Polling
            || self.upgrade != Upgrade::None
            || !self.config.allow_upgrades
            || !self.config.transports.websocket
        {
            return Err(EngineError::BadRequest);
        }
        self.upgrade = Upgrade::Pending {
            deadline: now + self.config.upgrade_timeout,
            probed: false,
        };
        Ok(())
    }

    /// A message arrived on the session's WebSocket (or on the upgrade candidate).
    pub fn handle_ws_message(&mut self, now: Instant, input: WsInput<'_>) {
        if self.state == State::Closed {
            return;
        }
        let on_candidate = match (self.transport, self.upgrade) {
            (TransportKind::WebSocket, _) => false,
            (TransportKind::Polling, Upgrade::Pending { .. }) => true,
            _ => return,
        };
        if input.len() > self.config.max_http_buffer_size {
            if on_candidate {
                self.abort_candidate();
            } else {
                self.fail(CloseReason::TransportError, LastAnswer::Close);
            }
            return;
        }
        let decoded = match input {
            WsInput::Text(text) => Packet::decode_text(text, self.protocol),
            WsInput::Binary(bytes) => match self.protocol {
                Protocol::V4 => Ok(Packet::binary(bytes.clone())),
                Protocol::V3 => v3::decode_binary_message(bytes),
            },
        };
        if on_candidate {
            self.on_candidate_packet(decoded);
            return;
        }
        match decoded {
            Ok(Packet::Close) => self.fail(CloseReason::TransportClose, LastAnswer::Close),
            Ok(packet) => self.on_packet(now, packet),
            Err(_) => self.fail(CloseReason::ParseError, LastAnswer::Close),
        }
    }

    /// The session's WebSocket (or the upgrade candidate) closed or failed. For the session's
    /// own WebSocket this ends the session (`transport close`); a candidate just goes away.
    pub fn handle_ws_closed(&mut self, _now: Instant) {
        match (self.transport, self.upgrade) {
            (TransportKind::WebSocket, _) if self.state != State::Closed => {
                self.queue.clear();
                self.finish(CloseReason::TransportClose);
            }
            (TransportKind::Polling, Upgrade::Pending { .. }) => self.upgrade = Upgrade::None,
            _ => {}
        }
    }

    fn on_candidate_packet(&mut self, decoded: Result<Packet, DecodeError>) {
        let Upgrade::Pending { deadline, probed } = self.upgrade else {
            return;
        };
        match decoded {
            Ok(Packet::Ping(data)) if data == "probe" => {
                let pong = EncodedPacket::control(PacketType::Pong, "probe");
                self.push_ws_transmit(pong);
                if !probed {
                    self.events.push_back(Event::Upgrading);
                }
                self.upgrade = Upgrade::Pending {
                    deadline,
                    probed: true,
                };
                // Node forces a polling cycle so the client can pause polling quickly.
                if self.poll_pending {
                    self.answer_poll_with(PacketType::Noop);
                }
            }
            Ok(Packet::Upgrade) if self.state != State::Closed => {
                self.upgrade = Upgrade::Done;
                self.transport = TransportKind::WebSocket;
                if self.poll_pending {
                    self.answer_poll_with(PacketType::Noop);
                }
                self.events.push_back(Event::Upgraded);
                if let State::Closing { reason, .. } = self.state {
                    // Closed during the upgrade: no close packet over WebSocket (as Node).
                    self.queue.retain(|p| p.packet_type() != PacketType::Close);
                    self.flush();
                    self.transmits.push_back(Transmit::CloseWs);
                    self.finish(reason);
                    return;
                }
                self.flush();
            }
            // Node: anything else on the candidate closes it; the session lives on.
            _ => self.abort_candidate(),
        }
    }

    fn abort_candidate(&mut self) {
        if let Upgrade::Pending { .. } = self.upgrade {
            self.upgrade = Upgrade::None;
            self.transmits.push_back(Transmit::CloseWs);
        }
    }

    // ----- packets, heartbeat -----

    fn on_packet(&mut self, now: Instant, packet: Packet) {
        if self.state != State::Open {
            return;
        }
        match packet {
            Packet::Ping(_) => {
                if self.protocol != Protocol::V3 {
                    self.fail(CloseReason::TransportError, LastAnswer::Close);
                    return;
                }
                self.reset_v3_deadline(now);
                self.queue
                    .push_back(EncodedPacket::control(PacketType::Pong, ""));
                self.flush();
            }
            Packet::Pong(_) => {
                if self.protocol == Protocol::V3 {
                    self.fail(CloseReason::TransportError, LastAnswer::Close);
                    return;
                }
                self.heartbeat_deadline = None;
                self.next_ping = Some(now + self.config.ping_interval);
            }
            Packet::Message(m) => self.events.push_back(Event::Message(m)),
            Packet::Close => self.fail(CloseReason::TransportClose, LastAnswer::Close),
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
    }

    fn reset_v3_deadline(&mut self, now: Instant) {
        self.heartbeat_deadline = Some(now + self.config.ping_interval + self.config.ping_timeout);
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let closing = match self.state {
            State::Closed => return None,
            State::Closing { deadline, .. } => Some(deadline),
            State::Open => None,
        };
        let upgrade = match self.upgrade {
            Upgrade::Pending { deadline, .. } => Some(deadline),
            _ => None,
        };
        [self.next_ping, self.heartbeat_deadline, upgrade, closing]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the timers due at `now`: the ping timeout (closes with `ping timeout`), the close
    /// timeout, the upgrade timeout (closes the candidate), the next v4 ping.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.heartbeat_deadline.is_some_and(|d| d <= now) {
            self.fail(CloseReason::PingTimeout, LastAnswer::Close);
            return;
        }
        if let State::Closing { deadline, reason } = self.state {
            if deadline <= now {
                self.queue.clear();
                self.finish(reason);
                return;
            }
        }
        if let Upgrade::Pending { deadline, .. } = self.upgrade {
            if deadline <= now {
                self.abort_candidate();
            }
        }
        if self.state == State::Open && self.next_ping.is_some_and(|d| d <= now) {
            self.next_ping = None;
            self.heartbeat_deadline = Some(now + self.config.ping_timeout);
            self.queue
                .push_back(EncodedPacket::control(PacketType::Ping, ""));
            self.flush();
        }
    }

    // ----- output -----

    /// The next thing to write, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let transmit = self.transmits.pop_front();
        if let Some(Transmit::Ws { .. }) = transmit {
            self.ws_frames_queued -= 1;
        }
        transmit
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn flush(&mut self) {
        if self.state == State::Closed || self.queue.is_empty() {
            return;
        }
        match self.transport {
            TransportKind::WebSocket => {
                while let Some(p) = self.queue.pop_front() {
                    self.push_ws_transmit(p);
                }
            }
            TransportKind::Polling => {
                if !self.poll_pending {
                    return;
                }
                let response = self.encode_poll(self.queue.iter());
                self.queue.clear();
                self.poll_pending = false;
                self.transmits.push_back(Transmit::Poll(response));
                if let State::Closing { reason, .. } = self.state {
                    // The close packet went out last.
                    self.finish(reason);
                }
            }
        }
    }

    fn push_ws_transmit(&mut self, packet: EncodedPacket) {
        self.ws_frames_queued += 1;
        self.transmits.push_back(Transmit::Ws {
            compress: packet.compress(),
            frame: packet.into_ws_frame(self.protocol, self.b64),
        });
    }

    fn encode_poll<'a>(
        &self,
        packets: impl IntoIterator<Item = &'a EncodedPacket> + Clone,
    ) -> PollResponse {
        let compress = packets.clone().into_iter().any(EncodedPacket::compress);
        match self.protocol {
            Protocol::V4 => PollResponse {
                body: payload::encode_payload(packets),
                binary: false,
                compress,
            },
            Protocol::V3 => {
                let (body, binary) = v3::encode_payload(packets, self.b64);
                PollResponse {
                    body,
                    binary,
                    compress,
                }
            }
        }
    }

    fn answer_poll_with(&mut self, kind: PacketType) {
        let packet = [EncodedPacket::control(kind, "")];
        let response = self.encode_poll(packet.iter());
        self.poll_pending = false;
        self.transmits.push_back(Transmit::Poll(response));
    }

    /// Ends the session on an error or on the client's close: queued packets are dropped, a
    /// pending GET gets `answer`, the WebSocket (or candidate) is closed.
    fn fail(&mut self, reason: CloseReason, answer: LastAnswer) {
        if self.state == State::Closed {
            return;
        }
        self.queue.clear();
        self.abort_candidate();
        match self.transport {
            TransportKind::Polling => {
                if self.poll_pending {
                    self.answer_poll_with(match answer {
                        LastAnswer::Close => PacketType::Close,
                        LastAnswer::Noop => PacketType::Noop,
                    });
                } else {
                    self.closed_without_poll = reason == CloseReason::TransportClose;
                }
            }
            TransportKind::WebSocket => self.transmits.push_back(Transmit::CloseWs),
        }
        self.finish(reason);
    }

    fn finish(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.poll_pending = false;
        self.post_pending = false;
        self.next_ping = None;
        self.heartbeat_deadline = None;
        self.upgrade = match self.upgrade {
            Upgrade::Done => Upgrade::Done,
            _ => Upgrade::None,
        };
        self.events.push_back(Event::Closed(reason));
    }
}
