//! A session's delivery queue: lock-free on the publish path, bounded in count and bytes.
//!
//! Publishers push into an unbounded MPMC channel after reserving room in one atomic word
//! that packs the count, the bytes and the consumer's `WAITING` bit; the consumer pops and
//! releases the room. Not here: in-flight state, packet ids, attachment (see `mod.rs`).
//!
//! # The wake-up protocol
//!
//! Every reservation and every park is a read-modify-write of the same word, so they are
//! totally ordered:
//! - a consumer parks (sets `WAITING`) only if the count is zero, by compare-and-swap;
//! - a publisher's reservation returns the previous word; if `WAITING` was set, it clears it
//!   and wakes the consumer after its push.
//!
//! Either the reservation comes first (the consumer sees a non-zero count and does not
//! sleep) or the park does (the publisher sees `WAITING` and wakes it). A consumer woken
//! while a push is still in flight sees a count above zero with nothing to pop, and looks
//! again instead of sleeping. No delivery waits without a wake-up, and no fence is needed.
//!
//! # Waiting for room
//!
//! A publisher that waits for room in a full queue ([`Queue::wait_for_room`]) pushes its
//! task's waker onto `room_waiters`, then raises `ROOM_WANTED` in the same word with one
//! RMW, which also returns the word: if that shows room, it does not wait. A consumer's
//! release of room is an RMW of the word too, which returns whether `ROOM_WANTED` was up;
//! if it was, the consumer clears it and takes the waiters ([`Queue::take_room_waiters`]; only
//! the one that clears it takes them), and wakes them once its locks are released. Either the raise comes
//! first (the release sees it, and the waker pushed before it) or the release does (the
//! raise returns the freed room). A waiter is never left asleep beside free room, and a
//! consumer pays nothing for it but a bit test. (Loom model: `room_wait`.)

use std::collections::VecDeque;
use std::task::Waker;

use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, channel, yield_now};
use crate::types::config::OverflowPolicy;
use crate::types::hooks::DropReason;
use crate::types::message::Delivery;
use crate::types::qos::QoS;
use crate::types::topic::TopicName;

/// Keeps a value on cache lines of its own, so that writes to it by one thread do not slow
/// reads of its neighbours by another (false sharing). 128 bytes: two lines, as adjacent-line
/// prefetchers pull pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Bits of the packed word: `WAITING | ROOM_WANTED | count << COUNT_SHIFT | bytes`.
const BYTES_BITS: u32 = 38;
const BYTES_MASK: u64 = (1 << BYTES_BITS) - 1;
const COUNT_SHIFT: u32 = BYTES_BITS;
const COUNT_UNIT: u64 = 1 << COUNT_SHIFT;
const COUNT_MASK: u64 = ((1 << 24) - 1) << COUNT_SHIFT;
/// A publisher waits for room (see "Waiting for room").
const ROOM_WANTED: u64 = 1 << 62;
const WAITING: u64 = 1 << 63;

/// The largest count bound: half the count field, so reservations that overshoot together
/// before undoing can never carry into the flag bits.
pub(crate) const MAX_QUEUED_MESSAGES: usize = 1 << 22;
/// The largest byte bound (64 GiB), likewise half the byte field.
pub(crate) const MAX_QUEUED_BYTES: usize = 1 << (BYTES_BITS - 2);

fn count(word: u64) -> usize {
    ((word & COUNT_MASK) >> COUNT_SHIFT) as usize
}

fn bytes(word: u64) -> usize {
    (word & BYTES_MASK) as usize
}

/// Room a consumer popped but has not released yet (see [`Queue::pop_many`]). While a
/// consumer is a batch or more behind, the queue may so look up to [`RELEASE_EVERY`]
/// deliveries fuller than it is: never emptier.
#[derive(Debug, Default)]
pub(crate) struct Held {
    units: u64,
    items: usize,
    /// A release found `ROOM_WANTED` up: wake the waiting publishers once the locks are
    /// released ([`Queue::take_room_waiters`]).
    pub(crate) room_wanted: bool,
}

/// How many times a drop-oldest publisher yields for a consumer mid-release before it gives
/// up and drops the newest (a consumer descheduled inside its release window).
const MAX_ROOM_WAITS: u32 = 1_000;

