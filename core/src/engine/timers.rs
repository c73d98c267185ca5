//! Time-driven work: delayed wills, session expiry and `$SYS` statistics, run by
//! [`crate::Broker::tick`] at the broker clock's time.

use std::time::Duration;

use super::Engine;
use crate::session::SessionKey;
use crate::sync::ValueArc;
use crate::types::will::Will;

/// A will waiting for its delay (MQTT 5.0 §3.1.3.2.2).
#[derive(Debug)]
pub(crate) struct PendingWill {
    pub(crate) client_id: ValueArc<str>,
    pub(crate) origin: SessionKey,
    pub(crate) will: Will,
    pub(crate) due: Duration,
}

impl Engine {
    /// Runs what is due at the clock's time; returns how long until the next thing is.
    pub(crate) fn tick(&self) -> Option<Duration> {
        let now = self.clock.now();
        let mut next: Option<Duration> = None;
        let mut soonest = |at: Duration| {
            let wait = at.saturating_sub(now);
            next = Some(next.map_or(wait, |n| n.min(wait)));
        };

        let due: Vec<PendingWill> = {
            let mut pending = self.pending_wills.lock();
            let (due, waiting): (Vec<_>, Vec<_>) = pending.drain(..).partition(|w| w.due <= now);
            *pending = waiting;
            pending.iter().for_each(|w| soonest(w.due));
            due
        };
        for w in due {
            self.publish_will(w.origin, w.will);
            self.forget_will(w.origin);
        }

        for at in self.expire_sessions(now) {
            soonest(at);
        }

        if let Some(interval) = self.config.sys_interval {
            let mut last = self.last_sys.lock();
            let due_at = last.map_or(now, |l| l.saturating_add(interval));
            if now >= due_at {
                *last = Some(now);
                drop(last);
                self.publish_sys(now);
                soonest(now.saturating_add(interval));
            } else {
                soonest(due_at);
            }
        }
        next
    }

    /// Discards offline sessions whose expiry passed [MQTT-3.1.2-23], and publishes the
    /// wills still delayed of those sessions; returns the expiry times still ahead.
    pub(super) fn expire_sessions(&self, now: Duration) -> Vec<Duration> {
        let (expired, ahead) = self.router.read().expiring(now);
        if expired.is_empty() {
            return ahead;
        }
        let mut effects = self.effects();
        let mut gone = Vec::new();
        {
            let mut router = self.router.write();
            for session in &expired {
                if router.expire(session, now, &mut effects) {
                    gone.push(session.client_id.clone());
                }
            }
        }
        self.run_effects(effects);
        // A will still delayed is due when its session ends.
        let due: Vec<PendingWill> = {
            let mut pending = self.pending_wills.lock();
            let (due, keep): (Vec<_>, Vec<_>) =
                pending.drain(..).partition(|w| gone.contains(&w.client_id));
            *pending = keep;
            due
        };
        for w in due {
            self.publish_will(w.origin, w.will);
        }
        ahead
    }
}

/// Starts the thread that calls `tick` when something is due (at least once a second) and
/// ends when the broker shuts down or its last handle is dropped.
#[cfg(not(loom))]
pub(crate) fn spawn_timer(shared: &crate::sync::Arc<Engine>) {
    let (stop_tx, stop_rx) = crate::sync::channel::bounded::<()>(1);
    *shared.timer_stop.lock() = Some(stop_tx);
    let weak = crate::sync::Arc::downgrade(shared);
    let spawned = std::thread::Builder::new()
        .name("mqlite-timer".into())
        .spawn(move || {
            loop {
                let wait = match weak.upgrade() {
                    Some(broker) => broker.tick(),
                    None => return,
                };
                let wait = wait
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(1));
                match stop_rx.recv_timeout(wait.max(Duration::from_millis(1))) {
                    Err(crate::sync::channel::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        });
    // Without a timer thread the broker still works; `tick` can be called by hand.
    drop(spawned);
}

/// Under loom no thread is started; models call `tick` themselves.
#[cfg(loom)]
pub(crate) fn spawn_timer(_shared: &crate::sync::Arc<Engine>) {}
