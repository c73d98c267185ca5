//! The spilled tail of a persistent session's queue (durable mode): once a queue holds
//! [`SPILL_AFTER_BYTES`](super::durable::SPILL_AFTER_BYTES) of deliveries, further ones
//! wait here, after everything in the channel, as 16-byte entries that name their record
//! (which holds the whole delivery) instead of as deliveries; each is read back and decoded
//! when it is taken. A queue far larger than memory so costs about 16–32 bytes per message
//! in the session (plus the store's own index), not the ~400 of a delivery.
//!
//! The tail lives under the session's lock. While it is not empty, every new delivery goes
//! to it (`Session::spilling` tells the lock-free publish path so), so it stays in order
//! after the channel; the consumer takes from it once the channel is empty. Not here: the
//! channel and its room accounting (`queue.rs`), recording deliveries (`durable.rs`).

use std::collections::VecDeque;

use super::Session;
use super::queue::Tail;
use crate::journal::Journal;
use crate::sync::{Ordering, ValueWeak};
use crate::types::message::Delivery;
use crate::types::store::{Persisted, Ticket};

/// `Entry::OnDisk::flags`: it came through a shared subscription (`drain_shared` reads it).
const SHARED: u8 = 1;
/// `Entry::OnDisk::flags`: it is sent with DUP set.
const DUP: u8 = 2;

/// One delivery in the tail.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Left on disk: its record's ticket and what the queue needs without reading it.
    OnDisk {
        ticket: Ticket,
        /// Its weight against `max_queued_bytes` (payloads are at most 256 MiB).
        weight: u32,
        flags: u8,
    },
    /// Kept whole: a delivery without a record of its own (QoS 0 to an online session, a
    /// session no longer persistent, a failed append) that arrived behind ones on disk.
    InMemory(Box<Delivery>),
}

impl Entry {
    /// `delivery` as an entry: left on disk if it holds the only handle on its record.
    pub(crate) fn new(mut delivery: Delivery) -> Self {
        let weight = u32::try_from(delivery.weight());
        let persisted = delivery.extra.as_mut().and_then(|e| e.persisted.take());
        let (Some(persisted), Ok(weight)) = (persisted, weight) else {
            return Self::InMemory(Box::new(delivery));
        };
        match Persisted::into_ticket(persisted) {
            Ok(ticket) => {
                let shared = if delivery.shared().is_some() {
                    SHARED
                } else {
                    0
                };
                let dup = if delivery.dup { DUP } else { 0 };
                Self::OnDisk {
                    ticket,
                    weight,
                    flags: shared | dup,
                }
            }
            Err(persisted) => {
                delivery.set_persisted(persisted);
                Self::InMemory(Box::new(delivery))
            }
        }
    }

    /// Its weight against `max_queued_bytes`.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Self::OnDisk { weight, .. } => *weight as usize,
            Self::InMemory(d) => d.weight(),
        }
    }

    /// Whether it came through a shared subscription.
    fn is_shared(&self) -> bool {
        match self {
            Self::OnDisk { flags, .. } => flags & SHARED != 0,
            Self::InMemory(d) => d.shared().is_some(),
        }
    }
}

/// The tail of one session's queue: nothing (one word) while empty, as every session in
/// memory mode and every short queue is. Dropping it releases the records of what it
/// holds (the session is discarded), as dropping queued deliveries does.
#[derive(Debug, Default)]
pub(crate) struct Spill(Option<Box<Entries>>);

/// What a non-empty tail holds.
#[derive(Debug)]
struct Entries {
    /// Recovered at start, before anything was queued: they hold no room in the queue's
    /// word (as recovered deliveries in `front` do not) and go first.
    restored: VecDeque<Entry>,
    /// Queued since: each holds its room in the queue's word.
    queued: VecDeque<Entry>,
    /// Where records are read back and released.
    journal: ValueWeak<Journal>,
}

impl Spill {
    /// Whether nothing waits in it.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Entries that hold no room in the queue's word (counted apart in stats).
    pub(crate) fn restored_len(&self) -> usize {
        self.0.as_ref().map_or(0, |e| e.restored.len())
    }

    /// The entries, made on the first one; `journal` is where their records live.
    fn entries(&mut self, journal: &ValueWeak<Journal>) -> &mut Entries {
        self.0.get_or_insert_with(|| {
            Box::new(Entries {
                restored: VecDeque::new(),
                queued: VecDeque::new(),
                journal: journal.clone(),
            })
        })
    }

    /// Appends an entry whose room is reserved.
    pub(crate) fn push(&mut self, entry: Entry, journal: &ValueWeak<Journal>) {
        self.entries(journal).queued.push_back(entry);
    }

