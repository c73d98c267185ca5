//! End-to-end flow control for the throughput scenarios (`--max-backlog N`): all publishers
//! of a run together keep at most N deliveries outstanding, a delivery being owed when a
//! message is sent and paid when a subscriber receives it.
//!
//! Without it, QoS 1/2 publishers are held back only by their own window, and a broker
//! acknowledges a PUBLISH whether or not the subscriber keeps up. With many publishers and
//! one subscriber the broker then accepts messages far faster than it delivers them, fills
//! the subscriber's queue and drops the rest after acknowledging them (`max_queued_messages`):
//! the run measures an overloaded broker (and a load generator spending its CPU on messages
//! that are thrown away), not the rate it sustains. With a bound below the broker's queue
//! limit, nothing is dropped and delivered = published in the steady state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The outstanding deliveries of one run, shared by its publishers.
#[derive(Debug)]
pub(crate) struct Backlog {
    /// The most deliveries that may be outstanding.
    max: u64,
    /// Deliveries owed by the messages sent so far.
    owed: AtomicU64,
    /// Messages received, one counter per subscriber.
    delivered: Vec<Arc<AtomicU64>>,
}

impl Backlog {
    /// A bound of `max` deliveries over the subscribers counting into `delivered`.
    pub(crate) fn new(max: u64, delivered: Vec<Arc<AtomicU64>>) -> Self {
        Self {
            max,
            owed: AtomicU64::new(0),
            delivered,
        }
    }

    /// Reserves room for up to `want` messages that each owe `per_message` deliveries;
    /// returns how many messages may be sent (0 when the backlog is full).
    pub(crate) fn reserve(&self, want: u64, per_message: u64) -> u64 {
        let per_message = per_message.max(1);
        // Relaxed: the counters are totals; a stale read only delays or advances a
        // publisher by a little, and the compare-exchange keeps reservations exact.
        let mut owed = self.owed.load(Ordering::Relaxed);
        loop {
            let outstanding = owed.saturating_sub(self.delivered());
            let room = self.max.saturating_sub(outstanding) / per_message;
            let granted = want.min(room);
            if granted == 0 {
                return 0;
            }
            let next = owed + granted * per_message;
            match self
                .owed
                .compare_exchange_weak(owed, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return granted,
                Err(actual) => owed = actual,
            }
        }
    }

    /// Gives back the room of `n` reserved messages that were not sent.
    pub(crate) fn release(&self, n: u64, per_message: u64) {
        // Relaxed: as in `reserve`.
        self.owed
            .fetch_sub(n * per_message.max(1), Ordering::Relaxed);
    }

    fn delivered(&self) -> u64 {
        self.delivered
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

/// One publisher's handle on the run's [`Backlog`]: the deliveries each of its messages owes
/// (the subscribers of its topic).
#[derive(Debug, Clone)]
pub(crate) struct Share {
    backlog: Arc<Backlog>,
    per_message: u64,
}

impl Share {
    /// A publisher whose messages each owe `per_message` deliveries.
    pub(crate) fn new(backlog: &Arc<Backlog>, per_message: u64) -> Self {
        Self {
            backlog: Arc::clone(backlog),
            per_message,
        }
    }

    /// Reserves room for up to `want` messages; returns how many may be sent.
    pub(crate) fn reserve(&self, want: u64) -> u64 {
        self.backlog.reserve(want, self.per_message)
    }

    /// Gives back the room of `n` reserved messages that were not sent.
    pub(crate) fn release(&self, n: u64) {
        if n > 0 {
            self.backlog.release(n, self.per_message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_bound_and_frees_on_delivery() {
        let received = Arc::new(AtomicU64::new(0));
        let backlog = Backlog::new(10, vec![Arc::clone(&received)]);
        assert_eq!(backlog.reserve(4, 1), 4);
        assert_eq!(backlog.reserve(100, 1), 6);
        assert_eq!(backlog.reserve(1, 1), 0);
        received.store(3, Ordering::Relaxed);
        assert_eq!(backlog.reserve(100, 1), 3);
        backlog.release(2, 1);
        assert_eq!(backlog.reserve(100, 1), 2);
    }

    #[test]
    fn counts_every_subscriber_of_a_message() {
        let subs: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::default()).collect();
        let backlog = Backlog::new(10, subs.clone());
        // Each message owes 4 deliveries: 2 fit in 10.
        assert_eq!(backlog.reserve(5, 4), 2);
        for s in &subs {
            s.store(1, Ordering::Relaxed);
        }
        assert_eq!(backlog.reserve(5, 4), 1);
    }
}
