//! One session: its queue, in-flight window and the connection attached to it.
//!
//! Not here: routing and the session table (see `broker.rs`). A session is shared by the
//! router (which enqueues) and at most one attached consumer (which takes and acknowledges).
//! The queue ([`queue`]) is lock-free for publishers; everything else mutable sits behind one
//! `Mutex` (lock order: after the router and retained locks, see `sync/mod.rs`), which
//! publishers take only to wake a waiting consumer or end a slow one. `status` mirrors the
//! attachment for lock-free checks on the publish path.

mod consume;
mod inflight;
mod queue;

pub(crate) use consume::{Outgoing, Taken};

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use crate::config::OverflowPolicy;
use crate::error::SessionError;
use crate::hooks::DropReason;
use crate::message::Delivery;
use crate::qos::SubOptions;
use crate::sync::{Arc, AtomicU64, Mutex, Ordering, ValueArc};
use crate::topic::{TopicFilter, TopicName};
use crate::will::Will;
use inflight::{Inbound, Window};
use queue::{Held, Offer, Padded, Queue};

/// Deliveries moved from the queue into `front` at once, so their room is released with one
/// atomic operation. They wait there, outside the queue's bound, until handed out.
pub(crate) const STAGE: usize = 64;

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
pub(crate) struct SessionState {
    /// Deliveries taken from the queue but not handed out yet (a full in-flight window, or
    /// given back by a departing client); they go before the queue.
    front: VecDeque<Delivery>,
    /// Room of deliveries moved to `front` and not yet released to the queue.
    held: Held,
    window: Window,
    inbound: Inbound,
    /// The attached consumer is an in-process client (it receives a QoS 2 message exactly
    /// when it is handed out), not a network connection (which confirms with PUBREC).
    in_process: bool,
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
    /// Full, handed back as asked (the publisher waits for room).
    Full(Delivery),
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
                window: Window::new(),
                inbound: Inbound::default(),
                in_process: true,
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

    /// Attaches a new connection: a new generation; what is in flight is due again
    /// [MQTT-4.4.0-1]. Returns the generation.
    pub(crate) fn attach(
        &self,
        state: &mut SessionState,
        waker: ValueArc<dyn Wake>,
        in_process: bool,
    ) -> u64 {
        state.generation += 1;
        state.in_process = in_process;
        state.window.resume(in_process);
        *self.wake_slot.lock() = Some(waker.clone());
        state.waker = Some(waker);
        self.queue.set_waiting();
        state.ended = None;
        state.expires_at = None;
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

    /// Offers a delivery; applies the queue bounds and the overflow policy, or with
    /// `hand_back` returns a delivery that finds the queue full.
    pub(crate) fn enqueue(&self, delivery: Delivery, hand_back: bool) -> Enqueued {
        // Acquire: pairs with the Release stores in `attach` and `end`.
        let online = self.status.load(Ordering::Acquire) & 1 == 1;
        match self.queue.offer(delivery, online, hand_back) {
            Offer::Full(delivery) => Enqueued::Full(delivery),
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

    /// Whether the queue has room for `weight` more bytes (a hint).
    pub(crate) fn has_room(&self, weight: usize) -> bool {
        self.queue.has_room(weight)
    }

    /// Whether a connection is attached and the queue has room for `weight` more bytes
    /// (shared subscriptions skip members for which this is false).
    pub(crate) fn has_room_online(&self, weight: usize) -> bool {
        // Acquire: pairs with the Release stores in `attach` and `end`.
        self.status.load(Ordering::Acquire) & 1 == 1 && self.queue.has_room(weight)
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

    /// Takes out, as the session is discarded, what came through a shared subscription and
    /// may go to another member: every queued one, and QoS 1 ones in flight. QoS 2 ones in
    /// flight must not reach another client [MQTT-4.8.2-5] and are dropped with the session.
    pub(crate) fn drain_shared(&self) -> Vec<Delivery> {
        let mut state = self.inner.lock();
        // Oldest first: in flight, then staged, then queued.
        let mut out = state.window.drain_shared().0;
        out.extend(state.front.drain(..).filter(|d| d.shared().is_some()));
        while let Some(delivery) = self.queue.pop() {
            if delivery.shared().is_some() {
                out.push(delivery);
            }
        }
        out
    }

    /// A snapshot of this session's queue, window and counters.
    pub(crate) fn stats(&self) -> crate::stats::SessionStats {
        let counters = self.counters();
        let state = self.inner.lock();
        crate::stats::SessionStats {
            online: state.is_online(),
            queued: self.queue.len() + state.front.len(),
            inflight: state.window.len(),
            sent: counters.sent,
            dropped_queue_full: counters.dropped_queue_full,
            dropped_offline: counters.dropped_offline,
            dropped_expired: counters.dropped_expired,
        }
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
