//! Reliable delivery: the QoS 1/2 acknowledgement flows (in-process and as a network frontend
//! drives them), incoming QoS 2 deduplication, message expiry, MQTT 5 properties, and
//! publishers that wait for room.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{assert_empty, broker, broker_with, connect, persistent, recv};
use mqlite::wire::{Accepted, Notify, Outbound, WireClient};
use mqlite::{
    Config, PublishError, PublishOptions, PublishProperties, QoS, TopicName, TryRecvError,
};

/// A transport's notify; these tests poll, so it only has to exist.
#[derive(Debug)]
struct NoWake;
impl Notify for NoWake {
    fn notify(&self) {}
}

fn wire(broker: &mqlite::Broker, id: &str) -> WireClient {
    broker
        .connect_wire(persistent(id), Arc::new(NoWake))
        .unwrap()
}

fn next(client: &WireClient) -> Outbound {
    client.poll_outbound().unwrap()
}

fn publish_of(out: Outbound) -> mqlite::Message {
    match out {
        Outbound::Publish(m) => m,
        other => panic!("expected a PUBLISH, got {other:?}"),
    }
}

/// An in-process client has a QoS 2 message once it is handed out: it is never handed out
/// again, even when the session resumes unacknowledged (MQTT-4.3.3-2 from the receiver's
/// side: no duplicate reaches the application).
#[test]
fn qos2_handed_out_once_across_resume() {
    let broker = broker();
    let sub = broker.connect(persistent("sub")).unwrap();
    sub.subscribe("t", QoS::ExactlyOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "once", QoS::ExactlyOnce, false)
        .unwrap();
    let m = recv(&sub);
    assert_eq!(m.qos(), QoS::ExactlyOnce);
    drop(m);
    drop(sub);
    let sub = broker.connect(persistent("sub")).unwrap();
    assert_empty(&sub);
}

/// QoS 1 over the wire: PUBACK completes the delivery; until then a resume resends the
/// PUBLISH with DUP [MQTT-4.3.2-1], [MQTT-4.4.0-1], [MQTT-3.3.1-1].
#[test]
fn wire_qos1_puback_flow() {
    let broker = broker();
    let sub = wire(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "x", QoS::AtLeastOnce, false)
        .unwrap();
    let first = publish_of(next(&sub));
    let id = first.packet_id().unwrap();
    drop(sub);
    let sub = wire(&broker, "sub");
    let again = publish_of(next(&sub));
    assert_eq!((again.packet_id(), again.dup()), (Some(id), true));
    assert!(sub.puback(id).unwrap());
    assert!(!sub.puback(id).unwrap(), "a second PUBACK finds nothing");
    drop(sub);
    let sub = wire(&broker, "sub");
    assert!(matches!(sub.poll_outbound(), Err(TryRecvError::Empty)));
}

/// QoS 2 over the wire: before PUBREC a resume resends the PUBLISH; after PUBREC only the
/// PUBREL is resent, never the PUBLISH; PUBCOMP completes it [MQTT-4.3.3-1], [MQTT-4.4.0-1].
#[test]
fn wire_qos2_pubrec_pubrel_pubcomp_flow() {
    let broker = broker();
    let sub = wire(&broker, "sub");
    sub.subscribe("t", QoS::ExactlyOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "x", QoS::ExactlyOnce, false)
        .unwrap();
    let id = publish_of(next(&sub)).packet_id().unwrap();
    drop(sub);
    let sub = wire(&broker, "sub");
    let again = publish_of(next(&sub));
    assert!(again.dup());
    assert!(sub.pubrec(id).unwrap());
    drop(sub);
    let sub = wire(&broker, "sub");
    assert!(matches!(next(&sub), Outbound::Release { packet_id } if packet_id == id));
    assert!(matches!(sub.poll_outbound(), Err(TryRecvError::Empty)));
    assert!(sub.pubcomp(id).unwrap());
    drop(sub);
    let sub = wire(&broker, "sub");
    assert!(matches!(sub.poll_outbound(), Err(TryRecvError::Empty)));
}

