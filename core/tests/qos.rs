//! QoS: the effective QoS of a delivery, acknowledgements and the in-flight window.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_empty, broker, connect, recv};
use mqlite::{ConnectOptions, QoS, SubOptions};

const ALL: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

/// The delivery QoS is min(publish QoS, granted QoS) for all nine pairs
/// [MQTT-3.8.4-6] (3.1.1), [MQTT-3.8.4-8] (5.0).
#[test]
fn effective_qos_is_min_of_publish_and_granted() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    for granted in ALL {
        let sub = connect(&broker, &format!("sub-{}", granted.as_u8()));
        assert_eq!(sub.subscribe("t", granted).unwrap(), granted);
        for published in ALL {
            publisher.publish("t", "x", published, false).unwrap();
            let msg = recv(&sub);
            assert_eq!(
                msg.qos(),
                published.min(granted),
                "pub {published} sub {granted}"
            );
            assert_eq!(msg.packet_id().is_some(), msg.qos() != QoS::AtMostOnce);
            msg.ack();
        }
        sub.unsubscribe("t").unwrap();
    }
}

/// Overlapping subscriptions of one client give one delivery at the highest granted QoS
/// [MQTT-3.3.5-1].
#[test]
fn overlapping_subscriptions_deliver_once_at_max_qos() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("a/+", QoS::AtMostOnce).unwrap();
    sub.subscribe("a/#", QoS::ExactlyOnce).unwrap();
    sub.subscribe("a/b", QoS::AtLeastOnce).unwrap();
    connect(&broker, "pub")
        .publish("a/b", "x", QoS::ExactlyOnce, false)
        .unwrap();
    let msg = recv(&sub);
    assert_eq!(msg.qos(), QoS::ExactlyOnce);
    msg.ack();
    assert_empty(&sub);
}

/// The in-flight window holds at most receive-maximum unacknowledged QoS 1 messages; the rest
/// wait in order and flow as acknowledgements free slots (MQTT 5.0 §4.9).
#[test]
fn inflight_window_stops_at_receive_maximum_until_acked() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").receive_maximum(2))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..5 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let first = recv(&sub);
    let second = recv(&sub);
    assert_empty(&sub);
    first.ack();
    let third = recv(&sub);
    assert_eq!(third.payload().as_ref(), b"2");
    assert_empty(&sub);
    second.ack();
    third.ack();
    assert_eq!(recv(&sub).payload().as_ref(), b"3");
}

/// Acknowledging twice, or acknowledging a QoS 0 message, changes nothing.
#[test]
fn ack_is_idempotent() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").receive_maximum(1))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    publisher
        .publish("t", "0", QoS::AtLeastOnce, false)
        .unwrap();
    publisher
        .publish("t", "1", QoS::AtLeastOnce, false)
        .unwrap();
    publisher
        .publish("t", "2", QoS::AtLeastOnce, false)
        .unwrap();
    let m0 = recv(&sub);
    m0.ack();
    let m1 = recv(&sub);
    m0.ack(); // must not free m1's slot
    assert_empty(&sub);
    m1.ack();
    assert_eq!(recv(&sub).payload().as_ref(), b"2");
}

/// With auto-ack, QoS 1 messages need no acknowledgement and never block the window.
#[test]
fn auto_ack_never_blocks_the_window() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").receive_maximum(1).auto_ack(true))
        .unwrap();
    sub.subscribe("t", SubOptions::new(QoS::AtLeastOnce))
        .unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..10 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let got: Vec<_> = sub.try_iter().map(|m| m.payload().clone()).collect();
    assert_eq!(got.len(), 10);
}

/// Messages from one publisher on one topic arrive in publish order, at every QoS
/// (MQTT 3.1.1 §4.6).
#[test]
fn order_is_kept_per_publisher_and_topic() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").auto_ack(true))
        .unwrap();
    sub.subscribe("t", QoS::ExactlyOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..300u32 {
        publisher
            .publish("t", i.to_string(), ALL[(i % 3) as usize], false)
            .unwrap();
    }
    let got: Vec<u32> = sub
        .try_iter()
        .map(|m| std::str::from_utf8(m.payload()).unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
}