    /// Appends an entry recovered at start (no room reserved).
    pub(crate) fn push_restored(&mut self, entry: Entry, journal: &ValueWeak<Journal>) {
        self.entries(journal).restored.push_back(entry);
    }

    /// Frees the entries once the last is gone.
    fn shrink(&mut self) {
        if self
            .0
            .as_ref()
            .is_some_and(|e| e.restored.is_empty() && e.queued.is_empty())
        {
            self.0 = None;
        }
    }

    /// Takes the oldest entry, and whether it holds room in the queue's word.
    pub(crate) fn pop(&mut self) -> Option<(Entry, bool)> {
        let entries = self.0.as_mut()?;
        let popped = match entries.restored.pop_front() {
            Some(entry) => Some((entry, false)),
            None => entries.queued.pop_front().map(|e| (e, true)),
        };
        self.shrink();
        popped
    }

    /// Drop-oldest: drops the oldest entry that holds room and returns its weight.
    pub(crate) fn drop_oldest(&mut self) -> Option<usize> {
        let entries = self.0.as_mut()?;
        let entry = entries.queued.pop_front()?;
        let weight = entry.weight();
        entries.release(entry);
        self.shrink();
        Some(weight)
    }

    /// The delivery of `entry`, read back from its record if it was left on disk; `None`
    /// (and its record released) if it cannot be read. `journal` is the session's.
    pub(crate) fn load(entry: Entry, journal: Option<&ValueWeak<Journal>>) -> Option<Delivery> {
        let (ticket, flags) = match entry {
            Entry::InMemory(d) => return Some(*d),
            Entry::OnDisk { ticket, flags, .. } => (ticket, flags),
        };
        let journal = journal?.upgrade()?;
        match journal.read_delivery(ticket) {
            Some(mut delivery) => {
                delivery.dup = flags & DUP != 0;
                Some(delivery)
            }
            None => {
                journal.release(ticket);
                None
            }
        }
    }

    /// Takes every entry out as the session is discarded: the deliveries that came through
    /// a shared subscription (read back, to go to another member), oldest first, and the
    /// count and weight of those that held room. The others' records are released.
    pub(crate) fn drain_shared(&mut self) -> (Vec<Delivery>, usize, usize) {
        let mut out = Vec::new();
        let (mut count, mut weight) = (0, 0);
        let Some(mut entries) = self.0.take() else {
            return (out, count, weight);
        };
        let journal = entries.journal.clone();
        let restored = std::mem::take(&mut entries.restored)
            .into_iter()
            .map(|e| (e, false));
        let queued = std::mem::take(&mut entries.queued)
            .into_iter()
            .map(|e| (e, true));
        for (entry, holds_room) in restored.chain(queued) {
            if holds_room {
                count += 1;
                weight += entry.weight();
            }
            if entry.is_shared() {
                out.extend(Self::load(entry, Some(&journal)));
            } else {
                entries.release(entry);
            }
        }
        (out, count, weight)
    }
}

impl Entries {
    /// Releases the record of `entry`, left untaken.
    fn release(&self, entry: Entry) {
        if let Entry::OnDisk { ticket, .. } = entry
            && let Some(journal) = self.journal.upgrade()
        {
            journal.release(ticket);
        }
    }
}

impl Drop for Entries {
    fn drop(&mut self) {
        let restored = std::mem::take(&mut self.restored);
        for entry in restored.into_iter().chain(std::mem::take(&mut self.queued)) {
            self.release(entry);
        }
    }
}

/// How [`Session::enqueue`] offers one delivery: to the tail when `active`, else to the
/// channel.
pub(super) struct SessionTail<'a> {
    pub(super) session: &'a Session,
    /// The tail is not empty, or the queue is long and the delivery has its record.
    pub(super) active: bool,
}

impl Tail for SessionTail<'_> {
    fn push(&self, delivery: Delivery) -> Option<Delivery> {
        if !self.active {
            return Some(delivery);
        }
        let Some(durable) = &self.session.durable else {
            return Some(delivery);
        };
        let entry = Entry::new(delivery);
        let mut state = self.session.lock();
        // Always in order: the tail comes after everything in the channel.
        state.spill.push(entry, &durable.journal);
        // Release: pairs with the Acquire in `Session::enqueue` (see `set_spilling`).
        self.session.spilling.store(1, Ordering::Release);
        None
    }

    fn drop_oldest(&self) -> Option<usize> {
        if !self.session.is_spilling() {
            return None;
        }
        let mut state = self.session.lock();
        let weight = state.spill.drop_oldest();
        self.session.set_spilling(&state);
        weight
    }
}
