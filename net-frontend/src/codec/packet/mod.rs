//! One file per packet type, each with its `decode` and `encode` side by side, plus what they
//! share: the dispatch on packet type, and the optional "reason code, then properties" tail of
//! 5.0 acknowledgements, DISCONNECT and AUTH.
//!
//! Not here: the fixed header (`header.rs`) and the field encodings (`primitives.rs`).

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod ping;
mod puback;
mod pubcomp;
mod publish;
mod pubrec;
mod pubrel;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

use bytes::{BufMut, Bytes, BytesMut};

pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use puback::PubAck;
pub use pubcomp::PubComp;
pub use publish::{Publish, PublishRef, PublishTopic};
pub use pubrec::PubRec;
pub use pubrel::PubRel;
pub use suback::SubAck;
pub use subscribe::Subscribe;
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

use super::header::{FixedHeader, write_frame};
use super::primitives::Reader;
use super::properties::{Context, Properties};
use super::{DecodeError, EncodeError, Packet, PacketType, ProtocolVersion, ReasonCode};

/// Decodes one packet's body (everything after the fixed header).
pub(crate) fn decode_body(
    header: &FixedHeader,
    body: Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let mut r = Reader::new(body);
    let r = &mut r;
    let v = version;
    let packet = match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(r)?)),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(r, v)?),
        PacketType::Publish => Packet::Publish(Publish::decode(r, header.flags, v)?),
        PacketType::PubAck => Packet::PubAck(PubAck::decode(r, v)?),
        PacketType::PubRec => Packet::PubRec(PubRec::decode(r, v)?),
        PacketType::PubRel => Packet::PubRel(PubRel::decode(r, v)?),
        PacketType::PubComp => Packet::PubComp(PubComp::decode(r, v)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(r, v)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(r, v)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(r, v)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(r, v)?),
        PacketType::PingReq => ping::decode(r, PacketType::PingReq, Packet::PingReq)?,
        PacketType::PingResp => ping::decode(r, PacketType::PingResp, Packet::PingResp)?,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(r, v)?),
        PacketType::Auth => Packet::Auth(Auth::decode(r, v)?),
    };
    Ok(packet)
}

/// Encodes a whole packet, fixed header included.
pub(crate) fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let v = version;
    match packet {
        Packet::Connect(p) => p.encode(out),
        Packet::ConnAck(p) => p.encode(v, out),
        Packet::Publish(p) => p.encode(v, out),
        Packet::PubAck(p) => p.encode(v, out),
        Packet::PubRec(p) => p.encode(v, out),
        Packet::PubRel(p) => p.encode(v, out),
        Packet::PubComp(p) => p.encode(v, out),
        Packet::Subscribe(p) => p.encode(v, out),
        Packet::SubAck(p) => p.encode(v, out),
        Packet::Unsubscribe(p) => p.encode(v, out),
        Packet::UnsubAck(p) => p.encode(v, out),
        Packet::PingReq => write_frame(out, PacketType::PingReq, 0, |_| Ok(())),
        Packet::PingResp => write_frame(out, PacketType::PingResp, 0, |_| Ok(())),
        Packet::Disconnect(p) => p.encode(v, out),
        Packet::Auth(_) if !v.is_v5() => Err(EncodeError::PacketNotInVersion {
            packet: PacketType::Auth,
            version: v,
        }),
        Packet::Auth(p) => p.encode(v, out),
    }
}

/// Reads a 5.0 property list; before 5.0 there is none.
fn decode_properties(
    r: &mut Reader,
    version: ProtocolVersion,
    ctx: Context,
) -> Result<Properties, DecodeError> {
    if version.is_v5() {
        Properties::decode(r, ctx)
    } else {
        Ok(Properties::default())
    }
}

/// Writes a 5.0 property list; before 5.0 the properties must be empty.
fn encode_properties(
    props: &Properties,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if version.is_v5() {
        props.encode(out)
    } else if props.is_empty() {
        Ok(())
    } else {
        Err(EncodeError::NotInVersion {
            what: "properties",
            version,
        })
    }
}

/// Reads the optional tail of 5.0 acknowledgements, DISCONNECT and AUTH: a reason code (absent
/// means success) then properties (absent means none) [MQTT-3.4.2.1] [MQTT-3.14.2.1].
/// Before 5.0 there is no tail.
fn decode_reason_tail(
    r: &mut Reader,
    version: ProtocolVersion,
    packet: PacketType,
    ctx: Context,
) -> Result<(ReasonCode, Properties), DecodeError> {
    let mut code = ReasonCode::SUCCESS;
    let mut props = Properties::default();
    if version.is_v5() && !r.is_empty() {
        code = decode_reason_code(r, packet)?;
        if !r.is_empty() {
            props = Properties::decode(r, ctx)?;
        }
    }
    Ok((code, props))
}

/// Writes the tail [`decode_reason_tail`] reads, as short as it can be.
fn encode_reason_tail(
    code: ReasonCode,
    props: &Properties,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !version.is_v5() {
        if code != ReasonCode::SUCCESS {
            return Err(EncodeError::NotInVersion {
                what: "a reason code other than success",
                version,
            });
        }
        return encode_properties(props, version, out);
    }
    if code != ReasonCode::SUCCESS || !props.is_empty() {
        out.put_u8(code.0);
    }
    if !props.is_empty() {
        props.encode(out)?;
    }
    Ok(())
}

/// Reads one 5.0 reason code that `packet` allows.
fn decode_reason_code(r: &mut Reader, packet: PacketType) -> Result<ReasonCode, DecodeError> {
    let code = ReasonCode(r.u8("reason code")?);
    if !code.is_valid_for(packet) {
        return Err(DecodeError::InvalidReasonCode {
            packet,
            code: code.0,
        });
    }
    Ok(code)
}
