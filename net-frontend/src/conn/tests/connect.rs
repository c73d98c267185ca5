//! CONNECT → CONNACK, the 5.0 CONNACK properties, refusals, the CONNECT timeout and keep
//! alive.

use super::*;
use crate::conn::Closed;

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// Encodes a CONNACK the way the server wrote it.
fn wire(ack: &ConnAck, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    codec::encode(&Packet::ConnAck(ack.clone()), version, &mut out).expect("encodes");
    out.to_vec()
}

/// Each version's CONNECT is accepted with a CONNACK of that version [MQTT-3.2.0-1]:
/// 3.1 and 3.1.1 return code 0 with no properties, 5.0 reason code 0 with properties.
#[test]
fn connect_is_accepted_in_each_version() {
    let broker = broker();
    for version in [V31, V311] {
        let (peer, ack) =
            Peer::connect_with(&broker, ServerConfig::default(), connect(version, "c"));
        assert_eq!(
            wire(&ack, version),
            [
                0x20, 0x02, // CONNACK, remaining length 2
                0x00, // no session present
                0x00, // return code 0: accepted
            ],
            "{version}"
        );
        assert_eq!(peer.stats().clients_connected, 1);
    }
    let (peer, ack) = Peer::connect_with(&broker, ServerConfig::default(), connect(V5, "c"));
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert!(!ack.session_present);
    assert!(!ack.properties.is_empty());
    assert_eq!(peer.stats().clients_connected, 1);
}

/// A 5.0 CONNACK tells the client the server's limits and what it supports (§3.2.2.3):
/// Receive Maximum, Maximum Packet Size, Topic Alias Maximum and the availability flags.
/// Nothing the client did not trigger is sent (no assigned id, no server keep alive, no
/// response information).
#[test]
fn v5_connack_advertises_the_server_limits() {
    let mut core = Config::default();
    core.max_inflight_messages = 42;
    let config = ServerConfig {
        max_packet_size: 4096,
        topic_alias_maximum: 7,
        ..ServerConfig::default()
    };
    let mut c = connect(V5, "limits");
    c.keep_alive = 60;
    let (_peer, ack) = Peer::connect_with(&broker_with(core), config, c);
    let expected = Properties {
        receive_maximum: Some(42),
        maximum_packet_size: Some(4096),
        topic_alias_maximum: Some(7),
        retain_available: Some(true),
        wildcard_subscription_available: Some(true),
        subscription_identifier_available: Some(true),
        shared_subscription_available: Some(true),
        ..Properties::default()
    };
    assert_eq!(ack.properties, expected);
}

/// With `topic_alias_maximum` 0 the CONNACK has no Topic Alias Maximum (absent means 0,
/// §3.2.2.3.8).
#[test]
fn v5_connack_omits_topic_alias_maximum_of_0() {
    let config = ServerConfig {
        topic_alias_maximum: 0,
        ..ServerConfig::default()
    };
    let (_peer, ack) = Peer::connect_with(&broker(), config, connect(V5, "c"));
    assert_eq!(ack.properties.topic_alias_maximum, None);
}

/// A 5.0 client with an empty client id gets one assigned and told in Assigned Client
/// Identifier [MQTT-3.2.2-16]; each connection gets its own.
#[test]
fn v5_empty_client_id_is_assigned_one() {
    let broker = broker();
    let (_a, ack_a) = Peer::connect_with(&broker, ServerConfig::default(), connect(V5, ""));
    let (_b, ack_b) = Peer::connect_with(&broker, ServerConfig::default(), connect(V5, ""));
    let a = ack_a
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    let b = ack_b
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    assert!(!a.is_empty());
    assert_ne!(a, b);
    assert!(broker.session_stats(&a).is_some_and(|s| s.online));
}

/// 3.1.1 assigns an id to an empty one only with clean session 1 [MQTT-3.1.3-6]; with clean
/// session 0 it answers return code 0x02 and closes [MQTT-3.1.3-8].
#[test]
fn v311_empty_client_id_needs_clean_session() {
    let broker = broker();
    let (_ok, ack) = Peer::connect_with(&broker, ServerConfig::default(), connect(V311, ""));
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);

    let mut c = connect(V311, "");
    c.clean_start = false;
    let (peer, ack) = Peer::connect_with(&broker, ServerConfig::default(), c);
    assert_eq!(
        wire(&ack, V311),
        [
            0x20, 0x02, // CONNACK, remaining length 2
            0x00, // no session present
            0x02, // return code 2: identifier rejected
        ]
    );
    assert_eq!(peer.stats().connect_refused, 1);
    assert_eq!(peer.stats().clients_connected, 0);
}

