//! Unpredictable numbers for masking keys and handshake nonces, without a dependency.
//!
//! `RandomState` is seeded from the operating system once per thread; hashing a counter with it
//! yields values an observer on the wire cannot predict, which is all RFC 6455 §10.3 asks.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unpredictable 64-bit value.
pub(crate) fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A cheap per-connection generator (xorshift64*), seeded from [`random_u64`].
#[derive(Debug, Clone)]
pub(crate) struct MaskGenerator(u64);

impl MaskGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let value = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let bytes = (value >> 32) as u32;
        bytes.to_ne_bytes()
    }
}
