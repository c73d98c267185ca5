//! The errors of the log's public operations.

use crate::Lsn;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Why [`crate::Log::open`] failed. Damage never makes it fail: it is moved aside and
/// reported in [`crate::Recovery`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another `Log`, in this process or another, holds the directory.
    #[error("store `{}` is locked by another process or another open log", dir.display())]
    Locked {
        /// The store's directory.
        dir: PathBuf,
    },
    /// The store was written by a newer, incompatible version of mqlite-store.
    #[error(
        "store `{}` has format version {found}, newer than version {supported} that this \
         mqlite-store reads; use a newer mqlite",
        dir.display()
    )]
    NewerFormat {
        /// The store's directory.
        dir: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// An I/O error on the store's directory or files.
    #[error("store `{}`: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Why [`crate::Log::append`] refused a record. A refused record was not written and took
/// no lsn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The payload is larger than `max_record_bytes`.
    #[error("record of {size} bytes exceeds max_record_bytes ({max})")]
    TooLarge {
        /// The payload's size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// Kinds 0xF0 to 0xFF are the log's own.
    #[error("record kind {kind:#04x} is reserved (kinds 0xf0 to 0xff belong to the log)")]
    ReservedKind {
        /// The kind asked for.
        kind: u8,
    },
    /// Writing failed (ENOSPC, EIO); the file was put back as it was, records still in the
    /// write buffer stay there (in order) for the next flush, and appends work again once
    /// the cause is gone.
    #[error("append failed: {0}")]
    Io(#[source] io::Error),
    /// Syncs are failing and more than `max_unsynced_bytes` wait to be made durable.
    #[error("{unsynced_bytes} bytes wait for a sync that keeps failing (limit {max}): {cause}")]
    NotDurable {
        /// Bytes written since the last successful sync.
        unsynced_bytes: usize,
        /// The configured `max_unsynced_bytes`.
        max: usize,
        /// The last sync error.
        cause: SyncError,
    },
}

/// Why a commit or durability wait failed. Cheap to clone: every waiter of a failed sync
/// gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Writing the write buffer, or `fsync` (or writing a record again before it) failed.
    /// The records up to the lsn waited for may or may not survive a power loss; they were
    /// not acknowledged. A later commit retries.
    #[error("sync failed: {0}")]
    Io(Arc<io::Error>),
    /// The lsn was never returned by `append`.
    #[error("lsn {lsn} was not appended (last appended: {last})")]
    NotAppended {
        /// The lsn waited for.
        lsn: Lsn,
        /// The last lsn appended.
        last: Lsn,
    },
    /// The log was dropped before the wait completed.
    #[error("the log was closed before the sync completed")]
    Closed,
}

/// Why [`crate::Log::read`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No live record has this lsn (never appended, released, or lost to damage).
    #[error("no live record with lsn {0}")]
    NotFound(Lsn),
    /// The bytes on disk no longer match their checksum.
    #[error("record {lsn} is corrupt on disk")]
    Corrupt {
        /// The lsn read.
        lsn: Lsn,
    },
    /// Reading failed.
    #[error("reading record {lsn}: {source}")]
    Io {
        /// The lsn read.
        lsn: Lsn,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Why [`crate::Log::compact`] stopped. The records it copied before the error are in
/// `copied` (their old lsns are released), so the caller can still update its references; the
/// rest stay where they were, and a later compaction may retry.
#[derive(Debug, thiserror::Error)]
#[error("compaction stopped after copying {} records: {cause}", copied.len())]
pub struct CompactError {
    /// `(old lsn, new lsn)` of the records copied before the error.
    pub copied: Vec<(Lsn, Lsn)>,
    /// What went wrong.
    #[source]
    pub cause: CompactCause,
}

/// What stopped a compaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactCause {
    /// Reading a live record failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Appending its copy failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}
