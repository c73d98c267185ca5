//! Authentication over real sockets: the password file (including one written by Mosquitto's
//! own `mosquitto_passwd`), anonymous clients, client-id rules, the embedder's hooks, and a
//! burst of failed logins. Issue #10, "Authentication".
#![allow(clippy::unwrap_used)]

use crate::auth_common;
use crate::common;

use std::process::Command;

use mqlite::{Broker, ClientInfo, Config, ConnectOptions, Hooks, QoS};
use mqlite_net::auth::{Auth, ClientIdRules, PasswordFile};
use mqlite_net::codec::ReasonCode;

use auth_common::{connected, login, passwords, serve_with, start_with, try_connect, with_will};
use common::{TestClient, V5, V311, publish_packet};

/// `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11), committed as a fixture so
/// the format is checked even where Mosquitto is not installed.
const ALICE_FIXTURE: &str = "alice:$7$101$1CeNDm+ix5GL1174$8npag1/liqW4BxrbmvicvPyjT1mRV6g/6+Bg9iSCoBX68vx2qWaRReaamRN00f9T8kSZUykeCihrMr+3t6ZbUg==\n";

/// A committed `mosquitto_passwd` line logs in over the network; the wrong password does not.
#[test]
fn committed_mosquitto_passwd_line_logs_in() {
    let file = PasswordFile::parse(ALICE_FIXTURE).unwrap();
    let (_broker, server) = start_with(Auth::builder().password_file(file).build());
    let addr = server.local_addr();
    connected(addr, login(V5, "a", Some("alice"), Some("secret"))).disconnect();
    let (_, code) = try_connect(addr, login(V5, "a", Some("alice"), Some("Secret")));
    assert_eq!(code, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
}

/// A file written by the real `mosquitto_passwd` at test time, `$7$` (its default) and `$6$`
/// (`-H sha512`, Mosquitto 1.6's format) lines alike, works unchanged.
#[test]
fn file_from_mosquitto_passwd_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    let run = |args: &[&str]| Command::new("mosquitto_passwd").args(args).status();
    let created = run(&["-c", "-b", path.to_str().unwrap(), "alice", "wonder land"]);
    if !created.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mosquitto_passwd is not installed (Debian package `mosquitto`)");
        return;
    }
    let path_str = path.to_str().unwrap();
    assert!(run(&["-b", path_str, "dave", "d4ve"]).unwrap().success());
    assert!(
        run(&["-H", "sha512", "-b", path_str, "carol", "c"])
            .unwrap()
            .success()
    );
    let file = PasswordFile::load(&path).unwrap();
    assert_eq!(file.len(), 3);
    let (_broker, server) = start_with(Auth::builder().password_file(file).build());
    let addr = server.local_addr();
    for (user, password) in [("alice", "wonder land"), ("dave", "d4ve"), ("carol", "c")] {
        connected(addr, login(V311, user, Some(user), Some(password))).disconnect();
        let (_, code) = try_connect(addr, login(V311, user, Some(user), Some("nope")));
        assert_eq!(
            code,
            ReasonCode::NOT_AUTHORIZED,
            "3.1.1 return code 5 for {user}"
        );
    }
}

