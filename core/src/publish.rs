//! The publish path and the work that follows any lock: wake-ups, wills and events.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::broker::BrokerShared;
use crate::effects::Effects;
use crate::error::{LimitError, PublishError};
use crate::hooks::{DenyReason, Event};
use crate::message::Delivery;
use crate::message::{Deadline, Publication, PublishProperties, origin_of};
use crate::qos::QoS;
use crate::router::{RouteCache, route, settle};
use crate::session::Session;
use crate::session::SessionKey;
use crate::sync::{Arc, Mutex};
use crate::sync::{Ordering, ValueArc};
use crate::timers::PendingWill;
use crate::topic::TopicName;

/// How to publish: QoS, retain, MQTT 5 properties and what to do about full queues.
///
/// ```
/// use mqlite::{PublishOptions, QoS};
/// let opts = PublishOptions::new(QoS::AtLeastOnce).retain(true);
/// assert_eq!(opts.get_qos(), QoS::AtLeastOnce);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) properties: Option<ValueArc<PublishProperties>>,
    pub(crate) fail_if_full: bool,
    pub(crate) wait_if_full: Option<Duration>,
    pub(crate) interrupt: Option<Interrupt>,
}

/// A caller's "stop waiting" check for [`PublishOptions::interrupt`].
#[derive(Clone)]
pub(crate) struct Interrupt(ValueArc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupt(..)")
    }
}

/// How often a publish waiting for room asks its [`PublishOptions::interrupt`] check.
const INTERRUPT_EVERY: Duration = Duration::from_millis(50);

impl PublishOptions {
    /// Publish at `qos`, not retained, no properties.
    pub fn new(qos: QoS) -> Self {
        Self {
            qos,
            ..Self::default()
        }
    }

    /// Store as the topic's retained message (an empty payload clears it).
    #[must_use]
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// MQTT 5 properties forwarded to subscribers; a message expiry interval also bounds
    /// how long it may wait in queues.
    #[must_use]
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.properties = Some(ValueArc::new(properties));
        self
    }

    /// Report [`PublishError::QueueFull`] if any subscriber's queue was full and dropped
    /// this message (subscribers with room still receive it). Default `false`: drops are
    /// counted and reported to the event hook only, as for network publishers.
    #[must_use]
    pub fn fail_if_full(mut self, on: bool) -> Self {
        self.fail_if_full = on;
        self
    }

    /// Wait up to `timeout` for room in a full subscriber queue instead of applying its
    /// overflow policy (in-process publishers only; network publishers never wait). The
    /// publish returns once every subscriber has the message or the deadline has passed;
    /// past it the subscriber's policy applies, and with [`PublishOptions::fail_if_full`]
    /// the publish reports [`PublishError::QueueFull`]. This is the one case where a publish
    /// waits on a subscriber, and only for the publisher that asks; other subscribers get
    /// the message at once. A waiting message was matched when the publish began: it still
    /// goes to its subscriber if that one unsubscribes meanwhile, as messages already in
    /// flight may ([MQTT-3.10.4-3]). Default `None`: never wait.
    #[must_use]
    pub fn wait_if_full(mut self, timeout: Option<Duration>) -> Self {
        self.wait_if_full = timeout;
        self
    }

    /// A check that ends a [`PublishOptions::wait_if_full`] wait early: called about every
    /// 50 ms while the publish waits for room; once it returns `true` the wait ends as if
    /// its deadline had passed (the overflow policy applies to the subscribers still full).
    /// Language bindings use it to let Ctrl-C through a long wait.
    #[must_use]
    pub fn interrupt(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.interrupt = Some(Interrupt(ValueArc::new(check)));
        self
    }

    /// The QoS.
    pub fn get_qos(&self) -> QoS {
        self.qos
    }
}

impl BrokerShared {
    /// Checks a topic and payload against the configured limits.
    pub(crate) fn check_limits(
        &self,
        topic: &TopicName,
        payload_len: usize,
    ) -> Result<(), LimitError> {
        let c = &self.config;
        let len = topic.as_str().len();
        if len > c.max_topic_length {
            return Err(LimitError::TopicTooLong {
                len,
                max: c.max_topic_length,
            });
        }
        let levels = topic.level_count();
        if levels > c.max_topic_levels {
            return Err(LimitError::TooManyLevels {
                levels,
                max: c.max_topic_levels,
            });
        }
        if payload_len > c.max_payload_size {
            return Err(LimitError::PayloadTooLarge {
                size: payload_len,
                max: c.max_payload_size,
            });
        }
        Ok(())
    }

