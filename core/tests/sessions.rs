//! Sessions: lifecycle, takeover, persistence basics, shutdown and several brokers.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{assert_empty, broker, broker_with, connect, drain, persistent, recv};
use mqlite::{Broker, Config, ConnectError, ConnectOptions, Hooks, QoS, RecvError, SessionError};

/// Resuming a persistent session restores its subscriptions, reports session present
/// [MQTT-3.2.2-2] and delivers what was queued while offline, in order.
#[test]
fn persistent_session_resumes_with_queued_messages() {
    let broker = broker();
    let sub = broker.connect(persistent("sub")).unwrap();
    assert!(!sub.session_present());
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    sub.disconnect();
    let publisher = connect(&broker, "pub");
    for i in 0..3 {
        publisher
            .publish("t", format!("{i}"), QoS::AtLeastOnce, false)
            .unwrap();
    }
    let sub = broker.connect(persistent("sub")).unwrap();
    assert!(sub.session_present());
    let got: Vec<_> = drain(&sub).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, ["0", "1", "2"]);
}

/// Unacknowledged QoS 1 messages are sent again with DUP set, before the queue, when the
/// session resumes [MQTT-4.4.0-1], [MQTT-3.3.1-1].
#[test]
fn unacked_messages_redelivered_with_dup_first() {
    let broker = broker();
    let sub = broker.connect(persistent("sub")).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    publisher
        .publish("t", "a", QoS::AtLeastOnce, false)
        .unwrap();
    let a = recv(&sub);
    assert!(!a.dup());
    drop(a); // never acknowledged
    drop(sub);
    publisher
        .publish("t", "b", QoS::AtLeastOnce, false)
        .unwrap();
    let sub = broker.connect(persistent("sub")).unwrap();
    let again = recv(&sub);
    assert_eq!((again.payload().as_ref(), again.dup()), (&b"a"[..], true));
    again.ack();
    let b = recv(&sub);
    assert_eq!((b.payload().as_ref(), b.dup()), (&b"b"[..], false));
}

/// Clean start discards the old session: no subscriptions, no queue, no session present
/// [MQTT-3.1.2-4].
#[test]
fn clean_start_discards_session() {
    let broker = broker();
    let sub = broker.connect(persistent("sub")).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    sub.disconnect();
    connect(&broker, "pub")
        .publish("t", "x", QoS::AtLeastOnce, false)
        .unwrap();
    let sub = connect(&broker, "sub");
    assert!(!sub.session_present());
    assert_empty(&sub);
    assert_eq!(broker.stats().subscriptions, 0);
}

/// QoS 0 messages for an offline session are dropped and counted by default, and queued
/// with `queue_qos0_messages`.
#[test]
fn offline_qos0_dropped_unless_configured() {
    for queue_qos0 in [false, true] {
        let mut config = Config::default();
        config.queue_qos0_messages = queue_qos0;
        let (broker, _) = broker_with(config);
        let sub = broker.connect(persistent("sub")).unwrap();
        sub.subscribe("t", QoS::AtMostOnce).unwrap();
        sub.disconnect();
        connect(&broker, "pub")
            .publish("t", "x", QoS::AtMostOnce, false)
            .unwrap();
        let sub = broker.connect(persistent("sub")).unwrap();
        assert_eq!(drain(&sub).len(), usize::from(queue_qos0));
        assert_eq!(broker.stats().dropped_offline, u64::from(!queue_qos0));
    }
}

/// An offline session is discarded when its expiry interval passes on the broker clock
/// (MQTT 5.0 [MQTT-3.1.2-23]).
#[test]
fn session_expires_on_the_clock() {
    let (broker, clock) = broker_with(Config::default());
    let sub = broker
        .connect(ConnectOptions::new("sub").session_expiry(Duration::from_secs(60)))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    sub.disconnect();
    clock.advance(Duration::from_secs(59));
    broker.tick();
    assert_eq!(broker.stats().sessions, 1);
    clock.advance(Duration::from_secs(1));
    broker.tick();
    assert_eq!(broker.stats().sessions, 0);
    assert_eq!(broker.stats().subscriptions, 0);
    assert!(!broker.connect(persistent("sub")).unwrap().session_present());
}

