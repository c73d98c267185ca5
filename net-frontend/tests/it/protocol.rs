//! Protocol behaviour over real sockets: the CONNECT timeout, keep alive, session takeover,
//! and a persistent session resumed with its queued and unacknowledged QoS 1 messages.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use mqlite::{ConnectOptions, QoS};
use mqlite_net::codec::ReasonCode;

/// A connection that sends no CONNECT within `connect_timeout` is closed without a word and
/// counted.
#[test]
fn silent_connection_is_closed_after_connect_timeout() {
    let mut cfg = config();
    cfg.connect_timeout = Duration::from_millis(300);
    let (_broker, server) = start(cfg);
    let started = Instant::now();
    let mut client = TestClient::open(server.local_addr(), V311);
    client.expect_eof();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed after {:?}",
        started.elapsed()
    );
    let stats = wait_stats(&server, "the timeout to count", |s| s.connect_timeouts == 1);
    assert_eq!(stats.connect_refused + stats.malformed_packets, 0);
}

/// Connects `version` with keep alive 1 s and says nothing more; returns how long until the
/// server closed, after checking what it sent.
fn silent_after_connect(version: mqlite_net::ProtocolVersion) -> Duration {
    let (_broker, server) = start(config());
    let mut c = connect_packet(version, "quiet");
    c.keep_alive = 1;
    let (mut client, ack) = TestClient::connect_with(server.local_addr(), c);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    let connected = Instant::now();
    if version.is_v5() {
        client.expect_disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT);
    } else {
        client.expect_eof();
    }
    let after = connected.elapsed();
    wait_stats(&server, "the keep alive timeout to count", |s| {
        s.keepalive_timeouts == 1
    });
    after
}

/// 3.1.1: no packet for 1.5 × keep alive closes the connection without a word
/// [MQTT-3.1.2-24]; not before.
#[test]
fn v311_keep_alive_timeout_closes_the_connection() {
    let after = silent_after_connect(V311);
    assert!(
        after >= Duration::from_millis(1500),
        "closed after {after:?}"
    );
}

/// 5.0: no packet for 1.5 × keep alive gets DISCONNECT 0x8D Keep Alive timeout, then the
/// connection closes [MQTT-3.1.2-22].
#[test]
fn v5_keep_alive_timeout_sends_disconnect_0x8d() {
    let after = silent_after_connect(V5);
    assert!(
        after >= Duration::from_millis(1500),
        "closed after {after:?}"
    );
}

/// A client that sends PINGREQ within its keep alive stays connected, well past 1.5 × keep
/// alive, and every PINGREQ gets its PINGRESP [MQTT-3.12.4-1].
#[test]
fn pinging_client_stays_connected() {
    let (_broker, server) = start(config());
    let mut c = connect_packet(V5, "pinger");
    c.keep_alive = 1;
    let (mut client, _) = TestClient::connect_with(server.local_addr(), c);
    for _ in 0..6 {
        // Half a keep alive of silence, during which the server must not close us.
        assert_eq!(
            client.recv_within(Duration::from_millis(500)),
            Err(Ended::Timeout)
        );
        client.ping();
    }
    assert_eq!(server.stats().keepalive_timeouts, 0);
}

/// A second connection with a connected client id takes the session over: the first is
/// closed, on 5.0 after DISCONNECT 0x8E Session taken over [MQTT-3.1.4-3]; the second works.
/// The two connections are served by different workers.
#[test]
fn session_takeover_closes_the_first_socket() {
    for version in [V5, V311] {
        // Two workers: the connections land on different ones, so the takeover crosses them.
        let mut two = config();
        two.workers = 2;
        let (broker, server) = start(two);
        let mut first = TestClient::connect(server.local_addr(), version, "same");
        first.subscribe("t/#", QoS::AtMostOnce);
        let mut second = TestClient::connect(server.local_addr(), version, "same");
        if version.is_v5() {
            first.expect_disconnect(ReasonCode::SESSION_TAKEN_OVER);
        } else {
            first.expect_eof();
        }
        let stats = wait_stats(&server, "the takeover to count", |s| s.taken_over == 1);
        assert_eq!(stats.clients_connected, 1, "{version}");
        second.subscribe("t/#", QoS::AtMostOnce);
        let source = broker.connect(ConnectOptions::new("src")).expect("connect");
        source
            .publish("t/1", "to the second", QoS::AtMostOnce, false)
            .expect("publish");
        assert_eq!(&second.recv_publish().payload[..], b"to the second");
    }
}

