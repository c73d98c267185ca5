//! Durable mode: what survives a restart of the broker (a new `Broker` over the same store
//! directory, as after `kill -9`: the first broker is dropped without shutdown, or shut
//! down), and what does not. The store is the real `mqlite-store`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::durable::{crash_copy, durable_broker};
use common::{WAIT, assert_empty, drain, recv};
use mqlite::wire::{Accepted, Notify, Outbound};
use mqlite::{
    Broker, Config, ConnectOptions, ManualClock, PublishError, PublishOptions, PublishProperties,
    QoS, RetainHandling, SubOptions, TopicName, Will,
};
use mqlite_store::{FaultyStorage, LogOptions, Persistence, SyncPolicy};

/// A durable broker over `dir` with a manual clock at `at` (the time since the first start:
/// a restart passes the downtime in it, as the Unix time of manual clocks agrees).
fn durable(dir: &Path, at: Duration) -> (Broker, Arc<ManualClock>) {
    durable_with(dir, at, Config::default())
}

fn durable_with(dir: &Path, at: Duration, config: Config) -> (Broker, Arc<ManualClock>) {
    durable_broker(dir, SyncPolicy::Commit, config, at)
}

/// A durable broker (`commit`) whose storage fails on demand.
fn faulty_broker() -> (tempfile::TempDir, Broker, Arc<mqlite_store::Faults>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = FaultyStorage::new();
    let faults = storage.faults();
    let options = LogOptions::new(dir.path())
        .sync(SyncPolicy::Commit)
        .storage(storage);
    let broker = Broker::builder()
        .clock(Arc::new(ManualClock::new()))
        .store(Persistence::with_options(options).unwrap())
        .build();
    (dir, broker, faults)
}

fn session(id: &str, expiry: Duration) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry(expiry)
}

const HOUR: Duration = Duration::from_secs(3600);

fn payloads(client: &mqlite::Client) -> Vec<String> {
    drain(client).into_iter().map(|(_, p)| p).collect()
}

#[derive(Debug)]
struct NoNotify;
impl Notify for NoNotify {
    fn notify(&self) {}
}

/// Messages queued for an offline persistent session survive a restart, in order, and the
/// session is present on reconnect [MQTT-3.2.2-2], [MQTT-4.6.0-1].
#[test]
fn queued_messages_survive_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("t/#", QoS::ExactlyOnce).unwrap();
        sub.disconnect();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        for i in 0..20 {
            let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce][i % 2];
            publisher
                .publish("t/a", format!("{i}"), qos, false)
                .unwrap();
        }
        // QoS 0 to an offline session is not queued (queue_qos0_messages is off).
        publisher
            .publish("t/a", "qos0", QoS::AtMostOnce, false)
            .unwrap();
    } // dropped without shutdown
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert!(sub.session_present());
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(payloads(&sub), expected);
    // Delivered and acknowledged: gone from the store, not delivered again.
    drop(sub);
    drop(broker);
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert!(sub.session_present());
    assert_empty(&sub);
}

/// A QoS 1 message handed out and not acknowledged before the crash is delivered again
/// [MQTT-4.4.0-1]. An in-process acknowledgement is not synced: the acknowledged one may
/// come back once after a crash, which QoS 1 allows (never after a clean restart).
#[test]
fn unacknowledged_in_flight_redelivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        for p in ["acked", "unacked", "queued"] {
            publisher.publish("t", p, QoS::AtLeastOnce, false).unwrap();
        }
        recv(&sub).ack();
        let unacked = recv(&sub);
        assert_eq!(unacked.payload().as_ref(), b"unacked");
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    let got = payloads(&sub);
    assert!(
        got == ["unacked", "queued"] || got == ["acked", "unacked", "queued"],
        "{got:?}"
    );
}

/// Network QoS 2 towards a subscriber: after PUBREC only the PUBREL is sent again, with the
/// original packet id; a PUBLISH handed out without PUBREC is sent again with DUP and its
/// original packet id [MQTT-4.3.3-1], [MQTT-4.4.0-1].
#[test]
fn qos2_steps_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first_id, second_id);
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker
            .connect_wire(session("sub", HOUR), Arc::new(NoNotify))
            .unwrap();
        sub.subscribe("t", SubOptions::new(QoS::ExactlyOnce))
            .unwrap();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        publisher
            .publish("t", "one", QoS::ExactlyOnce, false)
            .unwrap();
        publisher
            .publish("t", "two", QoS::ExactlyOnce, false)
            .unwrap();
        let Ok(Outbound::Publish(one)) = sub.poll_outbound() else {
            panic!("expected a publish")
        };
        first_id = one.packet_id().unwrap();
        assert!(sub.pubrec(first_id).unwrap());
        let Ok(Outbound::Publish(two)) = sub.poll_outbound() else {
            panic!("expected a publish")
        };
        second_id = two.packet_id().unwrap();
        // What a transport does before it writes the PUBLISH and PUBREL to the socket.
        broker.durable_point().unwrap().unwrap();
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let sub = broker
        .connect_wire(session("sub", HOUR), Arc::new(NoNotify))
        .unwrap();
    assert!(sub.session_present());
    match sub.poll_outbound() {
        Ok(Outbound::Release { packet_id }) => assert_eq!(packet_id, first_id),
        other => panic!("expected the PUBREL again, got {other:?}"),
    }
    match sub.poll_outbound() {
        Ok(Outbound::Publish(m)) => {
            assert_eq!(m.payload().as_ref(), b"two");
            assert_eq!(m.packet_id(), Some(second_id));
            assert!(m.dup());
        }
        other => panic!("expected the PUBLISH again, got {other:?}"),
    }
    assert!(sub.pubcomp(first_id).unwrap());
}

