//! What the server core asks its shell to do.

use crate::addr::{FiveTuple, PeerSocket, RelaySocket};
use crate::allocation::AllocationId;
use crate::wire::AddressFamily;

/// A side effect for the shell. Drain with [`crate::Server::poll_command`] after every input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Write `bytes` to the client over its 5-tuple.
    SendToClient {
        /// Where to.
        to: FiveTuple,
        /// One STUN message or ChannelData frame (padded on streams).
        bytes: Vec<u8>,
    },
    /// Send `bytes` from relay socket `relay` to `peer`.
    SendToPeer {
        /// The relay socket to send from.
        relay: RelaySocket,
        /// The destination.
        peer: PeerSocket,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// Bind a relay socket of `family` from the relay port range as `port` asks, then report
    /// it with [`crate::Server::relay_bound`] or [`crate::Server::relay_failed`].
    CreateRelay {
        /// The allocation the socket is for.
        id: AllocationId,
        /// IPv4 or IPv6.
        family: AddressFamily,
        /// Which port.
        port: PortRequest,
    },
    /// Close the relay socket of a deleted allocation, or a reserved socket whose reservation
    /// lapsed.
    FreeRelay {
        /// The allocation that owned it.
        id: AllocationId,
        /// The socket to close.
        relay: RelaySocket,
    },
}

/// Relay data from a client whose target the server decided without queuing anything: the
/// shell sends `payload` from `relay` to `peer`. Borrowed from the input; nothing allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward<'b> {
    /// The relay socket to send from.
    pub relay: RelaySocket,
    /// The destination.
    pub peer: PeerSocket,
    /// The UDP payload, borrowed from the input bytes.
    pub payload: &'b [u8],
}

/// Which relay port an Allocate asks for (RFC 8656 EVEN-PORT and RESERVATION-TOKEN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRequest {
    /// Any free port.
    Any,
    /// An even port; with `reserve_next`, also bind the next-higher port and hold it, unread,
    /// until the core uses it (`PortRequest::Reserved`) or frees it (`Command::FreeRelay`).
    Even {
        /// Also reserve `port + 1`.
        reserve_next: bool,
    },
    /// The socket reserved earlier at this address: hand it to the new allocation.
    Reserved(RelaySocket),
}
