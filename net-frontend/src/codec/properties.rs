//! Every MQTT 5.0 property (§2.2.2.2): its identifier, type, the packets that may carry it
//! and whether it may repeat. Before 5.0 packets have no properties.

use bytes::{BufMut, Bytes, BytesMut};
use mqlite::QoS;

use super::primitives::{Reader, put_binary, put_string, put_varint, with_varint_len};
use super::{DecodeError, EncodeError};

/// Where a property list sits; each property is allowed in some of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub(crate) enum Context {
    Connect = 1 << 0,
    Will = 1 << 1,
    ConnAck = 1 << 2,
    Publish = 1 << 3,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack = 1 << 4,
    Subscribe = 1 << 5,
    SubAck = 1 << 6,
    Unsubscribe = 1 << 7,
    UnsubAck = 1 << 8,
    Disconnect = 1 << 9,
    Auth = 1 << 10,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Will => "will properties",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::Ack => "PUBACK/PUBREC/PUBREL/PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::Disconnect => "DISCONNECT",
            Self::Auth => "AUTH",
        }
    }
}

const ALL: u16 = (1 << 11) - 1;
const PUB_WILL: u16 = Context::Publish as u16 | Context::Will as u16;
const CONNACK: u16 = Context::ConnAck as u16;
const CONN_BOTH: u16 = Context::Connect as u16 | CONNACK;

/// The contexts a property identifier is allowed in, or `None` if 5.0 defines no such id.
fn allowed_in(id: u8) -> Option<u16> {
    use Context::*;
    Some(match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => PUB_WILL,
        0x0B => Publish as u16 | Subscribe as u16,
        0x11 => CONN_BOTH | Disconnect as u16,
        0x12 | 0x13 | 0x1A | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => CONNACK,
        0x15 | 0x16 => CONN_BOTH | Auth as u16,
        0x17 | 0x19 => Connect as u16,
        0x18 => Will as u16,
        0x1C => CONNACK | Disconnect as u16,
        0x1F => ALL & !(Connect as u16 | Will as u16 | Publish as u16 | Subscribe as u16),
        0x21 | 0x22 | 0x27 => CONN_BOTH,
        0x23 => Publish as u16,
        0x26 => ALL,
        _ => return None,
    })
}

/// The properties of one packet (or of a will). Absent properties are `None` or empty.
///
/// One struct serves every packet; decoding rejects a property the packet does not allow,
/// and encoding writes whatever is set, so a sender sets only what its packet allows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// 0x01 Payload Format Indicator (byte): `true` when the payload is UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// 0x02 Message Expiry Interval (four-byte integer), in seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type (UTF-8 string).
    pub content_type: Option<String>,
    /// 0x08 Response Topic (UTF-8 string).
    pub response_topic: Option<String>,
    /// 0x09 Correlation Data (binary data).
    pub correlation_data: Option<Bytes>,
    /// 0x0B Subscription Identifier (variable byte integer, 1 to 268,435,455); a PUBLISH may
    /// carry several, a SUBSCRIBE one.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11 Session Expiry Interval (four-byte integer), in seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12 Assigned Client Identifier (UTF-8 string).
    pub assigned_client_identifier: Option<String>,
    /// 0x13 Server Keep Alive (two-byte integer), in seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15 Authentication Method (UTF-8 string).
    pub authentication_method: Option<String>,
    /// 0x16 Authentication Data (binary data).
    pub authentication_data: Option<Bytes>,
    /// 0x17 Request Problem Information (byte, 0 or 1).
    pub request_problem_information: Option<bool>,
    /// 0x18 Will Delay Interval (four-byte integer), in seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19 Request Response Information (byte, 0 or 1).
    pub request_response_information: Option<bool>,
    /// 0x1A Response Information (UTF-8 string).
    pub response_information: Option<String>,
    /// 0x1C Server Reference (UTF-8 string).
    pub server_reference: Option<String>,
    /// 0x1F Reason String (UTF-8 string).
    pub reason_string: Option<String>,
    /// 0x21 Receive Maximum (two-byte integer, not 0).
    pub receive_maximum: Option<u16>,
    /// 0x22 Topic Alias Maximum (two-byte integer).
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 Topic Alias (two-byte integer, not 0).
    pub topic_alias: Option<u16>,
    /// 0x24 Maximum QoS (byte, 0 or 1).
    pub maximum_qos: Option<QoS>,
    /// 0x25 Retain Available (byte, 0 or 1).
    pub retain_available: Option<bool>,
    /// 0x26 User Property (UTF-8 string pair); may repeat, order kept.
    pub user_properties: Vec<(String, String)>,
    /// 0x27 Maximum Packet Size (four-byte integer, not 0).
    pub maximum_packet_size: Option<u32>,
    /// 0x28 Wildcard Subscription Available (byte, 0 or 1).
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 Subscription Identifier Available (byte, 0 or 1).
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A Shared Subscription Available (byte, 0 or 1).
    pub shared_subscription_available: Option<bool>,
}

