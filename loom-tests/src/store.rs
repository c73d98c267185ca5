//! A test [`Store`] for the durable-mode models: its state ([`Disk`]) is a loom `Mutex` and
//! `Condvar`, shared with the model, which reads what was appended and released.
//!
//! Syncs: while setting up, `commit` makes a ticket durable at once. From
//! `Log::background` on, only [`Disk::sync_once`] does (the store's syncer, a loom thread
//! the model spawns, as a group-commit store's fsync thread): `when_durable` calls back
//! inline when the ticket is already durable (or a sync already failed), otherwise it
//! queues the callback for the syncer. With `Log::spawn_callbacks`, `when_durable` instead
//! hands every callback to a new loom thread at once.

use std::fmt;

use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
use mqlite::{
    Broker, Client, ConnectOptions, ManualClock, NEVER_EXPIRE, QoS, Store, StoreError, StoreStats,
    StoredRecord, Ticket,
};

use crate::fixtures::{config, connect};

/// Record kind of a session, as core's journal writes it (`core/src/journal/records.rs`).
pub const SESSION: u8 = 1;
/// Record kind of a queued delivery.
pub const DELIVERY: u8 = 2;
/// Record kind of a QoS 2 delivery's `Sent` step.
pub const SENT: u8 = 3;

/// The callback of [`Store::when_durable`].
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What the store holds and did.
#[derive(Default)]
pub struct Log {
    /// The kind of ticket `t` at `t - 1`.
    kinds: Vec<u8>,
    /// How many times ticket `t` was released, at `t - 1`.
    released: Vec<u32>,
    /// The last ticket written by `flush`.
    flushed: Ticket,
    /// The last ticket durable.
    durable: Ticket,
    /// Syncs are the syncer's ([`Disk::sync_once`]), no longer `commit`'s.
    pub background: bool,
    /// The syncer's fsync fails (and every later `when_durable` gets the error).
    pub failing: bool,
    failed: bool,
    /// Callbacks waiting for the syncer.
    waiters: Vec<(Ticket, Done)>,
    /// `when_durable` calls back from a new loom thread (unjoined), whatever is durable.
    pub spawn_callbacks: bool,
    /// Callbacks run inline, in `when_durable`.
    pub inline_callbacks: usize,
    /// Callbacks handed to a new thread.
    pub spawned_callbacks: usize,
    /// Callbacks run by the syncer.
    pub syncer_callbacks: usize,
    /// The model is shutting the broker down: from now on only a delivery's records may be
    /// released (by a racing acknowledgement); `release` checks it.
    pub shutdown_began: bool,
    /// The broker dropped its store.
    pub dropped: bool,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("kinds", &self.kinds)
            .field("released", &self.released)
            .field("durable", &self.durable)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

impl Log {
    fn last(&self) -> Ticket {
        self.kinds.len() as Ticket
    }

    fn index(ticket: Ticket) -> usize {
        usize::try_from(ticket - 1).expect("a ticket fits usize")
    }

    /// The kind of record `ticket`.
    pub fn kind(&self, ticket: Ticket) -> u8 {
        self.kinds[Self::index(ticket)]
    }

    /// How many times record `ticket` was released.
    pub fn released_count(&self, ticket: Ticket) -> u32 {
        self.released[Self::index(ticket)]
    }

    /// The records of `kind` never released, in ticket order.
    pub fn live(&self, kind: u8) -> Vec<Ticket> {
        (1..=self.last())
            .filter(|&t| self.kind(t) == kind && self.released_count(t) == 0)
            .collect()
    }

    /// The last ticket made durable.
    pub fn durable(&self) -> Ticket {
        self.durable
    }

    /// Whether a callback still waits for the syncer.
    pub fn has_waiters(&self) -> bool {
        !self.waiters.is_empty()
    }

    fn result(&self) -> Result<(), StoreError> {
        if self.failed {
            Err(StoreError::Io("fsync failed".into()))
        } else {
            Ok(())
        }
    }
}

/// The store's state, shared by the broker's [`Store`] and the model.
#[derive(Default)]
pub struct Disk {
    log: Mutex<Log>,
    /// Signalled by `flush` in background mode: the syncer has work.
    flushed: Condvar,
}

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Disk")
    }
}

