//! One test per kind of malformed or protocol-violating input: the exact error, the 5.0
//! reason code the connection closes with, and the buffer left untouched.

use mqlite::TopicFilter;

use super::*;

pub(super) const V31: ProtocolVersion = ProtocolVersion::V31;
pub(super) const V311: ProtocolVersion = ProtocolVersion::V311;
pub(super) const V5: ProtocolVersion = ProtocolVersion::V5;
pub(super) const MALFORMED: ReasonCode = ReasonCode::MALFORMED_PACKET;
pub(super) const PROTOCOL: ReasonCode = ReasonCode::PROTOCOL_ERROR;

/// A CONNECT 3.1.1 body up to the keep alive, for `flags`.
pub(super) fn connect_v311(flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, flags, 0x00, 0x00];
    body.extend_from_slice(rest);
    frame(0x10, &body)
}

/// A fixed header (remaining length < 128) followed by `body`.
pub(super) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![first, u8::try_from(body.len()).unwrap()];
    bytes.extend_from_slice(body);
    bytes
}

/// A 5.0 DISCONNECT (reason 0) carrying the property bytes `props` (after the length).
pub(super) fn disconnect_with(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, u8::try_from(props.len()).unwrap()];
    body.extend_from_slice(props);
    frame(0xE0, &body)
}

/// A remaining length with a fifth byte [MQTT-2.2.3].
#[test]
fn remaining_length_over_four_bytes() {
    let bytes = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    assert_rejected(
        &bytes,
        V311,
        DecodeError::MalformedRemainingLength,
        MALFORMED,
    );
}

/// PUBREL must carry flags 0b0010 [MQTT-3.6.1-1].
#[test]
fn pubrel_with_reserved_flags_clear() {
    let error = DecodeError::ReservedFlags {
        packet: PacketType::PubRel,
        flags: 0,
    };
    assert_rejected(&[0x60, 0x02, 0x00, 0x01], V311, error, MALFORMED);
}

/// PINGREQ must carry flags 0 [MQTT-2.2.2-2].
#[test]
fn pingreq_with_reserved_flags_set() {
    let error = DecodeError::ReservedFlags {
        packet: PacketType::PingReq,
        flags: 1,
    };
    assert_rejected(&[0xC1, 0x00], V5, error, MALFORMED);
}

/// Packet type 0 is reserved [MQTT-2.2.1].
#[test]
fn packet_type_zero() {
    let error = DecodeError::ReservedPacketType {
        value: 0,
        version: V5,
    };
    assert_rejected(&[0x00, 0x00], V5, error, MALFORMED);
}

/// AUTH (15) does not exist before 5.0.
#[test]
fn auth_before_v5() {
    let error = DecodeError::ReservedPacketType {
        value: 15,
        version: V311,
    };
    assert_rejected(&[0xF0, 0x00], V311, error, MALFORMED);
}

