//! [`Persistence`]: the log as the store of a durable mqlite broker ([`mqlite::Store`]).

use std::io;
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;

use crate::{AppendError, Log, LogOptions, OpenError, Recovery, SyncError, SyncPolicy};

/// A durable broker's store: a [`Log`] in a directory, opened (and recovered) once.
///
/// ```
/// use mqlite::{Broker, ConnectOptions, QoS};
/// use mqlite_store::{Persistence, SyncPolicy};
///
/// let dir = tempfile::tempdir()?;
/// {
///     let broker = Broker::builder()
///         .store(Persistence::open(dir.path(), SyncPolicy::Commit)?)
///         .build();
///     let sub = broker.connect(ConnectOptions::new("sub").clean_start(false).session_expiry(std::time::Duration::from_secs(3600)))?;
///     sub.subscribe("sensors/#", QoS::AtLeastOnce)?;
///     sub.disconnect();
///     let publisher = broker.connect(ConnectOptions::new("pub"))?;
///     publisher.publish("sensors/t", "21.5", QoS::AtLeastOnce, false)?; // durable when it returns
/// } // the process could die here
/// let broker = Broker::builder()
///     .store(Persistence::open(dir.path(), SyncPolicy::Commit)?)
///     .build();
/// let sub = broker.connect(ConnectOptions::new("sub").clean_start(false).session_expiry(std::time::Duration::from_secs(3600)))?;
/// assert!(sub.session_present());
/// let msg = sub.recv_timeout(std::time::Duration::from_secs(1))?;
/// assert_eq!(msg.payload().as_ref(), b"21.5");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Persistence {
    log: Log,
    /// Where compaction moved records: the broker keeps naming them by their first lsn.
    moved: Mutex<Moved>,
    /// Flushes since the last compaction.
    flushes: std::sync::atomic::AtomicU64,
    recovered: Mutex<Option<Vec<crate::Record>>>,
    summary: String,
    recovery_time: Duration,
    discarded_bytes: u64,
    damaged_files: usize,
}

impl Persistence {
    /// Opens (creating if needed) the store in `dir` with `sync`, and reads it back.
    ///
    /// # Errors
    /// [`OpenError`]: another broker holds the directory, it was written by a newer
    /// version, or it cannot be created or read. Damage never fails an open: it is moved
    /// aside and reported by [`Persistence::recovery_summary`].
    pub fn open(dir: impl AsRef<Path>, sync: SyncPolicy) -> Result<Self, OpenError> {
        Self::with_options(LogOptions::new(dir).sync(sync))
    }

    /// Opens the store with all of the log's options.
    ///
    /// # Errors
    /// As [`Persistence::open`].
    pub fn with_options(options: LogOptions) -> Result<Self, OpenError> {
        let (log, recovery) = Log::open(options)?;
        Ok(Self::from_parts(log, recovery))
    }

    fn from_parts(log: Log, recovery: Recovery) -> Self {
        let summary = recovery.to_string();
        Self {
            log,
            moved: Mutex::new(Moved::default()),
            flushes: std::sync::atomic::AtomicU64::new(0),
            summary,
            recovery_time: recovery.duration,
            discarded_bytes: recovery.discarded_bytes,
            damaged_files: recovery.damaged_files,
            recovered: Mutex::new(Some(recovery.records)),
        }
    }

    /// One line saying what the open found: records, time, and what was lost and where it
    /// was moved (for the log of the program).
    pub fn recovery_summary(&self) -> &str {
        &self.summary
    }

    /// Whether the open found damage (and moved it aside).
    pub fn found_damage(&self) -> bool {
        self.damaged_files > 0
    }

    /// The log underneath.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Copies the few live records of mostly dead segments to the head of the log so those
    /// segments can be deleted (a long-lived record, such as a session's, would otherwise
    /// pin every segment after it through their release records). Runs by itself every
    /// [`COMPACT_EVERY`] flushes; returns how many records moved.
    ///
    /// # Errors
    /// [`crate::CompactError`] if reading or appending failed; what moved so far is kept.
    pub fn compact(&self) -> Result<usize, crate::CompactError> {
        let mut moved = self.moved.lock();
        let copied = match self.log.compact(COMPACT_LIVE_RATIO) {
            Ok(copied) => copied,
            Err(e) => {
                moved.note(&e.copied);
                return Err(e);
            }
        };
        moved.note(&copied);
        Ok(copied.len())
    }
}

/// A segment whose live bytes are at most this share of it is compacted.
const COMPACT_LIVE_RATIO: f64 = 0.25;
/// Flushes between two automatic compactions.
pub const COMPACT_EVERY: u64 = 1024;

/// Records moved by compaction: the broker's ticket (the first lsn) to the current lsn, and
/// back.
#[derive(Debug, Default)]
struct Moved {
    now: std::collections::HashMap<u64, u64>,
    first: std::collections::HashMap<u64, u64>,
}

impl Moved {
    fn note(&mut self, copied: &[(crate::Lsn, crate::Lsn)]) {
        for (old, new) in copied {
            let first = self.first.remove(&old.get()).unwrap_or(old.get());
            self.now.insert(first, new.get());
            self.first.insert(new.get(), first);
        }
    }

