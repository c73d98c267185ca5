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

/// [`Log::append_with`] keeps its encoding buffer between appends up to this capacity.
const SCRATCH_KEEP_BYTES: usize = 64 << 10;

/// A crash-safe, checksummed, segmented append-only log of opaque records.
///
/// `Log` is `Send + Sync`: share it (`Arc<Log>` or scoped threads) between appenders and
/// committers. Appends are buffered in memory and written to the kernel, in one write, by
/// the next [`Log::flush`], [`Log::commit`] or [`Log::when_durable`] (or once the buffer holds
/// `write_buffer_bytes`); a process crash loses only what was appended after the last of
/// them, which was never acknowledged. Dropping it
/// writes pending releases and the buffer, runs a last sync (unless [`SyncPolicy::None`]),
/// stops the sync thread and releases the directory lock.
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
    /// The write buffer is written once it holds this many bytes (0: at every append).
    pub(crate) write_buffer_bytes: usize,
    pub(crate) state: Mutex<State>,
    pub(crate) sync: Mutex<SyncState>,
    /// Wakes the sync thread; waited on with `sync`.
    pub(crate) wake: Condvar,
    /// The last lsn written to the kernel; later ones (up to `State::next_lsn - 1`) are in
    /// the write buffer (Release store under `state`, pairs with the Acquire loads of the
    /// commit path).
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
    /// The write buffer: encoded records appended but not yet written, from lsn
    /// `Inner::written + 1` to `next_lsn - 1`. They belong to the head segment, at its
    /// length onwards (their index entries already say so); written in one write by a
    /// flush, a commit, a full buffer or a sync round, kept after a failed write.
    pub(crate) wbuf: Vec<u8>,
    /// The buffer [`Log::append_with`] encodes records into, kept between appends.
    pub(crate) scratch: Vec<u8>,
    /// The last write of the buffer failed: appends write through (and fail at once while
    /// the cause lasts, so each refused record is refused at its append) until one succeeds.
    pub(crate) write_failed: bool,
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
            wbuf: Vec::new(),
            scratch: Vec::new(),
            write_failed: false,
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
            write_buffer_bytes: options.write_buffer_bytes,
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

    /// Appends a record and returns its lsn (strictly greater than every earlier one).
    ///
    /// The record is copied into the log's write buffer: it reaches the kernel (and
    /// survives a crash of the process) at the next [`Log::flush`], [`Log::commit`] or
    /// [`Log::when_durable`], or here once the buffer holds `write_buffer_bytes`
    /// ([`LogOptions::write_buffer_bytes`]; with 0, before this returns). [`Log::commit`]
    /// makes it durable. [`Log::read`] sees it at once.
    ///
    /// # Errors
    /// [`AppendError::TooLarge`] above `max_record_bytes`, [`AppendError::ReservedKind`]
    /// for kinds 0xF0 to 0xFF, [`AppendError::Io`] if writing the buffer failed (this
    /// record was not appended; the records buffered before it stay buffered for the next
    /// flush; retry once the cause is gone), [`AppendError::NotDurable`] while syncs fail
    /// and too much waits for one.
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

    /// Appends a record of `kind` whose payload `encode` appends to the (empty) buffer it is
    /// given: the same as [`Log::append`] of those bytes, encoded into a buffer the log
    /// reuses (under its lock) instead of one the caller allocates.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_with(
        &self,
        kind: u8,
        encode: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<Lsn, AppendError> {
        if kind >= FIRST_RESERVED_KIND {
            return Err(AppendError::ReservedKind { kind });
        }
        let (lsn, wake) = {
            let mut st = self.inner.state.lock();
            let mut payload = std::mem::take(&mut st.scratch);
            payload.clear();
            encode(&mut payload);
            let result = if payload.len() > self.inner.max_record_bytes {
                Err(AppendError::TooLarge {
                    size: payload.len(),
                    max: self.inner.max_record_bytes,
                })
            } else {
                self.inner.write(&mut st, Some((kind, &payload)))
            };
            // Keep the buffer for the next record, unless one huge record grew it.
            if payload.capacity() <= SCRATCH_KEEP_BYTES {
                st.scratch = payload;
            }
            result?
        };
        if wake {
            self.inner.request_work(true);
        }
        Ok(lsn.expect("a user record was written"))
    }

    /// Blocks until `lsn` and everything before it are durable under the log's
    /// [`SyncPolicy`]: fsynced for `Commit` (concurrent callers share one fsync), written
    /// to the kernel for `Periodic` and `None`. If `lsn` is still in the write buffer, the
    /// buffer is written first.
    ///
    /// # Errors
    /// [`SyncError::Io`] if writing the buffer or the fsync failed (the records were not
    /// made durable and must not be acknowledged; a later commit retries),
    /// [`SyncError::NotAppended`] for an lsn never appended.
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
    /// If `lsn` is still in the write buffer, the buffer is written first, on the calling
    /// thread. `done` runs on the log's sync thread, or on the calling thread before this
    /// returns if the answer is already known (`lsn` durable, not appended, the buffer
    /// could not be written, or the policy is not `Commit`). It must be quick and must not
    /// block on the log.
    pub fn when_durable(&self, lsn: Lsn, done: Callback) {
        let written = self.inner.written.load(Ordering::Acquire);
        if lsn.get() > written {
            let (result, wake) = {
                let mut st = self.inner.state.lock();
                if lsn.get() >= st.next_lsn {
                    (
                        Err(SyncError::NotAppended {
                            lsn,
                            last: Lsn::new(st.next_lsn - 1),
                        }),
                        false,
                    )
                } else if lsn.get() > self.inner.written.load(Ordering::Acquire) {
                    match self.inner.write_buffer(&mut st) {
                        Ok(wake) => (Ok(()), wake),
                        Err(e) => (Err(SyncError::Io(Arc::new(e))), false),
                    }
                } else {
                    (Ok(()), false)
                }
            };
            if wake {
                self.inner.request_work(true);
            }
            if let Err(e) = result {
                done(Err(e));
                return;
            }
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

    /// Writes the releases still pending (see [`Log::release`]) and the write buffer, in
    /// one write, and returns the last lsn written: every earlier append and release has
    /// reached the kernel (survives a crash of the process), and committing it makes them
    /// durable.
    ///
    /// # Errors
    /// [`AppendError::Io`] if the write failed: the file is cut back, and the releases and
    /// buffered records are kept, in order, for the next flush (none of them may be
    /// acknowledged until one succeeds); [`AppendError::NotDurable`] as for
    /// [`Log::append`].
    pub fn flush(&self) -> Result<Lsn, AppendError> {
        let wake = {
            let mut st = self.inner.state.lock();
            let mut wake = if st.pending_ranges.is_empty() {
                false
            } else {
                self.inner.write(&mut st, None)?.1
            };
            wake |= self.inner.write_buffer(&mut st).map_err(AppendError::Io)?;
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

    /// Reads the live record `lsn` from disk, or from the write buffer if it is still there.
    ///
    /// # Errors
    /// [`ReadError::NotFound`] if no live record has this lsn, [`ReadError::Corrupt`] if its
    /// bytes no longer match their checksum, [`ReadError::Io`].
    pub fn read(&self, lsn: Lsn) -> Result<Record, ReadError> {
        let (file, loc) = {
            let st = self.inner.state.lock();
            let loc = st
                .books
                .index
                .get(lsn.get())
                .ok_or(ReadError::NotFound(lsn))?;
            let seg = st
                .books
                .segments
                .get(&loc.seg)
                .ok_or(ReadError::NotFound(lsn))?;
            if loc.offset >= seg.len {
                // Buffered: the buffer starts at the head segment's length.
                let start = usize::try_from(loc.offset - seg.len).unwrap_or(usize::MAX);
                let bytes = start
                    .checked_add(loc.len as usize)
                    .and_then(|end| st.wbuf.get(start..end))
                    .ok_or(ReadError::Corrupt { lsn })?;
                return crate::write::decode_at(bytes, lsn);
            }
            (Arc::clone(&seg.file), loc)
        };
        crate::write::read_at(&*file, lsn, loc)
    }

    /// Marks a record dead (acknowledged, replaced, expired); `false` if it was not live.
    ///
    /// A sealed segment left with no live record is deleted in the background once that is
    /// safe. The release itself is written (as a small record of the log's own) ahead of
    /// the next append, reaches the kernel with it at the next flush, and is durable once
    /// a later lsn is committed: until then a crash may bring the record back at the next
    /// open.
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
    /// the caller can update its references; the old lsns are released. The write buffer is
    /// written first, and the copies are written before this returns.
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
            // Best effort too: a buffered record was never acknowledged (every
            // acknowledgement waits for a flush or commit, which writes the buffer).
            if let Err(e) = self.inner.write_buffer(&mut st) {
                tracing::warn!("store: buffered records lost at close: {e}");
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
