//! Layer 2: one session, which owns its state and every rule that changes it.
//!
//! A session is shared by the router (which enqueues) and at most one attached consumer
//! (which takes and acknowledges). The queue ([`queue`]) is lock-free for publishers, except
//! while a persistent session's long queue spills to disk ([`spill`]: its tail is under the
//! lock); everything else mutable sits behind one private `Mutex` that only this module
//! takes (lock order: after the router and retained locks, see `sync/mod.rs`). Every change
//! of a session's state is a method here: attach, end, detach, enqueue, take, acknowledge,
//! subscription bookkeeping and expiry. `status` mirrors the attachment for lock-free checks
//! on the publish path.
//!
//! Not here: routing and the session table (`router/`), limits and hooks (`engine/`).
//!
//! | file | what lives there |
//! | --- | --- |
//! | `mod.rs` | [`Session`]: attachment, ending, enqueue, subscriptions, expiry, stats |
//! | `queue.rs` | the bounded lock-free delivery queue and its wake-up protocol |
//! | `spill.rs` | durable mode: a long queue's tail, left on disk as small entries |
//! | `inflight.rs` | the in-flight window and the incoming QoS 2 ids (plain data) |
//! | `consume.rs` | taking deliveries out and the acknowledgements, both directions |
//! | `notify.rs` | [`Notify`], how a session wakes its consumer |

mod consume;
mod durable;
mod inflight;
mod notify;
mod queue;
mod spill;

pub(crate) use consume::{Next, TakeRequest, TakeSink, Taken};
pub(crate) use durable::Durable;
pub use notify::Notify;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::task::Waker;
use std::time::Duration;

use crate::sync::{Arc, AtomicU64, Mutex, MutexGuard, Ordering, ValueArc};
use crate::types::config::OverflowPolicy;
use crate::types::connect_options::NEVER_EXPIRE;
use crate::types::error::SessionError;
use crate::types::hooks::DropReason;
use crate::types::message::Delivery;
use crate::types::qos::SubOptions;
use crate::types::stats::SessionStats;
use crate::types::store::Persisted;
use crate::types::topic::{TopicFilter, TopicName};
use crate::types::will::Will;
use inflight::{Inbound, Window};
use queue::{Held, Offer, Padded, Queue};
use spill::{SessionTail, Spill};

/// Deliveries moved from the queue into `front` at once, so their room is released with one
/// atomic operation. They wait there, outside the queue's bound, until handed out.
const STAGE: usize = 64;

/// Index of a session in the router's session table; the topic index's handle.
pub(crate) type SessionKey = u32;

/// Per-session settings fixed at connect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLimits {
    pub(crate) max_queued_messages: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) receive_maximum: u16,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) queue_qos0: bool,
}

/// Counters of one session (read for `$SYS` and the broker's stats).
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

/// What a new connection brings to the session it attaches to.
#[derive(Debug)]
pub(crate) struct Attachment {
    pub(crate) limits: SessionLimits,
    pub(crate) will: Option<Will>,
    /// How long the session outlives the connection.
    pub(crate) expiry: Duration,
    pub(crate) notify: ValueArc<dyn Notify>,
    /// The consumer is an in-process client (it receives a QoS 2 message exactly when it
    /// is handed out), not a transport (which confirms with PUBREC).
    pub(crate) in_process: bool,
}

/// Everything mutable of a session but its queue; only this module locks it.
#[derive(Debug)]
struct SessionState {
    /// Deliveries taken from the queue but not handed out yet (a full in-flight window, or
    /// given back by a departing client); they go before the queue.
    front: VecDeque<Delivery>,
    /// Room of deliveries moved to `front` and not yet released to the queue.
    held: Held,
    /// Durable mode: deliveries after everything in the queue's channel, left on disk.
    spill: Spill,
    window: Window,
    inbound: Inbound,
    in_process: bool,
    generation: u64,
    notify: Option<ValueArc<dyn Notify>>,
    /// Why the current generation's connection ended, once it has.
    ended: Option<SessionError>,
    limits: SessionLimits,
    subscriptions: HashMap<TopicFilter, SubOptions>,
    will: Option<Will>,
    /// Kept after its connection ends, until `expires_at`.
    expiry: Duration,
    expires_at: Option<Duration>,
    sent: u64,
    dropped_expired: u64,
    /// The session's record in the store, while it is persistent in durable mode.
    record: Option<ValueArc<Persisted>>,
    /// Unix ms its last connection ended (durable mode: expiry counts from it).
    offline_unix: Option<u64>,
}

