//! proptest strategies for valid packets of each version.

use bytes::Bytes;
use mqlite::{QoS, RetainHandling, SubOptions, TopicFilter};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use super::*;
use crate::codec::properties::Context;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 é/_-]{0,8}"
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..8).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1u16..).prop_map(|v| PacketId::new(v).expect("non-zero"))
}

fn topic() -> impl Strategy<Value = PublishTopic> {
    "[a-z$]{1,4}(/[a-z]{0,4}){0,2}".prop_map(|t| PublishTopic::new(&t).expect("valid"))
}

fn filter() -> impl Strategy<Value = TopicFilter> {
    "([a-z]{1,4}|\\+)(/([a-z]{0,4}|\\+)){0,2}(/#)?"
        .prop_map(|f| TopicFilter::new(&f).expect("valid filter"))
}

/// The reason codes 5.0 allows in `packet`.
fn reason_code(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=255u8)
        .map(ReasonCode)
        .filter(|c| c.is_valid_for(packet))
        .collect();
    select(codes)
}

/// Every property with a valid value, then cut down to what `ctx` allows.
fn properties(ctx: Context) -> BoxedStrategy<Properties> {
    let flag = || option::of(any::<bool>());
    let string = || option::of(text());
    let a = (
        flag(),
        option::of(any::<u32>()),
        string(),
        string(),
        option::of(binary()),
        vec(1u32..=268_435_455, 0..3),
        option::of(any::<u32>()),
        string(),
        option::of(any::<u16>()),
        string(),
        option::of(binary()),
        flag(),
    );
    let b = (
        option::of(any::<u32>()),
        flag(),
        string(),
        string(),
        string(),
        option::of(1u16..),
        option::of(any::<u16>()),
        option::of(1u16..),
        option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        flag(),
        vec((text(), text()), 0..3),
        option::of(1u32..),
    );
    let c = (flag(), flag(), flag());
    (a, b, c)
        .prop_map(move |(a, b, c)| {
            Properties {
                payload_format_indicator: a.0,
                message_expiry_interval: a.1,
                content_type: a.2,
                response_topic: a.3,
                correlation_data: a.4,
                subscription_identifiers: a.5,
                session_expiry_interval: a.6,
                assigned_client_identifier: a.7,
                server_keep_alive: a.8,
                authentication_method: a.9,
                authentication_data: a.10,
                request_problem_information: a.11,
                will_delay_interval: b.0,
                request_response_information: b.1,
                response_information: b.2,
                server_reference: b.3,
                reason_string: b.4,
                receive_maximum: b.5,
                topic_alias_maximum: b.6,
                topic_alias: b.7,
                maximum_qos: b.8,
                retain_available: b.9,
                user_properties: b.10,
                maximum_packet_size: b.11,
                wildcard_subscription_available: c.0,
                subscription_identifier_available: c.1,
                shared_subscription_available: c.2,
            }
            .restrict_to(ctx)
        })
        .boxed()
}

/// Properties for `ctx` in 5.0, none before.
fn props(version: ProtocolVersion, ctx: Context) -> BoxedStrategy<Properties> {
    if version.is_v5() {
        properties(ctx)
    } else {
        Just(Properties::default()).boxed()
    }
}

/// A reason code for `packet`: any valid one in 5.0, success before.
fn code(version: ProtocolVersion, packet: PacketType) -> BoxedStrategy<ReasonCode> {
    if version.is_v5() {
        reason_code(packet).boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    }
}

fn will(version: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        topic(),
        binary(),
        qos(),
        any::<bool>(),
        props(version, Context::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let credentials = (option::of(text()), option::of(binary())).prop_filter(
        "before 5.0 a password needs a user name",
        move |(user, password)| version.is_v5() || user.is_some() || password.is_none(),
    );
    (
        any::<(bool, u16)>(),
        props(version, Context::Connect),
        text(),
        option::of(will(version)),
        credentials,
    )
        .prop_map(
            move |((clean_start, keep_alive), properties, client_id, will, creds)| {
                Packet::Connect(Box::new(Connect {
                    protocol_version: version,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username: creds.0,
                    password: creds.1,
                }))
            },
        )
}

fn connack(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if version.is_v5() {
        reason_code(PacketType::ConnAck).boxed()
    } else {
        select(vec![
            ReasonCode::SUCCESS,
            ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            ReasonCode::SERVER_UNAVAILABLE,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ReasonCode::NOT_AUTHORIZED,
        ])
        .boxed()
    };
    let session = any::<bool>().prop_map(move |s| s && version != ProtocolVersion::V31);
    (session, code, props(version, Context::ConnAck)).prop_map(
        |(session_present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code,
                properties,
            })
        },
    )
}

