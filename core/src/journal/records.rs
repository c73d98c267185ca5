//! The records of the journal and their bytes. One record kind per durable thing:
//!
//! | kind | record | lives until |
//! | --- | --- | --- |
//! | 1 | [`SessionRecord`]: client id, expiry, will, subscriptions | replaced, or the session is discarded |
//! | 2 | [`DeliveryRecord`]: one delivery queued for one persistent session | completed, dropped or expired |
//! | 3 | sent: a QoS 2 delivery (by id) was handed out under a packet id | its delivery |
//! | 4 | released: PUBREC received for it (only PUBREL is sent again) | its delivery |
//! | 5 | inbound: an incoming QoS 2 packet id awaits PUBREL | PUBREL |
//! | 6 | retained: a topic's retained message | replaced or cleared |
//! | 7 | routed: an incoming QoS 2 message was routed (see [`InboundTag`]) | its inbound id |
//!
//! Times are stored as Unix time in milliseconds, so expiry counts the broker's downtime.
//! A record that does not decode is counted and skipped; it never stops a start.

use std::time::Duration;

use bytes::Bytes;

use super::codec::{Reader, Writer};
use crate::sync::ValueArc;
use crate::types::message::{Deadline, Delivery, DeliveryExtra, Publication, PublishProperties};
use crate::types::qos::{QoS, RetainHandling, SubOptions};
use crate::types::topic::{TopicFilter, TopicName};
use crate::types::will::Will;

pub(crate) const SESSION: u8 = 1;
pub(crate) const DELIVERY: u8 = 2;
pub(crate) const SENT: u8 = 3;
pub(crate) const RELEASED: u8 = 4;
pub(crate) const INBOUND: u8 = 5;
pub(crate) const RETAINED: u8 = 6;
pub(crate) const ROUTED: u8 = 7;

/// Names one incoming QoS 2 PUBLISH across records: the run it came in (the journal's start,
/// Unix ms), its publisher's session key in that run, and its packet id. The id's record is
/// written before the message is routed, the deliveries it made carry the tag, and a marker
/// follows the routing: at start an id is held only if a tagged delivery or the marker is
/// there, so a crash between the id and the routing neither loses nor doubles the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct InboundTag {
    pub(crate) epoch: u64,
    pub(crate) key: u32,
    pub(crate) packet_id: u16,
}

impl InboundTag {
    fn encode(self, w: &mut Writer) {
        w.var(self.epoch);
        w.var(u64::from(self.key));
        w.u16(self.packet_id);
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            epoch: r.var()?,
            key: r.u32()?,
            packet_id: r.u16()?,
        })
    }
}

/// Converts between the broker's clock and Unix time, fixed at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TimeBase {
    pub(crate) clock: Duration,
    pub(crate) unix: Duration,
}

impl TimeBase {
    /// This run's epoch: the Unix ms of its start.
    pub(crate) fn epoch(self) -> u64 {
        u64::try_from(self.unix.as_millis()).unwrap_or(u64::MAX)
    }

    /// Unix milliseconds of clock time `at`.
    pub(crate) fn to_unix_ms(self, at: Duration) -> u64 {
        let unix = if at >= self.clock {
            self.unix.saturating_add(at - self.clock)
        } else {
            self.unix.saturating_sub(self.clock - at)
        };
        u64::try_from(unix.as_millis()).unwrap_or(u64::MAX)
    }

    /// Clock time of Unix milliseconds `ms` (the clock's origin if that is earlier).
    pub(crate) fn clock_of_unix_ms(self, ms: u64) -> Duration {
        let unix = Duration::from_millis(ms);
        if unix >= self.unix {
            self.clock.saturating_add(unix - self.unix)
        } else {
            self.clock.saturating_sub(self.unix - unix)
        }
    }
}

