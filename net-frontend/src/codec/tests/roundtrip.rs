//! Property tests: `decode(encode(p)) == p` for every packet type and version, and arbitrary
//! bytes never make `decode` panic, whether fed at once or byte by byte.

use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::{packet, version};
use super::*;

/// Decodes packets from `bytes` until more bytes are needed or an error.
fn decode_at_once(bytes: &[u8], version: ProtocolVersion) -> (Vec<Packet>, Option<DecodeError>) {
    let mut buf = BytesMut::from(bytes);
    let mut packets = Vec::new();
    loop {
        match decode(&mut buf, version, &small_limits()) {
            Ok(Some(p)) => packets.push(p),
            Ok(None) => return (packets, None),
            Err(e) => return (packets, Some(e)),
        }
    }
}

/// The same, feeding one byte at a time.
fn decode_byte_by_byte(
    bytes: &[u8],
    version: ProtocolVersion,
) -> (Vec<Packet>, Option<DecodeError>) {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for &byte in bytes {
        buf.extend_from_slice(&[byte]);
        loop {
            match decode(&mut buf, version, &small_limits()) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => return (packets, Some(e)),
            }
        }
    }
    (packets, None)
}

fn small_limits() -> DecodeLimits {
    DecodeLimits {
        max_packet_size: 200,
    }
}

fn round_trip(packet: &Packet, version: ProtocolVersion) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    encode(packet, version, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    buf.extend_from_slice(&SENTINEL);
    let decoded = decode(&mut buf, version, &limits());
    prop_assert_eq!(decoded, Ok(Some(packet.clone())));
    prop_assert_eq!(&buf[..], &SENTINEL[..]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every packet type of MQTT 3.1 survives encode then decode.
    #[test]
    fn round_trip_v31(p in packet(ProtocolVersion::V31)) {
        round_trip(&p, ProtocolVersion::V31)?;
    }

    /// Every packet type of MQTT 3.1.1 survives encode then decode.
    #[test]
    fn round_trip_v311(p in packet(ProtocolVersion::V311)) {
        round_trip(&p, ProtocolVersion::V311)?;
    }

    /// Every packet type of MQTT 5.0, with every property its packet allows, survives
    /// encode then decode.
    #[test]
    fn round_trip_v5(p in packet(ProtocolVersion::V5)) {
        round_trip(&p, ProtocolVersion::V5)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Arbitrary bytes never panic, and byte-by-byte feeding gives the same packets and
    /// error as feeding everything at once.
    #[test]
    fn arbitrary_bytes_decode_the_same_incrementally(
        v in version(),
        bytes in vec(any::<u8>(), 0..96),
    ) {
        prop_assert_eq!(decode_byte_by_byte(&bytes, v), decode_at_once(&bytes, v));
    }

    /// Valid packets with one byte corrupted or cut never panic either (random bytes rarely
    /// get past the fixed header), and decode the same incrementally.
    #[test]
    fn corrupted_packets_decode_the_same_incrementally(
        v in version(),
        packets in vec(packet(ProtocolVersion::V5), 1..3),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = BytesMut::new();
        for p in &packets {
            encode(p, ProtocolVersion::V5, &mut bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let i = index.index(bytes.len());
        bytes[i] = byte;
        let end = bytes.len() - cut.index(bytes.len().min(4));
        let bytes = &bytes[..end];
        prop_assert_eq!(decode_byte_by_byte(bytes, v), decode_at_once(bytes, v));
    }
}