/// What ending a connection leaves to do once the locks are released.
#[derive(Debug, Default)]
pub(crate) struct Ended {
    /// The will to publish (or schedule), if it is to be published.
    pub(crate) will: Option<Will>,
    /// The consumer to wake, so it learns that its connection ended.
    pub(crate) notify: Option<ValueArc<dyn Notify>>,
    /// Publishers that waited for room in the queue, to wake so they look again.
    pub(crate) room_waiters: Vec<Waker>,
}

/// What happened to one delivery offered to a session.
#[derive(Debug)]
pub(crate) enum Enqueued {
    /// Queued; wake the consumer with this if set (it was waiting).
    Queued(Option<ValueArc<dyn Notify>>),
    /// Not queued, for this reason; counted already. The topic is for the event.
    Dropped(DropReason, TopicName),
    /// The queue overflowed under `OverflowPolicy::Disconnect`: the connection ended; publish
    /// its will (if any) and wake the consumer. The topic is for the event.
    Kicked(Box<Ended>, TopicName),
    /// Full, handed back as asked (the publisher waits for room).
    Full(Delivery),
}

/// Why a subscription was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscribeRefused {
    /// The handle is unusable.
    Session(SessionError),
    /// The session already holds `max` subscriptions.
    TooMany {
        /// The limit.
        max: usize,
    },
}

/// Where an unattached session stands against its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// A connection is attached, or the session never expires.
    None,
    /// It ends at this clock time.
    At(Duration),
}

