//! What a delivery carries: the publisher's 5.0 properties, the expiry interval left,
//! subscription identifiers, and the effect of subscription options; plus wills with
//! properties and packets pipelined behind CONNECT.

use super::*;
use mqlite::{PublishProperties, RetainHandling};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// A broker whose clock the test moves.
fn broker_and_clock() -> (Broker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let broker = Broker::builder().clock(clock.clone()).build();
    (broker, clock)
}

/// The request/response properties of a 5.0 PUBLISH reach a 5.0 subscriber unaltered:
/// Payload Format Indicator [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data
/// [MQTT-3.3.2-16], User Properties in order [MQTT-3.3.2-17] [MQTT-3.3.2-18], Content Type
/// [MQTT-3.3.2-20].
#[test]
fn publish_properties_reach_the_subscriber_unaltered() {
    let broker = broker();
    let mut sub = Peer::connect(&broker, V5, "sub");
    subscribed(&mut sub, "req/#", QoS::AtMostOnce);
    let mut publisher = Peer::connect(&broker, V5, "pub");
    let mut p = publish("req/1", QoS::AtMostOnce, None, b"{}");
    p.properties = Properties {
        payload_format_indicator: Some(true),
        response_topic: Some("resp/1".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01")),
        user_properties: vec![
            ("b".into(), "2".into()),
            ("a".into(), "1".into()),
            ("b".into(), "3".into()),
        ],
        content_type: Some("application/json".into()),
        ..Properties::default()
    };
    let sent = p.properties.clone();
    publisher.send(&Packet::Publish(p)).expect("publish");
    let got = publishes(sub.deliver());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].properties, sent);
}

/// A delivery carries the Message Expiry Interval it has left, rounded up to whole seconds
/// [MQTT-3.3.2-6]; one whose interval ran out while queued is not sent [MQTT-3.3.2-5].
#[test]
fn message_expiry_interval_counts_down_while_queued() {
    let (broker, clock) = broker_and_clock();
    let mut sub = Peer::connect(&broker, V5, "sub");
    subscribed(&mut sub, "e/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for (topic, secs) in [("e/short", 2), ("e/long", 10)] {
        let props = PublishProperties::new().message_expiry_interval(Duration::from_secs(secs));
        let options = mqlite::PublishOptions::new(QoS::AtMostOnce).properties(props);
        source.publish_with(topic, "x", &options).expect("publish");
    }
    clock.advance(Duration::from_millis(3_500));
    let got = publishes(sub.deliver());
    assert_eq!(got.len(), 1, "the expired one is dropped");
    assert_eq!(got[0].topic.as_str(), "e/long");
    assert_eq!(
        got[0].properties.message_expiry_interval,
        Some(7),
        "6.5 s left, rounded up"
    );
}

/// A delivery carries the Subscription Identifier of the subscription it matched
/// [MQTT-3.3.4-3].
#[test]
fn delivery_carries_the_subscription_identifier() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V5, "sub");
    let mut s = match subscribe(1, "t/#", QoS::AtMostOnce) {
        Packet::Subscribe(s) => s,
        _ => unreachable!("built as SUBSCRIBE"),
    };
    s.properties.subscription_identifiers = vec![7];
    peer.send(&Packet::Subscribe(s)).expect("subscribe");
    assert_eq!(peer.take().len(), 1, "SUBACK");
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/x", "x", QoS::AtMostOnce, false)
        .expect("publish");
    let sent = publishes(peer.deliver());
    assert_eq!(sent[0].properties.subscription_identifiers, vec![7]);
}

/// No Local: a client's own messages are not sent back to it [MQTT-3.8.3-3]; others are.
#[test]
fn no_local_keeps_a_clients_own_messages() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V5, "me");
    let options = SubOptions::new(QoS::AtMostOnce).no_local(true);
    peer.send(&subscribe_opts(1, "chat/#", options))
        .expect("subscribe");
    assert_eq!(peer.take().len(), 1, "SUBACK");
    peer.send(&Packet::Publish(publish(
        "chat/1",
        QoS::AtMostOnce,
        None,
        b"mine",
    )))
    .expect("publish");
    let other = broker
        .connect(ConnectOptions::new("other"))
        .expect("connect");
    other
        .publish("chat/1", "theirs", QoS::AtMostOnce, false)
        .expect("publish");
    let got = publishes(peer.deliver());
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"theirs");
}

