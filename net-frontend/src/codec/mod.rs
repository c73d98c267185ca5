//! The MQTT codec: bytes ↔ [`Packet`] for MQTT 3.1 (`MQIsdp`, level 3), 3.1.1 (level 4) and
//! 5.0 (level 5). One code path serves every version; the version is a parameter.
//!
//! - `header.rs`: the fixed header and the remaining length.
//! - `primitives.rs`: integers, variable byte integers, UTF-8 strings, binary data.
//! - `properties.rs`: every MQTT 5.0 property ([`Properties`]).
//! - `reason_code.rs`: every MQTT 5.0 reason code and the one mapping from [`DecodeError`].
//! - `error.rs`: [`DecodeError`] and [`EncodeError`].
//! - `packet/`: one file per packet type, its decode and encode side by side.
//!
//! Not here: sockets, sessions, topic aliases, keep alive or any other connection state.
//!
//! # Topics
//!
//! A PUBLISH topic (and a will topic) is a [`PublishTopic`]: validated bytes split zero-copy
//! from the input, so decoding a PUBLISH allocates nothing but what the shared payload needs.
//! It may be empty in 5.0 when a topic alias stands for it, which core's `TopicName` cannot
//! express; the connection resolves aliases and then builds a `mqlite::TopicName`.
//! Subscription filters are core's [`mqlite::TopicFilter`], validated once here.

mod error;
mod header;
mod packet;
mod primitives;
mod properties;
mod reason_code;
#[cfg(test)]
mod tests;

use std::fmt;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};

pub use error::{DecodeError, EncodeError};
pub use header::PacketType;
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, PubAck, PubComp, PubRec, PubRel, Publish, PublishRef,
    PublishTopic, SubAck, Subscribe, UnsubAck, Unsubscribe, Will,
};
pub use properties::Properties;
pub use reason_code::ReasonCode;

/// The MQTT protocol version a connection speaks, chosen by its CONNECT packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    V311,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            Self::V31 => 3,
            Self::V311 => 4,
            Self::V5 => 5,
        }
    }

    /// The protocol name of CONNECT: `MQIsdp` for 3.1, `MQTT` otherwise.
    pub const fn protocol_name(self) -> &'static str {
        match self {
            Self::V31 => "MQIsdp",
            Self::V311 | Self::V5 => "MQTT",
        }
    }

    /// Whether packets carry reason codes and properties (5.0).
    pub const fn is_v5(self) -> bool {
        matches!(self, Self::V5)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V31 => "MQTT 3.1",
            Self::V311 => "MQTT 3.1.1",
            Self::V5 => "MQTT 5.0",
        })
    }
}

/// Limits applied while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The largest whole packet (fixed header included) accepted, in bytes. A larger packet is
    /// rejected as soon as its fixed header is read, before its body is buffered.
    pub max_packet_size: usize,
}

impl DecodeLimits {
    /// The largest packet the protocol can express: 1 + 4 header bytes + 268,435,455.
    pub const PROTOCOL_MAX_PACKET_SIZE: usize = 5 + header::MAX_REMAINING_LENGTH;
}

impl Default for DecodeLimits {
    /// The protocol maximum; a server should lower it (Mosquitto's `max_packet_size`).
    fn default() -> Self {
        Self {
            max_packet_size: Self::PROTOCOL_MAX_PACKET_SIZE,
        }
    }
}

/// A packet identifier: never 0 [MQTT-2.2.1-3] (5.0: [MQTT-2.2.1-3]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The identifier `value`, or `None` for 0.
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The wire value, 1 to 65,535.
    pub const fn get(self) -> u16 {
        self.0.get()
    }
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet {
    /// CONNECT: client → server, the first packet of a connection.
    Connect(Box<Connect>),
    /// CONNACK: server → client.
    ConnAck(ConnAck),
    /// PUBLISH: both ways.
    Publish(Publish),
    /// PUBACK: the QoS 1 acknowledgement.
    PubAck(PubAck),
    /// PUBREC: QoS 2, part 1.
    PubRec(PubRec),
    /// PUBREL: QoS 2, part 2.
    PubRel(PubRel),
    /// PUBCOMP: QoS 2, part 3.
    PubComp(PubComp),
    /// SUBSCRIBE: client → server.
    Subscribe(Subscribe),
    /// SUBACK: server → client.
    SubAck(SubAck),
    /// UNSUBSCRIBE: client → server.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK: server → client.
    UnsubAck(UnsubAck),
    /// PINGREQ: client → server.
    PingReq,
    /// PINGRESP: server → client.
    PingResp,
    /// DISCONNECT: client → server (both ways in 5.0).
    Disconnect(Disconnect),
    /// AUTH: 5.0 only, enhanced authentication.
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }
}

