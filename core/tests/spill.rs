//! Durable mode, queues longer than what a session keeps in memory (4 MiB of payloads):
//! past it, deliveries wait on disk as small entries naming their records and are read
//! back when taken. Every queue rule holds across that boundary: order, the count and byte
//! bounds under each overflow policy, message expiry, shared-subscription redistribution,
//! discard, restart and crash, and the counts in stats. The store is the real
//! `mqlite-store`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{WAIT, assert_empty};
use mqlite::{
    Broker, Client, Config, ConnectOptions, ManualClock, OverflowPolicy, PublishOptions,
    PublishProperties, QoS,
};
use mqlite_store::SyncPolicy;

const HOUR: Duration = Duration::from_secs(3600);
/// Payloads of 64 KiB: 64 of them fill what a queue keeps in memory.
const PAYLOAD_BYTES: usize = 64 * 1024;
/// Enough messages to put 36 past the 4 MiB boundary.
const N: u32 = 100;

/// A durable broker over `dir` with `config` and a manual clock.
fn durable(dir: &Path, config: Config) -> (Broker, Arc<ManualClock>) {
    common::durable::durable_broker(dir, SyncPolicy::None, config, Duration::ZERO)
}

/// Bounds far above what the tests queue.
fn roomy() -> Config {
    let mut config = Config::default();
    config.max_queued_bytes = 256 << 20;
    config.max_queued_messages = 100_000;
    config
}

fn session(id: &str) -> ConnectOptions {
    ConnectOptions::new(id)
        .clean_start(false)
        .session_expiry(HOUR)
}

/// Payload number `i` of [`PAYLOAD_BYTES`].
fn payload(i: u32) -> Bytes {
    sized_payload(i, PAYLOAD_BYTES)
}

/// Payload number `i` of `len` bytes: its number first, then filler that depends on it.
fn sized_payload(i: u32, len: usize) -> Bytes {
    let mut bytes = vec![(i % 251) as u8; len];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    Bytes::from(bytes)
}

/// The number of a payload made by [`sized_payload`], checking its filler.
fn number(payload: &[u8]) -> u32 {
    let i = u32::from_be_bytes(payload[..4].try_into().unwrap());
    assert!(payload[4..].iter().all(|&b| b == (i % 251) as u8), "{i}");
    i
}

/// An offline persistent session `sub` subscribed to `q` at QoS 2.
fn offline_subscriber(broker: &Broker) {
    let sub = broker.connect(session("sub")).unwrap();
    sub.subscribe("q", QoS::ExactlyOnce).unwrap();
    sub.disconnect();
}

/// Publishes payloads `range` to `q`, QoS cycling 1, 2, 0.
fn publish(publisher: &Client, range: std::ops::Range<u32>) {
    for i in range {
        let qos = [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtMostOnce][i as usize % 3];
        publisher.publish("q", payload(i), qos, false).unwrap();
    }
}

/// Publishes payloads `range` to `q` at QoS 1.
fn publish_qos1(publisher: &Client, range: std::ops::Range<u32>) {
    for i in range {
        publisher
            .publish("q", payload(i), QoS::AtLeastOnce, false)
            .unwrap();
    }
}

/// Receives (and acknowledges) `count` messages; their numbers.
fn receive(sub: &Client, count: usize) -> Vec<u32> {
    (0..count)
        .map(|_| {
            let m = sub.recv_timeout(WAIT).unwrap();
            m.ack();
            number(m.payload())
        })
        .collect()
}

fn queued(broker: &Broker) -> usize {
    broker.session_stats("sub").unwrap().queued
}

/// Live records in the store once pending releases are written.
fn live_records(broker: &Broker) -> u64 {
    broker.sync().unwrap();
    broker.store_stats().unwrap().live_records
}

/// Messages queued past the boundary arrive intact and in order after those before it
/// [MQTT-4.6.0-1], QoS 0 among them (queued for an offline session when configured), and
/// so do messages published while the consumer drains the tail.
#[test]
fn order_holds_across_the_spill_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = roomy();
    config.queue_qos0_messages = true;
    let (broker, _) = durable(dir.path(), config);
    offline_subscriber(&broker);
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    publish(&publisher, 0..N);
    assert_eq!(queued(&broker), N as usize);
    let sub = broker.connect(session("sub")).unwrap();
    let mut got = receive(&sub, 50);
    // Published while the tail still holds messages: they go behind it.
    publish(&publisher, N..N + 20);
    got.extend(receive(&sub, 70));
    assert_eq!(got, (0..N + 20).collect::<Vec<_>>());
    assert_empty(&sub);
    // Everything acknowledged: only the two sessions' records are left.
    assert!(live_records(&broker) <= 2, "{:?}", broker.store_stats());
}