/// A persistent session as a whole (rewritten on every change: they are rare).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRecord {
    pub(crate) no: u64,
    pub(crate) client_id: String,
    pub(crate) expiry: Duration,
    /// Unix ms when its connection ended; `None` while connected.
    pub(crate) offline_since: Option<u64>,
    /// The will still to publish (a delayed one whose connection ended).
    pub(crate) will: Option<Will>,
    pub(crate) subscriptions: Vec<(TopicFilter, SubOptions)>,
}

/// One delivery queued for session `session`. `id` is unique in the store and increases
/// in the order deliveries are recorded: the steps of a delivery name it (a ticket would
/// change when the store compacts), and recovery orders a queue by it.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryRecord {
    pub(crate) session: u64,
    pub(crate) id: u64,
    /// The incoming QoS 2 PUBLISH it came from, if any.
    pub(crate) tag: Option<InboundTag>,
    pub(crate) delivery: Delivery,
}

/// What one record says.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Session(SessionRecord),
    Delivery(DeliveryRecord),
    /// `of` is the delivery's id; `released`: handed to an in-process client, which has a
    /// QoS 2 message the moment it gets it (as a network receiver at PUBREC).
    Sent {
        of: u64,
        packet_id: u16,
        released: bool,
    },
    Released {
        of: u64,
    },
    Inbound {
        session: u64,
        tag: InboundTag,
    },
    Routed {
        tag: InboundTag,
    },
    Retained(Publication),
}

impl Record {
    /// Its kind and bytes.
    pub(crate) fn encode(&self, time: TimeBase) -> (u8, Vec<u8>) {
        // One allocation per record: growing from empty took four or five (a 64-byte
        // message's delivery record is about 100 bytes).
        let mut w = Writer::with_capacity(self.capacity_hint());
        let kind = match self {
            Self::Session(s) => {
                encode_session(&mut w, s);
                SESSION
            }
            Self::Delivery(d) => {
                encode_delivery_record(&mut w, d.session, d.id, d.tag, &d.delivery, time);
                DELIVERY
            }
            Self::Sent {
                of,
                packet_id,
                released,
            } => {
                w.var(*of);
                w.u16(*packet_id);
                w.bool(*released);
                SENT
            }
            Self::Released { of } => {
                w.var(*of);
                RELEASED
            }
            Self::Inbound { session, tag } => {
                w.var(*session);
                tag.encode(&mut w);
                INBOUND
            }
            Self::Routed { tag } => {
                tag.encode(&mut w);
                ROUTED
            }
            Self::Retained(p) => {
                encode_publication(&mut w, p, time);
                RETAINED
            }
        };
        (kind, w.buf)
    }

    /// At least the bytes of most records of this shape (an underestimate only costs a
    /// reallocation): the variable parts plus room for the integers and flags.
    fn capacity_hint(&self) -> usize {
        match self {
            Self::Delivery(d) => delivery_capacity(&d.delivery),
            Self::Retained(p) => CAPACITY_FIXED + publication_capacity(p),
            Self::Session(s) => CAPACITY_FIXED + s.client_id.len() + 16 * s.subscriptions.len(),
            _ => CAPACITY_FIXED,
        }
    }

    /// The record of `kind` in `bytes`, or `None` if it does not decode.
    pub(crate) fn decode(kind: u8, bytes: &[u8], time: TimeBase) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let record = match kind {
            SESSION => Self::Session(decode_session(&mut r)?),
            DELIVERY => Self::Delivery(DeliveryRecord {
                session: r.var()?,
                id: r.var()?,
                tag: r.opt(InboundTag::decode)?,
                delivery: decode_delivery(&mut r, time)?,
            }),
            SENT => Self::Sent {
                of: r.var()?,
                packet_id: r.u16()?,
                released: r.bool()?,
            },
            RELEASED => Self::Released { of: r.var()? },
            INBOUND => Self::Inbound {
                session: r.var()?,
                tag: InboundTag::decode(&mut r)?,
            },
            ROUTED => Self::Routed {
                tag: InboundTag::decode(&mut r)?,
            },
            RETAINED => Self::Retained(decode_publication(&mut r, time)?),
            _ => return None,
        };
        r.is_empty().then_some(record)
    }
}

