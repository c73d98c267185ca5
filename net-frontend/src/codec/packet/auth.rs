//! AUTH: enhanced authentication exchange, 5.0 only (§3.15); the fixed header rejects type 15 before 5.0.

use bytes::BytesMut;

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, ReasonCode,
    decode_reason_tail, encode_reason_tail, write_frame,
};
use crate::codec::Properties;

/// AUTH: enhanced authentication exchange, 5.0 only (§3.15); the fixed header rejects type 15 before 5.0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// 5.0 only; [`ReasonCode::SUCCESS`] (0x00) when absent.
    pub reason_code: ReasonCode,
    /// 5.0 only.
    pub properties: Properties,
}

impl Auth {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let (reason_code, properties) =
            decode_reason_tail(r, version, PacketType::Auth, Context::Auth)?;
        r.finish(PacketType::Auth)?;
        Ok(Self {
            reason_code,
            properties,
        })
    }

    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        write_frame(out, PacketType::Auth, 0, |out| {
            encode_reason_tail(self.reason_code, &self.properties, version, out)
        })
    }
}
