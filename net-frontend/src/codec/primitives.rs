//! The data representations of MQTT 3.1.1 §1.5 and 5.0 §1.5: two- and four-byte integers,
//! variable byte integers, UTF-8 strings, binary data and string pairs.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{DecodeError, EncodeError, PacketId, PacketType};

/// The largest value of a variable byte integer [MQTT-1.5.5].
pub(crate) const MAX_VARINT: usize = 268_435_455;

/// A cursor over one packet's body. Reads past the end are [`DecodeError::UnexpectedEof`].
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::UnexpectedEof { field });
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    /// A variable byte integer, at most 4 bytes [MQTT-1.5.5].
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for i in 0..4 {
            let byte = self.u8(field)?;
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::MalformedVarInt { field })
    }

    /// The next `n` bytes, split off zero-copy.
    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, field)?;
        Ok(self.buf.split_to(n))
    }

    /// Everything left, zero-copy.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Binary data: a two-byte length, then that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.bytes(usize::from(len), field)
    }

    /// A UTF-8 string as validated bytes: well-formed UTF-8 [MQTT-1.5.4-1] without U+0000
    /// [MQTT-1.5.4-2]. Rust's UTF-8 check also rejects the surrogates U+D800..U+DFFF.
    pub(crate) fn string_bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let bytes = self.binary(field)?;
        check_utf8(&bytes, field)?;
        Ok(bytes)
    }

    /// A UTF-8 string, owned.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.binary(field)?;
        check_utf8(&bytes, field).map(str::to_owned)
    }

    /// A UTF-8 string pair (5.0 §1.5.7).
    pub(crate) fn string_pair(
        &mut self,
        field: &'static str,
    ) -> Result<(String, String), DecodeError> {
        Ok((self.string(field)?, self.string(field)?))
    }

    /// A packet identifier, never 0 [MQTT-2.2.1-3].
    pub(crate) fn packet_id(&mut self, packet: PacketType) -> Result<PacketId, DecodeError> {
        let value = self.u16("packet identifier")?;
        PacketId::new(value).ok_or(DecodeError::ZeroPacketId { packet })
    }

    /// A reader over the next `n` bytes.
    pub(crate) fn sub_reader(
        &mut self,
        n: usize,
        field: &'static str,
    ) -> Result<Self, DecodeError> {
        Ok(Self::new(self.bytes(n, field)?))
    }

    /// Ends a packet: nothing may be left [MQTT-2.2.3].
    pub(crate) fn finish(&self, packet: PacketType) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                packet,
                extra: self.buf.len(),
            })
        }
    }
}

/// Checks a string's bytes [MQTT-1.5.4-1] [MQTT-1.5.4-2].
pub(crate) fn check_utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, DecodeError> {
    let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })?;
    if s.contains('\0') {
        return Err(DecodeError::NullCharacter { field });
    }
    Ok(s)
}

/// A variable byte integer's bytes and how many of them are used.
fn varint_bytes(value: usize, field: &'static str) -> Result<([u8; 4], usize), EncodeError> {
    if value > MAX_VARINT {
        return Err(EncodeError::VarIntTooLarge { field, value });
    }
    let mut bytes = [0u8; 4];
    let mut v = value;
    for (i, slot) in bytes.iter_mut().enumerate() {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            *slot = byte;
            return Ok((bytes, i + 1));
        }
        *slot = byte | 0x80;
    }
    unreachable!("a value up to MAX_VARINT fits in 4 bytes")
}

/// Writes a variable byte integer.
pub(crate) fn put_varint(
    out: &mut BytesMut,
    value: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    let (bytes, n) = varint_bytes(value, field)?;
    out.put_slice(&bytes[..n]);
    Ok(())
}

/// Writes binary data: a two-byte length, then the bytes.
pub(crate) fn put_binary(
    out: &mut BytesMut,
    bytes: &[u8],
    field: &'static str,
) -> Result<(), EncodeError> {
    let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::FieldTooLong {
        field,
        len: bytes.len(),
    })?;
    out.put_u16(len);
    out.put_slice(bytes);
    Ok(())
}

/// Writes a UTF-8 string.
pub(crate) fn put_string(
    out: &mut BytesMut,
    s: &str,
    field: &'static str,
) -> Result<(), EncodeError> {
    put_binary(out, s.as_bytes(), field)
}

/// Writes what `body` writes, preceded by its length as a variable byte integer. The length is
/// not known in advance, so 4 bytes are reserved and the body slides back over the unused
/// ones: one memmove instead of a size pass duplicated for every packet type.
pub(crate) fn with_varint_len(
    out: &mut BytesMut,
    field: &'static str,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_slice(&[0; 4]);
    body(out)?;
    let len = out.len() - start - 4;
    let (prefix, n) = varint_bytes(len, field)?;
    out[start..start + n].copy_from_slice(&prefix[..n]);
    out.copy_within(start + 4.., start + n);
    out.truncate(out.len() - (4 - n));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Variable byte integers at each size boundary round-trip (MQTT 5.0 §1.5.5 table).
    #[test]
    fn varint_boundaries_round_trip() {
        for (value, len) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (MAX_VARINT, 4),
        ] {
            let mut out = BytesMut::new();
            put_varint(&mut out, value, "v").unwrap();
            assert_eq!(out.len(), len);
            let mut r = Reader::new(out.freeze());
            assert_eq!(r.varint("v").unwrap() as usize, value);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_too_large_is_an_encode_error() {
        let mut out = BytesMut::new();
        assert_eq!(
            put_varint(&mut out, MAX_VARINT + 1, "v"),
            Err(EncodeError::VarIntTooLarge {
                field: "v",
                value: MAX_VARINT + 1
            })
        );
    }

    /// A length prefix slides the body back over the unused reserved bytes.
    #[test]
    fn with_varint_len_writes_a_minimal_prefix() {
        let mut out = BytesMut::from(&b"x"[..]);
        with_varint_len(&mut out, "len", |o| {
            o.put_slice(&[7; 200]);
            Ok(())
        })
        .unwrap();
        assert_eq!(&out[..3], &[b'x', 0xC8, 0x01]);
        assert_eq!(out.len(), 3 + 200);
    }
}