/// Room for a record's integers and flags, on top of its variable parts.
const CAPACITY_FIXED: usize = 48;

fn publication_capacity(p: &Publication) -> usize {
    p.topic.as_str().len() + p.payload.len() + p.properties.as_ref().map_or(0, |_| 64)
}

/// At least the bytes of most delivery records of `d` (see [`Record::capacity_hint`]).
fn delivery_capacity(d: &Delivery) -> usize {
    CAPACITY_FIXED
        + publication_capacity(&d.publication)
        + d.extra.as_deref().map_or(0, |e| {
            5 * e.subscription_ids.len() + e.shared.as_ref().map_or(0, |f| f.as_str().len())
        })
}

/// Appends the bytes of a [`DeliveryRecord`] to `buf`, from a borrowed delivery: what
/// `Record::Delivery(..).encode` gives, without cloning the delivery into a record.
pub(crate) fn encode_delivery_into(
    buf: &mut Vec<u8>,
    session: u64,
    id: u64,
    tag: Option<InboundTag>,
    delivery: &Delivery,
    time: TimeBase,
) {
    let mut w = Writer {
        buf: std::mem::take(buf),
    };
    w.buf.reserve(delivery_capacity(delivery));
    encode_delivery_record(&mut w, session, id, tag, delivery, time);
    *buf = w.buf;
}