/// The persistent session "pub" through the transports' interface (incoming QoS 2 ids,
/// PUBREL).
fn wire_publisher(broker: &Broker) -> mqlite::wire::WireClient {
    broker
        .connect_wire(session("pub", HOUR), Arc::new(NoNotify))
        .unwrap()
}

/// An offline persistent subscriber of `t` at QoS 2, and a persistent network-style
/// publisher to it.
fn qos2_publisher_to_offline_subscriber(broker: &Broker) -> mqlite::wire::WireClient {
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    sub.subscribe("t", QoS::ExactlyOnce).unwrap();
    sub.disconnect();
    wire_publisher(broker)
}

/// An incoming QoS 2 id awaiting PUBREL survives: the publisher's resend after the crash is
/// a duplicate (not routed twice), and after PUBREL the id is new again [MQTT-4.3.3-2].
#[test]
fn inbound_qos2_id_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let topic = TopicName::new("t").unwrap();
    let options = PublishOptions::new(QoS::ExactlyOnce);
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let publisher = qos2_publisher_to_offline_subscriber(&broker);
        let accepted = publisher
            .publish_packet(7, topic.clone(), Bytes::from("once"), &options)
            .unwrap();
        assert_eq!(accepted, Accepted::Routed);
        // What a transport does before it sends the PUBREC.
        broker.durable_point().unwrap().unwrap();
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let publisher = wire_publisher(&broker);
    let again = publisher
        .publish_packet(7, topic.clone(), Bytes::from("once"), &options)
        .unwrap();
    assert_eq!(again, Accepted::Duplicate);
    assert!(publisher.pubrel(7).unwrap());
    let next = publisher
        .publish_packet(7, topic, Bytes::from("next"), &options)
        .unwrap();
    assert_eq!(next, Accepted::Routed);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert_eq!(payloads(&sub), ["once", "next"]);
}

/// The PUBCOMP of a PUBREL waits for the id's release to be durable: a transport sees the
/// release as a change ([`Broker::records_appended`]), and once the durable point it takes
/// is reached a crash no longer brings the id back. Otherwise the sender, free to reuse the
/// id after PUBCOMP, would have its next message with it swallowed as a duplicate after a
/// crash [MQTT-4.3.3-2]. (Seen in the network kill test: the stale ids also filled the
/// receive maximum and the publisher was disconnected.)
#[test]
fn released_inbound_qos2_id_stays_released_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let topic = TopicName::new("t").unwrap();
    let options = PublishOptions::new(QoS::ExactlyOnce);
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let publisher = qos2_publisher_to_offline_subscriber(&broker);
        publisher
            .publish_packet(7, topic.clone(), Bytes::from("first"), &options)
            .unwrap();
        broker.sync().unwrap();
        let before = broker.records_appended();
        assert!(publisher.pubrel(7).unwrap());
        assert_ne!(
            broker.records_appended(),
            before,
            "the PUBCOMP must wait for a durable point"
        );
        // What a transport does before it sends the PUBCOMP.
        let ticket = broker.durable_point().unwrap().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        broker.when_durable(ticket, Box::new(move |r| tx.send(r).unwrap()));
        rx.recv().unwrap().unwrap();
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let publisher = wire_publisher(&broker);
    let next = publisher
        .publish_packet(7, topic, Bytes::from("second"), &options)
        .unwrap();
    assert_eq!(
        next,
        Accepted::Routed,
        "the id was released before the crash"
    );
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert_eq!(payloads(&sub), ["first", "second"]);
}

