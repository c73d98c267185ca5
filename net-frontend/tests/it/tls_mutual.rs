//! Mutual TLS: with `require_certificate` a client without a valid certificate (none,
//! expired, from another CA) fails the handshake and never reaches CONNECT; the refusal is
//! counted. `use_identity_as_username` logs the client in with its certificate's CN (or a
//! chosen Subject Alternative Name) in place of the CONNECT's username and password.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::tls_fixtures;

use std::sync::{Arc, Mutex};

use common::*;
use mqlite::{Broker, ClientInfo, Config, Hooks};
use mqlite_net::auth::{Auth, ClientIdRules};
use mqlite_net::codec::ReasonCode;
use mqlite_net::{IdentitySource, NetStats, Packet, ServerConfig, ServerHandle, TlsConfig};
use tls_fixtures::*;

/// What the authenticate hook saw: client id, username, password.
type Credentials = (String, Option<String>, Option<Vec<u8>>);

/// Records the credentials every connection was authenticated with.
#[derive(Debug, Default, Clone)]
struct Seen(Arc<Mutex<Vec<Credentials>>>);

impl Hooks for Seen {
    fn authenticate(&self, client: &ClientInfo<'_>, password: Option<&[u8]>) -> bool {
        self.0.lock().unwrap().push((
            client.client_id.to_owned(),
            client.username.map(str::to_owned),
            password.map(<[u8]>::to_vec),
        ));
        true
    }
}

fn start(tls: TlsConfig) -> (Broker, ServerHandle, Seen) {
    start_with(tls_server_config(), tls)
}

fn start_with(config: ServerConfig, tls: TlsConfig) -> (Broker, ServerHandle, Seen) {
    let seen = Seen::default();
    let broker = Broker::builder()
        .config(Config::default())
        .hooks(seen.clone())
        .build();
    let server = serve_tls(&broker, config, tls);
    (broker, server, seen)
}

/// Connects with `cert` and asserts the server never answered CONNECT: the TLS 1.3 client
/// may finish its side of the handshake, but its CONNECT is never read; the server's alert
/// (or the close) is all it gets.
fn assert_refused(server: &ServerHandle, pki: &Pki, cert: Option<&str>) {
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let setup = pki.client("ca.pem", cert).only(version);
        let (_client, answer) = TlsClient::connect(server.local_addr(), &setup, V311, "c");
        assert!(
            matches!(answer, Err(TlsEnded::Error(_) | TlsEnded::Eof)),
            "{cert:?} over {version:?}: {answer:?}"
        );
    }
}

fn refusals(server: &ServerHandle, n: u64) -> NetStats {
    let stats = wait_stats(server, "refused certificates", |s| {
        s.tls_certificates_refused == n
    });
    assert_eq!(stats.tls_handshake_failures, n);
    assert_eq!(stats.clients_connected, 0);
    assert_eq!(stats.packets_received, 0, "no CONNECT may be read");
    stats
}

#[test]
fn valid_client_certificate_is_accepted() {
    let pki = Pki::new();
    let (_broker, server, seen) = start(pki.mtls());
    let client = TlsClient::connected(
        server.local_addr(),
        &pki.client("ca.pem", Some("client")),
        V5,
        "dev",
    );
    assert!(client.tls.conn.peer_certificates().is_some());
    // Without use_identity_as_username the CONNECT's credentials are used as sent.
    assert_eq!(seen.0.lock().unwrap()[0], ("dev".to_owned(), None, None));
}

#[test]
fn missing_certificate_fails_the_handshake() {
    let pki = Pki::new();
    let (_broker, server, _) = start(pki.mtls());
    assert_refused(&server, &pki, None);
    refusals(&server, 2);
}

#[test]
fn expired_certificate_fails_the_handshake() {
    let pki = Pki::new();
    let (_broker, server, _) = start(pki.mtls());
    assert_refused(&server, &pki, Some("expired"));
    refusals(&server, 2);
}

#[test]
fn certificate_of_another_ca_fails_the_handshake() {
    let pki = Pki::new();
    let (_broker, server, _) = start(pki.mtls());
    assert_refused(&server, &pki, Some("stranger"));
    refusals(&server, 2);
}

/// With a `cafile` and no `require_certificate`, a certificate is optional, but one that is
/// shown must be valid.
#[test]
fn optional_certificate_must_be_valid_when_shown() {
    let pki = Pki::new();
    let (_broker, server, _) = start(pki.tls().cafile(pki.path("ca.pem")));
    TlsClient::connected(
        server.local_addr(),
        &pki.client("ca.pem", None),
        V311,
        "anon",
    );
    TlsClient::connected(
        server.local_addr(),
        &pki.client("ca.pem", Some("client")),
        V311,
        "dev",
    );
    assert_refused(&server, &pki, Some("stranger"));
    wait_stats(&server, "refusals", |s| s.tls_certificates_refused == 2);
}

