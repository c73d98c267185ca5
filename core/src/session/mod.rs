//! One session: its queue, in-flight window and the connection attached to it.
//!
//! Not here: routing and the session table (see `broker.rs`). A session is shared by the
//! router (which enqueues) and at most one attached consumer (which takes and acknowledges).
//! The queue ([`queue`]) is lock-free for publishers; everything else mutable sits behind one
//! `Mutex` (lock order: after the router and retained locks, see `sync/mod.rs`), which
//! publishers take only to wake a waiting consumer or end a slow one. `status` mirrors the
//! attachment for lock-free checks on the publish path.

mod queue;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use crate::config::OverflowPolicy;
use crate::error::SessionError;
use crate::hooks::DropReason;
use crate::message::Delivery;
use crate::qos::{QoS, SubOptions};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering, ValueArc};
use crate::topic::{TopicFilter, TopicName};
use crate::will::Will;
use queue::{Held, Offer, Padded, Queue};

/// Deliveries moved from the queue into `front` at once, so their room is released with one
/// atomic operation. They wait there, outside the queue's bound, until handed out.
const STAGE: usize = 64;

/// Index of a session in the router's session table; the topic index's handle.
pub(crate) type SessionKey = u32;

/// Wakes the consumer of a session: when a delivery arrives after the consumer found nothing
/// to take (so at most once per empty → non-empty change), when an acknowledgement reopens a
/// full in-flight window, and when its connection ends.
///
/// The in-process client's implementation sends a token on a channel; the network frontend's
/// wakes its mio worker. `wake` must not block; it is never called under a broker lock.
pub trait Wake: Send + Sync + fmt::Debug + 'static {
    /// Signals the consumer; spurious wake-ups are allowed.
    fn wake(&self);
}

/// Per-session settings fixed at connect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLimits {
    pub(crate) max_queued_messages: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) receive_maximum: u16,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) queue_qos0: bool,
}

/// Counters of one session (read for `$SYS` and [`crate::Broker::stats`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionCounters {
    pub(crate) sent: u64,
    pub(crate) dropped_queue_full: u64,
    pub(crate) dropped_offline: u64,
    pub(crate) dropped_expired: u64,
}

impl SessionCounters {
    pub(crate) fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.dropped_queue_full += other.dropped_queue_full;
        self.dropped_offline += other.dropped_offline;
        self.dropped_expired += other.dropped_expired;
    }
}

#[derive(Debug)]
struct Inflight {
    packet_id: u16,
    seq: u64,
    delivery: Delivery,
    /// Set on resume: send again, with DUP, before anything queued [MQTT-4.4.0-1].
    resend: bool,
}

#[derive(Debug)]
pub(crate) struct SessionState {
    /// Deliveries taken from the queue but not handed out yet (a full in-flight window, or
    /// given back by a departing client); they go before the queue.
    front: VecDeque<Delivery>,
    /// Room of deliveries moved to `front` and not yet released to the queue.
    held: Held,
    inflight: VecDeque<Inflight>,
    resend_pending: usize,
    next_packet_id: u16,
    next_seq: u64,
    generation: u64,
    waker: Option<ValueArc<dyn Wake>>,
    /// Why the current generation's connection ended, once it has.
    ended: Option<SessionError>,
    limits: SessionLimits,
    pub(crate) subscriptions: HashMap<TopicFilter, SubOptions>,
    pub(crate) will: Option<Will>,
    pub(crate) username: Option<String>,
    /// Kept after its connection ends, until `expires_at`.
    pub(crate) expiry: Duration,
    pub(crate) expires_at: Option<Duration>,
    sent: u64,
    dropped_expired: u64,
}

/// What ending a connection leaves to do: publish the will (if it is to be published) and
/// wake the consumer.
pub(crate) type Ended = (Option<Will>, Option<ValueArc<dyn Wake>>);