/// Wrong credentials: CONNACK 0x86 (5.0) / 5 (3.1.1), the connection closed, and nothing the
/// client sent takes effect: not a pipelined PUBLISH, not its will. Counted.
#[test]
fn wrong_credentials_publish_nothing() {
    let auth = Auth::builder()
        .password_file(passwords(&[("alice", "secret")]))
        .build();
    let (broker, server) = start_with(auth.clone());
    let watcher = broker.connect(ConnectOptions::new("watcher")).unwrap();
    watcher.subscribe("#", QoS::AtMostOnce).unwrap();
    let addr = server.local_addr();
    let cases = [
        (
            V5,
            Some("alice"),
            Some("wrong"),
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            V5,
            Some("alice"),
            None,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            V5,
            Some("mallory"),
            Some("secret"),
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ),
        (
            V311,
            Some("alice"),
            Some("wrong"),
            ReasonCode::NOT_AUTHORIZED,
        ),
    ];
    for (version, user, password, expected) in cases {
        let mut client = TestClient::open(addr, version);
        let connect = with_will(
            login(version, "intruder", user, password),
            "status/intruder",
        );
        client.send(&mqlite_net::Packet::Connect(Box::new(connect)));
        client.send(&publish_packet("data/x", b"sneaky", QoS::AtMostOnce, None));
        match client.recv() {
            mqlite_net::Packet::ConnAck(ack) => assert_eq!(ack.reason_code, expected, "{user:?}"),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        client.expect_eof();
    }
    assert!(watcher.try_recv().is_err(), "nothing was published");
    assert_eq!(auth.stats().bad_credentials, 4);
    assert_eq!(server.stats().connect_refused, 4);
    assert_eq!(server.stats().clients_connected, 0);
}

/// With a password file, a client without a user name is refused (Mosquitto 2's default,
/// CONNACK 0x87 / 5) unless `allow_anonymous` is set.
#[test]
fn anonymous_clients_need_allow_anonymous() {
    let closed = Auth::builder()
        .password_file(passwords(&[("alice", "secret")]))
        .build();
    let (_b, server) = start_with(closed.clone());
    let addr = server.local_addr();
    let (_, code) = try_connect(addr, login(V5, "anon", None, None));
    assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
    let (_, code) = try_connect(addr, login(V311, "anon", None, None));
    assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(closed.stats().anonymous_refused, 2);

    let open = Auth::builder()
        .password_file(passwords(&[("alice", "secret")]))
        .allow_anonymous(true)
        .build();
    let (_b, server) = start_with(open);
    connected(server.local_addr(), login(V5, "anon", None, None)).disconnect();
}

/// Client-id rules refuse with CONNACK 0x85 (5.0) / 2 (3.1.1).
#[test]
fn client_id_rules_refuse_with_identifier_not_valid() {
    let mut rules = ClientIdRules::default();
    rules.prefixes = vec!["sensor-".into()];
    let (_b, server) = start_with(Auth::builder().client_ids(rules).build());
    let addr = server.local_addr();
    connected(addr, login(V5, "sensor-1", None, None)).disconnect();
    for version in [V5, V311] {
        let (_, code) = try_connect(addr, login(version, "laptop", None, None));
        assert_eq!(code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID, "{version}");
    }

    let mut rules = ClientIdRules::default();
    rules.equals_username = true;
    let auth = Auth::builder()
        .password_file(passwords(&[("alice", "pw"), ("bob", "pw")]))
        .client_ids(rules)
        .build();
    let (_b, server) = start_with(auth.clone());
    let addr = server.local_addr();
    let _alice = connected(addr, login(V5, "alice", Some("alice"), Some("pw")));
    // Bob cannot take over Alice's session by using her client id.
    let (_, code) = try_connect(addr, login(V5, "alice", Some("bob"), Some("pw")));
    assert_eq!(code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    assert_eq!(auth.stats().client_id_refused, 1);
}

/// The embedder's hooks run after the password file and take precedence: a user the file
/// accepts is still refused if the hook says no (CONNACK 0x87).
#[test]
fn embedder_hooks_still_apply() {
    #[derive(Debug)]
    struct NoBob;
    impl Hooks for NoBob {
        fn authenticate(&self, client: &ClientInfo<'_>, _: Option<&[u8]>) -> bool {
            client.username != Some("bob")
        }
    }
    let broker = Broker::builder()
        .config(Config::default())
        .hooks(NoBob)
        .build();
    let auth = Auth::builder()
        .password_file(passwords(&[("alice", "a"), ("bob", "b")]))
        .build();
    let server = serve_with(&broker, auth);
    let addr = server.local_addr();
    connected(addr, login(V5, "a", Some("alice"), Some("a"))).disconnect();
    let (_, code) = try_connect(addr, login(V5, "b", Some("bob"), Some("b")));
    assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
}