impl Disk {
    /// The log, locked.
    ///
    /// # Panics
    ///
    /// If another thread panicked while holding it (the model has failed anyway).
    pub fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("the log's lock is not poisoned")
    }

    /// The syncer: waits for a flush past what is durable, makes it durable (or fails),
    /// then runs the callbacks it covers, with no lock held.
    ///
    /// # Panics
    ///
    /// As [`Disk::log`].
    pub fn sync_once(&self) {
        let (due, result) = {
            let mut log = self.log();
            while log.flushed <= log.durable {
                log = self.flushed.wait(log).expect("not poisoned");
            }
            if log.failing {
                log.failed = true;
            } else {
                log.durable = log.flushed;
            }
            let flushed = log.flushed;
            let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut log.waiters)
                .into_iter()
                .partition(|(t, _)| *t <= flushed);
            log.waiters = rest;
            log.syncer_callbacks += due.len();
            (due, log.result())
        };
        for (_, done) in due {
            done(result.clone());
        }
    }
}

/// The broker's store: a handle on the shared [`Disk`].
struct TestStore(Arc<Disk>);

impl fmt::Debug for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TestStore")
    }
}

impl TestStore {
    /// The log, checking that the store was not dropped (it cannot have been: `&self`).
    fn log(&self) -> MutexGuard<'_, Log> {
        let log = self.0.log();
        assert!(
            !log.dropped,
            "a call reached the store after it was dropped"
        );
        log
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        self.0.log().dropped = true;
    }
}

impl Store for TestStore {
    fn append(&self, kind: u8, _record: &[u8]) -> Result<Ticket, StoreError> {
        let mut log = self.log();
        log.kinds.push(kind);
        log.released.push(0);
        Ok(log.last())
    }

    fn release(&self, ticket: Ticket) {
        let mut log = self.log();
        assert!(
            (1..=log.last()).contains(&ticket),
            "released unknown {ticket}"
        );
        let kind = log.kind(ticket);
        assert!(
            !log.shutdown_began || kind == DELIVERY || kind == SENT,
            "shutdown released record {ticket} (kind {kind}): what is in memory must stay on disk"
        );
        let count = &mut log.released[Log::index(ticket)];
        *count += 1;
        assert_eq!(*count, 1, "record {ticket} (kind {kind}) released twice");
    }

    fn flush(&self) -> Result<Ticket, StoreError> {
        let mut log = self.log();
        log.flushed = log.last();
        if log.background {
            self.0.flushed.notify_all();
        }
        Ok(log.flushed)
    }

    fn commit(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut log = self.log();
        assert!(!log.background, "the models commit only while setting up");
        log.durable = log.durable.max(ticket);
        Ok(())
    }

    fn when_durable(&self, ticket: Ticket, done: Done) {
        let result = {
            let mut log = self.log();
            if log.spawn_callbacks {
                log.spawned_callbacks += 1;
                drop(log);
                loom::thread::spawn(move || done(Ok(())));
                return;
            }
            if ticket > log.durable && !log.failed {
                log.waiters.push((ticket, done));
                return;
            }
            log.inline_callbacks += 1;
            log.result()
        };
        // Inline, on the caller's thread, with the lock released.
        done(result);
    }

    fn read(&self, ticket: Ticket) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::Io(format!("read of {ticket}: not kept")))
    }

    fn recovered(&self) -> Vec<StoredRecord> {
        Vec::new()
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// A durable broker over a new [`Disk`], on a manual clock.
pub fn durable_broker() -> (Broker, Arc<Disk>) {
    let disk = Arc::new(Disk::default());
    let broker = Broker::builder()
        .config(config())
        .clock(std::sync::Arc::new(ManualClock::new()))
        .store(TestStore(disk.clone()))
        .build();
    (broker, disk)
}

/// A persistent client `subscriber` (never expires) subscribed to `t` at `qos`.
///
/// # Panics
///
/// If the broker refuses it.
pub fn persistent_subscriber(broker: &Broker, qos: QoS) -> Client {
    let options = ConnectOptions::new("subscriber")
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE);
    let subscriber = connect(broker, options);
    subscriber
        .subscribe("t", qos)
        .expect("subscribe the persistent subscriber");
    subscriber
}
