//! Time for every time-based rule, from a clock that tests can drive.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::sync::Mutex;

/// A monotonic clock. The broker reads time only through this trait, so tests advance a
/// [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Time elapsed since an arbitrary, fixed origin. Never goes backwards.
    fn now(&self) -> Duration;

    /// Wall-clock time since the Unix epoch. Durable mode reads it once at start, so that
    /// session and message expiry count the time the broker was down.
    fn unix_time(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to, for deterministic tests.
///
/// ```
/// use std::time::Duration;
/// use mqlite::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), Duration::from_secs(5));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    /// The Unix time of a manual clock at zero (2026-01-01T00:00:00Z).
    pub const UNIX_ORIGIN: Duration = Duration::from_secs(1_767_225_600);

    /// A clock at time zero.
    pub fn new() -> Self {
        Self {
            now: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now = now.saturating_add(by);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock()
    }

    /// [`ManualClock::UNIX_ORIGIN`] plus [`Clock::now`]: two manual clocks agree on Unix
    /// time, so a test restarts a durable broker with a new clock advanced by the downtime.
    fn unix_time(&self) -> Duration {
        Self::UNIX_ORIGIN.saturating_add(self.now())
    }
}
