//! Retained messages: store, replace, clear, and delivery at subscribe.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_empty, broker, broker_with, connect, drain, recv};
use mqlite::{Config, PublishError, QoS, RetainHandling, SubOptions};

/// A new subscription receives the retained message of each matching topic, with RETAIN set
/// [MQTT-3.3.1-6], [MQTT-3.3.1-8].
#[test]
fn retained_sent_on_subscribe_with_retain_flag() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    publisher
        .publish("home/kitchen/temp", "21", QoS::AtLeastOnce, true)
        .unwrap();
    publisher
        .publish("home/hall/temp", "19", QoS::AtLeastOnce, true)
        .unwrap();
    publisher
        .publish("office/temp", "23", QoS::AtLeastOnce, true)
        .unwrap();
    let sub = connect(&broker, "sub");
    sub.subscribe("home/+/temp", QoS::AtLeastOnce).unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = recv(&sub);
        assert!(m.retain());
        got.push(m.topic().to_owned());
        m.ack();
    }
    got.sort();
    assert_eq!(got, ["home/hall/temp", "home/kitchen/temp"]);
    assert_empty(&sub);
}

/// A live delivery to an established subscription has RETAIN 0 even if published retained
/// [MQTT-3.3.1-9].
#[test]
fn live_delivery_clears_retain_flag() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "v", QoS::AtMostOnce, true)
        .unwrap();
    assert!(!recv(&sub).retain());
}

/// A new retained message replaces the old one [MQTT-3.3.1-5].
#[test]
fn retained_message_is_replaced() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    for v in ["1", "2", "3"] {
        publisher.publish("t", v, QoS::AtMostOnce, true).unwrap();
    }
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    assert_eq!(drain(&sub), [("t".to_owned(), "3".to_owned())]);
    assert_eq!(broker.stats().retained_messages, 1);
}

/// An empty retained payload clears the topic and is not stored [MQTT-3.3.1-10],
/// [MQTT-3.3.1-11]; current subscribers still receive it.
#[test]
fn empty_payload_clears_retained() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    publisher.publish("t", "v", QoS::AtMostOnce, true).unwrap();
    let live = connect(&broker, "live");
    live.subscribe("t", QoS::AtMostOnce).unwrap();
    assert_eq!(recv(&live).payload().as_ref(), b"v");
    publisher.publish("t", "", QoS::AtMostOnce, true).unwrap();
    assert!(recv(&live).payload().is_empty());
    let late = connect(&broker, "late");
    late.subscribe("t", QoS::AtMostOnce).unwrap();
    assert_empty(&late);
    assert_eq!(broker.stats().retained_messages, 0);
}

/// A retained message is sent at min(its QoS, the granted QoS).
#[test]
fn retained_qos_is_downgraded_to_granted() {
    let broker = broker();
    connect(&broker, "pub")
        .publish("t", "v", QoS::ExactlyOnce, true)
        .unwrap();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    assert_eq!(recv(&sub).qos(), QoS::AtLeastOnce);
}

/// `#` receives every retained message except `$` topics [MQTT-4.7.2-1].
#[test]
fn hash_subscription_gets_all_retained_but_dollar_topics() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    publisher.publish("a", "1", QoS::AtMostOnce, true).unwrap();
    publisher
        .publish("a/b/c", "2", QoS::AtMostOnce, true)
        .unwrap();
    publisher
        .publish("$internal/x", "3", QoS::AtMostOnce, true)
        .unwrap();
    let sub = connect(&broker, "sub");
    sub.subscribe("#", QoS::AtMostOnce).unwrap();
    let mut got = drain(&sub);
    got.sort();
    assert_eq!(
        got,
        [("a".into(), "1".into()), ("a/b/c".into(), "2".into())]
    );
}

/// Retain handling 1 sends retained messages only for a new subscription; 2 never
/// (MQTT 5.0 §3.8.3.1).
#[test]
fn retain_handling_options() {
    let broker = broker();
    connect(&broker, "pub")
        .publish("t", "v", QoS::AtMostOnce, true)
        .unwrap();
    let sub = connect(&broker, "sub");
    let if_new =
        SubOptions::new(QoS::AtMostOnce).retain_handling(RetainHandling::SendAtSubscribeIfNew);
    sub.subscribe("t", if_new).unwrap();
    assert_eq!(drain(&sub).len(), 1);
    sub.subscribe("t", if_new).unwrap();
    assert_empty(&sub);
    let never = SubOptions::new(QoS::AtMostOnce).retain_handling(RetainHandling::DoNotSend);
    let other = connect(&broker, "other");
    other.subscribe("t", never).unwrap();
    assert_empty(&other);
    // Retain handling 0 sends again on a repeated subscribe.
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    assert_eq!(drain(&sub).len(), 1);
}

/// Retain-as-published keeps the RETAIN flag on live deliveries (MQTT 5.0 §3.8.3.1).
#[test]
fn retain_as_published_keeps_flag() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe(
        "t",
        SubOptions::new(QoS::AtMostOnce).retain_as_published(true),
    )
    .unwrap();
    let publisher = connect(&broker, "pub");
    publisher.publish("t", "r", QoS::AtMostOnce, true).unwrap();
    publisher.publish("t", "n", QoS::AtMostOnce, false).unwrap();
    assert!(recv(&sub).retain());
    assert!(!recv(&sub).retain());
}

/// A shared subscription receives no retained messages at subscribe (MQTT 5.0 §4.8.2).
#[test]
fn shared_subscription_gets_no_retained() {
    let broker = broker();
    connect(&broker, "pub")
        .publish("t", "v", QoS::AtMostOnce, true)
        .unwrap();
    let sub = connect(&broker, "sub");
    sub.subscribe("$share/g/t", QoS::AtMostOnce).unwrap();
    assert_empty(&sub);
}

/// A full retained store refuses a new topic with a clear error and publishes nothing;
/// replacing an existing topic still works.
#[test]
fn full_retained_store_refuses_new_topics() {
    let mut config = Config::default();
    config.max_retained_messages = 2;
    let (broker, _) = broker_with(config);
    let sub = connect(&broker, "sub");
    sub.subscribe("#", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, "pub");
    publisher.publish("a", "1", QoS::AtMostOnce, true).unwrap();
    publisher.publish("b", "1", QoS::AtMostOnce, true).unwrap();
    let err = publisher
        .publish("c", "1", QoS::AtMostOnce, true)
        .unwrap_err();
    assert!(
        matches!(err, PublishError::RetainedStoreFull { count: 2, .. }),
        "{err}"
    );
    publisher.publish("a", "2", QoS::AtMostOnce, true).unwrap();
    assert_eq!(drain(&sub).len(), 3);
}