/// Incoming QoS 2: a resent PUBLISH with a held packet id is not delivered again; after
/// PUBREL the id starts a new message [MQTT-4.3.3-2]. The held ids survive a resume.
#[test]
fn inbound_qos2_resend_delivered_once() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::ExactlyOnce).unwrap();
    let publisher = wire(&broker, "device");
    let topic = TopicName::new("t").unwrap();
    let opts = PublishOptions::new(QoS::ExactlyOnce);
    let send = |c: &WireClient, payload: &'static str| {
        c.publish_packet(
            7,
            topic.clone(),
            Bytes::from_static(payload.as_bytes()),
            &opts,
        )
        .unwrap()
    };
    assert_eq!(send(&publisher, "a"), Accepted::Routed);
    assert_eq!(send(&publisher, "a"), Accepted::Duplicate);
    drop(publisher);
    let publisher = wire(&broker, "device");
    assert_eq!(
        send(&publisher, "a"),
        Accepted::Duplicate,
        "held across a resume"
    );
    assert!(publisher.pubrel(7).unwrap());
    assert!(!publisher.pubrel(7).unwrap());
    assert_eq!(send(&publisher, "b"), Accepted::Routed);
    let got: Vec<_> = sub.try_iter().map(|m| m.payload().clone()).collect();
    assert_eq!(got, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
}

/// A sender with more unreleased QoS 2 messages than the receive maximum is refused
/// (MQTT 5.0 [MQTT-3.3.4-9], reason code 0x93).
#[test]
fn inbound_qos2_bounded_by_receive_maximum() {
    let mut config = Config::default();
    config.max_inflight_messages = 2;
    let (broker, _) = broker_with(config);
    let publisher = wire(&broker, "device");
    let topic = TopicName::new("t").unwrap();
    let opts = PublishOptions::new(QoS::ExactlyOnce);
    for id in 1..=2 {
        publisher
            .publish_packet(id, topic.clone(), Bytes::new(), &opts)
            .unwrap();
    }
    let err = publisher
        .publish_packet(3, topic.clone(), Bytes::new(), &opts)
        .unwrap_err();
    assert_eq!(err, PublishError::ReceiveMaximumExceeded { max: 2 });
    publisher.pubrel(1).unwrap();
    publisher
        .publish_packet(3, topic, Bytes::new(), &opts)
        .unwrap();
}

fn expiring(secs: u64) -> PublishOptions {
    let mut props = PublishProperties::default();
    props.message_expiry_interval = Some(Duration::from_secs(secs));
    PublishOptions::new(QoS::AtLeastOnce).properties(props)
}

/// A queued message past its expiry interval is never delivered [MQTT-3.3.2-5]; one still
/// alive carries the time it has left [MQTT-3.3.2-6].
#[test]
fn message_expiry_applies_in_queues() {
    let (broker, clock) = broker_with(Config::default());
    let sub = broker.connect(persistent("sub")).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    sub.disconnect();
    let publisher = connect(&broker, "pub");
    publisher.publish_with("t", "short", &expiring(5)).unwrap();
    publisher.publish_with("t", "long", &expiring(10)).unwrap();
    clock.advance(Duration::from_secs(6));
    let sub = broker.connect(persistent("sub")).unwrap();
    let m = recv(&sub);
    assert_eq!(m.payload().as_ref(), b"long");
    assert_eq!(m.message_expiry_interval(), Some(Duration::from_secs(4)));
    assert_empty(&sub);
    assert_eq!(broker.stats().dropped_expired, 1);
}

/// A retained message past its expiry is not sent at subscribe (MQTT 5.0 §3.3.2.3.3).
#[test]
fn expired_retained_message_not_sent() {
    let (broker, clock) = broker_with(Config::default());
    connect(&broker, "pub")
        .publish_with("t", "r", &expiring(5).retain(true))
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    assert_empty(&sub);
}