impl Properties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Reads a property length and that many bytes of properties.
    pub(crate) fn decode(r: &mut Reader, ctx: Context) -> Result<Self, DecodeError> {
        let len = r.varint("property length")?;
        let mut r = r.sub_reader(len as usize, "properties")?;
        let mut props = Self::default();
        let mut seen = 0u64;
        while !r.is_empty() {
            let id = r.varint("property identifier")?;
            let Some(mask) = u8::try_from(id).ok().and_then(allowed_in) else {
                return Err(DecodeError::UnknownProperty { id });
            };
            let id = id as u8;
            let context = ctx.name();
            if mask & ctx as u16 == 0 {
                return Err(DecodeError::PropertyNotAllowed { id, context });
            }
            let repeatable = id == 0x26 || (id == 0x0B && ctx == Context::Publish);
            if !repeatable && seen & (1 << id) != 0 {
                return Err(DecodeError::DuplicateProperty { id, context });
            }
            seen |= 1 << id;
            props.read_value(&mut r, id)?;
        }
        Ok(props)
    }

    fn read_value(&mut self, r: &mut Reader, id: u8) -> Result<(), DecodeError> {
        const F: &str = "property value";
        let p = self;
        match id {
            0x01 => p.payload_format_indicator = Some(flag(r, id)?),
            0x02 => p.message_expiry_interval = Some(r.u32(F)?),
            0x03 => p.content_type = Some(r.string("content type")?),
            0x08 => p.response_topic = Some(r.string("response topic")?),
            0x09 => p.correlation_data = Some(r.binary(F)?),
            0x0B => {
                let v = r.varint("subscription identifier")?;
                p.subscription_identifiers.push(nonzero(id, v)?);
            }
            0x11 => p.session_expiry_interval = Some(r.u32(F)?),
            0x12 => p.assigned_client_identifier = Some(r.string("assigned client identifier")?),
            0x13 => p.server_keep_alive = Some(r.u16(F)?),
            0x15 => p.authentication_method = Some(r.string("authentication method")?),
            0x16 => p.authentication_data = Some(r.binary(F)?),
            0x17 => p.request_problem_information = Some(flag(r, id)?),
            0x18 => p.will_delay_interval = Some(r.u32(F)?),
            0x19 => p.request_response_information = Some(flag(r, id)?),
            0x1A => p.response_information = Some(r.string("response information")?),
            0x1C => p.server_reference = Some(r.string("server reference")?),
            0x1F => p.reason_string = Some(r.string("reason string")?),
            0x21 => p.receive_maximum = Some(nonzero(id, r.u16(F)?.into())? as u16),
            0x22 => p.topic_alias_maximum = Some(r.u16(F)?),
            0x23 => p.topic_alias = Some(nonzero(id, r.u16(F)?.into())? as u16),
            0x24 => {
                p.maximum_qos = Some(if flag(r, id)? {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                })
            }
            0x25 => p.retain_available = Some(flag(r, id)?),
            0x26 => p.user_properties.push(r.string_pair("user property")?),
            0x27 => p.maximum_packet_size = Some(nonzero(id, r.u32(F)?)?),
            0x28 => p.wildcard_subscription_available = Some(flag(r, id)?),
            0x29 => p.subscription_identifier_available = Some(flag(r, id)?),
            0x2A => p.shared_subscription_available = Some(flag(r, id)?),
            _ => return Err(DecodeError::UnknownProperty { id: id.into() }),
        }
        Ok(())
    }

    /// Writes the property length and the properties, in identifier order.
    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        with_varint_len(out, "property length", |out| self.encode_values(out))
    }

    fn encode_values(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let p = self;
        put_flag(out, 0x01, p.payload_format_indicator);
        put_u32(out, 0x02, p.message_expiry_interval);
        put_str(out, 0x03, &p.content_type)?;
        put_str(out, 0x08, &p.response_topic)?;
        put_bin(out, 0x09, &p.correlation_data)?;
        for &id in &p.subscription_identifiers {
            out.put_u8(0x0B);
            put_varint(out, id as usize, "subscription identifier")?;
        }
        put_u32(out, 0x11, p.session_expiry_interval);
        put_str(out, 0x12, &p.assigned_client_identifier)?;
        put_u16(out, 0x13, p.server_keep_alive);
        put_str(out, 0x15, &p.authentication_method)?;
        put_bin(out, 0x16, &p.authentication_data)?;
        put_flag(out, 0x17, p.request_problem_information);
        put_u32(out, 0x18, p.will_delay_interval);
        put_flag(out, 0x19, p.request_response_information);
        put_str(out, 0x1A, &p.response_information)?;
        put_str(out, 0x1C, &p.server_reference)?;
        put_str(out, 0x1F, &p.reason_string)?;
        put_u16(out, 0x21, p.receive_maximum);
        put_u16(out, 0x22, p.topic_alias_maximum);
        put_u16(out, 0x23, p.topic_alias);
        put_flag(out, 0x24, p.maximum_qos.map(|q| q != QoS::AtMostOnce));
        put_flag(out, 0x25, p.retain_available);
        for (key, value) in &p.user_properties {
            out.put_u8(0x26);
            put_string(out, key, "user property")?;
            put_string(out, value, "user property")?;
        }
        put_u32(out, 0x27, p.maximum_packet_size);
        put_flag(out, 0x28, p.wildcard_subscription_available);
        put_flag(out, 0x29, p.subscription_identifier_available);
        put_flag(out, 0x2A, p.shared_subscription_available);
        Ok(())
    }

    /// Clears every property `ctx` does not allow (for property tests).
    #[cfg(test)]
    pub(crate) fn restrict_to(mut self, ctx: Context) -> Self {
        let ok = |id: u8| allowed_in(id).is_some_and(|m| m & ctx as u16 != 0);
        let p = &mut self;
        macro_rules! keep {
            ($($id:literal => $field:ident),*) => { $( if !ok($id) { p.$field = Default::default(); } )* };
        }
        keep!(0x01 => payload_format_indicator, 0x02 => message_expiry_interval,
            0x03 => content_type, 0x08 => response_topic, 0x09 => correlation_data,
            0x0B => subscription_identifiers, 0x11 => session_expiry_interval,
            0x12 => assigned_client_identifier, 0x13 => server_keep_alive,
            0x15 => authentication_method, 0x16 => authentication_data,
            0x17 => request_problem_information, 0x18 => will_delay_interval,
            0x19 => request_response_information, 0x1A => response_information,
            0x1C => server_reference, 0x1F => reason_string, 0x21 => receive_maximum,
            0x22 => topic_alias_maximum, 0x23 => topic_alias, 0x24 => maximum_qos,
            0x25 => retain_available, 0x26 => user_properties, 0x27 => maximum_packet_size,
            0x28 => wildcard_subscription_available, 0x29 => subscription_identifier_available,
            0x2A => shared_subscription_available);
        if ctx != Context::Publish {
            p.subscription_identifiers.truncate(1);
        }
        self
    }
}

