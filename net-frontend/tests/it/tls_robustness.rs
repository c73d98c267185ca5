//! Bad input on a TLS listener harms only its own connection: a client that stalls in the
//! handshake is closed after `connect_timeout`, random bytes and a plain MQTT CONNECT fail the
//! handshake at once, garbage after the handshake closes that connection; meanwhile a TLS
//! client keeps publishing and receiving.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::tls_fixtures;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use mqlite::{Broker, Config, QoS};
use mqlite_net::{Packet, ServerHandle};
use tls_fixtures::*;

/// A subscriber and a publisher over TLS that check, between bad connections, that the
/// server still serves them.
struct Bystanders {
    sub: TlsClient,
    publisher: TlsClient,
    sent: u32,
}

impl Bystanders {
    fn new(server: &ServerHandle, pki: &Pki) -> Self {
        let setup = pki.client("ca.pem", None);
        let mut sub = TlsClient::connected(server.local_addr(), &setup, V311, "sub");
        sub.send(&Packet::Subscribe(mqlite_net::codec::Subscribe {
            packet_id: pid(1),
            properties: Default::default(),
            filters: vec![(
                mqlite::TopicFilter::new("live").unwrap(),
                mqlite::SubOptions::new(QoS::AtMostOnce),
            )],
        }));
        assert!(matches!(sub.recv(), Packet::SubAck(_)));
        let publisher = TlsClient::connected(server.local_addr(), &setup, V311, "pub");
        Self {
            sub,
            publisher,
            sent: 0,
        }
    }

    /// One message through the server, timed.
    fn round_trip(&mut self) -> Duration {
        self.sent += 1;
        let payload = self.sent.to_be_bytes();
        let start = Instant::now();
        self.publisher
            .send(&publish_packet("live", &payload, QoS::AtMostOnce, None));
        match self.sub.recv() {
            Packet::Publish(p) => assert_eq!(&p.payload[..], payload),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
        start.elapsed()
    }
}

fn start(connect_timeout: Duration) -> (Broker, ServerHandle, Pki) {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let mut config = tls_server_config();
    config.connect_timeout = connect_timeout;
    let server = serve_tls(&broker, config, pki.tls());
    (broker, server, pki)
}

/// Reads until the server closes; panics if that takes longer than `within`.
fn expect_closed(sock: &mut TcpStream, within: Duration) -> Vec<u8> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close within {within:?}: {e}"),
        }
    }
}

/// A client that sends half a ClientHello and then nothing is closed by the CONNECT timeout;
/// the worker serves others meanwhile.
#[test]
fn stalled_handshake_is_closed_after_connect_timeout() {
    let (_broker, server, pki) = start(Duration::from_millis(600));
    let mut others = Bystanders::new(&server, &pki);
    // `silent` opens TCP and sends nothing; its ClientHello goes, cut in half, to `stalled`.
    let mut silent = TlsClient::open(server.local_addr(), &pki.client("ca.pem", None), V311);
    let mut hello = Vec::new();
    silent.tls.conn.write_tls(&mut hello).unwrap();
    let mut stalled = TcpStream::connect(server.local_addr()).unwrap();
    stalled.write_all(&hello[..hello.len() / 2]).unwrap();

    let opened = Instant::now();
    for _ in 0..5 {
        others.round_trip();
    }
    expect_closed(&mut stalled, WAIT);
    expect_closed(&mut silent.tls.sock, WAIT);
    assert!(opened.elapsed() >= Duration::from_millis(500));
    let stats = wait_stats(&server, "two CONNECT timeouts", |s| s.connect_timeouts == 2);
    assert_eq!(stats.tls_handshakes, 2, "only the bystanders'");
    others.round_trip();
}

#[test]
fn random_bytes_as_a_handshake_close_only_that_connection() {
    let (_broker, server, pki) = start(Duration::from_secs(10));
    let mut others = Bystanders::new(&server, &pki);
    // A fixed pseudo-random sequence (xorshift), reproducible.
    let mut x: u32 = 0x2545_f491;
    for round in 0..20u64 {
        let garbage: Vec<u8> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut sock = TcpStream::connect(server.local_addr()).unwrap();
        // Ignore a reset while writing: the server may close after the first bytes.
        let _ = sock.write_all(&garbage);
        expect_closed(&mut sock, WAIT);
        wait_stats(&server, "handshake failure", |s| {
            s.tls_handshake_failures == round + 1
        });
        others.round_trip();
    }
    assert_eq!(server.stats().clients_connected, 2);
}

/// A plain MQTT CONNECT is not a TLS record: the handshake fails with an alert, no CONNACK.
#[test]
fn plain_connect_to_the_tls_port_fails_the_handshake() {
    let (_broker, server, pki) = start(Duration::from_secs(10));
    let mut others = Bystanders::new(&server, &pki);
    let mut plain = TestClient::open(server.local_addr(), V311);
    plain.send(&Packet::Connect(Box::new(connect_packet(V311, "plain"))));
    let reply = expect_closed(&mut plain.stream, WAIT);
    // At most a TLS alert record (content type 21), never an MQTT CONNACK (0x20).
    assert!(reply.is_empty() || reply[0] == 21, "{reply:?}");
    wait_stats(&server, "handshake failure", |s| {
        s.tls_handshake_failures == 1
    });
    others.round_trip();
}

/// After the handshake, bytes that are not TLS records end that connection only.
#[test]
fn garbage_after_the_handshake_closes_only_that_connection() {
    let (_broker, server, pki) = start(Duration::from_secs(10));
    let mut others = Bystanders::new(&server, &pki);
    let mut victim =
        TlsClient::connected(server.local_addr(), &pki.client("ca.pem", None), V311, "v");
    victim
        .tls
        .sock
        .write_all(&[0x17, 0x03, 0x03, 0x00, 0x20])
        .unwrap();
    victim.tls.sock.write_all(&[0xAB; 32]).unwrap();
    assert!(victim.recv_within(WAIT).is_err());
    wait_stats(&server, "malformed", |s| s.malformed_packets == 1);
    others.round_trip();
}

/// Many failed handshakes in a row leave a TLS client's round trips fast.
#[test]
fn failed_handshakes_do_not_slow_others() {
    let (_broker, server, pki) = start(Duration::from_secs(10));
    let mut others = Bystanders::new(&server, &pki);
    let before = (0..20).map(|_| others.round_trip()).max().unwrap();
    let rounds = if cfg!(debug_assertions) { 100 } else { 1000 };
    for _ in 0..rounds {
        let mut sock = TcpStream::connect(server.local_addr()).unwrap();
        let _ = sock.write_all(b"GET / HTTP/1.1\r\n\r\n");
        drop(sock);
    }
    wait_stats(&server, "handshake failures", |s| {
        s.tls_handshake_failures == rounds && s.connections_open == 2
    });
    let after = (0..20).map(|_| others.round_trip()).max().unwrap();
    // No timing assertion (tests never assert timings): this is the number to look at when
    // it fails, and the check that every round trip completed.
    eprintln!("slowest round trip before: {before:?}, after {rounds} failed handshakes: {after:?}");
}
