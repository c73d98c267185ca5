//! Last will: published exactly once on an unclean end, never after a clean disconnect.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{assert_empty, broker, broker_with, connect, drain, recv};
use mqlite::{Config, ConnectOptions, NEVER_EXPIRE, QoS, RecvError, SessionError, Will};

fn with_will(id: &str) -> ConnectOptions {
    ConnectOptions::new(id).will(
        Will::new(&format!("status/{id}"), "offline")
            .unwrap()
            .qos(QoS::AtLeastOnce),
    )
}

/// Dropping the handle without disconnect publishes the will [MQTT-3.1.2-8].
#[test]
fn will_published_when_handle_dropped() {
    let broker = broker();
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtLeastOnce).unwrap();
    drop(broker.connect(with_will("dev")).unwrap());
    let m = recv(&watcher);
    assert_eq!(
        (m.topic(), m.payload().as_ref(), m.qos()),
        ("status/dev", &b"offline"[..], QoS::AtLeastOnce)
    );
    m.ack();
    assert_empty(&watcher);
}

/// A clean disconnect discards the will [MQTT-3.1.2-10].
#[test]
fn no_will_after_clean_disconnect() {
    let broker = broker();
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtLeastOnce).unwrap();
    broker.connect(with_will("dev")).unwrap().disconnect();
    assert_empty(&watcher);
}

/// A thread that panics while owning the handle still gets its will published.
#[test]
fn will_published_when_owner_thread_panics() {
    let broker = broker();
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtLeastOnce).unwrap();
    let device = broker.connect(with_will("dev")).unwrap();
    let joined = std::thread::spawn(move || {
        let _owned = device;
        panic!("device thread fails");
    })
    .join();
    assert!(joined.is_err());
    assert_eq!(recv(&watcher).topic(), "status/dev");
}

/// A takeover ends the old connection: its will is published once, and the old handle's next
/// call fails with `TakenOver` [MQTT-3.1.4-2]; dropping it later publishes nothing more.
#[test]
fn takeover_publishes_will_once_and_fails_old_handle() {
    let broker = broker();
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtLeastOnce).unwrap();
    let old = broker.connect(with_will("dev")).unwrap();
    let new = broker.connect(ConnectOptions::new("dev")).unwrap();
    assert_eq!(recv(&watcher).topic(), "status/dev");
    let err = old.publish("x", "y", QoS::AtMostOnce, false).unwrap_err();
    assert_eq!(err, SessionError::TakenOver.into());
    assert_eq!(
        old.recv_timeout(Duration::from_millis(10)).unwrap_err(),
        RecvError::Session(SessionError::TakenOver)
    );
    drop(old);
    assert_empty(&watcher);
    new.publish("x", "y", QoS::AtMostOnce, false).unwrap();
}

/// Shutting the broker down publishes the wills of connected clients.
#[test]
fn shutdown_publishes_wills() {
    let broker = broker();
    let watcher = broker.connect(ConnectOptions::new("watcher")).unwrap();
    watcher.subscribe("status/+", QoS::AtLeastOnce).unwrap();
    let _dev = broker.connect(with_will("dev")).unwrap();
    broker.shutdown();
    // The queue drains first, then the handle reports the shutdown.
    let topics: Vec<_> = std::iter::from_fn(|| watcher.recv_timeout(Duration::from_secs(1)).ok())
        .map(|m| m.topic().to_owned())
        .collect();
    assert_eq!(topics, ["status/dev"]);
    assert_eq!(
        watcher.recv_timeout(Duration::from_millis(10)).unwrap_err(),
        RecvError::Session(SessionError::BrokerClosed)
    );
}

/// A retained will is stored: a later subscriber sees it.
#[test]
fn retained_will_is_stored() {
    let broker = broker();
    let opts =
        ConnectOptions::new("dev").will(Will::new("status/dev", "offline").unwrap().retain(true));
    drop(broker.connect(opts).unwrap());
    let late = connect(&broker, "late");
    late.subscribe("status/#", QoS::AtMostOnce).unwrap();
    assert_eq!(
        drain(&late),
        [("status/dev".to_owned(), "offline".to_owned())]
    );
}

/// A will with an invalid topic is refused when it is made, not lost at publish time: a
/// will topic is a topic name, without wildcards [MQTT-3.3.2-2], [MQTT-3.1.3-11].
#[test]
fn invalid_will_topic_refused() {
    for topic in ["status/+", "status/#", "", "a\u{0}b"] {
        assert!(Will::new(topic, "x").is_err(), "{topic:?}");
    }
    let valid = Will::new("status/dev", "x").unwrap();
    assert_eq!(valid.topic(), "status/dev");
}

