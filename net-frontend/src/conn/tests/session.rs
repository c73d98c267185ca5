//! DISCONNECT and wills, session takeover, SUBACK / UNSUBACK reason codes, and packets a
//! client must not send.

use super::*;
use crate::codec::{SubAck, UnsubAck, Unsubscribe};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A CONNECT of `client_id` with a QoS 0 will on `will/<client_id>`, payload "gone".
fn with_will(version: ProtocolVersion, client_id: &str) -> Connect {
    let mut c = connect(version, client_id);
    c.will = Some(codec::Will {
        topic: PublishTopic::new(&format!("will/{client_id}")).expect("topic"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    c
}

/// The wills `watch` received, by topic.
fn wills(watch: &Client) -> Vec<String> {
    received(watch)
        .into_iter()
        .map(|(topic, _)| topic)
        .collect()
}

/// A normal DISCONNECT ends the connection without a reply and discards the will
/// [MQTT-3.1.2-10] [MQTT-3.14.4-3].
#[test]
fn normal_disconnect_discards_the_will() {
    let broker = broker();
    let watch = watcher(&broker, "w", "will/#");
    for version in [V311, V5] {
        let (mut peer, _) =
            Peer::connect_with(&broker, ServerConfig::default(), with_will(version, "c"));
        let flow = peer.send(&disconnect(ReasonCode::NORMAL_DISCONNECTION));
        peer.assert_closed_silently(flow);
        drop(peer);
        assert_eq!(wills(&watch), Vec::<String>::new(), "{version}");
    }
}

/// DISCONNECT with 0x04 Disconnect with Will Message ends the connection and publishes the
/// will (§3.14.2.1).
#[test]
fn disconnect_with_will_message_publishes_the_will() {
    let broker = broker();
    let watch = watcher(&broker, "w", "will/#");
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), with_will(V5, "c"));
    let flow = peer.send(&disconnect(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE));
    peer.assert_closed_silently(flow);
    assert_eq!(wills(&watch), vec!["will/c".to_owned()]);
    assert_eq!(peer.stats().clients_connected, 0);
}

/// A connection that ends without DISCONNECT (the socket closed) publishes the will
/// [MQTT-3.1.2-8].
#[test]
fn lost_connection_publishes_the_will() {
    let broker = broker();
    let watch = watcher(&broker, "w", "will/#");
    let (peer, _) = Peer::connect_with(&broker, ServerConfig::default(), with_will(V311, "c"));
    let stats = peer.shared.clone();
    drop(peer);
    assert_eq!(wills(&watch), vec!["will/c".to_owned()]);
    assert_eq!(stats.counters.snapshot().clients_connected, 0);
}

/// A DISCONNECT may not give a session that was to end with its connection a Session Expiry
/// Interval: protocol error [MQTT-3.14.2-2], DISCONNECT 0x82, will published.
#[test]
fn disconnect_cannot_raise_a_zero_session_expiry() {
    let broker = broker();
    let watch = watcher(&broker, "w", "will/#");
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), with_will(V5, "c"));
    let d = Disconnect {
        reason_code: ReasonCode::NORMAL_DISCONNECTION,
        properties: Properties {
            session_expiry_interval: Some(60),
            ..Properties::default()
        },
    };
    let flow = peer.send(&Packet::Disconnect(d));
    peer.assert_disconnected(flow, ReasonCode::PROTOCOL_ERROR);
    assert_eq!(peer.stats().protocol_errors, 1);
    assert_eq!(wills(&watch), vec!["will/c".to_owned()]);
    assert!(
        broker.session_stats("c").is_none(),
        "the session ended with the connection"
    );
}

/// A second connection with the same client id takes the session over: the first is told
/// with DISCONNECT 0x8E on 5.0 (closed without a word on 3.1.1) when its session wakes it
/// [MQTT-3.1.4-3], and its will is published.
#[test]
fn takeover_closes_the_first_connection() {
    for version in [V5, V311] {
        let broker = broker();
        let watch = watcher(&broker, "w", "will/#");
        let (mut first, _) =
            Peer::connect_with(&broker, ServerConfig::default(), with_will(version, "same"));
        let wakes = first.wake_count();
        let mut second = Peer::connect(&broker, version, "same");
        assert!(
            first.wake_count() > wakes,
            "{version}: the old connection is woken"
        );

        let flow = first.conn.on_delivery().map(drop);
        if version.is_v5() {
            first.assert_disconnected(flow, ReasonCode::SESSION_TAKEN_OVER);
        } else {
            first.assert_closed_silently(flow);
        }
        assert_eq!(first.stats().taken_over, 1);
        assert_eq!(wills(&watch), vec!["will/same".to_owned()], "{version}");
        drop(first);
        second
            .send(&Packet::PingReq)
            .expect("the new connection works");
        assert_eq!(second.take(), vec![Packet::PingResp]);
        assert!(broker.session_stats("same").is_some_and(|s| s.online));
    }
}

