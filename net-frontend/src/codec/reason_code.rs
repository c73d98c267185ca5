//! Every MQTT 5.0 reason code (§2.4), which packets may carry each, and the one mapping from a
//! [`DecodeError`] to the reason code its connection closes with.

use std::fmt;

use super::{DecodeError, PacketType};

/// An MQTT 5.0 reason code. Several names share a value (0x00 is Success, Normal
/// disconnection and Granted QoS 0), so this is a newtype with one constant per name rather
/// than an enum. Before 5.0, CONNACK return codes and SUBACK return codes map onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReasonCode(pub u8);

macro_rules! reason_codes {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl ReasonCode {
            $(
                #[doc = concat!("`", stringify!($value), "`: ", $text, ".")]
                pub const $name: Self = Self($value);
            )*

            /// The spec's name for the code, or `None` if 5.0 defines no such code. For 0x00
            /// the name is "Success".
            pub const fn name(self) -> Option<&'static str> {
                // The first name listed for a shared value wins.
                $(
                    if self.0 == $value {
                        return Some($text);
                    }
                )*
                None
            }
        }
    };
}

reason_codes! {
    SUCCESS = 0x00, "Success";
    NORMAL_DISCONNECTION = 0x00, "Normal disconnection";
    GRANTED_QOS_0 = 0x00, "Granted QoS 0";
    GRANTED_QOS_1 = 0x01, "Granted QoS 1";
    GRANTED_QOS_2 = 0x02, "Granted QoS 2";
    DISCONNECT_WITH_WILL_MESSAGE = 0x04, "Disconnect with Will Message";
    NO_MATCHING_SUBSCRIBERS = 0x10, "No matching subscribers";
    NO_SUBSCRIPTION_EXISTED = 0x11, "No subscription existed";
    CONTINUE_AUTHENTICATION = 0x18, "Continue authentication";
    RE_AUTHENTICATE = 0x19, "Re-authenticate";
    UNSPECIFIED_ERROR = 0x80, "Unspecified error";
    MALFORMED_PACKET = 0x81, "Malformed Packet";
    PROTOCOL_ERROR = 0x82, "Protocol Error";
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "Implementation specific error";
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "Unsupported Protocol Version";
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "Client Identifier not valid";
    BAD_USER_NAME_OR_PASSWORD = 0x86, "Bad User Name or Password";
    NOT_AUTHORIZED = 0x87, "Not authorized";
    SERVER_UNAVAILABLE = 0x88, "Server unavailable";
    SERVER_BUSY = 0x89, "Server busy";
    BANNED = 0x8A, "Banned";
    SERVER_SHUTTING_DOWN = 0x8B, "Server shutting down";
    BAD_AUTHENTICATION_METHOD = 0x8C, "Bad authentication method";
    KEEP_ALIVE_TIMEOUT = 0x8D, "Keep Alive timeout";
    SESSION_TAKEN_OVER = 0x8E, "Session taken over";
    TOPIC_FILTER_INVALID = 0x8F, "Topic Filter invalid";
    TOPIC_NAME_INVALID = 0x90, "Topic Name invalid";
    PACKET_IDENTIFIER_IN_USE = 0x91, "Packet Identifier in use";
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "Packet Identifier not found";
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "Receive Maximum exceeded";
    TOPIC_ALIAS_INVALID = 0x94, "Topic Alias invalid";
    PACKET_TOO_LARGE = 0x95, "Packet too large";
    MESSAGE_RATE_TOO_HIGH = 0x96, "Message rate too high";
    QUOTA_EXCEEDED = 0x97, "Quota exceeded";
    ADMINISTRATIVE_ACTION = 0x98, "Administrative action";
    PAYLOAD_FORMAT_INVALID = 0x99, "Payload format invalid";
    RETAIN_NOT_SUPPORTED = 0x9A, "Retain not supported";
    QOS_NOT_SUPPORTED = 0x9B, "QoS not supported";
    USE_ANOTHER_SERVER = 0x9C, "Use another server";
    SERVER_MOVED = 0x9D, "Server moved";
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E, "Shared Subscriptions not supported";
    CONNECTION_RATE_EXCEEDED = 0x9F, "Connection rate exceeded";
    MAXIMUM_CONNECT_TIME = 0xA0, "Maximum connect time";
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1, "Subscription Identifiers not supported";
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    /// Whether the code is a failure (0x80 and above).
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// Whether a 5.0 `packet` may carry this code (the tables of §3.2.2.2, §3.4.2.1, …).
    pub fn is_valid_for(self, packet: PacketType) -> bool {
        allowed(packet).contains(&self.0)
    }
}