/// The will waits for its delay, read from the broker clock (MQTT 5.0 §3.1.3.2.2).
#[test]
fn will_delay_waits_for_the_clock() {
    let (broker, clock) = broker_with(Config::default());
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtMostOnce).unwrap();
    let opts = ConnectOptions::new("dev")
        .session_expiry(NEVER_EXPIRE)
        .will(
            Will::new("status/dev", "offline")
                .unwrap()
                .delay(Duration::from_secs(30)),
        );
    drop(broker.connect(opts).unwrap());
    broker.tick();
    assert_empty(&watcher);
    clock.advance(Duration::from_secs(29));
    broker.tick();
    assert_empty(&watcher);
    clock.advance(Duration::from_secs(1));
    broker.tick();
    assert_eq!(recv(&watcher).topic(), "status/dev");
}

/// Reconnecting before the will delay passes cancels the will [MQTT-3.1.3-9].
#[test]
fn will_delay_cancelled_by_reconnect() {
    let (broker, clock) = broker_with(Config::default());
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtMostOnce).unwrap();
    let opts = ConnectOptions::new("dev")
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE)
        .will(
            Will::new("status/dev", "offline")
                .unwrap()
                .delay(Duration::from_secs(30)),
        );
    drop(broker.connect(opts.clone()).unwrap());
    clock.advance(Duration::from_secs(10));
    let _back = broker
        .connect(ConnectOptions::new("dev").clean_start(false))
        .unwrap();
    clock.advance(Duration::from_secs(60));
    broker.tick();
    assert_empty(&watcher);
}

/// The will goes out when the session ends, if that is before the will delay
/// (MQTT 5.0 §3.1.3.2.2): a session that ends at disconnect publishes at once.
#[test]
fn will_delay_capped_by_session_end() {
    let broker = broker();
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtMostOnce).unwrap();
    let opts = ConnectOptions::new("dev").will(
        Will::new("status/dev", "offline")
            .unwrap()
            .delay(Duration::from_secs(30)),
    );
    drop(broker.connect(opts).unwrap());
    assert_eq!(recv(&watcher).topic(), "status/dev");
}

/// A delayed will goes out when its session expires, if that comes first
/// (MQTT 5.0 §3.1.3.2.2, [MQTT-3.1.2-23]).
#[test]
fn will_delay_ends_with_session_expiry() {
    let (broker, clock) = broker_with(Config::default());
    let watcher = connect(&broker, "watcher");
    watcher.subscribe("status/+", QoS::AtMostOnce).unwrap();
    let opts = ConnectOptions::new("dev")
        .session_expiry(Duration::from_secs(10))
        .will(
            Will::new("status/dev", "offline")
                .unwrap()
                .delay(Duration::from_secs(60)),
        );
    drop(broker.connect(opts).unwrap());
    clock.advance(Duration::from_secs(9));
    broker.tick();
    assert_empty(&watcher);
    clock.advance(Duration::from_secs(1));
    broker.tick();
    assert_eq!(recv(&watcher).topic(), "status/dev");
    assert_eq!(
        broker.stats().sessions,
        1,
        "only the watcher's session is left"
    );
}

/// A will still waiting for its delay when the broker shuts down is published then: the
/// broker ends every session, and no timer runs after it (found in review: such a will was
/// put back to wait, and never published).
#[test]
fn shutdown_publishes_delayed_wills_now() {
    let (broker, _clock) = broker_with(Config::default());
    let watcher = broker
        .connect(ConnectOptions::new("watcher").session_expiry(NEVER_EXPIRE))
        .unwrap();
    watcher.subscribe("status/+", QoS::AtLeastOnce).unwrap();
    let opts = ConnectOptions::new("dev")
        .session_expiry(NEVER_EXPIRE)
        .will(
            Will::new("status/dev", "offline")
                .unwrap()
                .qos(QoS::AtLeastOnce)
                .delay(Duration::from_secs(30)),
        );
    drop(broker.connect(opts).unwrap());
    broker.tick();
    assert_empty(&watcher);
    broker.shutdown();
    let will = watcher
        .try_recv()
        .expect("the delayed will went out at shutdown");
    assert_eq!(will.topic(), "status/dev");
}
