//! SUBACK (§3.9): one reason code per filter of the SUBSCRIBE. Before 5.0 the return codes
//! 0, 1, 2 and 0x80 have the same values as the 5.0 reason codes.

use bytes::{BufMut, BytesMut};

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, ReasonCode,
    decode_properties, decode_reason_code, encode_properties, write_frame,
};
use crate::codec::{PacketId, Properties};

/// SUBACK: the server's answer to SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE's identifier.
    pub packet_id: PacketId,
    /// 5.0 only.
    pub properties: Properties,
    /// One per filter, in order: the granted QoS or why it was refused. Before 5.0 only
    /// granted QoS 0–2 and [`ReasonCode::UNSPECIFIED_ERROR`] (0x80).
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.packet_id(PacketType::SubAck)?;
        let properties = decode_properties(r, version, Context::SubAck)?;
        let reason_codes = decode_code_list(r, PacketType::SubAck, version)?;
        Ok(Self {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if !version.is_v5() && self.reason_codes.iter().any(|c| !is_v3_code(*c)) {
            return Err(EncodeError::NotInVersion {
                what: "a SUBACK reason code other than 0, 1, 2 or 0x80",
                version,
            });
        }
        write_frame(out, PacketType::SubAck, 0, |out| {
            out.put_u16(self.packet_id.get());
            encode_properties(&self.properties, version, out)?;
            encode_code_list(&self.reason_codes, out);
            Ok(())
        })
    }
}

/// The SUBACK return codes of 3.1 and 3.1.1 (§3.9.3).
fn is_v3_code(code: ReasonCode) -> bool {
    matches!(code.0, 0x00 | 0x01 | 0x02 | 0x80)
}

/// The list of reason codes ending SUBACK and 5.0 UNSUBACK; at least one.
pub(super) fn decode_code_list(
    r: &mut Reader,
    packet: PacketType,
    version: ProtocolVersion,
) -> Result<Vec<ReasonCode>, DecodeError> {
    if r.is_empty() {
        return Err(DecodeError::UnexpectedEof {
            field: "reason codes",
        });
    }
    let mut codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let code = decode_reason_code(r, packet)?;
        if !version.is_v5() && !is_v3_code(code) {
            return Err(DecodeError::InvalidReasonCode {
                packet,
                code: code.0,
            });
        }
        codes.push(code);
    }
    Ok(codes)
}

pub(super) fn encode_code_list(codes: &[ReasonCode], out: &mut BytesMut) {
    for code in codes {
        out.put_u8(code.0);
    }
}
