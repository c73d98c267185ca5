//! Per-listener authentication and reloading the password and ACL files under a running
//! server (issue #10: "each [listener] with its own TLS and auth settings"; the SIGHUP
//! reload, called here as the library function the binary's handler calls).
#![allow(clippy::unwrap_used)]

use crate::auth_common;
use crate::common;

use std::path::Path;

use mqlite::{Broker, Config, QoS};
use mqlite_net::auth::{Acl, Auth, PasswordFile, ReloadError, hash_password};
use mqlite_net::codec::ReasonCode;
use mqlite_net::{ListenerConfig, Server};

use auth_common::{connected, login, passwords, publish_qos1, try_connect};
use common::{V5, V311, config};

fn password_line(user: &str, password: &str) -> String {
    format!(
        "{user}:{}\n",
        hash_password(password.as_bytes(), 101).unwrap()
    )
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Two listeners with different password files, and a third with the server's: each
/// accepts only its own users, and the counters of all three add up in the server's stats.
#[test]
fn each_listener_checks_its_own_password_file() {
    let alice = Auth::builder()
        .password_file(passwords(&[("alice", "a-pw")]))
        .build();
    let bob = Auth::builder()
        .password_file(passwords(&[("bob", "b-pw")]))
        .build();
    let mut cfg = config();
    cfg.auth = Auth::builder()
        .password_file(passwords(&[("carol", "c-pw")]))
        .build();
    let server = Server::builder(Broker::new(Config::default()))
        .config(cfg)
        .listen_with("127.0.0.1:0", ListenerConfig::new().auth(alice))
        .listen_with("127.0.0.1:0", ListenerConfig::new().auth(bob))
        .listen("127.0.0.1:0")
        .bind()
        .unwrap()
        .spawn()
        .unwrap();
    let addrs = server.local_addrs().to_vec();
    let users = [("alice", "a-pw"), ("bob", "b-pw"), ("carol", "c-pw")];
    for (listener, addr) in addrs.iter().enumerate() {
        for (user, (name, password)) in users.iter().enumerate() {
            let (client, code) = try_connect(*addr, login(V5, name, Some(name), Some(password)));
            if user == listener {
                assert_eq!(code, ReasonCode::SUCCESS, "{name} on listener {listener}");
                client.disconnect();
            } else {
                assert_eq!(
                    code,
                    ReasonCode::BAD_USER_NAME_OR_PASSWORD,
                    "{name} on listener {listener}"
                );
            }
        }
        // No user name: refused everywhere (a password file without allow_anonymous).
        let (_, code) = try_connect(*addr, login(V311, "anon", None, None));
        assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
    }
    let auth = server.stats().auth;
    assert_eq!(
        (auth.accepted, auth.bad_credentials, auth.anonymous_refused),
        (3, 6, 3)
    );
}

/// A listener without settings of its own uses the server's, even an ACL: the ACL of one
/// listener does not leak to another.
#[test]
fn a_listener_acl_applies_to_its_clients_only() {
    let acl = Acl::parse("topic read nothing\n").unwrap();
    let locked = ListenerConfig::new().auth(Auth::builder().acl(acl).build());
    let server = Server::builder(Broker::new(Config::default()))
        .config(config())
        .listen_with("127.0.0.1:0", locked)
        .listen("127.0.0.1:0")
        .bind()
        .unwrap()
        .spawn()
        .unwrap();
    let (locked, open) = (server.local_addrs()[0], server.local_addrs()[1]);
    let mut denied = connected(locked, login(V5, "d", None, None));
    assert_eq!(
        publish_qos1(&mut denied, "t", b"x"),
        ReasonCode::NOT_AUTHORIZED
    );
    let mut allowed = connected(open, login(V5, "a", None, None));
    assert_eq!(publish_qos1(&mut allowed, "t", b"x"), ReasonCode::SUCCESS);
}

/// After a reload, new logins check the new password file; a client logged in with the old
/// password stays connected.
#[test]
fn reloaded_password_file_applies_to_new_logins_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    write(&path, &password_line("alice", "old"));
    let auth = Auth::builder()
        .password_file(PasswordFile::load(&path).unwrap())
        .build();
    let (_broker, server) = auth_common::start_with(auth);
    let addr = server.local_addr();
    let mut before = connected(addr, login(V5, "before", Some("alice"), Some("old")));

    write(
        &path,
        &(password_line("alice", "new") + &password_line("bob", "b")),
    );
    server.reload_auth().unwrap();
    let (_, code) = try_connect(addr, login(V5, "x", Some("alice"), Some("old")));
    assert_eq!(code, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
    connected(addr, login(V5, "a", Some("alice"), Some("new"))).disconnect();
    connected(addr, login(V5, "b", Some("bob"), Some("b"))).disconnect();
    before.ping();
    assert_eq!(server.stats().clients_connected, 1);
}

/// A reloaded ACL applies to connected clients at their next check: a publish that was
/// allowed is refused, and a subscription's messages are filtered by the new rules.
#[test]
fn reloaded_acl_applies_to_connected_clients_next_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acl");
    write(&path, "topic readwrite a/#\n");
    let auth = Auth::builder().acl(Acl::load(&path).unwrap()).build();
    let (_broker, server) = auth_common::start_with(auth);
    let addr = server.local_addr();
    let mut publisher = connected(addr, login(V5, "p", None, None));
    let mut reader = connected(addr, login(V5, "r", None, None));
    reader.subscribe("a/#", QoS::AtMostOnce);
    assert_eq!(
        publish_qos1(&mut publisher, "a/1", b"x"),
        ReasonCode::SUCCESS
    );
    assert_eq!(reader.recv_publish().topic.as_str(), "a/1");

    write(&path, "topic write a/#\ntopic read a/public\n");
    server.reload_auth().unwrap();
    assert_eq!(
        publish_qos1(&mut publisher, "a/secret", b"x"),
        ReasonCode::SUCCESS
    );
    assert_eq!(
        publish_qos1(&mut publisher, "a/public", b"x"),
        ReasonCode::SUCCESS
    );
    assert_eq!(
        reader.recv_publish().topic.as_str(),
        "a/public",
        "a/secret is no longer readable"
    );

    write(&path, "topic read a/#\n");
    server.reload_auth().unwrap();
    assert_eq!(
        publish_qos1(&mut publisher, "a/1", b"x"),
        ReasonCode::NOT_AUTHORIZED
    );
    assert_eq!(server.stats().auth.delivery_denied, 1);
}

