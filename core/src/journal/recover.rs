//! Reading the journal back at start: the store's live records, in ticket order, become
//! sessions with their queues and in-flight windows, incoming QoS 2 ids and retained
//! messages. Records that do not decode, or that refer to something no longer there, are
//! released and counted; none stops a start.

use std::collections::{HashMap, HashSet};

use super::Journal;
use super::records::{DeliveryRecord, InboundTag, Record, SessionRecord};
use crate::sync::ValueArc;
use crate::types::message::{Delivery, Publication};
use crate::types::store::{Persisted, Ticket};

/// One delivery of a recovered session, oldest first.
#[derive(Debug)]
pub(crate) struct RecoveredDelivery {
    /// The delivery, tied to its records.
    pub(crate) delivery: Delivery,
    /// The packet id it was handed out under (QoS 2 only: QoS 1 is simply sent again).
    pub(crate) sent: Option<u16>,
    /// PUBREC was received: only PUBREL is sent again.
    pub(crate) released: bool,
}

/// One recovered persistent session.
#[derive(Debug)]
pub(crate) struct RecoveredSession {
    pub(crate) record: SessionRecord,
    pub(crate) persisted: ValueArc<Persisted>,
    pub(crate) deliveries: Vec<RecoveredDelivery>,
    pub(crate) inbound: Vec<(u16, ValueArc<Persisted>)>,
}

/// Everything read back at start.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) sessions: Vec<RecoveredSession>,
    pub(crate) retained: Vec<(Publication, ValueArc<Persisted>)>,
}

/// Deliveries found so far, by id, with the session they belong to.
type Pending = HashMap<u64, (u64, RecoveredDelivery)>;

impl Journal {
    /// Reads every live record of the store back. Call once, before anything is appended.
    pub(crate) fn recover(&mut self) -> Recovered {
        let records = self.handle.with(|s| Ok(s.recovered())).unwrap_or_default();
        self.recovery.records_recovered = records.len() as u64;
        let mut sessions: HashMap<u64, RecoveredSession> = HashMap::new();
        let mut deliveries: Pending = HashMap::new();
        let mut inbound = Vec::new();
        let mut retained = Vec::new();
        let mut max_delivery = 0;
        // Incoming QoS 2 messages known to have been routed, and the markers saying so.
        let mut routed = HashSet::new();
        let mut markers = Vec::new();
        // The tag of each tagged delivery (an incoming QoS 2 message's copy), by id.
        let mut tags: HashMap<u64, InboundTag> = HashMap::new();
        for stored in records {
            let ticket = stored.ticket;
            let Some(record) = Record::decode(stored.kind, &stored.payload, self.time) else {
                self.discard(ticket);
                continue;
            };
            match record {
                Record::Session(s) => {
                    let persisted = Persisted::new(&self.handle, ticket, 0);
                    let no = s.no;
                    // A later record of the same session replaces the earlier one (whose
                    // release did not reach the disk); its deliveries stay.
                    let entry = sessions.entry(no).or_insert_with(|| RecoveredSession {
                        record: s.clone(),
                        persisted: persisted.clone(),
                        deliveries: Vec::new(),
                        inbound: Vec::new(),
                    });
                    entry.record = s;
                    entry.persisted = persisted;
                }
                Record::Delivery(DeliveryRecord {
                    session,
                    id,
                    tag,
                    mut delivery,
                }) => {
                    routed.extend(tag);
                    if let Some(tag) = tag {
                        tags.insert(id, tag);
                    }
                    delivery.set_persisted(Persisted::new(&self.handle, ticket, id));
                    let d = RecoveredDelivery {
                        delivery,
                        sent: None,
                        released: false,
                    };
                    max_delivery = max_delivery.max(id);
                    // A copy of the same delivery (a release lost in a crash) replaces it.
                    deliveries.insert(id, (session, d));
                }
                Record::Sent {
                    of,
                    packet_id,
                    released,
                } => {
                    self.step(&mut deliveries, of, ticket, |d| {
                        d.sent = Some(packet_id);
                        d.released |= released;
                    });
                }
                Record::Released { of } => {
                    self.step(&mut deliveries, of, ticket, |d| d.released = true);
                }
                Record::Inbound { session, tag } => {
                    let persisted = Persisted::new(&self.handle, ticket, 0);
                    inbound.push((session, tag, persisted));
                }
                Record::Routed { tag } => {
                    routed.insert(tag);
                    markers.push((tag, ticket));
                }
                Record::Retained(p) => {
                    retained.push((p, Persisted::new(&self.handle, ticket, 0)));
                }
            }
        }
        self.next_session.store(
            sessions.keys().max().map_or(1, |n| n + 1),
            crate::sync::Ordering::Relaxed,
        );
        self.next_delivery
            .store(max_delivery + 1, crate::sync::Ordering::Relaxed);
        roll_back_incomplete_routing(&mut deliveries, &tags, &inbound, &markers, &mut routed);
        let mut ordered: Vec<_> = deliveries.into_iter().collect();
        ordered.sort_unstable_by_key(|(id, _)| *id);
        for (_, (no, d)) in ordered {
            // A delivery of a session no longer there is dropped, and so released.
            if let Some(s) = sessions.get_mut(&no) {
                s.deliveries.push(d);
            }
        }
        self.restore_inbound(&mut sessions, inbound, &routed, markers);
        let mut sessions: Vec<_> = sessions.into_values().collect();
        sessions.sort_unstable_by_key(|s| s.record.no);
        Recovered { sessions, retained }
    }

