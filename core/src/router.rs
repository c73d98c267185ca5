//! Routing: the session table, the topic index, and the fan-out of one publication.
//!
//! Not here: the public handles (`broker.rs`, `client.rs`) and per-session queue logic
//! (`session.rs`). Publishers hold the router lock for reading while they match and enqueue,
//! so a subscribe or unsubscribe (which write) is ordered entirely before or after each
//! publish: a publish that starts after `subscribe()` returned is delivered, and none that
//! starts after `unsubscribe()` returned is.

use std::collections::HashMap;

use crate::config::SharedStrategy;
pub(crate) use crate::effects::Effects;
use crate::hooks::{DisconnectReason, DropReason};
use crate::index::{Match, SharedGroup, TopicIndex};
use crate::message::{Delivery, Publication, origin_of};
use crate::qos::SubOptions;
use crate::session::{Enqueued, Session, SessionCounters, SessionKey};
use crate::sync::{Arc, ValueArc};
use crate::topic::TopicName;

/// Everything behind the router lock.
#[derive(Debug)]
pub(crate) struct RouterState {
    pub(crate) index: TopicIndex<SessionKey>,
    sessions: Vec<Option<Arc<Session>>>,
    free: Vec<SessionKey>,
    pub(crate) by_id: HashMap<ValueArc<str>, SessionKey>,
    pub(crate) closed: bool,
    /// How a shared group picks its member (from the config).
    pub(crate) shared_strategy: SharedStrategy,
    /// Bumped by every change of the index, so a cached route is valid exactly while the
    /// version it was computed at is current.
    pub(crate) version: u64,
    /// Counters of sessions already discarded, so totals never go backwards.
    pub(crate) retired: SessionCounters,
    pub(crate) retired_published: u64,
}

impl RouterState {
    pub(crate) fn new(shared_strategy: SharedStrategy) -> Self {
        Self {
            index: TopicIndex::new(),
            sessions: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            closed: false,
            shared_strategy,
            version: 0,
            retired: SessionCounters::default(),
            retired_published: 0,
        }
    }
}

impl RouterState {
    pub(crate) fn session(&self, key: SessionKey) -> Option<&Arc<Session>> {
        self.sessions.get(key as usize).and_then(Option::as_ref)
    }

    pub(crate) fn sessions(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.sessions.iter().flatten()
    }

    /// A free slot for a new session.
    pub(crate) fn next_key(&mut self) -> SessionKey {
        if let Some(key) = self.free.pop() {
            return key;
        }
        self.sessions.push(None);
        SessionKey::try_from(self.sessions.len() - 1)
            .expect("max_clients keeps sessions below 2^32")
    }

    pub(crate) fn insert(&mut self, session: Arc<Session>) {
        let key = session.key as usize;
        self.by_id.insert(session.client_id.clone(), session.key);
        self.sessions[key] = Some(session);
    }

    /// Discards a session: its subscriptions, its slot and its id. Returns the deliveries
    /// it held that came through shared subscriptions and may go to another member
    /// ([`redirect`]).
    #[must_use]
    pub(crate) fn remove(&mut self, session: &Arc<Session>) -> Vec<Delivery> {
        let key = session.key;
        if !self.session(key).is_some_and(|s| Arc::ptr_eq(s, session)) {
            return Vec::new();
        }
        let state = session.inner.lock();
        for filter in state.subscriptions.keys() {
            self.index.remove(filter, key);
        }
        self.version += 1;
        drop(state);
        self.retired.add(&session.counters());
        self.retired_published += session.published.load(crate::sync::Ordering::Relaxed);
        self.sessions[key as usize] = None;
        self.free.push(key);
        if self.by_id.get(&session.client_id) == Some(&key) {
            self.by_id.remove(&session.client_id);
        }
        session.drain_shared()
    }
}

/// A publisher's memo of where its last topic routed, valid while the index is unchanged:
/// a client that publishes to the same topic again skips the index lookup.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    version: u64,
    /// The topic routed; `None` when nothing is cached.
    topic: Option<TopicName>,
    /// Its one direct subscription, or `None` if it had no subscriber.
    target: Option<(SessionKey, SubOptions)>,
}

