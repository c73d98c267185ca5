//! Limits: every bound gives a clear error or a counted drop, never a panic or a blocked
//! publisher.
#![allow(clippy::unwrap_used, clippy::disallowed_types)] // tests use plain std types

mod common;

use std::sync::{Arc, Mutex};

use common::{broker_with, connect, drain, recv};
use mqlite::{
    Broker, Config, ConnectError, ConnectOptions, DisconnectReason, DropReason, Event, Hooks,
    LimitError, OverflowPolicy, PublishError, PublishOptions, QoS, RecvError, SessionError,
    SubscribeError, Will,
};

fn config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

#[test]
fn payload_over_limit_is_refused() {
    let (broker, _) = broker_with(config(|c| c.max_payload_size = 4));
    let c = connect(&broker, "c");
    c.publish("t", "1234", QoS::AtMostOnce, false).unwrap();
    let err = c.publish("t", "12345", QoS::AtMostOnce, false).unwrap_err();
    assert_eq!(
        err,
        PublishError::Limit(LimitError::PayloadTooLarge { size: 5, max: 4 })
    );
    assert_eq!(
        err.to_string(),
        "payload of 5 bytes exceeds max_payload_size (4)"
    );
}

#[test]
fn topic_length_and_levels_are_bounded() {
    let (broker, _) = broker_with(config(|c| {
        c.max_topic_length = 8;
        c.max_topic_levels = 3;
    }));
    let c = connect(&broker, "c");
    assert!(matches!(
        c.publish("123456789", "", QoS::AtMostOnce, false),
        Err(PublishError::Limit(LimitError::TopicTooLong {
            len: 9,
            max: 8
        }))
    ));
    assert!(matches!(
        c.publish("a/b/c/d", "", QoS::AtMostOnce, false),
        Err(PublishError::Limit(LimitError::TooManyLevels {
            levels: 4,
            max: 3
        }))
    ));
    assert!(matches!(
        c.subscribe("a/b/c/#", QoS::AtMostOnce),
        Err(SubscribeError::Limit(LimitError::TooManyLevels { .. }))
    ));
}

#[test]
fn subscriptions_per_client_are_bounded() {
    let (broker, _) = broker_with(config(|c| c.max_subscriptions_per_client = 2));
    let c = connect(&broker, "c");
    c.subscribe("a", QoS::AtMostOnce).unwrap();
    c.subscribe("b", QoS::AtMostOnce).unwrap();
    c.subscribe("a", QoS::AtLeastOnce).unwrap(); // a replacement, not a new one
    assert_eq!(
        c.subscribe("c", QoS::AtMostOnce).unwrap_err(),
        SubscribeError::TooManySubscriptions { max: 2 }
    );
}

#[test]
fn connections_are_bounded() {
    let (broker, _) = broker_with(config(|c| c.max_clients = 1));
    let _a = connect(&broker, "a");
    assert_eq!(
        broker.connect(ConnectOptions::new("b")).unwrap_err(),
        ConnectError::TooManyClients { max: 1 }
    );
    // A takeover of a connected id does not count twice.
    let _a2 = connect(&broker, "a");
}

#[test]
fn client_id_is_validated() {
    let (broker, _) = broker_with(config(|c| c.max_client_id_length = 4));
    assert!(matches!(
        broker.connect(ConnectOptions::new("12345")),
        Err(ConnectError::InvalidClientId { .. })
    ));
    assert!(matches!(
        broker.connect(ConnectOptions::new("a\0")),
        Err(ConnectError::InvalidClientId { .. })
    ));
}

#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);
impl Hooks for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::MessageDropped {
                client_id,
                topic,
                reason,
            } => format!("drop {client_id} {topic} {reason:?}"),
            Event::ClientDisconnected { client_id, reason } => {
                format!("gone {client_id} {reason:?}")
            }
            Event::ClientConnected { client_id, .. } => format!("hello {client_id}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

/// A full queue drops the newest delivery by default; the publisher is never blocked, the
/// drop is counted and reported to the event hook.
#[test]
fn full_queue_drops_newest_and_reports() {
    let recorder = Recorder::default();
    let broker = Broker::builder()
        .config(config(|c| c.max_queued_messages = 2))
        .hooks(recorder.clone())
        .build();
    let slow = connect(&broker, "slow");
    slow.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..5 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let got: Vec<_> = drain(&slow).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, ["0", "1"]);
    assert_eq!(broker.stats().dropped_queue_full, 3);
    let drops = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("drop slow t QueueFull"))
        .count();
    assert_eq!(drops, 3);
}

