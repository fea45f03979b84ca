//! STUN/TURN error codes (RFC 8489 §14.8, RFC 8656 §19).

use std::fmt;

/// A STUN error code (300–699). Unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// 300 Try Alternate.
    pub const TRY_ALTERNATE: Self = Self(300);
    /// 400 Bad Request: the request was malformed.
    pub const BAD_REQUEST: Self = Self(400);
    /// 401 Unauthenticated: missing or wrong credentials.
    pub const UNAUTHENTICATED: Self = Self(401);
    /// 403 Forbidden: the request was valid but is not allowed (for example a denied peer).
    pub const FORBIDDEN: Self = Self(403);
    /// 405 Mobility Forbidden.
    pub const MOBILITY_FORBIDDEN: Self = Self(405);
    /// 420 Unknown Attribute: a comprehension-required attribute was not understood.
    pub const UNKNOWN_ATTRIBUTE: Self = Self(420);
    /// 437 Allocation Mismatch.
    pub const ALLOCATION_MISMATCH: Self = Self(437);
    /// 438 Stale Nonce.
    pub const STALE_NONCE: Self = Self(438);
    /// 440 Address Family not Supported.
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: Self = Self(440);
    /// 441 Wrong Credentials: the credentials differ from the allocation's.
    pub const WRONG_CREDENTIALS: Self = Self(441);
    /// 442 Unsupported Transport Protocol.
    pub const UNSUPPORTED_TRANSPORT_PROTOCOL: Self = Self(442);
    /// 443 Peer Address Family Mismatch.
    pub const PEER_ADDRESS_FAMILY_MISMATCH: Self = Self(443);
    /// 486 Allocation Quota Reached.
    pub const ALLOCATION_QUOTA_REACHED: Self = Self(486);
    /// 487 Role Conflict (ICE).
    pub const ROLE_CONFLICT: Self = Self(487);
    /// 500 Server Error.
    pub const SERVER_ERROR: Self = Self(500);
    /// 508 Insufficient Capacity.
    pub const INSUFFICIENT_CAPACITY: Self = Self(508);

    /// True when the code lies in the range the wire encoding can carry (300–699).
    #[must_use]
    pub const fn is_valid(self) -> bool {
        self.0 >= 300 && self.0 <= 699
    }

    /// The class (hundreds digit).
    #[must_use]
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// The number (last two digits).
    #[must_use]
    pub const fn number(self) -> u8 {
        (self.0 % 100) as u8
    }

    /// The RFC's reason phrase, or a generic one for codes it does not name.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self.0 {
            300 => "Try Alternate",
            400 => "Bad Request",
            401 => "Unauthenticated",
            403 => "Forbidden",
            405 => "Mobility Forbidden",
            420 => "Unknown Attribute",
            437 => "Allocation Mismatch",
            438 => "Stale Nonce",
            440 => "Address Family not Supported",
            441 => "Wrong Credentials",
            442 => "Unsupported Transport Protocol",
            443 => "Peer Address Family Mismatch",
            486 => "Allocation Quota Reached",
            487 => "Role Conflict",
            500 => "Server Error",
            508 => "Insufficient Capacity",
            _ => "Error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}
