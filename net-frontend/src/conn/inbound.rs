//! Every packet a connected client may send, turned into calls on its [`WireClient`].
//! Packets a client must not send close the connection with a protocol error.

use std::time::Duration;

use bytes::Bytes;
use mqlite::wire::{Accepted, WireClient};
use mqlite::{
    DenyReason, Event, PublishError, PublishOptions, PublishProperties, QoS, SubOptions,
    SubscribeError, TopicName,
};

use super::{Closed, Conn, Flow, Live, Phase};
use crate::codec::{
    Disconnect, Packet, PacketId, Properties, PubAck, PubComp, PubRec, PubRel, Publish, ReasonCode,
    SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use crate::stats;

/// Payloads shorter than this are copied out of the read buffer, so a small queued message
/// never keeps a whole read buffer alive; longer ones are shared with it (zero-copy).
const COPY_PAYLOAD_BELOW: usize = 1024;

impl Conn {
    /// Handles one packet of a connected client.
    pub(super) fn on_packet(&mut self, packet: Packet) -> Flow {
        match packet {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(p) => self.with_client(|c| c.puback(p.packet_id.get()).map(drop)),
            Packet::PubRec(p) => self.on_pubrec(p.packet_id),
            Packet::PubRel(p) => self.on_pubrel(p.packet_id),
            Packet::PubComp(p) => self.with_client(|c| c.pubcomp(p.packet_id.get()).map(drop)),
            Packet::Subscribe(p) => self.on_subscribe(p),
            Packet::Unsubscribe(p) => self.on_unsubscribe(p),
            Packet::PingReq => {
                let v = self.live()?.version;
                self.encode(&Packet::PingResp, v);
                Ok(())
            }
            Packet::Disconnect(p) => self.on_disconnect(&p),
            // Re-authentication, or a protocol error without enhanced authentication
            // [MQTT-4.12.0-7] (`enhanced_auth.rs`).
            Packet::Auth(p) => self.on_auth(p),
            // A second CONNECT [MQTT-3.1.0-2], or a packet only a server sends.
            other => {
                tracing::debug!(client = self.client_id(), packet = ?other.packet_type(), "protocol error");
                Err(self.protocol_error())
            }
        }
    }

    fn live(&mut self) -> Result<&mut Live, Closed> {
        match &mut self.phase {
            Phase::Live(live) => Ok(live),
            _ => Err(Closed),
        }
    }

    /// Closes with 0x82 Protocol Error, counted.
    pub(super) fn protocol_error(&mut self) -> Closed {
        stats::add(&self.shared.counters.protocol_errors, 1);
        self.close_with(ReasonCode::PROTOCOL_ERROR)
    }

    /// Runs an acknowledgement call whose only failure is a session that ended.
    fn with_client(
        &mut self,
        f: impl FnOnce(&WireClient) -> Result<(), mqlite::SessionError>,
    ) -> Flow {
        let live = self.live()?;
        match f(&live.client) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.session_ended(e)),
        }
    }

    fn on_publish(&mut self, p: Publish) -> Flow {
        if !p.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]: only the server sends subscription identifiers.
            return Err(self.protocol_error());
        }
        let topic = match self.resolve_topic(&p) {
            Ok(topic) => topic,
            Err(code) => {
                stats::add(&self.shared.counters.protocol_errors, 1);
                return Err(self.close_with(code));
            }
        };
        let payload = if p.payload.len() < COPY_PAYLOAD_BELOW {
            Bytes::copy_from_slice(&p.payload)
        } else {
            p.payload
        };
        // A QoS 0 message that finds a subscriber's queue full is dropped for that one;
        // the publisher then pauses (`full_queue_backoff`, see `Conn::take_throttle`) so the
        // broker spends its time delivering rather than dropping. QoS 1 and 2 publishers
        // have flow control of their own.
        let mut options = PublishOptions::new(p.qos).retain(p.retain).fail_if_full(
            p.qos == QoS::AtMostOnce && !self.shared.config.full_queue_backoff.is_zero(),
        );
        if let Some(props) = publish_properties(&p.properties) {
            options = options.properties(props);
        }
        let acl_denied = !self.live()?.auth.may_publish(topic.as_str(), p.qos);
        if acl_denied {
            self.broker.emit_event(&Event::PublishDenied {
                client_id: self.client_id(),
                topic: topic.as_str(),
                reason: DenyReason::Acl,
            });
        }
        let live = self.live()?;
        let version = live.version;
        let result = match p.packet_id {
            // The ACL (`crate::auth`): dropped, acknowledged below with 0x87 on 5.0.
            _ if acl_denied => Err(PublishError::NotAuthorized {
                topic: topic.as_str().to_owned(),
            }),
            Some(id) => live
                .client
                .publish_packet(id.get(), topic, payload, &options),
            None => live
                .client
                .publish(topic, payload, &options)
                .map(|()| Accepted::Routed),
        };
        let code = match result {
            Ok(_) => ReasonCode::SUCCESS,
            Err(PublishError::QueueFull { .. }) => {
                self.throttle = true;
                ReasonCode::SUCCESS
            }
            Err(PublishError::Session(e)) => return Err(self.session_ended(e)),
            Err(PublishError::NotDurable { reason })
                if !version.is_v5() && p.qos != QoS::AtMostOnce =>
            {
                // 3.1.1 cannot refuse a publish, and it must not be acknowledged: close;
                // the client sends it again when it reconnects.
                tracing::warn!(client = self.client_id(), %reason, "publish not durable; closing");
                return Err(self.close_with(ReasonCode::UNSPECIFIED_ERROR));
            }
            Err(PublishError::ReceiveMaximumExceeded { .. }) => {
                // [MQTT-3.3.4-7]: more unacknowledged QoS 2 than our Receive Maximum.
                stats::add(&self.shared.counters.protocol_errors, 1);
                return Err(self.close_with(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED));
            }
            Err(e) => {
                tracing::debug!(client = self.client_id(), error = %e, "publish refused");
                publish_error_code(&e)
            }
        };
        // Before 5.0 a refused publish is acknowledged like any other (as Mosquitto does):
        // 3.1.1 has no way to say no.
        let code = if version.is_v5() {
            code
        } else {
            ReasonCode::SUCCESS
        };
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                self.ack(Packet::PubAck(with_code(PubAck::new(id), code)))
            }
            (QoS::ExactlyOnce, Some(id)) => {
                self.ack(Packet::PubRec(with_code(PubRec::new(id), code)))
            }
            _ => Ok(()),
        }
    }

    /// The topic of a PUBLISH, through the topic alias table on 5.0 (§3.3.2.3.4).
    fn resolve_topic(&mut self, p: &Publish) -> Result<TopicName, ReasonCode> {
        let Phase::Live(live) = &mut self.phase else {
            return Err(ReasonCode::PROTOCOL_ERROR);
        };
        let named = if p.topic.is_empty() {
            None
        } else {
            Some(TopicName::new(p.topic.as_str()).map_err(|_| ReasonCode::TOPIC_NAME_INVALID)?)
        };
        let Some(alias) = p.properties.topic_alias else {
            return named.ok_or(ReasonCode::PROTOCOL_ERROR);
        };
        // [MQTT-3.3.2-9]: 0 and anything above our Topic Alias Maximum are invalid.
        let slot = live
            .aliases_in
            .get_mut(usize::from(alias).wrapping_sub(1))
            .ok_or(ReasonCode::TOPIC_ALIAS_INVALID)?;
        match named {
            Some(topic) => {
                *slot = Some(topic.clone());
                Ok(topic)
            }
            // An alias never set is a protocol error [MQTT-3.3.2-8].
            None => slot.clone().ok_or(ReasonCode::PROTOCOL_ERROR),
        }
    }

    fn ack(&mut self, packet: Packet) -> Flow {
        let v = self.live()?.version;
        self.encode(&packet, v);
        Ok(())
    }

    fn on_pubrec(&mut self, id: PacketId) -> Flow {
        self.answer_qos2_step(id, WireClient::pubrec, |id, code| {
            Packet::PubRel(with_code(PubRel::new(id), code))
        })
    }

    fn on_pubrel(&mut self, id: PacketId) -> Flow {
        self.answer_qos2_step(id, WireClient::pubrel, |id, code| {
            Packet::PubComp(with_code(PubComp::new(id), code))
        })
    }

    /// PUBREC → PUBREL and PUBREL → PUBCOMP: tells the session, then answers; on 5.0 with
    /// 0x92 when the id was not known (§3.6.2.1, §3.7.2.1).
    fn answer_qos2_step(
        &mut self,
        id: PacketId,
        step: fn(&WireClient, u16) -> Result<bool, mqlite::SessionError>,
        answer: fn(PacketId, ReasonCode) -> Packet,
    ) -> Flow {
        let live = self.live()?;
        match step(&live.client, id.get()) {
            Ok(known) => {
                let code = if known || !live.version.is_v5() {
                    ReasonCode::SUCCESS
                } else {
                    ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
                };
                self.ack(answer(id, code))
            }
            Err(e) => Err(self.session_ended(e)),
        }
    }

    fn on_subscribe(&mut self, p: Subscribe) -> Flow {
        let sub_id = p.properties.subscription_identifiers.first().copied();
        let mut filters = Vec::with_capacity(p.filters.len());
        for (filter, opts) in &p.filters {
            if opts.is_no_local() && filter.as_str().starts_with("$share/") {
                // [MQTT-3.8.3-4]: no-local on a shared subscription is a protocol error.
                return Err(self.protocol_error());
            }
            filters.push((filter.as_str(), opts.subscription_id(sub_id)));
        }
        let live = self.live()?;
        let version = live.version;
        // The ACL (`crate::auth`): a refused filter is not subscribed (0x87, 0x80 before
        // 5.0); an allowed one may get a lower QoS (the rules' `qos` extension).
        let granted: Vec<Option<QoS>> = filters
            .iter()
            .map(|&(filter, opts)| live.auth.subscribe_qos(filter, opts.qos()))
            .collect();
        let allowed: Vec<(&str, SubOptions)> = filters
            .iter()
            .zip(&granted)
            .filter_map(|(&(filter, opts), qos)| qos.map(|q| (filter, with_qos(opts, q))))
            .collect();
        let mut subscribed = match live.client.subscribe_many(&allowed) {
            Ok(results) => results.into_iter(),
            Err(e) => return Err(self.session_ended(e)),
        };
        let results: Vec<_> = filters
            .iter()
            .zip(&granted)
            .map(|(&(filter, _), qos)| match qos {
                Some(_) => subscribed
                    .next()
                    .expect("subscribe_many returns one result per filter"),
                None => Err(SubscribeError::NotAuthorized {
                    filter: filter.to_owned(),
                }),
            })
            .collect();
        let reason_codes = results
            .iter()
            .map(|r| match r {
                Ok(qos) => ReasonCode(qos.as_u8()),
                Err(_) if !version.is_v5() => ReasonCode::UNSPECIFIED_ERROR,
                Err(e) => subscribe_error_code(e),
            })
            .collect();
        for (&(filter, _), _) in filters.iter().zip(&granted).filter(|(_, q)| q.is_none()) {
            self.broker.emit_event(&Event::SubscribeDenied {
                client_id: self.client_id(),
                filter,
                reason: DenyReason::Acl,
            });
        }
        let ack = SubAck {
            packet_id: p.packet_id,
            properties: Properties::default(),
            reason_codes,
        };
        self.ack(Packet::SubAck(ack))
    }

    fn on_unsubscribe(&mut self, p: Unsubscribe) -> Flow {
        let filters: Vec<&str> = p.filters.iter().map(|f| f.as_str()).collect();
        let live = self.live()?;
        let version = live.version;
        let results = match live.client.unsubscribe_many(&filters) {
            Ok(results) => results,
            Err(e) => return Err(self.session_ended(e)),
        };
        let reason_codes = if version.is_v5() {
            results
                .iter()
                .map(|r| match r {
                    Ok(true) => ReasonCode::SUCCESS,
                    Ok(false) => ReasonCode::NO_SUBSCRIPTION_EXISTED,
                    Err(e) => subscribe_error_code(e),
                })
                .collect()
        } else {
            Vec::new()
        };
        let ack = UnsubAck {
            packet_id: p.packet_id,
            properties: Properties::default(),
            reason_codes,
        };
        self.ack(Packet::UnsubAck(ack))
    }

    fn on_disconnect(&mut self, p: &Disconnect) -> Flow {
        let live = self.live()?;
        if live.zero_expiry && p.properties.session_expiry_interval.is_some_and(|e| e > 0) {
            // [MQTT-3.14.2-2]: a session that was to end at disconnect cannot be extended.
            return Err(self.protocol_error());
        }
        if let Some(secs) = p.properties.session_expiry_interval
            && let Err(e) = live
                .client
                .set_session_expiry(Duration::from_secs(u64::from(secs)))
        {
            return Err(self.session_ended(e));
        }
        if p.reason_code == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE {
            // 5.0 §3.14.2.1: the client asks for its will; end like a lost connection.
            return Err(self.close_quietly());
        }
        if let Phase::Live(live) = std::mem::replace(&mut self.phase, Phase::Closed) {
            stats::dec(&self.shared.counters.connected);
            // [MQTT-3.1.2-10]: a normal DISCONNECT discards the will.
            live.client.disconnect();
        }
        Err(Closed)
    }

    /// Ends the session as if the connection were lost (will published), sending nothing.
    fn close_quietly(&mut self) -> Closed {
        if matches!(self.phase, Phase::Live(_)) {
            stats::dec(&self.shared.counters.connected);
        }
        self.phase = Phase::Closed;
        Closed
    }
}

