//! What a session records in durable mode, at the changes it owns: its own record (client
//! id, expiry, will, subscriptions) at attach, subscribe, unsubscribe, expiry changes and
//! detach; each delivery queued while it is persistent; the QoS 2 steps of its in-flight
//! window; incoming QoS 2 ids. And rebuilding a session from its records at start.
//!
//! A failed append is counted by the journal (the operation is then not acknowledged); the
//! session keeps working in memory.

use std::time::Duration;

use super::inflight::Phase;
use super::spill::Entry;
use super::{Session, SessionState};
use crate::journal::records::{InboundTag, Record, SessionRecord};
use crate::journal::{Journal, RecoveredSession};
use crate::sync::{Ordering, ValueArc, ValueWeak};
use crate::types::message::{Delivery, origin_of};
use crate::types::qos::QoS;
use crate::types::store::Persisted;
use crate::types::will::Will;

/// Bytes a persistent session's queue holds in memory before further deliveries wait on
/// disk until taken (durable mode, `spill.rs`): queues far larger than memory cost a small
/// entry per message.
#[cfg(not(loom))]
pub(crate) const SPILL_AFTER_BYTES: usize = 4 << 20;
/// Under loom, a few bytes: the models reach the tail with a message or two (see
/// `loom-tests/tests/spill_order.rs`).
#[cfg(loom)]
pub(crate) const SPILL_AFTER_BYTES: usize = 8;

/// A step of an outgoing QoS 2 delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// Handed out; to an in-process client, which then has it.
    Sent { in_process: bool },
    /// PUBREC received.
    PubrecReceived,
}

/// A session's place in the journal.
#[derive(Debug, Clone)]
pub(crate) struct Durable {
    /// Held weakly, so that sessions kept alive by an application's messages do not keep
    /// the store open after the broker is gone.
    pub(crate) journal: ValueWeak<Journal>,
    /// Its number in the records (stable across restarts, unlike its slot).
    pub(crate) no: u64,
}

impl Session {
    /// Unix ms of clock time `at` (durable mode only).
    pub(super) fn unix_ms(&self, at: Duration) -> Option<u64> {
        let (journal, _) = self.journal()?;
        Some(journal.time().to_unix_ms(at))
    }

    /// The journal, while the broker lives, and the session's number in it.
    fn journal(&self) -> Option<(ValueArc<Journal>, u64)> {
        let durable = self.durable.as_ref()?;
        Some((durable.journal.upgrade()?, durable.no))
    }

    /// A record of this session was released and the answer to what released it (a
    /// PUBCOMP, a CONNACK) must wait until the release is durable.
    pub(crate) fn released_acknowledged(&self) {
        if let Some((journal, _)) = self.journal() {
            journal.note_release();
        }
    }

    /// Rewrites the session's record if it outlives its connection or has a will (or drops
    /// it if neither); `will` is a delayed will still to publish after the connection ended.
    pub(super) fn record_session(&self, state: &mut SessionState, will: Option<&Will>) {
        let Some((journal, no)) = self.journal() else {
            return;
        };
        let persistent = !state.expiry.is_zero();
        self.persistent
            .store(u64::from(persistent), Ordering::Relaxed);
        // The connection's will while it is attached, so that a crash does not lose it; a
        // session that ends with its connection is recorded for its will alone.
        let will = will.or(state.will.as_ref());
        if !persistent && will.is_none() {
            // Its record goes. At shutdown releases are skipped (what is in memory stays on
            // disk), so a record kept for a will the shutdown just published would publish
            // it again at the next start: a record without the will replaces it instead.
            if state.record.take().is_some() && journal.is_closed() {
                let record = Record::Session(SessionRecord {
                    no,
                    client_id: self.client_id.to_string(),
                    expiry: Duration::ZERO,
                    offline_since: state.offline_unix,
                    will: None,
                    subscriptions: Vec::new(),
                });
                let _ = journal.append(&record);
            }
            return;
        }
        let record = Record::Session(SessionRecord {
            no,
            client_id: self.client_id.to_string(),
            expiry: state.expiry,
            offline_since: state.offline_unix,
            will: will.cloned(),
            subscriptions: state
                .subscriptions
                .iter()
                .map(|(f, o)| (f.clone(), *o))
                .collect(),
        });
        // On failure the old record stays: it is what the disk still says.
        if let Ok(persisted) = journal.persist(&record, 0) {
            state.record = Some(persisted);
        }
    }

    /// Records a delivery about to be queued: QoS 1 and 2, and QoS 0 while offline (the
    /// queue then holds it only under `queue_qos0_messages`).
    pub(super) fn record_delivery(&self, delivery: &mut Delivery, online: bool) {
        if delivery.qos == QoS::AtMostOnce && online {
            return;
        }
        let Some((journal, no)) = self.journal() else {
            return;
        };
        let id = journal.new_delivery_id();
        let p = &delivery.publication;
        let tag = (p.inbound_id != 0).then(|| InboundTag {
            epoch: journal.time().epoch(),
            key: p.origin.map_or(0, std::num::NonZeroU32::get),
            packet_id: p.inbound_id,
        });
        if let Ok(persisted) = journal.persist_delivery(no, id, tag, delivery) {
            delivery.set_persisted(persisted);
        }
    }

