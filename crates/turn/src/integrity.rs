//! MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (RFC 8489 §14.5,
//! §14.6, §14.7).
//!
//! Both HMACs cover the header, with its length field set as if the message ended right
//! after the integrity attribute, and every attribute before it.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use crate::message::HEADER_LEN;

/// XOR-ed into the CRC-32 of the message to form FINGERPRINT.
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// FINGERPRINT of `prefix`: everything before the FINGERPRINT attribute, whose header length
/// already counts the FINGERPRINT attribute.
#[must_use]
pub fn fingerprint(prefix: &[u8]) -> u32 {
    crc32fast::hash(prefix) ^ FINGERPRINT_XOR
}

/// Feeds `raw[..at]` to `mac` with the header length field replaced by `length`.
fn feed<M: Mac>(mac: &mut M, raw: &[u8], at: usize, length: usize) -> Option<()> {
    let length = u16::try_from(length).ok()?;
    let head = raw.get(..HEADER_LEN)?;
    mac.update(&head[..2]);
    mac.update(&length.to_be_bytes());
    mac.update(&head[4..]);
    mac.update(raw.get(HEADER_LEN..at)?);
    Some(())
}

/// HMAC-SHA1 of `raw[..at]` with the length field adjusted for a 20-byte MESSAGE-INTEGRITY
/// attribute at `at`.
#[must_use]
pub fn sha1_mac(raw: &[u8], at: usize, key: &[u8]) -> Option<[u8; 20]> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).ok()?;
    feed(&mut mac, raw, at, at + 4 + 20 - HEADER_LEN)?;
    Some(mac.finalize().into_bytes().into())
}

/// HMAC-SHA256 of `raw[..at]` with the length field adjusted for a `mac_len`-byte
/// MESSAGE-INTEGRITY-SHA256 attribute at `at`.
#[must_use]
pub fn sha256_mac(raw: &[u8], at: usize, key: &[u8], mac_len: usize) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    feed(&mut mac, raw, at, at + 4 + mac_len - HEADER_LEN)?;
    Some(mac.finalize().into_bytes().into())
}

/// Constant-time check of a MESSAGE-INTEGRITY value at `at`.
pub(crate) fn verify_sha1(raw: &[u8], at: usize, key: &[u8], expected: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(key) else {
        return false;
    };
    feed(&mut mac, raw, at, at + 4 + 20 - HEADER_LEN).is_some()
        && mac.verify_slice(expected).is_ok()
}

/// Constant-time check of a (possibly truncated) MESSAGE-INTEGRITY-SHA256 value at `at`.
pub(crate) fn verify_sha256(raw: &[u8], at: usize, key: &[u8], expected: &[u8]) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return false;
    };
    feed(&mut mac, raw, at, at + 4 + expected.len() - HEADER_LEN).is_some()
        && mac.verify_truncated_left(expected).is_ok()
}
