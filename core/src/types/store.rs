//! The storage interface of durable mode: the [`Store`] trait an embedder (or the
//! `mqlite-store` crate) implements, its errors and statistics, and [`Persisted`], the
//! handle that keeps a record alive while something in memory still needs it.
//!
//! Core encodes its own records (`journal/`) and never touches a file: a store is an
//! append-only log of opaque, checksummed records with group commit.

use std::fmt;
use std::time::Duration;

use crate::sync::{AtomicU64, Mutex, Ordering, RwLock, ValueArc, ValueWeak};

/// A position in a [`Store`]: strictly increasing in append order (0: nothing).
pub type Ticket = u64;

/// What a durable store does for the broker: append records, release them once dead, and
/// make them durable with group commit. `mqlite-store`'s `Persistence` is the shipped
/// implementation; an embedder may plug another.
///
/// A record is live from `append` until `release`; [`Store::recovered`] returns, at start,
/// exactly the records that were live (and readable) when the process last stopped.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Appends a record of `kind` (below 0xF0) and returns its ticket. The record must
    /// survive a crash of the process once this returns (it reached the kernel), and a power
    /// loss once [`Store::commit`] of a ticket at or after it has returned.
    ///
    /// # Errors
    /// [`StoreError`] if it could not be written; nothing was appended.
    fn append(&self, kind: u8, record: &[u8]) -> Result<Ticket, StoreError>;

    /// Appends a record of `kind` whose bytes `encode` appends to the buffer it is given, and
    /// returns its ticket: the same as [`Store::append`] of those bytes, but a store may
    /// hand `encode` a buffer of its own that it reuses, so the broker encodes a record
    /// without allocating for it. `encode` only appends to the `Vec` (it is called once,
    /// with the buffer empty). The default encodes into a new `Vec` and calls
    /// [`Store::append`].
    ///
    /// # Errors
    /// As [`Store::append`].
    fn append_with(
        &self,
        kind: u8,
        encode: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<Ticket, StoreError> {
        let mut record = Vec::new();
        encode(&mut record);
        self.append(kind, &record)
    }

    /// Marks a record dead. It may come back after a crash until a later ticket is
    /// committed or [`Store::flush`] is called.
    fn release(&self, ticket: Ticket);

    /// Writes what [`Store::release`] left pending and returns the last ticket written, so
    /// committing it makes every earlier append and release durable.
    ///
    /// # Errors
    /// [`StoreError`] if writing failed.
    fn flush(&self) -> Result<Ticket, StoreError>;

    /// Blocks until `ticket` and everything before it are durable under the store's sync
    /// policy. Concurrent callers share one sync (group commit).
    ///
    /// # Errors
    /// [`StoreError`] if the sync failed: the records must not be acknowledged.
    fn commit(&self, ticket: Ticket) -> Result<(), StoreError>;

    /// Calls `done` once `ticket` is durable (or with the error that prevented it); never
    /// blocks. `done` may run on another thread, or on this one before this returns.
    fn when_durable(&self, ticket: Ticket, done: Box<dyn FnOnce(Result<(), StoreError>) + Send>);

    /// Reads back the bytes of live record `ticket` (a payload left on disk).
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be read (gone, corrupt, I/O).
    fn read(&self, ticket: Ticket) -> Result<Vec<u8>, StoreError>;

    /// Takes the records found live when the store was opened, in ticket order (once: later
    /// calls return nothing).
    fn recovered(&self) -> Vec<StoredRecord>;

    /// A snapshot of the store's figures.
    fn stats(&self) -> StoreStats;
}

/// One record read back at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its ticket.
    pub ticket: Ticket,
    /// The kind given to [`Store::append`].
    pub kind: u8,
    /// The bytes given to [`Store::append`].
    pub payload: Vec<u8>,
}

/// Why a store could not append or make records durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk is full, or too much waits for a sync that keeps failing.
    #[error("store is full: {0}")]
    Full(String),
    /// Writing or syncing failed.
    #[error("store i/o error: {0}")]
    Io(String),
    /// The record is larger than the store accepts.
    #[error("record of {size} bytes exceeds the store's limit ({max})")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The store was closed.
    #[error("store is closed")]
    Closed,
}

/// A snapshot of a store's figures (all zero in memory mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// Bytes in the store's files.
    pub bytes_on_disk: u64,
    /// Live records.
    pub live_records: u64,
    /// Records written since start.
    pub records_written: u64,
    /// Bytes written since start.
    pub bytes_written: u64,
    /// Successful fsyncs since start.
    pub fsyncs: u64,
    /// Failed syncs or writes since start.
    pub errors: u64,
    /// Mean duration of an fsync.
    pub fsync_mean: Duration,
    /// Longest fsync.
    pub fsync_max: Duration,
    /// Time opening the store took (reading and checking every record).
    pub recovery_time: Duration,
    /// Records found live at start.
    pub records_recovered: u64,
    /// Records at start that could not be read or used (damaged, or not understood).
    pub records_discarded: u64,
    /// Bytes at start that could not be read and were moved aside.
    pub bytes_discarded: u64,
}