    /// Puts back the incoming QoS 2 ids whose message was routed (a tagged delivery or the
    /// marker is there); the others are released, so the publisher's resend is routed.
    fn restore_inbound(
        &self,
        sessions: &mut HashMap<u64, RecoveredSession>,
        inbound: Vec<(u64, InboundTag, ValueArc<Persisted>)>,
        routed: &HashSet<InboundTag>,
        markers: Vec<(InboundTag, Ticket)>,
    ) {
        let mut kept: HashMap<InboundTag, ValueArc<Persisted>> = HashMap::new();
        for (no, tag, persisted) in inbound {
            if let (true, Some(s)) = (routed.contains(&tag), sessions.get_mut(&no)) {
                kept.insert(tag, persisted.clone());
                s.inbound.push((tag.packet_id, persisted));
            }
        }
        for (tag, ticket) in markers {
            match kept.get(&tag) {
                Some(persisted) => persisted.push(ticket),
                None => self.handle.release(ticket),
            }
        }
    }

    /// A record that describes a step of delivery `of`: tied to it, or released if the
    /// delivery is gone.
    fn step(
        &self,
        deliveries: &mut Pending,
        of: u64,
        ticket: Ticket,
        apply: impl FnOnce(&mut RecoveredDelivery),
    ) {
        match deliveries.get_mut(&of) {
            Some((_, d)) => {
                if let Some(p) = d.delivery.persisted() {
                    p.push(ticket);
                }
                apply(d);
            }
            None => self.handle.release(ticket),
        }
    }

    /// A record that cannot be used: released and counted.
    fn discard(&mut self, ticket: Ticket) {
        self.recovery.records_discarded += 1;
        self.handle.release(ticket);
    }
}

/// An incoming QoS 2 message is routed atomically across a crash: its id's record comes
/// first, then one delivery record per persistent session it reaches, then the marker that
/// says the routing is complete (and only that makes its PUBREC go out). An id whose record
/// is there without its marker was cut off mid-routing (a kill while the fan-out filled
/// the store's write buffer, a torn tail after a power loss): the deliveries that made it
/// are rolled back and the id is not put back, so the publisher's resend (it never got a
/// PUBREC) is routed again to every session, once. Kept as before, if one of those
/// deliveries was already handed out with a recorded step (its receiver may have it): the
/// id stays and the resend is taken as a duplicate.
fn roll_back_incomplete_routing(
    deliveries: &mut Pending,
    tags: &HashMap<u64, InboundTag>,
    inbound: &[(u64, InboundTag, ValueArc<Persisted>)],
    markers: &[(InboundTag, Ticket)],
    routed: &mut HashSet<InboundTag>,
) {
    let marked: HashSet<InboundTag> = markers.iter().map(|(tag, _)| *tag).collect();
    let mut cut: HashSet<InboundTag> = inbound
        .iter()
        .map(|(_, tag, _)| *tag)
        .filter(|tag| !marked.contains(tag))
        .collect();
    if cut.is_empty() {
        return;
    }
    for (id, (_, d)) in deliveries.iter() {
        if (d.sent.is_some() || d.released)
            && let Some(tag) = tags.get(id)
        {
            cut.remove(tag);
        }
    }
    // Dropped deliveries release their records.
    deliveries.retain(|id, _| tags.get(id).is_none_or(|tag| !cut.contains(tag)));
    routed.retain(|tag| !cut.contains(tag));
}
