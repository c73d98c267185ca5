//! The in-flight state of one session: outgoing QoS 1 and 2 deliveries awaiting their
//! acknowledgements (MQTT 3.1.1 §4.3.2, §4.3.3), and incoming QoS 2 packet ids awaiting
//! PUBREL. Not here: the queue, locks, attachment (see `mod.rs`); this is plain data under the
//! session's mutex.

use std::collections::{HashMap, VecDeque};

use crate::sync::ValueArc;
use crate::types::message::Delivery;
use crate::types::qos::QoS;
use crate::types::store::Persisted;

/// Where an outgoing QoS 1/2 delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// QoS 2: PUBREC received, PUBREL sent; waiting for PUBCOMP. The receiver has the message:
    /// it is never sent again, only the PUBREL is [MQTT-4.3.3-1].
    Released,
}

#[derive(Debug)]
struct Entry {
    packet_id: u16,
    seq: u64,
    delivery: Delivery,
    phase: Phase,
    /// Set on resume: send again before anything queued [MQTT-4.4.0-1].
    resend: bool,
}

/// Something to send again after a resume.
#[derive(Debug)]
pub(crate) enum Resend {
    /// The PUBLISH again, with DUP set [MQTT-3.3.1-1].
    Publish {
        delivery: Delivery,
        packet_id: u16,
        seq: u64,
    },
    /// The PUBREL again [MQTT-4.3.3-1].
    Release { packet_id: u16 },
}

/// Outgoing deliveries in flight, in the order they were sent.
#[derive(Debug)]
pub(crate) struct Window {
    entries: VecDeque<Entry>,
    resend_pending: usize,
    next_packet_id: u16,
    next_seq: u64,
}