/// A file that no longer parses is refused by the reload, with an error naming the file
/// and the line; the previous version stays in force. Fixing the file and reloading again
/// brings the new version in.
#[test]
fn a_bad_file_on_reload_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let (passwd, acl) = (dir.path().join("passwd"), dir.path().join("acl"));
    write(&passwd, &password_line("alice", "pw"));
    write(&acl, "user alice\ntopic readwrite a/#\n");
    let auth = Auth::builder()
        .password_file(PasswordFile::load(&passwd).unwrap())
        .acl(Acl::load(&acl).unwrap())
        .build();
    let (_broker, server) = auth_common::start_with(auth);
    let addr = server.local_addr();

    write(&passwd, "alice:plaintext\n");
    write(&acl, "user alice\ntopic readwrite b/#\ntpoic c/#\n");
    let errors = server.reload_auth().unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for error in &errors {
        let (file, line) = match error {
            ReloadError::PasswordFile(_) => (&passwd, "line 1"),
            ReloadError::AclFile(_) => (&acl, "line 3"),
            other => panic!("unexpected {other:?}"),
        };
        let message = error.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains(line), "{message}");
    }
    let mut alice = connected(addr, login(V5, "a", Some("alice"), Some("pw")));
    assert_eq!(publish_qos1(&mut alice, "a/1", b"x"), ReasonCode::SUCCESS);
    assert_eq!(
        publish_qos1(&mut alice, "b/1", b"x"),
        ReasonCode::NOT_AUTHORIZED
    );

    write(&acl, "user alice\ntopic readwrite b/#\n");
    write(&passwd, &password_line("alice", "pw"));
    server.reload_auth().unwrap();
    assert_eq!(publish_qos1(&mut alice, "b/1", b"x"), ReasonCode::SUCCESS);
}

/// Listeners that share the server's settings, or files, report a bad file once.
#[test]
fn a_bad_file_shared_by_listeners_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    write(&acl, "topic a\n");
    let own = || Auth::builder().acl(Acl::load(&acl).unwrap()).build();
    let mut cfg = config();
    cfg.auth = own();
    let server = Server::builder(Broker::new(Config::default()))
        .config(cfg)
        .listen_with("127.0.0.1:0", ListenerConfig::new().auth(own()))
        .listen_with("127.0.0.1:0", ListenerConfig::new().auth(own()))
        .listen("127.0.0.1:0")
        .bind()
        .unwrap()
        .spawn()
        .unwrap();
    write(&acl, "bogus\n");
    assert_eq!(server.reload_auth().unwrap_err().len(), 1);
}
