//! Fuzzes `mqlite_net::codec::{decode, decode_connect, encode}` with a stream of bytes as a
//! connection would receive it.
//!
//! Input layout: `[selector, split, stream...]`.
//! - `selector` bits 0-3, modulo 3: the version (0: 3.1, 1: 3.1.1, 2: 5.0). Bit 4: a small
//!   `max_packet_size` of `16 * (1 + bits 5-7)` bytes (16 to 128) instead of the default.
//! - `split`: where the stream is cut in two, as a fraction `split / 255` of its length.
//!
//! Checked for every input (any failure is a crash):
//! 1. No panic, and the buffer contract of `decode`: `Ok(None)` and `Err` leave the buffer
//!    untouched, `Ok(Some)` removes exactly one packet of at most `max_packet_size` bytes.
//! 2. Decoding the stream whole and in two chunks (the first chunk alone must give `Ok(None)`
//!    or what the whole stream gives there) yields the same packets, the same final error
//!    and the same bytes left over.
//! 3. Every decoded packet encodes in its version with no error allowed, to at most the
//!    bytes it was decoded from, and those bytes decode back to an equal packet.
//! 4. Every decoded packet, encoded in each other version, either fails with
//!    `PacketNotInVersion` / `NotInVersion` (the only errors allowed) or decodes back to an
//!    equal packet in that version.
//! 5. A CONNECT decodes the same in every version and through `decode_connect`; a stream
//!    that starts with another packet type is `FirstPacketNotConnect` for `decode_connect`.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqlite_net::codec::{
    DecodeError, DecodeLimits, EncodeError, Packet, PacketType, ProtocolVersion, decode,
    decode_connect, encode,
};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V31,
    ProtocolVersion::V311,
    ProtocolVersion::V5,
];

/// One fuzz case, parsed from the raw input.
struct Case<'a> {
    version: ProtocolVersion,
    limits: DecodeLimits,
    /// Length of the first chunk, `0..=stream.len()`.
    split: usize,
    stream: &'a [u8],
}

impl<'a> Case<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (&selector, rest) = data.split_first()?;
        let (&split, stream) = rest.split_first()?;
        let version = VERSIONS[usize::from(selector & 0x0F) % 3];
        let limits = if selector & 0x10 == 0 {
            DecodeLimits::default()
        } else {
            // Small enough that the fuzzer reaches `PacketTooLarge` with short inputs, large
            // enough that most packets it builds still fit.
            DecodeLimits {
                max_packet_size: 16 * (1 + usize::from(selector >> 5)),
            }
        };
        let split = stream.len() * usize::from(split) / 255;
        Some(Self {
            version,
            limits,
            split,
            stream,
        })
    }
}

/// What decoding a stream gave: the packets with the number of bytes each was decoded from,
/// how it ended (`None`: needs more bytes), and the bytes left in the buffer.
#[derive(Debug, PartialEq)]
struct Outcome {
    packets: Vec<(Packet, usize)>,
    /// The sum of the packets' sizes.
    consumed: usize,
    error: Option<DecodeError>,
    rest: BytesMut,
}

impl Outcome {
    fn new() -> Self {
        Self {
            packets: Vec::new(),
            consumed: 0,
            error: None,
            rest: BytesMut::new(),
        }
    }
}

/// Calls `decode` on `buf` until it needs more bytes or fails. `received` is everything put
/// in the buffer so far, so `buf` must hold `received[out.consumed..]` whenever `decode`
/// returns `Ok(None)` or `Err` (a copy of the buffer before each call would make the target
/// quadratic in the number of packets). Returns `false` once it failed.
fn drain(buf: &mut BytesMut, received: &[u8], case: &Case<'_>, out: &mut Outcome) -> bool {
    loop {
        let len = buf.len();
        match decode(buf, case.version, &case.limits) {
            Ok(Some(packet)) => {
                let used = len - buf.len();
                assert!(used > 0, "{packet:?} consumed no bytes");
                assert!(
                    used <= case.limits.max_packet_size,
                    "{packet:?} of {used} bytes exceeds max_packet_size {}",
                    case.limits.max_packet_size
                );
                out.packets.push((packet, used));
                out.consumed += used;
            }
            Ok(None) => {
                assert_eq!(
                    &buf[..],
                    &received[out.consumed..],
                    "Ok(None) must leave the buffer untouched, after whole packets"
                );
                return true;
            }
            Err(e) => {
                assert_eq!(
                    &buf[..],
                    &received[out.consumed..],
                    "Err({e}) must leave the buffer untouched, after whole packets"
                );
                out.error = Some(e);
                return false;
            }
        }
    }
}

fn decode_whole(case: &Case<'_>) -> Outcome {
    let mut out = Outcome::new();
    let mut buf = BytesMut::from(case.stream);
    drain(&mut buf, case.stream, case, &mut out);
    out.rest = buf;
    out
}

