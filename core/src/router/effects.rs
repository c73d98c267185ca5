//! Work found under a lock and done after it is released: wake-ups, wills, events, and
//! deliveries a waiting publisher must offer again. Not here: doing that work
//! (`engine/effects.rs`, `Engine::run_effects`).

use std::task::Waker;

use crate::session::{Ended, Notify, Session, SessionKey};
use crate::sync::{Arc, ValueArc};
use crate::types::hooks::{DisconnectReason, DropReason};
use crate::types::message::Delivery;
use crate::types::topic::TopicName;
use crate::types::will::Will;

/// The effects of one operation. The common publish has at most one consumer to wake and
/// nothing else, so everything rarer sits behind one box that is never allocated then.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    first_wake: Option<ValueArc<dyn Notify>>,
    /// Whether anyone listens for drop events (an event hook is installed); if not, drops are
    /// only counted, and the publish path allocates nothing for them.
    pub(crate) record_drops: bool,
    /// Hand deliveries that find a queue full back into `blocked` instead of applying the
    /// overflow policy (a publisher that waits for room).
    pub(crate) hand_back_full: bool,
    /// The first session whose full queue dropped a delivery.
    pub(crate) first_full: Option<ValueArc<str>>,
    pub(crate) rare: Option<Box<RareEffects>>,
}

/// The less common effects.
#[derive(Debug, Default)]
pub(crate) struct RareEffects {
    pub(crate) wakes: Vec<ValueArc<dyn Notify>>,
    pub(crate) drops: Vec<(ValueArc<str>, TopicName, DropReason)>,
    /// Wills to publish: (client id, publishing session key, will).
    pub(crate) wills: Vec<(ValueArc<str>, SessionKey, Will)>,
    pub(crate) disconnects: Vec<(ValueArc<str>, DisconnectReason)>,
    pub(crate) blocked: Vec<(Arc<Session>, Delivery)>,
    /// Publishers waiting for room in a queue whose connection ended.
    pub(crate) room_waiters: Vec<Waker>,
}

impl Effects {
    /// Effects of one operation; `record_drops` when an event hook wants drop events.
    pub(crate) fn new(record_drops: bool) -> Self {
        Self {
            record_drops,
            ..Self::default()
        }
    }

    /// The rare effects, allocated on first use.
    pub(crate) fn rare(&mut self) -> &mut RareEffects {
        self.rare.get_or_insert_default()
    }

    pub(crate) fn wake(&mut self, waker: ValueArc<dyn Notify>) {
        if self.first_wake.is_none() {
            self.first_wake = Some(waker);
        } else {
            self.rare().wakes.push(waker);
        }
    }

    /// Whether there is nothing to do (the common publish).
    pub(crate) fn is_empty(&self) -> bool {
        self.first_wake.is_none() && self.rare.is_none()
    }

    /// Takes the deliveries handed back for a waiting publisher.
    pub(crate) fn take_blocked(&mut self) -> Vec<(Arc<Session>, Delivery)> {
        self.rare
            .as_mut()
            .map(|r| std::mem::take(&mut r.blocked))
            .unwrap_or_default()
    }

    /// Splits into the wake-ups and the rare rest.
    pub(crate) fn into_parts(
        self,
    ) -> (
        impl Iterator<Item = ValueArc<dyn Notify>>,
        Option<Box<RareEffects>>,
    ) {
        let mut rare = self.rare;
        let more = rare
            .as_mut()
            .map(|r| std::mem::take(&mut r.wakes))
            .unwrap_or_default();
        (self.first_wake.into_iter().chain(more), rare)
    }

    /// Records an ended connection: its will, its consumer to wake and the event.
    pub(crate) fn ended(&mut self, session: &Session, reason: DisconnectReason, ended: Ended) {
        if let Some(will) = ended.will {
            let entry = (session.client_id.clone(), session.key, will);
            self.rare().wills.push(entry);
        }
        if let Some(notify) = ended.notify {
            self.wake(notify);
        }
        if !ended.room_waiters.is_empty() {
            self.rare().room_waiters.extend(ended.room_waiters);
        }
        let entry = (session.client_id.clone(), reason);
        self.rare().disconnects.push(entry);
    }
}
