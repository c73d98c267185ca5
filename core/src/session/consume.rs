//! The consumer side of a session: taking deliveries out (respecting the in-flight window),
//! and the acknowledgements that come back, in both directions.

use std::time::Duration;

use super::durable::Step;
use super::inflight::{Phase, Resend};
use super::spill::Spill;
use super::{Notify, STAGE, Session, SessionState};
use crate::sync::ValueArc;
use crate::types::clock::Clock;
use crate::types::error::SessionError;
use crate::types::message::Delivery;
use crate::types::qos::QoS;

/// One delivery handed to a consumer.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) delivery: Delivery,
    pub(crate) packet_id: Option<u16>,
    pub(crate) seq: u64,
}

/// What a consumer must send (or receive) next.
#[derive(Debug)]
pub(crate) enum Next {
    /// A PUBLISH.
    Publish(Taken),
    /// A PUBREL for a QoS 2 delivery the receiver already has (transports only).
    Release(u16),
}

/// Where [`Session::take`] puts what it takes.
pub(crate) trait TakeSink {
    /// The next thing to send.
    fn next(&mut self, next: Next);
    /// A delivery skipped because its message expiry passed [MQTT-3.3.2-5] (for the event).
    fn expired(&mut self, delivery: Delivery);
}

/// How one consumer takes: its connection, how much, and whether it acknowledges on receipt.
#[derive(Clone, Copy)]
pub(crate) struct TakeRequest<'a> {
    pub(crate) generation: u64,
    pub(crate) max: usize,
    /// Acknowledge QoS 1/2 deliveries as they are handed out (no in-flight window).
    pub(crate) auto_ack: bool,
    pub(crate) clock: &'a dyn Clock,
}

