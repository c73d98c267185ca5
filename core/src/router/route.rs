//! The fan-out of one publication: match it in the index, merge one subscriber's
//! overlapping subscriptions, pick one member per shared group, and offer the deliveries to
//! the sessions. Runs under the router's read lock (`Router::route`).

use super::Router;
use super::effects::Effects;
use crate::index::{Match, SharedGroup};
use crate::session::{Enqueued, Session, SessionKey};
use crate::sync::Arc;
use crate::types::config::SharedStrategy;
use crate::types::hooks::{DisconnectReason, DropReason};
use crate::types::message::{Delivery, Publication, origin_of};
use crate::types::qos::SubOptions;
use crate::types::topic::TopicName;

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

/// The subscriptions one publication matched, before they are merged per session.
struct Matched<'a> {
    first: Option<Target>,
    /// Further direct subscriptions (empty, so unallocated, in the 1 → 1 case).
    rest: Vec<Target>,
    groups: Vec<&'a SharedGroup<SessionKey>>,
}

impl Matched<'_> {
    /// No subscriber, or one direct subscription: the shapes a [`RouteCache`] keeps.
    fn is_simple(&self) -> bool {
        self.groups.is_empty() && self.rest.is_empty()
    }
}

impl Router {
    /// Offers `publication` to every matching subscription, with the router read guard held.
    ///
    /// The publication is moved into the delivery when there is exactly one recipient (the
    /// common 1 → 1 case pays no reference-count traffic for it); otherwise each recipient
    /// gets a clone, which shares the topic, payload and properties.
    pub(crate) fn route(
        &self,
        publication: Publication,
        effects: &mut Effects,
        cache: Option<&mut RouteCache>,
    ) {
        if let Some(cache) = &cache
            && cache.version == self.version
            && cache.topic.as_ref() == Some(&publication.topic)
        {
            if let Some((key, opts)) = cache.target {
                offer(self, publication, Target::new(key, opts), effects);
            }
            return;
        }
        let matched = self.matches(&publication);
        if let Some(cache) = cache {
            let simple = matched.is_simple();
            cache.version = self.version;
            cache.topic = simple.then(|| publication.topic.clone());
            cache.target = matched
                .first
                .as_ref()
                .filter(|_| simple)
                .map(|t| (t.key, t.opts));
        }
        if matched.is_simple() {
            if let Some(first) = matched.first {
                offer(self, publication, first, effects);
            }
            return;
        }
        let Matched {
            first,
            mut rest,
            groups,
        } = matched;
        if let Some(first) = first {
            rest.push(first);
            merge_per_session(&mut rest);
            for target in rest {
                offer(self, publication.clone(), target, effects);
            }
        }
        for group in groups {
            offer_shared(self, &publication, group, effects);
        }
    }

    /// The subscriptions `publication` matches, after no-local.
    fn matches(&self, publication: &Publication) -> Matched<'_> {
        let origin = publication.origin;
        let mut matched = Matched {
            first: None,
            rest: Vec::new(),
            groups: Vec::new(),
        };
        self.index.for_each_match(&publication.topic, |m| match m {
            Match::Direct(key, opts) => {
                // No-local applies per subscription, before overlapping ones merge
                // [MQTT-3.8.3-3].
                if opts.no_local && origin == origin_of(key) {
                    return;
                }
                let target = Target::new(key, opts);
                match matched.first {
                    None => matched.first = Some(target),
                    Some(_) => matched.rest.push(target),
                }
            }
            Match::Shared(group) => matched.groups.push(group),
        });
        matched
    }
}

/// One target per session: overlapping subscriptions of one client merge into one delivery
/// [MQTT-3.3.4-2].
fn merge_per_session(targets: &mut Vec<Target>) {
    targets.sort_by_key(|t| t.key);
    targets.dedup_by(|later, earlier| {
        let same = later.key == earlier.key;
        if same {
            earlier.merge(std::mem::replace(later, Target::new(later.key, later.opts)));
        }
        same
    });
}

fn delivery(publication: Publication, target: Target) -> Delivery {
    let qos = publication.qos.min(target.opts.qos);
    // Live deliveries carry RETAIN 0 [MQTT-3.3.1-9] unless retain-as-published (MQTT 5.0 §3.8.3.1).
    let retain = target.opts.retain_as_published && publication.retain;
    Delivery::new(publication, qos, retain, target.ids())
}

fn offer(state: &Router, publication: Publication, target: Target, effects: &mut Effects) {
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
    state: &Router,
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
pub(crate) fn redirect(state: &Router, deliveries: Vec<Delivery>, effects: &mut Effects) {
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
        Enqueued::Queued(Some(notify)) => effects.wake(notify),
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
            if effects.record_drops {
                let dropped = (session.client_id.clone(), topic, DropReason::QueueFull);
                effects.rare().drops.push(dropped);
            }
            effects.ended(session, DisconnectReason::SlowConsumer, *ended);
        }
    }
}
