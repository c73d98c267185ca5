//! Every refusal of a network client reaches the embedder's `Hooks::on_event`, whoever
//! refused: the frontend's password file and ACL (reported through `Broker::emit_event`)
//! and the hooks themselves (reported by the core). Issue #10, "Authorization": "every
//! denial is counted and reported through the event hook".
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use crate::auth_common;
use crate::common;

use std::sync::{Arc, Mutex};

use mqlite::{Broker, ClientInfo, Config, ConnectOptions, Event, Hooks, QoS, TopicName};
use mqlite_net::auth::{Acl, Auth};
use mqlite_net::codec::{Properties, ReasonCode, Subscribe};
use mqlite_net::{Packet, ServerHandle};

use auth_common::{connected, login, passwords, try_connect, with_will};
use common::{TestClient, V5, pid, publish_packet, serve};

/// Denies publishing on `hooks/#`; records every denial event as one line.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Hooks for Recorder {
    fn authorize_publish(&self, _: &ClientInfo<'_>, topic: &TopicName, _: QoS, _: bool) -> bool {
        !topic.as_str().starts_with("hooks/")
    }

    fn on_event(&self, event: &Event<'_>) {
        let line = match event {
            Event::ConnectDenied {
                client_id,
                username,
                reason,
            } => format!("connect {client_id} {username:?} {reason:?}"),
            Event::PublishDenied {
                client_id,
                topic,
                reason,
            } => format!("publish {client_id} {topic} {reason:?}"),
            Event::SubscribeDenied {
                client_id,
                filter,
                reason,
            } => format!("subscribe {client_id} {filter} {reason:?}"),
            Event::DeliveryDenied {
                client_id,
                topic,
                reason,
            } => format!("delivery {client_id} {topic} {reason:?}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

/// A broker with a `Recorder` and a server whose password file has alice, whose ACL lets
/// alice use `alice/#` and `hooks/#`.
fn start() -> (Recorder, Broker, ServerHandle) {
    let recorder = Recorder::default();
    let mut broker_config = Config::default();
    broker_config.sys_interval = None;
    let broker = Broker::builder()
        .config(broker_config)
        .hooks(recorder.clone())
        .build();
    let mut config = common::config();
    config.auth = Auth::builder()
        .password_file(passwords(&[("alice", "secret")]))
        .acl(Acl::parse("user alice\ntopic readwrite alice/#\ntopic write hooks/#\n").unwrap())
        .build();
    let server = serve(&broker, config);
    (recorder, broker, server)
}

/// The next packet's reason code: a PUBACK's or the first of a SUBACK's.
fn ack_code(client: &mut TestClient) -> ReasonCode {
    match client.recv() {
        Packet::PubAck(ack) => ack.reason_code,
        Packet::SubAck(ack) => ack.reason_codes[0],
        other => panic!("expected PUBACK or SUBACK, got {other:?}"),
    }
}

/// A wrong password, a will the ACL refuses, a publish and a subscription the ACL refuses,
/// a publish the hooks refuse and a delivery the ACL withholds: one event each, in order,
/// with who refused.
#[test]
fn every_denial_reaches_on_event() {
    let (recorder, broker, server) = start();
    let addr = server.local_addr();
    let (mut refused, code) = try_connect(addr, login(V5, "a", Some("alice"), Some("guess")));
    assert_eq!(code, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
    refused.expect_eof();
    let will = with_will(login(V5, "a", Some("alice"), Some("secret")), "bob/will");
    let (mut refused, code) = try_connect(addr, will);
    assert_eq!(code, ReasonCode::NOT_AUTHORIZED);
    refused.expect_eof();

    let mut alice = connected(addr, login(V5, "a", Some("alice"), Some("secret")));
    alice.send(&publish_packet("bob/x", b"x", QoS::AtLeastOnce, Some(1)));
    assert_eq!(ack_code(&mut alice), ReasonCode::NOT_AUTHORIZED);
    alice.send(&publish_packet("hooks/x", b"x", QoS::AtLeastOnce, Some(2)));
    assert_eq!(ack_code(&mut alice), ReasonCode::NOT_AUTHORIZED);
    alice.send(&Packet::Subscribe(Subscribe {
        packet_id: pid(3),
        properties: Properties::default(),
        filters: vec![(
            mqlite::TopicFilter::new("bob/#").unwrap(),
            QoS::AtMostOnce.into(),
        )],
    }));
    assert_eq!(ack_code(&mut alice), ReasonCode::NOT_AUTHORIZED);
    // `#` is granted (it spans alice/#), but `other/x` is withheld on delivery.
    alice.subscribe("#", QoS::AtMostOnce);
    let publisher = broker.connect(ConnectOptions::new("in-process")).unwrap();
    for topic in ["other/x", "alice/x"] {
        publisher
            .publish(topic, "m", QoS::AtMostOnce, false)
            .unwrap();
    }
    // Deliveries keep their order: once alice/x arrived, other/x was withheld.
    assert_eq!(alice.recv_publish().topic.as_str(), "alice/x");
    assert_eq!(
        recorder.0.lock().unwrap().clone(),
        [
            "connect a Some(\"alice\") BadCredentials",
            "connect a Some(\"alice\") Acl",
            "publish a bob/x Acl",
            "publish a hooks/x Hooks",
            "subscribe a bob/# Acl",
            "delivery a other/x Acl",
        ]
    );
}
