//! [`Log`]: opening a store and the public operations. The write path is in `write.rs`,
//! the sync thread in `sync.rs`.

use crate::error::{AppendError, CompactError, OpenError, ReadError, SyncError};
use crate::format::{self, VERSION};
use crate::options::{LogOptions, SyncPolicy};
use crate::recovery::{self, Quarantine, io_at};
use crate::state::Books;
use crate::stats::{Counters, LogStats};
use crate::storage::{LockGuard, Storage, StorageFile};
use crate::sync::{Callback, SyncState};
use crate::{FIRST_RESERVED_KIND, Lsn, Record, Recovery};
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

/// A crash-safe, checksummed, segmented append-only log of opaque records.
///
/// `Log` is `Send + Sync`: share it (`Arc<Log>` or scoped threads) between appenders and
/// committers. Dropping it writes pending releases, runs a last sync (unless
/// [`SyncPolicy::None`]), stops the sync thread and releases the directory lock.
pub struct Log {
    pub(crate) inner: Arc<Inner>,
    sync_thread: Option<JoinHandle<()>>,
}

/// Everything the log's threads share.
///
/// Lock order: `state` before `sync`. Never held while calling a [`Callback`] or syncing a
/// file, except that `state` is held across segment writes and compaction reads.
pub(crate) struct Inner {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) log_dir: PathBuf,
    pub(crate) policy: SyncPolicy,
    pub(crate) segment_bytes: u64,
    pub(crate) max_record_bytes: usize,
    pub(crate) max_unsynced_bytes: usize,
    pub(crate) state: Mutex<State>,
    pub(crate) sync: Mutex<SyncState>,
    /// Wakes the sync thread; waited on with `sync`.
    pub(crate) wake: Condvar,
    /// The last lsn written (Release store under `state`, pairs with the Acquire loads of
    /// the commit path).
    pub(crate) written: AtomicU64,
    /// Everything up to here is fsynced (Release store by the sync thread, pairs with the
    /// Acquire load of `durable_lsn`).
    pub(crate) durable: AtomicU64,
    pub(crate) counters: Counters,
    _lock: Box<dyn LockGuard>,
}

/// Bytes written to a file since its last successful sync, kept to write them again if a
/// sync fails (after a failed fsync the kernel may have dropped them).
#[derive(Debug)]
pub(crate) struct Unsynced {
    pub(crate) seg: u64,
    pub(crate) file: Arc<dyn StorageFile>,
    pub(crate) offset: u64,
    pub(crate) bytes: Vec<u8>,
    /// The file is new: its directory entry needs a sync too.
    pub(crate) created: bool,
    /// A sync failed since these bytes were written: write them again before syncing.
    pub(crate) rewrite: bool,
}

/// The write side, under `Inner::state`.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) books: Books,
    pub(crate) next_lsn: u64,
    /// A failed write left bytes past the active segment's length.
    pub(crate) needs_truncate: bool,
    /// Released lsns not yet written in a release record, as inclusive ranges.
    pub(crate) pending_ranges: Vec<(u64, u64)>,
    /// The segments those lsns were in.
    pub(crate) pending_segs: BTreeSet<u64>,
    pub(crate) unsynced: Vec<Unsynced>,
    pub(crate) unsynced_bytes: usize,
    /// Segments to delete once everything written up to the lsn is durable.
    pub(crate) to_delete: Vec<(u64, u64)>,
    /// The last sync failed with this; cleared by a successful one.
    pub(crate) sync_failure: Option<SyncError>,
    pub(crate) buf: Vec<u8>,
}

