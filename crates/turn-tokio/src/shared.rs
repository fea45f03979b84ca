//! The protocol core with everything its commands act on (the UDP listener, the relay pool,
//! the stream connections), behind one lock. The run loop and every relay reader take the
//! lock only between awaits, read what is ready into a shared buffer, hand it to the core
//! and carry out the resulting commands at once: no datagram is copied or queued between
//! tasks, and nothing waits while the lock is held (sends that would block are dropped and
//! counted, as a congested UDP path would drop them).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use switchboard_turn::framing::{frame_length, Frame};
use switchboard_turn::{
    Command, Counters, FiveTuple, Forward, PeerSocket, RelaySocket, Server, Transport,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::relay::RelayPool;
use crate::stream::StreamEvent;

/// Datagrams read from one socket per lock: enough to amortise the wake-up, few enough that
/// other sockets wait little.
const READ_BATCH: usize = 64;

/// The core and the sockets its commands use.
pub(crate) struct Core {
    pub(crate) server: Server,
    pub(crate) pool: RelayPool,
    listener: Arc<UdpSocket>,
    local: SocketAddr,
    connections: HashMap<FiveTuple, Connection>,
    open_connections: Arc<AtomicUsize>,
    /// Messages dropped by the shell: a stream client's queue was full, or a UDP send
    /// would have blocked.
    shell_dropped: u64,
    counters: Arc<Mutex<Counters>>,
    /// Wakes the run loop when a relay reader moved the core's next deadline earlier.
    pub(crate) timer_moved: Arc<Notify>,
}

/// The core task's side of one TCP or TLS connection.
#[derive(Debug)]
struct Connection {
    tx: mpsc::Sender<Vec<u8>>,
    last_input: Instant,
}

/// Locks the core; a panic elsewhere while it was held leaves it usable (every method keeps
/// it consistent between statements that can panic).
pub(crate) fn lock(core: &Mutex<Core>) -> MutexGuard<'_, Core> {
    core.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

std::thread_local! {
    /// One receive buffer per thread, shared by the listener and every relay socket read on
    /// it: a datagram lives there only while the core handles it, so an allocation costs no
    /// buffer of its own.
    static RECV_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads up to [`READ_BATCH`] ready datagrams from `socket` into the thread's buffer, calling
/// `handle` for each. Stops early when nothing more is ready (which clears the socket's
/// readiness). ICMP errors reported as reads (port unreachable) are skipped.
fn read_batch(
    socket: &UdpSocket,
    max_datagram: usize,
    mut handle: impl FnMut(&[u8], SocketAddr),
) -> io::Result<()> {
    RECV_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        if buf.len() < max_datagram {
            buf.resize(max_datagram, 0);
        }
        for _ in 0..READ_BATCH {
            match socket.try_recv_from(&mut buf[..max_datagram]) {
                Ok((n, from)) => handle(&buf[..n], from),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
}

impl Core {
    pub(crate) fn new(
        server: Server,
        pool: RelayPool,
        listener: Arc<UdpSocket>,
        local: SocketAddr,
        counters: Arc<Mutex<Counters>>,
        open_connections: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            server,
            pool,
            listener,
            local,
            connections: HashMap::new(),
            open_connections,
            shell_dropped: 0,
            counters,
            timer_moved: Arc::new(Notify::new()),
        }
    }

    /// Handles the datagrams ready on the UDP listener. An error is the listener's own.
    pub(crate) fn read_listener(&mut self, max_datagram: usize) -> io::Result<()> {
        let listener = Arc::clone(&self.listener);
        let local = self.local;
        read_batch(&listener, max_datagram, |bytes, from| {
            let now = std_now();
            let tuple = FiveTuple::udp(from, local);
            if let Some(fwd) = self.server.handle_input(now, tuple, bytes) {
                self.forward(fwd);
            }
            self.drain(now);
        })
    }

    /// Handles the datagrams peers sent to relay socket `relay`.
    pub(crate) fn read_relay(
        &mut self,
        socket: &UdpSocket,
        relay: RelaySocket,
        max_datagram: usize,
    ) -> io::Result<()> {
        let before = self.server.poll_timeout();
        let result = read_batch(socket, max_datagram, |bytes, from| {
            let now = std_now();
            self.server
                .handle_peer_input(now, relay, PeerSocket::new(from), bytes);
            self.drain(now);
        });
        let after = self.server.poll_timeout();
        if after.is_some() && (before.is_none() || after < before) {
            self.timer_moved.notify_one();
        }
        result
    }

    /// Runs the core's timers.
    pub(crate) fn handle_timeout(&mut self) {
        let now = std_now();
        self.server.handle_timeout(now);
        self.drain(now);
    }

    /// Handles what a connection task reports.
    pub(crate) fn stream_event(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Opened { tuple, tx } => {
                let last_input = Instant::now();
                self.connections
                    .insert(tuple, Connection { tx, last_input });
                self.open_connections
                    .store(self.connections.len(), Ordering::Relaxed);
            }
            StreamEvent::Frames { tuple, bytes } => {
                let now = Instant::now();
                if let Some(c) = self.connections.get_mut(&tuple) {
                    c.last_input = now;
                }
                let now = now.into_std();
                let mut rest = bytes.as_slice();
                // The connection task sends whole frames only.
                while let Frame::Length(n) = frame_length(rest) {
                    let Some((frame, tail)) = rest.split_at_checked(n) else {
                        break;
                    };
                    rest = tail;
                    if let Some(fwd) = self.server.handle_input(now, tuple, frame) {
                        self.forward(fwd);
                    }
                    self.drain(now);
                }
            }
            StreamEvent::Closed { tuple } => {
                self.connections.remove(&tuple);
                self.open_connections
                    .store(self.connections.len(), Ordering::Relaxed);
                let now = std_now();
                self.server.connection_closed(now, tuple);
                self.drain(now);
            }
        }
    }

    /// Whether any TCP or TLS connection is open.
    pub(crate) fn has_connections(&self) -> bool {
        !self.connections.is_empty()
    }

    /// Closes connections that have no allocation and have been silent for `timeout`.
    /// Dropping the sender ends the connection task, which then reports `Closed`.
    pub(crate) fn close_idle(&mut self, timeout: std::time::Duration) {
        let now = Instant::now();
        let server = &self.server;
        self.connections.retain(|tuple, c| {
            server.allocation_of(tuple).is_some() || now.duration_since(c.last_input) < timeout
        });
    }

    /// Publishes the counters for [`crate::Handle::counters`].
    pub(crate) fn publish_counters(&self) {
        let mut counters = self.server.counters();
        counters.dropped_packets += self.shell_dropped;
        *self.counters.lock().unwrap_or_else(PoisonError::into_inner) = counters;
    }

    /// Sends client data the core routed on the hot path.
    fn forward(&mut self, fwd: Forward<'_>) {
        if let Some(socket) = self.pool.socket(&fwd.relay) {
            let sent = socket.try_send_to(fwd.payload, fwd.peer.addr());
            self.count_send(sent, "relay send failed");
        }
    }

    fn count_send(&mut self, sent: io::Result<usize>, what: &'static str) {
        match sent {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.shell_dropped += 1,
            Err(e) => tracing::debug!(error = %e, "{what}"),
        }
    }

    /// Carries out every queued command.
    fn drain(&mut self, now: std::time::Instant) {
        while let Some(command) = self.server.poll_command() {
            match command {
                Command::SendToClient { to, bytes } => match to.transport {
                    Transport::Udp => {
                        let sent = self.listener.try_send_to(&bytes, to.client.addr());
                        self.count_send(sent, "send to client failed");
                    }
                    Transport::Tcp | Transport::Tls => {
                        let sent = self.connections.get(&to).map(|c| c.tx.try_send(bytes));
                        if let Some(Err(mpsc::error::TrySendError::Full(_))) = sent {
                            self.shell_dropped += 1;
                        }
                    }
                },
                Command::SendToPeer { relay, peer, bytes } => {
                    if let Some(socket) = self.pool.socket(&relay) {
                        let sent = socket.try_send_to(&bytes, peer.addr());
                        self.count_send(sent, "relay send failed");
                    }
                }
                Command::CreateRelay { id, family, port } => match self.pool.bind(family, port) {
                    Ok(relay) => self.server.relay_bound(now, id, relay),
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "cannot bind a relay socket");
                        self.server.relay_failed(now, id);
                    }
                },
                Command::FreeRelay { relay, .. } => self.pool.free(relay),
            }
        }
    }
}