/// How many popped deliveries a consumer holds before it releases their room.
pub(crate) const RELEASE_EVERY: usize = 64;

/// What [`Queue::offer`] did.
#[derive(Debug)]
pub(crate) enum Offer {
    /// Queued; `wake` if the consumer was waiting.
    Queued {
        /// The consumer had parked and must be woken.
        wake: bool,
    },
    /// Dropped for this reason (counted); its topic is handed back for the event.
    Dropped(DropReason, TopicName),
    /// Full under the `Disconnect` policy: the caller ends the connection (counted as a
    /// drop); the delivery's topic is handed back for the event.
    Overflow(TopicName),
    /// Full, and the caller asked for the delivery back instead of the policy (a publisher
    /// that waits for room). Not counted.
    Full(Delivery),
}

/// Where deliveries wait after everything in the channel: a persistent session's spilled
/// tail (durable mode, `spill.rs`). The queue reserves their room in its word like the
/// channel's.
pub(crate) trait Tail {
    /// Takes `delivery`, whose room is reserved, or hands it back for the channel.
    fn push(&self, delivery: Delivery) -> Option<Delivery>;
    /// Drop-oldest with an empty channel: drops the tail's oldest delivery that holds room
    /// and returns its weight (its room is still to release).
    fn drop_oldest(&self) -> Option<usize>;
}

