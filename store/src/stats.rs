//! [`LogStats`] and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of a log's figures, from [`crate::Log::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// Bytes in segment files.
    pub bytes_on_disk: u64,
    /// Segment files.
    pub segments: usize,
    /// Live records (appended, not released).
    pub live_records: usize,
    /// Records written since open (the log's own included).
    pub records_written: u64,
    /// Bytes written since open.
    pub bytes_written: u64,
    /// Successful file syncs since open.
    pub fsyncs: u64,
    /// Failed syncs since open.
    pub sync_errors: u64,
    /// Time spent in successful file syncs.
    pub fsync_time_total: Duration,
    /// The longest successful file sync.
    pub fsync_time_max: Duration,
    /// Segments deleted since open.
    pub segments_deleted: u64,
    /// Everything up to this lsn is fsynced (0: nothing yet).
    pub durable_lsn: u64,
    /// The lsn the next append gets.
    pub next_lsn: u64,
}

/// Counters updated without the log's locks. Relaxed throughout: they are statistics, read
/// as a snapshot that need not be consistent across fields.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) sync_errors: AtomicU64,
    pub(crate) fsync_nanos: AtomicU64,
    pub(crate) fsync_nanos_max: AtomicU64,
    pub(crate) segments_deleted: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn fsync_took(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.fsync_nanos_max.fetch_max(nanos, Ordering::Relaxed);
    }
    pub(crate) fn fill(&self, s: &mut LogStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.records_written = get(&self.records_written);
        s.bytes_written = get(&self.bytes_written);
        s.fsyncs = get(&self.fsyncs);
        s.sync_errors = get(&self.sync_errors);
        s.fsync_time_total = Duration::from_nanos(get(&self.fsync_nanos));
        s.fsync_time_max = Duration::from_nanos(get(&self.fsync_nanos_max));
        s.segments_deleted = get(&self.segments_deleted);
    }
}
