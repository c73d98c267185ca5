//! Malformed and protocol-violating packets from a connected client, as raw bytes over a real
//! socket. Each kind checks the exact reply (5.0: a DISCONNECT with the reason code; 3.1.1:
//! nothing), that the server then closes the connection, and which counter of
//! `ServerHandle::stats` took it. A malformed packet closes only its own connection
//! [MQTT-4.8.0-1] (5.0 §4.13); `robustness.rs` checks that the others carry on.
//!
//! Here: framing, PUBLISH fields and properties. Requests a client may not make (topic
//! aliases, subscriptions, server packets, ...) are in `malformed_requests.rs`; the first
//! packet of a connection (CONNECT itself) is in `malformed_connect.rs`.

use crate::common;

use common::*;

/// A remaining length with a fifth byte is malformed [MQTT-1.5.5-1] (3.1.1 §2.2.3).
#[test]
fn remaining_length_of_five_bytes_is_malformed() {
    let input = [
        0x30, // PUBLISH QoS 0
        0xFF, 0xFF, 0xFF, 0xFF, 0x01, // remaining length: 5 bytes
    ];
    both_versions(
        "5-byte remaining length",
        &input,
        &input,
        0x81,
        Counted::Malformed,
    );
}

/// SUBSCRIBE must have header flags 0b0010 [MQTT-3.8.1-1].
#[test]
fn subscribe_with_reserved_flags_is_malformed() {
    let v5 = [
        0x80, 0x07, // SUBSCRIBE with flags 0000, remaining length 7
        0x00, 0x01, // packet id 1
        0x00, // no properties
        0x00, 0x01, b't', // filter "t"
        0x00, // options: QoS 0
    ];
    let v311 = [
        0x80, 0x06, // SUBSCRIBE with flags 0000, remaining length 6
        0x00, 0x01, // packet id 1
        0x00, 0x01, b't', // filter "t"
        0x00, // QoS 0
    ];
    both_versions("SUBSCRIBE flags 0000", &v5, &v311, 0x81, Counted::Malformed);
}

/// PUBREL must have header flags 0b0010 [MQTT-3.6.1-1].
#[test]
fn pubrel_with_reserved_flags_is_malformed() {
    let input = [
        0x60, 0x02, // PUBREL with flags 0000, remaining length 2
        0x00, 0x01, // packet id 1
    ];
    both_versions(
        "PUBREL flags 0000",
        &input,
        &input,
        0x81,
        Counted::Malformed,
    );
}

/// Every other packet has header flags 0 [MQTT-2.2.2-1]: PINGREQ with flag 1 is malformed
/// [MQTT-2.2.2-2].
#[test]
fn pingreq_with_flags_is_malformed() {
    let input = [
        0xC1, 0x00, // PINGREQ with flags 0001, remaining length 0
    ];
    both_versions(
        "PINGREQ flags 0001",
        &input,
        &input,
        0x81,
        Counted::Malformed,
    );
}

/// Packet type 0 is reserved (§2.1.2).
#[test]
fn reserved_packet_type_is_malformed() {
    let input = [
        0x00, 0x00, // packet type 0, remaining length 0
    ];
    both_versions("packet type 0", &input, &input, 0x81, Counted::Malformed);
}

/// Type 15 is AUTH in 5.0 and reserved before: a 3.1.1 connection is closed.
#[test]
fn auth_packet_type_before_v5_is_malformed() {
    let input = [
        0xF0, 0x00, // packet type 15, remaining length 0
    ];
    expect_after_connect(
        "type 15 on 3.1.1",
        config(),
        V311,
        &input,
        &[],
        Counted::Malformed,
    );
}

/// QoS 3 does not exist: a PUBLISH with both QoS bits set is malformed [MQTT-3.3.1-4].
#[test]
fn publish_with_qos_3_is_malformed() {
    let v5 = [
        0x36, 0x07, // PUBLISH QoS 3, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x00, 0x01, // packet id 1
        0x00, // no properties
        b'x', // payload
    ];
    let v311 = [
        0x36, 0x06, // PUBLISH QoS 3, remaining length 6
        0x00, 0x01, b't', // topic "t"
        0x00, 0x01, // packet id 1
        b'x', // payload
    ];
    both_versions("PUBLISH QoS 3", &v5, &v311, 0x81, Counted::Malformed);
}

/// A PUBLISH topic must not contain wildcards [MQTT-3.3.2-2]: 5.0 closes with 0x90 Topic Name
/// invalid.
#[test]
fn wildcard_in_publish_topic_is_invalid() {
    let v5 = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x03, b'a', b'/', b'+', // topic "a/+"
        0x00, // no properties
        b'x', // payload
    ];
    let v311 = [
        0x30, 0x06, // PUBLISH QoS 0, remaining length 6
        0x00, 0x03, b'a', b'/', b'+', // topic "a/+"
        b'x', // payload
    ];
    both_versions("wildcard in topic", &v5, &v311, 0x90, Counted::Malformed);
}

/// A packet identifier is never 0 [MQTT-2.2.1-3]; 5.0 calls it a protocol error.
#[test]
fn publish_with_packet_id_0_is_a_protocol_error() {
    let v5 = [
        0x32, 0x07, // PUBLISH QoS 1, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x00, 0x00, // packet id 0
        0x00, // no properties
        b'x', // payload
    ];
    let v311 = [
        0x32, 0x06, // PUBLISH QoS 1, remaining length 6
        0x00, 0x01, b't', // topic "t"
        0x00, 0x00, // packet id 0
        b'x', // payload
    ];
    both_versions("packet id 0", &v5, &v311, 0x82, Counted::Protocol);
}