/// No Local on a shared subscription is a protocol error [MQTT-3.8.3-4]: DISCONNECT 0x82.
#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V5, "c");
    let options = SubOptions::new(QoS::AtMostOnce).no_local(true);
    let flow = peer.send(&subscribe_opts(1, "$share/g/t", options));
    peer.assert_disconnected(flow, ReasonCode::PROTOCOL_ERROR);
    assert_eq!(broker.stats().subscriptions, 0, "nothing subscribed");
}

/// A PUBLISH from a client with a Subscription Identifier is a protocol error
/// [MQTT-3.3.4-6], and is not routed.
#[test]
fn subscription_identifier_in_a_client_publish_is_a_protocol_error() {
    let broker = broker();
    let watch = watcher(&broker, "w", "#");
    let mut peer = Peer::connect(&broker, V5, "c");
    let mut p = publish("t", QoS::AtMostOnce, None, b"x");
    p.properties.subscription_identifiers = vec![5];
    let flow = peer.send(&Packet::Publish(p));
    peer.assert_disconnected(flow, ReasonCode::PROTOCOL_ERROR);
    assert_eq!(peer.stats().protocol_errors, 1);
    assert_eq!(received(&watch), vec![]);
}

/// Packets only a server sends are protocol errors from a client (§4.13): CONNACK, SUBACK,
/// UNSUBACK, PINGRESP.
#[test]
fn server_packets_from_a_client_are_protocol_errors() {
    let packets = [
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: ReasonCode::SUCCESS,
            properties: Properties::default(),
        }),
        Packet::SubAck(SubAck {
            packet_id: pid(1),
            properties: Properties::default(),
            reason_codes: vec![ReasonCode::GRANTED_QOS_0],
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: pid(1),
            properties: Properties::default(),
            reason_codes: vec![ReasonCode::SUCCESS],
        }),
        Packet::PingResp,
    ];
    for packet in packets {
        let mut peer = Peer::connect(&broker(), V5, "c");
        let flow = peer.send(&packet);
        peer.assert_disconnected(flow, ReasonCode::PROTOCOL_ERROR);
        assert_eq!(peer.stats().protocol_errors, 1, "{packet:?}");
    }
}

/// Refuses subscriptions under `secret/`.
#[derive(Debug)]
struct NoSecrets;

impl mqlite::Hooks for NoSecrets {
    fn authorize_subscribe(
        &self,
        _: &mqlite::ClientInfo<'_>,
        filter: &TopicFilter,
        _: QoS,
    ) -> bool {
        !filter.as_str().starts_with("secret/")
    }
}

/// A broker with at most 3 topic levels that refuses `secret/` subscriptions.
fn strict_broker() -> Broker {
    let mut config = Config::default();
    config.max_topic_levels = 3;
    Broker::builder()
        .config(config)
        .hooks(NoSecrets)
        .clock(Arc::new(ManualClock::new()))
        .build()
}

/// SUBSCRIBE to a granted filter, one over the level limit and one the hooks refuse.
fn three_filters() -> Packet {
    let filter = |f: &str| TopicFilter::new(f).expect("valid filter");
    Packet::Subscribe(Subscribe {
        packet_id: pid(4),
        properties: Properties::default(),
        filters: vec![
            (filter("ok/+"), SubOptions::new(QoS::ExactlyOnce)),
            (filter("a/b/c/d"), SubOptions::new(QoS::AtMostOnce)),
            (filter("secret/x"), SubOptions::new(QoS::AtLeastOnce)),
        ],
    })
}