/// `opts` with QoS `qos` (the ACL may grant less than asked).
fn with_qos(opts: SubOptions, qos: QoS) -> SubOptions {
    if opts.qos() == qos {
        return opts;
    }
    SubOptions::new(qos)
        .no_local(opts.is_no_local())
        .retain_as_published(opts.is_retain_as_published())
        .retain_handling(opts.get_retain_handling())
        .subscription_id(opts.get_subscription_id())
}

fn with_code<T: AckCode>(mut ack: T, code: ReasonCode) -> T {
    ack.set_code(code);
    ack
}

/// The acknowledgements that carry a reason code.
trait AckCode {
    fn set_code(&mut self, code: ReasonCode);
}

macro_rules! ack_code {
    ($($t:ty),*) => {$(
        impl AckCode for $t {
            fn set_code(&mut self, code: ReasonCode) {
                self.reason_code = code;
            }
        }
    )*};
}
ack_code!(PubAck, PubRec, PubRel, PubComp);

/// The 5.0 PUBACK / PUBREC reason code of a refused publish.
fn publish_error_code(error: &PublishError) -> ReasonCode {
    match error {
        PublishError::InvalidTopic(_) => ReasonCode::TOPIC_NAME_INVALID,
        PublishError::NotAuthorized { .. } => ReasonCode::NOT_AUTHORIZED,
        PublishError::Limit(mqlite::LimitError::PayloadTooLarge { .. })
        | PublishError::RetainedStoreFull { .. }
        | PublishError::QueueFull { .. }
        | PublishError::NotDurable { .. } => ReasonCode::QUOTA_EXCEEDED,
        PublishError::Limit(_) => ReasonCode::TOPIC_NAME_INVALID,
        _ => ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR,
    }
}

