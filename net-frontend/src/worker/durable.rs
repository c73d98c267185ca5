//! Group commit in durable mode: no acknowledgement leaves before what it acknowledges is
//! durable.
//!
//! A connection turn that handled input may have recorded things in the store (a QoS 1/2
//! message, a subscription, a new persistent session) and encoded their acknowledgements
//! (PUBACK, PUBREC, SUBACK, CONNACK, PUBREL). Everything that turn wrote, and everything the
//! connection writes after it, is held in its write buffer from that point (a [`Hold`]).
//! So is a batch of deliveries whose hand-out recorded something (the packet id of a QoS 2
//! PUBLISH, which must be durable before the subscriber has the message). Only the
//! handling thread's own changes count (`Broker::records_appended`).
//! At the end of the loop turn the worker asks the broker for one durable point (a ticket)
//! for all the holds of the turn, and [`mqlite::Broker::when_durable`] calls back once it is
//! durable: one fsync for every acknowledgement of the turn. The callback records the
//! ticket in [`DurableSignal`] and wakes the worker, which releases the holds and writes.
//! When the store makes it durable at once (sync policies `periodic` and `none`), the
//! callback runs inside `when_durable` and the holds are released before the loop turn
//! ends, with no wake-up.
//!
//! A ticket the store could not make durable fails its holds: their output is discarded
//! (nothing is acknowledged) and the connection closed (DISCONNECT 0x80 on 5.0); the client
//! sends its QoS 1/2 messages again when it reconnects. In memory mode none of this runs.
//!
//! Not here: the loop (`mod.rs`), the limited write itself (`socket.rs`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use mqlite::{StoreError, Ticket};
use parking_lot::Mutex;

use super::Worker;
use super::socket::Entry;

/// What the store's callbacks tell the worker, from any thread.
#[derive(Debug, Default)]
pub(super) struct DurableSignal {
    /// The highest ticket the store reported durable.
    up_to: AtomicU64,
    /// Tickets the store could not make durable, not yet seen by the worker.
    failed: Mutex<Vec<Ticket>>,
    /// `failed` is not empty.
    any_failed: AtomicBool,
    /// The worker is inside `Broker::when_durable` and looks at the signal when it
    /// returns, so a callback run meanwhile (inline, or on another thread) need not wake it.
    registering: AtomicBool,
}

impl DurableSignal {
    /// Records the outcome of `ticket`; whether the worker must be woken to see it.
    fn report(&self, ticket: Ticket, outcome: Result<(), StoreError>) -> bool {
        match outcome {
            // SeqCst (also below): the store-buffering pair with `Worker::register_ticket`,
            // which clears `registering` and then reads `up_to` and `any_failed`: either it
            // sees this report or this sees `registering` false and wakes it.
            Ok(()) => {
                self.up_to.fetch_max(ticket, Ordering::SeqCst);
            }
            Err(e) => {
                tracing::warn!(error = %e, ticket, "store could not make acknowledgements durable");
                self.failed.lock().push(ticket);
                self.any_failed.store(true, Ordering::SeqCst);
            }
        }
        !self.registering.load(Ordering::SeqCst)
    }

    /// The tickets that failed since the last call (usually none: one atomic load).
    fn take_failed(&self) -> Vec<Ticket> {
        if self.any_failed.swap(false, Ordering::SeqCst) {
            std::mem::take(&mut *self.failed.lock())
        } else {
            Vec::new()
        }
    }
}

/// Output of a connection from absolute offset `start` on waits for `ticket` (`None` until
/// the loop turn that made it ends and the worker takes a durable point).
#[derive(Debug, Clone, Copy)]
struct Hold {
    start: u64,
    ticket: Option<Ticket>,
}

/// The holds of one connection, oldest first. Offsets count every byte ever written to the
/// connection's write buffer since the first hold; `flushed` is the offset of its front.
#[derive(Debug, Default)]
pub(super) struct Holds {
    flushed: u64,
    queue: VecDeque<Hold>,
}

impl Holds {
    /// How many bytes of a write buffer of `len` bytes may be written now.
    pub(super) fn writable(&self, len: usize) -> usize {
        self.queue.front().map_or(len, |hold| {
            usize::try_from(hold.start - self.flushed).map_or(len, |n| n.min(len))
        })
    }