/// Topics are well-formed UTF-8 [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]).
#[test]
fn invalid_utf8_in_topic_is_malformed() {
    let v5 = [
        0x30, 0x06, // PUBLISH QoS 0, remaining length 6
        0x00, 0x02, 0xC3, 0x28, // topic: an invalid 2-byte sequence
        0x00, // no properties
        b'x', // payload
    ];
    let v311 = [
        0x30, 0x05, // PUBLISH QoS 0, remaining length 5
        0x00, 0x02, 0xC3, 0x28, // topic: an invalid 2-byte sequence
        b'x', // payload
    ];
    both_versions("invalid UTF-8 topic", &v5, &v311, 0x81, Counted::Malformed);
}

/// Strings must not contain U+0000 [MQTT-1.5.3-2] (5.0: [MQTT-1.5.4-2]).
#[test]
fn null_character_in_topic_is_malformed() {
    let v5 = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x03, b'a', 0x00, b'b', // topic "a\0b"
        0x00, // no properties
        b'x', // payload
    ];
    let v311 = [
        0x30, 0x06, // PUBLISH QoS 0, remaining length 6
        0x00, 0x03, b'a', 0x00, b'b', // topic "a\0b"
        b'x', // payload
    ];
    both_versions("U+0000 in topic", &v5, &v311, 0x81, Counted::Malformed);
}

/// A packet larger than `max_packet_size` closes the connection (5.0: 0x95 Packet too large,
/// [MQTT-3.2.2-15]) as soon as its fixed header arrives: the body is never sent here.
#[test]
fn oversized_packet_is_refused_before_its_body() {
    let mut small = config();
    small.max_packet_size = 1024;
    let header_only = [
        0x30, // PUBLISH QoS 0
        0x80, 0x80, 0x04, // remaining length 65,536; no body follows
    ];
    let case = "65 KiB PUBLISH over a 1 KiB limit";
    let reply = disconnect_bytes(0x95);
    expect_after_connect(
        case,
        small.clone(),
        V5,
        &header_only,
        &reply,
        Counted::Malformed,
    );
    expect_after_connect(case, small, V311, &header_only, &[], Counted::Malformed);
}

/// Properties that end past the packet are malformed (5.0 §2.2.2).
#[test]
fn truncated_properties_are_malformed() {
    let input = [
        0x30, 0x06, // PUBLISH QoS 0, remaining length 6
        0x00, 0x01, b't', // topic "t"
        0x05, // property length 5, but only 2 bytes follow
        0x01, 0x01, // Payload Format Indicator 1
    ];
    v5_only("truncated properties", &input, 0x81, Counted::Malformed);
}

/// A property that may appear once, twice, is a protocol error (5.0 §2.2.2.2).
#[test]
fn duplicate_property_is_a_protocol_error() {
    let input = [
        0x30, 0x09, // PUBLISH QoS 0, remaining length 9
        0x00, 0x01, b't', // topic "t"
        0x04, // property length 4
        0x01, 0x01, // Payload Format Indicator 1
        0x01, 0x01, // Payload Format Indicator 1, again
        b'x', // payload
    ];
    v5_only("duplicate property", &input, 0x82, Counted::Protocol);
}

/// A property identifier 5.0 does not define is malformed (5.0 §2.2.2.2).
#[test]
fn unknown_property_is_malformed() {
    let input = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x02, // property length 2
        0x7F, 0x00, // identifier 0x7F: undefined
        b'x', // payload
    ];
    v5_only("unknown property", &input, 0x81, Counted::Malformed);
}

/// A property the packet does not allow is a protocol error (5.0 §2.2.2.2): Session Expiry
/// Interval in PUBLISH.
#[test]
fn property_not_allowed_in_packet_is_a_protocol_error() {
    let input = [
        0x30, 0x0A, // PUBLISH QoS 0, remaining length 10
        0x00, 0x01, b't', // topic "t"
        0x05, // property length 5
        0x11, 0x00, 0x00, 0x00, 0x0A, // Session Expiry Interval 10: not a PUBLISH property
        b'x', // payload
    ];
    v5_only(
        "Session Expiry Interval in PUBLISH",
        &input,
        0x82,
        Counted::Protocol,
    );
}

/// A variable byte integer with a fifth byte inside a packet is malformed [MQTT-1.5.5-1].
#[test]
fn property_length_of_five_bytes_is_malformed() {
    let input = [
        0x30, 0x08, // PUBLISH QoS 0, remaining length 8
        0x00, 0x01, b't', // topic "t"
        0xFF, 0xFF, 0xFF, 0xFF, 0x01, // property length: 5 bytes
    ];
    v5_only("5-byte property length", &input, 0x81, Counted::Malformed);
}

/// PINGREQ has no body: a byte after it is malformed (§3.12).
#[test]
fn pingreq_with_trailing_bytes_is_malformed() {
    let input = [
        0xC0, 0x01, // PINGREQ, remaining length 1
        0x00, // an unexpected byte
    ];
    both_versions(
        "PINGREQ with a body",
        &input,
        &input,
        0x81,
        Counted::Malformed,
    );
}

/// An acknowledgement's reason code must be one its packet allows (5.0 §3.4.2.1): 0x05 is
/// none.
#[test]
fn puback_with_invalid_reason_code_is_malformed() {
    let input = [
        0x40, 0x03, // PUBACK, remaining length 3
        0x00, 0x01, // packet id 1
        0x05, // reason code 0x05: not a PUBACK code
    ];
    v5_only("PUBACK reason 0x05", &input, 0x81, Counted::Malformed);
}
