//! Malformed 5.0 property lists: one test per kind, as in `malformed.rs`.

use super::malformed::{MALFORMED, PROTOCOL, V5, disconnect_with, frame};
use super::*;

/// A property list longer than what is left of the packet.
#[test]
fn truncated_properties() {
    let bytes = frame(0xE0, &[0x00, 0x05, 0x11, 0x00]);
    let error = DecodeError::UnexpectedEof {
        field: "properties",
    };
    assert_rejected(&bytes, V5, error, MALFORMED);
}

/// A property value cut by the end of the property list.
#[test]
fn truncated_property_value() {
    let bytes = disconnect_with(&[0x11, 0x00, 0x00]);
    let error = DecodeError::UnexpectedEof {
        field: "property value",
    };
    assert_rejected(&bytes, V5, error, MALFORMED);
}

/// Session expiry interval twice (5.0 §3.14.2.2.2).
#[test]
fn duplicate_property() {
    let bytes = disconnect_with(&[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]);
    let error = DecodeError::DuplicateProperty {
        id: 0x11,
        context: "DISCONNECT",
    };
    assert_rejected(&bytes, V5, error, PROTOCOL);
}

/// A property identifier 5.0 does not define.
#[test]
fn unknown_property() {
    let bytes = disconnect_with(&[0x7F, 0x00]);
    assert_rejected(
        &bytes,
        V5,
        DecodeError::UnknownProperty { id: 0x7F },
        MALFORMED,
    );
}

/// A topic alias in DISCONNECT, which does not allow it.
#[test]
fn property_not_allowed_in_packet() {
    let bytes = disconnect_with(&[0x23, 0x00, 0x01]);
    let error = DecodeError::PropertyNotAllowed {
        id: 0x23,
        context: "DISCONNECT",
    };
    assert_rejected(&bytes, V5, error, PROTOCOL);
}

/// Receive maximum 0 is a protocol error (5.0 §3.1.2.11.3).
#[test]
fn receive_maximum_zero() {
    let bytes = frame(0x20, &[0x00, 0x00, 0x03, 0x21, 0x00, 0x00]);
    let error = DecodeError::InvalidPropertyValue { id: 0x21, value: 0 };
    assert_rejected(&bytes, V5, error, PROTOCOL);
}

/// A boolean property byte of 2 (payload format indicator).
#[test]
fn boolean_property_out_of_range() {
    let bytes = [0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x01, 0x02];
    let error = DecodeError::InvalidPropertyValue { id: 0x01, value: 2 };
    assert_rejected(&bytes, V5, error, PROTOCOL);
}

/// A property length with a fifth byte [MQTT-1.5.5].
#[test]
fn malformed_varint_in_property_length() {
    let bytes = frame(0xE0, &[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    let error = DecodeError::MalformedVarInt {
        field: "property length",
    };
    assert_rejected(&bytes, V5, error, MALFORMED);
}
