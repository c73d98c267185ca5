//! Deliveries to the wire: queued messages become PUBLISH packets (with topic aliases and the
//! client's Maximum Packet Size on 5.0), due PUBRELs are resent.

use std::collections::HashMap;

use mqlite::wire::{Outbound, WireClient};
use mqlite::{Message, QoS, SessionError, TopicName, TryRecvError};

use super::{Closed, Conn, Drain, Phase};
use crate::codec::{Packet, PacketId, Properties, PubRel, PublishRef};
use crate::stats;

/// The outbound topic alias table of a 5.0 connection (§3.3.2.3.4): the first topics sent
/// get aliases, up to the client's Topic Alias Maximum, and keep them for the connection.
#[derive(Debug, Default)]
pub(super) struct Aliases {
    max: u16,
    map: HashMap<TopicName, u16>,
}

impl Aliases {
    /// A table for a client that accepts `max` aliases (0: none).
    pub(super) fn new(max: u16) -> Self {
        Self {
            max,
            map: HashMap::new(),
        }
    }

    /// The alias to send with `topic`, and whether the topic itself must be sent too (the
    /// first time, which sets the alias).
    fn lookup(&mut self, topic: &TopicName) -> (Option<u16>, bool) {
        if let Some(&alias) = self.map.get(topic) {
            return (Some(alias), false);
        }
        if self.map.len() < usize::from(self.max) {
            let alias = u16::try_from(self.map.len() + 1).unwrap_or(u16::MAX);
            self.map.insert(topic.clone(), alias);
            return (Some(alias), true);
        }
        (None, true)
    }

    /// Undoes a `lookup` that set a new alias for a packet that was not sent.
    fn forget(&mut self, topic: &TopicName) {
        self.map.remove(topic);
    }
}

impl Conn {
    /// Moves deliveries of the session into the write buffer: at most one batch, and only
    /// while the buffer has room.
    ///
    /// # Errors
    ///
    /// [`Closed`] when the session ended under the connection (taken over, broker shut
    /// down, dropped as a slow consumer): a 5.0 DISCONNECT with the reason is in the buffer.
    pub(crate) fn on_delivery(&mut self) -> Result<Drain, Closed> {
        for _ in 0..self.shared.config.delivery_batch {
            if self.is_write_full() {
                return Ok(Drain::More);
            }
            let Phase::Live(live) = &mut self.phase else {
                return Ok(Drain::Idle);
            };
            match live.client.poll_outbound() {
                Ok(Outbound::Publish(message)) => self.send_publish(&message)?,
                Ok(Outbound::Release { packet_id }) => {
                    if let Some(id) = PacketId::new(packet_id) {
                        let v = live.version;
                        self.encode(&Packet::PubRel(PubRel::new(id)), v);
                    }
                }
                Ok(_) => {}
                Err(TryRecvError::Empty) => {
                    if live.client.arm_notify() {
                        return Ok(Drain::Idle);
                    }
                }
                Err(e) => return Err(self.recv_failed(e).unwrap_or(Closed)),
            }
        }
        Ok(Drain::More)
    }

    /// Encodes one delivery; one larger than the client accepts is dropped and completed
    /// as if sent [MQTT-3.1.2-25], and so is one the ACL does not let the client read.
    fn send_publish(&mut self, message: &Message) -> Result<(), Closed> {
        let Phase::Live(live) = &mut self.phase else {
            return Err(Closed);
        };
        if !live.auth.may_read(message.topic()) {
            // `acl_file`: read access is checked per delivery, retained messages included,
            // as Mosquitto does; a wildcard subscription may span topics the client may not
            // read.
            self.broker.emit_event(&mqlite::Event::DeliveryDenied {
                client_id: live.client.client_id(),
                topic: message.topic(),
                reason: mqlite::DenyReason::Acl,
            });
            let done = complete_unsent(&live.client, message);
            return done.map_err(|e| self.session_ended(e));
        }
        let v = live.version;
        let mut props = Properties::default();
        let (alias, send_topic) = if v.is_v5() {
            fill_properties(&mut props, message);
            live.aliases_out.lookup(message.topic_name())
        } else {
            (None, true)
        };
        props.topic_alias = alias;
        let topic: &[u8] = if send_topic {
            message.topic().as_bytes()
        } else {
            &[]
        };
        let start = self.write.len();
        let packet = PublishRef {
            dup: message.dup(),
            qos: message.qos(),
            retain: message.retain(),
            topic,
            packet_id: message.packet_id().and_then(PacketId::new),
            properties: &props,
            payload: message.payload(),
        };
        if let Err(e) = packet.encode(v, &mut self.write) {
            tracing::error!(error = %e, "could not encode a delivery");
            self.write.truncate(start);
            return Ok(());
        }
        if self.write.len() - start <= live.max_packet_size {
            stats::add(&self.shared.counters.packets_out, 1);
            return Ok(());
        }
        self.write.truncate(start);
        if send_topic && alias.is_some() {
            live.aliases_out.forget(message.topic_name());
        }
        stats::add(&self.shared.counters.oversized_dropped, 1);
        let done = complete_unsent(&live.client, message);
        done.map_err(|e| self.session_ended(e))
    }
}

/// Completes a delivery that is not sent, as if the client had acknowledged it.
fn complete_unsent(client: &WireClient, message: &Message) -> Result<(), SessionError> {
    let id = message.packet_id().unwrap_or(0);
    match message.qos() {
        QoS::AtMostOnce => Ok(()),
        QoS::AtLeastOnce => client.puback(id).map(drop),
        _ => client.pubrec(id).and_then(|_| client.pubcomp(id)).map(drop),
    }
}

/// The 5.0 properties of a delivery: as published, with the expiry interval it has left
/// [MQTT-3.3.2-6] and the identifiers of the subscriptions that matched [MQTT-3.3.4-3].
fn fill_properties(props: &mut Properties, message: &Message) {
    if let Some(p) = message.properties() {
        props.payload_format_indicator = p.payload_format_indicator;
        props.content_type.clone_from(&p.content_type);
        props.response_topic.clone_from(&p.response_topic);
        props.correlation_data.clone_from(&p.correlation_data);
        props.user_properties.clone_from(&p.user_properties);
    }
    if let Some(left) = message.message_expiry_interval() {
        let secs = left.as_millis().div_ceil(1000);
        props.message_expiry_interval = Some(u32::try_from(secs).unwrap_or(u32::MAX));
    }
    props
        .subscription_identifiers
        .extend_from_slice(message.subscription_ids());
}
