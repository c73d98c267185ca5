//! Waiting for room: deliveries that found a subscriber's queue full, for a publisher that
//! asked to wait ([`PublishOptions::wait_if_full`](crate::PublishOptions::wait_if_full)).
//!
//! [`RoomWait`] is one such wait as a state machine that can be polled. The blocking publish
//! drives it by parking its thread ([`RoomWait::block`]), the async one
//! (`Client::publish_async`) by returning `Pending` to its executor. Either is woken by the
//! consumer that releases room (`session/queue.rs`, "Waiting for room"), or by its deadline
//! (a timed park, or the alarm thread). No lock is held while waiting.

use std::collections::VecDeque;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::Engine;
use crate::router::settle;
use crate::session::Session;
use crate::sync::{Arc, ValueArc};
use crate::types::message::Delivery;
use crate::types::publish_options::{INTERRUPT_EVERY, Interrupt};

/// The deliveries of one publish that wait for room, offered again in order as room appears.
/// Past the deadline (or when stopped) each one left goes under its session's overflow
/// policy; so does each one left when the wait is dropped.
#[derive(Debug)]
pub(crate) struct RoomWait<'a> {
    engine: &'a Engine,
    blocked: VecDeque<(Arc<Session>, Delivery)>,
    /// Real time: the broker clock only drives MQTT's time rules.
    deadline: Option<Instant>,
    /// The first session whose full queue dropped a delivery under its policy.
    still_full: Option<ValueArc<str>>,
}

impl<'a> RoomWait<'a> {
    /// Waits up to `wait` for room for `blocked`.
    pub(crate) fn new(
        engine: &'a Engine,
        blocked: Vec<(Arc<Session>, Delivery)>,
        wait: Duration,
    ) -> Self {
        Self {
            engine,
            blocked: blocked.into(),
            deadline: Instant::now().checked_add(wait),
            still_full: None,
        }
    }

    /// When the wait ends whatever happens, if it ever does.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Offers again what now fits, in order. `Ready` with the first session that still
    /// dropped a delivery once everything is placed; `Pending` with `cx`'s waker registered
    /// with the session the next delivery waits for. With `stop`, or past the deadline,
    /// everything left is placed under its session's overflow policy at once.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, stop: bool) -> Poll<Option<ValueArc<str>>> {
        let late = stop || self.deadline.is_some_and(|d| Instant::now() >= d);
        while let Some((session, delivery)) = self.blocked.pop_front() {
            match self.engine.offer_again(&session, delivery, late) {
                Ok(full) => self.still_full = self.still_full.take().or(full),
                Err(delivery) => {
                    // Registers and looks again in one step: room released meanwhile is seen.
                    let room = session.wait_for_room(cx.waker(), delivery.publication.weight());
                    self.blocked.push_front((session, delivery));
                    if !room {
                        return Poll::Pending;
                    }
                }
            }
        }
        Poll::Ready(self.still_full.take())
    }

    /// Waits on this thread: parks until woken by a release of room, the deadline, or (every
    /// 50 ms) to ask `interrupt` whether to stop waiting.
    pub(crate) fn block(mut self, interrupt: Option<&Interrupt>) -> Option<ValueArc<str>> {
        let waker = Waker::from(StdArc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut stop = false;
        loop {
            if let Poll::Ready(full) = self.poll(&mut cx, stop) {
                return full;
            }
            let left = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            let nap = match (left, interrupt) {
                (Some(left), Some(_)) => left.min(INTERRUPT_EVERY),
                (Some(left), None) => left,
                (None, _) => INTERRUPT_EVERY,
            };
            thread::park_timeout(nap);
            stop = interrupt.is_some_and(|Interrupt(check)| check());
        }
    }
}

impl Drop for RoomWait<'_> {
    fn drop(&mut self) {
        for (session, delivery) in self.blocked.drain(..) {
            let _ = self.engine.offer_again(&session, delivery, true);
        }
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: StdArc<Self>) {
        self.0.unpark();
    }
}

impl Engine {
    /// Offers a delivery that found its queue full once more: when `late`, under the
    /// session's overflow policy (returning the session's id if that dropped it); otherwise
    /// only if it fits now, else it is handed back.
    fn offer_again(
        &self,
        session: &Arc<Session>,
        delivery: Delivery,
        late: bool,
    ) -> Result<Option<ValueArc<str>>, Delivery> {
        if !late && !session.has_room(delivery.publication.weight()) {
            return Err(delivery);
        }
        let mut effects = self.effects();
        effects.hand_back_full = !late;
        settle(session, session.enqueue(delivery, !late), &mut effects);
        let full = effects.first_full.take();
        let back = effects.take_blocked().pop();
        self.run_effects(effects);
        match back {
            Some((_, delivery)) => Err(delivery),
            None => Ok(full),
        }
    }
}