/// Mosquitto's `use_identity_as_username`: the CN replaces the username, and the password
/// is dropped (the certificate is the credential).
#[test]
fn identity_replaces_username_and_password() {
    let pki = Pki::new();
    let (_broker, server, seen) = start(pki.mtls().use_identity_as_username(true));
    let setup = pki.client("ca.pem", Some("client"));
    let mut client = TlsClient::open(server.local_addr(), &setup, V311);
    let mut connect = connect_packet(V311, "dev");
    connect.username = Some("mallory".to_owned());
    connect.password = Some(bytes::Bytes::from_static(b"secret"));
    client.send(&Packet::Connect(Box::new(connect)));
    assert!(matches!(client.recv(), Packet::ConnAck(ack) if !ack.reason_code.is_error()));
    assert_eq!(
        seen.0.lock().unwrap()[0],
        ("dev".to_owned(), Some(CLIENT_CN.to_owned()), None)
    );
}

#[test]
fn identity_from_a_uri_subject_alt_name() {
    let pki = Pki::new();
    let tls = pki
        .mtls()
        .use_identity_as_username(true)
        .identity_source(IdentitySource::SanUri);
    let (_broker, server, seen) = start(tls);
    TlsClient::connected(
        server.local_addr(),
        &pki.client("ca.pem", Some("client")),
        V5,
        "dev",
    );
    assert_eq!(seen.0.lock().unwrap()[0].1.as_deref(), Some(CLIENT_URI));
}

/// A valid certificate without the identity the listener logs clients in with fails the
/// handshake too.
#[test]
fn certificate_without_the_identity_fails_the_handshake() {
    let pki = Pki::new();
    let (_broker, server, seen) = start(pki.mtls().use_identity_as_username(true));
    assert_refused(&server, &pki, Some("nocn"));
    refusals(&server, 2);
    assert!(seen.0.lock().unwrap().is_empty());
    TlsClient::connected(
        server.local_addr(),
        &pki.client("ca.pem", Some("client")),
        V311,
        "ok",
    );
}

/// `clientid_equals_username` with `use_identity_as_username`: the certificate's identity is
/// the user name the client id must equal, whatever user name the CONNECT carries. The
/// identity as client id connects; another id, even one equal to the CONNECT's own user
/// name, is refused with CONNACK 0x85 (5.0) / return code 0x02 (3.1.1) and the connection
/// closed (5.0 [MQTT-3.1.3-8], 3.1.1 [MQTT-3.1.3-9]); the refused ones never reach the
/// embedder's hooks.
#[test]
fn client_id_must_equal_the_certificate_identity() {
    let mut rules = ClientIdRules::default();
    rules.equals_username = true;
    let auth = Auth::builder().client_ids(rules).build();
    let mut config = tls_server_config();
    config.auth = auth.clone();
    let pki = Pki::new();
    let (_broker, server, seen) = start_with(config, pki.mtls().use_identity_as_username(true));
    let setup = pki.client("ca.pem", Some("client"));
    // CONNECT with user name `mallory`, which the listener replaces with the identity.
    let connect = |version, client_id: &str| {
        let mut client = TlsClient::open(server.local_addr(), &setup, version);
        let mut connect = connect_packet(version, client_id);
        connect.username = Some("mallory".to_owned());
        connect.password = Some(bytes::Bytes::from_static(b"secret"));
        client.send(&Packet::Connect(Box::new(connect)));
        match client.recv() {
            Packet::ConnAck(ack) => (client, ack.reason_code),
            other => panic!("expected CONNACK for {client_id}, got {other:?}"),
        }
    };
    for version in [V5, V311] {
        let (ok, code) = connect(version, CLIENT_CN);
        assert_eq!(code, ReasonCode::SUCCESS, "{version}");
        drop(ok);
        for client_id in ["mallory", "device-2"] {
            let (mut refused, code) = connect(version, client_id);
            // On 3.1.1 the codec decodes return code 0x02 as this reason code.
            assert_eq!(
                code,
                ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                "{client_id} over {version}"
            );
            assert!(
                matches!(refused.recv_within(TLS_WAIT), Err(TlsEnded::Eof)),
                "{client_id} over {version}: closed after the refusal"
            );
        }
    }
    assert_eq!(auth.stats().client_id_refused, 4);
    let identity = (CLIENT_CN.to_owned(), Some(CLIENT_CN.to_owned()), None);
    assert_eq!(*seen.0.lock().unwrap(), [identity.clone(), identity]);
}