/// A persistent session over the network (3.1.1 clean session 0; 5.0 clean start 0 with a
/// Session Expiry Interval): after the socket drops, the session keeps its subscription and
/// queues QoS 1 messages; on reconnect CONNACK has Session Present 1 [MQTT-3.2.2-2], the
/// delivery that was never acknowledged comes again with DUP 1 and its packet id
/// [MQTT-4.4.0-1], then the queued ones in order with DUP 0 [MQTT-4.6.0-2].
#[test]
fn persistent_session_resumes_with_queued_and_unacknowledged_messages() {
    for version in [V311, V5] {
        let (broker, server) = start(config());
        let addr = server.local_addr();
        let mut c = connect_packet(version, "persist");
        c.clean_start = false;
        c.properties.session_expiry_interval = version.is_v5().then_some(600);
        let (mut client, ack) = TestClient::connect_with(addr, c.clone());
        assert!(!ack.session_present);
        client.subscribe("r/#", QoS::AtLeastOnce);
        let source = broker.connect(ConnectOptions::new("src")).expect("connect");
        source
            .publish("r/1", "one", QoS::AtLeastOnce, false)
            .expect("publish");
        let first = client.recv_publish();
        assert!(!first.dup);
        drop(client); // no PUBACK, no DISCONNECT
        wait_until("the session to go offline", || {
            broker.session_stats("persist").is_some_and(|s| !s.online)
        });
        for (topic, payload) in [("r/2", "two"), ("r/3", "three")] {
            source
                .publish(topic, payload, QoS::AtLeastOnce, false)
                .expect("publish");
        }

        let (mut client, ack) = TestClient::connect_with(addr, c);
        assert!(ack.session_present, "{version}");
        let resent = client.recv_publish();
        assert!(resent.dup, "{version}: a resend has DUP 1");
        assert_eq!(resent.packet_id, first.packet_id);
        assert_eq!(
            (resent.topic.as_str(), &resent.payload[..]),
            ("r/1", &b"one"[..])
        );
        client.puback(resent.packet_id.expect("QoS 1"));
        for (topic, payload) in [("r/2", "two"), ("r/3", "three")] {
            let p = client.recv_publish();
            assert!(!p.dup, "{version}: first delivery of {topic}");
            assert_eq!(
                (p.topic.as_str(), &p.payload[..]),
                (topic, payload.as_bytes())
            );
            client.puback(p.packet_id.expect("QoS 1"));
        }
        client.ping();
        let s = broker.session_stats("persist").expect("session");
        assert_eq!(
            (s.queued, s.inflight),
            (0, 0),
            "{version}: everything acknowledged"
        );
        client.disconnect();
    }
}

/// Clean start discards a persistent session: Session Present 0 and nothing queued is sent
/// [MQTT-3.1.2-4] (3.1.1: [MQTT-3.1.2-6]).
#[test]
fn clean_start_discards_the_persistent_session() {
    let (broker, server) = start(config());
    let addr = server.local_addr();
    let mut c = connect_packet(V311, "gone");
    c.clean_start = false;
    let (mut client, _) = TestClient::connect_with(addr, c);
    client.subscribe("g/#", QoS::AtLeastOnce);
    client.disconnect();
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("g/1", "lost", QoS::AtLeastOnce, false)
        .expect("publish");

    let (mut client, ack) = TestClient::connect_with(addr, connect_packet(V311, "gone"));
    assert!(!ack.session_present);
    // A delivery of the old session would be written right after CONNACK, before PINGRESP.
    client.ping();
    let s = broker.session_stats("gone").expect("the new session");
    assert_eq!((s.queued, s.inflight, s.sent), (0, 0, 0));
    assert_eq!(
        broker.stats().subscriptions,
        0,
        "the subscription went with the session"
    );
}

/// Several network publishers send QoS 1 messages at once to two network subscribers on
/// different workers and one in-process subscriber: each gets every message exactly once,
/// and each publisher's messages in the order sent [MQTT-4.6.0-5] (DESIGN: ordering).
#[test]
fn concurrent_publishers_reach_every_subscriber_in_order() {
    const PUBLISHERS: usize = 6;
    const MESSAGES: u16 = 200;
    let mut core = mqlite::Config::default();
    core.max_queued_messages = 10_000; // no drops: this test is about order and loss
    let broker = mqlite::Broker::new(core);
    let mut two = config();
    two.workers = 2;
    let server = serve(&broker, two);
    let addr = server.local_addr();
    let total = PUBLISHERS * usize::from(MESSAGES);

    let inproc = broker
        .connect(ConnectOptions::new("inproc").auto_ack(true))
        .expect("connect");
    inproc
        .subscribe("seq/#", QoS::AtLeastOnce)
        .expect("subscribe");
    let subscribers: Vec<_> = (0..2)
        .map(|i| {
            let mut sub = TestClient::connect(addr, V5, &format!("sub-{i}"));
            sub.subscribe("seq/#", QoS::AtLeastOnce);
            std::thread::spawn(move || {
                let mut got = Vec::with_capacity(total);
                while got.len() < total {
                    let p = sub.recv_publish();
                    sub.puback(p.packet_id.expect("QoS 1"));
                    got.push((p.topic.as_str().to_owned(), p.payload.to_vec()));
                }
                got
            })
        })
        .collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let mut client = TestClient::connect(addr, V311, &format!("pub-{p}"));
            std::thread::spawn(move || {
                let topic = format!("seq/{p}");
                for n in 1..=MESSAGES {
                    client.send(&publish_packet(
                        &topic,
                        &n.to_be_bytes(),
                        QoS::AtLeastOnce,
                        Some(n),
                    ));
                }
                for _ in 1..=MESSAGES {
                    assert!(matches!(client.recv(), mqlite_net::Packet::PubAck(_)));
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().expect("publisher");
    }

    let check = |who: &str, got: Vec<(String, Vec<u8>)>| {
        assert_eq!(got.len(), total, "{who}: every message once");
        let mut next = [1u16; PUBLISHERS];
        for (topic, payload) in got {
            let p: usize = topic["seq/".len()..].parse().expect("publisher index");
            let n = u16::from_be_bytes([payload[0], payload[1]]);
            assert_eq!(n, next[p], "{who}: publisher {p} out of order");
            next[p] += 1;
        }
    };
    for (i, sub) in subscribers.into_iter().enumerate() {
        check(
            &format!("network subscriber {i}"),
            sub.join().expect("subscriber"),
        );
    }
    let mut got = Vec::with_capacity(total);
    while got.len() < total {
        let m = inproc
            .recv_timeout(WAIT)
            .expect("in-process subscriber receives");
        got.push((m.topic().to_owned(), m.payload().to_vec()));
    }
    check("in-process subscriber", got);
}
