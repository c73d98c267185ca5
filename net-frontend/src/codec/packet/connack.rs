//! CONNACK (§3.2). Before 5.0 the reason code is a one-byte return code 0–5, mapped onto the
//! 5.0 codes with the same meaning so callers handle one type.

use bytes::{BufMut, BytesMut};

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, ReasonCode,
    decode_properties, decode_reason_code, encode_properties, write_frame,
};
use crate::codec::Properties;

/// 3.1 / 3.1.1 return codes 0–5 (3.1.1 §3.2.2.3), as 5.0 reason codes.
const RETURN_CODES: [ReasonCode; 6] = [
    ReasonCode::SUCCESS,
    ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
    ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
    ReasonCode::SERVER_UNAVAILABLE,
    ReasonCode::BAD_USER_NAME_OR_PASSWORD,
    ReasonCode::NOT_AUTHORIZED,
];

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// The server resumed a session (3.1.1 and 5.0; always `false` in 3.1).
    pub session_present: bool,
    /// Success or why the connection is refused; before 5.0 one of the six codes that have
    /// a return code.
    pub reason_code: ReasonCode,
    /// 5.0 only.
    pub properties: Properties,
}

impl ConnAck {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let flags = r.u8("connect acknowledge flags")?;
        // 3.1 has no session present flag; its whole byte is reserved.
        let allowed = if version == ProtocolVersion::V31 {
            0
        } else {
            1
        };
        if flags & !allowed != 0 {
            return Err(DecodeError::InvalidConnAckFlags { flags });
        }
        let reason_code = if version.is_v5() {
            decode_reason_code(r, PacketType::ConnAck)?
        } else {
            let code = r.u8("connect return code")?;
            *RETURN_CODES
                .get(usize::from(code))
                .ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code,
                })?
        };
        let properties = decode_properties(r, version, Context::ConnAck)?;
        r.finish(PacketType::ConnAck)?;
        Ok(Self {
            session_present: flags & 1 != 0,
            reason_code,
            properties,
        })
    }

    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if version == ProtocolVersion::V31 && self.session_present {
            return Err(EncodeError::NotInVersion {
                what: "session present",
                version,
            });
        }
        let code = if version.is_v5() {
            self.reason_code.0
        } else {
            let index = RETURN_CODES.iter().position(|c| *c == self.reason_code);
            index.ok_or(EncodeError::NotInVersion {
                what: "this CONNACK reason code",
                version,
            })? as u8
        };
        write_frame(out, PacketType::ConnAck, 0, |out| {
            out.put_u8(u8::from(self.session_present));
            out.put_u8(code);
            encode_properties(&self.properties, version, out)
        })
    }
}
