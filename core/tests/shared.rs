//! Shared subscriptions (MQTT 5.0 §4.8.2): member selection strategies and what happens to
//! messages of a member whose session ends.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_empty, broker_with, connect, drain, recv};
use mqlite::{Config, QoS, SharedStrategy};

fn with_strategy(strategy: SharedStrategy) -> mqlite::Broker {
    let mut config = Config::default();
    config.shared_subscription_strategy = strategy;
    broker_with(config).0
}

/// Sticky: the longest-standing member gets every message while it can take them.
#[test]
fn sticky_strategy_keeps_one_member() {
    let broker = with_strategy(SharedStrategy::Sticky);
    let first = connect(&broker, "first");
    let second = connect(&broker, "second");
    first.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    second.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for _ in 0..10 {
        publisher
            .publish("t", "x", QoS::AtLeastOnce, false)
            .unwrap();
    }
    assert_eq!(drain(&first).len(), 10);
    assert_empty(&second);
}

/// Random: every member gets a share, and each message goes to exactly one.
#[test]
fn random_strategy_spreads_messages() {
    let broker = with_strategy(SharedStrategy::Random);
    let members: Vec<_> = (0..3).map(|i| connect(&broker, &format!("m{i}"))).collect();
    for m in &members {
        m.subscribe("$share/g/t", QoS::AtMostOnce).unwrap();
    }
    let publisher = connect(&broker, "pub");
    for _ in 0..300 {
        publisher.publish("t", "x", QoS::AtMostOnce, false).unwrap();
    }
    let counts: Vec<_> = members.iter().map(|m| drain(m).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 300);
    assert!(counts.iter().all(|&n| n > 30), "{counts:?}");
}

/// When a member's session ends, the QoS 1 messages it held (queued, or in flight without
/// an acknowledgement) go to another member (MQTT 5.0 §4.8.2: it SHOULD send them on).
#[test]
fn ended_member_messages_go_to_another_member() {
    let broker = with_strategy(SharedStrategy::Sticky);
    let leaving = connect(&broker, "leaving");
    leaving.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    let staying = connect(&broker, "staying");
    staying.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..3 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let in_flight = recv(&leaving);
    assert_eq!(in_flight.payload().as_ref(), b"0");
    drop(in_flight); // never acknowledged
    drop(leaving); // the session ends (expiry 0)
    let got: Vec<_> = drain(&staying).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, ["0", "1", "2"], "in publish order");
}

/// A QoS 2 message already handed to a member whose session then ends is not sent to
/// another member [MQTT-4.8.2-5].
#[test]
fn ended_member_qos2_in_flight_not_sent_elsewhere() {
    let broker = with_strategy(SharedStrategy::Sticky);
    let leaving = connect(&broker, "leaving");
    leaving.subscribe("$share/g/t", QoS::ExactlyOnce).unwrap();
    let staying = connect(&broker, "staying");
    staying.subscribe("$share/g/t", QoS::ExactlyOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "x", QoS::ExactlyOnce, false)
        .unwrap();
    let m = recv(&leaving);
    drop(m);
    drop(leaving);
    assert_empty(&staying);
}

/// A member whose queue is full is skipped; the group's message goes to one with room.
#[test]
fn full_member_is_skipped() {
    let mut config = Config::default();
    config.max_queued_messages = 2;
    config.shared_subscription_strategy = SharedStrategy::Sticky;
    let (broker, _) = broker_with(config);
    let busy = connect(&broker, "busy");
    busy.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    let idle = connect(&broker, "idle");
    idle.subscribe("$share/g/t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for _ in 0..4 {
        publisher
            .publish("t", "x", QoS::AtLeastOnce, false)
            .unwrap();
    }
    assert_eq!(busy.stats().queued, 2);
    assert_eq!(idle.stats().queued, 2);
    assert_eq!(broker.stats().dropped_queue_full, 0);
    // With every member full, the strategy's pick applies its overflow policy.
    publisher
        .publish("t", "x", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(broker.stats().dropped_queue_full, 1);
    assert_eq!(drain(&idle).len(), 2);
}
