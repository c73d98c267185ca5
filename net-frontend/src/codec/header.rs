//! The fixed header: packet type, flags and remaining length (MQTT 3.1.1 §2.2, 5.0 §2.1).

use bytes::{BufMut, BytesMut};

use super::primitives::with_varint_len;
use super::{DecodeError, DecodeLimits, EncodeError, ProtocolVersion};

/// The largest remaining length a 4-byte variable byte integer holds [MQTT-2.2.3].
pub(crate) const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The type nibble of a fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum PacketType {
    /// 1: CONNECT.
    Connect = 1,
    /// 2: CONNACK.
    ConnAck = 2,
    /// 3: PUBLISH.
    Publish = 3,
    /// 4: PUBACK.
    PubAck = 4,
    /// 5: PUBREC.
    PubRec = 5,
    /// 6: PUBREL.
    PubRel = 6,
    /// 7: PUBCOMP.
    PubComp = 7,
    /// 8: SUBSCRIBE.
    Subscribe = 8,
    /// 9: SUBACK.
    SubAck = 9,
    /// 10: UNSUBSCRIBE.
    Unsubscribe = 10,
    /// 11: UNSUBACK.
    UnsubAck = 11,
    /// 12: PINGREQ.
    PingReq = 12,
    /// 13: PINGRESP.
    PingResp = 13,
    /// 14: DISCONNECT.
    Disconnect = 14,
    /// 15: AUTH (5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The type for a nibble, if `version` defines it.
    fn from_nibble(value: u8, version: ProtocolVersion) -> Option<Self> {
        use PacketType::*;
        Some(match value {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 if version.is_v5() => Auth,
            _ => return None,
        })
    }

    /// The flags every packet but PUBLISH must carry [MQTT-2.2.2-1]: 0b0010 for PUBREL,
    /// SUBSCRIBE and UNSUBSCRIBE, 0 otherwise. `None` for PUBLISH, whose flags are fields.
    pub(crate) fn fixed_flags(self) -> Option<u8> {
        match self {
            Self::Publish => None,
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// A parsed fixed header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedHeader {
    pub(crate) packet_type: PacketType,
    pub(crate) flags: u8,
    /// Bytes of the fixed header itself: 1 + the remaining length's bytes.
    pub(crate) header_len: usize,
    pub(crate) remaining_len: usize,
}

impl FixedHeader {
    /// Reads the fixed header at the front of `buf` without consuming it. `Ok(None)` until the
    /// whole packet is buffered; the size limit is checked as soon as the length is known.
    pub(crate) fn parse(
        buf: &[u8],
        version: ProtocolVersion,
        limits: &DecodeLimits,
    ) -> Result<Option<Self>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let value = first >> 4;
        let packet_type = PacketType::from_nibble(value, version)
            .ok_or(DecodeError::ReservedPacketType { value, version })?;
        let flags = first & 0x0F;
        if packet_type.fixed_flags().is_some_and(|f| f != flags) {
            return Err(DecodeError::ReservedFlags {
                packet: packet_type,
                flags,
            });
        }
        let mut remaining_len = 0usize;
        let mut header_len = 1;
        loop {
            if header_len == 5 {
                return Err(DecodeError::MalformedRemainingLength);
            }
            let Some(&byte) = buf.get(header_len) else {
                return Ok(None);
            };
            remaining_len |= usize::from(byte & 0x7F) << (7 * (header_len - 1));
            header_len += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let size = header_len + remaining_len;
        if size > limits.max_packet_size {
            return Err(DecodeError::PacketTooLarge {
                size,
                max: limits.max_packet_size,
            });
        }
        if buf.len() < size {
            return Ok(None);
        }
        Ok(Some(Self {
            packet_type,
            flags,
            header_len,
            remaining_len,
        }))
    }

    /// The whole packet's length.
    pub(crate) fn frame_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Writes a whole packet: the first byte, the remaining length, then the body `body` writes.
pub(crate) fn write_frame(
    out: &mut BytesMut,
    packet_type: PacketType,
    flags: u8,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    out.put_u8((packet_type as u8) << 4 | flags);
    with_varint_len(out, "remaining length", body)
}
