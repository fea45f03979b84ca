//! Address newtypes: which side of the relay an address belongs to is part of its type.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

macro_rules! socket_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(SocketAddr);

        impl $name {
            /// Wraps a socket address.
            #[must_use]
            pub const fn new(addr: SocketAddr) -> Self {
                Self(addr)
            }

            /// The wrapped socket address.
            #[must_use]
            pub const fn addr(self) -> SocketAddr {
                self.0
            }

            /// The IP address part.
            #[must_use]
            pub const fn ip(self) -> IpAddr {
                self.0.ip()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

socket_newtype!(
    /// The address a TURN client's packets come from, as seen by the server.
    ClientSocket
);
socket_newtype!(
    /// The address of a peer, on the far side of a relay.
    PeerSocket
);
socket_newtype!(
    /// A relay socket the shell bound for one allocation (the XOR-RELAYED-ADDRESS).
    RelaySocket
);

/// The transport a client reached the server over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams over UDP.
    Udp,
    /// A TCP stream.
    Tcp,
    /// A TLS stream over TCP.
    Tls,
}

impl Transport {
    /// True for stream transports, where ChannelData is padded to a multiple of four bytes and
    /// messages must be framed (see [`crate::framing`]).
    #[must_use]
    pub const fn is_stream(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }
}

/// The 5-tuple that identifies an allocation: client address, server (listener) address and
/// transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    /// The client's address as seen by the server.
    pub client: ClientSocket,
    /// The server's local address the client talks to.
    pub server: SocketAddr,
    /// The transport between client and server.
    pub transport: Transport,
}

impl FiveTuple {
    /// A UDP 5-tuple.
    #[must_use]
    pub const fn udp(client: SocketAddr, server: SocketAddr) -> Self {
        Self {
            client: ClientSocket::new(client),
            server,
            transport: Transport::Udp,
        }
    }
}
