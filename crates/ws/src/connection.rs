//! The connection state machine: bytes and time in; events and bytes out.
//!
//! Drive contract: after feeding input ([`Connection::handle_input`]), a timeout
//! ([`Connection::handle_timeout`]) or a send, drain [`Connection::poll_event`] and
//! [`Connection::poll_transmit`], then wait for more input or until
//! [`Connection::poll_timeout`]. Once [`Event::Closed`] has been returned, write out the
//! remaining transmits and close the transport.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use crate::close::CloseCode;
use crate::config::Config;
use crate::deflate::{DeflateParams, Deflater, Inflater};
use crate::error::{ProtocolError, SendError};
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::prepared::PreparedMessage;
use crate::random::{random_u64, MaskGenerator};
use crate::role::Role;
use crate::utf8::{Utf8Progress, Utf8Stream};

/// Payloads up to this size are copied next to their header; larger ones are queued as-is.
const COPY_THRESHOLD: usize = 4096;

/// What the application learns from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// The peer pinged; the pong is already queued.
    Ping(Bytes),
    /// The peer answered a ping.
    Pong(Bytes),
    /// The connection is finished. Write out the remaining transmits, then close the transport.
    Closed(CloseInfo),
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The code of the close handshake: the peer's when it started it, ours otherwise.
    /// [`CloseCode::NO_STATUS`] when the close frame carried none, [`CloseCode::ABNORMAL`]
    /// when no close frame came back in time.
    pub code: CloseCode,
    /// The close reason.
    pub reason: String,
    /// Which side started the close.
    pub initiator: Initiator,
    /// The protocol violation that made us close, if any.
    pub error: Option<ProtocolError>,
}

/// Which side started the close handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// This endpoint (by [`Connection::close`], a protocol error or a timeout).
    Local,
    /// The peer.
    Remote,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    /// We sent a close frame and wait for the peer's until the deadline.
    CloseSent {
        deadline: Instant,
    },
    /// The connection has ended and [`Event::Closed`] waits in the queue. `reply` is the close
    /// frame still owed to the peer: it is queued when the application takes that event, so
    /// answers to the messages before it go out first.
    Ending {
        reply: Option<(Option<CloseCode>, String)>,
    },
    Closed,
}

/// A message being reassembled from fragments.
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
}

struct Compression {
    params: DeflateParams,
    deflater: Deflater,
    inflater: Inflater,
}