fn decode_in_two_chunks(case: &Case<'_>) -> Outcome {
    let (first, second) = case.stream.split_at(case.split);
    let mut out = Outcome::new();
    let mut buf = BytesMut::from(first);
    if drain(&mut buf, first, case, &mut out) {
        buf.extend_from_slice(second);
        drain(&mut buf, case.stream, case, &mut out);
    } else {
        // Failed inside the first chunk: an error is final, so the whole stream must fail at
        // the same packet with the same error, leaving the same bytes.
        buf.extend_from_slice(second);
    }
    out.rest = buf;
    out
}

/// `packet` was decoded from `wire_len` bytes in `version`: it must encode in `version`, no
/// larger, and decode back equal.
fn check_round_trip(
    packet: &Packet,
    wire_len: usize,
    version: ProtocolVersion,
    limits: &DecodeLimits,
) {
    let mut encoded = BytesMut::new();
    if let Err(e) = encode(packet, version, &mut encoded) {
        panic!("{packet:?} decoded in {version} does not encode in it: {e}");
    }
    // The encoder writes the shortest form (minimal variable byte integers, no success reason
    // code or empty properties where they may be left out), so it never grows a packet, and
    // what fitted `max_packet_size` still fits.
    assert!(
        encoded.len() <= wire_len,
        "{packet:?} encodes to {} bytes, decoded from {}",
        encoded.len(),
        wire_len
    );
    check_decodes_back(packet, encoded, version, limits);
}

/// `packet` encoded in another version than it was decoded in: it may not be expressible
/// there, else it must decode back equal.
fn check_cross_version(packet: &Packet, version: ProtocolVersion) {
    let mut encoded = BytesMut::new();
    match encode(packet, version, &mut encoded) {
        Ok(()) => check_decodes_back(packet, encoded, version, &DecodeLimits::default()),
        // AUTH before 5.0; properties, reason codes, session present in 3.1, or subscription
        // options other than QoS before 5.0; 5.0 UNSUBACK without reason codes.
        Err(EncodeError::PacketNotInVersion { .. } | EncodeError::NotInVersion { .. }) => {
            assert!(
                encoded.is_empty(),
                "a failed encode must leave the output as it was"
            );
        }
        Err(e) => panic!("{packet:?} fails to encode in {version}: {e}"),
    }
}

fn check_decodes_back(
    packet: &Packet,
    mut encoded: BytesMut,
    version: ProtocolVersion,
    limits: &DecodeLimits,
) {
    let decoded = decode(&mut encoded, version, limits);
    if !matches!(&decoded, Ok(Some(p)) if p == packet) {
        // Encode again for the message: the happy path copies neither bytes nor packet.
        let mut wire = BytesMut::new();
        let _ = encode(packet, version, &mut wire);
        panic!("{packet:?} encoded in {version} as {wire:02x?} decodes as {decoded:?}");
    }
    assert!(
        encoded.is_empty(),
        "{} bytes left after the packet",
        encoded.len()
    );
}

/// A CONNECT carries its own version, so it decodes the same in every version and through
/// `decode_connect`; a first packet of another type is refused by `decode_connect`.
fn check_decode_connect(stream: &[u8], limits: &DecodeLimits) {
    let mut buf = BytesMut::from(stream);
    let got = decode_connect(&mut buf, limits);
    match stream.first() {
        None => assert_eq!(got, Ok(None)),
        Some(&first) if first >> 4 != PacketType::Connect as u8 => {
            assert_eq!(
                got,
                Err(DecodeError::FirstPacketNotConnect { first_byte: first })
            );
        }
        Some(_) => {
            for version in VERSIONS {
                let mut other = BytesMut::from(stream);
                let expected = match decode(&mut other, version, limits) {
                    Ok(Some(Packet::Connect(c))) => Ok(Some(c)),
                    Ok(Some(p)) => panic!("a CONNECT header decoded as {p:?}"),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                assert_eq!(
                    got, expected,
                    "decode_connect differs from decode in {version}"
                );
                assert_eq!(buf, other, "decode_connect left other bytes than decode");
            }
        }
    }
    if !matches!(got, Ok(Some(_))) {
        assert_eq!(
            &buf[..],
            stream,
            "decode_connect must leave the buffer untouched"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::parse(data) else {
        return;
    };
    let whole = decode_whole(&case);
    assert_eq!(
        decode_in_two_chunks(&case),
        whole,
        "two chunks split at {} differ from the whole stream",
        case.split
    );
    for &(ref packet, wire_len) in &whole.packets {
        check_round_trip(packet, wire_len, case.version, &case.limits);
        for version in VERSIONS.into_iter().filter(|&v| v != case.version) {
            check_cross_version(packet, version);
        }
    }
    check_decode_connect(case.stream, &case.limits);
});