/// One subscriber's merged view of the subscriptions a topic matched.
#[derive(Debug, Clone)]
struct Target {
    key: SessionKey,
    /// The options; `subscription_id` holds the first identifier.
    opts: SubOptions,
    /// Identifiers of further overlapping subscriptions (rare: empty, so unallocated, in the
    /// common single-subscription case).
    more_ids: Vec<u32>,
}

impl Target {
    fn new(key: SessionKey, opts: SubOptions) -> Self {
        Self {
            key,
            opts,
            more_ids: Vec::new(),
        }
    }

    /// Overlapping subscriptions of one client: one delivery at the highest granted QoS,
    /// carrying every subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3].
    fn merge(&mut self, other: Target) {
        self.opts.qos = self.opts.qos.max(other.opts.qos);
        self.opts.retain_as_published |= other.opts.retain_as_published;
        match (self.opts.subscription_id, other.opts.subscription_id) {
            (None, id) => self.opts.subscription_id = id,
            (Some(_), Some(id)) => self.more_ids.push(id),
            (Some(_), None) => {}
        }
        self.more_ids.extend(other.more_ids);
    }

    /// Every subscription identifier, for a delivery (allocates only if there is one).
    fn ids(self) -> Vec<u32> {
        match self.opts.subscription_id {
            None => self.more_ids,
            Some(first) => {
                let mut ids = self.more_ids;
                ids.insert(0, first);
                ids
            }
        }
    }
}

/// Offers `publication` to every matching subscription. `state` is the router read guard.
///
/// The publication is moved into the delivery when there is exactly one recipient (the
/// common 1 → 1 case pays no reference-count traffic for it); otherwise each recipient gets a
/// clone, which shares the topic, payload and properties.
pub(crate) fn route(
    state: &RouterState,
    publication: Publication,
    effects: &mut Effects,
    cache: Option<&mut RouteCache>,
) {
    if let Some(cache) = &cache
        && cache.version == state.version
        && cache.topic.as_ref() == Some(&publication.topic)
    {
        if let Some((key, opts)) = cache.target {
            offer(state, publication, Target::new(key, opts), effects);
        }
        return;
    }
    let origin = publication.origin;
    let mut first: Option<Target> = None;
    let mut rest: Vec<Target> = Vec::new();
    let mut groups = Vec::new();
    state.index.for_each_match(&publication.topic, |m| match m {
        Match::Direct(key, opts) => {
            // No-local applies per subscription, before overlapping ones merge [MQTT-3.8.3-3].
            if opts.no_local && origin == origin_of(key) {
                return;
            }
            if first.is_none() {
                first = Some(Target::new(key, opts));
            } else {
                rest.push(Target::new(key, opts));
            }
        }
        Match::Shared(group) => groups.push(group),
    });
    if let Some(cache) = cache {
        // Only the simple shapes are cached: no subscriber, or one direct subscription.
        let simple = groups.is_empty() && rest.is_empty();
        cache.version = state.version;
        cache.topic = simple.then(|| publication.topic.clone());
        cache.target = first.as_ref().filter(|_| simple).map(|t| (t.key, t.opts));
    }
    if groups.is_empty() && rest.is_empty() {
        if let Some(first) = first {
            offer(state, publication, first, effects);
        }
        return;
    }
    let publication = &publication;
    if let Some(first) = first {
        if rest.is_empty() {
            offer(state, publication.clone(), first, effects);
        } else {
            rest.push(first);
            rest.sort_by_key(|t| t.key);
            let mut merged: Option<Target> = None;
            for target in rest {
                match &mut merged {
                    Some(m) if m.key == target.key => m.merge(target),
                    _ => {
                        if let Some(done) = merged.replace(target) {
                            offer(state, publication.clone(), done, effects);
                        }
                    }
                }
            }
            if let Some(done) = merged {
                offer(state, publication.clone(), done, effects);
            }
        }
    }
    for group in groups {
        offer_shared(state, publication, group, effects);
    }
}