    /// Records that `n` bytes left the front of the write buffer.
    pub(super) fn advance(&mut self, n: usize) {
        self.flushed += n as u64;
    }
}

/// What became of a connection's holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Some are still waiting, none was released now.
    Waiting,
    /// Some were released now, later ones still wait: the output before them may go.
    Partly,
    /// All released: its output may be written.
    Released,
    /// One failed: its output from there on was discarded; the connection must close.
    Failed,
}

impl Entry {
    /// Holds what the connection writes from byte `mark` of its write buffer on (the
    /// output of the input it just handled). `true` if this started a hold that still needs
    /// a ticket.
    fn hold_from(&mut self, mark: usize) -> bool {
        let holds = self.holds.get_or_insert_with(Box::default);
        if holds.queue.back().is_some_and(|h| h.ticket.is_none()) {
            return false; // this loop turn's hold already covers it
        }
        let start = holds.flushed + mark as u64;
        holds.queue.push_back(Hold {
            start,
            ticket: None,
        });
        true
    }

    /// Where the output of the input or deliveries about to be handled starts, and the
    /// handling thread's store changes so far (durable mode): see [`Entry::hold_if_changed`].
    pub(super) fn durable_mark(&self, broker: &mqlite::Broker) -> (usize, u64) {
        (self.conn.write.len(), broker.records_appended())
    }

    /// Holds what was written since `mark` if handling it changed the store on this
    /// thread; `true` if that started a hold that still needs a ticket.
    pub(super) fn hold_if_changed(&mut self, broker: &mqlite::Broker, mark: (usize, u64)) -> bool {
        let (len, changes) = mark;
        self.conn.write.len() > len && broker.records_appended() != changes && self.hold_from(len)
    }

    /// Gives this loop turn's hold its ticket.
    fn assign(&mut self, ticket: Ticket) {
        if let Some(hold) = self.holds.as_mut().and_then(|h| h.queue.back_mut()) {
            hold.ticket.get_or_insert(ticket);
        }
    }

    /// Releases the holds whose ticket is durable (`up_to`), oldest first; if any hold
    /// left has a ticket in `failed` (`None`: no ticket could be taken), discards the output
    /// from the oldest hold left on and reports the connection failed.
    fn settle(&mut self, up_to: Ticket, failed: &[Option<Ticket>]) -> Settled {
        let Some(holds) = self.holds.as_mut() else {
            return Settled::Released;
        };
        let mut progress = false;
        while let Some(hold) = holds.queue.front()
            && hold.ticket.is_some_and(|t| t <= up_to)
            && !failed.contains(&hold.ticket)
        {
            holds.queue.pop_front();
            self.released_any = true;
            progress = true;
        }
        let Some(oldest) = holds.queue.front().copied() else {
            self.holds = None;
            return Settled::Released;
        };
        if holds.queue.iter().any(|hold| failed.contains(&hold.ticket)) {
            let keep = usize::try_from(oldest.start - holds.flushed).unwrap_or(usize::MAX);
            self.conn.write.truncate(keep);
            self.holds = None;
            return Settled::Failed;
        }
        if progress {
            Settled::Partly
        } else {
            Settled::Waiting
        }
    }
}

impl Worker {
    /// End of a loop turn: if connections hold output of this turn, takes one durable point
    /// for all of them and asks to be called back once it is durable. Nothing to do (one
    /// branch) in memory mode or when no input was handled.
    pub(super) fn commit_turn(&mut self, now: Instant) {
        // Releasing holds serves their connections, whose new input may hold new output:
        // that gets its ticket now too, not at the next loop turn (which may be a poll
        // timeout away while the client waits for exactly those acknowledgements).
        while std::mem::take(&mut self.unassigned) {
            self.commit_once(now);
        }
    }

