//! The byte streams a WebSocket runs over: plain TCP or TLS.

use std::io;
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A transport the driver can read from and write to.
///
/// `poll_read_ready` lets a transport with a readiness API (plain TCP) say when data is
/// waiting, so the driver allocates its read buffer only then: an idle connection holds none.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready when a read would not block. Transports without a readiness API are always ready.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The socket this transport owns, when bytes written to it reach the peer as they are
    /// (plain TCP, not TLS): see [`crate::WebSocket::direct_fd`]. Sealed: only this crate's
    /// transports, whose writes are known to go straight to the socket they own, can say
    /// yes; every other transport answers `None`.
    #[cfg(unix)]
    #[doc(hidden)]
    fn plain_fd(&self, _sealed: sealed::Token) -> Option<RawFd> {
        None
    }
}

/// The token [`Transport::plain_fd`] is called with.
#[cfg(unix)]
pub(crate) fn sealed_token() -> sealed::Token {
    sealed::Token(())
}

/// Makes [`Transport::plain_fd`] impossible to override outside this crate: a descriptor it
/// hands out is written to directly, so it must be one the transport owns and does not buffer
/// or transform writes to.
#[cfg(unix)]
mod sealed {
    /// Only this crate can name or make one.
    #[derive(Debug, Clone, Copy)]
    pub struct Token(pub(crate) ());
}

impl Transport for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    #[cfg(unix)]
    fn plain_fd(&self, _sealed: sealed::Token) -> Option<RawFd> {
        Some(self.as_raw_fd())
    }
}

impl Transport for tokio::io::DuplexStream {}

/// Any transport, boxed: lets one type of [`crate::WebSocket`] serve streams of different
/// types (a hyper upgrade in someone else's server, our own [`Stream`]).
pub type BoxTransport = Box<dyn Transport>;

impl Transport for BoxTransport {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_read_ready(cx)
    }

    #[cfg(unix)]
    fn plain_fd(&self, sealed: sealed::Token) -> Option<RawFd> {
        (**self).plain_fd(sealed)
    }
}

/// A stream hyper upgraded whose original type is not known (another server's connection).
impl Transport for hyper_util::rt::TokioIo<hyper::upgrade::Upgraded> {}

/// Plain TCP or TLS (either role) over TCP.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl Transport for Stream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(tcp) => tcp.poll_read_ready(cx),
            // TLS may hold decrypted bytes the socket no longer signals.
            Stream::Tls(_) => Poll::Ready(Ok(())),
        }
    }

    #[cfg(unix)]
    fn plain_fd(&self, _sealed: sealed::Token) -> Option<RawFd> {
        match self {
            Stream::Plain(tcp) => Some(tcp.as_raw_fd()),
            Stream::Tls(_) => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