/// Retain As Published keeps the RETAIN flag of a live delivery [MQTT-3.3.1-13]; without it
/// the flag is 0 [MQTT-3.3.1-12]. Retain Handling 2 sends no retained message at subscribe
/// [MQTT-3.3.1-11].
#[test]
fn subscription_options_shape_the_retain_flag() {
    let broker = broker();
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("r/old", "stored", QoS::AtMostOnce, true)
        .expect("publish");
    let mut peer = Peer::connect(&broker, V5, "sub");
    let keep = SubOptions::new(QoS::AtMostOnce)
        .retain_as_published(true)
        .retain_handling(RetainHandling::DoNotSend);
    let plain = SubOptions::new(QoS::AtMostOnce).retain_handling(RetainHandling::DoNotSend);
    peer.send(&subscribe_opts(1, "r/keep", keep))
        .expect("subscribe");
    peer.send(&subscribe_opts(2, "r/plain", plain))
        .expect("subscribe");
    peer.send(&subscribe_opts(3, "r/old", plain))
        .expect("subscribe");
    assert_eq!(peer.take().len(), 3, "three SUBACKs");
    for topic in ["r/keep", "r/plain"] {
        source
            .publish(topic, "live", QoS::AtMostOnce, true)
            .expect("publish");
    }
    let got: Vec<_> = publishes(peer.deliver())
        .into_iter()
        .map(|p| (p.topic.as_str().to_owned(), p.retain))
        .collect();
    assert_eq!(
        got,
        vec![("r/keep".into(), true), ("r/plain".into(), false)]
    );
}

/// A will keeps its 5.0 properties (§3.1.3.2) when it is published.
#[test]
fn will_properties_are_published_with_the_will() {
    let broker = broker();
    let watch = broker
        .connect(ConnectOptions::new("w").auto_ack(true))
        .expect("connect");
    watch
        .subscribe("will/#", QoS::AtMostOnce)
        .expect("subscribe");
    let mut c = connect(V5, "dying");
    c.will = Some(codec::Will {
        topic: PublishTopic::new("will/dying").expect("topic"),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties {
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        },
    });
    let (peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    drop(peer);
    let msg = watch.try_recv().expect("the will");
    let props = msg.properties().expect("will properties");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        props.user_properties,
        vec![("k".to_owned(), "v".to_owned())]
    );
}

/// Packets pipelined behind CONNECT in the same read are handled in order, after the
/// CONNACK.
#[test]
fn packets_pipelined_behind_connect_are_handled_in_order() {
    let broker = broker();
    let watch = watcher(&broker, "w", "p/#");
    let mut peer = Peer::open(&broker, ServerConfig::default(), V5);
    let mut bytes = BytesMut::new();
    for packet in [
        Packet::Connect(Box::new(connect(V5, "fast"))),
        subscribe(1, "p/#", QoS::AtMostOnce),
        Packet::Publish(publish("p/1", QoS::AtLeastOnce, Some(2), b"x")),
        Packet::PingReq,
    ] {
        codec::encode(&packet, V5, &mut bytes).expect("encodes");
    }
    assert_eq!(peer.send_bytes(&bytes), Ok(()));
    let kinds: Vec<_> = peer.take().iter().map(Packet::packet_type).collect();
    use crate::codec::PacketType::*;
    assert_eq!(kinds, vec![ConnAck, SubAck, PubAck, PingResp]);
    assert_eq!(received(&watch).len(), 1);
    assert_eq!(
        publishes(peer.deliver()).len(),
        1,
        "its own message, subscribed before"
    );
}