fn publish(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        any::<(bool, bool)>(),
        qos(),
        topic(),
        packet_id(),
        props(version, Context::Publish),
        binary(),
    )
        .prop_map(|((dup, retain), qos, topic, id, properties, payload)| {
            Packet::Publish(Publish {
                dup,
                qos,
                retain,
                topic,
                packet_id: (qos != QoS::AtMostOnce).then_some(id),
                properties,
                payload,
            })
        })
}

fn ack(version: ProtocolVersion, packet: PacketType) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        code(version, packet),
        props(version, Context::Ack),
    )
        .prop_map(move |(packet_id, reason_code, properties)| {
            let mut ack = PubAck::new(packet_id);
            ack.reason_code = reason_code;
            ack.properties = properties;
            let PubAck {
                packet_id,
                reason_code,
                properties,
            } = ack;
            match packet {
                PacketType::PubAck => Packet::PubAck(PubAck {
                    packet_id,
                    reason_code,
                    properties,
                }),
                PacketType::PubRec => Packet::PubRec(PubRec {
                    packet_id,
                    reason_code,
                    properties,
                }),
                PacketType::PubRel => Packet::PubRel(PubRel {
                    packet_id,
                    reason_code,
                    properties,
                }),
                _ => Packet::PubComp(PubComp {
                    packet_id,
                    reason_code,
                    properties,
                }),
            }
        })
}

fn sub_options(version: ProtocolVersion) -> BoxedStrategy<SubOptions> {
    if !version.is_v5() {
        return qos().prop_map(SubOptions::new).boxed();
    }
    let handling = select(vec![
        RetainHandling::SendAtSubscribe,
        RetainHandling::SendAtSubscribeIfNew,
        RetainHandling::DoNotSend,
    ]);
    (qos(), any::<(bool, bool)>(), handling)
        .prop_map(|(qos, (no_local, rap), handling)| {
            SubOptions::new(qos)
                .no_local(no_local)
                .retain_as_published(rap)
                .retain_handling(handling)
        })
        .boxed()
}

fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        props(version, Context::Subscribe),
        vec((filter(), sub_options(version)), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        })
}

fn suback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if version.is_v5() {
        reason_code(PacketType::SubAck).boxed()
    } else {
        select(vec![
            ReasonCode(0),
            ReasonCode(1),
            ReasonCode(2),
            ReasonCode(0x80),
        ])
        .boxed()
    };
    (
        packet_id(),
        props(version, Context::SubAck),
        vec(code, 1..4),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
}

fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        props(version, Context::Unsubscribe),
        vec(filter(), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        })
}

fn unsuback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = if version.is_v5() {
        vec(reason_code(PacketType::UnsubAck), 1..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), props(version, Context::UnsubAck), codes).prop_map(
        |(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        },
    )
}

fn disconnect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        code(version, PacketType::Disconnect),
        props(version, Context::Disconnect),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
}

fn auth() -> impl Strategy<Value = Packet> {
    (reason_code(PacketType::Auth), properties(Context::Auth)).prop_map(
        |(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        },
    )
}

/// Any valid packet of `version`.
pub(super) fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut all = vec![
        connect(version).boxed(),
        connack(version).boxed(),
        publish(version).boxed(),
        ack(version, PacketType::PubAck).boxed(),
        ack(version, PacketType::PubRec).boxed(),
        ack(version, PacketType::PubRel).boxed(),
        ack(version, PacketType::PubComp).boxed(),
        subscribe(version).boxed(),
        suback(version).boxed(),
        unsubscribe(version).boxed(),
        unsuback(version).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(version).boxed(),
    ];
    if version.is_v5() {
        all.push(auth().boxed());
    }
    proptest::strategy::Union::new(all).boxed()
}

/// Any version.
pub(super) fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![
        ProtocolVersion::V31,
        ProtocolVersion::V311,
        ProtocolVersion::V5,
    ])
}
