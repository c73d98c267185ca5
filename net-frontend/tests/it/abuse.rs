//! Abuse limits over real sockets (issue #10, "Abuse limits"): connections per listener and
//! per source address and the connection rate per address, refused at accept and counted;
//! input rates per client, which slow a publisher by pausing reads without disconnecting it
//! or dropping anything it sent. Every client here comes from 127.0.0.1, one address.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::*;
use mqlite::{Broker, Client, Config, ConnectOptions, QoS};
use mqlite_net::codec::{ReasonCode, encode};
use mqlite_net::{ListenerConfig, ListenerLimits, Packet, Rate, Server, ServerHandle};

/// Opens a connection and logs in as `id`: the client if the server answered CONNACK, `None`
/// if it closed the connection unread (a refusal at accept).
fn attempt(addr: SocketAddr, id: &str) -> Option<TestClient> {
    let mut client = TestClient::open(addr, V311);
    let mut connect = BytesMut::new();
    let packet = Packet::Connect(Box::new(connect_packet(V311, id)));
    encode(&packet, V311, &mut connect).unwrap();
    // A refused connection may be closed before the write: its error shows in the read.
    let _ = client.stream.write_all(&connect);
    match client.recv_within(WAIT) {
        Ok(Packet::ConnAck(ack)) => {
            assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "CONNACK of {id}");
            Some(client)
        }
        Err(Ended::Eof | Ended::Reset) => None,
        other => panic!("{id}: expected CONNACK or a close, got {other:?}"),
    }
}

/// A one-worker server whose every listener has `limits`.
fn start_limited(limits: ListenerLimits) -> (Broker, ServerHandle) {
    let mut cfg = config();
    cfg.limits = limits;
    start(cfg)
}

/// Connections past `max_connections_per_ip` are closed at accept and counted; the open
/// ones are unaffected, and a place that frees up can be taken again.
#[test]
fn connections_past_the_per_ip_cap_are_closed_at_accept() {
    let limits = ListenerLimits::default().max_connections_per_ip(2);
    let (_broker, server) = start_limited(limits);
    let addr = server.local_addr();
    let mut first = attempt(addr, "a").expect("first admitted");
    let second = attempt(addr, "b").expect("second admitted");
    assert!(attempt(addr, "c").is_none(), "third refused");
    let stats = wait_stats(&server, "the refusal to count", |s| {
        s.connections_refused_per_ip == 1
    });
    assert_eq!((stats.connections_open, stats.tracked_addresses), (2, 1));
    first.ping();

    second.disconnect();
    wait_stats(&server, "a place to free up", |s| s.connections_open == 1);
    attempt(addr, "d").expect("admitted again").ping();
    assert_eq!(server.stats().connections_refused_per_ip, 1);
}

/// Connections from one address faster than `connect_rate_per_ip` are closed at accept and
/// counted: over the test's duration at most `burst + rate × elapsed` get through, and once
/// the bucket refills the address is served again.
#[test]
fn connections_past_the_per_ip_rate_are_closed_at_accept() {
    let limits = ListenerLimits::default().connect_rate_per_ip(Rate::new(2, 3));
    let (_broker, server) = start_limited(limits);
    let addr = server.local_addr();
    let started = Instant::now();
    let admitted: Vec<_> = (0..10)
        .filter_map(|i| attempt(addr, &format!("c{i}")))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let bound = 3 + (2.0 * elapsed).floor() as usize;
    assert!(
        (3..=bound).contains(&admitted.len()),
        "{} admitted in {elapsed:.2} s (burst 3, 2/s)",
        admitted.len()
    );
    let refused = 10 - admitted.len() as u64;
    wait_stats(&server, "the refusals to count", |s| {
        s.connections_rate_limited == refused
    });
    // The refill lets the address in again, within a second at 2/s.
    let mut again = None;
    wait_until("the bucket to refill", || {
        again = attempt(addr, "again");
        again.is_some()
    });
    again.unwrap().ping();
}

/// A listener's own `max_connections` closes connections past it at accept, while another
/// listener of the same server still takes connections.
#[test]
fn listener_max_connections_leaves_other_listeners_open() {
    let limits = ListenerLimits::default().max_connections(1);
    let broker = Broker::new(Config::default());
    let server = Server::builder(broker)
        .config(config())
        .listen_with("127.0.0.1:0", ListenerConfig::new().limits(limits))
        .listen("127.0.0.1:0")
        .bind()
        .unwrap()
        .spawn()
        .unwrap();
    let (small, other) = (server.local_addrs()[0], server.local_addrs()[1]);
    let mut only = attempt(small, "only").expect("first on the small listener");
    assert!(attempt(small, "extra").is_none());
    let mut clients: Vec<_> = (0..3)
        .map(|i| attempt(other, &format!("o{i}")).expect("the other listener"))
        .collect();
    wait_stats(&server, "the refusal to count", |s| {
        s.connections_refused == 1
    });
    only.ping();
    for client in &mut clients {
        client.ping();
    }
}