/// What happened to one delivery offered to a session.
#[derive(Debug)]
pub(crate) enum Enqueued {
    /// Queued; wake the consumer with this if set (it was waiting).
    Queued(Option<ValueArc<dyn Wake>>),
    /// Not queued, for this reason; counted already. The topic is for the event.
    Dropped(DropReason, TopicName),
    /// The queue overflowed under `OverflowPolicy::Disconnect`: the connection ended; publish
    /// this will (if any) and wake the consumer. The topic is for the event.
    Kicked(Box<Ended>, TopicName),
}

/// One item handed to a consumer by [`Session::take`].
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) delivery: Delivery,
    pub(crate) packet_id: Option<u16>,
    pub(crate) seq: u64,
}

/// A session shared by the router and its consumer.
pub(crate) struct Session {
    pub(crate) key: SessionKey,
    pub(crate) client_id: ValueArc<str>,
    /// `generation << 1 | live`: lets the publish path check its handle without the lock.
    /// Release stores in `attach` / `end`; pairs with the Acquire in `is_live`.
    status: AtomicU64,
    /// Publishes made through this session (only its own client writes it).
    /// Written by the publishing client; kept off the consumer's lines.
    pub(crate) published: Padded<AtomicU64>,
    queue: Queue,
    /// Taken by the consumer per receive: on lines of its own, away from the queue's counter
    /// that publishers write.
    pub(crate) inner: Padded<Mutex<SessionState>>,
    /// A copy of the attached connection's waker, so a publisher that must wake the consumer
    /// does not contend for `inner` with it (lock order: after `inner`).
    wake_slot: Mutex<Option<ValueArc<dyn Wake>>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("key", &self.key)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(key: SessionKey, client_id: ValueArc<str>, limits: SessionLimits) -> Self {
        Self {
            key,
            client_id,
            status: AtomicU64::new(0),
            published: Padded(AtomicU64::new(0)),
            queue: Queue::new(),
            inner: Padded(Mutex::new(SessionState {
                front: VecDeque::new(),
                held: Held::default(),
                inflight: VecDeque::new(),
                resend_pending: 0,
                next_packet_id: 1,
                next_seq: 0,
                generation: 0,
                waker: None,
                ended: None,
                limits,
                subscriptions: HashMap::new(),
                will: None,
                username: None,
                expiry: Duration::ZERO,
                expires_at: None,
                sent: 0,
                dropped_expired: 0,
            })),
            wake_slot: Mutex::new(None),
        }
    }

    /// Whether generation `generation` is attached and has not ended.
    pub(crate) fn is_live(&self, generation: u64) -> bool {
        // Acquire: pairs with the Release stores in `attach` and `end`.
        self.status.load(Ordering::Acquire) == (generation << 1 | 1)
    }

    /// Why `generation`'s handle can no longer be used, or `Ok` if it still can.
    pub(crate) fn check(&self, generation: u64) -> Result<(), SessionError> {
        if self.is_live(generation) {
            return Ok(());
        }
        state_check(&self.inner.lock(), generation)
    }

    /// Attaches a new connection: a new generation; the in-flight window is marked for
    /// resending with DUP. Returns the generation.
    pub(crate) fn attach(&self, state: &mut SessionState, waker: ValueArc<dyn Wake>) -> u64 {
        state.generation += 1;
        *self.wake_slot.lock() = Some(waker.clone());
        state.waker = Some(waker);
        self.queue.set_waiting();
        state.ended = None;
        state.expires_at = None;
        for entry in &mut state.inflight {
            entry.resend = true;
        }
        state.resend_pending = state.inflight.len();
        // Release: pairs with the Acquire in `is_live`.
        self.status
            .store(state.generation << 1 | 1, Ordering::Release);
        state.generation
    }

    /// Ends the attached connection of `generation` (if it still is); returns its waker to
    /// wake and takes the will when `publish_will`.
    pub(crate) fn end(
        &self,
        state: &mut SessionState,
        generation: u64,
        reason: SessionError,
        publish_will: bool,
    ) -> Option<Ended> {
        if state.generation != generation || state.ended.is_some() {
            return None;
        }
        state.ended = Some(reason);
        let waker = state.waker.take();
        *self.wake_slot.lock() = None;
        self.queue.release(&mut state.held);
        let will = state.will.take().filter(|_| publish_will);
        // Release: pairs with the Acquire in `is_live`.
        self.status.store(state.generation << 1, Ordering::Release);
        Some((will, waker))
    }