    /// Records that a QoS 2 delivery was handed out under `packet_id` (`Sent`), or that the
    /// receiver has it (`Released`: its PUBREC came, or an in-process client got it).
    pub(super) fn record_step(&self, delivery: &Delivery, packet_id: u16, step: Step) {
        let Some(persisted) = delivery.persisted() else {
            return;
        };
        if delivery.qos != QoS::ExactlyOnce {
            return;
        }
        let Some((journal, _)) = self.journal() else {
            return;
        };
        let of = persisted.key();
        let record = match step {
            Step::PubrecReceived => Record::Released { of },
            Step::Sent { in_process } => Record::Sent {
                of,
                packet_id,
                released: in_process,
            },
        };
        // A failure is counted; the step is then lost at a crash (the PUBLISH is sent
        // again, as on a resume).
        let _ = journal.attach_to(persisted, &record);
        if let Step::Sent { in_process: true } = step {
            // An in-process client has the message when this returns, with no transport to
            // flush the record before: it must reach the disk's queue now, or a crash would
            // deliver it twice.
            let _ = journal.sync_point();
        }
    }

    /// Records an incoming QoS 2 id awaiting PUBREL, while the session is persistent.
    pub(super) fn record_inbound(&self, packet_id: u16) -> Option<ValueArc<Persisted>> {
        if self.persistent.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let (journal, no) = self.journal()?;
        let record = Record::Inbound {
            session: no,
            tag: self.inbound_tag(&journal, packet_id),
        };
        journal.persist(&record, 0).ok()
    }

    /// The tag of this session's incoming QoS 2 PUBLISH `packet_id` in this run.
    fn inbound_tag(&self, journal: &Journal, packet_id: u16) -> InboundTag {
        InboundTag {
            epoch: journal.time().epoch(),
            key: origin_of(self.key).map_or(0, std::num::NonZeroU32::get),
            packet_id,
        }
    }

    /// The incoming QoS 2 PUBLISH `packet_id` was routed: marks its id's record so (see
    /// [`InboundTag`]).
    pub(crate) fn inbound_routed(&self, packet_id: u16) {
        let Some((journal, _)) = self.journal() else {
            return;
        };
        let state = self.lock();
        if let Some(persisted) = state.inbound.persisted(packet_id) {
            let record = Record::Routed {
                tag: self.inbound_tag(&journal, packet_id),
            };
            // A failure is counted (the PUBREC is then refused).
            let _ = journal.attach_to(persisted, &record);
        }
    }

    /// The broker shut down: the session is offline from `now`, and its will (published by
    /// the shutdown) is no longer in its record.
    pub(crate) fn record_shutdown(&self, now: Duration) {
        let mut state = self.lock();
        if state.record.is_some() {
            state.offline_unix = self.unix_ms(now);
            self.record_session(&mut state, None);
        }
    }

    /// A delayed will was published (or cancelled): the record no longer carries it.
    pub(crate) fn forget_will(&self) {
        let mut state = self.lock();
        if state.record.is_some() {
            self.record_session(&mut state, None);
        }
    }

    /// Rebuilds the session from its records at start: offline since Unix ms
    /// `offline_since`, expiring at clock time `expires_at`, with its queue, window and
    /// incoming ids. Subscriptions go into the router's index by the caller.
    pub(crate) fn restore(
        &self,
        recovered: RecoveredSession,
        expires_at: Option<Duration>,
        offline_since: u64,
    ) {
        let mut state = self.lock();
        let limits = state.limits;
        self.queue.configure(
            limits.max_queued_messages,
            limits.max_queued_bytes,
            limits.overflow,
            limits.queue_qos0,
        );
        let record = recovered.record;
        // No connection is attached (as after a detach): a takeover by the client's next
        // connection must not count one more disconnection than connections, which wrapped
        // the broker's count of connected clients and refused every later CONNECT.
        state.ended = Some(crate::types::error::SessionError::TakenOver);
        state.offline_unix = Some(offline_since);
        state.expiry = record.expiry;
        state.expires_at = expires_at;
        state.subscriptions = record.subscriptions.into_iter().collect();
        state.record = Some(recovered.persisted);
        self.persistent.store(1, Ordering::Relaxed);
        let mut in_memory = 0;
        for d in recovered.deliveries {
            if d.sent.is_none() {
                in_memory += d.delivery.weight();
                // Past what stays in memory (and after the first one left on disk, so
                // order holds) the rest wait in the tail as entries naming their records.
                if (in_memory > SPILL_AFTER_BYTES || !state.spill.is_empty())
                    && let Some(durable) = &self.durable
                {
                    state
                        .spill
                        .push_restored(Entry::new(d.delivery), &durable.journal);
                    continue;
                }
            }
            match d.sent {
                Some(packet_id) => {
                    let phase = if d.released {
                        Phase::Released
                    } else {
                        Phase::Published
                    };
                    let seq = state.window.next_seq();
                    state.window.open(&d.delivery, packet_id, seq, phase);
                }
                None => state.front.push_back(d.delivery),
            }
        }
        for (packet_id, persisted) in recovered.inbound {
            state.inbound.insert(packet_id, Some(persisted));
        }
        self.set_spilling(&state);
    }
}