impl Window {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
            resend_pending: 0,
            next_packet_id: 1,
            next_seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A sequence number for something handed out (unique within the session).
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// The next free packet identifier: non-zero and not in flight [MQTT-2.3.1-1].
    pub(crate) fn next_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.entries.iter().any(|e| e.packet_id == id) {
                return id;
            }
        }
    }

    /// Records a delivery handed out under `packet_id` / `seq`, in `phase`.
    pub(crate) fn open(&mut self, delivery: &Delivery, packet_id: u16, seq: u64, phase: Phase) {
        self.entries.push_back(Entry {
            packet_id,
            seq,
            delivery: delivery.clone(),
            phase,
            resend: false,
        });
    }

    /// A connection resumed the session: everything in flight is due again. An in-process
    /// consumer already holds every QoS 2 message past PUBREC, so those complete now instead
    /// (it has no PUBREL to receive); returns how many completed.
    pub(crate) fn resume(&mut self, in_process: bool) -> usize {
        let before = self.entries.len();
        if in_process {
            self.entries.retain(|e| e.phase != Phase::Released);
        }
        for entry in &mut self.entries {
            entry.resend = true;
        }
        self.resend_pending = self.entries.len();
        before - self.entries.len()
    }

    /// Whether something is still due to be sent again.
    pub(crate) fn has_resends(&self) -> bool {
        self.resend_pending > 0
    }

    /// Entries sent on the current connection and not yet acknowledged: what counts against
    /// the receiver's receive maximum now.
    pub(crate) fn outstanding(&self) -> usize {
        self.entries.len() - self.resend_pending
    }

    /// Hands out up to `max` resends, oldest first. With `complete` (a consumer that
    /// acknowledges on receipt) each one handed out is also completed.
    pub(crate) fn resends(
        &mut self,
        max: usize,
        complete: bool,
        mut out: impl FnMut(Resend),
    ) -> usize {
        let mut done = 0;
        let mut i = 0;
        while done < max && self.resend_pending > 0 && i < self.entries.len() {
            let entry = &mut self.entries[i];
            if !entry.resend {
                i += 1;
                continue;
            }
            entry.resend = false;
            self.resend_pending -= 1;
            done += 1;
            out(match entry.phase {
                Phase::Published => {
                    let mut delivery = entry.delivery.clone();
                    delivery.dup = true;
                    Resend::Publish {
                        delivery,
                        packet_id: entry.packet_id,
                        seq: entry.seq,
                    }
                }
                Phase::Released => Resend::Release {
                    packet_id: entry.packet_id,
                },
            });
            if complete {
                self.entries.remove(i);
            } else {
                i += 1;
            }
        }
        done
    }

    fn remove(&mut self, pos: usize) -> Option<Delivery> {
        let entry = self.entries.remove(pos)?;
        if entry.resend {
            self.resend_pending -= 1;
        }
        Some(entry.delivery)
    }

    /// An in-process acknowledgement of the delivery handed out as `seq`: completes it,
    /// whatever its phase. `false` if it is not in flight (already acknowledged).
    pub(crate) fn ack_seq(&mut self, packet_id: u16, seq: u64) -> bool {
        let pos = self
            .entries
            .iter()
            .position(|e| e.packet_id == packet_id && e.seq == seq);
        pos.and_then(|p| self.remove(p)).is_some()
    }

    /// PUBACK: completes a QoS 1 delivery [MQTT-4.3.2-1]. `false` if no QoS 1 delivery
    /// with that id is in flight.
    pub(crate) fn puback(&mut self, packet_id: u16) -> bool {
        let pos = self
            .entries
            .iter()
            .position(|e| e.packet_id == packet_id && e.delivery.qos == QoS::AtLeastOnce);
        pos.and_then(|p| self.remove(p)).is_some()
    }

    /// PUBREC: a QoS 2 delivery was received; from now on only its PUBREL is resent.
    /// `None` if no QoS 2 delivery with that id awaits it; `Some(Some(delivery))` (a copy,
    /// to record the step) if it just moved to `Released`, `Some(None)` if it was there
    /// already.
    pub(crate) fn pubrec(&mut self, packet_id: u16) -> Option<Option<Delivery>> {
        match self
            .entries
            .iter_mut()
            .find(|e| e.packet_id == packet_id && e.delivery.qos == QoS::ExactlyOnce)
        {
            Some(entry) if entry.phase == Phase::Published => {
                entry.phase = Phase::Released;
                Some(Some(entry.delivery.clone()))
            }
            // A repeated PUBREC: the PUBREL is sent again, nothing changes.
            Some(_) => Some(None),
            None => None,
        }
    }

    /// PUBCOMP: completes a released QoS 2 delivery. `false` if none with that id awaits it.
    pub(crate) fn pubcomp(&mut self, packet_id: u16) -> bool {
        let pos = self
            .entries
            .iter()
            .position(|e| e.packet_id == packet_id && e.phase == Phase::Released);
        pos.and_then(|p| self.remove(p)).is_some()
    }

    /// Takes out what may go to another member of its shared subscription when this session
    /// ends: QoS 1 deliveries routed through one. QoS 2 ones are dropped instead, as they
    /// must not reach another client [MQTT-4.8.2-5]; returns (redirect, dropped).
    pub(crate) fn drain_shared(&mut self) -> (Vec<Delivery>, usize) {
        let mut redirect = Vec::new();
        let mut dropped = 0;
        let mut kept = VecDeque::with_capacity(self.entries.len());
        for entry in self.entries.drain(..) {
            match (entry.delivery.shared().is_some(), entry.delivery.qos) {
                (true, QoS::AtLeastOnce) => redirect.push(entry.delivery),
                (true, _) => dropped += 1,
                (false, _) => kept.push_back(entry),
            }
        }
        self.entries = kept;
        self.resend_pending = self.entries.iter().filter(|e| e.resend).count();
        (redirect, dropped)
    }
}

/// Incoming QoS 2 packet ids received and not yet released: a resent PUBLISH with one of
/// them is not delivered again [MQTT-4.3.3-2]. In durable mode each holds its record,
/// released by PUBREL.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    ids: HashMap<u16, Option<ValueArc<Persisted>>>,
}

impl Inbound {
    /// Whether `packet_id` is already held (a duplicate).
    pub(crate) fn contains(&self, packet_id: u16) -> bool {
        self.ids.contains_key(&packet_id)
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn insert(&mut self, packet_id: u16, persisted: Option<ValueArc<Persisted>>) {
        self.ids.insert(packet_id, persisted);
    }

    /// The record of held id `packet_id`, in durable mode.
    pub(crate) fn persisted(&self, packet_id: u16) -> Option<&Persisted> {
        self.ids.get(&packet_id)?.as_deref()
    }

    /// PUBREL: forgets `packet_id`; `false` if it was not held.
    pub(crate) fn release(&mut self, packet_id: u16) -> bool {
        self.take(packet_id).is_some()
    }

    /// PUBREL: forgets `packet_id` and hands back its record (`Some(None)` without one,
    /// `None` if the id was not held).
    pub(crate) fn take(&mut self, packet_id: u16) -> Option<Option<ValueArc<Persisted>>> {
        self.ids.remove(&packet_id)
    }
}
