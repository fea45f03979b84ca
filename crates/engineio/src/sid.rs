//! Session ids: 15 random bytes as 20 URL-safe base64 characters, like Node's `base64id`.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    // `RandomState` is seeded from the operating system; hashing a counter with a fresh one
    // gives values an observer cannot predict from earlier ids.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A fresh session id from 15 unpredictable bytes.
pub fn generate_sid() -> String {
    let mut bytes = [0u8; 15];
    let a = random_u64().to_le_bytes();
    let b = random_u64().to_le_bytes();
    bytes[..8].copy_from_slice(&a);
    bytes[8..].copy_from_slice(&b[..7]);
    sid_from_bytes(&bytes)
}

/// The session id for 15 given bytes (`+` and `/` become `-` and `_`): for deterministic tests
/// or an application's own random source.
pub fn sid_from_bytes(bytes: &[u8; 15]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
