//! Percentiles of latency samples, by the nearest-rank method on the sorted samples: the
//! p-th percentile is the smallest sample with at least p% of the samples at or below it.

use std::time::Duration;

/// Sorted samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Distribution {
    sorted: Vec<Duration>,
}

impl Distribution {
    /// Sorts `samples`.
    pub(crate) fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The nearest-rank percentile `fraction` (0 to 1); `None` without samples.
    pub(crate) fn percentile(&self, fraction: f64) -> Option<Duration> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        // Rank ⌈fraction · n⌉ (1-based), at least 1. The epsilon keeps a product that should
        // be whole (0.999 · 1000) from rounding up a rank; the cast saturates.
        let rank = (fraction.clamp(0.0, 1.0) * n as f64 - 1e-9).ceil() as usize;
        self.sorted.get(rank.clamp(1, n) - 1).copied()
    }

    /// The arithmetic mean; `None` without samples.
    pub(crate) fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.sorted.len()).ok().filter(|&n| n > 0)?;
        let total: Duration = self.sorted.iter().sum();
        Some(total / n)
    }
}

/// A duration in microseconds with a fraction, for reports.
pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `count` per `elapsed` second.
pub(crate) fn per_sec(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(values: &[u64]) -> Distribution {
        Distribution::new(values.iter().map(|&v| Duration::from_micros(v)).collect())
    }

    #[test]
    fn nearest_rank_of_one_to_hundred() {
        let d = us(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(d.percentile(0.5), Some(Duration::from_micros(50)));
        assert_eq!(d.percentile(0.9), Some(Duration::from_micros(90)));
        assert_eq!(d.percentile(0.99), Some(Duration::from_micros(99)));
        assert_eq!(d.percentile(0.999), Some(Duration::from_micros(100)));
        assert_eq!(d.percentile(1.0), Some(Duration::from_micros(100)));
        assert_eq!(d.percentile(0.0), Some(Duration::from_micros(1)));
    }

    #[test]
    fn small_sets_round_the_rank_up() {
        let d = us(&[30, 10, 20]);
        assert_eq!(d.percentile(0.5), Some(Duration::from_micros(20)));
        assert_eq!(d.percentile(0.34), Some(Duration::from_micros(20)));
        assert_eq!(d.percentile(0.33), Some(Duration::from_micros(10)));
        assert_eq!(d.mean(), Some(Duration::from_micros(20)));
        let one = us(&[7]);
        assert_eq!(one.percentile(0.999), Some(Duration::from_micros(7)));
    }

    #[test]
    fn empty_has_no_percentiles() {
        let d = us(&[]);
        assert_eq!(d.percentile(0.5), None);
        assert_eq!(d.mean(), None);
    }

    #[test]
    fn rates_and_units() {
        assert_eq!(per_sec(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_sec(5, Duration::ZERO), 0.0);
        assert_eq!(micros(Duration::from_nanos(1500)), 1.5);
    }
}
