//! Limits over real sockets: `max_connections`, and a client that stops reading while a
//! publisher floods it. Its cost stays bounded (the session queue drops by policy, the write
//! buffer stops at `max_write_buffer_bytes`), it is closed as a slow consumer after
//! `write_stall_timeout`, and the other clients keep receiving meanwhile.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use mqlite::{Broker, Client, ConnectOptions, QoS};
use mqlite_net::{NetStats, ServerHandle};

/// A connection past `max_connections` is closed as soon as it is accepted and counted;
/// the open ones are unaffected, and a place that frees up can be taken again.
#[test]
fn connection_past_max_connections_is_closed_at_once() {
    let mut cfg = config();
    cfg.max_connections = 3;
    let (_broker, server) = start(cfg);
    let addr = server.local_addr();
    let mut clients: Vec<_> = (0..3)
        .map(|i| TestClient::connect(addr, V311, &format!("c{i}")))
        .collect();

    let mut fourth = TestClient::open(addr, V311);
    let ended = fourth.recv_within(WAIT);
    assert!(
        matches!(ended, Err(Ended::Eof | Ended::Reset)),
        "fourth connection: {ended:?}"
    );
    let stats = wait_stats(&server, "the refusal to count", |s| {
        s.connections_refused == 1
    });
    assert_eq!(stats.connections_open, 3);
    for client in &mut clients {
        client.ping();
    }

    clients.pop().expect("three clients").disconnect();
    wait_stats(&server, "a place to free up", |s| s.connections_open == 2);
    let mut again = TestClient::connect(addr, V311, "c3");
    again.ping();
    assert_eq!(server.stats().connections_refused, 1);
}

/// Each flood message: 16 KiB on `flood/x`.
const PAYLOAD_BYTES: usize = 16 * 1024;
/// The bytes of one flood PUBLISH at QoS 0 in 3.1.1: type, 3-byte remaining length, topic
/// length and topic, payload.
const PACKET_BYTES: usize = 1 + 3 + 2 + 7 + PAYLOAD_BYTES;
/// The session queue bound of the flood tests (the broker's `max_queued_messages`).
const MAX_QUEUED: usize = 32;
/// Deliveries core moves out of a session's queue at once to hand them out (its `STAGE`):
/// they wait outside the queue's bound, so a session holds up to this many more.
const STAGED: usize = 64;
/// The write buffer bound of the flood tests.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// A broker with a small session queue and a server with a small write buffer and `stall`
/// as its `write_stall_timeout`.
fn flood_setup(stall: Duration) -> (Broker, ServerHandle) {
    let mut core = mqlite::Config::default();
    core.max_queued_messages = MAX_QUEUED;
    let broker = Broker::new(core);
    let mut cfg = config();
    cfg.max_write_buffer_bytes = WRITE_BUFFER_BYTES;
    cfg.write_stall_timeout = stall;
    let server = serve(&broker, cfg);
    (broker, server)
}

/// An in-process subscriber of `flood/#` that keeps up (acknowledges as it receives).
fn in_process_reader(broker: &Broker, id: &str) -> Client {
    let client = broker
        .connect(ConnectOptions::new(id).auto_ack(true))
        .expect("connect");
    client
        .subscribe("flood/#", QoS::AtMostOnce)
        .expect("subscribe");
    client
}

/// Publishes 64 flood messages from `source`, then lets `reader` take what it has.
/// Returns how many `reader` took.
fn flood_round(source: &Client, payload: &Bytes, reader: &Client) -> usize {
    for _ in 0..64 {
        source
            .publish("flood/x", payload.clone(), QoS::AtMostOnce, false)
            .expect("publish");
    }
    reader.try_iter().count()
}

/// Publishes `marker` once `reader` has room and asserts it arrives.
fn assert_still_receives(source: &Client, reader: &Client) {
    let _ = reader.try_iter().count();
    source
        .publish("flood/x", "marker", QoS::AtMostOnce, false)
        .expect("publish");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = reader.recv_timeout(left).expect("the marker arrives");
        if &msg.payload()[..] == b"marker" {
            return;
        }
    }
}

/// The bytes encoded for a 3.1.1 connection that sent CONNACK (4), SUBACK (5) and then only
/// flood PUBLISHes, and not yet taken by its socket: its write buffer.
fn write_buffer_bytes(stats: &NetStats) -> u64 {
    let encoded = 4 + 5 + (stats.packets_sent - 2) * PACKET_BYTES as u64;
    encoded.saturating_sub(stats.bytes_sent)
}