    /// Offers a delivery; applies the queue bounds and the overflow policy.
    pub(crate) fn enqueue(&self, delivery: Delivery) -> Enqueued {
        // Acquire: pairs with the Release stores in `attach` and `end`.
        let online = self.status.load(Ordering::Acquire) & 1 == 1;
        match self.queue.offer(delivery, online) {
            Offer::Queued { wake: false } => Enqueued::Queued(None),
            Offer::Queued { wake: true } => Enqueued::Queued(self.wake_slot.lock().clone()),
            Offer::Dropped(reason, topic) => Enqueued::Dropped(reason, topic),
            Offer::Overflow(topic) => {
                let mut state = self.inner.lock();
                let generation = state.generation;
                let ended = self
                    .end(&mut state, generation, SessionError::SlowConsumer, true)
                    .unwrap_or((None, None));
                Enqueued::Kicked(Box::new(ended), topic)
            }
        }
    }

    /// Whether a connection is attached and the queue has room for `weight` more bytes
    /// (shared subscriptions skip members for which this is false).
    pub(crate) fn has_room_online(&self, weight: usize) -> bool {
        // Acquire: pairs with the Release stores in `attach` and `end`.
        self.status.load(Ordering::Acquire) & 1 == 1 && self.queue.has_room(weight)
    }

    /// Moves up to `max` deliverable items into `out`: first in-flight messages due for resend
    /// (DUP set), then the queue in order. QoS 1/2 items enter the in-flight window (unless
    /// `auto_ack`) and stop at the receive maximum. Expired messages are dropped on the way;
    /// their count is returned in `expired` for the event hook.
    pub(crate) fn take(
        &self,
        generation: u64,
        max: usize,
        now: impl Fn() -> Duration,
        auto_ack: bool,
        mut out: impl FnMut(Taken),
        expired: &mut Vec<Delivery>,
    ) -> Result<(), SessionError> {
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        if state.generation != generation {
            return Err(SessionError::TakenOver);
        }
        let mut taken = 0;
        if state.resend_pending > 0 {
            for entry in state.inflight.iter_mut().filter(|e| e.resend) {
                if taken == max {
                    break;
                }
                entry.resend = false;
                state.resend_pending -= 1;
                let mut delivery = entry.delivery.clone();
                delivery.dup = true;
                out(Taken {
                    delivery,
                    packet_id: Some(entry.packet_id),
                    seq: entry.seq,
                });
                taken += 1;
            }
        }
        let mut clock: Option<Duration> = None;
        while taken < max {
            if state.front.is_empty()
                && self
                    .queue
                    .pop_many(&mut state.front, STAGE, &mut state.held)
                    == 0
            {
                break;
            }
            let Some(delivery) = state.front.pop_front() else {
                break;
            };
            let needs_slot = delivery.qos != QoS::AtMostOnce && !auto_ack;
            if needs_slot && state.inflight.len() >= usize::from(state.limits.receive_maximum) {
                state.front.push_front(delivery);
                break;
            }
            if let Some(expires_at) = delivery.publication.expires_at {
                let now = *clock.get_or_insert_with(&now);
                if now >= expires_at {
                    state.dropped_expired += 1;
                    expired.push(delivery);
                    continue;
                }
            }
            state.sent += 1;
            state.next_seq += 1;
            let seq = state.next_seq;
            let packet_id = if delivery.qos == QoS::AtMostOnce {
                None
            } else {
                Some(next_packet_id(state))
            };
            if let (true, Some(packet_id)) = (needs_slot, packet_id) {
                state.inflight.push_back(Inflight {
                    packet_id,
                    seq,
                    delivery: delivery.clone(),
                    resend: false,
                });
            }
            out(Taken {
                delivery,
                packet_id,
                seq,
            });
            taken += 1;
        }
        if taken == 0 {
            // About to report nothing (and maybe park): the room must be seen as free.
            self.queue.release(&mut state.held);
        }
        match state.ended {
            Some(reason) if taken == 0 && state.front.is_empty() && self.queue.is_empty() => {
                Err(reason)
            }
            _ => Ok(()),
        }
    }

