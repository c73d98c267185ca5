//! MQTT over TLS: the handshake runs inside the worker's event loop and the connection state
//! machine sees plaintext, so every packet works as over TCP. TLS 1.2 and 1.3, a minimum
//! version per listener, ALPN `mqtt`, plain and TLS listeners side by side, certificates
//! reloaded without dropping connections.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::tls_fixtures;

use common::*;
use mqlite::{Broker, Config, QoS};
use mqlite_net::codec::{ReasonCode, SubAck};
use mqlite_net::{BindError, Packet, Server, TlsError, TlsVersion};
use rustls::version::{TLS12, TLS13};
use tls_fixtures::*;

/// SUBSCRIBE `filter` at QoS 1 with packet id 1.
fn subscribe(client: &mut TlsClient, filter: &str) {
    client.send(&subscribe_packet(filter));
    match client.recv() {
        Packet::SubAck(SubAck { reason_codes, .. }) => {
            assert_eq!(reason_codes, [ReasonCode::GRANTED_QOS_1]);
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

fn subscribe_packet(filter: &str) -> Packet {
    Packet::Subscribe(mqlite_net::codec::Subscribe {
        packet_id: pid(1),
        properties: Default::default(),
        filters: vec![(
            mqlite::TopicFilter::new(filter).unwrap(),
            mqlite::SubOptions::new(QoS::AtLeastOnce),
        )],
    })
}

/// Receives one PUBLISH and returns its topic and payload.
fn recv_publish(client: &mut TlsClient) -> (String, Vec<u8>) {
    match client.recv() {
        Packet::Publish(p) => (p.topic.as_str().to_owned(), p.payload.to_vec()),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// Checks that `client` still gets a PINGRESP.
fn assert_alive(client: &mut TlsClient) {
    client.send(&Packet::PingReq);
    assert!(matches!(client.recv(), Packet::PingResp));
}

#[test]
fn mqtt_works_over_tls_for_every_version() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = serve_tls(&broker, tls_server_config(), pki.tls());
    let setup = pki.client("ca.pem", None);
    for version in [V31, V311, V5] {
        let mut sub = TlsClient::connected(server.local_addr(), &setup, version, "sub");
        assert_eq!(sub.tls.conn.alpn_protocol(), Some(&b"mqtt"[..]));
        subscribe(&mut sub, "t/#");
        let mut publisher = TlsClient::connected(server.local_addr(), &setup, version, "pub");
        publisher.send(&publish_packet("t/1", b"over tls", QoS::AtMostOnce, None));
        assert_eq!(
            recv_publish(&mut sub),
            ("t/1".to_owned(), b"over tls".to_vec())
        );
        // An in-process publisher reaches the TLS subscriber too.
        let local = broker
            .connect(mqlite::ConnectOptions::new("local"))
            .unwrap();
        local
            .publish("t/2", "from inside", QoS::AtMostOnce, false)
            .unwrap();
        assert_eq!(recv_publish(&mut sub).0, "t/2");
    }
    let stats = server.stats();
    assert_eq!(stats.tls_handshakes, 6);
    assert_eq!(stats.tls_handshake_failures, 0);
}

#[test]
fn tls12_and_tls13_both_work_by_default() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = serve_tls(&broker, tls_server_config(), pki.tls());
    for version in [&TLS12, &TLS13] {
        let setup = pki.client("ca.pem", None).only(version);
        let client = TlsClient::connected(server.local_addr(), &setup, V311, "c");
        assert_eq!(client.tls.conn.protocol_version(), Some(version.version));
    }
}

#[test]
fn minimum_version_tls13_refuses_a_tls12_client() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let tls = pki.tls().min_version(TlsVersion::Tls13);
    let server = serve_tls(&broker, tls_server_config(), tls);
    let old = pki.client("ca.pem", None).only(&TLS12);
    let mut client = TlsClient::open(server.local_addr(), &old, V311);
    assert!(client.handshake().is_err());
    wait_stats(&server, "handshake failure", |s| {
        s.tls_handshake_failures == 1
    });
    let new = pki.client("ca.pem", None).only(&TLS13);
    TlsClient::connected(server.local_addr(), &new, V311, "c");
}

/// ALPN (RFC 7301 §3.2): a client that offers protocols but not `mqtt` is refused with
/// `no_application_protocol`; one that offers none is served.
#[test]
fn alpn_without_mqtt_is_refused_and_no_alpn_is_served() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = serve_tls(&broker, tls_server_config(), pki.tls());
    let h2 = pki.client("ca.pem", None).alpn(&[b"h2"]);
    let mut client = TlsClient::open(server.local_addr(), &h2, V311);
    assert!(client.handshake().is_err());
    let none = pki.client("ca.pem", None).alpn(&[]);
    let client = TlsClient::connected(server.local_addr(), &none, V311, "c");
    assert_eq!(client.tls.conn.alpn_protocol(), None);
}

#[test]
fn plain_and_tls_listeners_serve_one_broker() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = Server::builder(broker.clone())
        .config(tls_server_config())
        .listen("127.0.0.1:0")
        .listen_tls("127.0.0.1:0", pki.tls())
        .bind()
        .unwrap()
        .spawn()
        .unwrap();
    let [plain_addr, tls_addr] = server.local_addrs() else {
        panic!("two listeners expected");
    };
    let mut sub = TlsClient::connected(*tls_addr, &pki.client("ca.pem", None), V5, "secure");
    subscribe(&mut sub, "t");
    let mut plain = TestClient::connect(*plain_addr, V5, "plain");
    plain.send(&publish_packet("t", b"across", QoS::AtMostOnce, None));
    assert_eq!(recv_publish(&mut sub).1, b"across");
    assert_eq!(server.stats().tls_handshakes, 1);
}

