//! [`LogOptions`] and [`SyncPolicy`].

use crate::storage::{FsStorage, Storage};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// When appended records are made durable (fsynced). See the README for what each policy
/// guarantees after a process crash and after a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// [`crate::Log::commit`] returns once the record and all before it are fsynced;
    /// concurrent commits share one fsync (group commit). Survives power loss.
    #[default]
    Commit,
    /// [`crate::Log::commit`] returns once the record is written to the kernel (the
    /// write buffer is written at the latest by then); a background thread writes the
    /// buffer and fsyncs every interval. A process crash loses nothing committed (or
    /// flushed); a power loss loses at most the last interval.
    Periodic(Duration),
    /// [`crate::Log::commit`] returns once the record is written to the kernel; never
    /// fsynced. A process crash loses nothing committed (or flushed), a power loss may.
    None,
}

/// How to open a [`crate::Log`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub(crate) dir: PathBuf,
    pub(crate) sync: SyncPolicy,
    pub(crate) segment_bytes: u64,
    pub(crate) max_record_bytes: usize,
    pub(crate) max_unsynced_bytes: usize,
    pub(crate) write_buffer_bytes: usize,
    pub(crate) storage: Arc<dyn Storage>,
}

/// Largest allowed `max_record_bytes`: the length field is a u32.
const MAX_RECORD_LIMIT: usize = (u32::MAX as usize) - 64;
/// Smallest allowed `segment_bytes`.
const MIN_SEGMENT_BYTES: u64 = 1024;

impl LogOptions {
    /// Defaults for a store in `dir` (created if missing): [`SyncPolicy::Commit`], 64 MiB
    /// segments, records up to 16 MiB, 16 MiB of unsynced bytes, a 64 KiB write buffer, the
    /// real file system.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self {
            dir: dir.as_ref().to_path_buf(),
            sync: SyncPolicy::Commit,
            segment_bytes: 64 << 20,
            max_record_bytes: 16 << 20,
            max_unsynced_bytes: 16 << 20,
            write_buffer_bytes: 64 << 10,
            storage: Arc::new(FsStorage),
        }
    }
    /// The sync policy.
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }
    /// The size at which the head segment is sealed and a new one started (at least 1024;
    /// a record larger than it gets a segment of its own).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }
    /// The largest payload [`crate::Log::append`] accepts (at most 4 GiB - 64). Recovery
    /// treats a longer length field as corruption, so lowering it on an existing store
    /// discards records above the new limit: only raise it.
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }
    /// Bytes written but not yet fsynced above which a sync is started without waiting for
    /// a commit or the interval, and above which appends are refused while syncs fail. The
    /// log keeps a copy of these bytes to write them again after a failed fsync.
    pub fn max_unsynced_bytes(mut self, bytes: usize) -> Self {
        self.max_unsynced_bytes = bytes;
        self
    }
    /// Appended records are kept in a write buffer and written to the kernel in one write
    /// by the next flush or commit ([`crate::Log::flush`], [`crate::Log::commit`],
    /// [`crate::Log::when_durable`]), by the sync thread before a periodic fsync, or once
    /// the buffer holds at least this many bytes (64 KiB by default). 0 writes every record
    /// at its append, one write each.
    pub fn write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.write_buffer_bytes = bytes;
        self
    }
    /// The file system to go through ([`FsStorage`] by default; [`crate::FaultyStorage`]
    /// in tests).
    pub fn storage(mut self, storage: impl Storage + 'static) -> Self {
        self.storage = Arc::new(storage);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return Err(format!(
                "segment_bytes {} is below the minimum ({MIN_SEGMENT_BYTES})",
                self.segment_bytes
            ));
        }
        if self.max_record_bytes > MAX_RECORD_LIMIT {
            return Err(format!(
                "max_record_bytes {} exceeds the format's limit ({MAX_RECORD_LIMIT})",
                self.max_record_bytes
            ));
        }
        if let SyncPolicy::Periodic(d) = self.sync
            && d.is_zero()
        {
            return Err("sync interval must be above zero".into());
        }
        Ok(())
    }
}
