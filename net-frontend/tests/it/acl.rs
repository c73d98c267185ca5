//! Authorization over real sockets with an ACL file: publish, subscribe, the will, `$SYS`,
//! the `qos` extension, and what reaches subscribers. Issue #10, "Authorization".
#![allow(clippy::unwrap_used)]

use crate::auth_common;
use crate::common;

use std::sync::Arc;
use std::time::Duration;

use mqlite::{Broker, Config, ConnectOptions, ManualClock, QoS};
use mqlite_net::auth::{Acl, Auth};
use mqlite_net::codec::{PubAck, ReasonCode};
use mqlite_net::{Packet, ServerHandle};

use auth_common::{
    connected, login, passwords, publish_qos1, serve_with, start_with, subscribe, try_connect,
    with_will,
};
use common::{Ended, TestClient, V5, V311, publish_packet};

const ACL: &str = "\
user alice
topic readwrite alice/#
topic deny alice/secret
topic write telemetry/# qos 1
topic read news/#
topic read news/sport qos 0

user bob
topic write news/#
topic read alice/status
topic read $SYS/broker/#

pattern write status/%c
pattern read inbox/%u/#
";

fn auth() -> Auth {
    Auth::builder()
        .password_file(passwords(&[("alice", "a"), ("bob", "b")]))
        .acl(Acl::parse(ACL).unwrap())
        .build()
}

/// Alice's connection; the client id names the version, so two do not take each other over.
fn alice(server: &ServerHandle, version: mqlite_net::ProtocolVersion) -> TestClient {
    let id = format!("alice-v{}", version.level());
    connected(
        server.local_addr(),
        login(version, &id, Some("alice"), Some("a")),
    )
}

fn bob(server: &ServerHandle, version: mqlite_net::ProtocolVersion) -> TestClient {
    connected(
        server.local_addr(),
        login(version, "bob-1", Some("bob"), Some("b")),
    )
}

