//! [`Message`]: what a client receives, and how it acknowledges itself.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::Connection;
use crate::session::{AckHandle, Taken};
use crate::types::message::{Delivery, PublishProperties};
use crate::types::qos::QoS;
use crate::types::topic::TopicName;

/// A message received by a [`crate::Client`] (or sent by a [`crate::wire::WireClient`]).
///
/// QoS 1 and 2 messages stay in the session's in-flight window until [`Message::ack`] is
/// called, as a network client's PUBACK / PUBCOMP would; an unacknowledged message is
/// delivered again (with [`Message::dup`] set) when a persistent session resumes.
pub struct Message {
    delivery: Delivery,
    packet_id: Option<u16>,
    expiry_left: Option<Duration>,
    ack: Option<AckHandle>,
}

impl Message {
    /// The message handed out to `conn` as `taken`.
    #[inline]
    pub(crate) fn new(conn: &Connection, mut taken: Taken) -> Self {
        // The store's records live with the session's copy (in flight until acknowledged),
        // not with the application's: an acknowledged message is released at once.
        if let Some(extra) = &mut taken.delivery.extra {
            extra.persisted = None;
        }
        let expiry_left = taken
            .delivery
            .publication
            .expires_at
            .get()
            .map(|at| at.saturating_sub(conn.now()));
        Self {
            ack: conn.ack_handle(&taken),
            delivery: taken.delivery,
            packet_id: taken.packet_id,
            expiry_left,
        }
    }

    /// The topic it was published to.
    pub fn topic(&self) -> &str {
        self.delivery.publication.topic.as_str()
    }

    /// The topic as a validated [`TopicName`] (cheap to clone).
    pub fn topic_name(&self) -> &TopicName {
        &self.delivery.publication.topic
    }

    /// The payload, shared with every other recipient.
    pub fn payload(&self) -> &Bytes {
        &self.delivery.publication.payload
    }

    /// The QoS of this delivery: min(publish QoS, granted QoS) [MQTT-3.8.4-8].
    pub fn qos(&self) -> QoS {
        self.delivery.qos
    }

    /// The RETAIN flag as delivered: set for retained messages sent at subscribe, clear for
    /// live ones unless the subscription asked for retain-as-published [MQTT-3.3.1-9].
    pub fn retain(&self) -> bool {
        self.delivery.retain
    }

    /// Set when this is a redelivery of a message that may have been received before
    /// [MQTT-3.3.1-1].
    pub fn dup(&self) -> bool {
        self.delivery.dup
    }

    /// The packet identifier of a QoS 1 or 2 delivery within its session.
    pub fn packet_id(&self) -> Option<u16> {
        self.packet_id
    }

    /// The MQTT 5 properties as published, if any were set.
    pub fn properties(&self) -> Option<&PublishProperties> {
        self.delivery.publication.properties.as_deref()
    }

    /// The time left before the message expires, if it had an expiry interval [MQTT-3.3.2-6].
    pub fn message_expiry_interval(&self) -> Option<Duration> {
        self.expiry_left
    }

    /// The identifiers of the subscriptions that matched (MQTT 5.0 §3.3.4).
    pub fn subscription_ids(&self) -> &[u32] {
        self.delivery
            .extra
            .as_ref()
            .map_or(&[], |e| e.subscription_ids.as_slice())
    }

    /// Acknowledges a QoS 1 or 2 message (PUBACK / PUBCOMP), freeing its in-flight slot.
    /// Does nothing for QoS 0, for a message already acknowledged, or once the session has
    /// been taken over (the new owner receives the message again).
    pub fn ack(&self) {
        if let (Some(handle), Some(packet_id)) = (&self.ack, self.packet_id) {
            handle.ack(packet_id);
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic())
            .field("payload_len", &self.payload().len())
            .field("qos", &self.qos())
            .field("retain", &self.retain())
            .field("dup", &self.dup())
            .field("packet_id", &self.packet_id)
            .finish()
    }
}
