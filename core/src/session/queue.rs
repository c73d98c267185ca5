//! A session's delivery queue: lock-free on the publish path, bounded in count and bytes.
//!
//! Publishers push into an unbounded MPMC channel after reserving room in two atomic
//! counters, so the bound is exact however many publish at once; the consumer pops and
//! releases the room. A consumer about to sleep raises `waiting`; the first publisher after
//! that wakes it. Not here: in-flight state, packet ids, attachment (see `mod.rs`).
//!
//! # The wake-up protocol
//!
//! Publisher: push, `fence(SeqCst)`, then `waiting.swap(false)`; wake if it was set.
//! Consumer: `waiting.store(true)`, `fence(SeqCst)`, then look again before sleeping.
//! The two fences are ordered one way or the other: either the publisher's swap sees the
//! flag, or the consumer's second look sees the push. No delivery waits without a wake-up.

use crate::config::OverflowPolicy;
use crate::hooks::DropReason;
use crate::message::Delivery;
use crate::qos::QoS;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, channel, fence};

/// What [`Queue::offer`] did.
#[derive(Debug)]
pub(crate) enum Offer {
    /// Queued; `wake` if the consumer was waiting.
    Queued {
        /// The consumer raised `waiting` and must be woken.
        wake: bool,
    },
    /// Dropped for this reason (counted).
    Dropped(DropReason),
    /// Full under the `Disconnect` policy: the caller ends the connection (counted as a drop).
    Overflow,
}

/// The bounded delivery queue of one session.
#[derive(Debug)]
pub(crate) struct Queue {
    tx: channel::Sender<Delivery>,
    rx: channel::Receiver<Delivery>,
    /// Reserved room: incremented before a push, decremented after a pop. SeqCst RMWs, so
    /// concurrent reservations see each other and the bound is exact.
    len: AtomicUsize,
    bytes: AtomicUsize,
    waiting: AtomicBool,
    max_len: AtomicUsize,
    max_bytes: AtomicUsize,
    /// `OverflowPolicy` as `u64` (see `policy_code`), plus `queue_qos0` in bit 8.
    policy: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_offline: AtomicU64,
}

fn policy_code(policy: OverflowPolicy) -> u64 {
    match policy {
        OverflowPolicy::DropNewest => 0,
        OverflowPolicy::DropOldest => 1,
        OverflowPolicy::Disconnect => 2,
    }
}

impl Queue {
    pub(crate) fn new() -> Self {
        let (tx, rx) = channel::unbounded();
        Self {
            tx,
            rx,
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            waiting: AtomicBool::new(false),
            max_len: AtomicUsize::new(0),
            max_bytes: AtomicUsize::new(0),
            policy: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_offline: AtomicU64::new(0),
        }
    }

    /// Sets the bounds and policy of a new connection. Relaxed: these are configuration,
    /// read independently of any other memory.
    pub(crate) fn configure(
        &self,
        max_len: usize,
        max_bytes: usize,
        policy: OverflowPolicy,
        queue_qos0: bool,
    ) {
        self.max_len.store(max_len, Ordering::Relaxed);
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
        let code = policy_code(policy) | u64::from(queue_qos0) << 8;
        self.policy.store(code, Ordering::Relaxed);
    }

    fn policy(&self) -> (OverflowPolicy, bool) {
        let code = self.policy.load(Ordering::Relaxed);
        let policy = match code & 0xff {
            1 => OverflowPolicy::DropOldest,
            2 => OverflowPolicy::Disconnect,
            _ => OverflowPolicy::DropNewest,
        };
        (policy, code & 0x100 != 0)
    }

    /// Reserves room for one delivery of `weight` bytes, or leaves the counters as they were.
    fn reserve(&self, weight: usize) -> bool {
        let len = self.len.fetch_add(1, Ordering::SeqCst);
        let bytes = self.bytes.fetch_add(weight, Ordering::SeqCst);
        if len < self.max_len.load(Ordering::Relaxed)
            && bytes.saturating_add(weight) <= self.max_bytes.load(Ordering::Relaxed)
        {
            return true;
        }
        self.len.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(weight, Ordering::SeqCst);
        false
    }

    /// Whether a delivery of `weight` bytes would fit now (a hint: it may not by the time it
    /// is offered).
    pub(crate) fn has_room(&self, weight: usize) -> bool {
        self.len.load(Ordering::SeqCst) < self.max_len.load(Ordering::Relaxed)
            && self.bytes.load(Ordering::SeqCst).saturating_add(weight)
                <= self.max_bytes.load(Ordering::Relaxed)
    }

    /// Offers a delivery. `online`: a connection is attached (QoS 0 for an offline session is
    /// dropped unless `queue_qos0`). QoS 0 is dropped first when full, whatever the policy.
    pub(crate) fn offer(&self, delivery: Delivery, online: bool) -> Offer {
        let (policy, queue_qos0) = self.policy();
        let qos0 = delivery.qos == QoS::AtMostOnce;
        if !online && qos0 && !queue_qos0 {
            self.dropped_offline.fetch_add(1, Ordering::Relaxed);
            return Offer::Dropped(DropReason::Offline);
        }
        let weight = delivery.publication.weight();
        if !self.reserve(weight) {
            let policy = if qos0 {
                OverflowPolicy::DropNewest
            } else {
                policy
            };
            match policy {
                OverflowPolicy::DropOldest if self.make_room(weight) => {}
                OverflowPolicy::Disconnect if online => {
                    self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                    return Offer::Overflow;
                }
                _ => {
                    self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                    return Offer::Dropped(DropReason::QueueFull);
                }
            }
        }
        // The receiver lives in `self`, so the channel cannot be disconnected.
        let _ = self.tx.send(delivery);
        // SeqCst fence: pairs with the one in `park` (see the module docs).
        fence(Ordering::SeqCst);
        Offer::Queued {
            wake: self.waiting.swap(false, Ordering::SeqCst),
        }
    }

    /// Drop-oldest: pops until a delivery of `weight` fits, then reserves it. `false` if even
    /// an empty queue cannot hold it.
    fn make_room(&self, weight: usize) -> bool {
        loop {
            match self.pop() {
                Some(_) => {
                    self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                }
                // Empty (or a racing consumer took the rest): one last try.
                None => return self.reserve(weight),
            }
            if self.reserve(weight) {
                return true;
            }
        }
    }

    /// Takes the oldest delivery and releases its room.
    pub(crate) fn pop(&self) -> Option<Delivery> {
        let delivery = self.rx.try_recv().ok()?;
        self.len.fetch_sub(1, Ordering::SeqCst);
        self.bytes
            .fetch_sub(delivery.publication.weight(), Ordering::SeqCst);
        Some(delivery)
    }

    /// The consumer is about to sleep: raises `waiting`. Returns `true` if a delivery arrived
    /// meanwhile, in which case the caller must take it instead of sleeping.
    pub(crate) fn park(&self) -> bool {
        self.waiting.store(true, Ordering::SeqCst);
        // SeqCst fence: pairs with the one in `offer` (see the module docs).
        fence(Ordering::SeqCst);
        !self.rx.is_empty()
    }

    /// Marks the consumer as waiting without looking (a new connection has not taken yet).
    pub(crate) fn set_waiting(&self) {
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}