/// The 5.0 SUBACK / UNSUBACK reason code of a refused filter.
fn subscribe_error_code(error: &SubscribeError) -> ReasonCode {
    match error {
        SubscribeError::InvalidFilter(_) | SubscribeError::Limit(_) => {
            ReasonCode::TOPIC_FILTER_INVALID
        }
        SubscribeError::NotAuthorized { .. } => ReasonCode::NOT_AUTHORIZED,
        SubscribeError::TooManySubscriptions { .. } => ReasonCode::QUOTA_EXCEEDED,
        _ => ReasonCode::UNSPECIFIED_ERROR,
    }
}

/// The properties of a PUBLISH (or will) that the router forwards, or `None` if it has none.
pub(super) fn publish_properties(p: &Properties) -> Option<PublishProperties> {
    let has_any = p.payload_format_indicator.is_some()
        || p.message_expiry_interval.is_some()
        || p.content_type.is_some()
        || p.response_topic.is_some()
        || p.correlation_data.is_some()
        || !p.user_properties.is_empty();
    if !has_any {
        return None;
    }
    let mut out = PublishProperties::new();
    out.payload_format_indicator = p.payload_format_indicator;
    out.message_expiry_interval = p
        .message_expiry_interval
        .map(|s| Duration::from_secs(u64::from(s)));
    out.content_type.clone_from(&p.content_type);
    out.response_topic.clone_from(&p.response_topic);
    out.correlation_data.clone_from(&p.correlation_data);
    out.user_properties.clone_from(&p.user_properties);
    Some(out)
}