    /// Whether the queue is empty, without taking a lock (a hint for spinning consumers).
    pub(crate) fn queue_is_empty(&self) -> bool {
        self.queue.looks_empty()
    }

    /// The consumer found nothing to take and is about to sleep until woken: raises the
    /// waiting flag. Returns `true` if a delivery arrived meanwhile; then the consumer must
    /// take again instead of sleeping (see `queue.rs` for the protocol).
    pub(crate) fn park(&self) -> bool {
        self.queue.park()
    }

    /// Acknowledges the in-flight delivery `packet_id` handed out as `seq`. Returns the waker
    /// to call if this reopened a full window with messages waiting.
    pub(crate) fn ack(
        &self,
        generation: u64,
        packet_id: u16,
        seq: u64,
    ) -> Option<ValueArc<dyn Wake>> {
        let mut state = self.inner.lock();
        if state.generation != generation {
            return None;
        }
        let pos = state
            .inflight
            .iter()
            .position(|e| e.packet_id == packet_id && e.seq == seq)?;
        let was_full = state.inflight.len() >= usize::from(state.limits.receive_maximum);
        if let Some(entry) = state.inflight.remove(pos)
            && entry.resend
        {
            state.resend_pending -= 1;
        }
        if was_full && !(state.front.is_empty() && self.queue.is_empty()) {
            state.waker.clone()
        } else {
            None
        }
    }
}

/// The check of [`Session::check`] with the lock held.
pub(crate) fn state_check(state: &SessionState, generation: u64) -> Result<(), SessionError> {
    if state.generation != generation {
        return Err(SessionError::TakenOver);
    }
    match state.ended {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// The next free packet identifier, skipping 0 and ids still in flight [MQTT-2.3.1-1].
fn next_packet_id(state: &mut SessionState) -> u16 {
    loop {
        let id = state.next_packet_id;
        state.next_packet_id = state.next_packet_id.checked_add(1).unwrap_or(1);
        if !state.inflight.iter().any(|e| e.packet_id == id) {
            return id;
        }
    }
}

impl Session {
    /// Sets the limits, will and user of a new connection.
    pub(crate) fn configure(
        &self,
        state: &mut SessionState,
        limits: SessionLimits,
        will: Option<Will>,
        username: Option<String>,
        expiry: Duration,
    ) {
        self.queue.configure(
            limits.max_queued_messages,
            limits.max_queued_bytes,
            limits.overflow,
            limits.queue_qos0,
        );
        state.limits = limits;
        state.will = will;
        state.username = username;
        state.expiry = expiry;
    }

    /// The session's counters.
    pub(crate) fn counters(&self) -> SessionCounters {
        let state = self.inner.lock();
        SessionCounters {
            sent: state.sent,
            dropped_queue_full: self.queue.dropped_queue_full.load(Ordering::Relaxed),
            dropped_offline: self.queue.dropped_offline.load(Ordering::Relaxed),
            dropped_expired: state.dropped_expired,
        }
    }
}

impl SessionState {
    /// Whether a connection is attached.
    pub(crate) fn is_online(&self) -> bool {
        self.waker.is_some()
    }

    /// The attached connection's generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// A handle that lets a [`crate::Message`] acknowledge itself.
#[derive(Debug, Clone)]
pub(crate) struct AckHandle {
    pub(crate) session: Arc<Session>,
    pub(crate) generation: u64,
    pub(crate) seq: u64,
}

impl AckHandle {
    pub(crate) fn ack(&self, packet_id: u16) {
        if let Some(waker) = self.session.ack(self.generation, packet_id, self.seq) {
            waker.wake();
        }
    }
}
