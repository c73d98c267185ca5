//! SUBSCRIBE (§3.8): topic filters with their options. Filters become core's
//! [`TopicFilter`], validated once here.

use bytes::{BufMut, BytesMut};
use mqlite::{QoS, RetainHandling, SubOptions, TopicFilter};

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, decode_properties,
    encode_properties, write_frame,
};
use crate::codec::primitives::put_string;
use crate::codec::{PacketId, Properties};

/// SUBSCRIBE: a client asks for the messages matching some filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The identifier SUBACK echoes.
    pub packet_id: PacketId,
    /// 5.0 only (a subscription identifier, user properties).
    pub properties: Properties,
    /// At least one filter [MQTT-3.8.3-3], each with its options. The options never carry a
    /// subscription identifier here: it is a property of the whole packet.
    pub filters: Vec<(TopicFilter, SubOptions)>,
}

impl Subscribe {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = r.packet_id(PacketType::Subscribe)?;
        let properties = decode_properties(r, version, Context::Subscribe)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = decode_filter(r)?;
            let options = decode_options(r.u8("subscription options")?, version)?;
            // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
            if filter.is_shared() && options.is_no_local() {
                return Err(DecodeError::InvalidSubscriptionOptions { options: 0b100 });
            }
            filters.push((filter, options));
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters {
                packet: PacketType::Subscribe,
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
        write_frame(out, PacketType::Subscribe, 0b0010, |out| {
            out.put_u16(self.packet_id.get());
            encode_properties(&self.properties, version, out)?;
            for (filter, options) in &self.filters {
                put_string(out, filter.as_str(), "topic filter")?;
                out.put_u8(encode_options(options, version)?);
            }
            Ok(())
        })
    }
}

/// A topic filter, as in SUBSCRIBE and UNSUBSCRIBE.
pub(super) fn decode_filter(r: &mut Reader) -> Result<TopicFilter, DecodeError> {
    let bytes = r.string_bytes("topic filter")?;
    TopicFilter::from_bytes(&bytes).map_err(DecodeError::InvalidTopicFilter)
}

/// The subscription options byte: before 5.0 only the QoS, bits 7–2 reserved
/// [MQTT-3.8.3-4]; in 5.0 bits 7–6 reserved and retain handling 3 invalid [MQTT-3.8.3-5].
fn decode_options(options: u8, version: ProtocolVersion) -> Result<SubOptions, DecodeError> {
    let invalid = DecodeError::InvalidSubscriptionOptions { options };
    let reserved = if version.is_v5() {
        0b1100_0000
    } else {
        0b1111_1100
    };
    if options & reserved != 0 {
        return Err(invalid);
    }
    let qos = QoS::from_u8(options & 0b11).ok_or(DecodeError::InvalidQoS {
        field: "subscription QoS",
    })?;
    let retain_handling = match (options >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(invalid),
    };
    Ok(SubOptions::new(qos)
        .no_local(options & 0b0100 != 0)
        .retain_as_published(options & 0b1000 != 0)
        .retain_handling(retain_handling))
}

fn encode_options(options: &SubOptions, version: ProtocolVersion) -> Result<u8, EncodeError> {
    let retain_handling = match options.get_retain_handling() {
        RetainHandling::SendAtSubscribe => 0,
        RetainHandling::SendAtSubscribeIfNew => 1,
        RetainHandling::DoNotSend => 2,
        _ => {
            return Err(EncodeError::NotInVersion {
                what: "this retain handling",
                version,
            });
        }
    };
    let v5_bits = u8::from(options.is_no_local()) << 2
        | u8::from(options.is_retain_as_published()) << 3
        | retain_handling << 4;
    if !version.is_v5() && v5_bits != 0 {
        return Err(EncodeError::NotInVersion {
            what: "subscription options other than QoS",
            version,
        });
    }
    Ok(options.qos().as_u8() | v5_bits)
}