/// Clearing a retained message releases its record and appends nothing: the PUBACK must
/// still wait for a durable point, or a crash right after it brings the message back (seen
/// in the network kill test of retained messages) [MQTT-3.3.1-10].
#[test]
fn a_cleared_retained_message_stays_cleared_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let topic = TopicName::new("r").unwrap();
    let options = PublishOptions::new(QoS::AtLeastOnce).retain(true);
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let publisher = broker
            .connect_wire(ConnectOptions::new("pub"), Arc::new(NoNotify))
            .unwrap();
        publisher
            .publish_packet(1, topic.clone(), Bytes::from("kept"), &options)
            .unwrap();
        broker.sync().unwrap();
        let before = broker.records_appended();
        publisher
            .publish_packet(2, topic, Bytes::new(), &options)
            .unwrap();
        assert_ne!(broker.records_appended(), before, "the PUBACK must wait");
        // What a transport does before it sends the PUBACK.
        broker.durable_point().unwrap().unwrap();
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let sub = broker.connect(ConnectOptions::new("sub")).unwrap();
    sub.subscribe("r", QoS::AtLeastOnce).unwrap();
    assert_empty(&sub);
}

/// `publish_many` waits for durability once for the whole batch: under `commit`, one fsync
/// instead of one per message; every message of the batch survives a crash after it.
#[test]
fn publish_many_makes_its_batch_durable_with_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("b/#", QoS::AtLeastOnce).unwrap();
        sub.disconnect();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        let before = broker.store_stats().unwrap().fsyncs;
        let batch = (0..100).map(|i| {
            (
                TopicName::new(&format!("b/{i}")).unwrap(),
                Bytes::from(i.to_string()),
            )
        });
        publisher
            .publish_many(batch, &PublishOptions::new(QoS::AtLeastOnce))
            .unwrap();
        let fsyncs = broker.store_stats().unwrap().fsyncs - before;
        assert!(fsyncs <= 2, "{fsyncs} fsyncs for one batch");
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(payloads(&sub), expected);
}

/// A store that stops taking appends after a budget, as a process killed at that moment
/// would: later appends seem to succeed but never reach the files.
#[derive(Debug)]
struct CutOff {
    inner: Persistence,
    /// Appends still let through (shared with the test).
    budget: Arc<std::sync::atomic::AtomicI64>,
}

/// Tickets of appends that never happened: far from any real one.
const LOST: u64 = u64::MAX / 2;

impl mqlite::Store for CutOff {
    fn append(&self, kind: u8, record: &[u8]) -> Result<mqlite::Ticket, mqlite::StoreError> {
        if self
            .budget
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            > 0
        {
            self.inner.append(kind, record)
        } else {
            Ok(LOST)
        }
    }
    fn release(&self, ticket: mqlite::Ticket) {
        if ticket != LOST {
            self.inner.release(ticket);
        }
    }
    fn flush(&self) -> Result<mqlite::Ticket, mqlite::StoreError> {
        self.inner.flush()
    }
    fn commit(&self, ticket: mqlite::Ticket) -> Result<(), mqlite::StoreError> {
        self.inner.commit(ticket.min(self.inner.flush()?))
    }
    fn when_durable(
        &self,
        ticket: mqlite::Ticket,
        done: Box<dyn FnOnce(Result<(), mqlite::StoreError>) + Send>,
    ) {
        self.inner.when_durable(ticket, done);
    }
    fn read(&self, ticket: mqlite::Ticket) -> Result<Vec<u8>, mqlite::StoreError> {
        self.inner.read(ticket)
    }
    fn recovered(&self) -> Vec<mqlite::StoredRecord> {
        self.inner.recovered()
    }
    fn stats(&self) -> mqlite::StoreStats {
        self.inner.stats()
    }
}

