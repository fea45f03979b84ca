//! STUN attributes: the type registry and typed values (RFC 8489 §14, RFC 8656 §18).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error_code::ErrorCode;
use crate::message::{TransactionId, MAGIC_COOKIE};
use crate::wire::{AddressFamily, ChannelNumber, Protocol};

/// A STUN attribute type. Unknown values round-trip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u16);

impl AttributeType {
    /// MAPPED-ADDRESS (RFC 8489).
    pub const MAPPED_ADDRESS: Self = Self(0x0001);
    /// USERNAME (RFC 8489).
    pub const USERNAME: Self = Self(0x0006);
    /// MESSAGE-INTEGRITY, HMAC-SHA1 (RFC 8489).
    pub const MESSAGE_INTEGRITY: Self = Self(0x0008);
    /// ERROR-CODE (RFC 8489).
    pub const ERROR_CODE: Self = Self(0x0009);
    /// UNKNOWN-ATTRIBUTES (RFC 8489).
    pub const UNKNOWN_ATTRIBUTES: Self = Self(0x000A);
    /// CHANNEL-NUMBER (RFC 8656).
    pub const CHANNEL_NUMBER: Self = Self(0x000C);
    /// LIFETIME (RFC 8656).
    pub const LIFETIME: Self = Self(0x000D);
    /// XOR-PEER-ADDRESS (RFC 8656).
    pub const XOR_PEER_ADDRESS: Self = Self(0x0012);
    /// DATA (RFC 8656).
    pub const DATA: Self = Self(0x0013);
    /// REALM (RFC 8489).
    pub const REALM: Self = Self(0x0014);
    /// NONCE (RFC 8489).
    pub const NONCE: Self = Self(0x0015);
    /// XOR-RELAYED-ADDRESS (RFC 8656).
    pub const XOR_RELAYED_ADDRESS: Self = Self(0x0016);
    /// REQUESTED-ADDRESS-FAMILY (RFC 8656).
    pub const REQUESTED_ADDRESS_FAMILY: Self = Self(0x0017);
    /// EVEN-PORT (RFC 8656).
    pub const EVEN_PORT: Self = Self(0x0018);
    /// REQUESTED-TRANSPORT (RFC 8656).
    pub const REQUESTED_TRANSPORT: Self = Self(0x0019);
    /// DONT-FRAGMENT (RFC 8656; not supported here, answered with 420).
    pub const DONT_FRAGMENT: Self = Self(0x001A);
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489).
    pub const MESSAGE_INTEGRITY_SHA256: Self = Self(0x001C);
    /// PASSWORD-ALGORITHM (RFC 8489; not supported here).
    pub const PASSWORD_ALGORITHM: Self = Self(0x001D);
    /// USERHASH (RFC 8489).
    pub const USERHASH: Self = Self(0x001E);
    /// XOR-MAPPED-ADDRESS (RFC 8489).
    pub const XOR_MAPPED_ADDRESS: Self = Self(0x0020);
    /// RESERVATION-TOKEN (RFC 8656).
    pub const RESERVATION_TOKEN: Self = Self(0x0022);
    /// PRIORITY (RFC 8445, ICE). Understood and ignored.
    pub const PRIORITY: Self = Self(0x0024);
    /// USE-CANDIDATE (RFC 8445, ICE). Understood and ignored.
    pub const USE_CANDIDATE: Self = Self(0x0025);
    /// ADDITIONAL-ADDRESS-FAMILY (RFC 8656).
    pub const ADDITIONAL_ADDRESS_FAMILY: Self = Self(0x8000);
    /// PASSWORD-ALGORITHMS (RFC 8489).
    pub const PASSWORD_ALGORITHMS: Self = Self(0x8002);
    /// SOFTWARE (RFC 8489).
    pub const SOFTWARE: Self = Self(0x8022);
    /// FINGERPRINT (RFC 8489).
    pub const FINGERPRINT: Self = Self(0x8028);
    /// ICE-CONTROLLED (RFC 8445).
    pub const ICE_CONTROLLED: Self = Self(0x8029);
    /// ICE-CONTROLLING (RFC 8445).
    pub const ICE_CONTROLLING: Self = Self(0x802A);

    /// True for types below 0x8000: an agent that does not understand one must reject the
    /// message (420 for requests).
    #[must_use]
    pub const fn is_comprehension_required(self) -> bool {
        self.0 < 0x8000
    }

    /// True for the comprehension-required types this crate understands.
    #[must_use]
    pub const fn is_understood(self) -> bool {
        matches!(
            self,
            Self::MAPPED_ADDRESS
                | Self::USERNAME
                | Self::MESSAGE_INTEGRITY
                | Self::ERROR_CODE
                | Self::UNKNOWN_ATTRIBUTES
                | Self::CHANNEL_NUMBER
                | Self::LIFETIME
                | Self::XOR_PEER_ADDRESS
                | Self::DATA
                | Self::REALM
                | Self::NONCE
                | Self::XOR_RELAYED_ADDRESS
                | Self::REQUESTED_ADDRESS_FAMILY
                | Self::EVEN_PORT
                | Self::REQUESTED_TRANSPORT
                | Self::RESERVATION_TOKEN
                | Self::MESSAGE_INTEGRITY_SHA256
                | Self::USERHASH
                | Self::XOR_MAPPED_ADDRESS
                | Self::PRIORITY
                | Self::USE_CANDIDATE
        ) || !self.is_comprehension_required()
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// Longest USERNAME value in bytes (RFC 8489 §14.3).
pub const MAX_USERNAME_LEN: usize = 513;
/// Longest REALM, NONCE, SOFTWARE and error reason value in bytes (RFC 8489 §14).
pub const MAX_TEXT_LEN: usize = 763;

/// Why an attribute value could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeError {
    /// The value has a length the attribute does not allow.
    BadLength,
    /// A text value is not UTF-8 or is too long.
    BadText,
    /// An address has an unknown family.
    BadFamily,
    /// An ERROR-CODE value is outside 300–699.
    BadErrorCode,
    /// The value does not fit in a 16-bit length.
    TooLong,
}