/// `max_queued_messages` counts messages on disk: past it the newest are dropped (counted),
/// and their records are not kept.
#[test]
fn count_bound_counts_messages_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = roomy();
    config.max_queued_messages = 80;
    let (broker, _) = durable(dir.path(), config);
    offline_subscriber(&broker);
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    publish_qos1(&publisher, 0..N);
    let stats = broker.session_stats("sub").unwrap();
    assert_eq!((stats.queued, stats.dropped_queue_full), (80, 20));
    assert!(live_records(&broker) <= 82, "{:?}", broker.store_stats());
    let sub = broker.connect(session("sub")).unwrap();
    assert_eq!(receive(&sub, 80), (0..80).collect::<Vec<_>>());
    assert_empty(&sub);
}

/// `max_queued_bytes` counts the payloads left on disk as if they were in memory.
#[test]
fn byte_bound_counts_payloads_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = roomy();
    // 90 messages of 64 KiB + the topic.
    config.max_queued_bytes = 90 * (PAYLOAD_BYTES + 1);
    let (broker, _) = durable(dir.path(), config);
    offline_subscriber(&broker);
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    publish_qos1(&publisher, 0..N);
    let stats = broker.session_stats("sub").unwrap();
    assert_eq!((stats.queued, stats.dropped_queue_full), (90, 10));
    let sub = broker.connect(session("sub")).unwrap();
    assert_eq!(receive(&sub, 90), (0..90).collect::<Vec<_>>());
    assert_empty(&sub);
}

/// Drop-oldest drops from the tail too once the messages in memory are gone: what is left
/// is the newest, in order, and the dropped ones' records are released.
#[test]
fn drop_oldest_reaches_messages_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = roomy();
    config.max_queued_messages = 80;
    config.overflow_policy = OverflowPolicy::DropOldest;
    let (broker, _) = durable(dir.path(), config);
    offline_subscriber(&broker);
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    // 64 in memory, 16 on disk; then 90 more drop the 64, then 26 from the tail.
    publish_qos1(&publisher, 0..170);
    let stats = broker.session_stats("sub").unwrap();
    assert_eq!((stats.queued, stats.dropped_queue_full), (80, 90));
    assert!(live_records(&broker) <= 82, "{:?}", broker.store_stats());
    let sub = broker.connect(session("sub")).unwrap();
    assert_eq!(receive(&sub, 80), (90..170).collect::<Vec<_>>());
    assert_empty(&sub);
}

/// A message left on disk whose expiry passes while queued is never delivered
/// [MQTT-3.3.2-5]: it is dropped when its turn comes, counted, and its record released.
#[test]
fn expired_message_on_disk_is_dropped_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, clock) = durable(dir.path(), roomy());
    offline_subscriber(&broker);
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    let expiring = PublishOptions::new(QoS::AtLeastOnce)
        .properties(PublishProperties::new().message_expiry_interval(Duration::from_secs(10)));
    let lasting = PublishOptions::new(QoS::AtLeastOnce);
    // Every third message expires, on both sides of the boundary.
    for i in 0..N {
        let opts = if i % 3 == 0 { &expiring } else { &lasting };
        publisher.publish_with("q", payload(i), opts).unwrap();
    }
    clock.advance(Duration::from_secs(20));
    let sub = broker.connect(session("sub")).unwrap();
    let expected: Vec<u32> = (0..N).filter(|i| i % 3 != 0).collect();
    assert_eq!(receive(&sub, expected.len()), expected);
    assert_empty(&sub);
    let dropped = broker.session_stats("sub").unwrap().dropped_expired;
    assert_eq!(dropped, u64::from(N.div_ceil(3)));
    assert!(live_records(&broker) <= 2, "{:?}", broker.store_stats());
}

/// Discarding a session (a clean start) releases the records of its queue, on disk or not.
#[test]
fn discarded_session_releases_records_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = durable(dir.path(), roomy());
    offline_subscriber(&broker);
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    publish(&publisher, 0..N);
    assert!(live_records(&broker) > u64::from(N / 2));
    let sub = broker
        .connect(ConnectOptions::new("sub").clean_start(true))
        .unwrap();
    assert_empty(&sub);
    sub.disconnect();
    assert_eq!(live_records(&broker), 0, "{:?}", broker.store_stats());
}