/// The reason codes each packet may carry in 5.0.
fn allowed(packet: PacketType) -> &'static [u8] {
    match packet {
        PacketType::ConnAck => &[
            0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
            0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
        ],
        PacketType::PubAck | PacketType::PubRec => {
            &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
        }
        PacketType::PubRel | PacketType::PubComp => &[0x00, 0x92],
        PacketType::SubAck => &[
            0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
        ],
        PacketType::UnsubAck => &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
        PacketType::Disconnect => &[
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
            0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
            0xA2,
        ],
        PacketType::Auth => &[0x00, 0x18, 0x19],
        _ => &[],
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{:#04x} ({name})", self.0),
            None => write!(f, "{:#04x}", self.0),
        }
    }
}

impl DecodeError {
    /// The reason code a 5.0 connection closes with (in CONNACK before the connection is
    /// accepted, DISCONNECT after). The only place errors map to codes.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            InvalidProtocolName { .. } | UnsupportedProtocolLevel { .. } => {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
            }
            WildcardInTopicName { .. } => ReasonCode::TOPIC_NAME_INVALID,
            // [MQTT-3.3.2-8]: a Topic Alias of 0 is "Topic Alias invalid".
            InvalidPropertyValue { id: 0x23, .. } => ReasonCode::TOPIC_ALIAS_INVALID,
            InvalidTopicFilter(_) => ReasonCode::TOPIC_FILTER_INVALID,
            // The spec calls these a "Protocol Error" rather than a malformed packet.
            // 5.0 §3.3.2.1: a zero-length topic without a Topic Alias is a Protocol Error.
            EmptyTopicName
            | FirstPacketNotConnect { .. }
            | ZeroPacketId { .. }
            | NoTopicFilters { .. }
            | DuplicateProperty { .. }
            | PropertyNotAllowed { .. }
            | InvalidPropertyValue { .. }
            | InvalidSubscriptionOptions { .. } => ReasonCode::PROTOCOL_ERROR,
            MalformedRemainingLength
            | ReservedPacketType { .. }
            | ReservedFlags { .. }
            | UnexpectedEof { .. }
            | TrailingBytes { .. }
            | MalformedVarInt { .. }
            | InvalidConnectFlags { .. }
            | InvalidConnAckFlags { .. }
            | InvalidQoS { .. }
            | InvalidUtf8 { .. }
            | NullCharacter { .. }
            | UnknownProperty { .. }
            | InvalidReasonCode { .. } => ReasonCode::MALFORMED_PACKET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_take_the_first_name() {
        assert_eq!(ReasonCode::NORMAL_DISCONNECTION.name(), Some("Success"));
        assert_eq!(
            ReasonCode(0xA2).name(),
            Some("Wildcard Subscriptions not supported")
        );
        assert_eq!(ReasonCode(0x03).name(), None);
        assert_eq!(
            ReasonCode::SESSION_TAKEN_OVER.to_string(),
            "0x8e (Session taken over)"
        );
    }

    /// Every code a packet allows is a code 5.0 defines.
    #[test]
    fn allowed_codes_are_defined() {
        for packet in [
            PacketType::ConnAck,
            PacketType::PubAck,
            PacketType::PubRel,
            PacketType::SubAck,
            PacketType::UnsubAck,
            PacketType::Disconnect,
            PacketType::Auth,
        ] {
            for &code in allowed(packet) {
                assert!(ReasonCode(code).name().is_some(), "{code:#x}");
            }
        }
    }
}
