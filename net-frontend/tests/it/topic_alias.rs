//! Outbound topic aliases over a real socket (MQTT 5.0 §3.3.2.3.4): what the server sends a
//! subscriber that accepts aliases, and one that does not. The choice of aliases is the
//! state machine's (`src/conn/tests/alias.rs`); here the client only checks the rules.

use crate::common;

use std::collections::HashMap;

use common::*;
use mqlite::{ConnectOptions, QoS};
use mqlite_net::codec::{Publish, ReasonCode};

/// The client's Topic Alias Maximum: fewer aliases than the topics published.
const MAX: u16 = 2;

/// Resolves the topic of each PUBLISH as a receiver must: a topic with an alias sets the
/// mapping, an empty topic with an alias uses it. Checks every alias is in `1..=MAX`
/// [MQTT-3.3.2-8] [MQTT-3.3.2-11] and an empty topic's alias is mapped.
fn resolve(received: &[Publish]) -> Vec<String> {
    let mut map: HashMap<u16, String> = HashMap::new();
    let mut topics = Vec::new();
    for (i, p) in received.iter().enumerate() {
        let topic = p.topic.as_str();
        let resolved = match p.properties.topic_alias {
            None => {
                assert!(!topic.is_empty(), "PUBLISH {i}: empty topic without alias");
                topic.to_owned()
            }
            Some(alias) => {
                assert!((1..=MAX).contains(&alias), "PUBLISH {i}: alias {alias}");
                if !topic.is_empty() {
                    map.insert(alias, topic.to_owned());
                }
                let known = map.get(&alias);
                known
                    .unwrap_or_else(|| panic!("PUBLISH {i}: alias {alias} unset"))
                    .clone()
            }
        };
        topics.push(resolved);
    }
    topics
}

/// A client that sent Topic Alias Maximum 2 in CONNECT: the first PUBLISH of a topic has the
/// topic and an alias, a later one to the same topic an empty topic and that alias
/// (§3.3.2.3.4); no alias is 0 or above 2 [MQTT-3.3.2-8] [MQTT-3.3.2-11] [MQTT-3.1.2-26],
/// and every message resolves to the topic it was published to. A client that sent no Topic
/// Alias Maximum never gets an alias [MQTT-3.1.2-27].
#[test]
fn outbound_topic_aliases_respect_the_client_maximum() {
    let (broker, server) = start(config());
    let addr = server.local_addr();
    let mut c = connect_packet(V5, "aliased");
    c.properties.topic_alias_maximum = Some(MAX);
    let (mut aliased, ack) = TestClient::connect_with(addr, c);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    aliased.subscribe("t/#", QoS::AtLeastOnce);
    let mut plain = TestClient::connect(addr, V5, "plain");
    plain.subscribe("t/#", QoS::AtLeastOnce);

    // Three topics for two aliases; QoS 0 and 1 both go through the table.
    let sent = ["t/a", "t/a", "t/b", "t/c", "t/a", "t/c", "t/b", "t/a"];
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for (i, topic) in sent.iter().enumerate() {
        let qos = if i % 2 == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        source
            .publish(topic, i.to_string(), qos, false)
            .expect("publish");
    }
    let receive = |client: &mut TestClient| -> Vec<Publish> {
        (0..sent.len())
            .map(|_| {
                let p = client.recv_publish();
                if let Some(id) = p.packet_id {
                    client.puback(id);
                }
                p
            })
            .collect()
    };

    let got = receive(&mut aliased);
    let payloads: Vec<String> = got
        .iter()
        .map(|p| String::from_utf8(p.payload.to_vec()).expect("UTF-8"))
        .collect();
    let order: Vec<String> = (0..sent.len()).map(|i| i.to_string()).collect();
    assert_eq!(payloads, order, "in order");
    assert_eq!(resolve(&got), sent);
    // The repeated topic: set with its name, then reused by alias alone.
    let first = got[0].properties.topic_alias;
    assert_eq!((got[0].topic.as_str(), first.is_some()), ("t/a", true));
    assert_eq!(
        (got[1].topic.as_str(), got[1].properties.topic_alias),
        ("", first)
    );
    aliased.ping();

    for (i, p) in receive(&mut plain).iter().enumerate() {
        assert_eq!(
            (p.topic.as_str(), p.properties.topic_alias),
            (sent[i], None),
            "PUBLISH {i} to the client without Topic Alias Maximum"
        );
    }
    plain.ping();
}

/// Topic alias mappings end with their Network Connection [MQTT-3.3.2-7]: after a persistent
/// session resumes, its queued messages and the next live ones name their topic again before
/// any alias is reused, and still resolve to the topics published.
#[test]
fn topic_aliases_do_not_survive_a_resumed_session() {
    let (broker, server) = start(config());
    let addr = server.local_addr();
    let persistent = || {
        let mut c = connect_packet(V5, "resumer");
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(60);
        c.properties.topic_alias_maximum = Some(MAX);
        c
    };
    let (mut first, ack) = TestClient::connect_with(addr, persistent());
    assert!(!ack.session_present);
    first.subscribe("t/#", QoS::AtLeastOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    let publish = |topic: &str, payload: &str| {
        source
            .publish(topic, payload.to_owned(), QoS::AtLeastOnce, false)
            .expect("publish");
    };
    for payload in ["1", "2"] {
        publish("t/a", payload);
        let p = first.recv_publish();
        first.puback(p.packet_id.expect("QoS 1"));
    }
    first.disconnect();

    publish("t/a", "queued"); // queued while the session is offline
    let (mut second, ack) = TestClient::connect_with(addr, persistent());
    assert!(ack.session_present);
    publish("t/a", "live");
    let got: Vec<Publish> = (0..2)
        .map(|_| {
            let p = second.recv_publish();
            second.puback(p.packet_id.expect("QoS 1"));
            p
        })
        .collect();
    // The new connection's table starts empty: an empty topic here would rely on the old one.
    assert_eq!(
        got[0].topic.as_str(),
        "t/a",
        "first PUBLISH after the resume"
    );
    assert_eq!(resolve(&got), ["t/a", "t/a"]);
    let payloads: Vec<&[u8]> = got.iter().map(|p| &p.payload[..]).collect();
    assert_eq!(payloads, [&b"queued"[..], b"live"]);
    second.ping();
}