/// A 5.0 DISCONNECT may change the session expiry interval (§3.14.2.2.2): shortened to
/// zero, the session ends at disconnect; lengthened, it lives that long from then.
#[test]
fn session_expiry_changed_at_disconnect() {
    let (broker, clock) = broker_with(Config::default());
    let short = broker
        .connect(ConnectOptions::new("short").session_expiry(Duration::from_secs(60)))
        .unwrap();
    short.set_session_expiry(Duration::ZERO).unwrap();
    short.disconnect();
    assert_eq!(broker.stats().sessions, 0);

    let long = broker
        .connect(ConnectOptions::new("long").session_expiry(Duration::from_secs(10)))
        .unwrap();
    long.set_session_expiry(Duration::from_secs(100)).unwrap();
    long.disconnect();
    clock.advance(Duration::from_secs(99));
    broker.tick();
    assert_eq!(broker.stats().sessions, 1);
    clock.advance(Duration::from_secs(1));
    broker.tick();
    assert_eq!(broker.stats().sessions, 0);
}

/// `max_session_expiry` ends sessions that would never expire (MQTT 3.1.1 clean session 0),
/// like Mosquitto's `persistent_client_expiration`, and caps longer MQTT 5 intervals.
#[test]
fn max_session_expiry_caps_never_expiring_sessions() {
    let mut config = Config::default();
    config.max_session_expiry = Some(Duration::from_secs(60));
    let (broker, clock) = broker_with(config);
    broker
        .connect(persistent("old-style"))
        .unwrap()
        .disconnect();
    clock.advance(Duration::from_secs(59));
    broker.tick();
    assert_eq!(broker.stats().sessions, 1);
    clock.advance(Duration::from_secs(1));
    broker.tick();
    assert_eq!(broker.stats().sessions, 0);
}

/// Without a cap, a never-expiring session outlives any time.
#[test]
fn never_expiring_session_stays() {
    let (broker, clock) = broker_with(Config::default());
    broker.connect(persistent("kept")).unwrap().disconnect();
    clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    broker.tick();
    assert!(
        broker
            .connect(persistent("kept"))
            .unwrap()
            .session_present()
    );
}

/// An empty client id gets a unique id assigned.
#[test]
fn empty_client_id_is_assigned() {
    let broker = broker();
    let a = connect(&broker, "");
    let b = connect(&broker, "");
    assert!(!a.client_id().is_empty());
    assert_ne!(a.client_id(), b.client_id());
}

/// Shutdown wakes a receiver blocked in another thread with `BrokerClosed`, and refuses
/// new connections. Whether the waiter is already asleep when the broker shuts down or not
/// yet, it must end with `BrokerClosed` (no sleep orders the two; the test below parks a
/// receiver deterministically).
#[test]
fn shutdown_wakes_blocked_receiver() {
    let broker = Broker::new(Config::default());
    let sub = connect(&broker, "sub");
    let waiter = std::thread::spawn(move || sub.recv_timeout(Duration::from_secs(30)));
    broker.shutdown();
    assert_eq!(
        waiter.join().unwrap().unwrap_err(),
        RecvError::Session(SessionError::BrokerClosed)
    );
    assert!(broker.is_closed());
    assert_eq!(
        broker.connect(ConnectOptions::new("late")).unwrap_err(),
        ConnectError::BrokerClosed
    );
}

/// Brokers in one process are independent.
#[test]
fn brokers_are_independent() {
    let one = broker();
    let two = broker();
    let sub = connect(&one, "same-id");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    let other = connect(&two, "same-id");
    other.publish("t", "x", QoS::AtMostOnce, false).unwrap();
    assert_empty(&sub);
    sub.publish("t", "y", QoS::AtMostOnce, false).unwrap();
    assert_eq!(recv(&sub).payload().as_ref(), b"y");
}

