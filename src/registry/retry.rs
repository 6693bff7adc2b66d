//! Retry policy: exponential backoff with full jitter, `Retry-After` honoured, all within
//! one total deadline.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Nothing is sent, nor slept for, past this instant.
    pub deadline: Instant,
}

impl RetryPolicy {
    pub fn new(deadline: Instant) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            deadline,
        }
    }

    /// Delay before attempt `attempt + 1` (attempt counts from 1): the server's
    /// `Retry-After` when given (capped), else a random point in [base·2^(n-1)/2, base·2^(n-1)].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.cap * 3);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.cap);
        let half = exp / 2;
        half + half.mul_f64(jitter())
    }

    /// Whether sleeping `delay` still leaves time for another attempt.
    pub fn fits(&self, delay: Duration) -> bool {
        Instant::now() + delay < self.deadline
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Status codes worth another attempt: 429 and 5xx except 501/505 (never transient).
pub fn retryable_status(code: u16) -> bool {
    code == 429 || code == 408 || ((500..600).contains(&code) && code != 501 && code != 505)
}

/// `Retry-After` in seconds (the HTTP-date form is rare for registries and treated as absent).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Uniform in [0, 1): std's randomly keyed hasher is enough to spread retries apart.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_bounds() {
        let p = RetryPolicy::new(Instant::now() + Duration::from_secs(60));
        for attempt in 1..10 {
            let d = p.delay(attempt, None);
            let exp = (p.base * (1 << (attempt - 1))).min(p.cap);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(3600))), p.cap * 3);
    }

    #[test]
    fn statuses() {
        for c in [429, 500, 502, 503, 504, 408] {
            assert!(retryable_status(c), "{c}");
        }
        for c in [200, 401, 403, 404, 501] {
            assert!(!retryable_status(c), "{c}");
        }
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
