//! The on-disk format: the `FORMAT` file, segment headers and records, as pure functions over
//! byte slices. Not here: files, directories, recovery policy.
//!
//! ```text
//! FORMAT      "mqlite-store <version>\n"
//! segment     header record*
//! header      magic "MQLSTSEG" | version u32 | first_lsn u64 | crc32c(previous 20 bytes) u32
//! record      len u32 | crc u32 | lsn u64 | kind u8 | payload[len]
//!             crc = crc32c(len | lsn | kind | payload); integers little-endian
//! ```

use crate::Lsn;

/// The format version this build writes, and the newest it reads.
pub(crate) const VERSION: u32 = 1;
/// The name in the first word of `FORMAT`.
pub(crate) const FORMAT_NAME: &str = "mqlite-store";
/// First bytes of every segment file.
pub(crate) const MAGIC: &[u8; 8] = b"MQLSTSEG";
/// Size of a segment header.
pub(crate) const HEADER_BYTES: usize = 24;
/// Size of a record's header (len, crc, lsn, kind).
pub(crate) const RECORD_HEADER_BYTES: usize = 17;
/// The record kind of the log's own release records (see [`crate::Log::release`]).
pub(crate) const KIND_RELEASE: u8 = 0xFF;

/// The text of the `FORMAT` file.
pub(crate) fn format_text() -> String {
    format!("{FORMAT_NAME} {VERSION}\n")
}

/// Parses a `FORMAT` file; `None` if it is not one.
pub(crate) fn parse_format(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut words = text.split_whitespace();
    if words.next()? != FORMAT_NAME {
        return None;
    }
    let version = words.next()?.parse().ok()?;
    words.next().is_none().then_some(version)
}

/// The segment header for a segment whose first record has lsn `first`.
pub(crate) fn encode_header(first: Lsn) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first.get().to_le_bytes());
    let crc = crc32c::crc32c(&h[..20]);
    h[20..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a segment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// A valid header of this version.
    Valid { first: Lsn },
    /// A valid header of a newer version than this build reads.
    Newer { version: u32 },
    /// Not a header: too short, zeros, wrong magic or checksum.
    Invalid,
}

/// Parses the header at the start of `bytes`.
pub(crate) fn parse_header(bytes: &[u8]) -> Header {
    let Some(h) = bytes.get(..HEADER_BYTES) else {
        return Header::Invalid;
    };
    let crc = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    if &h[..8] != MAGIC || crc32c::crc32c(&h[..20]) != crc {
        return Header::Invalid;
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    let first = u64_at(h, 12);
    match version {
        VERSION => Header::Valid {
            first: Lsn::new(first),
        },
        v if v > VERSION => Header::Newer { version: v },
        _ => Header::Invalid,
    }
}

/// Appends the record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, lsn: Lsn, kind: u8, payload: &[u8]) {
    let len =
        u32::try_from(payload.len()).expect("payload length is checked against max_record_bytes");
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&lsn.get().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    let crc = record_crc(&out[start..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The checksum of an encoded record (its crc field is skipped).
fn record_crc(record: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&record[..4]);
    crc32c::crc32c_append(crc, &record[8..])
}

/// A record decoded in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawRecord<'a> {
    pub(crate) lsn: Lsn,
    pub(crate) kind: u8,
    pub(crate) payload: &'a [u8],
}

impl RawRecord<'_> {
    /// Bytes the record takes on disk.
    pub(crate) fn encoded_len(&self) -> usize {
        RECORD_HEADER_BYTES + self.payload.len()
    }
}

/// Decodes the record at the front of `bytes`; `None` if it is torn (too short) or corrupt
/// (length over `max_payload`, checksum mismatch).
pub(crate) fn decode_record(bytes: &[u8], max_payload: usize) -> Option<RawRecord<'_>> {
    let head = bytes.get(..RECORD_HEADER_BYTES)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > max_payload {
        return None;
    }
    let record = bytes.get(..RECORD_HEADER_BYTES + len)?;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if record_crc(record) != crc {
        return None;
    }
    Some(RawRecord {
        lsn: Lsn::new(u64_at(head, 8)),
        kind: head[16],
        payload: &record[RECORD_HEADER_BYTES..],
    })
}

/// Encodes a release record's payload: inclusive lsn ranges, 16 bytes each.
pub(crate) fn encode_ranges(ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ranges.len() * 16);
    for &(first, last) in ranges {
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&last.to_le_bytes());
    }
    out
}

/// Decodes a release record's payload; a trailing partial range is ignored (the checksum
/// passed, so only a bug could write one).
pub(crate) fn decode_ranges(payload: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    payload
        .chunks_exact(16)
        .map(|c| (u64_at(c, 0), u64_at(c, 8)))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32C check values from RFC 3720 B.4 and the common "123456789" vector.
    #[test]
    fn crc32c_matches_known_vectors() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c::crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c::crc32c(&ascending), 0x46DD_794E);
    }

    #[test]
    fn record_round_trips_and_stops_at_its_end() {
        let mut buf = Vec::new();
        encode_record(&mut buf, Lsn::new(7), 3, b"hello");
        buf.extend_from_slice(b"sentinel");
        let r = decode_record(&buf, 100).unwrap();
        assert_eq!((r.lsn, r.kind, r.payload), (Lsn::new(7), 3, &b"hello"[..]));
        assert_eq!(r.encoded_len(), RECORD_HEADER_BYTES + 5);
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, Lsn::new(1), 0, b"payload");
        for i in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode_record(&bad, 1 << 20).is_none(), "bit {i}");
        }
        for cut in 0..buf.len() {
            assert!(decode_record(&buf[..cut], 1 << 20).is_none(), "cut {cut}");
        }
    }

    #[test]
    fn zeros_are_not_a_record_or_a_header() {
        assert!(decode_record(&[0; 64], 1 << 20).is_none());
        assert_eq!(parse_header(&[0; 64]), Header::Invalid);
    }

    #[test]
    fn oversized_length_is_rejected_before_reading() {
        let mut buf = Vec::new();
        encode_record(&mut buf, Lsn::new(1), 0, &[1; 10]);
        assert!(decode_record(&buf, 9).is_none());
    }

    #[test]
    fn header_round_trips_and_newer_versions_are_named() {
        let h = encode_header(Lsn::new(42));
        assert_eq!(
            parse_header(&h),
            Header::Valid {
                first: Lsn::new(42)
            }
        );
        let mut newer = h;
        newer[8..12].copy_from_slice(&9u32.to_le_bytes());
        let crc = crc32c::crc32c(&newer[..20]);
        newer[20..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_header(&newer), Header::Newer { version: 9 });
    }

    #[test]
    fn format_text_parses() {
        assert_eq!(parse_format(format_text().as_bytes()), Some(VERSION));
        assert_eq!(parse_format(b"mqlite-store 12"), Some(12));
        assert_eq!(parse_format(b"sqlite 1"), None);
        assert_eq!(parse_format(b"mqlite-store 1 extra"), None);
        assert_eq!(parse_format(&[0; 10]), None);
    }

    #[test]
    fn ranges_round_trip() {
        let r = [(1, 5), (9, 9)];
        assert_eq!(decode_ranges(&encode_ranges(&r)).collect::<Vec<_>>(), r);
    }
}