/// User properties (in order, repeats kept), content type, payload format indicator,
/// response topic and correlation data reach subscribers untouched [MQTT-3.3.2-17],
/// [MQTT-3.3.2-18], [MQTT-3.3.2-20], [MQTT-3.3.2-4].
#[test]
fn publish_properties_pass_through() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("req", QoS::AtMostOnce).unwrap();
    let mut props = PublishProperties::default();
    props.payload_format_indicator = Some(true);
    props.content_type = Some("application/json".into());
    props.response_topic = Some("resp/1".into());
    props.correlation_data = Some(Bytes::from_static(b"\x00\x01"));
    props.user_properties = vec![
        ("k".into(), "1".into()),
        ("k".into(), "2".into()),
        ("a".into(), "b".into()),
    ];
    connect(&broker, "pub")
        .publish_with(
            "req",
            "{}",
            &PublishOptions::new(QoS::AtMostOnce).properties(props.clone()),
        )
        .unwrap();
    assert_eq!(recv(&sub).properties(), Some(&props));
}

/// A publisher that asks to wait for room gets every message through a slow consumer's
/// small queue, in order, with nothing dropped.
#[test]
fn wait_if_full_delivers_through_a_slow_consumer() {
    let mut config = Config::default();
    config.max_queued_messages = 1;
    let (broker, _) = broker_with(config);
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let consumer = std::thread::spawn(move || {
        (0..20)
            .map(|_| {
                let m = sub.recv_timeout(Duration::from_secs(10)).unwrap();
                m.ack();
                String::from_utf8_lossy(m.payload()).into_owned()
            })
            .collect::<Vec<_>>()
    });
    let publisher = connect(&broker, "pub");
    let opts = PublishOptions::new(QoS::AtLeastOnce).wait_if_full(Some(Duration::from_secs(10)));
    for i in 0..20 {
        publisher.publish_with("t", i.to_string(), &opts).unwrap();
    }
    let expected: Vec<_> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(consumer.join().unwrap(), expected);
    assert_eq!(broker.stats().dropped_queue_full, 0);
}

/// Past the wait, the subscriber's overflow policy applies and the publisher can learn of it.
#[test]
fn wait_if_full_times_out_to_the_policy() {
    let mut config = Config::default();
    config.max_queued_messages = 1;
    let (broker, _) = broker_with(config);
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let opts = PublishOptions::new(QoS::AtLeastOnce)
        .wait_if_full(Some(Duration::from_millis(20)))
        .fail_if_full(true);
    publisher.publish_with("t", "0", &opts).unwrap();
    let err = publisher.publish_with("t", "1", &opts).unwrap_err();
    assert_eq!(
        err,
        PublishError::QueueFull {
            client_id: "sub".into()
        }
    );
    assert_eq!(broker.stats().dropped_queue_full, 1);
    assert_eq!(recv(&sub).payload().as_ref(), b"0");
}

/// An interrupt check ends a long wait for room early (how bindings let Ctrl-C through);
/// the policy then applies as at the deadline.
#[test]
fn interrupt_ends_a_wait_for_room() {
    let mut config = Config::default();
    config.max_queued_messages = 1;
    let (broker, _) = broker_with(config);
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let opts = PublishOptions::new(QoS::AtLeastOnce)
        .wait_if_full(Some(Duration::from_secs(60)))
        .fail_if_full(true)
        .interrupt(move || counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1);
    publisher.publish_with("t", "0", &opts).unwrap();
    let started = std::time::Instant::now();
    let err = publisher.publish_with("t", "1", &opts).unwrap_err();
    assert!(matches!(err, PublishError::QueueFull { .. }));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the wait was not cut short"
    );
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(broker.stats().dropped_queue_full, 1);
}