fn encode_delivery_record(
    w: &mut Writer,
    session: u64,
    id: u64,
    tag: Option<InboundTag>,
    delivery: &Delivery,
    time: TimeBase,
) {
    w.var(session);
    w.var(id);
    w.opt(tag, |w, t| t.encode(w));
    encode_delivery(w, delivery, time);
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn encode_session(w: &mut Writer, s: &SessionRecord) {
    w.var(s.no);
    w.str(&s.client_id);
    w.var(ms(s.expiry));
    w.opt(s.offline_since, Writer::var);
    w.opt(s.will.as_ref(), |w, will| {
        w.str(will.topic.as_str());
        w.bytes(&will.payload);
        w.u8(will.qos.as_u8());
        w.bool(will.retain);
        w.opt(will.properties.as_ref(), encode_properties);
        w.var(ms(will.delay));
    });
    w.var(s.subscriptions.len() as u64);
    for (filter, opts) in &s.subscriptions {
        w.str(filter.as_str());
        encode_sub_options(w, opts);
    }
}

fn decode_session(r: &mut Reader<'_>) -> Option<SessionRecord> {
    let no = r.var()?;
    let client_id = r.str()?.to_owned();
    let expiry = Duration::from_millis(r.var()?);
    let offline_since = r.opt(Reader::var)?;
    let will = r.opt(|r| {
        let topic = TopicName::new(r.str()?).ok()?;
        let payload = r.owned_bytes()?;
        let qos = QoS::from_u8(r.u8()?)?;
        let retain = r.bool()?;
        let properties = r.opt(decode_properties)?;
        let delay = Duration::from_millis(r.var()?);
        let mut will = Will::to_topic(topic, payload).qos(qos).retain(retain);
        will.properties = properties;
        Some(will.delay(delay))
    })?;
    let count = r.var()?;
    let mut subscriptions = Vec::new();
    for _ in 0..count {
        let filter = TopicFilter::new(r.str()?).ok()?;
        subscriptions.push((filter, decode_sub_options(r)?));
    }
    Some(SessionRecord {
        no,
        client_id,
        expiry,
        offline_since,
        will,
        subscriptions,
    })
}

fn encode_sub_options(w: &mut Writer, o: &SubOptions) {
    let handling = match o.retain_handling {
        RetainHandling::SendAtSubscribe => 0,
        RetainHandling::SendAtSubscribeIfNew => 1,
        RetainHandling::DoNotSend => 2,
    };
    w.u8(o.qos.as_u8());
    w.bool(o.no_local);
    w.bool(o.retain_as_published);
    w.u8(handling);
    w.opt(o.subscription_id, |w, id| w.var(u64::from(id)));
}

fn decode_sub_options(r: &mut Reader<'_>) -> Option<SubOptions> {
    let mut o = SubOptions::new(QoS::from_u8(r.u8()?)?);
    o.no_local = r.bool()?;
    o.retain_as_published = r.bool()?;
    o.retain_handling = match r.u8()? {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return None,
    };
    o.subscription_id = r.opt(Reader::u32)?;
    Some(o)
}

fn encode_properties(w: &mut Writer, p: &PublishProperties) {
    w.opt(p.payload_format_indicator, Writer::bool);
    w.opt(p.message_expiry_interval, |w, d| w.var(ms(d)));
    w.opt(p.content_type.as_deref(), Writer::str);
    w.opt(p.response_topic.as_deref(), Writer::str);
    w.opt(p.correlation_data.as_deref(), Writer::bytes);
    w.var(p.user_properties.len() as u64);
    for (name, value) in &p.user_properties {
        w.str(name);
        w.str(value);
    }
}

fn decode_properties(r: &mut Reader<'_>) -> Option<PublishProperties> {
    let mut p = PublishProperties::new();
    p.payload_format_indicator = r.opt(Reader::bool)?;
    p.message_expiry_interval = r.opt(|r| r.var().map(Duration::from_millis))?;
    p.content_type = r.opt(|r| r.str().map(str::to_owned))?;
    p.response_topic = r.opt(|r| r.str().map(str::to_owned))?;
    p.correlation_data = r.opt(Reader::owned_bytes)?;
    for _ in 0..r.var()? {
        let name = r.str()?.to_owned();
        p.user_properties.push((name, r.str()?.to_owned()));
    }
    Some(p)
}

fn encode_publication(w: &mut Writer, p: &Publication, time: TimeBase) {
    w.str(p.topic.as_str());
    w.bytes(&p.payload);
    w.u8(p.qos.as_u8());
    w.bool(p.retain);
    w.opt(p.properties.as_deref(), encode_properties);
    w.opt(p.expires_at.get(), |w, at| w.var(time.to_unix_ms(at)));
}

fn decode_publication(r: &mut Reader<'_>, time: TimeBase) -> Option<Publication> {
    let topic = TopicName::new(r.str()?).ok()?;
    let payload: Bytes = r.owned_bytes()?;
    let qos = QoS::from_u8(r.u8()?)?;
    let retain = r.bool()?;
    let properties = r.opt(decode_properties)?.map(ValueArc::new);
    let expires_at = r
        .opt(Reader::var)?
        .map_or(Deadline::NONE, |ms| Deadline::at(time.clock_of_unix_ms(ms)));
    Some(Publication {
        topic,
        payload,
        qos,
        retain,
        properties,
        origin: None,
        expires_at,
        inbound_id: 0,
    })
}

fn encode_delivery(w: &mut Writer, d: &Delivery, time: TimeBase) {
    w.u8(d.qos.as_u8());
    w.bool(d.retain);
    let extra = d.extra.as_deref();
    let ids = extra.map_or(&[][..], |e| &e.subscription_ids[..]);
    w.var(ids.len() as u64);
    for &id in ids {
        w.var(u64::from(id));
    }
    w.opt(extra.and_then(|e| e.shared.as_ref()), |w, f| {
        w.str(f.as_str());
    });
    encode_publication(w, &d.publication, time);
}

fn decode_delivery(r: &mut Reader<'_>, time: TimeBase) -> Option<Delivery> {
    let qos = QoS::from_u8(r.u8()?)?;
    let retain = r.bool()?;
    let mut ids = Vec::new();
    for _ in 0..r.var()? {
        ids.push(r.u32()?);
    }
    let shared = r.opt(|r| TopicFilter::new(r.str()?).ok())?;
    let publication = decode_publication(r, time)?;
    let mut delivery = Delivery::new(publication, qos, retain, ids);
    if shared.is_some() {
        delivery
            .extra
            .get_or_insert_with(|| Box::new(DeliveryExtra::default()))
            .shared = shared;
    }
    Some(delivery)
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
