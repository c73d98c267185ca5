//! The acknowledgement protocol as a network frontend speaks it: PUBACK, PUBREC, PUBREL and
//! PUBCOMP by packet id, resent PUBRELs, and incoming QoS 2 deduplication. In-process
//! clients need none of this ([`crate::Message::ack`] does it all); `mqlite-net` uses it to
//! drive the same sessions from the wire.

use bytes::Bytes;

use super::Client;
use crate::error::{PublishError, SessionError, TryRecvError};
use crate::message::Message;
use crate::publish::PublishOptions;
use crate::qos::QoS;
use crate::session::Outgoing;
use crate::topic::TopicName;

/// What a network connection must send next ([`Client::poll_outbound`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outbound {
    /// A PUBLISH (a resend after a resume has [`Message::dup`] set).
    Publish(Message),
    /// A PUBREL for a QoS 2 delivery the receiver already acknowledged with PUBREC, due again
    /// after a resume [MQTT-4.3.3-1], [MQTT-4.4.0-1].
    Release {
        /// Its packet identifier.
        packet_id: u16,
    },
}

/// What became of an incoming PUBLISH given to [`Client::publish_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// Routed to the subscribers: answer with PUBACK (QoS 1) or PUBREC (QoS 2).
    Routed,
    /// A resend of a QoS 2 PUBLISH already routed and not yet released: not routed again;
    /// answer with PUBREC [MQTT-4.3.3-2].
    Duplicate,
}

impl Client {
    /// The next thing a network connection must send, without blocking: PUBREL resends,
    /// then PUBLISH resends, then queued deliveries, within the receive maximum.
    ///
    /// A network consumer registers its waker with [`crate::ConnectOptions::waker`], drains
    /// with this until `Empty`, then calls [`Client::park`] before it sleeps.
    ///
    /// # Errors
    ///
    /// As [`Client::try_recv`].
    pub fn poll_outbound(&self) -> Result<Outbound, TryRecvError> {
        match self.take_one()? {
            Some(Outgoing::Publish(taken)) => Ok(Outbound::Publish(self.message(taken))),
            Some(Outgoing::Release(packet_id)) => Ok(Outbound::Release { packet_id }),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The consumer found nothing to send and is about to sleep until its waker fires.
    /// Returns `true` if something arrived meanwhile: poll again instead of sleeping.
    pub fn park(&self) -> bool {
        self.session.park()
    }

    /// PUBACK received for a QoS 1 delivery [MQTT-4.3.2-1]. Returns whether one with that id
    /// was in flight (`false`: a protocol error of the peer, or a duplicate PUBACK).
    ///
    /// # Errors
    ///
    /// The handle was taken over.
    pub fn puback(&self, packet_id: u16) -> Result<bool, SessionError> {
        let (known, wake) = self.session.puback(self.generation, packet_id)?;
        if let Some(waker) = wake {
            waker.wake();
        }
        Ok(known)
    }

    /// PUBREC received for a QoS 2 delivery: the receiver has it; answer with PUBREL
    /// [MQTT-4.3.3-1]. Returns whether one with that id was in flight.
    ///
    /// # Errors
    ///
    /// The handle was taken over.
    pub fn pubrec(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.session.pubrec(self.generation, packet_id)
    }

    /// PUBCOMP received: the QoS 2 delivery is complete [MQTT-4.3.3-1]. Returns whether a
    /// released delivery with that id was in flight.
    ///
    /// # Errors
    ///
    /// The handle was taken over.
    pub fn pubcomp(&self, packet_id: u16) -> Result<bool, SessionError> {
        let (known, wake) = self.session.pubcomp(self.generation, packet_id)?;
        if let Some(waker) = wake {
            waker.wake();
        }
        Ok(known)
    }

    /// An incoming PUBLISH with its packet identifier. QoS 0 and 1 are published as by
    /// [`Client::publish_name`] (a QoS 1 resend is published again, as QoS 1 allows). A QoS 2
    /// PUBLISH is published once: its id is held until [`Client::pubrel`], and a resend with
    /// the same id in the meantime is reported as [`Received::Duplicate`] and not routed
    /// [MQTT-4.3.3-2]. Held ids survive a resume of a persistent session.
    ///
    /// # Errors
    ///
    /// As [`Client::publish_name`], plus [`PublishError::ReceiveMaximumExceeded`] when the
    /// sender has more unreleased QoS 2 messages than the broker's `max_inflight_messages`.
    pub fn publish_packet(
        &self,
        packet_id: u16,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<Received, PublishError> {
        if options.qos != QoS::ExactlyOnce {
            self.publish_name(topic, payload, options)?;
            return Ok(Received::Routed);
        }
        let max = usize::from(self.broker.config.max_inflight_messages);
        match self.session.inbound_qos2(self.generation, packet_id, max)? {
            Ok(false) => Ok(Received::Duplicate),
            Err(()) => Err(PublishError::ReceiveMaximumExceeded { max }),
            // Once the id is held the message is the broker's: it is routed even if a takeover
            // ends this connection meanwhile, as the new connection's resend of it now counts
            // as a duplicate [MQTT-4.3.3-2]. (Found by the loom model `qos2_resend_pubrel`.)
            Ok(true) => match self.route(topic, payload, options) {
                Ok(()) => Ok(Received::Routed),
                Err(e) => {
                    self.session.inbound_forget(packet_id);
                    Err(e)
                }
            },
        }
    }

    /// PUBREL received: the QoS 2 message `packet_id` is released, and a new PUBLISH with
    /// that id is a new message; answer with PUBCOMP [MQTT-4.3.3-2]. Returns whether the id
    /// was held.
    ///
    /// # Errors
    ///
    /// The handle was taken over.
    pub fn pubrel(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.session.pubrel(self.generation, packet_id)
    }
}
