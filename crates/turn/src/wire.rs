//! Small TURN wire values: address family, transport protocol, channel number.

use std::fmt;
use std::net::SocketAddr;

/// An address family as carried in addresses and REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.10).
/// Unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressFamily(pub u8);

impl AddressFamily {
    /// IPv4.
    pub const IPV4: Self = Self(0x01);
    /// IPv6.
    pub const IPV6: Self = Self(0x02);

    /// The family of a socket address.
    #[must_use]
    pub const fn of(addr: &SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(_) => Self::IPV4,
            SocketAddr::V6(_) => Self::IPV6,
        }
    }

    /// True for the two families this crate knows.
    #[must_use]
    pub const fn is_known(self) -> bool {
        self.0 == 1 || self.0 == 2
    }
}

/// An IP protocol number as carried in REQUESTED-TRANSPORT. Unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocol(pub u8);

impl Protocol {
    /// TCP (RFC 6062 allocations; not supported by this server).
    pub const TCP: Self = Self(6);
    /// UDP, the only transport RFC 8656 relays.
    pub const UDP: Self = Self(17);
}

/// A TURN channel number. Valid numbers are `0x4000..=0x4FFF` (RFC 8656 §12); others
/// round-trip but are refused by ChannelBind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelNumber(pub u16);

impl ChannelNumber {
    /// The lowest valid channel number.
    pub const MIN: Self = Self(0x4000);
    /// The highest valid channel number.
    pub const MAX: Self = Self(0x4FFF);

    /// True when the number lies in the range ChannelBind accepts.
    #[must_use]
    pub const fn is_valid(self) -> bool {
        self.0 >= Self::MIN.0 && self.0 <= Self::MAX.0
    }
}

impl ChannelNumber {
    /// True in RFC 5766's wider range `0x4000..=0x7FFE`, which older clients (coturn's
    /// `turnutils_uclient` among them) still draw from. See
    /// [`crate::Config::legacy_channel_numbers`].
    #[must_use]
    pub const fn is_valid_rfc5766(self) -> bool {
        self.0 >= Self::MIN.0 && self.0 <= 0x7FFE
    }
}

impl fmt::Display for ChannelNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}