impl Session {
    /// Hands up to `req.max` items to `sink`: first what is due again after a resume (in
    /// flight before the connection ended), then queued deliveries in order. QoS 1/2
    /// deliveries enter the in-flight window (unless `auto_ack`) and stop at the receive
    /// maximum. Expired deliveries are dropped on the way.
    pub(crate) fn take(
        &self,
        req: TakeRequest<'_>,
        sink: &mut impl TakeSink,
    ) -> Result<(), SessionError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        // A taken-over handle gets nothing more, even if its generation is still the last
        // one of a session that a clean start discarded [MQTT-3.1.4-3].
        if state.generation != req.generation || state.ended == Some(SessionError::TakenOver) {
            return Err(SessionError::TakenOver);
        }
        let mut taken = take_resends(state, req, sink);
        // Nothing queued goes out while resends wait for room: they go first, as the order
        // after a resume demands [MQTT-4.6.0-1].
        if !state.window.has_resends() {
            taken += self.take_queued(state, req, taken, sink);
        }
        if taken == 0 {
            // About to report nothing (and maybe park): the room must be seen as free.
            self.queue.release(&mut state.held);
        }
        let result = self.end_of_take(state, taken);
        let room_wanted = std::mem::take(&mut state.held.room_wanted);
        drop(guard);
        if room_wanted {
            for waker in self.queue.take_room_waiters() {
                waker.wake();
            }
        }
        result
    }

    /// Hands out queued deliveries after `taken` items, up to `req.max`.
    #[inline]
    fn take_queued(
        &self,
        state: &mut SessionState,
        req: TakeRequest<'_>,
        mut taken: usize,
        sink: &mut impl TakeSink,
    ) -> usize {
        let start = taken;
        let mut now: Option<Duration> = None;
        while taken < req.max {
            let Some(delivery) = self.next_queued(state) else {
                break;
            };
            let needs_slot = delivery.qos != QoS::AtMostOnce && !req.auto_ack;
            if needs_slot && state.window_full() {
                state.front.push_front(delivery);
                break;
            }
            if let Some(expires_at) = delivery.publication.expires_at.get()
                && *now.get_or_insert_with(|| req.clock.now()) >= expires_at
            {
                state.dropped_expired += 1;
                sink.expired(delivery);
                continue;
            }
            let out = hand_out(state, delivery, needs_slot);
            if let (true, Some(packet_id)) = (needs_slot, out.packet_id) {
                let in_process = state.in_process;
                self.record_step(&out.delivery, packet_id, Step::Sent { in_process });
            }
            sink.next(Next::Publish(out));
            taken += 1;
        }
        taken - start
    }

    /// The oldest delivery not handed out yet: staged in `front`, else from the channel,
    /// else from the tail, read back from the store. One of the tail that cannot be read
    /// back (the store lost it) is dropped and counted as expired.
    #[inline]
    fn next_queued(&self, state: &mut SessionState) -> Option<Delivery> {
        if state.front.is_empty() {
            self.queue
                .pop_many(&mut state.front, STAGE, &mut state.held);
        }
        if let Some(delivery) = state.front.pop_front() {
            return Some(delivery);
        }
        while let Some((entry, holds_room)) = state.spill.pop() {
            if holds_room {
                self.queue.release_taken(1, entry.weight(), &mut state.held);
            }
            if state.spill.is_empty() {
                self.set_spilling(state);
            }
            match Spill::load(entry, self.durable.as_ref().map(|d| &d.journal)) {
                Some(delivery) => return Some(delivery),
                None => state.dropped_expired += 1,
            }
        }
        None
    }

    /// An ended connection is told once it has nothing more to take: after a shutdown it may
    /// drain what was queued first, unless a full in-flight window stops it (no
    /// acknowledgement can come any more); a slow consumer is cut off at once.
    fn end_of_take(&self, state: &SessionState, taken: usize) -> Result<(), SessionError> {
        match state.ended {
            Some(reason)
                if taken == 0
                    && (reason != SessionError::BrokerClosed
                        || state.window_full()
                        || (state.front.is_empty()
                            && self.queue.is_empty()
                            && state.spill.is_empty())) =>
            {
                Err(reason)
            }
            _ => Ok(()),
        }
    }

    /// Whether the queue is empty, without taking a lock (a hint for spinning consumers).
    pub(crate) fn queue_is_empty(&self) -> bool {
        self.queue.looks_empty()
    }

    /// The consumer found nothing to take and is about to sleep until notified: raises the
    /// waiting flag. Returns `true` if it must take again instead of sleeping: a delivery
    /// arrived meanwhile (see `queue.rs` for the protocol), the in-flight window reopened
    /// with deliveries waiting behind it, or the connection ended. Deliveries that wait
    /// behind a full window do not count: the consumer sleeps until an acknowledgement
    /// reopens the window, which notifies it. The session lock orders this look with every
    /// acknowledgement and every end, so the consumer either sees them here or is notified
    /// by them after.
    pub(crate) fn park(&self) -> bool {
        {
            let state = self.lock();
            if state.ended.is_some() {
                return true;
            }
            if self.has_waiting(&state) {
                return !state.window_full();
            }
        }
        self.queue.park()
    }

    /// Whether deliveries wait behind a full in-flight window. The consumer may then sleep
    /// without raising the waiting flag: the acknowledgement that reopens the window notifies
    /// it (`with_window` sees the window full with deliveries waiting), and the session lock
    /// orders that acknowledgement with this check. Deliveries only ever arrive meanwhile,
    /// so "something waits" seen here still holds when the acknowledgement looks.
    pub(crate) fn window_blocked(&self) -> bool {
        let state = self.lock();
        state.window_full() && self.has_waiting(&state)
    }

    /// Whether resends or deliveries wait to be handed out.
    fn has_waiting(&self, state: &SessionState) -> bool {
        state.window.has_resends()
            || !(state.front.is_empty() && self.queue.is_empty() && state.spill.is_empty())
    }

    /// Runs `f` on the window of connection `generation`; returns its result and the notify
    /// to call if it reopened a full window with deliveries waiting.
    fn with_window(
        &self,
        generation: u64,
        f: impl FnOnce(&mut SessionState) -> bool,
    ) -> Result<(bool, Option<ValueArc<dyn Notify>>), SessionError> {
        let mut state = self.lock();
        if state.generation != generation {
            return Err(SessionError::TakenOver);
        }
        let was_full = state.window_full();
        let done = f(&mut state);
        let wake = (done && was_full && self.has_waiting(&state))
            .then(|| state.notify.clone())
            .flatten();
        Ok((done, wake))
    }

    /// An in-process acknowledgement of the delivery handed out as `seq` (a PUBACK, or a
    /// PUBREC + PUBCOMP). Returns the notify to call if the window reopened.
    pub(crate) fn ack(
        &self,
        generation: u64,
        packet_id: u16,
        seq: u64,
    ) -> Option<ValueArc<dyn Notify>> {
        self.with_window(generation, |s| s.window.ack_seq(packet_id, seq))
            .ok()
            .and_then(|(_, wake)| wake)
    }

    /// PUBACK from the receiver [MQTT-4.3.2-1]; whether a QoS 1 delivery with that id was in
    /// flight.
    pub(crate) fn puback(
        &self,
        generation: u64,
        packet_id: u16,
    ) -> Result<(bool, Option<ValueArc<dyn Notify>>), SessionError> {
        self.with_window(generation, |s| s.window.puback(packet_id))
    }

    /// PUBREC from the receiver [MQTT-4.3.3-1]; whether a QoS 2 delivery with that id was in
    /// flight (the caller answers with PUBREL either way).
    pub(crate) fn pubrec(&self, generation: u64, packet_id: u16) -> Result<bool, SessionError> {
        self.with_window(generation, |s| match s.window.pubrec(packet_id) {
            Some(Some(delivery)) => {
                self.record_step(&delivery, packet_id, Step::PubrecReceived);
                true
            }
            Some(None) => true,
            None => false,
        })
        .map(|(known, _)| known)
    }

    /// PUBCOMP from the receiver [MQTT-4.3.3-1]; whether a released QoS 2 delivery with that
    /// id was in flight.
    pub(crate) fn pubcomp(
        &self,
        generation: u64,
        packet_id: u16,
    ) -> Result<(bool, Option<ValueArc<dyn Notify>>), SessionError> {
        self.with_window(generation, |s| s.window.pubcomp(packet_id))
    }

    /// An incoming QoS 2 PUBLISH with `packet_id`: `Ok(true)` if it is new (route it, and it
    /// is now held until PUBREL), `Ok(false)` if it is a resend of one held (do not route it
    /// again) [MQTT-4.3.3-2].
    ///
    /// # Errors
    ///
    /// The handle is unusable, or `max` ids are already held (receive maximum exceeded,
    /// MQTT 5.0 [MQTT-3.3.4-9]).
    pub(crate) fn inbound_qos2(
        &self,
        generation: u64,
        packet_id: u16,
        max: usize,
    ) -> Result<Result<bool, ()>, SessionError> {
        let mut state = self.lock();
        state.check(generation)?;
        if state.inbound.contains(packet_id) {
            return Ok(Ok(false));
        }
        if state.inbound.len() >= max {
            return Ok(Err(()));
        }
        let persisted = self.record_inbound(packet_id);
        state.inbound.insert(packet_id, persisted);
        Ok(Ok(true))
    }

    /// Forgets an incoming QoS 2 packet id that could not be routed after all.
    pub(crate) fn inbound_forget(&self, packet_id: u16) {
        self.lock().inbound.release(packet_id);
    }

    /// PUBREL from the sender: the id may be used for a new message again [MQTT-4.3.3-2].
    /// Whether it was held.
    ///
    /// In durable mode the id's record is released here, and counted as a change of the
    /// handling thread, which makes the PUBCOMP wait until the release is durable (see
    /// `types::store::changes_here`): a sender that got PUBCOMP may reuse the id for a new
    /// message at once, and an id still held after a crash would swallow that message as a
    /// duplicate.
    pub(crate) fn pubrel(&self, generation: u64, packet_id: u16) -> Result<bool, SessionError> {
        let mut state = self.lock();
        if state.generation != generation {
            return Err(SessionError::TakenOver);
        }
        Ok(match state.inbound.take(packet_id) {
            Some(Some(_record)) => {
                self.released_acknowledged();
                true // the record is released as `_record` drops
            }
            Some(None) => true,
            None => false,
        })
    }
}