    /// One durable point for the holds of this turn that have none.
    fn commit_once(&mut self, now: Instant) {
        match self.broker.durable_point() {
            Some(Ok(ticket)) => {
                for &slot in &self.holding {
                    if let Some(Some(entry)) = self.slots.get_mut(slot) {
                        entry.assign(ticket);
                    }
                }
                self.register_ticket(ticket, now);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "store could not record acknowledgements");
                self.settle_holds(&[None], now);
            }
            // Not durable after all: nothing to wait for.
            None => self.settle_holds(&[], now),
        }
    }

    /// `Broker::when_durable(ticket)`, whose callback records the outcome and wakes the
    /// worker unless it runs while the worker is still here (then the worker sees it below).
    fn register_ticket(&mut self, ticket: Ticket, now: Instant) {
        let shared = self.shared.clone();
        let signal = &self.shared.durable;
        signal.registering.store(true, Ordering::SeqCst);
        self.broker.when_durable(
            ticket,
            Box::new(move |outcome| {
                if shared.durable.report(ticket, outcome) {
                    shared.notify();
                }
            }),
        );
        signal.registering.store(false, Ordering::SeqCst);
        self.release_durable(now);
    }

    /// Releases (and writes) the holds whose ticket is durable, and fails those whose
    /// ticket failed. Called after a wake-up and after registering a ticket.
    pub(super) fn release_durable(&mut self, now: Instant) {
        if self.holding.is_empty() {
            return;
        }
        let failed: Vec<Option<Ticket>> = self
            .shared
            .durable
            .take_failed()
            .into_iter()
            .map(Some)
            .collect();
        self.settle_holds(&failed, now);
    }

    /// Settles every holding connection against the durable point and `failed`: writes
    /// the output of those released, closes those failed.
    fn settle_holds(&mut self, failed: &[Option<Ticket>], now: Instant) {
        let up_to = self.shared.durable.up_to.load(Ordering::SeqCst);
        let mut holding = std::mem::take(&mut self.holding);
        holding.sort_unstable();
        holding.dedup();
        for slot in holding {
            let Some(Some(entry)) = self.slots.get_mut(slot) else {
                continue;
            };
            match entry.settle(up_to, failed) {
                Settled::Waiting => self.holding.push(slot),
                // Under steady load a connection always has a newer hold by the time an
                // older one is durable: write what was released, or its output would wait
                // for a moment with no hold at all (seconds, under kill/restart load).
                Settled::Partly => {
                    self.holding.push(slot);
                    self.serve(slot, false, now);
                }
                Settled::Released => self.after_release(slot, now),
                Settled::Failed => {
                    // In durable mode the CONNACK is always held: none released, none sent.
                    entry.conn.fail_durability(entry.released_any);
                    entry.close_pending = false;
                    self.start_closing(slot, now);
                }
            }
        }
    }

    /// A connection's output is all released: write it, or finish the close that waited.
    fn after_release(&mut self, slot: usize, now: Instant) {
        let close = self
            .slots
            .get_mut(slot)
            .and_then(Option::as_mut)
            .is_some_and(|entry| std::mem::take(&mut entry.close_pending));
        if close {
            self.start_closing(slot, now);
        } else {
            self.serve(slot, false, now);
        }
    }

    /// At shutdown: makes everything recorded durable (one blocking sync) so the held
    /// acknowledgements can go out with the last packets; if it fails they are discarded.
    pub(super) fn settle_at_shutdown(&mut self) {
        if self.holding.is_empty() {
            return;
        }
        // Synced: every ticket taken so far is durable and all output may go.
        let synced = self.broker.sync().is_ok();
        for slot in std::mem::take(&mut self.holding) {
            if let Some(Some(entry)) = self.slots.get_mut(slot) {
                if let Some(holds) = entry.holds.take()
                    && !synced
                {
                    let keep = holds.writable(entry.conn.write.len());
                    entry.conn.write.truncate(keep);
                }
                entry.close_pending = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bytes_before_the_oldest_hold_are_writable() {
        let mut holds = Holds::default();
        assert_eq!(holds.writable(10), 10, "no hold: everything");
        holds.queue.push_back(Hold {
            start: 4,
            ticket: None,
        });
        holds.queue.push_back(Hold {
            start: 9,
            ticket: Some(7),
        });
        assert_eq!(holds.writable(10), 4);
        holds.advance(3);
        assert_eq!(holds.writable(7), 1, "offsets count from the first hold");
        holds.advance(1);
        assert_eq!(holds.writable(6), 0);
        holds.queue.pop_front();
        assert_eq!(holds.writable(6), 5, "up to the next hold");
    }
}
