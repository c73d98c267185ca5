//! Time-driven work: delayed wills, session expiry and `$SYS` statistics, run by
//! [`crate::Broker::tick`] at the broker clock's time.

use std::time::Duration;

use bytes::Bytes;

use crate::broker::BrokerShared;
use crate::publish::PublishOptions;
use crate::qos::QoS;
use crate::router::redirect;
use crate::session::SessionKey;
use crate::sync::ValueArc;
use crate::topic::TopicName;
use crate::will::Will;

/// A will waiting for its delay (MQTT 5.0 §3.1.3.2.2).
#[derive(Debug)]
pub(crate) struct PendingWill {
    pub(crate) client_id: ValueArc<str>,
    pub(crate) origin: SessionKey,
    pub(crate) will: Will,
    pub(crate) due: Duration,
}

impl BrokerShared {
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

    /// Discards offline sessions whose expiry passed [MQTT-3.1.2-23]; returns the expiry
    /// times still ahead.
    fn expire_sessions(&self, now: Duration) -> Vec<Duration> {
        let mut ahead = Vec::new();
        let mut expired = Vec::new();
        {
            let state = self.state.read();
            for session in state.sessions() {
                let s = session.inner.lock();
                match s.expires_at {
                    Some(at) if !s.is_online() && at <= now => expired.push(session.clone()),
                    Some(at) if !s.is_online() => ahead.push(at),
                    _ => {}
                }
            }
        }
        if !expired.is_empty() {
            let mut effects = self.effects();
            let mut state = self.state.write();
            for session in &expired {
                // It may have been resumed since the read above.
                let s = session.inner.lock();
                let still_expired = !s.is_online() && s.expires_at.is_some_and(|at| at <= now);
                drop(s);
                if still_expired {
                    let moved = state.remove(session);
                    redirect(&state, moved, &mut effects);
                }
            }
            drop(state);
            self.run_effects(effects);
        }
        // A will still delayed is due when its session ends.
        let gone: Vec<_> = expired.iter().map(|s| s.client_id.clone()).collect();
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

    /// Publishes the `$SYS/broker/...` topics, retained, with Mosquitto's names where it has one.
    fn publish_sys(&self, now: Duration) {
        let stats = self.stats();
        let uptime = now.saturating_sub(self.started).as_secs();
        let entries: [(&str, String); 12] = [
            (
                "$SYS/broker/version",
                format!("mqlite {}", env!("CARGO_PKG_VERSION")),
            ),
            ("$SYS/broker/uptime", format!("{uptime} seconds")),
            (
                "$SYS/broker/clients/connected",
                stats.clients_connected.to_string(),
            ),
            ("$SYS/broker/clients/total", stats.sessions.to_string()),
            (
                "$SYS/broker/messages/received",
                stats.messages_received.to_string(),
            ),
            ("$SYS/broker/messages/sent", stats.messages_sent.to_string()),
            (
                "$SYS/broker/retained messages/count",
                stats.retained_messages.to_string(),
            ),
            (
                "$SYS/broker/subscriptions/count",
                stats.subscriptions.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/dropped",
                stats.dropped_total().to_string(),
            ),
            (
                "$SYS/broker/messages/dropped/queue_full",
                stats.dropped_queue_full.to_string(),
            ),
            (
                "$SYS/broker/messages/dropped/offline",
                stats.dropped_offline.to_string(),
            ),
            (
                "$SYS/broker/messages/dropped/expired",
                stats.dropped_expired.to_string(),
            ),
        ];
        let options = PublishOptions::new(QoS::AtMostOnce).retain(true);
        for (topic, value) in entries {
            if let Ok(topic) = TopicName::new(topic) {
                self.publish_internal(None, topic, Bytes::from(value), &options);
            }
        }
    }
}

/// Starts the thread that calls `tick` when something is due (at least once a second) and
/// ends when the broker shuts down or its last handle is dropped.
#[cfg(not(loom))]
pub(crate) fn spawn_timer(shared: &crate::sync::Arc<BrokerShared>) {
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
pub(crate) fn spawn_timer(_shared: &crate::sync::Arc<BrokerShared>) {}