fn delivery(publication: Publication, target: Target) -> Delivery {
    let qos = publication.qos.min(target.opts.qos);
    // Live deliveries carry RETAIN 0 [MQTT-3.3.1-9] unless retain-as-published (MQTT 5.0 §3.8.3.1).
    let retain = target.opts.retain_as_published && publication.retain;
    Delivery::new(publication, qos, retain, target.ids())
}

fn offer(state: &RouterState, publication: Publication, target: Target, effects: &mut Effects) {
    if let Some(session) = state.session(target.key) {
        let outcome = session.enqueue(delivery(publication, target), effects.hand_back_full);
        settle(session, outcome, effects);
    }
}

/// The member a shared group tries first, by the configured strategy.
fn first_member(group: &SharedGroup<SessionKey>, strategy: SharedStrategy) -> usize {
    let n = group.members().len();
    match strategy {
        SharedStrategy::RoundRobin => group.next_start() % n,
        // splitmix64 of the cursor: well spread, no RNG state or dependency.
        SharedStrategy::Random => {
            let mut x = (group.next_start() as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((x ^ (x >> 31)) % n as u64) as usize
        }
        SharedStrategy::Sticky => 0,
    }
}

/// A shared group: exactly one member gets the message (MQTT 5.0 §4.8.2): the first that is
/// online and has room, starting at the strategy's pick; if none has, the pick (online or
/// not) under its own overflow policy. The delivery remembers the group, so it can go to
/// another member if this member's session ends before taking it.
fn offer_shared(
    state: &RouterState,
    publication: &Publication,
    group: &SharedGroup<SessionKey>,
    effects: &mut Effects,
) {
    let members = group.members();
    if members.is_empty() {
        return;
    }
    let start = first_member(group, state.shared_strategy);
    let order = members[start..].iter().chain(&members[..start]);
    let chosen = order
        .clone()
        .find(|(key, _)| {
            state
                .session(*key)
                .is_some_and(|s| s.has_room_online(publication.weight()))
        })
        .unwrap_or(&members[start]);
    let (key, opts) = *chosen;
    if let Some(session) = state.session(key) {
        let mut delivery = delivery(publication.clone(), Target::new(key, opts));
        delivery.extra.get_or_insert_default().shared = Some(group.filter().clone());
        let outcome = session.enqueue(delivery, effects.hand_back_full);
        settle(session, outcome, effects);
    }
}

/// Sends deliveries taken from a discarded session to other members of the shared
/// subscriptions they came through (MQTT 5.0 §4.8.2: a QoS 1 message whose member's session
/// ends SHOULD go to another member). A group left without members drops them.
pub(crate) fn redirect(state: &RouterState, deliveries: Vec<Delivery>, effects: &mut Effects) {
    for delivery in deliveries {
        let group = delivery
            .shared()
            .and_then(|filter| state.index.shared_group(filter));
        if let Some(group) = group {
            offer_shared(state, &delivery.publication, group, effects);
        }
    }
}

/// Records what one enqueue asks of the caller.
pub(crate) fn settle(session: &Arc<Session>, outcome: Enqueued, effects: &mut Effects) {
    match outcome {
        Enqueued::Full(delivery) => effects.rare().blocked.push((session.clone(), delivery)),
        Enqueued::Queued(Some(waker)) => effects.wake(waker),
        Enqueued::Queued(None) => {}
        Enqueued::Dropped(reason, topic) => {
            if reason == DropReason::QueueFull && effects.first_full.is_none() {
                effects.first_full = Some(session.client_id.clone());
            }
            if effects.record_drops {
                let dropped = (session.client_id.clone(), topic, reason);
                effects.rare().drops.push(dropped);
            }
        }
        Enqueued::Kicked(ended, topic) => {
            let (will, waker) = *ended;
            if effects.record_drops {
                let dropped = (session.client_id.clone(), topic, DropReason::QueueFull);
                effects.rare().drops.push(dropped);
            }
            effects.ended(session, DisconnectReason::SlowConsumer, will, waker);
        }
    }
}
