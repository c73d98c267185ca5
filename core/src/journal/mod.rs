//! Layer 2: the journal of durable mode. Encodes every change of durable state as a record
//! (`records.rs`), appends it to the broker's [`Store`](crate::Store), and at start reads the
//! records back into what the layers above rebuild (`recover.rs`).
//!
//! Not here: the store itself (the `Store` trait is a value type; `mqlite-store` implements
//! it), deciding *when* to record (the session, router and engine call in at the changes
//! they own), and waiting for durability (the engine and the transports).
//!
//! | file | what lives there |
//! | --- | --- |
//! | `mod.rs` | [`Journal`]: appends, group-commit points, failure counting |
//! | `codec.rs` | the byte primitives |
//! | `records.rs` | the record kinds and their bytes |
//! | `recover.rs` | reading the records back at start |

mod codec;
pub(crate) mod records;
mod recover;

pub(crate) use recover::{Recovered, RecoveredSession};

use std::fmt;

use crate::sync::{AtomicU64, Mutex, Ordering, ValueArc};
use crate::types::store::{Persisted, Store, StoreError, StoreHandle, StoreStats, Ticket};
use records::{Record, TimeBase};

/// The broker's journal: its store, the time base of its records and its counters.
pub(crate) struct Journal {
    handle: ValueArc<StoreHandle>,
    time: TimeBase,
    /// The number the next new persistent session gets. Relaxed: a counter.
    next_session: AtomicU64,
    /// The id the next recorded delivery gets. Relaxed: a counter.
    next_delivery: AtomicU64,
    /// Appends or syncs that failed. Relaxed: compared before and after an operation.
    failures: AtomicU64,
    /// Figures of the start (recovery), added to the store's own.
    recovery: StoreStats,
    /// The store's last figures, taken as it was dropped at shutdown.
    last: Mutex<Option<StoreStats>>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("store", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal over `store`; `time` fixes the clock's relation to Unix time for this run.
    pub(crate) fn new(store: Box<dyn Store>, time: TimeBase) -> Self {
        Self {
            handle: ValueArc::new(StoreHandle::new(store)),
            time,
            next_session: AtomicU64::new(1),
            next_delivery: AtomicU64::new(1),
            failures: AtomicU64::new(0),
            recovery: StoreStats::default(),
            last: Mutex::new(None),
        }
    }

    /// The time base of this run.
    pub(crate) fn time(&self) -> TimeBase {
        self.time
    }

    /// A number for a new persistent session.
    pub(crate) fn new_session_no(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Appends `record`.
    pub(crate) fn append(&self, record: &Record) -> Result<Ticket, StoreError> {
        let (kind, bytes) = record.encode(self.time);
        crate::types::store::count_change_here();
        self.handle
            .with(|s| s.append(kind, &bytes))
            .inspect_err(|_| self.fail())
    }

    /// The delivery whose record is `ticket`, read back from the store whole and tied to
    /// its record again (a session's queue left it on disk); `None` if it cannot be read.
    pub(crate) fn read_delivery(&self, ticket: Ticket) -> Option<crate::types::message::Delivery> {
        let bytes = self.handle.with(|s| s.read(ticket)).ok()?;
        let Record::Delivery(record) = Record::decode(records::DELIVERY, &bytes, self.time)? else {
            return None;
        };
        let mut delivery = record.delivery;
        // What only the publish of this run knew: its incoming QoS 2 id and publisher.
        if let Some(tag) = record.tag.filter(|t| t.epoch == self.time.epoch()) {
            delivery.publication.inbound_id = tag.packet_id;
            delivery.publication.origin = std::num::NonZeroU32::new(tag.key);
        }
        delivery.set_persisted(Persisted::new(&self.handle, ticket, record.id));
        Some(delivery)
    }

    /// Releases record `ticket` (one a session held by its ticket alone), unless the broker
    /// is shutting down.
    pub(crate) fn release(&self, ticket: Ticket) {
        self.handle.release(ticket);
    }

    /// An id for a new delivery record.
    pub(crate) fn new_delivery_id(&self) -> u64 {
        self.next_delivery.fetch_add(1, Ordering::Relaxed)
    }

    /// Appends `record` and returns the handle that releases it when dropped; other records
    /// name it by `key`.
    pub(crate) fn persist(
        &self,
        record: &Record,
        key: u64,
    ) -> Result<ValueArc<Persisted>, StoreError> {
        let ticket = self.append(record)?;
        Ok(Persisted::new(&self.handle, ticket, key))
    }

    /// Appends the record of `delivery`, queued for session `session` with id `id` (see
    /// [`records::DeliveryRecord`]), and returns the handle that releases it when dropped:
    /// as [`Journal::persist`] of a `Record::Delivery`, without cloning the delivery.
    pub(crate) fn persist_delivery(
        &self,
        session: u64,
        id: u64,
        tag: Option<records::InboundTag>,
        delivery: &crate::types::message::Delivery,
    ) -> Result<ValueArc<Persisted>, StoreError> {
        crate::types::store::count_change_here();
        let time = self.time;
        let ticket = self
            .handle
            .with(|s| {
                s.append_with(records::DELIVERY, &mut |buf| {
                    records::encode_delivery_into(buf, session, id, tag, delivery, time);
                })
            })
            .inspect_err(|_| self.fail())?;
        Ok(Persisted::new(&self.handle, ticket, id))
    }

    /// Appends `record` to live and die with `owner`.
    pub(crate) fn attach_to(&self, owner: &Persisted, record: &Record) -> Result<(), StoreError> {
        owner.push(self.append(record)?);
        Ok(())
    }

    fn fail(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Failed appends and syncs so far: an operation that sees it change did not become
    /// durable and must not be acknowledged.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Writes pending releases and returns the ticket that, once durable, makes everything
    /// recorded so far durable.
    pub(crate) fn sync_point(&self) -> Result<Ticket, StoreError> {
        self.handle.with(|s| s.flush()).inspect_err(|_| self.fail())
    }

    /// Blocks until everything recorded so far is durable (group commit with every other
    /// thread that waits).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let ticket = self.sync_point()?;
        // Holds the store's read lock while it waits: shutdown drops the store after it.
        self.handle
            .with(|s| s.commit(ticket))
            .inspect_err(|_| self.fail())
    }

    /// Calls `done` once `ticket` is durable.
    pub(crate) fn when_durable(
        &self,
        ticket: Ticket,
        done: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    ) {
        let mut done = Some(done);
        let _ = self.handle.with(|s| {
            if let Some(done) = done.take() {
                s.when_durable(ticket, done);
            }
            Ok(())
        });
        // The store is gone: nothing will become durable.
        if let Some(done) = done {
            done(Err(StoreError::Closed));
        }
    }

    /// The broker shuts down: nothing is released from now on, so what is in memory stays
    /// on disk for the next start.
    pub(crate) fn close(&self) {
        self.handle.close();
    }

    /// Counts a release that an answer acknowledges (see
    /// [`crate::types::store::changes_here`]): the answer then waits for the next durable
    /// point, which writes pending releases.
    pub(crate) fn note_release(&self) {
        crate::types::store::count_change_here();
    }

    /// Whether [`Journal::close`] was called (releases are skipped from then on).
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// The broker has shut down: the store is dropped (its directory may be opened again).
    pub(crate) fn drop_store(&self) {
        if let Ok(last) = self.handle.with(|s| Ok(s.stats())) {
            *self.last.lock() = Some(last);
        }
        self.handle.drop_store();
    }

    /// The store's figures with those of the start.
    pub(crate) fn stats(&self) -> StoreStats {
        let mut s = self
            .handle
            .with(|s| Ok(s.stats()))
            .unwrap_or_else(|_| (*self.last.lock()).unwrap_or_default());
        s.records_recovered = self.recovery.records_recovered;
        s.records_discarded += self.recovery.records_discarded;
        s.errors = s.errors.max(self.failures());
        s
    }
}
