//! UNSUBSCRIBE (§3.10).

use bytes::{BufMut, BytesMut};
use mqlite::TopicFilter;

use super::subscribe::decode_filter;
use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, decode_properties,
    encode_properties, write_frame,
};
use crate::codec::primitives::put_string;
use crate::codec::{PacketId, Properties};

/// UNSUBSCRIBE: a client drops subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The identifier UNSUBACK echoes.
    pub packet_id: PacketId,
    /// 5.0 only (user properties).
    pub properties: Properties,
    /// At least one filter [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.packet_id(PacketType::Unsubscribe)?;
        let properties = decode_properties(r, version, Context::Unsubscribe)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters.push(decode_filter(r)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters {
                packet: PacketType::Unsubscribe,
            });
        }
        Ok(Self {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        write_frame(out, PacketType::Unsubscribe, 0b0010, |out| {
            out.put_u16(self.packet_id.get());
            encode_properties(&self.properties, version, out)?;
            for filter in &self.filters {
                put_string(out, filter.as_str(), "topic filter")?;
            }
            Ok(())
        })
    }
}