/// A byte property that must be 0 or 1.
fn flag(r: &mut Reader, id: u8) -> Result<bool, DecodeError> {
    match r.u8("property value")? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(DecodeError::InvalidPropertyValue {
            id,
            value: value.into(),
        }),
    }
}

/// A property whose value 0 is a protocol error (receive maximum, topic alias, …).
fn nonzero(id: u8, value: u32) -> Result<u32, DecodeError> {
    if value == 0 {
        return Err(DecodeError::InvalidPropertyValue { id, value });
    }
    Ok(value)
}

fn put_flag(out: &mut BytesMut, id: u8, value: Option<bool>) {
    if let Some(v) = value {
        out.put_slice(&[id, u8::from(v)]);
    }
}

fn put_u16(out: &mut BytesMut, id: u8, value: Option<u16>) {
    if let Some(v) = value {
        out.put_u8(id);
        out.put_u16(v);
    }
}

fn put_u32(out: &mut BytesMut, id: u8, value: Option<u32>) {
    if let Some(v) = value {
        out.put_u8(id);
        out.put_u32(v);
    }
}

fn put_str(out: &mut BytesMut, id: u8, value: &Option<String>) -> Result<(), EncodeError> {
    if let Some(v) = value {
        out.put_u8(id);
        put_string(out, v, "string property")?;
    }
    Ok(())
}

fn put_bin(out: &mut BytesMut, id: u8, value: &Option<Bytes>) -> Result<(), EncodeError> {
    if let Some(v) = value {
        out.put_u8(id);
        put_binary(out, v, "binary property")?;
    }
    Ok(())
}