/// A queue longer than memory survives a restart untaken, and a crash (kill -9) too; after
/// the start, new messages queue behind the recovered ones, and stats count them all.
#[test]
fn long_queue_survives_restart_and_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = roomy();
    config.queue_qos0_messages = true;
    {
        let (broker, _) = durable(dir.path(), config.clone());
        offline_subscriber(&broker);
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        publish(&publisher, 0..N);
        broker.shutdown();
    }
    {
        let (broker, _) = durable(dir.path(), config.clone());
        assert_eq!(queued(&broker), N as usize);
        let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
        let opts = PublishOptions::new(QoS::AtLeastOnce);
        for i in N..N + 10 {
            publisher.publish_with("q", payload(i), &opts).unwrap();
        }
        assert_eq!(queued(&broker), N as usize + 10);
        // A crash: the broker is dropped without a shutdown.
        broker.sync().unwrap();
    }
    let (broker, _) = durable(dir.path(), config);
    // QoS 0 ones too: recorded as they were queued for an offline session.
    let expected: Vec<u32> = (0..N + 10).collect();
    assert_eq!(queued(&broker), expected.len());
    let sub = broker.connect(session("sub")).unwrap();
    assert_eq!(receive(&sub, expected.len()), expected);
    assert_empty(&sub);
    assert!(live_records(&broker) <= 2, "{:?}", broker.store_stats());
}

/// Messages of a shared subscription queued past the boundary go to another member when
/// their session ends, read back whole and in order (MQTT 5.0 §4.8.2).
#[test]
fn shared_messages_on_disk_go_to_another_member() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = durable(dir.path(), roomy());
    let filter = "$share/g/q";
    // A persistent member that does not take anything, then ends for good.
    let a = broker.connect(session("a")).unwrap();
    a.subscribe(filter, QoS::AtLeastOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    publish_qos1(&publisher, 0..N);
    assert_eq!(broker.session_stats("a").unwrap().queued, N as usize);
    let b = broker.connect(ConnectOptions::new("b")).unwrap();
    b.subscribe(filter, QoS::AtLeastOnce).unwrap();
    a.set_session_expiry(Duration::ZERO).unwrap();
    a.disconnect();
    assert_eq!(receive(&b, N as usize), (0..N).collect::<Vec<_>>());
    assert_empty(&b);
}

/// Two publishers racing a consumer that drains as they go, behind a queue already past
/// the boundary, so deliveries switch between the tail and the channel as the consumer
/// catches up: each publisher's messages arrive in its order, none lost or doubled
/// [MQTT-4.6.0-1].
#[test]
fn publishers_racing_a_draining_consumer_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = durable(dir.path(), roomy());
    let sub = broker.connect(session("sub")).unwrap();
    sub.subscribe("q", QoS::AtLeastOnce).unwrap();
    let opts = PublishOptions::new(QoS::AtLeastOnce);
    // Publisher `p` of three sends numbers p, p + 3, p + 6, ...; the third goes first,
    // alone, past the boundary.
    let head = broker.connect(ConnectOptions::new("pub2")).unwrap();
    for i in 0..70u32 {
        head.publish_with("q", payload(i * 3 + 2), &opts).unwrap();
    }
    let per_publisher = 1_000u32;
    let publishers: Vec<_> = (0..2u32)
        .map(|p| {
            let (broker, opts) = (broker.clone(), opts.clone());
            std::thread::spawn(move || {
                let publisher = broker
                    .connect(ConnectOptions::new(format!("pub{p}")))
                    .unwrap();
                // Small: once the head is taken, the queue counts less than the
                // boundary while the tail still holds some of these.
                for i in 0..per_publisher {
                    let payload = sized_payload(i * 3 + p, 1024);
                    publisher.publish_with("q", payload, &opts).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u32, 1, 2];
    for _ in 0..2 * per_publisher + 70 {
        let m = sub.recv_timeout(WAIT).unwrap();
        let i = number(m.payload());
        m.ack();
        let p = (i % 3) as usize;
        assert_eq!(i, next[p], "publisher {p} out of order");
        next[p] += 3;
    }
    for publisher in publishers {
        publisher.join().unwrap();
    }
    assert_empty(&sub);
    assert!(live_records(&broker) <= 1, "{:?}", broker.store_stats());
}
