//! The async driver: moves bytes between a [`Transport`] and a sans-IO [`Connection`].

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
#[cfg(unix)]
use switchboard_ws::Role;
use switchboard_ws::{
    CloseCode, CloseInfo, Connection, Event, Initiator, Message, PreparedMessage, SendError,
};
use tokio::io::ReadBuf;
use tokio::time::Sleep;

use crate::stream::Transport;

/// Smallest read; larger when a big frame is known to be arriving.
const READ_CHUNK: usize = 8 * 1024;
/// Below this much spare room in the read buffer, start a fresh one.
const MIN_READ_ROOM: usize = 2 * 1024;
/// Spare read room an idle connection may keep.
const IDLE_READ_ROOM: usize = 256;
/// Largest single read.
const MAX_READ_CHUNK: usize = 256 * 1024;
/// Size of the per-thread buffer reads land in when a connection holds no read room.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Inputs up to this size are copied out of the scratch buffer at their own size; a larger
/// one means the connection is busy, and it gets a read buffer of its own again.
const SMALL_INPUT: usize = 2 * 1024;

thread_local! {
    /// Where a read lands when the connection gave its read room back (it was idle): a
    /// small input is then copied out at its own size, so idle connections hold no input
    /// buffer and a connection woken for one small message does not allocate and zero a
    /// read chunk (8 KiB through malloc's slow path) only to give most of it back.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; SCRATCH_SIZE].into_boxed_slice());
}
/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 32;
/// Input bytes handled in one turn before the task yields to others. A peer that keeps its
/// socket full would otherwise be served until tokio's coop budget runs out (128 reads),
/// starving the connections behind it.
const TURN_BUDGET: usize = 64 * 1024;

