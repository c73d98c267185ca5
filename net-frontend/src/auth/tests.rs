//! The CONNECT checks of [`Auth`]: which refusal for which client, and what is counted.

use bytes::Bytes;
use mqlite::QoS;

use super::*;
use crate::codec::{Properties, PublishTopic, Will};

/// `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11).
const ALICE: &str = "alice:$7$101$1CeNDm+ix5GL1174$8npag1/liqW4BxrbmvicvPyjT1mRV6g/6+Bg9iSCoBX68vx2qWaRReaamRN00f9T8kSZUykeCihrMr+3t6ZbUg==\n";

fn connect(client_id: &str, username: Option<&str>, password: Option<&str>) -> Connect {
    Connect {
        protocol_version: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 0,
        properties: Properties::default(),
        client_id: client_id.to_owned(),
        will: None,
        username: username.map(str::to_owned),
        password: password.map(|p| Bytes::copy_from_slice(p.as_bytes())),
    }
}

fn with_will(mut c: Connect, topic: &str) -> Connect {
    c.will = Some(Will {
        topic: PublishTopic::new(topic).unwrap(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    c
}

impl Auth {
    fn check_connect_plain(&self, c: &Connect) -> Result<(), Refusal> {
        self.check_connect(c, false)
    }
}

fn passwords() -> PasswordFile {
    PasswordFile::parse(ALICE).unwrap()
}

#[test]
fn the_default_lets_everyone_in_and_allows_everything() {
    let auth = Auth::default();
    assert_eq!(auth.check_connect_plain(&connect("c", None, None)), Ok(()));
    assert_eq!(
        auth.check_connect_plain(&connect("c", Some("x"), None)),
        Ok(())
    );
    let client = auth.admit(&connect("c", None, None), "c").unwrap();
    assert!(client.may_publish("any/topic", QoS::ExactlyOnce));
    assert_eq!(
        client.subscribe_qos("#", QoS::AtLeastOnce),
        Some(QoS::AtLeastOnce)
    );
    assert!(client.may_read("$SYS/anything"));
    assert_eq!(auth.stats().accepted, 1);
}

#[test]
fn a_password_file_checks_every_user_and_refuses_anonymous_clients() {
    let auth = Auth::builder().password_file(passwords()).build();
    let check = |user, password| auth.check_connect_plain(&connect("c", user, password));
    assert_eq!(check(Some("alice"), Some("secret")), Ok(()));
    assert_eq!(
        check(Some("alice"), Some("wrong")),
        Err(Refusal::BadCredentials)
    );
    assert_eq!(check(Some("alice"), None), Err(Refusal::BadCredentials));
    assert_eq!(
        check(Some("mallory"), Some("secret")),
        Err(Refusal::BadCredentials)
    );
    assert_eq!(
        check(None, None),
        Err(Refusal::Anonymous),
        "Mosquitto 2's default"
    );
    let stats = auth.stats();
    assert_eq!((stats.bad_credentials, stats.anonymous_refused), (3, 1));

    let open = Auth::builder()
        .password_file(passwords())
        .allow_anonymous(true)
        .build();
    assert_eq!(open.check_connect_plain(&connect("c", None, None)), Ok(()));
    assert_eq!(
        open.check_connect_plain(&connect("c", Some("mallory"), Some("x"))),
        Err(Refusal::BadCredentials),
        "a user name not in the file is refused even with allow_anonymous"
    );
}

/// A TLS client certificate's identity stands in for the password (Mosquitto's
/// `use_identity_as_username`); the ACL and the client-id rules still apply.
#[test]
fn a_verified_identity_needs_no_password() {
    let rules = ClientIdRules {
        equals_username: true,
        ..ClientIdRules::default()
    };
    let auth = Auth::builder()
        .password_file(passwords())
        .client_ids(rules)
        .build();
    assert_eq!(
        auth.check_connect(&connect("dev-9", Some("dev-9"), None), true),
        Ok(())
    );
    assert_eq!(
        auth.check_connect(&connect("dev-8", Some("dev-9"), None), true),
        Err(Refusal::ClientId)
    );
    assert_eq!(
        auth.check_connect(&connect("dev-9", Some("dev-9"), None), false),
        Err(Refusal::BadCredentials)
    );
}

#[test]
fn refusals_map_to_the_reason_codes_of_the_issue() {
    use ProtocolVersion::{V5, V311};
    let cases = [
        (
            Refusal::BadCredentials,
            V5,
            ReasonCode::BAD_USER_NAME_OR_PASSWORD,
        ),
        (Refusal::BadCredentials, V311, ReasonCode::NOT_AUTHORIZED),
        (Refusal::Anonymous, V5, ReasonCode::NOT_AUTHORIZED),
        (Refusal::Anonymous, V311, ReasonCode::NOT_AUTHORIZED),
        (
            Refusal::ClientId,
            V5,
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        ),
        (
            Refusal::ClientId,
            V311,
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
        ),
        (Refusal::Will, V5, ReasonCode::NOT_AUTHORIZED),
        (Refusal::Will, V311, ReasonCode::NOT_AUTHORIZED),
    ];
    for (refusal, version, code) in cases {
        assert_eq!(refusal.reason_code(version), code, "{refusal:?} {version}");
    }
}

#[test]
fn client_id_rules_run_after_the_credentials() {
    let rules = ClientIdRules {
        equals_username: true,
        ..ClientIdRules::default()
    };
    let auth = Auth::builder()
        .password_file(passwords())
        .client_ids(rules)
        .build();
    assert_eq!(
        auth.check_connect_plain(&connect("alice", Some("alice"), Some("secret"))),
        Ok(())
    );
    assert_eq!(
        auth.check_connect_plain(&connect("bob", Some("alice"), Some("secret"))),
        Err(Refusal::ClientId)
    );
    // Wrong credentials are reported as such, not as a bad client id.
    assert_eq!(
        auth.check_connect_plain(&connect("bob", Some("alice"), Some("nope"))),
        Err(Refusal::BadCredentials)
    );
    assert_eq!(auth.stats().client_id_refused, 1);
}

#[test]
fn the_will_needs_write_access() {
    let acl = Acl::parse("pattern write status/%c\n").unwrap();
    let auth = Auth::builder().acl(acl).build();
    let ok = with_will(connect("dev1", None, None), "status/dev1");
    assert_eq!(auth.check_connect_plain(&ok), Ok(()));
    let bad = with_will(connect("dev1", None, None), "status/dev2");
    assert_eq!(auth.check_connect_plain(&bad), Err(Refusal::Will));
    // An assigned id is only known after the router connected the client.
    let assigned = with_will(connect("", None, None), "status/mqlite-auto-7");
    assert_eq!(auth.check_connect_plain(&assigned), Ok(()));
    assert!(auth.admit(&assigned, "mqlite-auto-7").is_ok());
    assert_eq!(
        auth.admit(&assigned, "mqlite-auto-8").err(),
        Some(Refusal::Will)
    );
    assert_eq!(auth.stats().will_denied, 2);
}

#[test]
fn acl_denials_are_counted() {
    let acl = Acl::parse("topic readwrite a/#\n").unwrap();
    let auth = Auth::builder().acl(acl).build();
    let client = auth.admit(&connect("c", None, None), "c").unwrap();
    assert!(client.may_publish("a/1", QoS::AtMostOnce));
    assert!(!client.may_publish("b/1", QoS::AtMostOnce));
    assert_eq!(client.subscribe_qos("b/#", QoS::AtMostOnce), None);
    assert!(client.may_read("a/1"));
    assert!(!client.may_read("b/1"));
    let stats = auth.stats();
    assert_eq!(
        (
            stats.publish_denied,
            stats.subscribe_denied,
            stats.delivery_denied
        ),
        (1, 1, 1)
    );
}

#[test]
fn clones_share_counters_and_equality_compares_settings() {
    let auth = Auth::builder().password_file(passwords()).build();
    let clone = auth.clone();
    let _ = auth.check_connect_plain(&connect("c", Some("alice"), Some("x")));
    assert_eq!(clone.stats().bad_credentials, 1);
    assert_eq!(auth, clone);
    assert_ne!(auth, Auth::default());
    assert_eq!(Auth::default(), Auth::default(), "same settings");
    let shown = format!("{auth:?}");
    assert!(
        !shown.contains("1CeNDm"),
        "no hash in debug output: {shown}"
    );
}
