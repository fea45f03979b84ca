//! TCP and TLS listeners (RFC 8656 §3.1, RFC 8489 §6.2): one task per connection splits the
//! byte stream into STUN messages and padded ChannelData frames with
//! [`switchboard_turn::framing::frame_length`] and hands whole frames to the core task; the
//! core answers through a bounded per-connection queue.
//!
//! Buffers are bounded: the read buffer never holds more than one incomplete frame (at most
//! 65,555 bytes) plus one read; the send side holds at most `send_queue` messages plus
//! `send_buffer` bytes being written. Messages to a connection whose queue is full are
//! dropped and counted, like datagrams lost on UDP.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_turn::framing::{frame_length, Frame};
use switchboard_turn::{ClientSocket, FiveTuple, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::StreamLimits;
use crate::per_ip::{PerIpLimit, PerIpSlot};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 << 10;

/// What a connection task tells the core task. Events of one connection arrive in order.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// A connection is ready (TLS handshake done); the core answers through `tx`.
    Opened {
        tuple: FiveTuple,
        tx: mpsc::Sender<Vec<u8>>,
    },
    /// One or more whole frames, back to back.
    Frames { tuple: FiveTuple, bytes: Vec<u8> },
    /// The connection is gone.
    Closed { tuple: FiveTuple },
}

/// One listening socket and how to serve what it accepts.
pub(crate) struct StreamListener {
    pub(crate) listener: TcpListener,
    pub(crate) tls: Option<TlsAcceptor>,
}

impl StreamListener {
    pub(crate) fn transport(&self) -> Transport {
        if self.tls.is_some() {
            Transport::Tls
        } else {
            Transport::Tcp
        }
    }
}

/// Accepts connections until the task is aborted; dropping this future aborts every
/// connection task it started.
pub(crate) async fn accept_loop(
    listener: StreamListener,
    events: mpsc::Sender<StreamEvent>,
    limits: StreamLimits,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIpLimit>,
) {
    let mut tasks = JoinSet::new();
    let transport = listener.transport();
    loop {
        let accepted = listener.listener.accept().await;
        while tasks.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "TURN accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = per_ip.try_acquire(peer.ip()) else {
            tracing::debug!(%peer, "TURN connections per IP limit reached; closing");
            continue;
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::debug!(%peer, "TURN connection limit reached; closing");
            continue;
        };
        let local = match tcp.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "no local address");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tuple = FiveTuple {
            client: ClientSocket::new(peer),
            server: local,
            transport,
        };
        tasks.spawn(serve_tcp(
            tcp,
            tuple,
            listener.tls.clone(),
            events.clone(),
            limits.clone(),
            (permit, slot),
        ));
    }
}

