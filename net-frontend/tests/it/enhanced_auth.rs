//! MQTT 5.0 enhanced authentication over real sockets (§4.12): the AUTH exchange at CONNECT
//! and re-authentication, run by the embedder's `Hooks::start_auth`, and the denial events
//! they report through `Hooks::on_event`. Issue #10, "Authentication".
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use crate::auth_common;
use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use mqlite::{
    AuthStep, Authenticator, Broker, Client, ClientInfo, Config, ConnectOptions, Event, Hooks, QoS,
};
use mqlite_net::auth::Auth;
use mqlite_net::codec::{Auth as AuthPacket, ConnAck, Connect, Properties, ReasonCode};
use mqlite_net::{Packet, ServerConfig, ServerHandle};

use auth_common::{connected, login, passwords, try_connect, with_will};
use common::{TestClient, V5, config, publish_packet, serve, wait_stats};

/// A two-step challenge: the client opens with `hello`, gets `nonce`, answers
/// `secret:nonce`, and is welcomed.
#[derive(Debug, Default)]
struct Challenge {
    sent: bool,
}

impl Authenticator for Challenge {
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        match (self.sent, data) {
            (false, Some(b"hello")) => {
                self.sent = true;
                AuthStep::Continue(b"nonce".to_vec())
            }
            (true, Some(b"secret:nonce")) => AuthStep::Success(Some(b"welcome".to_vec())),
            _ => AuthStep::Fail,
        }
    }
}

/// One step: the CONNECT's data must be `token`.
#[derive(Debug)]
struct Token;

impl Authenticator for Token {
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        match data {
            Some(b"token") => AuthStep::Success(None),
            _ => AuthStep::Fail,
        }
    }
}

/// The embedder: methods `CHALLENGE` and `TOKEN`; a password login needs some password (so
/// a client of enhanced authentication, which sends none, shows that the exchange replaces
/// `authenticate`); records the connection denials it is told of.
#[derive(Debug, Default, Clone)]
struct Gate(Arc<Mutex<Vec<String>>>);

impl Hooks for Gate {
    fn authenticate(&self, _: &ClientInfo<'_>, password: Option<&[u8]>) -> bool {
        password.is_some()
    }