/// An incoming QoS 2 message routed to three persistent sessions, killed mid-fan-out (its
/// id's record and one delivery on disk, the other deliveries and the routing marker not):
/// no PUBREC was sent, so the publisher sends it again after the restart, and then every
/// session gets it exactly once. Keeping the id would take the resend for a duplicate and
/// two sessions would never get the message [MQTT-4.3.3-2], [MQTT-4.3.3-3].
#[test]
fn qos2_fan_out_cut_off_by_a_crash_is_routed_again_whole() {
    let dir = tempfile::tempdir().unwrap();
    let topic = TopicName::new("t").unwrap();
    let options = PublishOptions::new(QoS::ExactlyOnce);
    let subs = ["s1", "s2", "s3"];
    let crashed = {
        let budget = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
        let store = CutOff {
            inner: Persistence::open(dir.path(), SyncPolicy::Commit).unwrap(),
            budget: budget.clone(),
        };
        let broker = Broker::builder()
            .clock(Arc::new(ManualClock::new()))
            .store(store)
            .build();
        for id in subs {
            let sub = broker.connect(session(id, HOUR)).unwrap();
            sub.subscribe("t", QoS::ExactlyOnce).unwrap();
            sub.disconnect();
        }
        let publisher = wire_publisher(&broker);
        broker.sync().unwrap();
        // The id's record and the first delivery reach the files, nothing after them.
        budget.store(2, std::sync::atomic::Ordering::SeqCst);
        let accepted = publisher
            .publish_packet(9, topic.clone(), Bytes::from("m"), &options)
            .unwrap();
        assert_eq!(accepted, Accepted::Routed);
        broker.durable_point().unwrap().unwrap();
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let publisher = wire_publisher(&broker);
    let again = publisher
        .publish_packet(9, topic, Bytes::from("m"), &options)
        .unwrap();
    assert_eq!(
        again,
        Accepted::Routed,
        "the cut-off routing is not a duplicate"
    );
    assert!(publisher.pubrel(9).unwrap());
    for id in subs {
        let sub = broker.connect(session(id, HOUR)).unwrap();
        assert_eq!(payloads(&sub), ["m"], "{id}");
    }
}

/// A client connected at the crash reconnects: its restored session has no connection to
/// end, so the broker's count of connected clients stays right (it went below zero and
/// wrapped, after which `max_clients` refused every CONNECT: seen as "CONNACK refused,
/// server unavailable" in the network kill test).
#[test]
fn reconnecting_after_a_crash_keeps_the_count_of_connected_clients() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let _connected = broker.connect(session("c", HOUR)).unwrap();
        broker.sync().unwrap();
        crash_copy(dir.path())
    };
    let mut config = Config::default();
    config.max_clients = 2;
    let (broker, _) = durable_with(crashed.path(), Duration::ZERO, config);
    let again = broker.connect(session("c", HOUR)).unwrap();
    assert!(again.session_present());
    assert_eq!(broker.stats().clients_connected, 1);
    let _other = broker.connect(ConnectOptions::new("other")).unwrap();
    assert_eq!(broker.stats().clients_connected, 2);
}

/// A client whose session ends with its connection, with a will, connected at a clean
/// shutdown: the shutdown publishes its will, once, and the next start does not publish it
/// again [MQTT-3.1.2-8] (found by the loom model `durable_release`'s author).
#[test]
fn will_of_a_clean_session_connected_at_shutdown_is_published_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let watcher = broker.connect(session("watcher", HOUR)).unwrap();
        watcher.subscribe("wills/#", QoS::AtLeastOnce).unwrap();
        let clean = broker
            .connect(
                ConnectOptions::new("clean").will(
                    Will::new("wills/clean", "lost")
                        .unwrap()
                        .qos(QoS::AtLeastOnce),
                ),
            )
            .unwrap();
        // Ends both connections, then publishes the will: queued for the (now offline)
        // persistent watcher, and recorded.
        broker.shutdown();
        drop((clean, watcher, broker));
    }
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let watcher = broker.connect(session("watcher", HOUR)).unwrap();
    let got: Vec<String> = drain(&watcher).into_iter().map(|(t, _)| t).collect();
    assert_eq!(got, ["wills/clean"], "the will, once");
}

/// A subscriber's acknowledgement releases the delivery's record but acknowledges nothing
/// itself: it does not count as a change, so a transport does not hold the deliveries it
/// writes in the same turn (it did, for an fsync per acknowledgement: a recovered queue
/// drained at ~1,000 msgs/s over the network).
#[test]
fn a_subscribers_ack_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    sub.subscribe("a", QoS::AtLeastOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    publisher
        .publish("a", "m", QoS::AtLeastOnce, false)
        .unwrap();
    let message = sub.recv_timeout(WAIT).unwrap();
    let before = broker.records_appended();
    message.ack();
    assert_eq!(broker.records_appended(), before);
}

/// A clean session records no incoming QoS 2 id, so its PUBREL is answered at once.
#[test]
fn pubrel_of_a_clean_session_need_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let publisher = broker
        .connect_wire(ConnectOptions::new("clean"), Arc::new(NoNotify))
        .unwrap();
    let topic = TopicName::new("t").unwrap();
    publisher
        .publish_packet(
            3,
            topic,
            Bytes::from("x"),
            &PublishOptions::new(QoS::ExactlyOnce),
        )
        .unwrap();
    let before = broker.records_appended();
    assert!(publisher.pubrel(3).unwrap());
    assert_eq!(broker.records_appended(), before);
}

