//! Token buckets: bandwidth per allocation, and a per-source limit on unauthenticated
//! requests with a bounded table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// A token bucket refilled at `rate` tokens per second up to `capacity`. Time is passed in.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    rate: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    #[must_use]
    pub fn new(rate_per_sec: u64, capacity: u64, now: Instant) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let (rate, capacity) = (rate_per_sec as f64, capacity as f64);
        Self {
            tokens: capacity,
            capacity,
            rate,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if now > self.last {
            self.last = now;
        }
    }

    /// Takes `amount` tokens if the bucket holds that many; otherwise takes none.
    pub fn try_take(&mut self, now: Instant, amount: u64) -> bool {
        self.refill(now);
        #[allow(clippy::cast_precision_loss)]
        let amount = amount as f64;
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }

    /// True when the bucket would be full at `now`: it then carries no information and can
    /// be forgotten.
    #[must_use]
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.capacity
    }
}

/// Limits of the per-source limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceLimit {
    /// Requests per second a source may sustain.
    pub per_second: u64,
    /// Requests a source may send in a burst.
    pub burst: u64,
    /// Sources tracked at most; beyond that, new sources share one overflow bucket.
    pub max_sources: usize,
}

impl Default for SourceLimit {
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 40,
            max_sources: 16_384,
        }
    }
}

/// Per-source token buckets keyed by IPv4 address or IPv6 /64, in a table of bounded size.
///
/// When the table is full, buckets that have refilled completely are swept (at most once a
/// second); if it is still full, unknown sources share a single overflow bucket, so a flood
/// from spoofed addresses can neither grow memory nor reset a known source's bucket.
#[derive(Debug)]
pub struct SourceLimiter {
    limit: SourceLimit,
    buckets: HashMap<IpAddr, TokenBucket>,
    overflow: TokenBucket,
    last_sweep: Option<Instant>,
}

impl SourceLimiter {
    /// An empty limiter.
    #[must_use]
    pub fn new(limit: SourceLimit, now: Instant) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
            overflow: TokenBucket::new(limit.per_second, limit.burst, now),
            last_sweep: None,
        }
    }

    /// Number of sources tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no source is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Charges one request from `ip`; false when it is over its limit.
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let key = source_key(ip);
        if let Some(bucket) = self.buckets.get_mut(&key) {
            return bucket.try_take(now, 1);
        }
        if self.buckets.len() >= self.limit.max_sources {
            let due = self
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
            if due {
                self.last_sweep = Some(now);
                self.buckets.retain(|_, b| !b.is_full(now));
            }
            if self.buckets.len() >= self.limit.max_sources {
                return self.overflow.try_take(now, 1);
            }
        }
        let mut bucket = TokenBucket::new(self.limit.per_second, self.limit.burst, now);
        let allowed = bucket.try_take(now, 1);
        self.buckets.insert(key, bucket);
        allowed
    }
}

/// IPv4 addresses as they are (IPv4-mapped IPv6 unwrapped); IPv6 addresses by /64, the
/// smallest block one subscriber usually holds.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_over_time() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 200, t0);
        assert!(b.try_take(t0, 200));
        assert!(!b.try_take(t0, 1));
        assert!(b.try_take(t0 + Duration::from_millis(500), 50));
        assert!(!b.try_take(t0 + Duration::from_millis(500), 1));
        assert!(b.is_full(t0 + Duration::from_secs(10)));
        // Time going backwards neither panics nor adds tokens.
        assert!(!b.try_take(t0, 1));
    }

    #[test]
    fn limiter_table_is_bounded_and_ipv6_is_keyed_by_64() {
        let t0 = Instant::now();
        let limit = SourceLimit {
            per_second: 1,
            burst: 1,
            max_sources: 2,
        };
        let mut l = SourceLimiter::new(limit, t0);
        assert!(l.allow(t0, "2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(!l.allow(t0, "2001:db8::2".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(l.allow(t0, IpAddr::from([1, 1, 1, 1])));
        // Table full: new sources share the overflow bucket.
        assert!(l.allow(t0, IpAddr::from([2, 2, 2, 2])));
        assert!(!l.allow(t0, IpAddr::from([3, 3, 3, 3])));
        assert_eq!(l.len(), 2);
        // Later, idle buckets are swept and new sources get their own again.
        let t1 = t0 + Duration::from_secs(5);
        assert!(l.allow(t1, IpAddr::from([3, 3, 3, 3])));
        assert_eq!(l.len(), 1);
    }
}