    fn start_auth(&self, _: &ClientInfo<'_>, method: &str) -> Option<Box<dyn Authenticator>> {
        match method {
            "CHALLENGE" => Some(Box::new(Challenge::default())),
            "TOKEN" => Some(Box::new(Token)),
            _ => None,
        }
    }

    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::ConnectDenied {
                client_id,
                username,
                reason,
            } => format!("connect {client_id} {username:?} {reason:?}"),
            Event::ReauthDenied {
                client_id, reason, ..
            } => format!("reauth {client_id} {reason:?}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Gate {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A broker with `Gate`'s hooks (no `$SYS` noise) and a one-worker server with `config`.
fn start(config: ServerConfig) -> (Gate, Broker, ServerHandle) {
    let gate = Gate::default();
    let mut broker_config = Config::default();
    broker_config.sys_interval = None;
    let broker = Broker::builder()
        .config(broker_config)
        .hooks(gate.clone())
        .build();
    let server = serve(&broker, config);
    (gate, broker, server)
}

/// An in-process client (with a password, as `Gate` wants) subscribed to everything.
fn watcher(broker: &Broker) -> Client {
    let options = ConnectOptions::new("watcher").credentials("watcher", Some("pw".into()));
    let watcher = broker.connect(options).unwrap();
    watcher.subscribe("#", QoS::AtMostOnce).unwrap();
    watcher
}

/// Asserts `watcher` received nothing: it publishes a marker and the marker comes first.
fn assert_nothing_published(watcher: &Client) {
    watcher
        .publish("marker", "m", QoS::AtMostOnce, false)
        .unwrap();
    let first = watcher.recv_timeout(common::WAIT).unwrap();
    assert_eq!(first.topic(), "marker", "something was published");
}

/// A 5.0 CONNECT of `client_id` with Authentication Method `method` and data `data`.
fn auth_connect(client_id: &str, method: &str, data: Option<&[u8]>) -> Connect {
    let mut connect = common::connect_packet(V5, client_id);
    connect.properties.authentication_method = Some(method.to_owned());
    connect.properties.authentication_data = data.map(Bytes::copy_from_slice);
    connect
}

/// An AUTH packet with `code`, `method` and `data`.
fn auth(code: ReasonCode, method: &str, data: &[u8]) -> Packet {
    let properties = Properties {
        authentication_method: Some(method.to_owned()),
        authentication_data: Some(Bytes::copy_from_slice(data)),
        ..Properties::default()
    };
    Packet::Auth(AuthPacket {
        reason_code: code,
        properties,
    })
}

/// The next packet, which must be an AUTH with `code`, `method` and `data`.
fn expect_auth(client: &mut TestClient, code: ReasonCode, method: &str, data: Option<&[u8]>) {
    match client.recv() {
        Packet::Auth(a) => {
            assert_eq!(a.reason_code, code, "{a:?}");
            assert_eq!(a.properties.authentication_method.as_deref(), Some(method));
            assert_eq!(a.properties.authentication_data.as_deref(), data);
        }
        other => panic!("expected AUTH {code}, got {other:?}"),
    }
}

/// The next packet, which must be a CONNACK.
fn expect_connack(client: &mut TestClient) -> ConnAck {
    match client.recv() {
        Packet::ConnAck(ack) => ack,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Opens a connection and runs the `CHALLENGE` exchange up to the server's challenge.
fn challenged(server: &ServerHandle, connect: Connect) -> TestClient {
    let mut client = TestClient::open(server.local_addr(), V5);
    client.send(&Packet::Connect(Box::new(connect)));
    let continue_code = ReasonCode::CONTINUE_AUTHENTICATION;
    expect_auth(&mut client, continue_code, "CHALLENGE", Some(b"nonce"));
    client
}

/// Connects `client_id` through the whole `CHALLENGE` exchange.
fn authenticated(server: &ServerHandle, connect: Connect) -> TestClient {
    let mut client = challenged(server, connect);
    let answer = auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "CHALLENGE",
        b"secret:nonce",
    );
    client.send(&answer);
    let ack = expect_connack(&mut client);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    client
}

/// The whole exchange: CONNECT with method and data, AUTH 0x18 from the server
/// [MQTT-4.12.0-2], AUTH 0x18 from the client [MQTT-4.12.0-3], CONNACK 0x00 carrying the
/// same method [MQTT-4.12.0-5] and the final data. `Hooks::authenticate`, which refuses any
/// client without a password, is not consulted: the exchange was the authentication.
#[test]
fn challenge_exchange_ends_in_connack_with_method() {
    let (gate, _broker, server) = start(config());
    let connect = auth_connect("c", "CHALLENGE", Some(b"hello"));
    let mut client = challenged(&server, connect);
    client.send(&auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "CHALLENGE",
        b"secret:nonce",
    ));
    let ack = expect_connack(&mut client);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(
        ack.properties.authentication_method.as_deref(),
        Some("CHALLENGE")
    );
    assert_eq!(
        ack.properties.authentication_data.as_deref(),
        Some(&b"welcome"[..])
    );
    client.ping();
    client.disconnect();
    assert!(gate.events().is_empty(), "{:?}", gate.events());
}

/// A method that succeeds in one step: CONNACK at once, with the method, no AUTH.
#[test]
fn one_step_method_connacks_at_once() {
    let (_gate, _broker, server) = start(config());
    let connect = auth_connect("t", "TOKEN", Some(b"token"));
    let (client, ack) = TestClient::connect_with(server.local_addr(), connect);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(
        ack.properties.authentication_method.as_deref(),
        Some("TOKEN")
    );
    assert_eq!(ack.properties.authentication_data, None);
    client.disconnect();
}

/// A wrong answer: CONNACK 0x87 and the connection closed [MQTT-4.12.0-4]; the will is not
/// published (there never was a session), and the refusal is counted and reported.
#[test]
fn wrong_answer_is_refused_without_will() {
    let (gate, broker, server) = start(config());
    let watcher = watcher(&broker);
    let connect = with_will(auth_connect("c", "CHALLENGE", Some(b"hello")), "wills/c");
    let mut client = challenged(&server, connect);
    let guess = auth(
        ReasonCode::CONTINUE_AUTHENTICATION,
        "CHALLENGE",
        b"secret:guess",
    );
    client.send(&guess);
    assert_eq!(
        expect_connack(&mut client).reason_code,
        ReasonCode::NOT_AUTHORIZED
    );
    client.expect_eof();
    wait_stats(&server, "the refusal to count", |s| s.connect_refused == 1);
    assert_nothing_published(&watcher);
    assert_eq!(gate.events(), ["connect c None AuthenticationFailed"]);
}

/// A method the hooks do not support: CONNACK 0x8C Bad authentication method, closed
/// [MQTT-4.12.0-1]; likewise on a broker without hooks.
#[test]
fn unsupported_method_gets_bad_authentication_method() {
    let (gate, _broker, server) = start(config());
    let (mut client, code) = try_connect(
        server.local_addr(),
        auth_connect("c", "SCRAM-SHA-1", Some(b"n,,n=user,r=abc")),
    );
    assert_eq!(code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    client.expect_eof();
    assert_eq!(gate.events(), ["connect c None BadAuthenticationMethod"]);

    let (_plain, plain_server) = common::start(config());
    let connect = auth_connect("c", "TOKEN", Some(b"token"));
    let (mut client, code) = try_connect(plain_server.local_addr(), connect);
    assert_eq!(code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    client.expect_eof();
}

/// Before CONNACK a client that named a method may send only AUTH or DISCONNECT
/// [MQTT-3.1.2-30]: a PUBLISH is a protocol error (CONNACK 0x82) and is not published.
#[test]
fn publish_before_connack_is_a_protocol_error() {
    let (_gate, broker, server) = start(config());
    let watcher = watcher(&broker);
    let mut client = challenged(&server, auth_connect("c", "CHALLENGE", Some(b"hello")));
    client.send(&publish_packet("a", b"early", QoS::AtMostOnce, None));
    assert_eq!(
        expect_connack(&mut client).reason_code,
        ReasonCode::PROTOCOL_ERROR
    );
    client.expect_eof();
    assert_nothing_published(&watcher);
    wait_stats(&server, "the protocol error to count", |s| {
        s.protocol_errors == 1
    });
}

/// Every AUTH of the exchange repeats the CONNECT's method [MQTT-4.12.0-5] and continues
/// it with 0x18 [MQTT-4.12.0-3]: another method, or another reason code, is a protocol
/// error.
#[test]
fn auth_breaking_the_exchange_is_a_protocol_error() {
    let (_gate, _broker, server) = start(config());
    let cases = [
        auth(
            ReasonCode::CONTINUE_AUTHENTICATION,
            "TOKEN",
            b"secret:nonce",
        ),
        auth(ReasonCode::RE_AUTHENTICATE, "CHALLENGE", b"secret:nonce"),
    ];
    for packet in cases {
        let mut client = challenged(&server, auth_connect("c", "CHALLENGE", Some(b"hello")));
        client.send(&packet);
        let ack = expect_connack(&mut client);
        assert_eq!(ack.reason_code, ReasonCode::PROTOCOL_ERROR, "{packet:?}");
        client.expect_eof();
    }
}

/// Authentication Data without an Authentication Method is a protocol error (§3.1.2.11.10).
#[test]
fn authentication_data_without_method_is_a_protocol_error() {
    let (_gate, _broker, server) = start(config());
    let mut connect = common::connect_packet(V5, "c");
    connect.properties.authentication_data = Some(Bytes::from_static(b"hello"));
    let (mut client, code) = try_connect(server.local_addr(), connect);
    assert_eq!(code, ReasonCode::PROTOCOL_ERROR);
    client.expect_eof();
}

/// A client that stalls mid-exchange is closed when the CONNECT timeout runs out, counted
/// as a connect timeout: the timeout bounds the whole exchange.
#[test]
fn stalled_exchange_times_out() {
    let mut cfg = config();
    cfg.connect_timeout = Duration::from_millis(300);
    let (_gate, _broker, server) = start(cfg);
    let mut client = challenged(&server, auth_connect("c", "CHALLENGE", Some(b"hello")));
    client.expect_eof();
    wait_stats(&server, "the timeout to count", |s| s.connect_timeouts == 1);
}

/// Re-authentication: AUTH 0x19 with the CONNECT's method [MQTT-4.12.1-1], the same
/// exchange in AUTH packets, AUTH 0x00 with the method at the end [MQTT-4.12.0-5].
/// Meanwhile other packets flow under the authentication the client has (§4.12.1). It can
/// be done again.
#[test]
fn reauthentication_succeeds() {
    let (gate, _broker, server) = start(config());
    let mut client = authenticated(&server, auth_connect("c", "CHALLENGE", Some(b"hello")));
    for _ in 0..2 {
        client.send(&auth(ReasonCode::RE_AUTHENTICATE, "CHALLENGE", b"hello"));
        let continue_code = ReasonCode::CONTINUE_AUTHENTICATION;
        expect_auth(&mut client, continue_code, "CHALLENGE", Some(b"nonce"));
        client.ping();
        client.send(&auth(continue_code, "CHALLENGE", b"secret:nonce"));
        expect_auth(
            &mut client,
            ReasonCode::SUCCESS,
            "CHALLENGE",
            Some(b"welcome"),
        );
    }
    client.disconnect();
    assert!(gate.events().is_empty(), "{:?}", gate.events());
}

/// A failed re-authentication: DISCONNECT 0x87 and the connection closed [MQTT-4.12.1-2],
/// reported. The client did not disconnect cleanly, so its will is published.
#[test]
fn failed_reauthentication_disconnects() {
    let (gate, broker, server) = start(config());
    let watcher = watcher(&broker);
    let connect = with_will(auth_connect("c", "TOKEN", Some(b"token")), "wills/c");
    let (mut client, ack) = TestClient::connect_with(server.local_addr(), connect);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    client.send(&auth(ReasonCode::RE_AUTHENTICATE, "TOKEN", b"stolen"));
    client.expect_disconnect(ReasonCode::NOT_AUTHORIZED);
    let will = watcher.recv_timeout(common::WAIT).unwrap();
    assert_eq!(will.topic(), "wills/c");
    assert_eq!(gate.events(), ["reauth c AuthenticationFailed"]);
}

/// Re-authentication must name the CONNECT's method [MQTT-4.12.1-1], and 0x18 only
/// continues an exchange in progress: otherwise DISCONNECT 0x82.
#[test]
fn reauthentication_breaking_the_rules_is_a_protocol_error() {
    let (_gate, _broker, server) = start(config());
    let cases = [
        auth(ReasonCode::RE_AUTHENTICATE, "CHALLENGE", b"hello"),
        auth(ReasonCode::CONTINUE_AUTHENTICATION, "TOKEN", b"token"),
        auth(ReasonCode::SUCCESS, "TOKEN", b"token"),
    ];
    for packet in cases {
        let connect = auth_connect("t", "TOKEN", Some(b"token"));
        let (mut client, ack) = TestClient::connect_with(server.local_addr(), connect);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        client.send(&packet);
        client.expect_disconnect(ReasonCode::PROTOCOL_ERROR);
    }
}

/// A client that named no method gets no Authentication Method in its CONNACK and no AUTH
/// [MQTT-4.12.0-6], and may send none: its AUTH is a protocol error [MQTT-4.12.0-7].
#[test]
fn auth_without_enhanced_authentication_is_a_protocol_error() {
    let (_gate, _broker, server) = start(config());
    let plain = login(V5, "p", Some("p"), Some("pw"));
    let (mut client, ack) = TestClient::connect_with(server.local_addr(), plain);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(ack.properties.authentication_method, None);
    client.send(&auth(ReasonCode::RE_AUTHENTICATE, "TOKEN", b"token"));
    client.expect_disconnect(ReasonCode::PROTOCOL_ERROR);
}

/// With a password file, a client that passed enhanced authentication is not asked for a
/// password (the exchange vouches for its user name, as a certificate does), but a client
/// without a user name is still anonymous.
#[test]
fn password_file_yields_to_enhanced_authentication() {
    let mut cfg = config();
    cfg.auth = Auth::builder()
        .password_file(passwords(&[("alice", "secret")]))
        .build();
    let (gate, _broker, server) = start(cfg);
    let mut connect = auth_connect("carol", "TOKEN", Some(b"token"));
    connect.username = Some("carol".into());
    connected(server.local_addr(), connect).disconnect();
    let anonymous = auth_connect("anon", "TOKEN", Some(b"token"));
    let (mut client, code) = try_connect(server.local_addr(), anonymous);
    assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
    client.expect_eof();
    assert_eq!(gate.events(), ["connect anon None Anonymous"]);
}