/// Retained messages survive as last set: replaced, cleared and kept topics, with their
/// properties [MQTT-3.3.1-5], [MQTT-3.3.1-10].
#[test]
fn retained_messages_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let c = broker.connect(ConnectOptions::new("c")).unwrap();
        c.publish("r/kept", "k", QoS::AtLeastOnce, true).unwrap();
        c.publish("r/replaced", "old", QoS::AtLeastOnce, true)
            .unwrap();
        c.publish("r/replaced", "new", QoS::AtLeastOnce, true)
            .unwrap();
        c.publish("r/cleared", "gone", QoS::AtLeastOnce, true)
            .unwrap();
        c.publish("r/cleared", "", QoS::AtLeastOnce, true).unwrap();
        let props = PublishProperties::new()
            .content_type("text/plain")
            .user_property("unit", "C");
        let opts = PublishOptions::new(QoS::AtLeastOnce)
            .retain(true)
            .properties(props);
        c.publish_with("r/props", "21", &opts).unwrap();
    }
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let sub = broker.connect(ConnectOptions::new("s")).unwrap();
    sub.subscribe("r/#", QoS::AtLeastOnce).unwrap();
    let mut got = Vec::new();
    while let Ok(m) = sub.recv_timeout(Duration::from_millis(200)) {
        if m.topic() == "r/props" {
            let p = m.properties().unwrap();
            assert_eq!(p.content_type.as_deref(), Some("text/plain"));
            assert_eq!(p.user_properties, [("unit".into(), "C".into())]);
        }
        got.push((
            m.topic().to_owned(),
            String::from_utf8_lossy(m.payload()).into_owned(),
        ));
        m.ack();
    }
    got.sort();
    let expected = [("r/kept", "k"), ("r/props", "21"), ("r/replaced", "new")];
    let expected: Vec<_> = expected
        .iter()
        .map(|(t, p)| ((*t).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(got, expected);
}

/// Subscriptions survive with all their options (no local, retain as published, retain
/// handling, subscription identifier).
#[test]
fn subscription_options_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        let mut opts = SubOptions::new(QoS::AtLeastOnce);
        opts = opts
            .no_local(true)
            .retain_as_published(true)
            .retain_handling(RetainHandling::DoNotSend)
            .subscription_id(Some(42));
        sub.subscribe("a/+", opts).unwrap();
        sub.disconnect();
    }
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert!(sub.session_present());
    // No local: its own publish does not come back [MQTT-3.8.3-3].
    sub.publish("a/own", "x", QoS::AtLeastOnce, false).unwrap();
    let other = broker.connect(ConnectOptions::new("other")).unwrap();
    other.publish("a/b", "y", QoS::AtLeastOnce, true).unwrap();
    let m = recv(&sub);
    assert_eq!(m.payload().as_ref(), b"y");
    assert_eq!(m.subscription_ids(), [42]);
    assert!(m.retain(), "retain as published");
    m.ack();
    assert_empty(&sub);
}

/// Session expiry counts the time the broker was down: a session with a 3 s expiry that was
/// offline across a 5 s outage is gone at restart [MQTT-3.1.2-23].
#[test]
fn session_expiry_counts_downtime() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        for (id, expiry) in [("short", 3), ("long", 60)] {
            let c = broker
                .connect(session(id, Duration::from_secs(expiry)))
                .unwrap();
            c.subscribe("t", QoS::AtLeastOnce).unwrap();
            c.disconnect();
        }
    }
    let (broker, _) = durable(dir.path(), Duration::from_secs(5));
    let short = broker
        .connect(session("short", Duration::from_secs(3)))
        .unwrap();
    assert!(!short.session_present());
    let long = broker
        .connect(session("long", Duration::from_secs(60)))
        .unwrap();
    assert!(long.session_present());
}

/// Message expiry counts the downtime too: a queued message with a 3 s expiry is not
/// delivered after a 5 s outage; one with 60 s is, with the time it has left
/// [MQTT-3.3.2-5], [MQTT-3.3.2-6].
#[test]
fn message_expiry_counts_downtime() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("t", QoS::AtLeastOnce).unwrap();
        sub.disconnect();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        for (payload, secs) in [("short", 3), ("long", 60)] {
            let props = PublishProperties::new().message_expiry_interval(Duration::from_secs(secs));
            let opts = PublishOptions::new(QoS::AtLeastOnce).properties(props);
            publisher.publish_with("t", payload, &opts).unwrap();
        }
    }
    let (broker, _) = durable(dir.path(), Duration::from_secs(5));
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    let m = recv(&sub);
    assert_eq!(m.payload().as_ref(), b"long");
    assert_eq!(m.message_expiry_interval(), Some(Duration::from_secs(55)));
    m.ack();
    assert_empty(&sub);
}

