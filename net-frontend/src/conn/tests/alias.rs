//! Topic aliases (§3.3.2.3.4): the client's to the server, and the server's to a client
//! that accepts them.

use super::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn aliased(topic: &str, alias: u16, payload: &'static [u8]) -> Packet {
    let mut p = publish("x", QoS::AtMostOnce, None, payload);
    p.topic = PublishTopic::new(topic).expect("valid topic");
    p.properties.topic_alias = Some(alias);
    Packet::Publish(p)
}

/// A PUBLISH with a topic and an alias sets the alias; one with an empty topic and the
/// alias means that topic; a new topic with the same alias replaces the mapping.
#[test]
fn inbound_topic_alias_is_set_reused_and_replaced() {
    let broker = broker();
    let watch = watcher(&broker, "w", "#");
    let mut peer = Peer::connect(&broker, V5, "pub");
    peer.send(&aliased("a/b", 1, b"1")).expect("set");
    peer.send(&aliased("", 1, b"2")).expect("reuse");
    peer.send(&aliased("c", 1, b"3")).expect("replace");
    peer.send(&aliased("", 1, b"4")).expect("reuse the new one");
    assert_eq!(peer.take(), vec![]);
    let got: Vec<_> = received(&watch)
        .into_iter()
        .map(|(t, p)| (t, p.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a/b".into(), b"1".to_vec()),
            ("a/b".into(), b"2".to_vec()),
            ("c".into(), b"3".to_vec()),
            ("c".into(), b"4".to_vec()),
        ]
    );
}

/// An alias above the Topic Alias Maximum the server sent is Topic Alias invalid (0x94)
/// [MQTT-3.3.2-9]; the connection closes and counts a protocol error.
#[test]
fn inbound_topic_alias_above_maximum_is_invalid() {
    let config = ServerConfig {
        topic_alias_maximum: 3,
        ..ServerConfig::default()
    };
    let (mut peer, _) = Peer::connect_with(&broker(), config, connect(V5, "pub"));
    assert_eq!(peer.send(&aliased("a", 3, b"")), Ok(()));
    let flow = peer.send(&aliased("a", 4, b""));
    peer.assert_disconnected(flow, ReasonCode::TOPIC_ALIAS_INVALID);
    assert_eq!(peer.stats().protocol_errors, 1);
}

/// With Topic Alias Maximum 0 (absent from CONNACK) any alias is invalid [MQTT-3.3.2-9].
#[test]
fn inbound_topic_alias_without_server_maximum_is_invalid() {
    let config = ServerConfig {
        topic_alias_maximum: 0,
        ..ServerConfig::default()
    };
    let (mut peer, _) = Peer::connect_with(&broker(), config, connect(V5, "pub"));
    let flow = peer.send(&aliased("a", 1, b""));
    peer.assert_disconnected(flow, ReasonCode::TOPIC_ALIAS_INVALID);
}

/// Topic alias 0 is not permitted [MQTT-3.3.2-8]; like one above the maximum, it is Topic
/// Alias invalid (0x94), as `resolve_topic` in `inbound.rs` intends.
#[test]
fn inbound_topic_alias_0_is_invalid() {
    let mut peer = Peer::connect(&broker(), V5, "pub");
    let flow = peer.send_bytes(&[
        0x30, 0x08, // PUBLISH QoS 0, remaining length 8
        0x00, 0x01, b'a', // topic "a"
        0x03, // property length 3
        0x23, 0x00, 0x00, // Topic Alias 0
        b'p', // payload
    ]);
    peer.assert_disconnected(flow, ReasonCode::TOPIC_ALIAS_INVALID);
}

/// An empty topic with an alias the client never set is a protocol error (0x82)
/// (§3.3.2.3.4: a Topic Alias mapping must exist).
#[test]
fn inbound_unknown_topic_alias_is_a_protocol_error() {
    let mut peer = Peer::connect(&broker(), V5, "pub");
    let flow = peer.send(&aliased("", 2, b""));
    peer.assert_disconnected(flow, ReasonCode::PROTOCOL_ERROR);
    assert_eq!(peer.stats().protocol_errors, 1);
}

/// A client that accepts aliases (Topic Alias Maximum > 0 in CONNECT) gets the topic and an
/// alias on the first delivery of a topic and only the alias, with an empty topic, after
/// (§3.3.2.3.4).
#[test]
fn outbound_topic_alias_replaces_a_repeated_topic() {
    let broker = broker();
    let mut c = connect(V5, "sub");
    c.properties.topic_alias_maximum = Some(4);
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    subscribed(&mut peer, "t/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for _ in 0..2 {
        source
            .publish("t/long/topic", "x", QoS::AtMostOnce, false)
            .expect("publish");
    }
    let sent = publishes(peer.deliver());
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].topic.as_str(), sent[0].properties.topic_alias),
        ("t/long/topic", Some(1))
    );
    assert_eq!(
        (sent[1].topic.as_str(), sent[1].properties.topic_alias),
        ("", Some(1))
    );
}

/// Without Topic Alias Maximum in CONNECT the server sends no alias [MQTT-3.1.2-27].
#[test]
fn outbound_no_topic_alias_for_a_client_without_maximum() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V5, "sub");
    subscribed(&mut peer, "t/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for _ in 0..2 {
        source
            .publish("t/a", "x", QoS::AtMostOnce, false)
            .expect("publish");
    }
    for p in publishes(peer.deliver()) {
        assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("t/a", None));
    }
}

/// The server never sends an alias above the client's maximum [MQTT-3.3.2-11]: past it,
/// new topics go out in full, and topics with an alias keep using it.
#[test]
fn outbound_topic_aliases_stop_at_the_client_maximum() {
    let broker = broker();
    let mut c = connect(V5, "sub");
    c.properties.topic_alias_maximum = Some(1);
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    subscribed(&mut peer, "t/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for topic in ["t/a", "t/b", "t/a", "t/b"] {
        source
            .publish(topic, "x", QoS::AtMostOnce, false)
            .expect("publish");
    }
    let got: Vec<_> = publishes(peer.deliver())
        .into_iter()
        .map(|p| (p.topic.as_str().to_owned(), p.properties.topic_alias))
        .collect();
    assert_eq!(
        got,
        vec![
            ("t/a".into(), Some(1)),
            ("t/b".into(), None),
            ("".into(), Some(1)),
            ("t/b".into(), None),
        ]
    );
}