impl Log {
    /// Opens (or creates) the store in `options`' directory, recovering what it holds.
    ///
    /// Damage (torn or corrupt records, zeroed or truncated files, garbage) never makes
    /// this fail: what cannot be read is moved into `DIR/damaged-<unix time>/` and
    /// reported in the returned [`Recovery`].
    ///
    /// # Errors
    /// [`OpenError::Locked`] if another `Log` holds the directory,
    /// [`OpenError::NewerFormat`] for a store of a newer format, [`OpenError::InvalidOption`]
    /// and [`OpenError::Io`] for an I/O error on the directory itself.
    ///
    /// # Examples
    /// ```
    /// use mqlite_store::{Log, LogOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let (log, recovery) = Log::open(LogOptions::new(dir.path())).unwrap();
    /// assert!(recovery.records.is_empty());
    /// let lsn = log.append(1, b"retained a/b").unwrap();
    /// log.commit(lsn).unwrap();
    /// drop(log);
    /// let (_log, recovery) = Log::open(LogOptions::new(dir.path())).unwrap();
    /// assert_eq!(recovery.records[0].payload, b"retained a/b");
    /// ```
    pub fn open(options: LogOptions) -> Result<(Log, Recovery), OpenError> {
        let start = Instant::now();
        options.validate().map_err(OpenError::InvalidOption)?;
        let storage = Arc::clone(&options.storage);
        let root = options.dir.clone();
        storage.create_dir_all(&root).map_err(io_at(&root))?;
        let lock_path = root.join("LOCK");
        let lock = storage.lock(&lock_path).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => OpenError::Locked { dir: root.clone() },
            _ => OpenError::Io {
                path: lock_path.clone(),
                source: e,
            },
        })?;
        let mut quarantine = Quarantine::new(&*storage, &root);
        let format_path = root.join("FORMAT");
        let write_format = match storage.read_file(&format_path) {
            Ok(bytes) => match format::parse_format(&bytes) {
                Some(VERSION) => false,
                Some(found) if found > VERSION => {
                    return Err(OpenError::NewerFormat {
                        dir: root,
                        found,
                        supported: VERSION,
                    });
                }
                _ => {
                    quarantine.move_file(&format_path, bytes.len() as u64)?;
                    true
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(io_at(&format_path)(e)),
        };
        let log_dir = root.join("log");
        storage.create_dir_all(&log_dir).map_err(io_at(&log_dir))?;
        // Read the segments before writing FORMAT, so a segment of a newer version is
        // refused without leaving a FORMAT that claims this one.
        let max_decode = options
            .max_record_bytes
            .max(crate::write::MAX_RELEASE_PAYLOAD);
        let mut rec = recovery::recover(&*storage, &root, &log_dir, max_decode, &mut quarantine)?;
        if write_format {
            let text = format::format_text();
            storage
                .write_file(&format_path, text.as_bytes())
                .map_err(io_at(&format_path))?;
            storage.sync_dir(&root).map_err(io_at(&root))?;
        }
        rec.report.damaged_files = quarantine.files;
        rec.report.discarded_bytes = quarantine.bytes;
        rec.report.damaged_dir = quarantine.finish(&log_dir)?;

        let mut books = rec.books;
        books.active = books
            .segments
            .iter()
            .next_back()
            .filter(|(_, s)| s.len < options.segment_bytes)
            .map(|(k, _)| *k);
        let mut state = State {
            books,
            next_lsn: rec.next_lsn,
            needs_truncate: false,
            pending_ranges: Vec::new(),
            pending_segs: BTreeSet::new(),
            unsynced: Vec::new(),
            unsynced_bytes: 0,
            to_delete: Vec::new(),
            sync_failure: None,
            buf: Vec::new(),
        };
        let empty: Vec<u64> = state
            .books
            .segments
            .keys()
            .copied()
            .filter(|s| state.books.is_deletable(*s))
            .collect();
        for seg in &empty {
            state.schedule_delete(*seg, 0);
        }
        let written = rec.next_lsn - 1;
        let inner = Arc::new(Inner {
            storage,
            log_dir,
            policy: options.sync,
            segment_bytes: options.segment_bytes,
            max_record_bytes: options.max_record_bytes,
            max_unsynced_bytes: options.max_unsynced_bytes,
            state: Mutex::new(state),
            sync: Mutex::new(SyncState::new(written, !empty.is_empty())),
            wake: Condvar::new(),
            written: AtomicU64::new(written),
            durable: AtomicU64::new(written),
            counters: Counters::default(),
            _lock: lock,
        });
        let thread_inner = Arc::clone(&inner);
        let sync_thread = std::thread::Builder::new()
            .name("mqlite-store-sync".into())
            .spawn(move || crate::sync::run(&thread_inner))
            .map_err(io_at(&root))?;
        let mut report = rec.report;
        report.duration = start.elapsed();
        if report.is_clean() {
            tracing::info!("{report}");
        } else {
            tracing::warn!("{report}");
        }
        Ok((
            Log {
                inner,
                sync_thread: Some(sync_thread),
            },
            report,
        ))
    }

    /// Appends a record and returns its lsn (strictly greater than every earlier one). The
    /// record reaches the kernel before this returns; [`Log::commit`] makes it durable.
    ///
    /// # Errors
    /// [`AppendError::TooLarge`] above `max_record_bytes`, [`AppendError::ReservedKind`]
    /// for kinds 0xF0 to 0xFF, [`AppendError::Io`] if writing failed (nothing was
    /// appended; retry once the cause is gone), [`AppendError::NotDurable`] while syncs
    /// fail and too much waits for one.
    pub fn append(&self, kind: u8, payload: &[u8]) -> Result<Lsn, AppendError> {
        if kind >= FIRST_RESERVED_KIND {
            return Err(AppendError::ReservedKind { kind });
        }
        if payload.len() > self.inner.max_record_bytes {
            return Err(AppendError::TooLarge {
                size: payload.len(),
                max: self.inner.max_record_bytes,
            });
        }
        let (lsn, wake) = {
            let mut st = self.inner.state.lock();
            self.inner.write(&mut st, Some((kind, payload)))?
        };
        if wake {
            self.inner.request_work(true);
        }
        Ok(lsn.expect("a user record was written"))
    }

    /// Blocks until `lsn` and everything before it are durable under the log's
    /// [`SyncPolicy`]: fsynced for `Commit` (concurrent callers share one fsync), written
    /// for `Periodic` and `None` (already true when `append` returned).
    ///
    /// # Errors
    /// [`SyncError::Io`] if the fsync failed (the records were not made durable and must
    /// not be acknowledged; a later commit retries), [`SyncError::NotAppended`] for an lsn
    /// never appended.
    ///
    /// # Blocking
    /// Waits for the sync thread: never call it from a [`Log::when_durable`] callback.
    pub fn commit(&self, lsn: Lsn) -> Result<(), SyncError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.when_durable(
            lsn,
            Box::new(move |r| {
                // The receiver only goes away if this thread unwound; nothing to tell.
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(SyncError::Closed))
    }

    /// Same as [`Log::commit`].
    ///
    /// # Errors
    /// As [`Log::commit`].
    pub fn wait_durable(&self, lsn: Lsn) -> Result<(), SyncError> {
        self.commit(lsn)
    }

    /// Calls `done` once `lsn` is durable as [`Log::commit`] defines it, or with the error
    /// that prevented it; never blocks.
    ///
    /// `done` runs on the log's sync thread, or on the calling thread before this returns
    /// if the answer is already known (`lsn` durable, not appended, or the policy is not
    /// `Commit`). It must be quick and must not block on the log.
    pub fn when_durable(&self, lsn: Lsn, done: Callback) {
        let written = self.inner.written.load(Ordering::Acquire);
        if lsn.get() > written {
            done(Err(SyncError::NotAppended {
                lsn,
                last: Lsn::new(written),
            }));
            return;
        }
        if self.inner.policy != SyncPolicy::Commit {
            done(Ok(()));
            return;
        }
        let mut s = self.inner.sync.lock();
        if lsn.get() <= s.durable {
            drop(s);
            done(Ok(()));
            return;
        }
        s.requested = s.requested.max(lsn.get());
        s.waiters.push((lsn.get(), done));
        drop(s);
        self.inner.wake.notify_one();
    }

    /// Writes the releases still pending (see [`Log::release`]) and returns the last lsn
    /// written: committing it makes every earlier append and release durable.
    ///
    /// # Errors
    /// As [`Log::append`]; the releases stay pending.
    pub fn flush(&self) -> Result<Lsn, AppendError> {
        let wake = {
            let mut st = self.inner.state.lock();
            let wake = if st.pending_ranges.is_empty() {
                false
            } else {
                self.inner.write(&mut st, None)?.1
            };
            if st.next_lsn <= 1 {
                return Ok(Lsn::new(0));
            }
            (Lsn::new(st.next_lsn - 1), wake)
        };
        if wake.1 {
            self.inner.request_work(true);
        }
        Ok(wake.0)
    }

    /// Everything up to this lsn is fsynced, whatever the policy (0: nothing yet).
    pub fn durable_lsn(&self) -> Lsn {
        Lsn::new(self.inner.durable.load(Ordering::Acquire))
    }

    /// Reads the live record `lsn` from disk.
    ///
    /// # Errors
    /// [`ReadError::NotFound`] if no live record has this lsn, [`ReadError::Corrupt`] if its
    /// bytes no longer match their checksum, [`ReadError::Io`].
    pub fn read(&self, lsn: Lsn) -> Result<Record, ReadError> {
        let (file, loc) = {
            let st = self.inner.state.lock();
            let loc = *st
                .books
                .index
                .get(&lsn.get())
                .ok_or(ReadError::NotFound(lsn))?;
            let seg = st
                .books
                .segments
                .get(&loc.seg)
                .ok_or(ReadError::NotFound(lsn))?;
            (Arc::clone(&seg.file), loc)
        };
        crate::write::read_at(&*file, lsn, loc)
    }

    /// Marks a record dead (acknowledged, replaced, expired); `false` if it was not live.
    ///
    /// A sealed segment left with no live record is deleted in the background once that is
    /// safe. The release itself is written (as a small record of the log's own) ahead of
    /// the next append, and is durable once a later lsn is committed: until then a crash
    /// may bring the record back at the next open.
    pub fn release(&self, lsn: Lsn) -> bool {
        let (released, wake) = self.inner.release(lsn.get());
        if wake {
            self.inner.request_work(false);
        }
        released
    }

    /// Copies the live records of every sealed segment whose live bytes are at most
    /// `max_live_ratio` of its size to the head of the log, and deletes those segments
    /// once the copies are durable. Returns `(old lsn, new lsn)` for each record copied, so
    /// the caller can update its references; the old lsns are released.
    ///
    /// # Errors
    /// [`CompactError`] with the records copied so far, if reading or appending failed.
    pub fn compact(&self, max_live_ratio: f64) -> Result<Vec<(Lsn, Lsn)>, CompactError> {
        let result = self.inner.compact(max_live_ratio);
        self.inner.request_work(true);
        result
    }

    /// A snapshot of the log's figures.
    pub fn stats(&self) -> LogStats {
        let mut s = LogStats::default();
        {
            let st = self.inner.state.lock();
            s.bytes_on_disk = st.books.segments.values().map(|s| s.len).sum();
            s.segments = st.books.segments.len();
            s.live_records = st.books.index.len();
            s.next_lsn = st.next_lsn;
        }
        self.inner.counters.fill(&mut s);
        s.durable_lsn = self.inner.durable.load(Ordering::Acquire);
        s
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.inner.log_dir)
            .field("policy", &self.inner.policy)
            .field("durable_lsn", &self.durable_lsn())
            .finish_non_exhaustive()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        {
            let mut st = self.inner.state.lock();
            if !st.pending_ranges.is_empty() {
                // Best effort: an unwritten release only means the record comes back.
                let _ = self.inner.write(&mut st, None);
            }
        }
        self.inner.sync.lock().shutdown = true;
        self.inner.wake.notify_one();
        if let Some(t) = self.sync_thread.take() {
            // A panic of the sync thread was already reported by the panic hook.
            let _ = t.join();
        }
    }
}