/// A delayed will whose delay ran out while the broker was down is published at start;
/// one whose delay is still ahead waits for it (MQTT 5.0 §3.1.3.2.2).
#[test]
fn delayed_will_due_during_downtime_published_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let watcher = broker.connect(session("watcher", HOUR)).unwrap();
        watcher.subscribe("wills/#", QoS::AtLeastOnce).unwrap();
        watcher.disconnect();
        for (id, delay) in [("soon", 2), ("late", 30)] {
            let will = Will::new(&format!("wills/{id}"), "gone")
                .unwrap()
                .qos(QoS::AtLeastOnce)
                .delay(Duration::from_secs(delay));
            let c = broker.connect(session(id, HOUR).will(will)).unwrap();
            drop(c); // lost: the will is scheduled
        }
    }
    let (broker, clock) = durable(dir.path(), Duration::from_secs(5));
    let watcher = broker.connect(session("watcher", HOUR)).unwrap();
    let m = recv(&watcher);
    assert_eq!(m.topic(), "wills/soon");
    m.ack();
    assert_empty(&watcher);
    clock.advance(Duration::from_secs(30));
    broker.tick();
    let m = recv(&watcher);
    assert_eq!(m.topic(), "wills/late");
    m.ack();
    // Published once: not again after another restart.
    drop(watcher);
    drop(broker);
    let (broker, _) = durable(dir.path(), Duration::from_secs(40));
    let watcher = broker.connect(session("watcher", HOUR)).unwrap();
    assert_empty(&watcher);
}

/// Sessions that do not outlive their connection are not recorded; a clean start discards
/// a recorded session for good.
#[test]
fn clean_sessions_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let clean = broker.connect(ConnectOptions::new("clean")).unwrap();
        clean.subscribe("t", QoS::AtLeastOnce).unwrap();
        let kept = broker.connect(session("kept", HOUR)).unwrap();
        kept.subscribe("t", QoS::AtLeastOnce).unwrap();
        kept.disconnect();
        let again = broker
            .connect(ConnectOptions::new("kept").clean_start(true))
            .unwrap();
        assert!(!again.session_present());
        crash_copy(dir.path())
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    for id in ["clean", "kept"] {
        let c = broker.connect(session(id, HOUR)).unwrap();
        assert!(!c.session_present(), "{id}");
    }
}

/// A clean shutdown keeps persistent sessions and their queues (they are not discarded as
/// in memory mode), and publishes the wills of connected clients once.
#[test]
fn shutdown_keeps_persistent_sessions() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        publisher
            .publish("t", "1", QoS::AtLeastOnce, false)
            .unwrap();
        broker.shutdown();
    }
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert!(sub.session_present());
    assert_eq!(payloads(&sub), ["1"]);
}

/// Acknowledged data is released: after a long run through a persistent session the store
/// holds only what is still queued, and its dead segments are deleted.
#[test]
fn acknowledged_messages_are_released() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    let options = LogOptions::new(dir.path())
        .sync(SyncPolicy::Periodic(Duration::from_millis(5)))
        .segment_bytes(64 * 1024);
    let broker = Broker::builder()
        .clock(clock)
        .store(Persistence::with_options(options).unwrap())
        .build();
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    let payload = Bytes::from(vec![7u8; 200]);
    for _ in 0..5_000 {
        publisher
            .publish("t", payload.clone(), QoS::AtLeastOnce, false)
            .unwrap();
        sub.recv_timeout(WAIT).unwrap().ack();
    }
    publisher
        .publish("t", "last", QoS::AtLeastOnce, false)
        .unwrap();
    broker.sync().unwrap();
    // Dead segments are deleted by the store's sync thread once their releases are durable.
    let mut stats = broker.store_stats().unwrap();
    for _ in 0..100 {
        if stats.bytes_on_disk < 4 * 64 * 1024 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        broker.sync().unwrap();
        stats = broker.store_stats().unwrap();
    }
    // The session record and the one queued message (releases may wait for a segment).
    assert!(stats.live_records <= 3, "{stats:?}");
    // Compaction runs every `COMPACT_EVERY` flushes: a few segments at most remain.
    assert!(stats.bytes_on_disk < 8 * 64 * 1024, "{stats:?}");
    assert!(stats.records_written >= 5_000);
}

/// A store that cannot write (disk full) refuses the acknowledgement: the publish fails
/// with `NotDurable`, the broker stays up, and it resumes when space returns.
#[test]
fn disk_full_refuses_publish_and_recovers() {
    let (_dir, broker, faults) = faulty_broker();
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    faults.set_no_space(true);
    let err = publisher
        .publish("t", "refused", QoS::AtLeastOnce, false)
        .unwrap_err();
    assert!(matches!(err, PublishError::NotDurable { .. }), "{err}");
    faults.set_no_space(false);
    publisher
        .publish("t", "ok", QoS::AtLeastOnce, false)
        .unwrap();
    // The refused one may still be delivered (it was in memory); "ok" surely is.
    let got = payloads(&sub);
    assert!(got.ends_with(&["ok".to_owned()]), "{got:?}");
}