/// 3.1 has no assigned identifiers: an empty id is refused with return code 2.
#[test]
fn v31_empty_client_id_is_refused() {
    let (_peer, ack) = Peer::connect_with(&broker(), ServerConfig::default(), connect(V31, ""));
    assert_eq!(ack.reason_code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
}

/// A client asking for more keep alive than `max_keepalive`, or for none, gets
/// `max_keepalive` as Server Keep Alive and must use it [MQTT-3.2.2-21]; one asking for less
/// keeps its own and gets no Server Keep Alive.
#[test]
fn v5_server_keep_alive_caps_the_clients() {
    let config = ServerConfig {
        max_keepalive: 30,
        ..ServerConfig::default()
    };
    for (asked, granted) in [(60, Some(30)), (0, Some(30)), (30, None), (10, None)] {
        let mut c = connect(V5, "ka");
        c.keep_alive = asked;
        let (_peer, ack) = Peer::connect_with(&broker(), config.clone(), c);
        assert_eq!(ack.properties.server_keep_alive, granted, "asked {asked}");
    }
}

/// A session expiry above `max_session_expiry` is capped, and the CONNACK says which interval
/// the server uses (§3.2.2.3.2); one within the cap gets no Session Expiry Interval back.
#[test]
fn v5_capped_session_expiry_is_announced_in_connack() {
    let mut core = Config::default();
    core.max_session_expiry = Some(Duration::from_secs(3600));
    let b = broker_with(core);
    for (asked, announced) in [
        (Some(u32::MAX), Some(3600)),
        (Some(7200), Some(3600)),
        (Some(3600), None),
        (Some(60), None),
        (None, None),
    ] {
        let mut c = connect(V5, "expiry");
        c.properties.session_expiry_interval = asked;
        let (_peer, ack) = Peer::connect_with(&b, ServerConfig::default(), c);
        assert_eq!(
            ack.properties.session_expiry_interval, announced,
            "asked {asked:?}"
        );
    }
}

/// The keep alive the server grants is the one it enforces: 1.5 × 30 s, not 1.5 × 60 s
/// [MQTT-3.1.2-22].
#[test]
fn v5_server_keep_alive_is_enforced() {
    let config = ServerConfig {
        max_keepalive: 30,
        ..ServerConfig::default()
    };
    let mut c = connect(V5, "ka");
    c.keep_alive = 60;
    let (mut peer, _) = Peer::connect_with(&broker(), config, c);
    assert_eq!(peer.conn.on_tick(peer.at(Duration::from_secs(45))), Ok(()));
    let flow = peer.conn.on_tick(peer.at(Duration::from_millis(45_001)));
    peer.assert_disconnected(flow, ReasonCode::KEEP_ALIVE_TIMEOUT);
}

/// Response Information goes only to a client that asked for it with Request Response
/// Information 1 (§3.1.2.11.7), as the configured prefix followed by the client id.
#[test]
fn v5_response_information_only_when_requested() {
    let mut c = connect(V5, "rr");
    c.properties.request_response_information = Some(true);
    let (_peer, ack) = Peer::connect_with(&broker(), ServerConfig::default(), c.clone());
    assert_eq!(
        ack.properties.response_information.as_deref(),
        Some("response/rr")
    );

    let config = ServerConfig {
        response_information: None,
        ..ServerConfig::default()
    };
    let (_peer, ack) = Peer::connect_with(&broker(), config, c.clone());
    assert_eq!(ack.properties.response_information, None);

    c.properties.request_response_information = Some(false);
    let (_peer, ack) = Peer::connect_with(&broker(), ServerConfig::default(), c);
    assert_eq!(ack.properties.response_information, None);
}

/// Enhanced authentication is not supported: a CONNECT with an Authentication Method is
/// refused with 0x8C Bad authentication method (§4.12).
#[test]
fn v5_authentication_method_is_refused() {
    let mut c = connect(V5, "auth");
    c.properties.authentication_method = Some("SCRAM-SHA-1".into());
    let (peer, ack) = Peer::connect_with(&broker(), ServerConfig::default(), c);
    assert_eq!(ack.reason_code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    assert_eq!(peer.stats().connect_refused, 1);
}

/// Refuses user `mallory`.
#[derive(Debug)]
struct NoMallory;

impl mqlite::Hooks for NoMallory {
    fn authenticate(&self, client: &mqlite::ClientInfo<'_>, _: Option<&[u8]>) -> bool {
        client.username != Some("mallory")
    }
}

/// A CONNECT the authenticate hook refuses gets 0x87 Not authorized on 5.0 and return code 5
/// on 3.1.1 [MQTT-3.2.2-5], and no session.
#[test]
fn refused_credentials_get_not_authorized() {
    let broker = Broker::builder()
        .hooks(NoMallory)
        .clock(Arc::new(ManualClock::new()))
        .build();
    for (version, wire_code) in [(V5, 0x87), (V311, 0x05)] {
        let mut c = connect(version, "m");
        c.username = Some("mallory".into());
        let (_peer, ack) = Peer::connect_with(&broker, ServerConfig::default(), c);
        // Fixed header (2 bytes), flags, then the reason / return code.
        assert_eq!(wire(&ack, version)[3], wire_code, "{version}");
        assert!(broker.session_stats("m").is_none());
    }
}

/// Past the broker's `max_clients` a 5.0 CONNECT gets 0x89 Server busy, a 3.1.1 one return
/// code 3 Server unavailable.
#[test]
fn max_clients_refuses_with_server_busy() {
    let mut core = Config::default();
    core.max_clients = 1;
    let broker = broker_with(core);
    let _first = Peer::connect(&broker, V311, "first");
    for (version, code) in [
        (V5, ReasonCode::SERVER_BUSY),
        (V311, ReasonCode::SERVER_UNAVAILABLE),
    ] {
        let (_peer, ack) =
            Peer::connect_with(&broker, ServerConfig::default(), connect(version, "second"));
        assert_eq!(ack.reason_code, code, "{version}");
    }
}

/// A connection that sends no CONNECT within `connect_timeout` is closed without a word and
/// counted; a partial CONNECT does not count as one.
#[test]
fn connect_timeout_closes_a_silent_connection() {
    let config = ServerConfig {
        connect_timeout: Duration::from_secs(10),
        ..ServerConfig::default()
    };
    let mut peer = Peer::open(&broker(), config, V311);
    assert_eq!(peer.send_bytes(&[0x10, 0x0D, 0x00]), Ok(())); // a CONNECT's first 3 bytes
    assert_eq!(
        peer.conn.on_tick(peer.at(Duration::from_millis(9_999))),
        Ok(())
    );
    assert_eq!(
        peer.conn.on_tick(peer.at(Duration::from_secs(10))),
        Err(Closed)
    );
    assert_eq!(peer.take(), vec![]);
    assert_eq!(peer.stats().connect_timeouts, 1);
}

/// Keep alive: silence for more than 1.5 × keep alive closes the connection, on 3.1.1
/// without a word [MQTT-3.1.2-24], on 5.0 with DISCONNECT 0x8D [MQTT-3.1.2-22].
#[test]
fn keep_alive_closes_after_one_and_a_half_periods() {
    for version in [V311, V5] {
        let mut c = connect(version, "ka");
        c.keep_alive = 10;
        let (mut peer, _) = Peer::connect_with(&broker(), ServerConfig::default(), c);
        assert_eq!(
            peer.conn.on_tick(peer.at(Duration::from_secs(15))),
            Ok(()),
            "{version}"
        );
        let flow = peer.conn.on_tick(peer.at(Duration::from_millis(15_001)));
        if version.is_v5() {
            peer.assert_disconnected(flow, ReasonCode::KEEP_ALIVE_TIMEOUT);
        } else {
            peer.assert_closed_silently(flow);
        }
        assert_eq!(peer.stats().keepalive_timeouts, 1);
        assert_eq!(peer.stats().clients_connected, 0);
    }
}

/// Any packet restarts the keep alive period; PINGREQ is answered with PINGRESP
/// [MQTT-3.12.4-1].
#[test]
fn pingreq_restarts_keep_alive() {
    let mut c = connect(V311, "ka");
    c.keep_alive = 10;
    let (mut peer, _) = Peer::connect_with(&broker(), ServerConfig::default(), c);
    let ping_at = peer.at(Duration::from_secs(14));
    assert_eq!(peer.send_at(&Packet::PingReq, ping_at), Ok(()));
    assert_eq!(peer.take(), vec![Packet::PingResp]);
    assert_eq!(peer.conn.on_tick(peer.at(Duration::from_secs(29))), Ok(()));
    assert!(
        peer.conn
            .on_tick(peer.at(Duration::from_millis(29_001)))
            .is_err()
    );
}

/// Keep alive 0 turns the mechanism off (3.1.1 §3.1.2.10): 3.1.1 has no Server Keep Alive
/// to impose one.
#[test]
fn keep_alive_0_never_times_out() {
    let mut peer = Peer::connect(&broker(), V311, "forever");
    assert_eq!(
        peer.conn.on_tick(peer.at(Duration::from_secs(86_400))),
        Ok(())
    );
    assert_eq!(peer.take(), vec![]);
}

/// A second CONNECT is a protocol error [MQTT-3.1.0-2]: 5.0 gets DISCONNECT 0x82, the
/// session's will is published.
#[test]
fn second_connect_is_a_protocol_error() {
    let broker = broker();
    let watch = watcher(&broker, "w", "will/#");
    let mut c = connect(V5, "twice");
    c.will = Some(codec::Will {
        topic: PublishTopic::new("will/twice").expect("topic"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    let flow = peer.send(&Packet::Connect(Box::new(connect(V5, "twice"))));
    peer.assert_disconnected(flow, ReasonCode::PROTOCOL_ERROR);
    assert_eq!(peer.stats().protocol_errors, 1);
    assert_eq!(
        received(&watch),
        vec![("will/twice".into(), Bytes::from_static(b"gone"))]
    );
}