/// The bounded delivery queue of one session.
#[derive(Debug)]
pub(crate) struct Queue {
    tx: channel::Sender<Delivery>,
    rx: channel::Receiver<Delivery>,
    /// `WAITING | count | bytes`, see the module docs. Every access is a SeqCst RMW or load.
    word: Padded<AtomicU64>,
    max_len: AtomicUsize,
    max_bytes: AtomicUsize,
    /// `OverflowPolicy` code in the low byte, `queue_qos0` in bit 8.
    policy: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_offline: AtomicU64,
    /// Wakers of publishers waiting for room (see "Waiting for room" above).
    room_waiters: Mutex<Vec<Waker>>,
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
            word: Padded(AtomicU64::new(0)),
            max_len: AtomicUsize::new(0),
            max_bytes: AtomicUsize::new(0),
            policy: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_offline: AtomicU64::new(0),
            room_waiters: Mutex::new(Vec::new()),
        }
    }

    /// Sets the bounds and policy of a new connection, clamped to what the packed word holds.
    /// Relaxed: configuration, read independently of any other memory.
    pub(crate) fn configure(
        &self,
        max_len: usize,
        max_bytes: usize,
        policy: OverflowPolicy,
        queue_qos0: bool,
    ) {
        self.max_len
            .store(max_len.min(MAX_QUEUED_MESSAGES), Ordering::Relaxed);
        self.max_bytes
            .store(max_bytes.min(MAX_QUEUED_BYTES), Ordering::Relaxed);
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

    /// Reserves room for one delivery of `weight` bytes. Returns the previous word, or `None`
    /// (with the word as it was) if the bounds do not allow it.
    fn reserve(&self, weight: usize) -> Option<u64> {
        let max_bytes = self.max_bytes.load(Ordering::Relaxed);
        if weight > max_bytes {
            return None;
        }
        let unit = COUNT_UNIT + weight as u64;
        let old = self.word.fetch_add(unit, Ordering::SeqCst);
        if count(old) < self.max_len.load(Ordering::Relaxed) && bytes(old) + weight <= max_bytes {
            return Some(old);
        }
        self.word.fetch_sub(unit, Ordering::SeqCst);
        None
    }

    /// Whether a delivery of `weight` bytes would fit now (a hint: it may not by the time it
    /// is offered).
    pub(crate) fn has_room(&self, weight: usize) -> bool {
        let word = self.word.load(Ordering::SeqCst);
        count(word) < self.max_len.load(Ordering::Relaxed)
            && bytes(word) + weight <= self.max_bytes.load(Ordering::Relaxed)
    }

    /// Offers a delivery. `online`: a connection is attached (QoS 0 for an offline session is
    /// dropped unless `queue_qos0`). QoS 0 is dropped first when full, whatever the policy.
    /// `hand_back`: when full, return it as [`Offer::Full`] instead of applying the policy.
    /// Once its room is reserved it goes to `tail` if that takes it, else to the channel.
    pub(crate) fn offer(
        &self,
        delivery: Delivery,
        online: bool,
        hand_back: bool,
        tail: &impl Tail,
    ) -> Offer {
        let (policy, queue_qos0) = self.policy();
        let qos0 = delivery.qos == QoS::AtMostOnce;
        if !online && qos0 && !queue_qos0 {
            self.dropped_offline.fetch_add(1, Ordering::Relaxed);
            return Offer::Dropped(DropReason::Offline, delivery.publication.topic);
        }
        let weight = delivery.weight();
        let reserved = match self.reserve(weight) {
            Some(old) => old,
            None if hand_back => return Offer::Full(delivery),
            None => {
                let policy = if qos0 {
                    OverflowPolicy::DropNewest
                } else {
                    policy
                };
                match policy {
                    OverflowPolicy::DropOldest => match self.make_room(weight, tail) {
                        Some(old) => old,
                        None => return self.drop_full(delivery),
                    },
                    OverflowPolicy::Disconnect if online => {
                        self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                        return Offer::Overflow(delivery.publication.topic);
                    }
                    _ => return self.drop_full(delivery),
                }
            }
        };
        if let Some(delivery) = tail.push(delivery) {
            // The receiver lives in `self`, so the channel cannot be disconnected.
            let _ = self.tx.send(delivery);
        }
        let wake = reserved & WAITING != 0 && self.unpark();
        Offer::Queued { wake }
    }

    fn drop_full(&self, delivery: Delivery) -> Offer {
        self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
        Offer::Dropped(DropReason::QueueFull, delivery.publication.topic)
    }

    /// Clears `WAITING`; `true` if this call cleared it (so exactly one publisher wakes).
    fn unpark(&self) -> bool {
        self.word.fetch_and(!WAITING, Ordering::SeqCst) & WAITING != 0
    }

    /// Drop-oldest: pops (the channel, then `tail`) until a delivery of `weight` fits, then
    /// reserves it. `None` if it can never fit (a zero bound, or heavier than the byte
    /// bound).
    fn make_room(&self, weight: usize, tail: &impl Tail) -> Option<u64> {
        if self.max_len.load(Ordering::Relaxed) == 0
            || weight > self.max_bytes.load(Ordering::Relaxed)
        {
            return None;
        }
        // Nothing to pop yet no room: a consumer is between taking deliveries out of the
        // channel and releasing their room (its `pop_many` loop). That lasts a moment; wait
        // for it rather than drop the newest, which this policy must not do. (Found by the
        // loom model `queue_full_drain`.)
        let mut waits = 0u32;
        loop {
            if let Some(old) = self.reserve(weight) {
                return Some(old);
            }
            if self.pop().is_some() {
                self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(dropped) = tail.drop_oldest() {
                self.word
                    .fetch_sub(COUNT_UNIT + dropped as u64, Ordering::SeqCst);
                self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            waits += 1;
            if waits > MAX_ROOM_WAITS {
                return None;
            }
            yield_now();
        }
    }

    /// Moves up to `max` of the oldest deliveries into `out`. Their room is not released at
    /// once but added to `held`, and released when `held` reaches [`RELEASE_EVERY`] items or
    /// by [`Queue::release`]: a consumer keeping up with a fast publisher would otherwise
    /// bounce the word's cache line once per message. Returns how many it moved.
    pub(crate) fn pop_many(
        &self,
        out: &mut VecDeque<Delivery>,
        max: usize,
        held: &mut Held,
    ) -> usize {
        let mut moved = 0;
        while moved < max {
            let Ok(delivery) = self.rx.try_recv() else {
                break;
            };
            held.units += COUNT_UNIT + delivery.weight() as u64;
            held.items += 1;
            out.push_back(delivery);
            moved += 1;
        }
        // Release when the channel ran dry (the consumer has caught up: nothing it holds may
        // keep a publisher out) or a full batch is held. So room is held back only while at
        // least a batch more waits behind it, and never at all under a bound below a batch.
        if moved < max || held.items >= RELEASE_EVERY {
            self.release(held);
        }
        moved
    }

    /// Releases the room of every delivery in `held`; notes in `held` whether a publisher
    /// waits for room.
    pub(crate) fn release(&self, held: &mut Held) {
        if held.units != 0 {
            let old = self.word.fetch_sub(held.units, Ordering::SeqCst);
            held.room_wanted |= old & ROOM_WANTED != 0;
        }
        held.units = 0;
        held.items = 0;
    }

    /// Releases the room of `count` deliveries of `bytes` in all taken from the tail, with
    /// what `held` holds; notes in `held` whether a publisher waits for room.
    pub(crate) fn release_taken(&self, count: usize, bytes: usize, held: &mut Held) {
        held.units += count as u64 * COUNT_UNIT + bytes as u64;
        held.items += count;
        self.release(held);
    }

    /// A publisher waits for room for `weight` bytes: `waker` is woken after the next
    /// release of room (or when the session ends). Returns `true` if there is room
    /// already, in which case the publisher offers again instead of waiting.
    pub(crate) fn wait_for_room(&self, waker: &Waker, weight: usize) -> bool {
        {
            let mut waiters = self.room_waiters.lock();
            if !waiters.iter().any(|w| w.will_wake(waker)) {
                waiters.push(waker.clone());
            }
        }
        // The same RMW raises the flag and reads the word: totally ordered with releases.
        let word = self.word.fetch_or(ROOM_WANTED, Ordering::SeqCst);
        count(word) < self.max_len.load(Ordering::Relaxed)
            && bytes(word) + weight <= self.max_bytes.load(Ordering::Relaxed)
    }

    /// Takes the wakers of the publishers waiting for room, if any, and lowers
    /// `ROOM_WANTED`: after a release that found it up, or when the session ends. Wake them
    /// with no lock held.
    pub(crate) fn take_room_waiters(&self) -> Vec<Waker> {
        if self.word.fetch_and(!ROOM_WANTED, Ordering::SeqCst) & ROOM_WANTED == 0 {
            return Vec::new();
        }
        std::mem::take(&mut *self.room_waiters.lock())
    }

    /// Takes the oldest delivery and releases its room.
    pub(crate) fn pop(&self) -> Option<Delivery> {
        let delivery = self.rx.try_recv().ok()?;
        let unit = COUNT_UNIT + delivery.weight() as u64;
        self.word.fetch_sub(unit, Ordering::SeqCst);
        Some(delivery)
    }

    /// The consumer is about to sleep: sets `WAITING` if nothing is queued or being pushed.
    /// Returns `true` if something is, in which case the caller must look again instead of
    /// sleeping.
    pub(crate) fn park(&self) -> bool {
        let parked = self
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
                (count(word) == 0).then_some(word | WAITING)
            });
        parked.is_err()
    }

    /// Marks the consumer as waiting when a connection attaches (it has not looked yet), so
    /// the first delivery wakes it.
    pub(crate) fn set_waiting(&self) {
        self.word.fetch_or(WAITING, Ordering::SeqCst);
    }

    /// Deliveries queued (or being pushed), counting those a consumer staged but has not
    /// released yet.
    pub(crate) fn queued_bytes(&self) -> usize {
        bytes(self.word.load(Ordering::SeqCst))
    }

    pub(crate) fn len(&self) -> usize {
        count(self.word.load(Ordering::SeqCst))
    }

    /// Whether nothing is queued or being pushed.
    pub(crate) fn is_empty(&self) -> bool {
        count(self.word.load(Ordering::SeqCst)) == 0
    }

    /// Whether nothing is ready to pop (a hint for spinning consumers: it reads the channel's
    /// own indices, not the word publishers update on every reservation).
    pub(crate) fn looks_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::message::Publication;
    use bytes::Bytes;

    /// No tail: everything goes to the channel.
    #[derive(Debug)]
    struct NoTail;

    impl Tail for NoTail {
        fn push(&self, delivery: Delivery) -> Option<Delivery> {
            Some(delivery)
        }

        fn drop_oldest(&self) -> Option<usize> {
            None
        }
    }

    fn delivery(qos: QoS, payload: &'static [u8]) -> Delivery {
        Delivery {
            publication: Publication {
                topic: TopicName::new("t").unwrap(),
                payload: Bytes::from_static(payload),
                qos,
                retain: false,
                properties: None,
                origin: None,
                expires_at: crate::types::message::Deadline::NONE,
                inbound_id: 0,
            },
            qos,
            retain: false,
            dup: false,
            extra: None,
        }
    }

    fn queue(max_len: usize, max_bytes: usize, policy: OverflowPolicy) -> Queue {
        let q = Queue::new();
        q.configure(max_len, max_bytes, policy, false);
        q
    }

    #[test]
    fn count_and_bytes_are_packed_and_released() {
        let q = queue(10, 100, OverflowPolicy::DropNewest);
        assert!(matches!(
            q.offer(delivery(QoS::AtLeastOnce, b"abc"), true, false, &NoTail),
            Offer::Queued { wake: false }
        ));
        let word = q.word.load(Ordering::SeqCst);
        assert_eq!((count(word), bytes(word)), (1, 4));
        assert!(q.pop().is_some());
        assert_eq!(q.word.load(Ordering::SeqCst), 0);
        assert!(q.is_empty());
    }

    #[test]
    fn park_refuses_while_something_is_queued_and_offer_wakes_once() {
        let q = queue(10, 100, OverflowPolicy::DropNewest);
        assert!(!q.park(), "empty: parks");
        assert!(matches!(
            q.offer(delivery(QoS::AtLeastOnce, b"a"), true, false, &NoTail),
            Offer::Queued { wake: true }
        ));
        assert!(matches!(
            q.offer(delivery(QoS::AtLeastOnce, b"b"), true, false, &NoTail),
            Offer::Queued { wake: false }
        ));
        assert!(q.park(), "non-empty: must not sleep");
    }

    #[test]
    fn bounds_hold_under_each_policy() {
        let q = queue(2, 100, OverflowPolicy::DropNewest);
        for _ in 0..2 {
            q.offer(delivery(QoS::AtLeastOnce, b"x"), true, false, &NoTail);
        }
        assert!(matches!(
            q.offer(delivery(QoS::AtLeastOnce, b"y"), true, false, &NoTail),
            Offer::Dropped(DropReason::QueueFull, _)
        ));
        let q = queue(2, 100, OverflowPolicy::DropOldest);
        for p in [&b"1"[..], b"2", b"3"] {
            let d = delivery(QoS::AtLeastOnce, b"x");
            let d = Delivery {
                publication: Publication {
                    payload: Bytes::copy_from_slice(p),
                    ..d.publication
                },
                ..d
            };
            q.offer(d, true, false, &NoTail);
        }
        let left: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|d| d.publication.payload)
            .collect();
        assert_eq!(left, [Bytes::from_static(b"2"), Bytes::from_static(b"3")]);
        assert_eq!(q.dropped_queue_full.load(Ordering::Relaxed), 1);
        let q = queue(1, 100, OverflowPolicy::Disconnect);
        q.offer(delivery(QoS::AtLeastOnce, b"x"), true, false, &NoTail);
        assert!(matches!(
            q.offer(delivery(QoS::AtLeastOnce, b"x"), true, false, &NoTail),
            Offer::Overflow(_)
        ));
        assert!(
            matches!(
                q.offer(delivery(QoS::AtMostOnce, b"x"), true, false, &NoTail),
                Offer::Dropped(DropReason::QueueFull, _)
            ),
            "QoS 0 goes first"
        );
    }

    #[test]
    fn delivery_heavier_than_byte_bound_is_dropped() {
        let q = queue(10, 3, OverflowPolicy::DropOldest);
        assert!(matches!(
            q.offer(delivery(QoS::AtLeastOnce, b"abc"), true, false, &NoTail),
            Offer::Dropped(DropReason::QueueFull, _)
        ));
        assert_eq!(q.word.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn bounds_are_clamped_to_the_packed_word() {
        let q = queue(usize::MAX, usize::MAX, OverflowPolicy::DropNewest);
        assert_eq!(q.max_len.load(Ordering::Relaxed), MAX_QUEUED_MESSAGES);
        assert_eq!(q.max_bytes.load(Ordering::Relaxed), MAX_QUEUED_BYTES);
    }
}