/// 3.1.1 SUBACK has one failure code, 0x80 [MQTT-3.9.3-2]; granted filters get their QoS.
#[test]
fn v311_suback_refusals_are_0x80() {
    let mut peer = Peer::connect(&strict_broker(), V311, "c");
    peer.send(&three_filters()).expect("subscribe");
    let expected = SubAck {
        packet_id: pid(4),
        properties: Properties::default(),
        reason_codes: vec![
            ReasonCode::GRANTED_QOS_2,
            ReasonCode(0x80),
            ReasonCode(0x80),
        ],
    };
    assert_eq!(peer.take(), vec![Packet::SubAck(expected)]);
}

/// 5.0 SUBACK says why (§3.9.3): 0x8F Topic Filter invalid for a filter over a limit, 0x87
/// Not authorized for one the hooks refuse.
#[test]
fn v5_suback_refusals_say_why() {
    let mut peer = Peer::connect(&strict_broker(), V5, "c");
    peer.send(&three_filters()).expect("subscribe");
    let expected = SubAck {
        packet_id: pid(4),
        properties: Properties::default(),
        reason_codes: vec![
            ReasonCode::GRANTED_QOS_2,
            ReasonCode::TOPIC_FILTER_INVALID,
            ReasonCode::NOT_AUTHORIZED,
        ],
    };
    assert_eq!(peer.take(), vec![Packet::SubAck(expected)]);
}

/// 5.0 UNSUBACK has one code per filter: 0x00 for a removed subscription, 0x11 No
/// subscription existed for the others (§3.11.3); 3.1.1 UNSUBACK has none.
#[test]
fn unsuback_codes_per_version() {
    let unsubscribe = Packet::Unsubscribe(Unsubscribe {
        packet_id: pid(2),
        properties: Properties::default(),
        filters: vec![
            TopicFilter::new("t/#").expect("valid"),
            TopicFilter::new("never").expect("valid"),
        ],
    });
    for (version, codes) in [
        (
            V5,
            vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        ),
        (V311, vec![]),
    ] {
        let mut peer = Peer::connect(&broker(), version, "c");
        subscribed(&mut peer, "t/#", QoS::AtMostOnce);
        peer.send(&unsubscribe).expect("unsubscribe");
        let expected = UnsubAck {
            packet_id: pid(2),
            properties: Properties::default(),
            reason_codes: codes,
        };
        assert_eq!(peer.take(), vec![Packet::UnsubAck(expected)], "{version}");
    }
}

/// A 5.0 DISCONNECT may change a non-zero Session Expiry Interval (§3.14.2.2.2): set to 0,
/// the session ends with the connection.
#[test]
fn disconnect_can_end_a_persistent_session() {
    let broker = broker();
    let mut c = connect(V5, "p");
    c.properties.session_expiry_interval = Some(3600);
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    let d = Disconnect {
        reason_code: ReasonCode::NORMAL_DISCONNECTION,
        properties: Properties {
            session_expiry_interval: Some(0),
            ..Properties::default()
        },
    };
    let flow = peer.send(&Packet::Disconnect(d));
    peer.assert_closed_silently(flow);
    assert!(broker.session_stats("p").is_none(), "the session ended");
}

/// Refuses publishes under `ro/`.
#[derive(Debug)]
struct ReadOnly;

impl mqlite::Hooks for ReadOnly {
    fn authorize_publish(
        &self,
        _: &mqlite::ClientInfo<'_>,
        topic: &mqlite::TopicName,
        _: QoS,
        _: bool,
    ) -> bool {
        !topic.as_str().starts_with("ro/")
    }
}

/// A publish the hooks refuse is acknowledged with 0x87 Not authorized on 5.0 (§3.4.2.1)
/// and a plain PUBACK on 3.1.1, which cannot say no; the connection stays open.
#[test]
fn refused_publish_is_acknowledged_with_its_reason() {
    let broker = Broker::builder()
        .hooks(ReadOnly)
        .clock(Arc::new(ManualClock::new()))
        .build();
    for (version, code) in [
        (V5, ReasonCode::NOT_AUTHORIZED),
        (V311, ReasonCode::SUCCESS),
    ] {
        let mut peer = Peer::connect(&broker, version, "c");
        let flow = peer.send(&Packet::Publish(publish(
            "ro/x",
            QoS::AtLeastOnce,
            Some(1),
            b"x",
        )));
        assert_eq!(flow, Ok(()));
        let mut expected = codec::PubAck::new(pid(1));
        expected.reason_code = code;
        assert_eq!(peer.take(), vec![Packet::PubAck(expected)], "{version}");
    }
}
