//! Fixtures of the authentication and ACL tests (`auth*.rs`, `acl*.rs`), on top of
//! `common/`: servers with an [`Auth`], CONNECTs with credentials, and acknowledged publishes.
#![allow(dead_code)]

pub(crate) mod mosquitto;

use bytes::Bytes;
use mqlite::{Broker, Config, QoS};
use mqlite_net::auth::{Auth, PasswordFile, hash_password};
use mqlite_net::codec::{ConnAck, Connect, Properties, PublishTopic, ReasonCode, Will};
use mqlite_net::{Packet, ProtocolVersion, ServerHandle};

use crate::common::{TestClient, connect_packet, publish_packet, serve};

/// A password file with `users` (name, password), hashed as `mqlite passwd` does.
pub(crate) fn passwords(users: &[(&str, &str)]) -> PasswordFile {
    let text: String = users
        .iter()
        .map(|(user, pw)| format!("{user}:{}\n", hash_password(pw.as_bytes(), 101).unwrap()))
        .collect();
    PasswordFile::parse(&text).unwrap()
}

/// A broker (without `$SYS` noise) and a one-worker server enforcing `auth`.
pub(crate) fn start_with(auth: Auth) -> (Broker, ServerHandle) {
    let mut config = Config::default();
    config.sys_interval = None;
    let broker = Broker::new(config);
    let server = serve_with(&broker, auth);
    (broker, server)
}

/// A one-worker server in front of `broker`, enforcing `auth`.
pub(crate) fn serve_with(broker: &Broker, auth: Auth) -> ServerHandle {
    let mut config = crate::common::config();
    config.auth = auth;
    serve(broker, config)
}

/// A clean-start CONNECT of `client_id` with an optional user name and password.
pub(crate) fn login(
    version: ProtocolVersion,
    client_id: &str,
    username: Option<&str>,
    password: Option<&str>,
) -> Connect {
    let mut connect = connect_packet(version, client_id);
    connect.username = username.map(str::to_owned);
    connect.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    connect
}

/// `connect` with a QoS 0 will on `topic`.
pub(crate) fn with_will(mut connect: Connect, topic: &str) -> Connect {
    connect.will = Some(Will {
        topic: PublishTopic::new(topic).unwrap(),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    connect
}

/// Connects; returns the client and the CONNACK's reason code.
pub(crate) fn try_connect(
    addr: std::net::SocketAddr,
    connect: Connect,
) -> (TestClient, ReasonCode) {
    let (client, ConnAck { reason_code, .. }) = TestClient::connect_with(addr, connect);
    (client, reason_code)
}

/// Connects and asserts the server accepted.
pub(crate) fn connected(addr: std::net::SocketAddr, connect: Connect) -> TestClient {
    let id = connect.client_id.clone();
    let (client, code) = try_connect(addr, connect);
    assert_eq!(code, ReasonCode::SUCCESS, "CONNACK of {id}");
    client
}

/// Publishes at QoS 1 (id 1) and returns the PUBACK's reason code.
pub(crate) fn publish_qos1(client: &mut TestClient, topic: &str, payload: &[u8]) -> ReasonCode {
    client.send(&publish_packet(topic, payload, QoS::AtLeastOnce, Some(1)));
    match client.recv() {
        Packet::PubAck(ack) => ack.reason_code,
        other => panic!("expected PUBACK for {topic}, got {other:?}"),
    }
}

/// Subscribes to each filter at `qos` (one SUBSCRIBE) and returns the SUBACK's codes.
pub(crate) fn subscribe(client: &mut TestClient, filters: &[&str], qos: QoS) -> Vec<ReasonCode> {
    client.send(&Packet::Subscribe(mqlite_net::codec::Subscribe {
        packet_id: crate::common::pid(7),
        properties: Properties::default(),
        filters: filters
            .iter()
            .map(|f| {
                (
                    mqlite::TopicFilter::new(f).unwrap(),
                    mqlite::SubOptions::new(qos),
                )
            })
            .collect(),
    }));
    match client.recv() {
        Packet::SubAck(ack) => ack.reason_codes,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}