/// A WebSocket over an async transport: one per connection, driven from one task.
///
/// All state lives in the struct, so [`WebSocket::next_event`] is cancel-safe and can sit in a
/// `tokio::select!` beside the application's own queues. Queued frames are written while
/// `next_event` (or [`WebSocket::flush`]) is being polled.
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    pending: VecDeque<Bytes>,
    pending_bytes: usize,
    read_buf: BytesMut,
    timer: Option<Pin<Box<Sleep>>>,
    timer_deadline: Option<Instant>,
    turn_bytes: usize,
    finished: bool,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a transport whose handshake is done. `leftover` holds bytes read past the
    /// handshake, which belong to the first frames.
    pub fn new(io: S, mut conn: Connection, leftover: &[u8]) -> Self {
        if !leftover.is_empty() {
            conn.handle_input(now(), leftover);
        }
        Self {
            io,
            conn,
            pending: VecDeque::new(),
            pending_bytes: 0,
            read_buf: BytesMut::new(),
            timer: None,
            timer_deadline: None,
            turn_bytes: 0,
            finished: false,
        }
    }

    /// The protocol state machine, for sends and inspection.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Bytes queued and not yet written to the transport.
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount() + self.pending_bytes
    }

    /// The socket, while whole unmasked frames written to it directly (by someone holding no
    /// `&mut` to this WebSocket) would reach the peer correctly: the transport is plain TCP,
    /// this is the server side, no permessage-deflate was negotiated (so no frame needs a
    /// compression context), the connection is open and nothing is queued here (so such bytes
    /// cannot cut into a frame of ours). The caller must stop writing to it before it next
    /// uses this WebSocket, and hand what it could not write to
    /// [`queue_raw`](Self::queue_raw), ahead of anything else.
    #[cfg(unix)]
    pub fn direct_fd(&self) -> Option<std::os::fd::RawFd> {
        let eligible = self.conn.role() == Role::Server
            && self.conn.deflate().is_none()
            && self.conn.is_open()
            && self.buffered_amount() == 0;
        eligible
            .then(|| self.io.plain_fd(crate::stream::sealed_token()))
            .flatten()
    }

    /// Queues bytes a direct writer left (see [`direct_fd`](Self::direct_fd)), after
    /// everything queued before: whole frames, or the rest of frames whose start it wrote.
    /// They are written as they are: anything else corrupts the stream for the peer.
    pub fn queue_raw(&mut self, frames: Bytes) {
        while let Some(bytes) = self.conn.poll_transmit() {
            self.pending_bytes += bytes.len();
            self.pending.push_back(bytes);
        }
        if !frames.is_empty() {
            self.pending_bytes += frames.len();
            self.pending.push_back(frames);
        }
    }

    /// Queues a message; it is written while the socket is polled.
    pub fn queue(&mut self, message: Message) -> Result<(), SendError> {
        self.conn.send(message)
    }

    /// Queues a message that is never compressed (see [`Connection::send_uncompressed`]).
    pub fn queue_uncompressed(&mut self, message: Message) -> Result<(), SendError> {
        self.conn.send_uncompressed(message)
    }

    /// Queues text already held as UTF-8 bytes, not checked again (see
    /// [`Connection::send_text_bytes`]); `compress: false` as in [`WebSocket::queue_uncompressed`].
    pub fn queue_text_bytes(&mut self, text: Bytes, compress: bool) -> Result<(), SendError> {
        self.conn.send_text_bytes(text, compress)
    }

    /// Queues a message framed once for many receivers.
    pub fn queue_prepared(&mut self, message: &PreparedMessage) -> Result<(), SendError> {
        self.conn.send_prepared(message)
    }

    /// Sends a message and waits until it is written.
    pub async fn send(&mut self, message: Message) -> io::Result<()> {
        self.conn.send(message).map_err(send_error)?;
        self.flush().await
    }

    /// Starts the close handshake; keep calling [`WebSocket::next_event`] (or
    /// [`WebSocket::recv`]) until it yields `None` to complete it.
    pub fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.conn.close(now(), code, reason)
    }

    /// Closes with `code` and `reason` and waits for the handshake to finish (or time out).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> io::Result<()> {
        self.start_close(code, reason).map_err(send_error)?;
        while self.next_event().await?.is_some() {}
        Ok(())
    }

    /// Waits until everything queued is written.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Writes what is queued, as far as the transport takes it now; `Pending` (with `cx` to
    /// be woken when it takes more) while some is left.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// The next data message; `None` once the connection has closed. Pings are answered and
    /// pongs dropped along the way.
    pub async fn recv(&mut self) -> Option<io::Result<Message>> {
        loop {
            match self.next_event().await {
                Ok(Some(Event::Message(message))) => return Some(Ok(message)),
                Ok(Some(Event::Closed(_))) | Ok(None) => return None,
                Ok(Some(_)) => continue,
                Err(err) => return Some(Err(err)),
            }
        }
    }

    /// The next protocol event, or `None` once the connection is finished and the transport
    /// shut down. Cancel-safe.
    pub async fn next_event(&mut self) -> io::Result<Option<Event>> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// Polls for the next event, writing queued bytes and running timers meanwhile.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Event>>> {
        loop {
            if let Some(event) = self.conn.poll_event() {
                return Poll::Ready(Ok(Some(event)));
            }
            if self.finished {
                return Poll::Ready(Ok(None));
            }
            let written = self.poll_write_pending(cx)?;
            if self.conn.is_closed() {
                ready!(written);
                // Best effort: the peer may already be gone.
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                self.finished = true;
                return Poll::Ready(Ok(None));
            }
            if self.poll_timer(cx) {
                // Timers fire on idle connections: give back the spare read buffer.
                self.read_buf = BytesMut::new();
                self.conn.handle_timeout(now());
                continue;
            }
            match ready!(self.poll_read(cx)) {
                Ok(0) => {
                    // The transport ended without a close handshake.
                    self.finished = true;
                    return Poll::Ready(Ok(Some(Event::Closed(CloseInfo {
                        code: CloseCode::ABNORMAL,
                        reason: String::from("connection lost"),
                        initiator: Initiator::Remote,
                        error: None,
                    }))));
                }
                Ok(_) => continue,
                Err(err) => {
                    self.finished = true;
                    return Poll::Ready(Err(err));
                }
            }
        }
    }

    /// Arms the timer for the connection's next deadline; true when it has passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            return false;
        };
        // Re-arm only when the deadline moves earlier: a timer firing early is harmless (the
        // connection ignores it), and skipping resets keeps per-message work off the wheel.
        let rearm = self.timer_deadline.is_none_or(|armed| deadline < armed);
        if rearm {
            let at = tokio::time::Instant::from_std(deadline);
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.timer_deadline = Some(deadline);
        }
        let Some(timer) = self.timer.as_mut() else {
            return false;
        };
        if timer.as_mut().poll(cx).is_ready() {
            self.timer_deadline = None;
            if now() >= deadline {
                return true;
            }
            // Fired for an older, earlier deadline: arm for the current one.
            let at = tokio::time::Instant::from_std(deadline);
            timer.as_mut().reset(at);
            self.timer_deadline = Some(deadline);
            return timer.as_mut().poll(cx).is_ready();
        }
        false
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.turn_bytes >= TURN_BUDGET {
            self.turn_bytes = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let ready = self.io.poll_read_ready(cx);
        if ready.is_pending() {
            self.turn_bytes = 0;
            self.release_read_room();
        }
        ready!(ready)?;
        // Reads land in a zeroed buffer that is split, not reallocated, after each read: many
        // small reads share one allocation and one memset.
        // A fresh buffer when little room is left, or when a large frame is due and the room
        // left is small; sized for that frame up to MAX_READ_CHUNK.
        let room = self.read_buf.len();
        let hint = self.conn.read_hint();
        if room == 0 && hint <= SMALL_INPUT {
            return self.poll_read_scratch(cx);
        }
        if room < MIN_READ_ROOM || (hint > room && room < READ_CHUNK) {
            self.read_buf = BytesMut::zeroed(hint.clamp(READ_CHUNK, MAX_READ_CHUNK));
        }
        let mut buf = ReadBuf::new(&mut self.read_buf[..]);
        let read = Pin::new(&mut self.io).poll_read(cx, &mut buf);
        let n = buf.filled().len();
        if read.is_pending() {
            self.turn_bytes = 0;
            self.release_read_room();
        }
        ready!(read)?;
        self.turn_bytes += n;
        if n > 0 {
            let data = self.read_buf.split_to(n);
            self.conn.handle_input_buf(now(), data);
        }
        Poll::Ready(Ok(n))
    }

    /// Reads into the thread's scratch buffer (the connection holds no read room); a small
    /// input is copied out at its size, a larger one into a fresh read buffer kept for the
    /// reads that follow.
    fn poll_read_scratch(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let io = &mut self.io;
        let read = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut buf = ReadBuf::new(&mut scratch[..]);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    let filled = buf.filled();
                    Poll::Ready(Ok(BytesMut::from(filled)))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        });
        if read.is_pending() {
            self.turn_bytes = 0;
        }
        let data = ready!(read)?;
        let n = data.len();
        self.turn_bytes += n;
        if n > SMALL_INPUT {
            self.read_buf = BytesMut::zeroed(READ_CHUNK);
        }
        if n > 0 {
            self.conn.handle_input_buf(now(), data);
        }
        Poll::Ready(Ok(n))
    }

    /// Nothing more to read for now: give back the spare room of the read buffer, so an idle
    /// connection holds no input memory (a fresh buffer costs one allocation when data comes).
    fn release_read_room(&mut self) {
        if self.read_buf.len() > IDLE_READ_ROOM {
            self.read_buf = BytesMut::new();
        }
    }

    /// Writes everything the connection has queued. Ready once nothing is left.
    fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.pending.len() < MAX_IOVECS {
                match self.conn.poll_transmit() {
                    Some(bytes) => {
                        self.pending_bytes += bytes.len();
                        self.pending.push_back(bytes);
                    }
                    None => break,
                }
            }
            if self.pending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let n = if self.pending.len() > 1 && self.io.is_write_vectored() {
                let slices: Vec<IoSlice<'_>> =
                    self.pending.iter().map(|b| IoSlice::new(b)).collect();
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices))?
            } else {
                let Some(first) = self.pending.front() else {
                    return Poll::Ready(Ok(()));
                };
                ready!(Pin::new(&mut self.io).poll_write(cx, first))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.consume_written(n);
        }
    }

    fn consume_written(&mut self, mut n: usize) {
        self.pending_bytes -= n;
        while n > 0 {
            let Some(front) = self.pending.front_mut() else {
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.pending.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
}

/// The driver's clock: tokio's, so paused-time tests see time move.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn send_error(err: SendError) -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_ws::{Config, Role};

    fn pair() -> (
        WebSocket<tokio::io::DuplexStream>,
        WebSocket<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let now = now();
        (
            WebSocket::new(
                a,
                Connection::new(Role::Server, Config::default(), None, now),
                &[],
            ),
            WebSocket::new(
                b,
                Connection::new(Role::Client, Config::default(), None, now),
                &[],
            ),
        )
    }

    #[tokio::test]
    async fn messages_flow_both_ways_and_close_completes() {
        let (mut server, mut client) = pair();
        let server_task = tokio::spawn(async move {
            while let Some(Ok(message)) = server.recv().await {
                server.send(message).await.unwrap();
            }
        });
        let big = vec![5u8; 300_000];
        client.send(Message::text("hi")).await.unwrap();
        client.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("hi"));
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::binary(big));
        client.close(CloseCode::NORMAL, "done").await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), server_task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn unanswered_close_times_out_in_paused_time() {
        let (mut server, _client_kept_silent) = pair();
        let started = tokio::time::Instant::now();
        server.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
        assert!(started.elapsed() >= Config::default().close_timeout);
    }
}