/// The broker's handle on its store: the store (until the broker has shut down, when it is
/// dropped so that its directory can be opened again at once) and whether the broker is
/// shutting down (from then on nothing is released: what is in memory stays on disk).
#[derive(Debug)]
pub(crate) struct StoreHandle {
    store: RwLock<Option<Box<dyn Store>>>,
    /// 1 once the broker shuts down. Relaxed: read only to skip releases.
    closed: AtomicU64,
}

impl StoreHandle {
    pub(crate) fn new(store: Box<dyn Store>) -> Self {
        Self {
            store: RwLock::new(Some(store)),
            closed: AtomicU64::new(0),
        }
    }

    /// From now on releases are skipped.
    pub(crate) fn close(&self) {
        self.closed.store(1, Ordering::Relaxed);
    }

    /// Drops the store (after [`StoreHandle::close`]): every later call fails with
    /// [`StoreError::Closed`].
    pub(crate) fn drop_store(&self) {
        let store = self.store.write().take();
        drop(store);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) == 1
    }

    /// Runs `f` on the store, or fails with [`StoreError::Closed`] once it is dropped.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &*self.store.read() {
            Some(store) => f(&**store),
            None => Err(StoreError::Closed),
        }
    }

    pub(crate) fn release(&self, ticket: Ticket) {
        if !self.is_closed()
            && let Some(store) = &*self.store.read()
        {
            store.release(ticket);
        }
    }
}

std::thread_local! {
    /// Changes made to a store by this thread (appends, and releases an answer
    /// acknowledges, in any broker's store). Per thread, not shared state: nothing for the
    /// `sync` facade to model.
    static CHANGES_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts one change made by the calling thread: an append, or a release that an answer
/// acknowledges.
pub(crate) fn count_change_here() {
    CHANGES_HERE.with(|c| c.set(c.get().wrapping_add(1)));
}

/// How many changes the calling thread has made to stores so far. A transport compares it
/// before and after handling a packet on its thread: every record an answer depends on is
/// appended by the thread that handles the packet, and so is every release an answer
/// acknowledges (counted by the caller with [`count_change_here`]: a PUBACK for a retained
/// message cleared, a PUBCOMP for an incoming QoS 2 id released, a CONNACK for a clean
/// start that discarded a session). A change there means the answer waits for the next
/// durable point, which writes pending releases too. Other releases (a subscriber's
/// acknowledgement) hold nothing, nor do another thread's changes.
pub(crate) fn changes_here() -> u64 {
    CHANGES_HERE.with(std::cell::Cell::get)
}

/// Records that describe one thing in memory (a queued delivery and its in-flight steps, a
/// session, a retained message): released when the last clone of the handle is dropped,
/// unless the broker is shutting down. The store is held weakly: a message an application
/// keeps after its broker is gone does not keep the store (and its directory lock) open.
pub(crate) struct Persisted {
    handle: ValueWeak<StoreHandle>,
    /// What other records name it by (a delivery's id; 0 for others).
    key: u64,
    /// The record of the thing itself, kept inline: most things have no other record, and
    /// a delivery then costs no allocation here beyond the handle itself.
    first: Ticket,
    /// Records that live and die with the first (a QoS 2 delivery's steps).
    more: Mutex<Vec<Ticket>>,
}

impl fmt::Debug for Persisted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persisted")
            .field("first", &self.first)
            .field("more", &*self.more.lock())
            .finish()
    }
}

impl Persisted {
    /// A handle on record `ticket`.
    pub(crate) fn new(handle: &ValueArc<StoreHandle>, ticket: Ticket, key: u64) -> ValueArc<Self> {
        ValueArc::new(Self {
            handle: ValueArc::downgrade(handle),
            key,
            first: ticket,
            more: Mutex::new(Vec::new()),
        })
    }

    /// What other records name it by.
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// Adds a record that lives and dies with the first.
    pub(crate) fn push(&self, ticket: Ticket) {
        self.more.lock().push(ticket);
    }

    /// Gives up the last handle on a single record without releasing it, and returns its
    /// ticket: its new holder (a session's spilled queue entry) releases it itself. `Err`
    /// with the handle back if it has other copies or more than one record.
    pub(crate) fn into_ticket(this: ValueArc<Self>) -> Result<Ticket, ValueArc<Self>> {
        let mut persisted = ValueArc::try_unwrap(this)?;
        if !persisted.more.lock().is_empty() {
            return Err(ValueArc::new(persisted));
        }
        // Zeroed (no record), so that the drop below releases nothing.
        Ok(std::mem::take(&mut persisted.first))
    }
}

impl Drop for Persisted {
    fn drop(&mut self) {
        let Some(handle) = self.handle.upgrade() else {
            return;
        };
        // 0: given up by `into_ticket`.
        if self.first != 0 {
            handle.release(self.first);
        }
        for &ticket in self.more.lock().iter() {
            handle.release(ticket);
        }
    }
}