/// Payloads far larger than a TLS record (16 KiB) and than rustls's 64 KiB buffer cross in
/// both directions intact.
#[test]
fn large_payloads_cross_tls_both_ways() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = serve_tls(&broker, tls_server_config(), pki.tls());
    let setup = pki.client("ca.pem", None);
    let mut sub = TlsClient::connected(server.local_addr(), &setup, V311, "sub");
    subscribe(&mut sub, "big");
    let mut publisher = TlsClient::connected(server.local_addr(), &setup, V311, "pub");
    let payload: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..3 {
        publisher.send(&publish_packet("big", &payload, QoS::AtMostOnce, None));
    }
    for _ in 0..3 {
        assert_eq!(recv_publish(&mut sub).1, payload);
    }
}

/// A reload swaps the certificate for new handshakes only: a connection opened before keeps
/// working, a client that trusts only the new CA gets in after the reload and not before.
#[test]
fn reload_changes_new_handshakes_and_keeps_connections() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = serve_tls(&broker, tls_server_config(), pki.tls());
    let mut before = TlsClient::connected(
        server.local_addr(),
        &pki.client("ca.pem", None),
        V311,
        "before",
    );

    let trusts_other = pki.client("other-ca.pem", None);
    let mut refused = TlsClient::open(server.local_addr(), &trusts_other, V311);
    assert!(
        refused.handshake().is_err(),
        "the old certificate is not from the other CA"
    );

    for ext in ["pem", "key"] {
        std::fs::copy(
            pki.path(&format!("other-server.{ext}")),
            pki.path(&format!("server.{ext}")),
        )
        .unwrap();
    }
    server.reload_tls().unwrap();
    TlsClient::connected(server.local_addr(), &trusts_other, V311, "after");
    assert_alive(&mut before);

    // Bad files: the reload fails, naming the file, and the last good certificate stays.
    std::fs::write(pki.path("server.key"), "not a key").unwrap();
    let err = server.reload_tls().unwrap_err();
    assert!(err.to_string().contains("server.key"), "{err}");
    TlsClient::connected(server.local_addr(), &trusts_other, V311, "still");
}

/// A TLS listener whose key file is missing fails to bind with [`BindError::Tls`], which
/// holds the [`TlsError`] naming the file.
#[test]
fn bind_reports_bad_tls_files() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let tls = mqlite_net::TlsConfig::new(pki.path("server.pem"), pki.path("missing.key"));
    let err = Server::builder(broker)
        .listen_tls("127.0.0.1:0", tls)
        .bind()
        .unwrap_err();
    assert!(err.to_string().contains("missing.key"), "{err}");
    assert!(
        matches!(&err, BindError::Tls(TlsError::Read { path, .. }) if path.ends_with("missing.key")),
        "{err:?}"
    );
}

/// A certificate path that does not exist, or a file with no certificate in it, is a
/// [`BindError::Tls`] too, naming the certificate file.
#[test]
fn bind_reports_a_bad_certificate_path_as_tls() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let addr = "127.0.0.1:0";
    let tls = mqlite_net::TlsConfig::new(pki.path("no-such-cert.pem"), pki.path("server.key"));
    let err = Server::builder(broker.clone())
        .listen_tls(addr, tls)
        .bind()
        .unwrap_err();
    match err {
        BindError::Tls(TlsError::Read { path, .. }) => assert!(path.ends_with("no-such-cert.pem")),
        other => panic!("expected BindError::Tls(TlsError::Read), got {other:?}"),
    }
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let tls = mqlite_net::TlsConfig::new(garbage, pki.path("server.key"));
    let err = Server::builder(broker)
        .listen_tls(addr, tls)
        .bind()
        .unwrap_err();
    assert!(
        matches!(err, BindError::Tls(TlsError::Pem { .. })),
        "{err:?}"
    );
}

#[test]
fn shutdown_closes_tls_clients_with_disconnect() {
    let pki = Pki::new();
    let broker = Broker::new(Config::default());
    let server = serve_tls(&broker, tls_server_config(), pki.tls());
    let mut client =
        TlsClient::connected(server.local_addr(), &pki.client("ca.pem", None), V5, "c");
    server.shutdown();
    match client.recv() {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::SERVER_SHUTTING_DOWN),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    // Then close_notify: a clean end of the TLS stream.
    assert!(matches!(client.recv_within(WAIT), Err(TlsEnded::Eof)));
}
