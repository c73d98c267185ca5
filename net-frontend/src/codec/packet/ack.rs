//! The layout PUBACK, PUBREC, PUBREL and PUBCOMP share (§3.4–§3.7): a packet identifier, then
//! in 5.0 an optional reason code and optional properties. Each packet's own file names its
//! type with [`ack_packet!`]; the version is a parameter here, never a copy.

use bytes::BytesMut;

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, ReasonCode,
    decode_reason_tail, encode_reason_tail, write_frame,
};
use crate::codec::{PacketId, Properties};

/// Reads an acknowledgement body.
pub(super) fn decode(
    r: &mut Reader,
    version: ProtocolVersion,
    packet: PacketType,
) -> Result<(PacketId, ReasonCode, Properties), DecodeError> {
    let packet_id = r.packet_id(packet)?;
    let (code, props) = decode_reason_tail(r, version, packet, Context::Ack)?;
    r.finish(packet)?;
    Ok((packet_id, code, props))
}

/// Writes an acknowledgement.
pub(super) fn encode(
    packet: PacketType,
    packet_id: PacketId,
    code: ReasonCode,
    props: &Properties,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let flags = packet.fixed_flags().unwrap_or(0);
    write_frame(out, packet, flags, |out| {
        bytes::BufMut::put_u16(out, packet_id.get());
        encode_reason_tail(code, props, version, out)
    })
}

/// Declares one acknowledgement packet type with its decode and encode.
macro_rules! ack_packet {
    ($(#[$doc:meta])* $name:ident, $packet:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The identifier of the PUBLISH (or PUBREL) acknowledged.
            pub packet_id: crate::codec::PacketId,
            /// 5.0 only; [`ReasonCode::SUCCESS`](crate::codec::ReasonCode::SUCCESS) before.
            pub reason_code: crate::codec::ReasonCode,
            /// 5.0 only; empty before.
            pub properties: crate::codec::Properties,
        }

        impl $name {
            /// An acknowledgement with success and no properties.
            pub fn new(packet_id: crate::codec::PacketId) -> Self {
                Self {
                    packet_id,
                    reason_code: crate::codec::ReasonCode::SUCCESS,
                    properties: crate::codec::Properties::default(),
                }
            }

            pub(crate) fn decode(
                r: &mut crate::codec::primitives::Reader,
                version: crate::codec::ProtocolVersion,
            ) -> Result<Self, crate::codec::DecodeError> {
                let (packet_id, reason_code, properties) =
                    super::ack::decode(r, version, $packet)?;
                Ok(Self { packet_id, reason_code, properties })
            }

            pub(crate) fn encode(
                &self,
                version: crate::codec::ProtocolVersion,
                out: &mut bytes::BytesMut,
            ) -> Result<(), crate::codec::EncodeError> {
                super::ack::encode(
                    $packet,
                    self.packet_id,
                    self.reason_code,
                    &self.properties,
                    version,
                    out,
                )
            }
        }
    };
}
pub(super) use ack_packet;