/// Hands out what is due again after a resume, within the receive maximum (which may have
/// shrunk since they were first sent [MQTT-4.9.0-2]). Returns how many.
fn take_resends(state: &mut SessionState, req: TakeRequest<'_>, sink: &mut impl TakeSink) -> usize {
    if !state.window.has_resends() {
        return 0;
    }
    let receive_maximum = usize::from(state.limits.receive_maximum);
    let room = receive_maximum.saturating_sub(state.window.outstanding());
    state
        .window
        .resends(req.max.min(room), req.auto_ack, |resend| {
            sink.next(match resend {
                Resend::Publish {
                    delivery,
                    packet_id,
                    seq,
                } => Next::Publish(Taken {
                    delivery,
                    packet_id: Some(packet_id),
                    seq,
                }),
                Resend::Release { packet_id } => Next::Release(packet_id),
            })
        })
}

/// Hands out one queued delivery: a sequence number, a packet id for QoS 1/2, and a place
/// in the in-flight window when `needs_slot`. Inlined: it is the receive hot path, and the
/// `Taken` it returns is moved straight into the sink.
#[inline(always)]
fn hand_out(state: &mut SessionState, delivery: Delivery, needs_slot: bool) -> Taken {
    state.sent += 1;
    let seq = state.window.next_seq();
    let packet_id = (delivery.qos != QoS::AtMostOnce).then(|| state.window.next_packet_id());
    if let (true, Some(packet_id)) = (needs_slot, packet_id) {
        // An in-process client has a QoS 2 message the moment it is handed out (as a
        // network receiver has it when it sends PUBREC) and never gets it twice.
        let phase = if delivery.qos == QoS::ExactlyOnce && state.in_process {
            Phase::Released
        } else {
            Phase::Published
        };
        state.window.open(&delivery, packet_id, seq, phase);
    }
    Taken {
        delivery,
        packet_id,
        seq,
    }
}
