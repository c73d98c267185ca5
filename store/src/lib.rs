//! mqlite-store: the storage engine under mqlite's durable mode. A crash-safe,
//! checksummed, segmented append-only log of opaque records, with group commit, recovery
//! that sets damage aside instead of refusing to start, and reclamation of released records.
//! The log knows nothing of MQTT: the broker encodes its own records, and [`Persistence`]
//! is the log as the [`mqlite::Store`] of a durable broker.
//!
//! ```
//! use mqlite_store::{Log, LogOptions, SyncPolicy};
//! let dir = tempfile::tempdir().unwrap();
//! let (log, _) = Log::open(LogOptions::new(dir.path()).sync(SyncPolicy::Commit)).unwrap();
//! let a = log.append(1, b"queued message 1").unwrap(); // buffered in memory
//! let b = log.append(1, b"queued message 2").unwrap();
//! log.commit(b).unwrap(); // one write and one fsync for both
//! assert!(log.release(a)); // acknowledged
//! drop(log);
//!
//! let (log, recovery) = Log::open(LogOptions::new(dir.path())).unwrap();
//! assert_eq!(recovery.records.len(), 1);
//! assert_eq!(recovery.records[0].payload, b"queued message 2");
//! assert_eq!(log.read(b).unwrap().payload, b"queued message 2");
//! ```
//!
//! # Write buffer
//! [`Log::append`] copies a record into an in-memory write buffer; the buffer reaches the
//! kernel in one write at the next [`Log::flush`], [`Log::commit`] or [`Log::when_durable`],
//! before a sync of the sync thread (so `Periodic` still loses at most its interval to a
//! power loss), when the log is dropped, or once it holds
//! [`LogOptions::write_buffer_bytes`] (64 KiB by default; 0 writes at every append). A crash
//! of the process loses only records appended since the last flush or commit, which were
//! never acknowledged: acknowledge only after `flush()` and a commit of the lsn it returns.
//! A failed write is reported to the caller that wrote the buffer; the records stay
//! buffered, in order, for the next flush, and appends write through until a write
//! succeeds (so while the disk stays full, each append is refused by itself).
//!
//! # Modules
//! - `format`: the bytes on disk (`FORMAT`, segment headers, records).
//! - `storage`: the [`Storage`] trait the log writes through, [`FsStorage`] and
//!   [`FaultyStorage`].
//! - `recovery`: reading a store at open, moving damage aside ([`Recovery`]).
//! - `log`, `write`, `sync`: [`Log`], its write path and its sync thread.
//! - `persistence`: [`Persistence`], the log as a broker's [`mqlite::Store`].
//! - `state`: which records and segments are live; `index`: where each live record is.
//!
//! No features.
//!
//! # Format versions and migration
//! `DIR/FORMAT` holds `mqlite-store <version>` and every segment header repeats the
//! version. A change that an older build would misread increments the version. Each build
//! reads every version up to its own and converts an older store when it opens it
//! (rewriting segments first and `FORMAT` last, so a crash midway leaves a store the old
//! version can still read); it refuses a newer one with [`OpenError::NewerFormat`], naming
//! both versions. Version 1 is the first.
//!
//! # Memory
//! The log keeps an index entry per live record, so [`Log::read`] finds a payload on disk:
//! a 16-byte slot in a window over recent lsns (17–26 bytes per live record with its slack;
//! records far older than their neighbours move to an ordered map at about 64). [`Log::open`] returns every live record with its payload in memory
//! ([`Recovery::records`]); a later version may return only the index, so that payloads of
//! large offline queues stay on disk until read. Recovery reads one segment at a time
//! (at most `segment_bytes` plus one record). Bytes not yet fsynced are also kept in
//! memory (bounded by `max_unsynced_bytes`) to be written again after a failed fsync, and
//! so is the write buffer (`write_buffer_bytes` plus one record).
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod error;
mod format;
mod index;
mod log;
mod options;
mod persistence;
mod recovery;
mod state;
mod stats;
mod storage;
mod sync;
mod write;

pub use error::{AppendError, CompactCause, CompactError, OpenError, ReadError, SyncError};
pub use log::Log;
pub use options::{LogOptions, SyncPolicy};
pub use persistence::{COMPACT_EVERY, Persistence};
pub use recovery::Recovery;
pub use stats::LogStats;
pub use storage::{Faults, FaultyStorage, FsStorage, LockGuard, Storage, StorageFile};
pub use sync::Callback;

use std::fmt;

/// Record kinds from here up are the log's own; [`Log::append`] refuses them.
pub const FIRST_RESERVED_KIND: u8 = 0xF0;

/// A log sequence number: a record's position, strictly increasing in append order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(u64);

impl Lsn {
    /// The lsn with this number.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }
    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its lsn.
    pub lsn: Lsn,
    /// The kind given to [`Log::append`].
    pub kind: u8,
    /// The payload given to [`Log::append`].
    pub payload: Vec<u8>,
}

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
struct ReadmeDoctests;