#[derive(Debug)]
struct DropFlag(Arc<AtomicBool>);
impl Hooks for DropFlag {}
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Dropping the last handles frees the broker (no reference cycle keeps it alive), and its
/// timer thread ends.
#[test]
fn dropping_last_handle_frees_broker() {
    let freed = Arc::new(AtomicBool::new(false));
    let broker = Broker::builder().hooks(DropFlag(freed.clone())).build();
    let client = connect(&broker, "c");
    client.subscribe("t", QoS::AtLeastOnce).unwrap();
    client.publish("t", "x", QoS::AtLeastOnce, false).unwrap();
    let msg = recv(&client);
    drop(broker);
    assert!(!freed.load(Ordering::SeqCst));
    drop(client);
    drop(msg);
    // The timer thread holds only a weak reference: it lets go within its next wake-up.
    for _ in 0..200 {
        if freed.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(freed.load(Ordering::SeqCst));
}

/// A handle whose session a clean start discarded gets `TakenOver`, not the session's
/// resends [MQTT-3.1.4-3]. (Found by the model test.)
#[test]
fn handle_of_discarded_session_gets_nothing() {
    let broker = broker();
    let a = broker.connect(persistent("c1")).unwrap();
    a.subscribe("a/+", QoS::AtLeastOnce).unwrap();
    connect(&broker, "pub")
        .publish("a/x", "m", QoS::AtLeastOnce, false)
        .unwrap();
    let _unacked = recv(&a);
    let b = broker.connect(persistent("c1")).unwrap();
    let _c = broker.connect(ConnectOptions::new("c1")).unwrap();
    assert_eq!(
        b.try_recv().unwrap_err(),
        mqlite::TryRecvError::Session(SessionError::TakenOver)
    );
}

/// With auto-ack, a resent message is acknowledged as it is handed out: it is not sent a
/// third time. (Found by the model test.)
#[test]
fn auto_ack_completes_resends() {
    let broker = broker();
    let a = broker.connect(persistent("a")).unwrap();
    a.subscribe("t", QoS::AtLeastOnce).unwrap();
    a.publish("t", "m", QoS::AtLeastOnce, false).unwrap();
    drop(recv(&a));
    drop(a);
    let a = broker.connect(persistent("a").auto_ack(true)).unwrap();
    assert!(recv(&a).dup());
    drop(a);
    let a = broker.connect(persistent("a")).unwrap();
    assert_empty(&a);
}

/// Resends count against the receive maximum of the new connection, and go before anything
/// queued [MQTT-4.4.0-1], [MQTT-4.9.0-2]. (Found by the model test.)
#[test]
fn resends_respect_new_receive_maximum_and_go_first() {
    let broker = broker();
    let a = broker.connect(persistent("a").receive_maximum(2)).unwrap();
    a.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    publisher
        .publish("t", "1", QoS::AtLeastOnce, false)
        .unwrap();
    publisher
        .publish("t", "2", QoS::AtLeastOnce, false)
        .unwrap();
    let (m1, m2) = (recv(&a), recv(&a));
    drop((m1, m2));
    drop(a);
    publisher
        .publish("t", "3", QoS::AtLeastOnce, false)
        .unwrap();
    let a = broker.connect(persistent("a").receive_maximum(1)).unwrap();
    let first = recv(&a);
    assert_eq!((first.payload().as_ref(), first.dup()), (&b"1"[..], true));
    assert_empty(&a);
    first.ack();
    let second = recv(&a);
    assert_eq!((second.payload().as_ref(), second.dup()), (&b"2"[..], true));
    second.ack();
    assert_eq!(recv(&a).payload().as_ref(), b"3");
}

/// Taking over a connected persistent session keeps its state: subscriptions, queue and
/// session present [MQTT-3.1.4-3], [MQTT-3.2.2-2].
#[test]
fn takeover_keeps_persistent_state() {
    let broker = broker();
    let old = broker.connect(persistent("dev")).unwrap();
    old.subscribe("t", QoS::AtLeastOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "queued", QoS::AtLeastOnce, false)
        .unwrap();
    let new = broker.connect(persistent("dev")).unwrap();
    assert!(new.session_present());
    assert_eq!(recv(&new).payload().as_ref(), b"queued");
    connect(&broker, "pub2")
        .publish("t", "live", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(recv(&new).payload().as_ref(), b"live");
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A receiver that is parked for certain (an async poll returned `Pending`, so its waker is
/// registered and the queue's waiting flag is up) is woken by a shutdown and then told
/// `BrokerClosed`; a publish wakes it the same way.
#[test]
fn parked_receiver_is_woken_by_publish_and_by_shutdown() {
    use std::task::{Context, Poll, Waker};
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    let wakes = Arc::new(CountWakes::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(sub.poll_recv(&mut cx).is_pending());
    connect(&broker, "pub")
        .publish("t", "x", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the publish woke it");
    assert!(matches!(sub.poll_recv(&mut cx), Poll::Ready(Ok(m)) if m.topic() == "t"));
    assert!(sub.poll_recv(&mut cx).is_pending());
    broker.shutdown();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 2, "the shutdown woke it");
    assert!(matches!(
        sub.poll_recv(&mut cx),
        Poll::Ready(Err(SessionError::BrokerClosed))
    ));
}
