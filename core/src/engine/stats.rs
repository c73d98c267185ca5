//! Statistics: the broker's counters summed from per-session ones, so the publish path
//! shares no contended counter.

use super::Engine;
use crate::sync::Ordering;
use crate::types::stats::{SessionStats, Stats};

impl Engine {
    /// A snapshot of the broker's counters.
    pub(crate) fn stats(&self) -> Stats {
        let router = self.router.read();
        let (retired, retired_published) = router.retired();
        let mut stats = Stats {
            clients_connected: self.connected.load(Ordering::Relaxed),
            subscriptions: router.subscription_count(),
            messages_received: retired_published + self.broker_published.load(Ordering::Relaxed),
            messages_sent: retired.sent,
            dropped_queue_full: retired.dropped_queue_full,
            dropped_offline: retired.dropped_offline,
            dropped_expired: retired.dropped_expired,
            ..Stats::default()
        };
        for session in router.sessions() {
            stats.sessions += 1;
            stats.messages_received += session.published();
            let c = session.counters();
            stats.messages_sent += c.sent;
            stats.dropped_queue_full += c.dropped_queue_full;
            stats.dropped_offline += c.dropped_offline;
            stats.dropped_expired += c.dropped_expired;
        }
        drop(router);
        (stats.retained_messages, stats.retained_bytes) = self.retained_size();
        stats
    }

    /// A snapshot of the session of `client_id`, connected or not.
    pub(crate) fn session_stats(&self, client_id: &str) -> Option<SessionStats> {
        let session = self.router.read().find(client_id)?.clone();
        Some(session.stats())
    }
}