    /// Publishes one message from session `origin` (or from the broker itself), using and
    /// refreshing the publisher's route cache if it has one and nobody else holds it.
    pub(crate) fn publish(
        &self,
        origin: Option<(SessionKey, &str, Option<&str>)>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
        cache: Option<&Mutex<RouteCache>>,
    ) -> Result<(), PublishError> {
        self.check_limits(&topic, payload.len())?;
        if let (Some(hooks), Some((_, client_id, username))) = (&self.hooks, origin) {
            let info = Self::client_info(client_id, username);
            if !hooks.authorize_publish(&info, &topic, options.qos, options.retain) {
                self.emit(&Event::PublishDenied {
                    client_id,
                    topic: topic.as_str(),
                    reason: DenyReason::Hooks,
                });
                return Err(PublishError::NotAuthorized {
                    topic: topic.as_str().to_owned(),
                });
            }
        }
        let expires_at = options
            .properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval)
            .map_or(Deadline::NONE, |interval| {
                Deadline::at(self.clock.now().saturating_add(interval))
            });
        let publication = Publication {
            topic,
            payload,
            qos: options.qos,
            retain: options.retain,
            properties: options.properties.clone(),
            origin: origin.and_then(|(key, _, _)| origin_of(key)),
            expires_at,
        };
        let mut effects = self.effects();
        effects.hand_back_full = options.wait_if_full.is_some();
        {
            let state = self.state.read();
            if state.closed && origin.is_some() {
                return Err(crate::error::SessionError::BrokerClosed.into());
            }
            if publication.retain {
                let c = &self.config;
                self.retained
                    .lock()
                    .set(&publication, c.max_retained_messages, c.max_retained_bytes)
                    .map_err(|full| PublishError::RetainedStoreFull {
                        count: full.count,
                        bytes: full.bytes,
                    })?;
            }
            let mut cache = cache.and_then(Mutex::try_lock);
            route(&state, publication, &mut effects, cache.as_deref_mut());
        }
        let blocked = effects.take_blocked();
        let mut full = effects.first_full.take();
        self.run_effects(effects);
        if let (Some(wait), false) = (options.wait_if_full, blocked.is_empty()) {
            full = full.or(self.wait_for_room(blocked, wait, options.interrupt.as_ref()));
        }
        match full {
            Some(client_id) if options.fail_if_full => Err(PublishError::QueueFull {
                client_id: client_id.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Offers each delivery that found its queue full again as room appears, for up to
    /// `wait`; past it, the session's overflow policy applies. No lock is held while waiting.
    /// Returns the first session whose queue was still full at the deadline.
    fn wait_for_room(
        &self,
        blocked: Vec<(Arc<Session>, Delivery)>,
        wait: Duration,
        interrupt: Option<&Interrupt>,
    ) -> Option<ValueArc<str>> {
        // Waiting is real time; the broker clock only drives MQTT's time rules.
        let deadline = Instant::now().checked_add(wait);
        let mut still_full = None;
        let mut asked = Instant::now();
        let mut interrupted = false;
        for (session, mut delivery) in blocked {
            let mut pause = Duration::from_micros(1);
            loop {
                if let Some(Interrupt(check)) = interrupt
                    && !interrupted
                    && asked.elapsed() >= INTERRUPT_EVERY
                {
                    asked = Instant::now();
                    interrupted = check();
                }
                let late = interrupted || deadline.is_some_and(|d| Instant::now() >= d);
                let mut effects = self.effects();
                effects.hand_back_full = !late;
                let weight = delivery.publication.weight();
                if late || session.has_room(weight) {
                    settle(&session, session.enqueue(delivery, !late), &mut effects);
                } else {
                    effects.rare().blocked.push((session.clone(), delivery));
                }
                if still_full.is_none() {
                    still_full = effects.first_full.take();
                }
                let retry = effects.rare.as_mut().and_then(|r| r.blocked.pop());
                self.run_effects(effects);
                match retry {
                    Some((_, back)) => delivery = back,
                    None => break,
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(1));
            }
        }
        still_full
    }

    /// Publishes a message of the broker's own (`$SYS`, a will) without hooks or limits.
    pub(crate) fn publish_internal(
        &self,
        origin: Option<SessionKey>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) {
        self.broker_published.fetch_add(1, Ordering::Relaxed);
        let publication = Publication {
            topic,
            payload,
            qos: options.qos,
            retain: options.retain,
            properties: options.properties.clone(),
            origin: origin.and_then(origin_of),
            expires_at: Deadline::NONE,
        };
        let mut effects = self.effects();
        {
            let state = self.state.read();
            if publication.retain {
                let c = &self.config;
                // A full store keeps its older messages; the live publish still goes out.
                let _ = self.retained.lock().set(
                    &publication,
                    c.max_retained_messages,
                    c.max_retained_bytes,
                );
            }
            route(&state, publication, &mut effects, None);
        }
        self.run_effects(effects);
    }

    /// An empty [`Effects`] for one operation.
    pub(crate) fn effects(&self) -> Effects {
        Effects::new(self.hooks.is_some())
    }

    /// Does what `effects` collected, with no lock held: wakes consumers, emits events and
    /// publishes (or schedules) wills, whose own effects are handled the same way.
    pub(crate) fn run_effects(&self, effects: Effects) {
        if effects.is_empty() {
            return;
        }
        let (wakes, rare) = effects.into_parts();
        for waker in wakes {
            waker.wake();
        }
        let Some(rare) = rare else {
            return;
        };
        if !rare.disconnects.is_empty() {
            self.connected
                .fetch_sub(rare.disconnects.len(), Ordering::Relaxed);
        }
        // Wills before the embedder's event hooks, so that a panicking hook loses none.
        for (client_id, origin, will) in rare.wills {
            if will.delay > Duration::ZERO {
                let due = self.clock.now().saturating_add(will.delay);
                self.pending_wills.lock().push(PendingWill {
                    client_id,
                    origin,
                    will,
                    due,
                });
            } else {
                self.publish_will(origin, will);
            }
        }
        for (client_id, topic, reason) in &rare.drops {
            self.emit(&Event::MessageDropped {
                client_id,
                topic,
                reason: *reason,
            });
        }
        for (client_id, reason) in &rare.disconnects {
            self.emit(&Event::ClientDisconnected {
                client_id,
                reason: *reason,
            });
        }
    }

    /// Publishes a will now. Its topic was validated at connect.
    pub(crate) fn publish_will(&self, origin: SessionKey, will: crate::will::Will) {
        let Ok(topic) = TopicName::new(&will.topic) else {
            return;
        };
        let mut options = PublishOptions::new(will.qos).retain(will.retain);
        if let Some(properties) = will.properties {
            options = options.properties(properties);
        }
        self.publish_internal(Some(origin), topic, will.payload, &options);
    }
}