async fn serve_tcp(
    tcp: TcpStream,
    tuple: FiveTuple,
    tls: Option<TlsAcceptor>,
    events: mpsc::Sender<StreamEvent>,
    limits: StreamLimits,
    _slots: (OwnedSemaphorePermit, PerIpSlot),
) {
    match tls {
        None => serve_stream(tcp, tuple, &events, &limits).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => serve_stream(stream, tuple, &events, &limits).await,
                Ok(Err(e)) => {
                    tracing::debug!(client = %tuple.client, error = %e, "TLS handshake failed")
                }
                Err(_) => tracing::debug!(client = %tuple.client, "TLS handshake timed out"),
            }
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed its side.
    Eof,
    /// The core closed the connection (idle, shutdown).
    Server,
    /// Bytes that are neither STUN nor ChannelData.
    Invalid,
    /// A read or write failed.
    Io(io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Eof => f.write_str("closed by the client"),
            Self::Server => f.write_str("closed by the server"),
            Self::Invalid => f.write_str("neither STUN nor ChannelData"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// Serves one connection: reads frames to the core and writes the core's messages, in one
/// task, never blocking reads on a slow write (and the other way round).
pub(crate) async fn serve_stream<S>(
    stream: S,
    tuple: FiveTuple,
    events: &mpsc::Sender<StreamEvent>,
    limits: &StreamLimits,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(limits.send_queue.max(1));
    if events
        .send(StreamEvent::Opened { tuple, tx })
        .await
        .is_err()
    {
        return;
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let mut needs_flush = false;
    let send_buffer = limits.send_buffer.max(1);
    // Over TCP, queued messages are written together. Over TLS each message goes in records
    // of its own: some clients (coturn's) take one message per TLS record and lose the rest.
    let coalesce = tuple.transport != Transport::Tls;
    let end = loop {
        if input.capacity() - input.len() < READ_CHUNK / 4 {
            input.reserve_exact(READ_CHUNK);
        }
        tokio::select! {
            read = reader.read_buf(&mut input) => match read {
                Ok(0) => break End::Eof,
                Ok(_) => match complete_frames(&input) {
                    Err(()) => break End::Invalid,
                    Ok(0) => {}
                    Ok(n) => {
                        let bytes = if n == input.len() {
                            std::mem::take(&mut input)
                        } else {
                            let rest = input.split_off(n);
                            std::mem::replace(&mut input, rest)
                        };
                        if events.send(StreamEvent::Frames { tuple, bytes }).await.is_err() {
                            break End::Server;
                        }
                    }
                },
                Err(e) => break End::Io(e),
            },
            message = rx.recv(), if out.len() < send_buffer && (coalesce || out.is_empty()) => match message {
                Some(bytes) => {
                    if out.is_empty() {
                        out = bytes;
                    } else {
                        out.extend_from_slice(&bytes);
                    }
                    while coalesce && out.len() < send_buffer {
                        match rx.try_recv() {
                            Ok(more) => out.extend_from_slice(&more),
                            Err(_) => break,
                        }
                    }
                }
                None => break End::Server,
            },
            w = write_or_flush(&mut writer, out.get(written..).unwrap_or_default()),
                if written < out.len() || needs_flush =>
            match w {
                Ok(Some(0)) => break End::Io(io::ErrorKind::WriteZero.into()),
                Ok(Some(n)) => {
                    written += n;
                    if written >= out.len() {
                        out.clear();
                        written = 0;
                        needs_flush = true;
                    }
                }
                Ok(None) => needs_flush = false,
                Err(e) => break End::Io(e),
            },
        }
    };
    tracing::debug!(client = %tuple.client, transport = ?tuple.transport, reason = %end, "TURN connection closed");
    if matches!(end, End::Server) {
        // Best effort: write what is queued, then close our side.
        let flush = async {
            if let Some(rest) = out.get(written..) {
                writer.write_all(rest).await?;
            }
            while let Ok(more) = rx.try_recv() {
                writer.write_all(&more).await?;
            }
            writer.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
    }
    let _ = events.send(StreamEvent::Closed { tuple }).await;
}

/// Writes some of `pending` (`Some(n)` written), or flushes when nothing is pending (`None`):
/// TLS may hold written bytes until flushed. Cancel-safe: a cancelled write wrote nothing.
async fn write_or_flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    pending: &[u8],
) -> io::Result<Option<usize>> {
    if pending.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write(pending).await.map(Some)
    }
}

/// The length of the longest prefix of `buf` made of whole frames, or `Err` when the stream
/// carries something else.
fn complete_frames(buf: &[u8]) -> Result<usize, ()> {
    let mut at = 0;
    while let Some(rest) = buf.get(at..) {
        match frame_length(rest) {
            Frame::Length(n) if n <= rest.len() => at += n,
            Frame::Length(_) | Frame::Incomplete => break,
            Frame::Invalid => return Err(()),
        }
    }
    Ok(at)
}

/// Binds a listening TCP socket with SO_REUSEADDR (so a restarted server can listen at once).
pub(crate) fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_frames_stops_at_a_partial_frame() {
        // A padded ChannelData frame (5 payload bytes -> 12 bytes), then half a STUN header.
        let mut buf = vec![0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(complete_frames(&buf), Ok(12));
        buf.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12]);
        assert_eq!(complete_frames(&buf), Ok(12));
        assert_eq!(complete_frames(&[]), Ok(0));
        assert_eq!(complete_frames(&[0xC0, 0, 0, 0]), Err(()));
    }
}
