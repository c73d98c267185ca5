//! A bad first packet: not a CONNECT, or a CONNECT that is malformed or asks for what the
//! server cannot give. Each kind checks the exact reply (a CONNACK refusal or nothing), that
//! the server closes the connection, and the counter that took it.

use crate::common;

use common::*;
use mqlite_net::codec::ReasonCode;

/// An unknown protocol name gets CONNACK return code 0x01 in 3.1.1 form and the connection
/// is closed [MQTT-3.1.2-2] (the server cannot know which version would be understood).
#[test]
fn wrong_protocol_name_gets_connack_0x01() {
    let input = [
        0x10, 0x0D, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'X', // protocol name "MQTX"
        0x04, // level 4
        0x02, // clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x01, b'm', // client id "m"
    ];
    let reply = connack_v311_bytes(0x01);
    expect_as_first_packet(
        "protocol name MQTX",
        config(),
        &input,
        &reply,
        Counted::Refused,
    );
}

/// An unsupported protocol level gets CONNACK 0x01 and is closed [MQTT-3.1.2-2].
#[test]
fn unsupported_protocol_level_gets_connack_0x01() {
    let mqtt_6 = [
        0x10, 0x0D, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x06, // level 6
        0x02, // clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x01, b'm', // client id "m"
    ];
    let mqisdp_4 = [
        0x10, 0x0F, // CONNECT, remaining length 15
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
        0x04, // level 4: MQIsdp is only level 3
        0x02, // clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x01, b'm', // client id "m"
    ];
    let reply = connack_v311_bytes(0x01);
    expect_as_first_packet("MQTT level 6", config(), &mqtt_6, &reply, Counted::Refused);
    expect_as_first_packet(
        "MQIsdp level 4",
        config(),
        &mqisdp_4,
        &reply,
        Counted::Refused,
    );
}

/// The first packet must be CONNECT [MQTT-3.1.0-1]: anything else is closed without a reply.
#[test]
fn first_packet_not_connect_is_closed() {
    let input = [
        0xC0, 0x00, // PINGREQ
    ];
    expect_as_first_packet("PINGREQ first", config(), &input, &[], Counted::Protocol);
}

/// The 3.1.1 and 5.0 forms of one CONNECT with `flags`, client id "m", and `tail` (fields
/// after the client id).
fn connect_with_flags(flags: u8, tail: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let v311 = [
        &[
            0x10,                    // CONNECT
            0x0D + tail.len() as u8, // remaining length
            0x00,
            0x04,
            b'M',
            b'Q',
            b'T',
            b'T',  // protocol name
            0x04,  // level 4
            flags, // connect flags
            0x00,
            0x3C, // keep alive 60
            0x00,
            0x01,
            b'm', // client id "m"
        ][..],
        tail,
    ]
    .concat();
    let v5 = [
        &[
            0x10,                    // CONNECT
            0x0E + tail.len() as u8, // remaining length
            0x00,
            0x04,
            b'M',
            b'Q',
            b'T',
            b'T',  // protocol name
            0x05,  // level 5
            flags, // connect flags
            0x00,
            0x3C, // keep alive 60
            0x00, // no properties
            0x00,
            0x01,
            b'm', // client id "m"
        ][..],
        tail,
    ]
    .concat();
    (v311, v5)
}

/// A malformed CONNECT: 3.1.1 closes without a reply, 5.0 answers CONNACK 0x81 Malformed
/// Packet first [MQTT-4.13.1-1].
fn malformed_connect(case: &str, flags: u8, tail: &[u8]) {
    let (v311, v5) = connect_with_flags(flags, tail);
    expect_as_first_packet(case, config(), &v311, &[], Counted::Malformed);
    let reply = connack_v5_bytes(0x81);
    expect_as_first_packet(case, config(), &v5, &reply, Counted::MalformedRefused);
}

/// The reserved connect flag (bit 0) must be 0 [MQTT-3.1.2-3].
#[test]
fn connect_reserved_flag_is_malformed() {
    malformed_connect("reserved flag", 0b0000_0011, &[]);
}

/// Without a will, Will QoS must be 0 [MQTT-3.1.2-13] (5.0: [MQTT-3.1.2-11]).
#[test]
fn will_qos_without_will_flag_is_malformed() {
    malformed_connect("will QoS 1 without a will", 0b0000_1010, &[]);
}

/// Without a will, Will Retain must be 0 [MQTT-3.1.2-15] (5.0: [MQTT-3.1.2-13]).
#[test]
fn will_retain_without_will_flag_is_malformed() {
    malformed_connect("will retain without a will", 0b0010_0010, &[]);
}