/// Drop-oldest keeps the newest deliveries.
#[test]
fn full_queue_drops_oldest_when_asked() {
    let (broker, _) = broker_with(config(|c| c.max_queued_messages = 2));
    let slow = broker
        .connect(ConnectOptions::new("slow").overflow_policy(OverflowPolicy::DropOldest))
        .unwrap();
    slow.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..5 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let got: Vec<_> = drain(&slow).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, ["3", "4"]);
}

/// The byte bound holds as well as the count bound.
#[test]
fn queue_byte_bound_holds() {
    let (broker, _) = broker_with(config(|c| c.max_queued_bytes = 100));
    let slow = connect(&broker, "slow");
    slow.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for _ in 0..10 {
        publisher
            .publish("t", vec![0u8; 39], QoS::AtLeastOnce, false)
            .unwrap();
    }
    // Each queued delivery weighs 40 bytes (payload + topic): two fit in 100.
    assert_eq!(drain(&slow).len(), 2);
}

/// The disconnect policy ends the slow client's connection: its will goes out and its
/// handle reports `SlowConsumer` after draining.
#[test]
fn disconnect_policy_ends_slow_consumer() {
    let (broker, _) = broker_with(config(|c| c.max_queued_messages = 1));
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status", QoS::AtMostOnce).unwrap();
    let slow = broker
        .connect(
            ConnectOptions::new("slow")
                .overflow_policy(OverflowPolicy::Disconnect)
                .will(Will::new("status", "slow gone").unwrap()),
        )
        .unwrap();
    slow.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    publisher
        .publish("t", "0", QoS::AtLeastOnce, false)
        .unwrap();
    publisher
        .publish("t", "1", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(recv(&watcher).payload().as_ref(), b"slow gone");
    assert_eq!(recv(&slow).payload().as_ref(), b"0");
    assert_eq!(
        slow.recv_timeout(std::time::Duration::from_millis(10))
            .unwrap_err(),
        RecvError::Session(SessionError::SlowConsumer)
    );
    assert_eq!(broker.stats().clients_connected, 2);
}

/// A publisher that asks for it learns that a subscriber's queue was full; subscribers
/// with room still receive the message.
#[test]
fn fail_if_full_reports_queue_full() {
    let (broker, _) = broker_with(config(|c| c.max_queued_messages = 1));
    let slow = connect(&broker, "slow");
    slow.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let strict = PublishOptions::new(QoS::AtLeastOnce).fail_if_full(true);
    publisher.publish_with("t", "0", &strict).unwrap();
    let fast = connect(&broker, "fast");
    fast.subscribe("t", QoS::AtLeastOnce).unwrap();
    let err = publisher.publish_with("t", "1", &strict).unwrap_err();
    assert_eq!(
        err,
        PublishError::QueueFull {
            client_id: "slow".into()
        }
    );
    assert_eq!(recv(&fast).payload().as_ref(), b"1");
}

/// Drop reasons are reported with the session.
#[test]
fn offline_drop_is_reported() {
    let recorder = Recorder::default();
    let broker = Broker::builder().hooks(recorder.clone()).build();
    let sub = broker
        .connect(
            ConnectOptions::new("sub")
                .clean_start(false)
                .session_expiry(mqlite::NEVER_EXPIRE),
        )
        .unwrap();
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    sub.disconnect();
    connect(&broker, "pub")
        .publish("t", "x", QoS::AtMostOnce, false)
        .unwrap();
    let log = recorder.0.lock().unwrap().clone();
    assert!(
        log.contains(&format!("drop sub t {:?}", DropReason::Offline)),
        "{log:?}"
    );
    assert!(
        log.contains(&format!("gone sub {:?}", DisconnectReason::Normal)),
        "{log:?}"
    );
}

/// A frozen consumer never stalls the others: its queue fills and drops (counted for it
/// alone) while another subscriber gets every message.
#[test]
fn frozen_consumer_does_not_stall_others() {
    let (broker, _) = broker_with(config(|c| c.max_queued_messages = 5));
    let frozen = connect(&broker, "frozen");
    frozen.subscribe("t", QoS::AtLeastOnce).unwrap();
    let live = connect(&broker, "live");
    live.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for i in 0..100 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
        let m = recv(&live);
        assert_eq!(m.payload().as_ref(), format!("{i}").as_bytes());
        m.ack();
    }
    let stats = frozen.stats();
    assert_eq!((stats.queued, stats.dropped_queue_full), (5, 95));
    assert_eq!(live.stats().dropped_queue_full, 0);
    assert_eq!(broker.session_stats("frozen"), Some(stats));
    assert_eq!(broker.stats().dropped_queue_full, 95);
}