impl fmt::Display for AttributeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadLength => "attribute value has the wrong length",
            Self::BadText => "attribute text is not UTF-8 or too long",
            Self::BadFamily => "address has an unknown family",
            Self::BadErrorCode => "error code outside 300-699",
            Self::TooLong => "attribute value longer than 65535 bytes",
        })
    }
}

impl std::error::Error for AttributeError {}

/// The value of an UNKNOWN-ATTRIBUTES attribute: a list of 16-bit types, borrowed from the
/// message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownAttributes<'a>(&'a [u8]);

impl<'a> UnknownAttributes<'a> {
    /// Wraps raw bytes; the length must be even.
    pub fn from_bytes(raw: &'a [u8]) -> Result<Self, AttributeError> {
        if raw.len().is_multiple_of(2) {
            Ok(Self(raw))
        } else {
            Err(AttributeError::BadLength)
        }
    }

    /// The raw value.
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The listed attribute types.
    pub fn iter(&self) -> impl Iterator<Item = AttributeType> + 'a {
        self.0
            .chunks_exact(2)
            .map(|c| AttributeType(u16::from_be_bytes([c[0], c[1]])))
    }
}

/// A decoded attribute. Text and byte values borrow from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute<'a> {
    /// MAPPED-ADDRESS.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS.
    XorMappedAddress(SocketAddr),
    /// XOR-PEER-ADDRESS.
    XorPeerAddress(SocketAddr),
    /// XOR-RELAYED-ADDRESS.
    XorRelayedAddress(SocketAddr),
    /// USERNAME.
    Username(&'a str),
    /// USERHASH: SHA-256 of `username ":" realm`.
    UserHash(&'a [u8; 32]),
    /// REALM.
    Realm(&'a str),
    /// NONCE.
    Nonce(&'a str),
    /// SOFTWARE.
    Software(&'a str),
    /// ERROR-CODE with its reason phrase.
    ErrorCode(ErrorCode, &'a str),
    /// UNKNOWN-ATTRIBUTES.
    UnknownAttributes(UnknownAttributes<'a>),
    /// MESSAGE-INTEGRITY (HMAC-SHA1, 20 bytes).
    MessageIntegrity(&'a [u8; 20]),
    /// MESSAGE-INTEGRITY-SHA256 (16 to 32 bytes, a multiple of 4).
    MessageIntegritySha256(&'a [u8]),
    /// FINGERPRINT.
    Fingerprint(u32),
    /// CHANNEL-NUMBER.
    ChannelNumber(ChannelNumber),
    /// LIFETIME in seconds.
    Lifetime(u32),
    /// DATA.
    Data(&'a [u8]),
    /// REQUESTED-TRANSPORT.
    RequestedTransport(Protocol),
    /// REQUESTED-ADDRESS-FAMILY.
    RequestedAddressFamily(AddressFamily),
    /// ADDITIONAL-ADDRESS-FAMILY.
    AdditionalAddressFamily(AddressFamily),
    /// EVEN-PORT; `true` when the R bit asks to reserve the next-higher port too.
    EvenPort(bool),
    /// RESERVATION-TOKEN.
    ReservationToken(&'a [u8; 8]),
    /// Any other attribute, kept raw.
    Other(AttributeType, &'a [u8]),
}

impl<'a> Attribute<'a> {
    /// The attribute's type.
    #[must_use]
    pub const fn attribute_type(&self) -> AttributeType {
        match self {
            Self::MappedAddress(_) => AttributeType::MAPPED_ADDRESS,
            Self::XorMappedAddress(_) => AttributeType::XOR_MAPPED_ADDRESS,
            Self::XorPeerAddress(_) => AttributeType::XOR_PEER_ADDRESS,
            Self::XorRelayedAddress(_) => AttributeType::XOR_RELAYED_ADDRESS,
            Self::Username(_) => AttributeType::USERNAME,
            Self::UserHash(_) => AttributeType::USERHASH,
            Self::Realm(_) => AttributeType::REALM,
            Self::Nonce(_) => AttributeType::NONCE,
            Self::Software(_) => AttributeType::SOFTWARE,
            Self::ErrorCode(..) => AttributeType::ERROR_CODE,
            Self::UnknownAttributes(_) => AttributeType::UNKNOWN_ATTRIBUTES,
            Self::MessageIntegrity(_) => AttributeType::MESSAGE_INTEGRITY,
            Self::MessageIntegritySha256(_) => AttributeType::MESSAGE_INTEGRITY_SHA256,
            Self::Fingerprint(_) => AttributeType::FINGERPRINT,
            Self::ChannelNumber(_) => AttributeType::CHANNEL_NUMBER,
            Self::Lifetime(_) => AttributeType::LIFETIME,
            Self::Data(_) => AttributeType::DATA,
            Self::RequestedTransport(_) => AttributeType::REQUESTED_TRANSPORT,
            Self::RequestedAddressFamily(_) => AttributeType::REQUESTED_ADDRESS_FAMILY,
            Self::AdditionalAddressFamily(_) => AttributeType::ADDITIONAL_ADDRESS_FAMILY,
            Self::EvenPort(_) => AttributeType::EVEN_PORT,
            Self::ReservationToken(_) => AttributeType::RESERVATION_TOKEN,
            Self::Other(t, _) => *t,
        }
    }

    /// Decodes one attribute value. `tid` is needed by the XOR address types.
    pub fn decode(
        typ: AttributeType,
        value: &'a [u8],
        tid: &TransactionId,
    ) -> Result<Self, AttributeError> {
        Ok(match typ {
            AttributeType::MAPPED_ADDRESS => Self::MappedAddress(decode_address(value, None)?),
            AttributeType::XOR_MAPPED_ADDRESS => {
                Self::XorMappedAddress(decode_address(value, Some(tid))?)
            }
            AttributeType::XOR_PEER_ADDRESS => {
                Self::XorPeerAddress(decode_address(value, Some(tid))?)
            }
            AttributeType::XOR_RELAYED_ADDRESS => {
                Self::XorRelayedAddress(decode_address(value, Some(tid))?)
            }
            AttributeType::USERNAME => Self::Username(text(value, MAX_USERNAME_LEN)?),
            AttributeType::USERHASH => {
                Self::UserHash(value.try_into().map_err(|_| AttributeError::BadLength)?)
            }
            AttributeType::REALM => Self::Realm(text(value, MAX_TEXT_LEN)?),
            AttributeType::NONCE => Self::Nonce(text(value, MAX_TEXT_LEN)?),
            AttributeType::SOFTWARE => Self::Software(text(value, MAX_TEXT_LEN)?),
            AttributeType::ERROR_CODE => {
                let [_, _, class, number, reason @ ..] = value else {
                    return Err(AttributeError::BadLength);
                };
                let (class, number) = (class & 0x07, *number);
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(AttributeError::BadErrorCode);
                }
                let code = ErrorCode(u16::from(class) * 100 + u16::from(number));
                Self::ErrorCode(code, text(reason, MAX_TEXT_LEN)?)
            }
            AttributeType::UNKNOWN_ATTRIBUTES => {
                Self::UnknownAttributes(UnknownAttributes::from_bytes(value)?)
            }
            AttributeType::MESSAGE_INTEGRITY => {
                Self::MessageIntegrity(value.try_into().map_err(|_| AttributeError::BadLength)?)
            }
            AttributeType::MESSAGE_INTEGRITY_SHA256 => {
                if value.len() < 16 || value.len() > 32 || !value.len().is_multiple_of(4) {
                    return Err(AttributeError::BadLength);
                }
                Self::MessageIntegritySha256(value)
            }
            AttributeType::FINGERPRINT => Self::Fingerprint(u32::from_be_bytes(four(value)?)),
            AttributeType::CHANNEL_NUMBER => {
                let [a, b, _, _] = four(value)?;
                Self::ChannelNumber(ChannelNumber(u16::from_be_bytes([a, b])))
            }
            AttributeType::LIFETIME => Self::Lifetime(u32::from_be_bytes(four(value)?)),
            AttributeType::DATA => Self::Data(value),
            AttributeType::REQUESTED_TRANSPORT => {
                Self::RequestedTransport(Protocol(four(value)?[0]))
            }
            AttributeType::REQUESTED_ADDRESS_FAMILY => {
                Self::RequestedAddressFamily(AddressFamily(four(value)?[0]))
            }
            AttributeType::ADDITIONAL_ADDRESS_FAMILY => {
                Self::AdditionalAddressFamily(AddressFamily(four(value)?[0]))
            }
            AttributeType::EVEN_PORT => match value {
                [flags] => Self::EvenPort(flags & 0x80 != 0),
                _ => return Err(AttributeError::BadLength),
            },
            AttributeType::RESERVATION_TOKEN => {
                Self::ReservationToken(value.try_into().map_err(|_| AttributeError::BadLength)?)
            }
            other => Self::Other(other, value),
        })
    }

    /// Appends the attribute value (without header or padding) to `out`. `tid` is needed by
    /// the XOR address types.
    pub fn encode_value(
        &self,
        tid: &TransactionId,
        out: &mut Vec<u8>,
    ) -> Result<(), AttributeError> {
        match *self {
            Self::MappedAddress(a) => encode_address(a, None, out),
            Self::XorMappedAddress(a) | Self::XorPeerAddress(a) | Self::XorRelayedAddress(a) => {
                encode_address(a, Some(tid), out);
            }
            Self::Username(s) => out.extend_from_slice(checked_text(s, MAX_USERNAME_LEN)?),
            Self::Realm(s) | Self::Nonce(s) | Self::Software(s) => {
                out.extend_from_slice(checked_text(s, MAX_TEXT_LEN)?);
            }
            Self::UserHash(h) => out.extend_from_slice(h),
            Self::ErrorCode(code, reason) => {
                if !code.is_valid() {
                    return Err(AttributeError::BadErrorCode);
                }
                out.extend_from_slice(&[0, 0, code.class(), code.number()]);
                out.extend_from_slice(checked_text(reason, MAX_TEXT_LEN)?);
            }
            Self::UnknownAttributes(list) => out.extend_from_slice(list.as_bytes()),
            Self::MessageIntegrity(mac) => out.extend_from_slice(mac),
            Self::MessageIntegritySha256(mac) => {
                if mac.len() < 16 || mac.len() > 32 || !mac.len().is_multiple_of(4) {
                    return Err(AttributeError::BadLength);
                }
                out.extend_from_slice(mac);
            }
            Self::Fingerprint(v) | Self::Lifetime(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::ChannelNumber(n) => {
                out.extend_from_slice(&n.0.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            Self::Data(d) | Self::Other(_, d) => out.extend_from_slice(d),
            Self::EvenPort(reserve) => out.push(if reserve { 0x80 } else { 0 }),
            Self::ReservationToken(t) => out.extend_from_slice(t),
            Self::RequestedTransport(Protocol(p)) => out.extend_from_slice(&[p, 0, 0, 0]),
            Self::RequestedAddressFamily(AddressFamily(f))
            | Self::AdditionalAddressFamily(AddressFamily(f)) => {
                out.extend_from_slice(&[f, 0, 0, 0]);
            }
        }
        Ok(())
    }
}

fn four(value: &[u8]) -> Result<[u8; 4], AttributeError> {
    value.try_into().map_err(|_| AttributeError::BadLength)
}

fn text(value: &[u8], max: usize) -> Result<&str, AttributeError> {
    if value.len() > max {
        return Err(AttributeError::BadText);
    }
    std::str::from_utf8(value).map_err(|_| AttributeError::BadText)
}

fn checked_text(s: &str, max: usize) -> Result<&[u8], AttributeError> {
    if s.len() > max {
        Err(AttributeError::BadText)
    } else {
        Ok(s.as_bytes())
    }
}

/// Decodes a (XOR-)MAPPED-ADDRESS style value; XOR when `tid` is given.
fn decode_address(value: &[u8], tid: Option<&TransactionId>) -> Result<SocketAddr, AttributeError> {
    let [_, family, p0, p1, rest @ ..] = value else {
        return Err(AttributeError::BadLength);
    };
    let mut port = u16::from_be_bytes([*p0, *p1]);
    if tid.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let mask = xor_mask(tid);
    match AddressFamily(*family) {
        AddressFamily::IPV4 => {
            let mut ip: [u8; 4] = rest.try_into().map_err(|_| AttributeError::BadLength)?;
            ip.iter_mut().zip(&mask).for_each(|(b, m)| *b ^= m);
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        AddressFamily::IPV6 => {
            let mut ip: [u8; 16] = rest.try_into().map_err(|_| AttributeError::BadLength)?;
            ip.iter_mut().zip(&mask).for_each(|(b, m)| *b ^= m);
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => Err(AttributeError::BadFamily),
    }
}

fn encode_address(addr: SocketAddr, tid: Option<&TransactionId>, out: &mut Vec<u8>) {
    let mut port = addr.port();
    if tid.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let family = AddressFamily::of(&addr);
    out.extend_from_slice(&[0, family.0]);
    out.extend_from_slice(&port.to_be_bytes());
    let mask = xor_mask(tid);
    match addr.ip() {
        IpAddr::V4(ip) => out.extend(ip.octets().iter().zip(&mask).map(|(b, m)| b ^ m)),
        IpAddr::V6(ip) => out.extend(ip.octets().iter().zip(&mask).map(|(b, m)| b ^ m)),
    }
}

/// The XOR mask for addresses: magic cookie then transaction id; all zero when not XOR-ing.
fn xor_mask(tid: Option<&TransactionId>) -> [u8; 16] {
    let mut mask = [0u8; 16];
    if let Some(tid) = tid {
        mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        mask[4..].copy_from_slice(tid.as_bytes());
    }
    mask
}