/// Decodes the packet at the front of `buf`. On success the packet's bytes are split off
/// `buf` (payloads stay zero-copy [`Bytes`]); otherwise `buf` is left untouched.
///
/// - `Ok(Some(packet))`: one whole packet was decoded.
/// - `Ok(None)`: `buf` holds part of a packet; read more and call again.
/// - `Err(e)`: these bytes can never become a valid packet; close with `e.reason_code()`.
///
/// A packet larger than `limits.max_packet_size` is rejected as soon as its fixed
/// header is read, before its body is buffered.
///
/// A CONNECT carries its own version, so `version` does not affect how it decodes; read
/// [`Connect::protocol_version`] and pass it for the packets that follow (or use
/// [`decode_connect`] for a connection's first packet).
///
/// # Errors
///
/// [`DecodeError`] when the bytes are malformed or break a protocol rule the codec can see.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use mqlite_net::codec::{decode, DecodeLimits, Packet, ProtocolVersion};
///
/// let limits = DecodeLimits::default();
/// let mut buf = BytesMut::from(&[0xD0u8][..]); // half a PINGRESP
/// assert_eq!(decode(&mut buf, ProtocolVersion::V311, &limits)?, None);
/// buf.extend_from_slice(&[0x00]);
/// assert_eq!(decode(&mut buf, ProtocolVersion::V311, &limits)?, Some(Packet::PingResp));
/// # Ok::<(), mqlite_net::DecodeError>(())
/// ```
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    limits: &DecodeLimits,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = header::FixedHeader::parse(buf, version, limits)? else {
        return Ok(None);
    };
    let frame: Bytes = buf.split_to(header.frame_len()).freeze();
    match packet::decode_body(&header, frame.slice(header.header_len..), version) {
        Ok(packet) => Ok(Some(packet)),
        Err(e) => {
            // Put the frame back so `buf` is untouched; the connection is closing anyway, so
            // this copy is off the hot path.
            let rest = std::mem::take(buf);
            buf.reserve(frame.len() + rest.len());
            buf.extend_from_slice(&frame);
            buf.extend_from_slice(&rest);
            Err(e)
        }
    }
}

/// Decodes a connection's first packet, which must be a CONNECT [MQTT-3.1.0-1]; the
/// version for the rest of the connection is [`Connect::protocol_version`].
///
/// # Errors
///
/// As [`decode`], plus [`DecodeError::FirstPacketNotConnect`].
pub fn decode_connect(
    buf: &mut BytesMut,
    limits: &DecodeLimits,
) -> Result<Option<Box<Connect>>, DecodeError> {
    if let Some(&first) = buf.first()
        && first >> 4 != PacketType::Connect as u8
    {
        return Err(DecodeError::FirstPacketNotConnect { first_byte: first });
    }
    match decode(buf, ProtocolVersion::V5, limits)? {
        Some(Packet::Connect(connect)) => Ok(Some(connect)),
        Some(other) => Err(DecodeError::FirstPacketNotConnect {
            first_byte: (other.packet_type() as u8) << 4,
        }),
        None => Ok(None),
    }
}

/// Encodes `packet` for `version` at the end of `out` (a buffer the caller reuses).
///
/// # Errors
///
/// [`EncodeError`] if the packet cannot be expressed in `version` (AUTH before 5.0, properties
/// or reason codes 3.1.1 has no room for) or exceeds a protocol size limit. `out` is then left
/// as it was.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = packet::encode(packet, version, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}