/// Before 5.0 a password needs a user name [MQTT-3.1.2-22]; 5.0 allows it (§3.1.2.9).
#[test]
fn password_without_user_name_is_malformed_before_v5() {
    let password = [
        0x00, 0x01, b'p', // password "p"
    ];
    let (v311, v5) = connect_with_flags(0b0100_0010, &password);
    expect_as_first_packet(
        "password without user name",
        config(),
        &v311,
        &[],
        Counted::Malformed,
    );

    let (_broker, server) = start(config());
    let mut client = TestClient::open(server.local_addr(), V5);
    client.send_bytes(&v5);
    match client.recv() {
        mqlite_net::Packet::ConnAck(ack) => assert_eq!(ack.reason_code, ReasonCode::SUCCESS),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Receive Maximum 0 is a protocol error (5.0 §3.1.2.11.3): CONNACK 0x82.
#[test]
fn connect_with_receive_maximum_0_is_refused() {
    let input = [
        0x10, 0x11, // CONNECT, remaining length 17
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05, // level 5
        0x02, // clean start
        0x00, 0x3C, // keep alive 60
        0x03, // property length 3
        0x21, 0x00, 0x00, // Receive Maximum 0
        0x00, 0x01, b'm', // client id "m"
    ];
    let reply = connack_v5_bytes(0x82);
    expect_as_first_packet(
        "Receive Maximum 0",
        config(),
        &input,
        &reply,
        Counted::MalformedRefused,
    );
}

/// CONNECT properties running past the packet are malformed: CONNACK 0x81.
#[test]
fn connect_with_truncated_properties_is_malformed() {
    let input = [
        0x10, 0x0D, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05, // level 5
        0x02, // clean start
        0x00, 0x3C, // keep alive 60
        0x09, // property length 9, but only 2 bytes follow
        0x21, 0x00, // half a Receive Maximum
    ];
    let reply = connack_v5_bytes(0x81);
    expect_as_first_packet(
        "truncated CONNECT properties",
        config(),
        &input,
        &reply,
        Counted::MalformedRefused,
    );
}

/// A CONNECT over `max_packet_size`: 5.0 gets CONNACK 0x95 Packet too large, 3.1.1 is
/// closed.
#[test]
fn connect_over_max_packet_size_is_refused() {
    let mut small = config();
    small.max_packet_size = 64;
    let id = [b'c'; 100];
    let v5 = [
        &[
            0x10, 0x71, // CONNECT, remaining length 113
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x05, // level 5
            0x02, // clean start
            0x00, 0x3C, // keep alive 60
            0x00, // no properties
            0x00, 0x64, // client id of 100 bytes ...
        ][..],
        &id, // ... "ccc…"
    ]
    .concat();
    let mut v311 = v5.clone();
    v311.remove(12); // no properties byte
    v311[1] = 0x70; // remaining length 112
    v311[8] = 0x04; // level 4
    let reply = connack_v5_bytes(0x95);
    expect_as_first_packet(
        "CONNECT of 115 bytes",
        small.clone(),
        &v5,
        &reply,
        Counted::MalformedRefused,
    );
    expect_as_first_packet(
        "CONNECT of 114 bytes",
        small,
        &v311,
        &[],
        Counted::Malformed,
    );
}

/// A client id longer than the broker's `max_client_id_length` is refused: 5.0 CONNACK 0x85
/// Client Identifier not valid, 3.1.1 return code 0x02 [MQTT-3.1.3-9].
#[test]
fn client_id_over_limit_is_refused() {
    let long = "c".repeat(300);
    for version in [V5, V311] {
        let (_broker, server) = start(config());
        let (mut client, ack) =
            TestClient::connect_with(server.local_addr(), connect_packet(version, &long));
        // 3.1.1 return code 0x02 decodes as its 5.0 equivalent.
        assert_eq!(
            ack.reason_code,
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            "{version}"
        );
        client.expect_eof();
        drop(client);
        assert_counted(&server, "client id of 300 bytes", Counted::Refused);
    }
}

/// 3.1 has no Session Present flag and no assigned client ids: an empty id is refused with
/// return code 0x02.
#[test]
fn v31_empty_client_id_is_refused() {
    let input = [
        0x10, 0x0E, // CONNECT, remaining length 14
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
        0x03, // level 3
        0x02, // clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x00, // empty client id
    ];
    let reply = connack_v311_bytes(0x02);
    expect_as_first_packet(
        "3.1 empty client id",
        config(),
        &input,
        &reply,
        Counted::Refused,
    );
}
