//! What can go wrong decoding and encoding. The reason code each [`DecodeError`] closes the
//! connection with is mapped in `reason_code.rs`, and only there.

use mqlite::TopicError;

use super::{PacketType, ProtocolVersion};

/// Why bytes can never become a valid packet. The connection that sent them is closed, on 5.0
/// with [`DecodeError::reason_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The remaining length has a fifth byte [MQTT-2.2.3] (5.0: §1.5.5).
    #[error("remaining length is longer than 4 bytes [MQTT-2.2.3]")]
    MalformedRemainingLength,
    /// The packet is larger than [`DecodeLimits::max_packet_size`](super::DecodeLimits).
    #[error("packet of {size} bytes exceeds the {max}-byte limit")]
    PacketTooLarge {
        /// The whole packet's size, fixed header included.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Packet type 0, or 15 (AUTH) before 5.0 [MQTT-2.2.1].
    #[error("reserved packet type {value} for {version} [MQTT-2.2.1]")]
    ReservedPacketType {
        /// The packet type nibble.
        value: u8,
        /// The connection's version.
        version: ProtocolVersion,
    },
    /// The fixed header flags differ from the ones the packet type requires.
    #[error("reserved header flags {flags:#06b} set on {packet:?} [MQTT-2.2.2-2]")]
    ReservedFlags {
        /// The packet type.
        packet: PacketType,
        /// The flags nibble received.
        flags: u8,
    },
    /// The packet ended before `field` was complete.
    #[error("packet ends inside {field} [MQTT-2.2.3]")]
    UnexpectedEof {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes are left after the last field of the packet.
    #[error("{extra} unexpected bytes after the end of {packet:?} [MQTT-2.2.3]")]
    TrailingBytes {
        /// The packet type.
        packet: PacketType,
        /// How many bytes were left.
        extra: usize,
    },
    /// A variable byte integer inside the packet has a fifth byte [MQTT-1.5.5].
    #[error("{field}: variable byte integer is longer than 4 bytes [MQTT-1.5.5]")]
    MalformedVarInt {
        /// The field being read.
        field: &'static str,
    },
    /// The first packet of a connection is not CONNECT [MQTT-3.1.0-1].
    #[error("first packet (first byte {first_byte:#04x}) is not CONNECT [MQTT-3.1.0-1]")]
    FirstPacketNotConnect {
        /// The packet's first byte.
        first_byte: u8,
    },
    /// The CONNECT protocol name is neither `MQTT` nor `MQIsdp` [MQTT-3.1.2-1].
    #[error("protocol name `{name}` is neither `MQTT` nor `MQIsdp` [MQTT-3.1.2-1]")]
    InvalidProtocolName {
        /// The name received (lossy UTF-8).
        name: String,
    },
    /// The protocol level is not 3 (`MQIsdp`), 4 or 5 (`MQTT`) [MQTT-3.1.2-2].
    #[error("protocol level {level} is not supported with protocol name `{name}` [MQTT-3.1.2-2]")]
    UnsupportedProtocolLevel {
        /// The level byte.
        level: u8,
        /// The protocol name.
        name: &'static str,
    },
    /// CONNECT flags break a rule: reserved bit set [MQTT-3.1.2-3], will QoS or retain without
    /// a will [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15], or before 5.0 a password
    /// without a user name [MQTT-3.1.2-22].
    #[error("invalid connect flags {flags:#010b}: {rule}")]
    InvalidConnectFlags {
        /// The flags byte.
        flags: u8,
        /// The rule broken, with its spec reference.
        rule: &'static str,
    },
    /// Reserved bits of the CONNACK acknowledge flags are set [MQTT-3.2.2-1].
    #[error("invalid connack flags {flags:#010b}: bits 7-1 are reserved [MQTT-3.2.2-1]")]
    InvalidConnAckFlags {
        /// The flags byte.
        flags: u8,
    },
    /// A QoS field holds 3 [MQTT-3.3.1-4].
    #[error("{field} is QoS 3, which does not exist [MQTT-3.3.1-4]")]
    InvalidQoS {
        /// Where the QoS was read.
        field: &'static str,
    },
    /// A packet identifier is 0 [MQTT-2.2.1-3].
    #[error("{packet:?} has packet identifier 0 [MQTT-2.2.1-3]")]
    ZeroPacketId {
        /// The packet type.
        packet: PacketType,
    },
    /// A string is not well-formed UTF-8 [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]).
    #[error("{field} is not well-formed utf-8 [MQTT-1.5.3-1]")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A string contains U+0000 [MQTT-1.5.3-2] (5.0: [MQTT-1.5.4-2]).
    #[error("{field} contains the null character U+0000 [MQTT-1.5.3-2]")]
    NullCharacter {
        /// The field.
        field: &'static str,
    },
    /// A PUBLISH or will topic contains `+` or `#` [MQTT-3.3.2-2].
    #[error("topic name `{topic}` contains a wildcard [MQTT-3.3.2-2] [MQTT-4.7.1-1]")]
    WildcardInTopicName {
        /// The topic.
        topic: String,
    },
    /// A topic name is empty and no topic alias stands for it [MQTT-4.7.3-1] (5.0:
    /// [MQTT-3.3.2-1]).
    #[error("topic name is empty and no topic alias replaces it [MQTT-4.7.3-1]")]
    EmptyTopicName,
    /// A SUBSCRIBE or UNSUBSCRIBE topic filter is invalid.
    #[error(transparent)]
    InvalidTopicFilter(TopicError),
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2].
    #[error("{packet:?} has no topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2]")]
    NoTopicFilters {
        /// SUBSCRIBE or UNSUBSCRIBE.
        packet: PacketType,
    },
    /// Reserved bits of subscription options are set, or retain handling is 3
    /// [MQTT-3.8.3-5] (3.1.1: [MQTT-3-8.3-4]).
    #[error("invalid subscription options {options:#010b} [MQTT-3.8.3-5]")]
    InvalidSubscriptionOptions {
        /// The options byte.
        options: u8,
    },
    /// A property identifier that MQTT 5.0 does not define (§2.2.2.2).
    #[error("unknown property identifier {id:#04x} [MQTT-2.2.2.2]")]
    UnknownProperty {
        /// The identifier.
        id: u32,
    },
    /// A property that the packet does not allow (§2.2.2.2).
    #[error("property {id:#04x} is not allowed in {context} (MQTT 5.0 §2.2.2.2)")]
    PropertyNotAllowed {
        /// The identifier.
        id: u8,
        /// The packet or section (`will properties`) it appeared in.
        context: &'static str,
    },
    /// A property appears twice where the spec allows it once (§2.2.2.2).
    #[error("property {id:#04x} appears more than once in {context} (MQTT 5.0 §2.2.2.2)")]
    DuplicateProperty {
        /// The identifier.
        id: u8,
        /// The packet or section it appeared in.
        context: &'static str,
    },
    /// A property value outside its range (a boolean byte of 2, receive maximum 0, …).
    #[error("property {id:#04x} has invalid value {value} (MQTT 5.0 §3)")]
    InvalidPropertyValue {
        /// The identifier.
        id: u8,
        /// The value received.
        value: u32,
    },
    /// A reason code the packet does not allow.
    #[error("reason code {code:#04x} is not valid in {packet:?}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The code.
        code: u8,
    },
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet type does not exist in the version (AUTH before 5.0).
    #[error("{packet:?} does not exist in {version}")]
    PacketNotInVersion {
        /// The packet type.
        packet: PacketType,
        /// The version asked for.
        version: ProtocolVersion,
    },
    /// The packet carries something the version cannot express (properties or a non-success
    /// reason code before 5.0), or lacks something it requires (reason codes of a 5.0
    /// UNSUBACK).
    #[error("{what} cannot be expressed in {version}")]
    NotInVersion {
        /// What could not be encoded.
        what: &'static str,
        /// The version asked for.
        version: ProtocolVersion,
    },
    /// A string or binary field is longer than 65,535 bytes [MQTT-1.5.3].
    #[error("{field} of {len} bytes exceeds the 65535-byte limit [MQTT-1.5.3]")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A length or value exceeds the largest variable byte integer, 268,435,455 [MQTT-1.5.5].
    #[error("{field} of {value} exceeds 268435455 [MQTT-1.5.5]")]
    VarIntTooLarge {
        /// The field.
        field: &'static str,
        /// The value.
        value: usize,
    },
    /// A PUBLISH has a packet identifier at QoS 0, or none at QoS 1 or 2 [MQTT-2.2.1-2].
    #[error("a PUBLISH at {qos} must have a packet identifier exactly when QoS > 0 [MQTT-2.2.1-2]")]
    PacketIdMismatch {
        /// The PUBLISH's QoS.
        qos: mqlite::QoS,
    },
}
