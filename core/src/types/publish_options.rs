//! [`PublishOptions`]: how to publish (QoS, retain, MQTT 5 properties, full queues).

use std::time::Duration;

use crate::sync::ValueArc;
use crate::types::message::PublishProperties;
use crate::types::qos::QoS;

/// How to publish: QoS, retain, MQTT 5 properties and what to do about full queues.
///
/// ```
/// use mqlite::{PublishOptions, QoS};
/// let opts = PublishOptions::new(QoS::AtLeastOnce).retain(true);
/// assert_eq!(opts.qos(), QoS::AtLeastOnce);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) properties: Option<ValueArc<PublishProperties>>,
    pub(crate) fail_if_full: bool,
    pub(crate) wait_if_full: Option<Duration>,
    pub(crate) interrupt: Option<Interrupt>,
    /// The packet id of the incoming QoS 2 PUBLISH being routed (0: none), see
    /// `Publication::inbound_id`.
    pub(crate) inbound_id: u16,
}

/// A caller's "stop waiting" check for [`PublishOptions::interrupt`].
#[derive(Clone)]
pub(crate) struct Interrupt(pub(crate) ValueArc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupt(..)")
    }
}

/// How often a publish waiting for room asks its [`PublishOptions::interrupt`] check.
pub(crate) const INTERRUPT_EVERY: Duration = Duration::from_millis(50);

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

    /// Report [`PublishError::QueueFull`](crate::PublishError::QueueFull) if any subscriber's queue was full and dropped
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
    /// the publish reports [`PublishError::QueueFull`](crate::PublishError::QueueFull). This is the one case where a publish
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
    pub fn qos(&self) -> QoS {
        self.qos
    }
}
