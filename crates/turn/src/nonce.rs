//! Stateless nonces (RFC 8489 §9.2): the issue time and an HMAC binding it to the client's IP
//! address under a server secret. Nothing is stored per client; a nonce older than its
//! lifetime is stale (438).

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length in bytes of the nonces this module issues.
pub const NONCE_LEN: usize = 40;
const TIME_HEX: usize = 16;
const MAC_BYTES: usize = 12;

/// The result of checking a nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceStatus {
    /// Issued by this server for this client, and fresh.
    Valid,
    /// Issued by this server for this client, but too old.
    Stale,
    /// Not a nonce this server issued for this client (forged, from another server or
    /// another address, or from before a restart).
    Invalid,
}

/// Issues and checks nonces with a secret the shell provides (random, per process).
#[derive(Clone)]
pub struct NonceIssuer {
    secret: [u8; 32],
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceIssuer(..)")
    }
}

fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl NonceIssuer {
    /// An issuer keyed with `secret`.
    #[must_use]
    pub const fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    fn mac(&self, issued: u64, ip: IpAddr) -> [u8; MAC_BYTES] {
        let mut out = [0u8; MAC_BYTES];
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret) {
            mac.update(&issued.to_be_bytes());
            match ip {
                IpAddr::V4(v4) => mac.update(&v4.octets()),
                IpAddr::V6(v6) => mac.update(&v6.octets()),
            }
            out.copy_from_slice(&mac.finalize().into_bytes()[..MAC_BYTES]);
        }
        out
    }

    /// An unguessable 8-byte RESERVATION-TOKEN for the `n`th reservation.
    #[must_use]
    pub fn reservation_token(&self, n: u64) -> [u8; 8] {
        let mut out = [0u8; 8];
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret) {
            mac.update(b"reservation");
            mac.update(&n.to_be_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes()[..8]);
        }
        out
    }

    /// A nonce issued at `unix_now` for a client at `ip`: 40 lowercase hex digits.
    #[must_use]
    pub fn issue(&self, unix_now: u64, ip: IpAddr) -> String {
        let mut s = String::with_capacity(NONCE_LEN);
        for b in issued_bytes(unix_now)
            .iter()
            .chain(self.mac(unix_now, ip).iter())
        {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
        s
    }

    /// Checks a nonce from a client at `ip`, at `unix_now`, for `lifetime_secs`.
    #[must_use]
    pub fn check(&self, nonce: &str, unix_now: u64, ip: IpAddr, lifetime_secs: u64) -> NonceStatus {
        let bytes = nonce.as_bytes();
        if bytes.len() != NONCE_LEN {
            return NonceStatus::Invalid;
        }
        let mut raw = [0u8; NONCE_LEN / 2];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            match (hex_nibble(pair[0]), hex_nibble(pair[1])) {
                (Some(h), Some(l)) => raw[i] = (h << 4) | l,
                _ => return NonceStatus::Invalid,
            }
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&raw[..TIME_HEX / 2]);
        let issued = u64::from_be_bytes(t);
        let expected = self.mac(issued, ip);
        // Constant-time comparison of the MAC.
        let diff = expected
            .iter()
            .zip(&raw[TIME_HEX / 2..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return NonceStatus::Invalid;
        }
        if issued > unix_now.saturating_add(5) || unix_now - issued.min(unix_now) >= lifetime_secs {
            NonceStatus::Stale
        } else {
            NonceStatus::Valid
        }
    }
}

fn issued_bytes(t: u64) -> [u8; 8] {
    t.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_bound_to_time_address_and_secret() {
        let issuer = NonceIssuer::new([1; 32]);
        let ip = IpAddr::from([198, 51, 100, 7]);
        let n = issuer.issue(1000, ip);
        assert_eq!(n.len(), NONCE_LEN);
        assert_eq!(issuer.check(&n, 1000, ip, 600), NonceStatus::Valid);
        assert_eq!(issuer.check(&n, 1599, ip, 600), NonceStatus::Valid);
        assert_eq!(issuer.check(&n, 1600, ip, 600), NonceStatus::Stale);
        assert_eq!(
            issuer.check(&n, 1000, IpAddr::from([198, 51, 100, 8]), 600),
            NonceStatus::Invalid
        );
        assert_eq!(
            NonceIssuer::new([2; 32]).check(&n, 1000, ip, 600),
            NonceStatus::Invalid
        );
        let mut tampered = n.clone().into_bytes();
        tampered[15] = if tampered[15] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(issuer.check(&tampered, 1000, ip, 600), NonceStatus::Invalid);
        for junk in ["", "zz", &n[..39], &n.to_uppercase()] {
            assert_eq!(issuer.check(junk, 1000, ip, 600), NonceStatus::Invalid);
        }
        // A nonce from the future (clock skew beyond a few seconds) is not accepted.
        assert_eq!(
            issuer.check(&issuer.issue(2000, ip), 1000, ip, 600),
            NonceStatus::Stale
        );
    }
}
