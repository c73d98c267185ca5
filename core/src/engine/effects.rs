//! Running what [`Effects`] collected, with no lock held: wake-ups, wills (now or delayed),
//! drop and disconnect events.

use std::time::Duration;

use super::Engine;
use super::timers::PendingWill;
use crate::router::Effects;
use crate::sync::Ordering;
use crate::types::hooks::Event;

impl Engine {
    /// An empty [`Effects`] for one operation.
    pub(crate) fn effects(&self) -> Effects {
        Effects::new(self.hooks.is_some())
    }

    /// Does what `effects` collected, with no lock held: wakes consumers, emits events and
    /// publishes (or schedules) wills, whose own effects are handled the same way.
    pub(crate) fn run_effects(&self, effects: Effects) {
        if effects.is_empty() {
            return;
        }
        let (wakes, rare) = effects.into_parts();
        for notify in wakes {
            notify.notify();
        }
        let Some(rare) = rare else {
            return;
        };
        for waker in rare.room_waiters {
            waker.wake();
        }
        if !rare.disconnects.is_empty() {
            self.connected
                .fetch_sub(rare.disconnects.len(), Ordering::Relaxed);
        }
        // Wills before the embedder's event hooks, so that a panicking hook loses none.
        for (client_id, origin, will) in rare.wills {
            if will.delay > Duration::ZERO {
                let due = self.clock.now().saturating_add(will.delay);
                self.pending_wills.lock().push(PendingWill {
                    client_id,
                    origin,
                    will,
                    due,
                });
            } else {
                self.publish_will(origin, will);
            }
        }
        for (client_id, topic, reason) in &rare.drops {
            self.emit(&Event::MessageDropped {
                client_id,
                topic,
                reason: *reason,
            });
        }
        for (client_id, reason) in &rare.disconnects {
            self.emit(&Event::ClientDisconnected {
                client_id,
                reason: *reason,
            });
        }
    }
}