/// A protocol name other than `MQTT` / `MQIsdp` [MQTT-3.1.2-1].
#[test]
fn wrong_protocol_name() {
    let bytes = frame(
        0x10,
        &[0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04, 0x02, 0x00, 0x00],
    );
    let error = DecodeError::InvalidProtocolName {
        name: "MQTX".into(),
    };
    assert_rejected(&bytes, V5, error, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
}

/// Level 6 of `MQTT` does not exist [MQTT-3.1.2-2].
#[test]
fn wrong_protocol_level() {
    let bytes = frame(
        0x10,
        &[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06, 0x02, 0x00, 0x00],
    );
    let error = DecodeError::UnsupportedProtocolLevel {
        level: 6,
        name: "MQTT",
    };
    assert_rejected(&bytes, V5, error, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
}

/// `MQIsdp` goes with level 3 only.
#[test]
fn mqisdp_with_level_4() {
    let name = [0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p'];
    let bytes = frame(0x10, &[&name[..], &[0x04, 0x02, 0x00, 0x00]].concat());
    let error = DecodeError::UnsupportedProtocolLevel {
        level: 4,
        name: "MQIsdp",
    };
    assert_rejected(&bytes, V31, error, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
}

/// The reserved connect flag must be 0 [MQTT-3.1.2-3].
#[test]
fn connect_reserved_flag() {
    let bytes = connect_v311(0x03, &[0x00, 0x00]);
    let rule = "the reserved bit 0 must be 0 [MQTT-3.1.2-3]";
    let error = DecodeError::InvalidConnectFlags { flags: 0x03, rule };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// Will QoS without the will flag [MQTT-3.1.2-13].
#[test]
fn will_qos_without_will() {
    let bytes = connect_v311(0x0A, &[0x00, 0x00]);
    let rule = "will QoS must be 0 without a will [MQTT-3.1.2-13]";
    let error = DecodeError::InvalidConnectFlags { flags: 0x0A, rule };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// Before 5.0 a password needs a user name [MQTT-3.1.2-22].
#[test]
fn password_without_user_name_v311() {
    let bytes = connect_v311(0x42, &[0x00, 0x00, 0x00, 0x01, b'p']);
    let rule = "a password requires a user name before MQTT 5.0 [MQTT-3.1.2-22]";
    let error = DecodeError::InvalidConnectFlags { flags: 0x42, rule };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// A will with QoS 3 [MQTT-3.1.2-14].
#[test]
fn will_qos_3() {
    let bytes = connect_v311(0x1E, &[0x00, 0x00]);
    assert_rejected(
        &bytes,
        V311,
        DecodeError::InvalidQoS { field: "will QoS" },
        MALFORMED,
    );
}

/// A PUBLISH with QoS 3 [MQTT-3.3.1-4].
#[test]
fn publish_qos_3() {
    let bytes = [0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01];
    let error = DecodeError::InvalidQoS {
        field: "PUBLISH QoS",
    };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// A wildcard in a PUBLISH topic [MQTT-3.3.2-2].
#[test]
fn wildcard_in_publish_topic() {
    let bytes = [0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'];
    let error = DecodeError::WildcardInTopicName {
        topic: "a/+".into(),
    };
    assert_rejected(&bytes, V5, error, ReasonCode::TOPIC_NAME_INVALID);
}

/// An empty PUBLISH topic without a topic alias [MQTT-4.7.3-1]; 5.0 §3.3.2.3.4 calls it a
/// Protocol Error.
#[test]
fn empty_publish_topic_without_alias() {
    let bytes = [0x30, 0x03, 0x00, 0x00, 0x00];
    assert_rejected(
        &bytes,
        V5,
        DecodeError::EmptyTopicName,
        ReasonCode::PROTOCOL_ERROR,
    );
}

/// Packet identifier 0 [MQTT-2.2.1-3], in PUBACK and in a QoS 1 PUBLISH.
#[test]
fn packet_id_zero() {
    let error = DecodeError::ZeroPacketId {
        packet: PacketType::PubAck,
    };
    assert_rejected(&[0x40, 0x02, 0x00, 0x00], V311, error, PROTOCOL);
    let error = DecodeError::ZeroPacketId {
        packet: PacketType::Publish,
    };
    assert_rejected(
        &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
        V311,
        error,
        PROTOCOL,
    );
}

/// A client identifier that is not UTF-8 [MQTT-1.5.3-1].
#[test]
fn invalid_utf8_in_client_id() {
    let bytes = connect_v311(0x02, &[0x00, 0x02, 0xC3, 0x28]);
    let error = DecodeError::InvalidUtf8 {
        field: "client identifier",
    };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// U+0000 in a topic [MQTT-1.5.3-2].
#[test]
fn null_character_in_topic() {
    let bytes = [0x30, 0x05, 0x00, 0x03, b'a', 0x00, b'b'];
    let error = DecodeError::NullCharacter {
        field: "topic name",
    };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// A packet over the limit is rejected from its fixed header alone.
#[test]
fn oversized_packet_rejected_from_header() {
    let limits = DecodeLimits {
        max_packet_size: 100,
    };
    let header_only = [0x30, 0xE5, 0x00]; // PUBLISH, remaining length 101, no body yet
    let error = DecodeError::PacketTooLarge {
        size: 104,
        max: 100,
    };
    assert_rejected_with(
        &header_only,
        V5,
        &limits,
        error,
        ReasonCode::PACKET_TOO_LARGE,
    );
}

/// SUBSCRIBE without a filter [MQTT-3.8.3-3].
#[test]
fn subscribe_without_filters() {
    let error = DecodeError::NoTopicFilters {
        packet: PacketType::Subscribe,
    };
    assert_rejected(&[0x82, 0x02, 0x00, 0x01], V311, error, PROTOCOL);
}

/// UNSUBSCRIBE without a filter [MQTT-3.10.3-2].
#[test]
fn unsubscribe_without_filters() {
    let error = DecodeError::NoTopicFilters {
        packet: PacketType::Unsubscribe,
    };
    assert_rejected(&[0xA2, 0x03, 0x00, 0x01, 0x00], V5, error, PROTOCOL);
}

/// 3.1.1 subscription options use only the QoS bits [MQTT-3.8.3-4].
#[test]
fn subscription_options_reserved_bits_v311() {
    let bytes = [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04];
    let error = DecodeError::InvalidSubscriptionOptions { options: 0x04 };
    assert_rejected(&bytes, V311, error, PROTOCOL);
}

/// Retain handling 3 (5.0 §3.8.3.1).
#[test]
fn retain_handling_3() {
    let bytes = [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x30];
    let error = DecodeError::InvalidSubscriptionOptions { options: 0x30 };
    assert_rejected(&bytes, V5, error, PROTOCOL);
}

/// A subscription QoS of 3 [MQTT-3.8.3-4].
#[test]
fn subscription_qos_3() {
    let bytes = [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03];
    let error = DecodeError::InvalidQoS {
        field: "subscription QoS",
    };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// `#` not last in a filter [MQTT-4.7.1-1].
#[test]
fn invalid_topic_filter() {
    let bytes = [
        0x82, 0x0A, 0x00, 0x01, 0x00, 0x05, b'a', b'/', b'#', b'/', b'b', 0x00,
    ];
    let Err(topic_error) = TopicFilter::new("a/#/b") else {
        panic!("core accepts a/#/b")
    };
    let error = DecodeError::InvalidTopicFilter(topic_error);
    assert_rejected(&bytes, V311, error, ReasonCode::TOPIC_FILTER_INVALID);
}

/// No local on a shared subscription [MQTT-3.8.3-4] (5.0).
#[test]
fn no_local_on_shared_subscription() {
    let filter = b"$share/g/a";
    let mut body = vec![0x00, 0x01, 0x00, 0x00, 0x0A];
    body.extend_from_slice(filter);
    body.push(0x04);
    let error = DecodeError::InvalidSubscriptionOptions { options: 0x04 };
    assert_rejected(&frame(0x82, &body), V5, error, PROTOCOL);
}

/// PINGREQ with a body [MQTT-2.2.3].
#[test]
fn trailing_bytes_after_pingreq() {
    let error = DecodeError::TrailingBytes {
        packet: PacketType::PingReq,
        extra: 1,
    };
    assert_rejected(&[0xC0, 0x01, 0x00], V311, error, MALFORMED);
}

/// A CONNECT whose remaining length ends inside the client identifier.
#[test]
fn connect_body_ends_early() {
    let bytes = connect_v311(0x02, &[0x00, 0x05, b'a']);
    let error = DecodeError::UnexpectedEof {
        field: "client identifier",
    };
    assert_rejected(&bytes, V311, error, MALFORMED);
}

/// A PUBACK reason code 5.0 does not allow in PUBACK.
#[test]
fn invalid_puback_reason_code() {
    let error = DecodeError::InvalidReasonCode {
        packet: PacketType::PubAck,
        code: 0x05,
    };
    assert_rejected(&[0x40, 0x03, 0x00, 0x01, 0x05], V5, error, MALFORMED);
}

/// CONNACK 3.1.1 return code 6 does not exist.
#[test]
fn invalid_connack_return_code() {
    let error = DecodeError::InvalidReasonCode {
        packet: PacketType::ConnAck,
        code: 6,
    };
    assert_rejected(&[0x20, 0x02, 0x00, 0x06], V311, error, MALFORMED);
}

/// CONNACK flags bits 7–1 are reserved [MQTT-3.2.2-1].
#[test]
fn connack_reserved_flags() {
    let error = DecodeError::InvalidConnAckFlags { flags: 0x02 };
    assert_rejected(&[0x20, 0x02, 0x02, 0x00], V311, error, MALFORMED);
}

/// The first packet of a connection must be CONNECT [MQTT-3.1.0-1].
#[test]
fn first_packet_not_connect() {
    let mut buf = BytesMut::from(&[0xC0, 0x00][..]);
    let error = decode_connect(&mut buf, &limits()).unwrap_err();
    assert_eq!(
        error,
        DecodeError::FirstPacketNotConnect { first_byte: 0xC0 }
    );
    assert_eq!(error.reason_code(), PROTOCOL);
    assert_eq!(buf.len(), 2);
}