/// An in-process subscriber of `t/#` with room for every message of the test.
fn subscriber(broker: &Broker) -> Client {
    let client = broker
        .connect(ConnectOptions::new("sub").auto_ack(true))
        .unwrap();
    client.subscribe("t/#", QoS::AtMostOnce).unwrap();
    client
}

/// Sends `count` QoS 0 PUBLISHes of `payload_bytes` (the index in the first two bytes) in one
/// write.
fn flood(client: &mut TestClient, count: u16, payload_bytes: usize) {
    let mut out = BytesMut::new();
    for i in 0..count {
        let mut payload = vec![0u8; payload_bytes];
        payload[..2].copy_from_slice(&i.to_be_bytes());
        encode(
            &publish_packet("t/x", &payload, QoS::AtMostOnce, None),
            V5,
            &mut out,
        )
        .unwrap();
    }
    client.send_bytes(&out);
}

/// Receives `count` messages in order; checks `within_bound(received, since_start)` at each
/// and returns when the last arrived, after `started`.
fn receive_all(
    sub: &Client,
    count: u16,
    started: Instant,
    within_bound: impl Fn(u64, f64) -> bool,
) -> Duration {
    for i in 0..count {
        let msg = sub
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("message {i} of {count}: {e}"));
        let elapsed = started.elapsed();
        assert_eq!(
            &msg.payload()[..2],
            &i.to_be_bytes(),
            "in order, none dropped"
        );
        let received = u64::from(i) + 1;
        assert!(
            within_bound(received, elapsed.as_secs_f64()),
            "{received} messages after {elapsed:?}: above the rate"
        );
    }
    started.elapsed()
}

/// A client publishing faster than `inbound_message_rate` is slowed: by any time `t` after
/// it connected, at most `burst + rate × t` of its messages went through. It is never
/// disconnected and none of its messages is dropped: all arrive, in order, just later.
#[test]
fn inbound_message_rate_slows_a_publisher_without_dropping() {
    const RATE: u64 = 100;
    const BURST: u64 = 20;
    const COUNT: u16 = 220;
    let limits = ListenerLimits::default().inbound_message_rate(Rate::new(RATE, BURST));
    let (broker, server) = start_limited(limits);
    let sub = subscriber(&broker);
    let started = Instant::now(); // before the connection: the bucket fills no earlier
    let mut publisher = TestClient::connect(server.local_addr(), V5, "pub");
    flood(&mut publisher, COUNT, 8);
    let took = receive_all(&sub, COUNT, started, |received, secs| {
        received as f64 <= BURST as f64 + RATE as f64 * secs + 1.0
    });
    let slowest = (u64::from(COUNT) - BURST) as f64 / RATE as f64;
    assert!(took.as_secs_f64() >= slowest * 0.9, "only {took:?}");
    publisher.ping();
    let stats = server.stats();
    assert!(stats.inbound_message_throttles > 0, "{stats:?}");
    assert_eq!(stats.clients_connected, 1);
    assert_eq!(stats.connections_open, 1);
    publisher.disconnect();
}

/// Likewise for bytes: a client past `inbound_byte_rate` is read no faster than
/// `burst + rate × t` bytes by time `t`, and loses nothing.
#[test]
fn inbound_byte_rate_slows_a_publisher_without_dropping() {
    const RATE: u64 = 20_000;
    const BURST: u64 = 4_000;
    const COUNT: u16 = 40;
    const PAYLOAD: usize = 1_000;
    let limits = ListenerLimits::default().inbound_byte_rate(Rate::new(RATE, BURST));
    let (broker, server) = start_limited(limits);
    let sub = subscriber(&broker);
    let started = Instant::now();
    let mut publisher = TestClient::connect(server.local_addr(), V5, "pub");
    flood(&mut publisher, COUNT, PAYLOAD);
    let took = receive_all(&sub, COUNT, started, |received, secs| {
        (received * PAYLOAD as u64) as f64 <= BURST as f64 + RATE as f64 * secs
    });
    let slowest = (u64::from(COUNT) * PAYLOAD as u64 - BURST) as f64 / RATE as f64;
    assert!(took.as_secs_f64() >= slowest * 0.9, "only {took:?}");
    publisher.ping();
    let stats = server.stats();
    assert!(stats.inbound_byte_throttles > 0, "{stats:?}");
    assert_eq!(stats.clients_connected, 1);
    publisher.disconnect();
}

/// Without limits (the default) nothing is tracked or throttled.
#[test]
fn no_limits_by_default() {
    let (broker, server) = start(config());
    let sub = subscriber(&broker);
    let mut publisher = TestClient::connect(server.local_addr(), V5, "pub");
    flood(&mut publisher, 500, 8);
    receive_all(&sub, 500, Instant::now(), |_, _| true);
    let stats = server.stats();
    assert_eq!(
        (
            stats.tracked_addresses,
            stats.inbound_message_throttles,
            stats.inbound_byte_throttles
        ),
        (0, 0, 0)
    );
}
