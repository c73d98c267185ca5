//! A token bucket: `burst` tokens at most, `per_second` more each second, refilled lazily
//! from the time of each call (no timer).

use std::time::{Duration, Instant};

use super::Rate;

/// The longest a bucket ever asks to wait: bounds the arithmetic, far above any real wait.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// A paused reader resumes once the bucket holds this fraction of a second's tokens, so a
/// throttled connection is woken at most about this many times per second.
const RESUMES_PER_SECOND: u64 = 20;

/// A token bucket (see [`Rate`]). Starts full.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub(crate) fn new(rate: Rate, now: Instant) -> Self {
        Self {
            per_second: rate.per_second() as f64,
            burst: rate.burst() as f64,
            tokens: rate.burst() as f64,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if now > self.at {
            let gained = now.duration_since(self.at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + gained).min(self.burst);
            self.at = now;
        }
    }

    /// The whole tokens there are at `now`.
    pub(crate) fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        // Saturating float-to-int conversion; `tokens` is never above `burst`.
        self.tokens.max(0.0).floor() as u64
    }

    /// Takes `n` tokens, at most what [`TokenBucket::available`] just said.
    pub(crate) fn take(&mut self, n: u64) {
        self.tokens -= n as f64;
    }

    /// Takes one token if there is one at `now`.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        if self.available(now) >= 1 {
            self.take(1);
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full at `now`: it keeps no trace of past use and can be
    /// forgotten.
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    /// When a reader paused on an empty bucket should resume: once it holds a twentieth of
    /// a second's worth of tokens (at least one, at most `burst`), so a slow reader is not
    /// woken for every single token.
    pub(crate) fn resume_at(&self) -> Instant {
        let wanted = (self.per_second / RESUMES_PER_SECOND as f64)
            .floor()
            .clamp(1.0, self.burst);
        let missing = (wanted - self.tokens).max(0.0);
        let wait = Duration::from_secs_f64((missing / self.per_second).min(MAX_WAIT.as_secs_f64()));
        self.at.checked_add(wait).unwrap_or(self.at + MAX_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_second: u64, burst: u64, now: Instant) -> TokenBucket {
        TokenBucket::new(Rate::new(per_second, burst).unwrap(), now)
    }

    #[test]
    fn starts_full_and_refills_at_the_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = bucket(10, 5, t0);
        assert_eq!(b.available(t0), 5);
        for _ in 0..5 {
            assert!(b.try_take(t0));
        }
        assert!(!b.try_take(t0));
        assert_eq!(b.available(t0 + Duration::from_millis(250)), 2);
        assert_eq!(
            b.available(t0 + Duration::from_secs(60)),
            5,
            "capped at burst"
        );
        assert!(b.is_full(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn over_any_window_at_most_burst_plus_rate_times_window_is_taken() {
        let t0 = Instant::now();
        let mut b = bucket(100, 20, t0);
        let mut taken = 0u64;
        for ms in 0..=2_000u64 {
            let now = t0 + Duration::from_millis(ms);
            let n = b.available(now).min(7);
            b.take(n);
            taken += n;
            assert!(taken <= 20 + ms / 10, "{taken} tokens after {ms} ms");
        }
        assert!(taken >= 200, "the rate is reached: {taken}");
    }

    #[test]
    fn resume_at_waits_for_a_twentieth_of_a_second_of_tokens() {
        let t0 = Instant::now();
        let mut b = bucket(1000, 2000, t0);
        b.take(2000);
        assert_eq!(b.resume_at(), t0 + Duration::from_millis(50));
        let mut slow = bucket(1, 1, t0);
        slow.take(1);
        assert_eq!(slow.resume_at(), t0 + Duration::from_secs(1));
        let mut small_burst = bucket(1000, 10, t0);
        small_burst.take(10);
        assert_eq!(small_burst.resume_at(), t0 + Duration::from_millis(10));
    }
}