/// A denied PUBLISH is dropped: PUBACK / PUBREC 0x87 on 5.0, acknowledged as if accepted on
/// 3.1.1 (which has no way to say no), as Mosquitto does. Counted.
#[test]
fn denied_publish_is_dropped_with_0x87_on_v5_and_silently_on_v311() {
    let auth = auth();
    let (broker, server) = start_with(auth.clone());
    let watcher = broker.connect(ConnectOptions::new("watcher")).unwrap();
    watcher.subscribe("#", QoS::AtMostOnce).unwrap();

    let mut a5 = alice(&server, V5);
    assert_eq!(
        publish_qos1(&mut a5, "bob/x", b"no"),
        ReasonCode::NOT_AUTHORIZED
    );
    assert_eq!(
        publish_qos1(&mut a5, "alice/secret", b"no"),
        ReasonCode::NOT_AUTHORIZED
    );
    a5.send(&publish_packet("bob/x", b"no", QoS::ExactlyOnce, Some(2)));
    match a5.recv() {
        Packet::PubRec(rec) => assert_eq!(rec.reason_code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected PUBREC, got {other:?}"),
    }
    let mut a3 = alice(&server, V311);
    assert_eq!(publish_qos1(&mut a3, "bob/x", b"no"), ReasonCode::SUCCESS);
    a3.send(&publish_packet("bob/y", b"no", QoS::AtMostOnce, None));
    // One allowed publish, to show the watcher is listening.
    assert_eq!(
        publish_qos1(&mut a5, "alice/notes", b"yes"),
        ReasonCode::SUCCESS
    );
    let got = watcher.recv_timeout(common::WAIT).unwrap();
    assert_eq!(got.topic(), "alice/notes");
    assert!(watcher.try_recv().is_err(), "no denied message was routed");
    assert_eq!(auth.stats().publish_denied, 5);
}

/// A denied filter gets SUBACK 0x87 (5.0) / 0x80 (3.1.1); the others in the same SUBSCRIBE
/// are granted, at most at the `qos` of the rules they overlap.
#[test]
fn denied_subscribe_gets_0x87_or_0x80_and_qos_is_capped() {
    let auth = auth();
    let (_broker, server) = start_with(auth.clone());
    let mut a5 = alice(&server, V5);
    let codes = subscribe(
        &mut a5,
        &[
            "alice/#",
            "bob/#",
            "alice/secret",
            "news/sport",
            "inbox/alice/+",
            "$SYS/#",
        ],
        QoS::ExactlyOnce,
    );
    let expected = [
        ReasonCode::GRANTED_QOS_2,
        ReasonCode::NOT_AUTHORIZED,
        ReasonCode::NOT_AUTHORIZED,
        ReasonCode::GRANTED_QOS_0,
        ReasonCode::GRANTED_QOS_2,
        ReasonCode::NOT_AUTHORIZED,
    ];
    assert_eq!(codes, expected);
    let mut a3 = alice(&server, V311);
    let codes = subscribe(&mut a3, &["bob/#", "alice/+"], QoS::AtLeastOnce);
    assert_eq!(
        codes,
        [ReasonCode::UNSPECIFIED_ERROR, ReasonCode::GRANTED_QOS_1]
    );
    // `$SYS` is readable only where a rule allows it.
    let mut b = bob(&server, V5);
    assert_eq!(
        subscribe(&mut b, &["$SYS/broker/#"], QoS::AtMostOnce),
        [ReasonCode::SUCCESS]
    );
    assert_eq!(auth.stats().subscribe_denied, 4);
}

/// The mqlite `qos` extension: a publish above the rule's QoS is refused like any denial.
#[test]
fn publish_above_the_rules_qos_is_denied() {
    let (_broker, server) = start_with(auth());
    let mut a5 = alice(&server, V5);
    assert_eq!(
        publish_qos1(&mut a5, "telemetry/t", b"1"),
        ReasonCode::SUCCESS
    );
    a5.send(&publish_packet(
        "telemetry/t",
        b"2",
        QoS::ExactlyOnce,
        Some(3),
    ));
    match a5.recv() {
        Packet::PubRec(rec) => assert_eq!(rec.reason_code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected PUBREC, got {other:?}"),
    }
}

/// The will is checked at CONNECT: a will topic the client may not publish to refuses the
/// connection (0x87 / 5), so it can never be published. `pattern write status/%c` uses the
/// client id, the assigned one for a client that sent none.
#[test]
fn will_on_a_denied_topic_refuses_the_connect() {
    let auth = auth();
    let (broker, server) = start_with(auth.clone());
    let addr = server.local_addr();
    let own = with_will(
        login(V5, "alice-1", Some("alice"), Some("a")),
        "status/alice-1",
    );
    connected(addr, own).disconnect();
    for version in [V5, V311] {
        let other = with_will(
            login(version, "alice-1", Some("alice"), Some("a")),
            "status/bob-1",
        );
        let (_, code) = try_connect(addr, other);
        assert_eq!(code, ReasonCode::NOT_AUTHORIZED, "{version}");
    }
    // An assigned client id cannot match a will topic chosen before the id was known.
    let watcher = broker.connect(ConnectOptions::new("watcher")).unwrap();
    watcher.subscribe("status/#", QoS::AtMostOnce).unwrap();
    let assigned = with_will(login(V5, "", Some("alice"), Some("a")), "status/alice-1");
    let (mut client, code) = try_connect(addr, assigned);
    assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
    assert!(matches!(
        client.recv_within(common::WAIT),
        Err(Ended::Eof | Ended::Reset)
    ));
    assert!(
        watcher.try_recv().is_err(),
        "the refused will was not published"
    );
    assert_eq!(auth.stats().will_denied, 3);
}

/// Read access is checked per delivery, as Mosquitto does: a wildcard subscription only
/// receives the topics the client may read, retained messages included.
#[test]
fn wildcard_subscriptions_receive_only_readable_topics() {
    let auth = auth();
    let (broker, server) = start_with(auth.clone());
    let publisher = broker.connect(ConnectOptions::new("in-process")).unwrap();
    publisher
        .publish("alice/status", "retained-ok", QoS::AtLeastOnce, true)
        .unwrap();
    publisher
        .publish("alice/private", "retained-no", QoS::AtLeastOnce, true)
        .unwrap();
    let mut b = bob(&server, V5);
    // `alice/#` overlaps bob's `topic read alice/status`: granted.
    assert_eq!(
        subscribe(&mut b, &["alice/#"], QoS::AtLeastOnce),
        [ReasonCode::GRANTED_QOS_1]
    );
    publisher
        .publish("alice/private", "live-no", QoS::AtLeastOnce, false)
        .unwrap();
    publisher
        .publish("alice/status", "live-ok", QoS::AtLeastOnce, false)
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let p = b.recv_publish();
        if let Some(id) = p.packet_id {
            b.send(&Packet::PubAck(PubAck::new(id)));
        }
        got.push(String::from_utf8(p.payload.to_vec()).unwrap());
    }
    assert_eq!(got, ["retained-ok", "live-ok"]);
    assert!(matches!(
        b.recv_within(Duration::from_millis(200)),
        Err(Ended::Timeout)
    ));
    assert_eq!(auth.stats().delivery_denied, 2);
}

/// Topics a network client receives, in order, up to and including `last` (the marker an
/// in-process client published after everything else it could have received).
fn topics_until(client: &mut TestClient, last: &str) -> Vec<String> {
    let mut topics = Vec::new();
    while topics.last().is_none_or(|t| t != last) {
        topics.push(client.recv_publish().topic.as_str().to_owned());
    }
    topics
}

/// `$SYS` under an ACL, end to end with the broker's own statistics: a `$SYS` rule opens it
/// (`ops`); a narrower `$SYS` rule lets a `$SYS/#` subscription through SUBACK but filters
/// each delivery (`mon` gets only `$SYS/broker/uptime`); without a `$SYS` rule, `$SYS/#` is
/// refused (SUBACK 0x87 / 0x80) even for a `topic read #` user (`app`), whose `#`
/// subscription never delivers a `$SYS` topic [MQTT-4.7.2-1].
#[test]
fn sys_topics_reach_only_users_with_a_sys_rule() {
    const SYS_ACL: &str = "\
user ops
topic read $SYS/#
topic read done

user mon
topic read $SYS/broker/uptime
topic read done

user app
topic read #
";
    let auth = Auth::builder()
        .password_file(passwords(&[("ops", "o"), ("mon", "m"), ("app", "a")]))
        .acl(Acl::parse(SYS_ACL).unwrap())
        .build();
    // A manual clock: no timer thread; `$SYS` is published exactly when the test ticks.
    let mut config = Config::default();
    config.sys_interval = Some(Duration::from_secs(10));
    let broker = Broker::builder()
        .config(config)
        .clock(Arc::new(ManualClock::new()))
        .build();
    let server = serve_with(&broker, auth.clone());
    let addr = server.local_addr();
    let user = |version: mqlite_net::ProtocolVersion, name: &str, password: &str| {
        let id = format!("{name}-v{}", version.level());
        connected(addr, login(version, &id, Some(name), Some(password)))
    };

    let mut ops = user(V5, "ops", "o");
    let codes = subscribe(&mut ops, &["$SYS/#", "done"], QoS::AtMostOnce);
    assert_eq!(codes, [ReasonCode::SUCCESS; 2]);
    let mut mon = user(V5, "mon", "m");
    let codes = subscribe(&mut mon, &["$SYS/#", "done"], QoS::AtMostOnce);
    assert_eq!(
        codes,
        [ReasonCode::SUCCESS; 2],
        "$SYS/# overlaps mon's rule"
    );
    let mut app5 = user(V5, "app", "a");
    let codes = subscribe(&mut app5, &["$SYS/#", "#"], QoS::AtMostOnce);
    assert_eq!(codes, [ReasonCode::NOT_AUTHORIZED, ReasonCode::SUCCESS]);
    let mut app3 = user(V311, "app", "a");
    let codes = subscribe(&mut app3, &["$SYS/#", "#"], QoS::AtMostOnce);
    assert_eq!(codes, [ReasonCode::UNSPECIFIED_ERROR, ReasonCode::SUCCESS]);

    assert_eq!(broker.tick(), Some(Duration::from_secs(10)), "$SYS was due");
    // Routed after the `$SYS` messages: each client's deliveries are in order, so whatever
    // reaches a client before `done` is everything the tick sent it.
    let publisher = broker.connect(ConnectOptions::new("in-process")).unwrap();
    publisher
        .publish("done", "", QoS::AtMostOnce, false)
        .unwrap();

    let mut sys = topics_until(&mut ops, "done");
    sys.pop();
    assert!(sys.iter().all(|t| t.starts_with("$SYS/")), "{sys:?}");
    for expected in ["$SYS/broker/uptime", "$SYS/broker/version"] {
        assert!(sys.iter().any(|t| t == expected), "ops got {sys:?}");
    }
    assert_eq!(
        topics_until(&mut mon, "done"),
        ["$SYS/broker/uptime", "done"]
    );
    assert_eq!(topics_until(&mut app5, "done"), ["done"]);
    assert_eq!(topics_until(&mut app3, "done"), ["done"]);
    let stats = auth.stats();
    assert_eq!(stats.subscribe_denied, 2);
    // Only mon's subscription matched topics it may not read: every `$SYS` topic but one.
    assert_eq!(stats.delivery_denied, u64::try_from(sys.len()).unwrap() - 1);
}
