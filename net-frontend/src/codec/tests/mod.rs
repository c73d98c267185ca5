//! Codec tests: packets written as byte literals (`wire.rs`, `wire_connect.rs`), one test per
//! malformed kind (`malformed.rs`, `malformed_properties.rs`) and property tests
//! (`roundtrip.rs`, strategies in `strategies.rs`).

use bytes::BytesMut;

use super::*;

mod malformed;
mod malformed_properties;
mod roundtrip;
mod strategies;
mod wire;
mod wire_connect;

/// Appended after each packet to prove the decoder stops at the packet's end.
const SENTINEL: [u8; 3] = [0xE0, 0xFE, 0xED];

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

/// Decodes `bytes` followed by the sentinel; asserts exactly the sentinel is left.
fn decode_one(bytes: &[u8], version: ProtocolVersion) -> Packet {
    let mut buf = BytesMut::from(bytes);
    buf.extend_from_slice(&SENTINEL);
    let packet = decode(&mut buf, version, &limits())
        .expect("valid packet")
        .expect("whole packet");
    assert_eq!(&buf[..], &SENTINEL, "decoder must stop at the packet's end");
    packet
}

/// Encodes `packet` into a fresh buffer.
fn encode_vec(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).expect("encodable");
    out.to_vec()
}

/// Decodes `bytes` (and the sentinel) and checks the exact error, its reason code, and that
/// the buffer is left untouched.
fn assert_rejected(bytes: &[u8], version: ProtocolVersion, error: DecodeError, code: ReasonCode) {
    assert_rejected_with(bytes, version, &limits(), error, code);
}

fn assert_rejected_with(
    bytes: &[u8],
    version: ProtocolVersion,
    limits: &DecodeLimits,
    error: DecodeError,
    code: ReasonCode,
) {
    let mut buf = BytesMut::from(bytes);
    buf.extend_from_slice(&SENTINEL);
    let before = buf.clone();
    let got = decode(&mut buf, version, limits).expect_err("malformed packet");
    assert_eq!(got, error);
    assert_eq!(got.reason_code(), code, "reason code for {got}");
    assert_eq!(buf, before, "buffer must be left untouched on error");
}

fn pid(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero")
}
