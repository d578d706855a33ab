//! Token buckets for inbound rate limits (reference §14.4). Time is passed
//! in, so the arithmetic is tested without clocks. A bucket starts full;
//! an empty bucket means the message is dropped, never queued.

use std::time::Instant;

use ocr_core::wire::RateLimits;

/// One token bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate_per_second: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. A non-finite or negative rate or capacity is treated
    /// as zero (nothing passes), never as infinite.
    pub fn new(rate_per_second: f64, capacity: f64, now: Instant) -> Self {
        let sane = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
        let capacity = sane(capacity);
        Self { rate_per_second: sane(rate_per_second), capacity, tokens: capacity, last: now }
    }

    /// Takes `amount` tokens if there are that many.
    pub fn take(&mut self, amount: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate_per_second).min(self.capacity);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

/// The two buckets of one remote oracle on one instance: messages and bytes.
#[derive(Clone, Debug)]
pub struct PeerRateLimiter {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl PeerRateLimiter {
    /// Full buckets for these limits.
    pub fn new(limits: &RateLimits, now: Instant) -> Self {
        Self {
            messages: TokenBucket::new(limits.messages_per_second, f64::from(limits.message_capacity), now),
            bytes: TokenBucket::new(limits.bytes_per_second, limits.byte_capacity as f64, now),
        }
    }

    /// Whether a message of `len` bytes may pass now. Both buckets must
    /// allow it; a refusal takes nothing from the other bucket.
    pub fn admit(&mut self, len: usize, now: Instant) -> bool {
        let mut probe = self.bytes.clone();
        if !probe.take(len as f64, now) {
            self.bytes = probe;
            return false;
        }
        if !self.messages.take(1.0, now) {
            return false;
        }
        self.bytes = probe;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_capacity_then_its_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5.0, t0);
        assert_eq!((0..8).filter(|_| bucket.take(1.0, t0)).count(), 5);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..8).filter(|_| bucket.take(1.0, t1)).count(), 5);
        let t2 = t1 + Duration::from_secs(100);
        assert_eq!((0..8).filter(|_| bucket.take(1.0, t2)).count(), 5, "refill is capped at capacity");
    }

    #[test]
    fn nonsense_limits_let_nothing_through() {
        let t0 = Instant::now();
        assert!(!TokenBucket::new(f64::NAN, f64::INFINITY, t0).take(1.0, t0));
        assert!(!TokenBucket::new(-1.0, -1.0, t0).take(1.0, t0));
    }

    #[test]
    fn both_buckets_must_agree() {
        let t0 = Instant::now();
        let limits =
            RateLimits { messages_per_second: 1.0, message_capacity: 2, bytes_per_second: 1.0, byte_capacity: 100 };
        let mut limiter = PeerRateLimiter::new(&limits, t0);
        assert!(limiter.admit(10, t0));
        assert!(!limiter.admit(200, t0), "too many bytes");
        assert!(limiter.admit(10, t0));
        assert!(!limiter.admit(10, t0), "too many messages");
    }
}
