//! Broker statistics, summed from per-session counters so the publish path shares no
//! contended counter.

use crate::broker::{Broker, BrokerShared};
use crate::sync::Ordering;

/// A snapshot of the broker's counters. Also published under `$SYS/broker/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Connections attached now.
    pub clients_connected: usize,
    /// Sessions known (connected or kept for an offline client).
    pub sessions: usize,
    /// Subscriptions in the topic index.
    pub subscriptions: usize,
    /// Retained messages stored.
    pub retained_messages: usize,
    /// Bytes of retained messages stored.
    pub retained_bytes: usize,
    /// Publishes accepted (clients' and the broker's own).
    pub messages_received: u64,
    /// Deliveries handed to consumers.
    pub messages_sent: u64,
    /// Deliveries dropped because a queue was full.
    pub dropped_queue_full: u64,
    /// QoS 0 deliveries dropped because the session was offline.
    pub dropped_offline: u64,
    /// Deliveries dropped because their message expiry interval ran out.
    pub dropped_expired: u64,
}

impl Stats {
    /// All dropped deliveries.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_queue_full + self.dropped_offline + self.dropped_expired
    }
}

impl BrokerShared {
    pub(crate) fn stats(&self) -> Stats {
        let state = self.state.read();
        let mut stats = Stats {
            clients_connected: self.connected.load(Ordering::Relaxed),
            subscriptions: state.index.len(),
            messages_received: state.retired_published
                + self.broker_published.load(Ordering::Relaxed),
            messages_sent: state.retired.sent,
            dropped_queue_full: state.retired.dropped_queue_full,
            dropped_offline: state.retired.dropped_offline,
            dropped_expired: state.retired.dropped_expired,
            ..Stats::default()
        };
        for session in state.sessions() {
            stats.sessions += 1;
            stats.messages_received += session.published.load(Ordering::Relaxed);
            let c = session.counters();
            stats.messages_sent += c.sent;
            stats.dropped_queue_full += c.dropped_queue_full;
            stats.dropped_offline += c.dropped_offline;
            stats.dropped_expired += c.dropped_expired;
        }
        drop(state);
        let retained = self.retained.lock();
        stats.retained_messages = retained.len();
        stats.retained_bytes = retained.bytes();
        stats
    }
}

/// A snapshot of one session: what waits in it and what it has dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionStats {
    /// A connection is attached.
    pub online: bool,
    /// Deliveries waiting to be taken.
    pub queued: usize,
    /// QoS 1/2 deliveries handed out and not yet acknowledged.
    pub inflight: usize,
    /// Deliveries handed to the consumer.
    pub sent: u64,
    /// Deliveries dropped because its queue was full.
    pub dropped_queue_full: u64,
    /// QoS 0 deliveries dropped while it was offline.
    pub dropped_offline: u64,
    /// Deliveries dropped because their message expiry interval ran out.
    pub dropped_expired: u64,
}

impl Broker {
    /// A snapshot of the broker's counters.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// A snapshot of the session of `client_id`, connected or not; `None` if there is none.
    pub fn session_stats(&self, client_id: &str) -> Option<SessionStats> {
        let state = self.shared.state.read();
        let key = *state.by_id.get(client_id)?;
        let session = state.session(key)?.clone();
        drop(state);
        Some(session.stats())
    }
}