/// A session shared by the router and its consumer.
pub(crate) struct Session {
    pub(crate) key: SessionKey,
    pub(crate) client_id: ValueArc<str>,
    /// `generation << 1 | live`: lets the publish path check its handle without the lock.
    /// Release stores in `attach` / `end_locked`; pairs with the Acquire in `is_live`.
    status: AtomicU64,
    /// Publishes made through this session. Written by the publishing client; kept off the
    /// consumer's lines.
    published: Padded<AtomicU64>,
    queue: Queue,
    /// Taken by the consumer per receive: on lines of its own, away from the queue's counter
    /// that publishers write.
    inner: Padded<Mutex<SessionState>>,
    /// A copy of the attached connection's notify, so a publisher that must wake the
    /// consumer does not contend for `inner` with it (lock order: after `inner`).
    wake_slot: Mutex<Option<ValueArc<dyn Notify>>>,
    /// The journal and the session's number in it (durable mode only).
    durable: Option<Durable>,
    /// 1 while the session outlives its connection in durable mode: its deliveries are
    /// recorded. Relaxed: set under the lock at attach and expiry changes; a publish racing
    /// such a change may record one delivery more or less, as if it came before or after.
    persistent: AtomicU64,
    /// 1 while `spill` (the queue's tail) is not empty: a delivery then goes to it, not to
    /// the channel, which it must not overtake. Written under the lock with Release (see
    /// [`Session::set_spilling`]); read by publishers with Acquire.
    spilling: AtomicU64,
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
    pub(crate) fn new(
        key: SessionKey,
        client_id: ValueArc<str>,
        limits: SessionLimits,
        durable: Option<Durable>,
    ) -> Self {
        Self {
            key,
            client_id,
            status: AtomicU64::new(0),
            published: Padded(AtomicU64::new(0)),
            queue: Queue::new(),
            inner: Padded(Mutex::new(SessionState {
                front: VecDeque::new(),
                held: Held::default(),
                spill: Spill::default(),
                window: Window::new(),
                inbound: Inbound::default(),
                in_process: true,
                generation: 0,
                notify: None,
                ended: None,
                limits,
                subscriptions: HashMap::new(),
                will: None,
                expiry: Duration::ZERO,
                expires_at: None,
                sent: 0,
                dropped_expired: 0,
                record: None,
                offline_unix: None,
            })),
            wake_slot: Mutex::new(None),
            durable,
            persistent: AtomicU64::new(0),
            spilling: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.inner.lock()
    }

    /// Whether generation `generation` is attached and has not ended.
    pub(crate) fn is_live(&self, generation: u64) -> bool {
        // Acquire: pairs with the Release stores in `attach` and `end_locked`.
        self.status.load(Ordering::Acquire) == (generation << 1 | 1)
    }

    /// Why `generation`'s handle can no longer be used, or `Ok` if it still can.
    pub(crate) fn check(&self, generation: u64) -> Result<(), SessionError> {
        if self.is_live(generation) {
            return Ok(());
        }
        self.lock().check(generation)
    }

    /// Whether a connection is attached.
    pub(crate) fn is_online(&self) -> bool {
        self.lock().notify.is_some()
    }

    /// Attaches a new connection: a new generation with its limits, will and expiry; what is
    /// in flight is due again [MQTT-4.4.0-1]. Returns the generation.
    pub(crate) fn attach(&self, conn: Attachment) -> u64 {
        let limits = conn.limits;
        self.queue.configure(
            limits.max_queued_messages,
            limits.max_queued_bytes,
            limits.overflow,
            limits.queue_qos0,
        );
        let mut state = self.lock();
        state.limits = limits;
        state.will = conn.will;
        state.expiry = conn.expiry;
        state.generation += 1;
        state.in_process = conn.in_process;
        state.window.resume(conn.in_process);
        *self.wake_slot.lock() = Some(conn.notify.clone());
        state.notify = Some(conn.notify);
        self.queue.set_waiting();
        state.ended = None;
        state.expires_at = None;
        state.offline_unix = None;
        self.record_session(&mut state, None);
        // Release: pairs with the Acquire in `is_live`.
        self.status
            .store(state.generation << 1 | 1, Ordering::Release);
        state.generation
    }

    /// Ends the attached connection, whichever generation it is, for `reason`; its will is
    /// to be published. `None` if no connection was attached.
    pub(crate) fn end_current(&self, reason: SessionError) -> Option<Ended> {
        let mut state = self.lock();
        let generation = state.generation;
        self.end_locked(&mut state, generation, reason, true)
    }

    /// Ends connection `generation` when it leaves (the handle disconnected or was
    /// dropped): the will only if `publish_will`, its delay capped by the session's expiry
    /// [MQTT-3.1.3-9], and the session's expiry starts at `now`. Returns what is left to
    /// do and the session's expiry, or `None` if that connection had already ended.
    pub(crate) fn detach(
        &self,
        generation: u64,
        publish_will: bool,
        now: Duration,
    ) -> Option<(Ended, Duration)> {
        let mut state = self.lock();
        let mut ended = self.end_locked(
            &mut state,
            generation,
            SessionError::TakenOver,
            publish_will,
        )?;
        let expiry = state.expiry;
        state.expires_at = (expiry != NEVER_EXPIRE).then(|| now.saturating_add(expiry));
        if let Some(will) = &mut ended.will {
            will.delay = will.delay.min(expiry);
        }
        state.offline_unix = self.unix_ms(now);
        let delayed = ended.will.as_ref().filter(|w| !w.delay.is_zero());
        self.record_session(&mut state, delayed);
        Some((ended, expiry))
    }

    /// Ends connection `generation` if it is still current and has not ended.
    fn end_locked(
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
        let notify = state.notify.take();
        *self.wake_slot.lock() = None;
        self.queue.release(&mut state.held);
        let will = state.will.take().filter(|_| publish_will);
        // Release: pairs with the Acquire in `is_live`.
        self.status.store(state.generation << 1, Ordering::Release);
        // Taken here, woken with the connection's other effects once every lock is released.
        let room_waiters = self.queue.take_room_waiters();
        Some(Ended {
            will,
            notify,
            room_waiters,
        })
    }

    /// Offers a delivery; applies the queue bounds and the overflow policy, or with
    /// `hand_back` returns a delivery that finds the queue full.
    pub(crate) fn enqueue(&self, mut delivery: Delivery, hand_back: bool) -> Enqueued {
        // Acquire: pairs with the Release stores in `attach` and `end_locked`.
        let online = self.status.load(Ordering::Acquire) & 1 == 1;
        let mut long = false;
        if self.persistent.load(Ordering::Relaxed) == 1 {
            self.record_delivery(&mut delivery, online);
            // A long queue keeps what comes next in the store until it is taken.
            long = delivery.persisted().is_some()
                && self.queue.queued_bytes() >= durable::SPILL_AFTER_BYTES;
        }
        // Acquire: pairs with the Release stores of `spilling`. A publisher that saw 0 after
        // its own previous delivery went to the tail sees the tail emptied by the consumer
        // (that delivery taken out), so this one may go to the channel behind it.
        let tail = SessionTail {
            session: self,
            active: long || self.is_spilling(),
        };
        match self.queue.offer(delivery, online, hand_back, &tail) {
            Offer::Full(delivery) => Enqueued::Full(delivery),
            Offer::Queued { wake: false } => Enqueued::Queued(None),
            Offer::Queued { wake: true } => Enqueued::Queued(self.wake_slot.lock().clone()),
            Offer::Dropped(reason, topic) => Enqueued::Dropped(reason, topic),
            Offer::Overflow(topic) => {
                let ended = self
                    .end_current(SessionError::SlowConsumer)
                    .unwrap_or_default();
                Enqueued::Kicked(Box::new(ended), topic)
            }
        }
    }

    /// Whether the tail holds anything (durable mode only: no atomic read otherwise).
    /// Acquire: pairs with the Release stores of `spilling`.
    fn is_spilling(&self) -> bool {
        self.durable.is_some() && self.spilling.load(Ordering::Acquire) == 1
    }

    /// Mirrors whether the tail is empty into `spilling`, under the lock (`state` is the
    /// locked state). Release: pairs with the Acquire in `enqueue` and `drop_oldest`.
    fn set_spilling(&self, state: &SessionState) {
        let spilling = u64::from(!state.spill.is_empty());
        self.spilling.store(spilling, Ordering::Release);
    }

    /// Whether the queue has room for `weight` more bytes (a hint).
    pub(crate) fn has_room(&self, weight: usize) -> bool {
        self.queue.has_room(weight)
    }

    /// A publisher waits for room for `weight` bytes in this session's queue: `waker` is
    /// woken once room is released (or the connection ends). Returns `true` if there is
    /// room already: offer again instead of waiting (see "Waiting for room" in `queue.rs`).
    pub(crate) fn wait_for_room(&self, waker: &Waker, weight: usize) -> bool {
        self.queue.wait_for_room(waker, weight)
    }

    /// Whether a connection is attached and the queue has room for `weight` more bytes
    /// (shared subscriptions skip members for which this is false).
    pub(crate) fn has_room_online(&self, weight: usize) -> bool {
        // Acquire: pairs with the Release stores in `attach` and `end_locked`.
        self.status.load(Ordering::Acquire) & 1 == 1 && self.queue.has_room(weight)
    }

    /// Counts a publish made through this session.
    pub(crate) fn count_published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    /// Publishes made through this session.
    pub(crate) fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

/// Subscriptions and expiry: the bookkeeping the router's index mirrors.
impl Session {
    /// Records a subscription of connection `generation`; a repeated filter replaces the
    /// old one [MQTT-3.8.4-3]. Returns whether the filter is new to the session.
    pub(crate) fn subscribe(
        &self,
        generation: u64,
        filter: &TopicFilter,
        opts: SubOptions,
        max: usize,
    ) -> Result<bool, SubscribeRefused> {
        let mut state = self.lock();
        state.check(generation).map_err(SubscribeRefused::Session)?;
        if !state.subscriptions.contains_key(filter) && state.subscriptions.len() >= max {
            return Err(SubscribeRefused::TooMany { max });
        }
        let is_new = state.subscriptions.insert(filter.clone(), opts).is_none();
        self.record_session(&mut state, None);
        Ok(is_new)
    }

    /// Removes a subscription of connection `generation`; whether it existed.
    pub(crate) fn unsubscribe(
        &self,
        generation: u64,
        filter: &TopicFilter,
    ) -> Result<bool, SessionError> {
        let mut state = self.lock();
        state.check(generation)?;
        let existed = state.subscriptions.remove(filter).is_some();
        if existed {
            self.record_session(&mut state, None);
        }
        Ok(existed)
    }

    /// The session's subscription filters (to take them out of the index).
    pub(crate) fn filters(&self) -> Vec<TopicFilter> {
        self.lock().subscriptions.keys().cloned().collect()
    }

    /// When an unattached session expires.
    pub(crate) fn expiry(&self) -> Expiry {
        let state = self.lock();
        match state.expires_at {
            Some(at) if state.notify.is_none() => Expiry::At(at),
            _ => Expiry::None,
        }
    }

    /// Changes how long the session outlives connection `generation` (capped by `cap`, and
    /// by [`NEVER_EXPIRE`]); it takes effect when the connection ends.
    pub(crate) fn set_expiry(
        &self,
        generation: u64,
        expiry: Duration,
        cap: Duration,
    ) -> Result<(), SessionError> {
        let mut state = self.lock();
        state.check(generation)?;
        state.expiry = expiry.min(cap).min(NEVER_EXPIRE);
        self.record_session(&mut state, None);
        Ok(())
    }

    /// Takes out, as the session is discarded, what came through a shared subscription and
    /// may go to another member: every queued one, and QoS 1 ones in flight. QoS 2 ones in
    /// flight must not reach another client [MQTT-4.8.2-5] and are dropped with the session.
    pub(crate) fn drain_shared(&self) -> Vec<Delivery> {
        let mut state = self.lock();
        // Oldest first: in flight, then staged, then queued.
        let mut out = state.window.drain_shared().0;
        out.extend(state.front.drain(..).filter(|d| d.shared().is_some()));
        while let Some(delivery) = self.queue.pop() {
            if delivery.shared().is_some() {
                out.push(delivery);
            }
        }
        let (spilled, count, bytes) = state.spill.drain_shared();
        out.extend(spilled);
        self.queue.release_taken(count, bytes, &mut state.held);
        self.set_spilling(&state);
        out
    }

    /// A snapshot of this session's queue, window and counters.
    pub(crate) fn stats(&self) -> SessionStats {
        let counters = self.counters();
        let state = self.lock();
        SessionStats {
            online: state.notify.is_some(),
            queued: self.queue.len() + state.front.len() + state.spill.restored_len(),
            inflight: state.window.len(),
            sent: counters.sent,
            dropped_queue_full: counters.dropped_queue_full,
            dropped_offline: counters.dropped_offline,
            dropped_expired: counters.dropped_expired,
        }
    }

    /// The session's counters.
    pub(crate) fn counters(&self) -> SessionCounters {
        let state = self.lock();
        SessionCounters {
            sent: state.sent,
            dropped_queue_full: self.queue.dropped_queue_full.load(Ordering::Relaxed),
            dropped_offline: self.queue.dropped_offline.load(Ordering::Relaxed),
            dropped_expired: state.dropped_expired,
        }
    }
}

impl SessionState {
    /// Why `generation`'s handle can no longer be used, or `Ok` if it still can.
    fn check(&self, generation: u64) -> Result<(), SessionError> {
        if self.generation != generation {
            return Err(SessionError::TakenOver);
        }
        match self.ended {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Whether the in-flight window is at the receive maximum.
    fn window_full(&self) -> bool {
        self.window.len() >= usize::from(self.limits.receive_maximum)
    }
}

/// What lets a received [`crate::Message`] acknowledge itself: its session, connection and
/// hand-out sequence number, and nothing else.
#[derive(Debug, Clone)]
pub(crate) struct AckHandle {
    session: Arc<Session>,
    generation: u64,
    seq: u64,
}

impl AckHandle {
    /// The handle of the delivery handed out as `seq` to connection `generation`.
    pub(crate) fn new(session: Arc<Session>, generation: u64, seq: u64) -> Self {
        Self {
            session,
            generation,
            seq,
        }
    }

    /// Completes the delivery (PUBACK, or PUBREC + PUBCOMP) and wakes the consumer if that
    /// reopened its window.
    pub(crate) fn ack(&self, packet_id: u16) {
        if let Some(notify) = self.session.ack(self.generation, packet_id, self.seq) {
            notify.notify();
        }
    }
}