/// A failing fsync refuses the acknowledgement too (`commit` policy).
#[test]
fn failing_fsync_refuses_publish() {
    let (_dir, broker, faults) = faulty_broker();
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    faults.set_sync_fails(true);
    let err = publisher
        .publish("t", "refused", QoS::AtLeastOnce, false)
        .unwrap_err();
    assert!(matches!(err, PublishError::NotDurable { .. }), "{err}");
    faults.set_sync_fails(false);
    publisher
        .publish("t", "ok", QoS::AtLeastOnce, false)
        .unwrap();
}

/// Two brokers cannot open one directory: the second gets a clear error.
#[test]
fn second_broker_on_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Persistence::open(dir.path(), SyncPolicy::Commit).unwrap();
    let err = Persistence::open(dir.path(), SyncPolicy::Commit).unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
}

/// Garbage appended to the store does not stop a start: what is valid is kept, and the
/// store's figures say what was set aside.
#[test]
fn damaged_store_still_starts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("t", QoS::AtLeastOnce).unwrap();
        sub.disconnect();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        publisher
            .publish("t", "kept", QoS::AtLeastOnce, false)
            .unwrap();
    }
    let segment = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "seg"))
        .max()
        .expect("a segment file");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(b"\x13\x37 not a record, a torn write");
    std::fs::write(&segment, bytes).unwrap();
    let store = Persistence::open(dir.path(), SyncPolicy::Commit).unwrap();
    assert!(store.found_damage(), "{}", store.recovery_summary());
    let broker = Broker::builder()
        .clock(Arc::new(ManualClock::new()))
        .store(store)
        .build();
    let stats = broker.store_stats().unwrap();
    assert!(stats.bytes_discarded > 0);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    assert_eq!(payloads(&sub), ["kept"]);
}

/// A broker with the system clock (and its timer thread) releases its store when its last
/// handle is dropped: the directory can be opened again at once.
#[test]
fn dropped_broker_releases_its_store() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = Persistence::open(dir.path(), SyncPolicy::None).unwrap();
        let broker = Broker::builder().store(store).build();
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("t/#", QoS::ExactlyOnce).unwrap();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        drop(sub);
        drop(publisher);
        drop(broker);
    }
}

/// The store's figures: in `Broker::store_stats` (what was recovered at start, fsyncs) and
/// under `$SYS/broker/store/`.
#[test]
fn store_figures_in_stats_and_sys() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let c = broker.connect(ConnectOptions::new("c")).unwrap();
        c.publish("r", "1", QoS::AtLeastOnce, true).unwrap();
        let s = broker.store_stats().unwrap();
        assert!(s.fsyncs >= 1 && s.records_written >= 1, "{s:?}");
        assert_eq!(s.records_recovered, 0);
    }
    let mut config = Config::default();
    config.sys_interval = Some(Duration::from_secs(10));
    let (broker, _) = durable_with(dir.path(), Duration::ZERO, config);
    assert_eq!(broker.store_stats().unwrap().records_recovered, 1);
    let sys = broker.connect(ConnectOptions::new("sys")).unwrap();
    sys.subscribe("$SYS/broker/store/#", QoS::AtMostOnce)
        .unwrap();
    broker.tick();
    let mut values = std::collections::HashMap::new();
    while let Ok(m) = sys.recv_timeout(Duration::from_millis(100)) {
        values.insert(
            m.topic().to_owned(),
            String::from_utf8_lossy(m.payload()).into_owned(),
        );
    }
    assert_eq!(values["$SYS/broker/store/recovery/records"], "1");
    assert!(values["$SYS/broker/store/bytes"].parse::<u64>().unwrap() > 0);
    assert!(values.contains_key("$SYS/broker/store/fsync/mean_us"));
    // `$SYS` itself is not recorded: only the retained "r" is live.
    drop(sys);
    // The figures outlive the store, which shutdown drops (the binary logs them at exit).
    broker.shutdown();
    let last = broker.store_stats().unwrap();
    assert!(last.bytes_on_disk > 0 && last.live_records == 1, "{last:?}");
    assert_eq!(last.records_recovered, 1, "{last:?}");
    drop(broker);
    let (broker, _) = durable(dir.path(), Duration::ZERO);
    assert_eq!(broker.store_stats().unwrap().records_recovered, 1);
}

