//! CONNECT (§3.1): the first packet of a connection. It names its own protocol version, so it
//! decodes without one.

use bytes::{BufMut, Bytes, BytesMut};
use mqlite::QoS;

use super::publish::PublishTopic;
use super::{
    Context, DecodeError, EncodeError, PacketType, ProtocolVersion, Reader, decode_properties,
    encode_properties, write_frame,
};
use crate::codec::Properties;
use crate::codec::primitives::{put_binary, put_string};

const RESERVED: u8 = 0b0000_0001;
const CLEAN_START: u8 = 0b0000_0010;
const WILL: u8 = 0b0000_0100;
const WILL_RETAIN: u8 = 0b0010_0000;
const PASSWORD: u8 = 0b0100_0000;
const USER_NAME: u8 = 0b1000_0000;

/// CONNECT: a client opens a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The version the client speaks, from the protocol name and level.
    pub protocol_version: ProtocolVersion,
    /// Clean Start (5.0), Clean Session (3.1.1, 3.1).
    pub clean_start: bool,
    /// Keep alive, in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// 5.0 only.
    pub properties: Properties,
    /// The client identifier; may be empty (the server then assigns one or refuses).
    pub client_id: String,
    /// The will message, if any.
    pub will: Option<Will>,
    /// The user name.
    pub username: Option<String>,
    /// The password; before 5.0 only with a user name [MQTT-3.1.2-22].
    pub password: Option<Bytes>,
}

/// The will message of a CONNECT (§3.1.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// The will topic; never empty.
    pub topic: PublishTopic,
    /// The will payload.
    pub payload: Bytes,
    /// The will QoS.
    pub qos: QoS,
    /// The will retain flag.
    pub retain: bool,
    /// Will properties (5.0 only).
    pub properties: Properties,
}

impl Connect {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let version = decode_version(r)?;
        let flags = r.u8("connect flags")?;
        check_flags(flags, version)?;
        let keep_alive = r.u16("keep alive")?;
        let properties = decode_properties(r, version, Context::Connect)?;
        let client_id = r.string("client identifier")?;
        let will = match flags & WILL {
            0 => None,
            _ => Some(Will::decode(r, flags, version)?),
        };
        let username = match flags & USER_NAME {
            0 => None,
            _ => Some(r.string("user name")?),
        };
        let password = match flags & PASSWORD {
            0 => None,
            _ => Some(r.binary("password")?),
        };
        r.finish(PacketType::Connect)?;
        Ok(Self {
            protocol_version: version,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let version = self.protocol_version;
        if !version.is_v5() && self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::NotInVersion {
                what: "a password without a user name",
                version,
            });
        }
        let mut flags = u8::from(self.clean_start) << 1;
        if let Some(will) = &self.will {
            flags |= WILL | will.qos.as_u8() << 3 | u8::from(will.retain) << 5;
        }
        flags |= u8::from(self.password.is_some()) << 6 | u8::from(self.username.is_some()) << 7;
        write_frame(out, PacketType::Connect, 0, |out| {
            put_string(out, version.protocol_name(), "protocol name")?;
            out.put_u8(version.level());
            out.put_u8(flags);
            out.put_u16(self.keep_alive);
            encode_properties(&self.properties, version, out)?;
            put_string(out, &self.client_id, "client identifier")?;
            if let Some(will) = &self.will {
                encode_properties(&will.properties, version, out)?;
                put_binary(out, will.topic.as_bytes(), "will topic")?;
                put_binary(out, &will.payload, "will payload")?;
            }
            if let Some(username) = &self.username {
                put_string(out, username, "user name")?;
            }
            if let Some(password) = &self.password {
                put_binary(out, password, "password")?;
            }
            Ok(())
        })
    }
}

impl Will {
    fn decode(r: &mut Reader, flags: u8, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let properties = decode_properties(r, version, Context::Will)?;
        let topic = PublishTopic::from_bytes(r.binary("will topic")?)?;
        if topic.is_empty() {
            return Err(DecodeError::EmptyTopicName);
        }
        Ok(Self {
            topic,
            payload: r.binary("will payload")?,
            qos: QoS::from_u8((flags >> 3) & 0b11)
                .ok_or(DecodeError::InvalidQoS { field: "will QoS" })?,
            retain: flags & WILL_RETAIN != 0,
            properties,
        })
    }
}

/// The version named by the protocol name and level [MQTT-3.1.2-1] [MQTT-3.1.2-2].
fn decode_version(r: &mut Reader) -> Result<ProtocolVersion, DecodeError> {
    let name = r.binary("protocol name")?;
    let level = r.u8("protocol level")?;
    match (&name[..], level) {
        (b"MQIsdp", 3) => Ok(ProtocolVersion::V31),
        (b"MQTT", 4) => Ok(ProtocolVersion::V311),
        (b"MQTT", 5) => Ok(ProtocolVersion::V5),
        (b"MQIsdp", _) => Err(DecodeError::UnsupportedProtocolLevel {
            level,
            name: "MQIsdp",
        }),
        (b"MQTT", _) => Err(DecodeError::UnsupportedProtocolLevel {
            level,
            name: "MQTT",
        }),
        _ => Err(DecodeError::InvalidProtocolName {
            name: String::from_utf8_lossy(&name).into_owned(),
        }),
    }
}

/// The rules on the connect flags byte that hold whatever follows it.
fn check_flags(flags: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    let fail = |rule| Err(DecodeError::InvalidConnectFlags { flags, rule });
    if flags & RESERVED != 0 {
        return fail("the reserved bit 0 must be 0 [MQTT-3.1.2-3]");
    }
    if flags & WILL == 0 && flags & (0b11 << 3) != 0 {
        return fail("will QoS must be 0 without a will [MQTT-3.1.2-13]");
    }
    if flags & WILL == 0 && flags & WILL_RETAIN != 0 {
        return fail("will retain must be 0 without a will [MQTT-3.1.2-15]");
    }
    if (flags >> 3) & 0b11 == 3 {
        return Err(DecodeError::InvalidQoS { field: "will QoS" });
    }
    if !version.is_v5() && flags & PASSWORD != 0 && flags & USER_NAME == 0 {
        return fail("a password requires a user name before MQTT 5.0 [MQTT-3.1.2-22]");
    }
    Ok(())
}