/// A network client that stops reading while QoS 0 floods in costs bounded memory: its
/// session queue stays within `max_queued_messages` and drops the rest (counted), and its
/// connection stops taking deliveries once the write buffer reaches
/// `max_write_buffer_bytes` (overshooting by less than one packet). An in-process subscriber
/// keeps receiving meanwhile.
#[test]
fn stalled_reader_costs_bounded_memory() {
    let (broker, server) = flood_setup(Duration::from_secs(600));
    let mut slow = TestClient::connect(server.local_addr(), V311, "slow");
    slow.subscribe("flood/#", QoS::AtMostOnce);
    // `slow` never reads again; only its kernel buffers take bytes until they are full.
    let fast = in_process_reader(&broker, "fast");
    let source = broker
        .connect(ConnectOptions::new("source"))
        .expect("connect");
    let payload = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut fast_took = 0;
    let mut last = None;
    let stalled = loop {
        fast_took += flood_round(&source, &payload, &fast);
        let session = broker.session_stats("slow").expect("slow session");
        assert!(
            session.queued <= MAX_QUEUED + STAGED,
            "queue bound: {session:?}"
        );
        let net = server.stats();
        // Stalled: the queue overflowed and the connection took nothing since last round.
        let now = (net.packets_sent, net.bytes_sent);
        if session.dropped_queue_full > 0 && last == Some(now) {
            break net;
        }
        last = Some(now);
        assert!(
            Instant::now() < deadline,
            "the slow reader never stalled: {net:?} {session:?}"
        );
        std::thread::sleep(Duration::from_millis(20)); // bounded polling: let the worker run
    };

    let buffered = write_buffer_bytes(&stalled);
    assert!(
        buffered < (WRITE_BUFFER_BYTES + PACKET_BYTES) as u64,
        "write buffer of {buffered} bytes, limit {WRITE_BUFFER_BYTES}: {stalled:?}"
    );
    let session = broker.session_stats("slow").expect("slow session");
    assert!(session.queued <= MAX_QUEUED + STAGED);
    assert!(
        session.dropped_queue_full > 0,
        "dropped, not buffered: {session:?}"
    );
    assert!(broker.stats().dropped_queue_full >= session.dropped_queue_full);
    assert_eq!(
        stalled.slow_consumers, 0,
        "not closed before write_stall_timeout"
    );
    assert!(fast_took > 0);
    assert_still_receives(&source, &fast);
}

/// A client that stops reading is closed after `write_stall_timeout` with its buffer full,
/// and counted as a slow consumer; a network subscriber and an in-process one that keep
/// reading are not, and still receive after it.
#[test]
fn stalled_reader_is_closed_as_slow_consumer() {
    let (broker, server) = flood_setup(Duration::from_millis(300));
    let addr = server.local_addr();
    let mut slow = TestClient::connect(addr, V5, "slow");
    slow.subscribe("flood/#", QoS::AtMostOnce);
    let mut reader = TestClient::connect(addr, V311, "reader");
    reader.subscribe("flood/#", QoS::AtMostOnce);
    let network_reader = std::thread::spawn(move || {
        let mut got = 0;
        loop {
            let p = reader.recv_publish();
            if &p.payload[..] == b"marker" {
                return got;
            }
            got += 1;
        }
    });
    let fast = in_process_reader(&broker, "fast");
    let source = broker
        .connect(ConnectOptions::new("source"))
        .expect("connect");
    let payload = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);

    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().slow_consumers == 0 {
        flood_round(&source, &payload, &fast);
        assert!(
            Instant::now() < deadline,
            "never closed: {:?}",
            server.stats()
        );
        std::thread::sleep(Duration::from_millis(20)); // bounded polling: let the worker run
    }

    wait_until("the slow session to end", || {
        broker.session_stats("slow").is_none()
    });
    let stats = server.stats();
    assert_eq!(
        stats.slow_consumers, 1,
        "only the client that stopped reading: {stats:?}"
    );
    assert_eq!(
        stats.clients_connected, 1,
        "the network reader stays: {stats:?}"
    );
    let mut drained = slow.read_until_eof(); // what the kernel held, then EOF
    drained.clear();

    wait_until("the network reader to catch up", || {
        broker
            .session_stats("reader")
            .is_some_and(|s| s.queued == 0)
    });
    assert_still_receives(&source, &fast);
    let got = network_reader.join().expect("network reader");
    assert!(got > 0, "the network reader received the flood");
}
