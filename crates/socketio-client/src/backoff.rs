//! Delays between reconnection attempts: exponential, capped, with jitter, as Node's client
//! waits (`reconnectionDelay`, `reconnectionDelayMax`, `randomizationFactor`).

use std::time::Duration;

/// The delay before each reconnection attempt.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    /// How far (as a fraction of the delay) jitter may move it, either way.
    jitter: f64,
    attempts: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        Self {
            min,
            max: max.max(min),
            jitter: jitter.clamp(0.0, 1.0),
            attempts: 0,
        }
    }

    /// Attempts made since the last success.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next attempt, given a uniform random number in `[0, 1)`: the
    /// minimum doubled per attempt so far, moved by up to `jitter` of itself, then capped.
    pub(crate) fn next_delay(&mut self, random: f64) -> Duration {
        // 2^20 times any sane minimum is past any sane maximum: stop doubling there.
        let base = self.min.as_secs_f64() * f64::from(1u32 << self.attempts.min(20));
        self.attempts = self.attempts.saturating_add(1);
        let deviation = base * self.jitter * random.clamp(0.0, 1.0);
        // The low bit of a second draw from the same number picks the direction.
        let delay = if ((random * 10.0) as u32) & 1 == 0 {
            base - deviation
        } else {
            base + deviation
        };
        Duration::from_secs_f64(delay.max(0.0)).min(self.max)
    }

    /// A connection succeeded: the next failure starts from the minimum again.
    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// A uniform random number in `[0, 1)` from the standard library's per-process random keys.
pub(crate) fn random_unit() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_minimum_up_to_the_maximum_without_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 0.0);
        let delays: Vec<u128> = (0..6)
            .map(|_| backoff.next_delay(0.3).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.attempts(), 6);
        backoff.reset();
        assert_eq!(backoff.next_delay(0.3), Duration::from_millis(100));
    }

    #[test]
    fn jitter_moves_the_delay_by_at_most_its_fraction_either_way() {
        let mut low = Backoff::new(Duration::from_millis(1000), Duration::from_secs(60), 0.5);
        // 0.45: digit 4, even: shorter by 0.45 × 0.5 of the delay.
        assert_eq!(low.next_delay(0.45), Duration::from_millis(775));
        let mut high = Backoff::new(Duration::from_millis(1000), Duration::from_secs(60), 0.5);
        // 0.55: digit 5, odd: longer.
        assert_eq!(high.next_delay(0.55), Duration::from_millis(1275));
        for _ in 0..1000 {
            let mut any = Backoff::new(Duration::from_millis(1000), Duration::from_secs(60), 0.5);
            let delay = any.next_delay(random_unit());
            assert!((500..=1500).contains(&delay.as_millis()), "{delay:?}");
        }
    }

    #[test]
    fn many_attempts_neither_overflow_nor_pass_the_maximum() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5), 0.5);
        for _ in 0..100 {
            assert!(backoff.next_delay(0.99) <= Duration::from_secs(5));
        }
        assert_eq!(backoff.attempts(), 100);
    }
}
