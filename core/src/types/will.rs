//! The last will: a message the broker publishes when a client ends without a clean disconnect.

use std::time::Duration;

use bytes::Bytes;

use crate::types::message::PublishProperties;
use crate::types::qos::QoS;
use crate::types::topic::{TopicError, TopicName};

/// A last will message (MQTT 3.1.1 §3.1.2.5, MQTT 5.0 §3.1.2.5).
///
/// It is published exactly once when its client ends without [`crate::Client::disconnect`]:
/// the handle is dropped (also by a panicking thread), the session is taken over, or the
/// broker shuts down. It is never published after a clean disconnect [MQTT-3.1.2-10].
/// Its topic is validated when it is made: an invalid one is an error then, not a will
/// silently lost at publish time.
///
/// ```
/// use mqlite::{QoS, Will};
/// let will = Will::new("devices/42/status", "offline")?.qos(QoS::AtLeastOnce).retain(true);
/// assert_eq!(will.topic(), "devices/42/status");
/// assert!(Will::new("devices/+/status", "offline").is_err(), "a will topic has no wildcards");
/// # Ok::<(), mqlite::TopicError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub(crate) topic: TopicName,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) properties: Option<PublishProperties>,
    pub(crate) delay: Duration,
}

impl Will {
    /// A QoS 0, non-retained will to `topic`.
    ///
    /// # Errors
    ///
    /// [`TopicError`] if `topic` is not a valid topic name (a will topic has no wildcards
    /// [MQTT-3.1.3-11], [MQTT-3.3.2-2]).
    pub fn new(topic: &str, payload: impl Into<Bytes>) -> Result<Self, TopicError> {
        Ok(Self::to_topic(TopicName::new(topic)?, payload))
    }

    /// A QoS 0, non-retained will to an already validated topic.
    pub fn to_topic(topic: TopicName, payload: impl Into<Bytes>) -> Self {
        Self {
            topic,
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: None,
            delay: Duration::ZERO,
        }
    }

    /// Publishes the will at `qos`.
    #[must_use]
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Publishes the will as a retained message.
    #[must_use]
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// MQTT 5 properties forwarded with the will.
    #[must_use]
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.properties = Some(properties);
        self
    }

    /// Will delay interval (MQTT 5.0 §3.1.3.2.2): wait this long before publishing, and cancel
    /// the will if the client reconnects in time. Zero (the default) publishes at once.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The will topic.
    pub fn topic(&self) -> &str {
        self.topic.as_str()
    }

    /// The will topic as a validated [`TopicName`].
    pub fn topic_name(&self) -> &TopicName {
        &self.topic
    }

    /// The will payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}
