//! Statistics as values: [`Stats`] of a broker and [`SessionStats`] of one session. Not here:
//! summing them (`engine/stats.rs`).

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
