//! PUBLISH (§3.3): the hot path. The topic and payload are split zero-copy from the input.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use mqlite::{QoS, TopicName};

use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, decode_properties,
    encode_properties,
};
use crate::codec::primitives::{check_utf8, put_binary, put_varint};
use crate::codec::{PacketId, Properties};

/// A validated PUBLISH or will topic: well-formed UTF-8 without U+0000 [MQTT-1.5.4] and
/// without wildcards [MQTT-3.3.2-2], kept as the input's bytes (no allocation).
///
/// Unlike [`TopicName`] it may be empty: in 5.0 a PUBLISH with a topic alias may omit the
/// topic (§3.3.2.3.4). The connection resolves the alias, then calls [`TopicName::new`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PublishTopic(Bytes);

impl PublishTopic {
    /// Validates `topic`; empty is allowed (a topic alias stands for it).
    ///
    /// # Errors
    ///
    /// [`DecodeError::NullCharacter`] or [`DecodeError::WildcardInTopicName`].
    pub fn new(topic: &str) -> Result<Self, DecodeError> {
        Self::from_bytes(Bytes::copy_from_slice(topic.as_bytes()))
    }

    /// Validates wire bytes without copying them.
    ///
    /// # Errors
    ///
    /// As [`PublishTopic::new`], plus [`DecodeError::InvalidUtf8`].
    pub fn from_bytes(bytes: Bytes) -> Result<Self, DecodeError> {
        let s = check_utf8(&bytes, "topic name")?;
        if s.contains(['+', '#']) {
            return Err(DecodeError::WildcardInTopicName {
                topic: s.to_owned(),
            });
        }
        Ok(Self(bytes))
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("checked to be UTF-8 at construction")
    }

    /// The topic's bytes, shared with the input they were decoded from.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Whether the topic is empty (only valid with a 5.0 topic alias).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&TopicName> for PublishTopic {
    fn from(topic: &TopicName) -> Self {
        Self(Bytes::copy_from_slice(topic.as_str().as_bytes()))
    }
}

impl fmt::Debug for PublishTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// PUBLISH: an application message, client → server or server → client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a redelivery.
    pub dup: bool,
    /// The QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// The topic; empty only with a 5.0 topic alias.
    pub topic: PublishTopic,
    /// Present exactly when `qos` is 1 or 2 [MQTT-2.2.1-2].
    pub packet_id: Option<PacketId>,
    /// 5.0 only.
    pub properties: Properties,
    /// The application message, shared zero-copy with the input buffer.
    pub payload: Bytes,
}

impl Publish {
    pub(crate) fn decode(
        r: &mut Reader,
        flags: u8,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS {
            field: "PUBLISH QoS",
        })?;
        let topic = PublishTopic::from_bytes(r.binary("topic name")?)?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(r.packet_id(PacketType::Publish)?),
        };
        let properties = decode_properties(r, version, Context::Publish)?;
        // [MQTT-4.7.3-1]; 5.0 allows an empty topic only with a topic alias [MQTT-3.3.2-1].
        if topic.is_empty() && properties.topic_alias.is_none() {
            return Err(DecodeError::EmptyTopicName);
        }
        Ok(Self {
            dup: flags & 0b1000 != 0,
            qos,
            retain: flags & 0b0001 != 0,
            topic,
            packet_id,
            properties,
            payload: r.rest(),
        })
    }

    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.as_bytes(),
            packet_id: self.packet_id,
            properties: &self.properties,
            payload: &self.payload,
        }
        .encode(version, out)
    }
}

/// A PUBLISH to encode from borrowed parts: what a server writes for each delivery, without
/// building an owned [`Publish`] (no topic copy, no property clone).
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    /// DUP: this may be a redelivery.
    pub dup: bool,
    /// The QoS.
    pub qos: QoS,
    /// RETAIN.
    pub retain: bool,
    /// The topic's bytes (valid UTF-8); empty only with a 5.0 topic alias.
    pub topic: &'a [u8],
    /// Present exactly when `qos` is 1 or 2 [MQTT-2.2.1-2].
    pub packet_id: Option<PacketId>,
    /// 5.0 only; must be empty before 5.0.
    pub properties: &'a Properties,
    /// The application message.
    pub payload: &'a [u8],
}

impl PublishRef<'_> {
    /// Appends the whole packet to `out`. The length is computed first, so the payload is
    /// copied once and never moved.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] for a packet id that does not fit the QoS, properties before 5.0, a
    /// topic over 65,535 bytes, or a packet over the protocol's size limit.
    pub fn encode(&self, version: ProtocolVersion, out: &mut BytesMut) -> Result<(), EncodeError> {
        let id_len = match (self.qos, self.packet_id) {
            (QoS::AtMostOnce, None) => 0,
            (QoS::AtMostOnce, Some(_)) | (_, None) => {
                return Err(EncodeError::PacketIdMismatch { qos: self.qos });
            }
            (_, Some(_)) => 2,
        };
        // Properties are rare on the hot path: encode them aside, then copy.
        let mut props = BytesMut::new();
        if !version.is_v5() || !self.properties.is_empty() {
            encode_properties(self.properties, version, &mut props)?;
        } else {
            props.put_u8(0);
        }
        let remaining = 2 + self.topic.len() + id_len + props.len() + self.payload.len();
        let flags = u8::from(self.dup) << 3 | self.qos.as_u8() << 1 | u8::from(self.retain);
        out.reserve(5 + remaining);
        out.put_u8((PacketType::Publish as u8) << 4 | flags);
        put_varint(out, remaining, "remaining length")?;
        put_binary(out, self.topic, "topic name")?;
        if let Some(id) = self.packet_id {
            out.put_u16(id.get());
        }
        out.put_slice(&props);
        out.put_slice(self.payload);
        Ok(())
    }
}
