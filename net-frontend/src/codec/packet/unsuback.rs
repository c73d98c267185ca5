//! UNSUBACK (§3.11): before 5.0 just the packet identifier; in 5.0 also properties and one
//! reason code per filter.

use bytes::{BufMut, BytesMut};

use super::suback::{decode_code_list, encode_code_list};
use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, ReasonCode,
    decode_properties, encode_properties, write_frame,
};
use crate::codec::{PacketId, Properties};

/// UNSUBACK: the server's answer to UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The UNSUBSCRIBE's identifier.
    pub packet_id: PacketId,
    /// 5.0 only.
    pub properties: Properties,
    /// 5.0 only: one per filter, in order. Empty before 5.0.
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.packet_id(PacketType::UnsubAck)?;
        let properties = decode_properties(r, version, Context::UnsubAck)?;
        let reason_codes = if version.is_v5() {
            decode_code_list(r, PacketType::UnsubAck, version)?
        } else {
            r.finish(PacketType::UnsubAck)?;
            Vec::new()
        };
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
        if !version.is_v5() && !self.reason_codes.is_empty() {
            return Err(EncodeError::NotInVersion {
                what: "UNSUBACK reason codes",
                version,
            });
        }
        // 5.0 has one reason code per filter of the UNSUBSCRIBE [MQTT-3.11.3-1], which has at
        // least one [MQTT-3.10.3-2]; without any, the bytes would not decode.
        if version.is_v5() && self.reason_codes.is_empty() {
            return Err(EncodeError::NotInVersion {
                what: "an UNSUBACK without reason codes",
                version,
            });
        }
        write_frame(out, PacketType::UnsubAck, 0, |out| {
            out.put_u16(self.packet_id.get());
            encode_properties(&self.properties, version, out)?;
            encode_code_list(&self.reason_codes, out);
            Ok(())
        })
    }
}
