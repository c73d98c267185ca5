//! DISCONNECT: ends a connection; before 5.0 client → server and empty, in 5.0 both ways with a reason code (§3.14).

use bytes::BytesMut;

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, ReasonCode,
    decode_reason_tail, encode_reason_tail, write_frame,
};
use crate::codec::Properties;

/// DISCONNECT: ends a connection; before 5.0 client → server and empty, in 5.0 both ways with a reason code (§3.14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// 5.0 only; [`ReasonCode::SUCCESS`] (0x00) when absent.
    pub reason_code: ReasonCode,
    /// 5.0 only.
    pub properties: Properties,
}

impl Disconnect {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let (reason_code, properties) =
            decode_reason_tail(r, version, PacketType::Disconnect, Context::Disconnect)?;
        r.finish(PacketType::Disconnect)?;
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
        write_frame(out, PacketType::Disconnect, 0, |out| {
            encode_reason_tail(self.reason_code, &self.properties, version, out)
        })
    }
}