/// One WebSocket connection after the opening handshake, in either role.
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    recv: BytesMut,
    /// Bytes still needed to complete the frame at the head of `recv`.
    recv_needed: usize,
    /// Payload bytes of the frame at the head of `recv` already unmasked and, for text,
    /// validated; `None` until that frame's header has been seen.
    head_checked: Option<usize>,
    /// UTF-8 state of the text message being received.
    text_utf8: Utf8Stream,
    partial: Option<Partial>,
    compression: Option<Compression>,
    events: VecDeque<Event>,
    out_queue: VecDeque<Bytes>,
    out_tail: BytesMut,
    buffered: usize,
    masks: MaskGenerator,
    last_input: Instant,
    ping_sent_at: Option<Instant>,
    close_code_sent: Option<CloseCode>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered", &self.buffered)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection whose handshake completed at `now`, with the negotiated deflate parameters.
    pub fn new(role: Role, config: Config, deflate: Option<DeflateParams>, now: Instant) -> Self {
        let compression = deflate.map(|params| Compression {
            params,
            deflater: Deflater::new(&params, role, config.compression_level),
            inflater: Inflater::new(&params, role),
        });
        Self {
            role,
            config,
            state: State::Open,
            recv: BytesMut::new(),
            recv_needed: 0,
            head_checked: None,
            text_utf8: Utf8Stream::default(),
            partial: None,
            compression,
            events: VecDeque::new(),
            out_queue: VecDeque::new(),
            out_tail: BytesMut::new(),
            buffered: 0,
            masks: MaskGenerator::new(random_u64()),
            last_input: now,
            ping_sent_at: None,
            close_code_sent: None,
        }
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The negotiated permessage-deflate parameters, if any.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.compression.as_ref().map(|c| c.params)
    }

    /// Whether the close handshake has not begun.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether data may still be sent: while open, and after the peer closed or misbehaved
    /// until the application takes [`Event::Closed`] (so it can answer what came before).
    fn can_send(&self) -> bool {
        matches!(self.state, State::Open | State::Ending { reply: Some(_) })
    }

    /// Whether the connection has finished (the transport may close once transmits are out).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes queued for the transport and not yet taken by [`Connection::poll_transmit`].
    pub fn buffered_amount(&self) -> usize {
        self.buffered
    }

    /// How many more bytes would complete the frame being received (a read-size hint).
    pub fn read_hint(&self) -> usize {
        self.recv_needed
    }

    /// Feeds bytes read from the transport.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.recv.extend_from_slice(data);
        self.process(now);
    }

    /// Feeds a buffer the shell read into, taking it without a copy when nothing was pending.
    pub fn handle_input_buf(&mut self, now: Instant, data: BytesMut) {
        if self.recv.is_empty() {
            self.recv = data;
        } else {
            self.recv.extend_from_slice(&data);
        }
        self.process(now);
        if self.recv.is_empty() {
            // Let go of the reader's buffer: an idle connection holds no input memory.
            self.recv = BytesMut::new();
        }
    }

    /// Advances timers: keep-alive pings, the pong deadline and the close deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Ending { .. } => {}
            State::CloseSent { deadline } => {
                if now >= deadline {
                    self.finish(CloseInfo {
                        code: CloseCode::ABNORMAL,
                        reason: String::from("close handshake timed out"),
                        initiator: Initiator::Local,
                        error: None,
                    });
                }
            }
            State::Open => {
                if let Some(sent) = self.ping_sent_at {
                    if now >= sent + self.config.pong_timeout {
                        self.fail(now, ProtocolError::KeepAliveTimeout);
                    }
                } else if let Some(interval) = self.config.ping_interval {
                    if now >= self.last_input + interval {
                        self.queue_control(OpCode::PING, b"");
                        self.ping_sent_at = Some(now);
                    }
                }
            }
        }
    }

    /// When [`Connection::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed | State::Ending { .. } => None,
            State::CloseSent { deadline } => Some(deadline),
            State::Open => match self.ping_sent_at {
                Some(sent) => Some(sent + self.config.pong_timeout),
                None => self.config.ping_interval.map(|i| self.last_input + i),
            },
        }
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if matches!(event, Event::Closed(_)) {
            if let State::Ending {
                reply: Some((code, reason)),
            } = std::mem::replace(&mut self.state, State::Closed)
            {
                self.queue_close(code, &reason);
            }
        }
        Some(event)
    }

    /// The next bytes to write to the transport, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let bytes = match self.out_queue.pop_front() {
            Some(bytes) => bytes,
            None if !self.out_tail.is_empty() => self.out_tail.split().freeze(),
            None => return None,
        };
        self.buffered -= bytes.len();
        if self.buffered == 0 && self.out_tail.capacity() > 64 * 1024 {
            self.out_tail = BytesMut::new();
        }
        Some(bytes)
    }

    /// Whether [`Connection::poll_transmit`] has anything.
    pub fn has_transmit(&self) -> bool {
        self.buffered > 0
    }

    /// Sends a data message, compressing it when deflate was negotiated and it is large enough.
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        self.send_data(message, true)
    }

    /// Sends a data message that is never compressed, even with deflate negotiated (for
    /// payloads known not to shrink, or an application asking for it per message).
    pub fn send_uncompressed(&mut self, message: Message) -> Result<(), SendError> {
        self.send_data(message, false)
    }

    /// Sends text the caller already holds as UTF-8 bytes (an encoder that wrote it from
    /// `str`s), without checking it again. Nothing in this crate relies on the bytes being
    /// UTF-8: text that is not would only make the peer fail the connection.
    pub fn send_text_bytes(&mut self, text: Bytes, may_compress: bool) -> Result<(), SendError> {
        self.send_payload(OpCode::TEXT, text, may_compress)
    }

    fn send_data(&mut self, message: Message, may_compress: bool) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_payload(OpCode::TEXT, text.into_bytes(), may_compress),
            Message::Binary(data) => self.send_payload(OpCode::BINARY, data, may_compress),
        }
    }

    fn send_payload(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        may_compress: bool,
    ) -> Result<(), SendError> {
        if !self.can_send() {
            return Err(SendError::Closing);
        }
        let threshold = self.config.compression_threshold;
        match &mut self.compression {
            Some(compression) if may_compress && payload.len() >= threshold => {
                let mut body = BytesMut::with_capacity(payload.len() / 2 + 16);
                compression.deflater.compress(&payload, &mut body);
                self.queue_frame(opcode, true, body.freeze());
            }
            _ => self.queue_frame(opcode, false, payload),
        }
        Ok(())
    }

    /// Sends a message framed once for many receivers. Server connections queue the shared
    /// bytes as they are; client connections mask a copy.
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), SendError> {
        if !self.can_send() {
            return Err(SendError::Closing);
        }
        if self.role == Role::Client {
            let msg = if message.is_text() {
                match Utf8Bytes::try_from_bytes(message.payload().clone()) {
                    Ok(text) => Message::Text(text),
                    Err(bytes) => Message::Binary(bytes),
                }
            } else {
                Message::Binary(message.payload().clone())
            };
            return self.send(msg);
        }
        let threshold = self.config.compression_threshold;
        let frame = match &mut self.compression {
            Some(compression) if message.payload().len() >= threshold => {
                // The shared frame was compressed without our history: forget it so later
                // messages never point back past it (RFC 7692 §7.2.3 context takeover).
                compression.deflater.reset();
                message
                    .compressed_frame(compression.params.server_max_window_bits)
                    .clone()
            }
            _ => message.plain_frame().clone(),
        };
        debug_assert!(message.opcode() == OpCode::TEXT || message.opcode() == OpCode::BINARY);
        self.push_shared(frame);
        Ok(())
    }

    /// Sends a ping with `payload` (at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::PING, payload)
    }

    /// Sends an unsolicited pong with `payload` (at most 125 bytes).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::PONG, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closing);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        self.queue_control(opcode, payload);
        Ok(())
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes). The connection
    /// finishes when the peer answers, or at `now` plus the close timeout.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closing);
        }
        if !code.is_allowed_on_wire() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
            return Err(SendError::ControlTooLong);
        }
        self.queue_close(Some(code), reason);
        self.state = State::CloseSent {
            deadline: now + self.config.close_timeout,
        };
        Ok(())
    }

    fn process(&mut self, now: Instant) {
        self.last_input = now;
        self.ping_sent_at = None;
        while matches!(self.state, State::Open | State::CloseSent { .. }) {
            let (header, header_len) = match FrameHeader::parse(&self.recv) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => {
                    self.recv_needed = 2usize.saturating_sub(self.recv.len());
                    break;
                }
                Err(err) => return self.fail(now, err),
            };
            if let Err(err) = self.check_header(&header) {
                return self.fail(now, err);
            }
            if let Err(err) = self.check_arriving_text(&header, header_len) {
                return self.fail(now, err);
            }
            // check_header bounded payload_len by max_frame_size, which fits in usize.
            let total = header_len + header.payload_len as usize;
            if self.recv.len() < total {
                self.recv_needed = total - self.recv.len();
                break;
            }
            let checked = self.head_checked.take().unwrap_or(0);
            let mut payload = self.recv.split_to(total);
            payload.advance(header_len);
            if let Some(key) = header.mask {
                apply_mask(&mut payload[checked..], key, checked);
            }
            if let Err(err) = self.handle_frame(now, &header, payload) {
                return self.fail(now, err);
            }
        }
        if !matches!(self.state, State::Open | State::CloseSent { .. }) {
            self.recv = BytesMut::new();
            self.recv_needed = 0;
            self.head_checked = None;
        } else if self.recv.is_empty() {
            // Release the read buffer while idle; payloads handed out keep their own reference.
            self.recv = BytesMut::new();
        }
    }

    /// Unmasks and validates the part of an uncompressed text frame that has arrived, so
    /// invalid UTF-8 fails the connection as soon as it is on the wire, even mid-frame.
    fn check_arriving_text(
        &mut self,
        header: &FrameHeader,
        header_len: usize,
    ) -> Result<(), ProtocolError> {
        let starts_text = header.opcode == OpCode::TEXT && !header.rsv1;
        let continues_text = header.opcode == OpCode::CONTINUATION
            && self
                .partial
                .as_ref()
                .is_some_and(|p| p.text && !p.compressed);
        if !starts_text && !continues_text {
            return Ok(());
        }
        let checked = match self.head_checked {
            Some(checked) => checked,
            None => {
                if starts_text {
                    self.text_utf8 = Utf8Stream::default();
                }
                0
            }
        };
        let arrived = (self.recv.len() - header_len).min(header.payload_len as usize);
        self.head_checked = Some(arrived);
        if arrived == checked {
            return Ok(());
        }
        let piece = &mut self.recv[header_len + checked..header_len + arrived];
        if let Some(key) = header.mask {
            apply_mask(piece, key, checked);
        }
        match self.text_utf8.feed(piece) {
            Utf8Progress::Valid => Ok(()),
            Utf8Progress::Invalid => Err(ProtocolError::InvalidUtf8),
        }
    }

    fn check_header(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let opcode = header.opcode;
        if !opcode.is_defined() {
            return Err(ProtocolError::UnknownOpcode(opcode.0));
        }
        let starts_message = opcode == OpCode::TEXT || opcode == OpCode::BINARY;
        if header.rsv2
            || header.rsv3
            || (header.rsv1 && !(starts_message && self.compression.is_some()))
        {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if opcode.is_control() {
            if !header.fin {
                return Err(ProtocolError::FragmentedControl);
            }
            if header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlTooLong);
            }
            return Ok(());
        }
        match (&self.partial, starts_message) {
            (Some(_), true) => return Err(ProtocolError::ExpectedContinuation),
            (None, false) => return Err(ProtocolError::UnexpectedContinuation),
            _ => {}
        }
        if header.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge);
        }
        let so_far = self
            .partial
            .as_ref()
            .map_or(0, |p| if p.compressed { 0 } else { p.data.len() });
        if so_far as u64 + header.payload_len > self.config.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge);
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        now: Instant,
        header: &FrameHeader,
        payload: BytesMut,
    ) -> Result<(), ProtocolError> {
        match header.opcode {
            OpCode::PING => {
                if self.state == State::Open {
                    self.queue_control(OpCode::PONG, &payload);
                }
                self.events.push_back(Event::Ping(payload.freeze()));
                Ok(())
            }
            OpCode::PONG => {
                self.events.push_back(Event::Pong(payload.freeze()));
                Ok(())
            }
            OpCode::CLOSE => self.handle_close(&payload),
            _ if matches!(self.state, State::CloseSent { .. }) => Ok(()), // data after our close is dropped
            OpCode::TEXT | OpCode::BINARY => {
                let text = header.opcode == OpCode::TEXT;
                if header.fin && !header.rsv1 {
                    return self.deliver_whole(text, payload);
                }
                if text && header.rsv1 {
                    // Compressed text is validated as it is inflated.
                    self.text_utf8 = Utf8Stream::default();
                }
                self.partial = Some(Partial {
                    text,
                    compressed: header.rsv1,
                    data: BytesMut::new(),
                });
                self.append_fragment(now, header.fin, payload)
            }
            _ => self.append_fragment(now, header.fin, payload),
        }
    }

    fn deliver_whole(&mut self, text: bool, payload: BytesMut) -> Result<(), ProtocolError> {
        let payload = payload.freeze();
        let message = if text {
            // Validated as it arrived (check_arriving_text); only an unfinished code point
            // at the very end remains to be caught.
            if !self.text_utf8.is_complete() {
                return Err(ProtocolError::InvalidUtf8);
            }
            Message::Text(Utf8Bytes::from_validated(payload))
        } else {
            Message::Binary(payload)
        };
        self.events.push_back(Event::Message(message));
        Ok(())
    }

    fn append_fragment(
        &mut self,
        _now: Instant,
        fin: bool,
        payload: BytesMut,
    ) -> Result<(), ProtocolError> {
        let limit = self.config.max_message_size;
        let Some(partial) = self.partial.as_mut() else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        if partial.compressed {
            let Some(compression) = self.compression.as_mut() else {
                return Err(ProtocolError::ReservedBits);
            };
            let before = partial.data.len();
            compression
                .inflater
                .inflate(&payload, &mut partial.data, limit)?;
            if fin {
                compression.inflater.finish(&mut partial.data, limit)?;
            }
            if partial.text && self.text_utf8.feed(&partial.data[before..]) == Utf8Progress::Invalid
            {
                return Err(ProtocolError::InvalidUtf8);
            }
        } else if partial.data.is_empty() {
            partial.data = payload;
        } else {
            partial.data.extend_from_slice(&payload);
        }
        if fin && partial.text && !self.text_utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        if fin {
            if let Some(partial) = self.partial.take() {
                let data = partial.data.freeze();
                let message = if partial.text {
                    Message::Text(Utf8Bytes::from_validated(data))
                } else {
                    Message::Binary(data)
                };
                self.events.push_back(Event::Message(message));
            }
        }
        Ok(())
    }

    fn handle_close(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        let (code, reason) = match payload {
            [] => (None, String::new()),
            [_] => return Err(ProtocolError::InvalidClosePayload),
            [hi, lo, rest @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_allowed_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    simdutf8::basic::from_utf8(rest).map_err(|_| ProtocolError::InvalidUtf8)?;
                (Some(code), reason.to_owned())
            }
        };
        let (initiator, reply) = match self.state {
            // Echo the peer's code, as RFC 6455 §5.5.1 suggests.
            State::Open => (Initiator::Remote, Some((code, String::new()))),
            _ => (Initiator::Local, None),
        };
        let code = match initiator {
            Initiator::Local => self.close_code_sent.unwrap_or(CloseCode::NO_STATUS),
            Initiator::Remote => code.unwrap_or(CloseCode::NO_STATUS),
        };
        self.end(
            CloseInfo {
                code,
                reason,
                initiator,
                error: None,
            },
            reply,
        );
        Ok(())
    }

    /// Closes because the peer misbehaved: send the matching close code and stop reading.
    fn fail(&mut self, _now: Instant, err: ProtocolError) {
        let reply = (self.state == State::Open).then(|| (Some(err.close_code()), err.to_string()));
        self.end(
            CloseInfo {
                code: err.close_code(),
                reason: err.to_string(),
                initiator: Initiator::Local,
                error: Some(err),
            },
            reply,
        );
    }

    /// Ends the connection without a close frame still owed (timeouts, completed handshakes).
    fn finish(&mut self, info: CloseInfo) {
        self.end(info, None);
    }

    /// Stops reading; the close `reply`, if any, is queued once the application takes the
    /// [`Event::Closed`] pushed here.
    fn end(&mut self, info: CloseInfo, reply: Option<(Option<CloseCode>, String)>) {
        self.state = State::Ending { reply };
        self.partial = None;
        self.recv = BytesMut::new();
        self.events.push_back(Event::Closed(info));
    }

    fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let mut payload = Vec::with_capacity(2 + reason.len());
        if let Some(code) = code {
            payload.extend_from_slice(&code.0.to_be_bytes());
            let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        self.close_code_sent = code;
        self.queue_control(OpCode::CLOSE, &payload);
    }

    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        self.write_header(opcode, false, payload.len());
        self.write_payload_copy(payload);
    }

    fn queue_frame(&mut self, opcode: OpCode, compressed: bool, payload: Bytes) {
        self.write_header(opcode, compressed, payload.len());
        if self.role == Role::Server && payload.len() > COPY_THRESHOLD {
            self.push_shared(payload);
        } else {
            self.write_payload_copy(&payload);
        }
    }

    /// Writes a frame header, remembering the mask key for the payload that follows.
    fn write_header(&mut self, opcode: OpCode, compressed: bool, len: usize) {
        let mask = match self.role {
            Role::Client => Some(self.masks.next_key()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin: true,
            rsv1: compressed,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len as u64,
        };
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        self.out_tail.extend_from_slice(&buf[..n]);
        self.buffered += n;
    }

    fn write_payload_copy(&mut self, payload: &[u8]) {
        let start = self.out_tail.len();
        self.out_tail.extend_from_slice(payload);
        if self.role == Role::Client {
            // The key is the last four bytes of the header just written.
            let mut key = [0u8; 4];
            key.copy_from_slice(&self.out_tail[start - 4..start]);
            apply_mask(&mut self.out_tail[start..], key, 0);
        }
        self.buffered += payload.len();
    }

    fn push_shared(&mut self, bytes: Bytes) {
        if !self.out_tail.is_empty() {
            let tail = self.out_tail.split().freeze();
            self.out_queue.push_back(tail);
        }
        self.buffered += bytes.len();
        self.out_queue.push_back(bytes);
    }
}