    /// The current lsn of ticket `ticket`.
    fn current(&self, ticket: u64) -> u64 {
        self.now.get(&ticket).copied().unwrap_or(ticket)
    }

    /// The current lsn of ticket `ticket`, forgetting it.
    fn take(&mut self, ticket: u64) -> u64 {
        match self.now.remove(&ticket) {
            Some(now) => {
                self.first.remove(&now);
                now
            }
            None => ticket,
        }
    }
}

fn append_error(e: AppendError) -> mqlite::StoreError {
    match e {
        AppendError::TooLarge { size, max } => mqlite::StoreError::TooLarge { size, max },
        AppendError::Io(e) if is_full(&e) => mqlite::StoreError::Full(e.to_string()),
        e @ AppendError::NotDurable { .. } => mqlite::StoreError::Full(e.to_string()),
        e => mqlite::StoreError::Io(e.to_string()),
    }
}

fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

fn sync_error(e: SyncError) -> mqlite::StoreError {
    match e {
        SyncError::Closed => mqlite::StoreError::Closed,
        SyncError::Io(e) if is_full(&e) => mqlite::StoreError::Full(e.to_string()),
        e => mqlite::StoreError::Io(e.to_string()),
    }
}

impl mqlite::Store for Persistence {
    fn append(&self, kind: u8, record: &[u8]) -> Result<mqlite::Ticket, mqlite::StoreError> {
        self.log
            .append(kind, record)
            .map(|lsn| lsn.get())
            .map_err(append_error)
    }

    fn append_with(
        &self,
        kind: u8,
        encode: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<mqlite::Ticket, mqlite::StoreError> {
        self.log
            .append_with(kind, encode)
            .map(|lsn| lsn.get())
            .map_err(append_error)
    }

    fn release(&self, ticket: mqlite::Ticket) {
        // The common case: the record never moved, and releasing it under its ticket
        // succeeds without touching `moved`. If it fails, the record was moved (or is moving:
        // `compact` holds `moved` until it has noted the copies, and `Log::release` and
        // `Log::compact` exclude each other under the log's state lock), so its current
        // lsn is taken under `moved`.
        if self.log.release(crate::Lsn::new(ticket)) {
            return;
        }
        let lsn = self.moved.lock().take(ticket);
        if lsn != ticket {
            self.log.release(crate::Lsn::new(lsn));
        }
    }

    fn flush(&self) -> Result<mqlite::Ticket, mqlite::StoreError> {
        let n = self
            .flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % COMPACT_EVERY == COMPACT_EVERY - 1 && self.log.stats().segments > 2 {
            // A failure leaves the store as it was; the next round retries.
            let _ = self.compact();
        }
        self.log.flush().map(|l| l.get()).map_err(append_error)
    }

    fn commit(&self, ticket: mqlite::Ticket) -> Result<(), mqlite::StoreError> {
        self.log.commit(crate::Lsn::new(ticket)).map_err(sync_error)
    }

    fn when_durable(
        &self,
        ticket: mqlite::Ticket,
        done: Box<dyn FnOnce(Result<(), mqlite::StoreError>) + Send>,
    ) {
        self.log.when_durable(
            crate::Lsn::new(ticket),
            Box::new(move |r| done(r.map_err(sync_error))),
        );
    }

    fn read(&self, ticket: mqlite::Ticket) -> Result<Vec<u8>, mqlite::StoreError> {
        // As in `release`: try the ticket itself first; only a moved record needs `moved`.
        let result = match self.log.read(crate::Lsn::new(ticket)) {
            Err(crate::ReadError::NotFound(_)) => {
                let lsn = self.moved.lock().current(ticket);
                self.log.read(crate::Lsn::new(lsn))
            }
            r => r,
        };
        result
            .map(|r| r.payload)
            .map_err(|e| mqlite::StoreError::Io(e.to_string()))
    }

    fn recovered(&self) -> Vec<mqlite::StoredRecord> {
        let records = self.recovered.lock().take().unwrap_or_default();
        records
            .into_iter()
            .map(|r| mqlite::StoredRecord {
                ticket: r.lsn.get(),
                kind: r.kind,
                payload: r.payload,
            })
            .collect()
    }

    fn stats(&self) -> mqlite::StoreStats {
        let s = self.log.stats();
        let mut out = mqlite::StoreStats::default();
        out.bytes_on_disk = s.bytes_on_disk;
        out.live_records = s.live_records as u64;
        out.records_written = s.records_written;
        out.bytes_written = s.bytes_written;
        out.fsyncs = s.fsyncs;
        out.errors = s.sync_errors;
        out.fsync_mean = s
            .fsync_time_total
            .checked_div(u32::try_from(s.fsyncs).unwrap_or(u32::MAX))
            .unwrap_or_default();
        out.fsync_max = s.fsync_time_max;
        out.recovery_time = self.recovery_time;
        out.bytes_discarded = self.discarded_bytes;
        out
    }
}
