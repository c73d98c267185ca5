//! Messages as values: the shared publication, one queued delivery of it, and the MQTT 5
//! properties they carry. Not here: the [`crate::Message`] a client receives (`api/`).

use std::time::Duration;

use bytes::Bytes;

use crate::sync::ValueArc;
use crate::types::qos::QoS;
use crate::types::store::Persisted;
use crate::types::topic::{TopicFilter, TopicName};

/// The MQTT 5 properties of a PUBLISH that the broker forwards untouched (MQTT 5.0 §3.3.2.3),
/// plus the message expiry interval, which the broker applies.
///
/// ```
/// use mqlite::PublishProperties;
/// let props = PublishProperties::new()
///     .response_topic("replies/42")
///     .correlation_data("req-1")
///     .user_property("unit", "m");
/// assert_eq!(props.response_topic.as_deref(), Some("replies/42"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PublishProperties {
    /// Payload format indicator: `true` means UTF-8 text.
    pub payload_format_indicator: Option<bool>,
    /// Message expiry interval. A queued message past it is never delivered; a delivered one
    /// carries the time it has left [MQTT-3.3.2-5], [MQTT-3.3.2-6].
    pub message_expiry_interval: Option<Duration>,
    /// Content type (a MIME type, by convention).
    pub content_type: Option<String>,
    /// Response topic for request/response.
    pub response_topic: Option<String>,
    /// Correlation data for request/response.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order; names may repeat [MQTT-3.3.2-18].
    pub user_properties: Vec<(String, String)>,
}

impl PublishProperties {
    /// No properties set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the payload format indicator (`true`: UTF-8 text).
    #[must_use]
    pub fn payload_format_indicator(mut self, utf8: bool) -> Self {
        self.payload_format_indicator = Some(utf8);
        self
    }

    /// Sets the message expiry interval.
    #[must_use]
    pub fn message_expiry_interval(mut self, interval: Duration) -> Self {
        self.message_expiry_interval = Some(interval);
        self
    }

    /// Sets the content type.
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the response topic (request/response).
    #[must_use]
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.response_topic = Some(topic.into());
        self
    }

    /// Sets the correlation data (request/response).
    #[must_use]
    pub fn correlation_data(mut self, data: impl Into<Bytes>) -> Self {
        self.correlation_data = Some(data.into());
        self
    }

    /// Appends a user property (names may repeat; order is kept).
    #[must_use]
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((name.into(), value.into()));
        self
    }
}

/// One publication. Cloning it per recipient copies no bytes: the topic, payload and
/// properties are reference-counted and shared (zero-copy fan-out, DESIGN.md invariant 3),
/// and no allocation is made per publish beyond what the caller's payload already is.
#[derive(Debug, Clone)]
pub(crate) struct Publication {
    pub(crate) topic: TopicName,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) properties: Option<ValueArc<PublishProperties>>,
    /// The publishing session (its key + 1, so it fits 4 bytes), for no-local; `None` for
    /// the broker's own messages.
    pub(crate) origin: Option<std::num::NonZeroU32>,
    /// Clock time after which it must not be delivered.
    pub(crate) expires_at: Deadline,
    /// The packet id of the incoming QoS 2 PUBLISH it came from (0: none): durable mode tags
    /// its delivery records with it, so an id held at a crash is known to have been routed.
    /// (Fits in padding: the publication does not grow.)
    pub(crate) inbound_id: u16,
}

/// The `origin` of a publication from session `key`.
pub(crate) fn origin_of(key: u32) -> Option<std::num::NonZeroU32> {
    std::num::NonZeroU32::new(key.wrapping_add(1))
}

/// An optional clock time in 8 bytes (nanoseconds; zero means none), to keep deliveries
/// small in queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Deadline(Option<std::num::NonZeroU64>);

impl Deadline {
    /// No deadline.
    pub(crate) const NONE: Self = Self(None);

    /// A deadline at clock time `at` (saturating at about 584 years).
    pub(crate) fn at(at: Duration) -> Self {
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX).max(1);
        Self(std::num::NonZeroU64::new(nanos))
    }

    /// The clock time, if any.
    pub(crate) fn get(self) -> Option<Duration> {
        self.0.map(|n| Duration::from_nanos(n.get()))
    }
}

impl Publication {
    /// Bytes a queued copy counts against `max_queued_bytes`.
    pub(crate) fn weight(&self) -> usize {
        self.payload.len() + self.topic.as_str().len()
    }
}

/// One publication on its way to one session.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) publication: Publication,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) dup: bool,
    /// What few deliveries carry, boxed so the common delivery stays small in queues.
    pub(crate) extra: Option<Box<DeliveryExtra>>,
}

/// The rarer parts of a delivery.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeliveryExtra {
    /// Identifiers of the matching subscriptions (MQTT 5.0 §3.3.4).
    pub(crate) subscription_ids: Vec<u32>,
    /// The shared subscription it was routed through, so it can go to another member if
    /// this session ends before taking it (MQTT 5.0 §4.8.2).
    pub(crate) shared: Option<TopicFilter>,
    /// Its records in the store (durable mode, persistent sessions only): released when the
    /// last copy of the delivery is dropped.
    pub(crate) persisted: Option<ValueArc<Persisted>>,
}

impl Delivery {
    /// A live delivery of `publication` at `qos`.
    #[inline]
    pub(crate) fn new(publication: Publication, qos: QoS, retain: bool, ids: Vec<u32>) -> Self {
        let extra = (!ids.is_empty()).then(|| {
            Box::new(DeliveryExtra {
                subscription_ids: ids,
                shared: None,
                persisted: None,
            })
        });
        Self {
            publication,
            qos,
            retain,
            dup: false,
            extra,
        }
    }

    /// Bytes a queued copy counts against `max_queued_bytes`.
    #[inline]
    pub(crate) fn weight(&self) -> usize {
        self.publication.weight()
    }

    /// Its records in the store, if it is durable.
    pub(crate) fn persisted(&self) -> Option<&ValueArc<Persisted>> {
        self.extra.as_ref().and_then(|e| e.persisted.as_ref())
    }

    /// Ties the delivery to its records in the store.
    pub(crate) fn set_persisted(&mut self, persisted: ValueArc<Persisted>) {
        self.extra
            .get_or_insert_with(|| Box::new(DeliveryExtra::default()))
            .persisted = Some(persisted);
    }

    /// The shared subscription this delivery was routed through.
    pub(crate) fn shared(&self) -> Option<&TopicFilter> {
        self.extra.as_ref().and_then(|e| e.shared.as_ref())
    }
}