/// The will of a client connected at the crash is published after the restart (its
/// connection ended without DISCONNECT), for a persistent session and for one that ends
/// with its connection [MQTT-3.1.2-8]; a clean shutdown publishes wills once, not again at
/// the next start.
#[test]
fn wills_of_clients_connected_at_a_crash_are_published() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = {
        let (broker, _) = durable(dir.path(), Duration::ZERO);
        let watcher = broker.connect(session("watcher", HOUR)).unwrap();
        watcher.subscribe("wills/#", QoS::AtLeastOnce).unwrap();
        watcher.disconnect();
        let will = |id: &str| {
            Will::new(&format!("wills/{id}"), "lost")
                .unwrap()
                .qos(QoS::AtLeastOnce)
        };
        let kept = broker
            .connect(session("kept", HOUR).will(will("kept")))
            .unwrap();
        let clean = broker
            .connect(ConnectOptions::new("clean").will(will("clean")))
            .unwrap();
        let copy = crash_copy(dir.path());
        drop((kept, clean));
        copy
    };
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let watcher = broker.connect(session("watcher", HOUR)).unwrap();
    let mut topics: Vec<String> = drain(&watcher).into_iter().map(|(t, _)| t).collect();
    topics.sort();
    assert_eq!(topics, ["wills/clean", "wills/kept"]);
    drop(watcher);
    broker.shutdown();
    drop(broker);
    let (broker, _) = durable(crashed.path(), Duration::ZERO);
    let watcher = broker.connect(session("watcher", HOUR)).unwrap();
    assert_empty(&watcher);
}

/// A queue longer than what a session keeps in memory leaves its payloads on disk and reads
/// them back when they are taken: every payload arrives intact and in order, before and
/// after a restart, and the byte bound still counts them.
#[test]
fn long_queue_payloads_stay_on_disk_until_taken() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.max_queued_bytes = 64 << 20;
    config.max_queued_messages = 10_000;
    let payload = |i: u32| Bytes::from(vec![(i % 251) as u8; 64 * 1024 + i as usize]);
    let check = |sub: &mqlite::Client, range: std::ops::Range<u32>| {
        for i in range {
            let m = sub.recv_timeout(WAIT).unwrap();
            assert_eq!(m.payload(), &payload(i), "message {i}");
            m.ack();
        }
    };
    {
        let (broker, _) = durable_with(dir.path(), Duration::ZERO, config.clone());
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        sub.subscribe("q", QoS::AtLeastOnce).unwrap();
        sub.disconnect();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        // 200 messages of about 64 KiB: 12.5 MiB, three times what stays in memory.
        for i in 0..200 {
            publisher
                .publish("q", payload(i), QoS::AtLeastOnce, false)
                .unwrap();
        }
        let sub = broker.connect(session("sub", HOUR)).unwrap();
        check(&sub, 0..100);
        sub.disconnect();
    }
    let (broker, _) = durable_with(dir.path(), Duration::ZERO, config);
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    check(&sub, 100..200);
    assert_empty(&sub);
}

/// Runs `future` to completion on this thread, sleeping between polls until woken.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// `publish_async` at QoS 1 completes once the message is durable, without blocking the
/// task's thread on the fsync (the store's sync thread wakes it), and fails when the store
/// cannot make it durable.
#[test]
fn async_publish_completes_when_durable() {
    let (_dir, broker, faults) = faulty_broker();
    let sub = broker.connect(session("sub", HOUR)).unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    let before = faults.syncs();
    let opts = PublishOptions::new(QoS::AtLeastOnce);
    block_on(publisher.publish_async("t", "durable", &opts)).unwrap();
    assert!(faults.syncs() > before, "completed only after an fsync");
    faults.set_sync_fails(true);
    let err = block_on(publisher.publish_async("t", "refused", &opts)).unwrap_err();
    assert!(matches!(err, PublishError::NotDurable { .. }), "{err}");
    faults.set_sync_fails(false);
    assert_eq!(recv(&sub).payload().as_ref(), b"durable");
}

/// A long recovered queue drains completely through a transport that acknowledges as it
/// goes (the in-flight window keeps reopening).
#[test]
fn long_recovered_queue_drains_through_a_transport() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.max_queued_messages = 100_000;
    let n = 16_000;
    {
        let (broker, _) = durable_with(dir.path(), Duration::ZERO, config.clone());
        let sub = broker
            .connect_wire(session("sub", HOUR), Arc::new(NoNotify))
            .unwrap();
        sub.subscribe("q", SubOptions::new(QoS::AtLeastOnce))
            .unwrap();
        sub.disconnect();
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        let opts = PublishOptions::new(QoS::AtLeastOnce);
        for i in 0..n {
            publisher.publish_with("q", format!("{i}"), &opts).unwrap();
        }
    }
    let (broker, _) = durable_with(dir.path(), Duration::ZERO, config);
    let sub = broker
        .connect_wire(session("sub", HOUR), Arc::new(NoNotify))
        .unwrap();
    let mut next = 0;
    for _ in 0..1_000_000 {
        match sub.poll_outbound() {
            Ok(Outbound::Publish(m)) => {
                assert_eq!(m.payload().as_ref(), format!("{next}").as_bytes());
                next += 1;
                sub.puback(m.packet_id().unwrap()).unwrap();
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {
                if !sub.arm_notify() {
                    continue;
                }
                break;
            }
        }
    }
    assert_eq!(next, n);
}
