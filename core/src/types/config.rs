//! Broker limits and policies, with defaults that suit a small device.

use std::time::Duration;

/// What a session does when a delivery finds its queue full (`max_queued_messages` or
/// `max_queued_bytes`). QoS 0 deliveries are always the first to go: a QoS 0 delivery that
/// finds the queue full is dropped whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Drop the new delivery (Mosquitto's behaviour). The default.
    #[default]
    DropNewest,
    /// Drop the oldest queued delivery to make room for the new one.
    DropOldest,
    /// End the slow session's connection ([`crate::SessionError::SlowConsumer`]); its will is
    /// published. The delivery is dropped.
    Disconnect,
}

/// How a shared subscription picks the member that gets a message (MQTT 5.0 §4.8.2). Members
/// that are offline or whose queue is full are skipped whatever the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SharedStrategy {
    /// Each member in turn. The default.
    #[default]
    RoundRobin,
    /// A pseudo-random member per message.
    Random,
    /// The longest-standing member while it can take messages; the next one otherwise.
    Sticky,
}

/// Broker-wide limits and policies. Every queue, store and string has a bound here.
///
/// ```
/// let mut config = mqlite::Config::default();
/// config.max_queued_messages = 10_000;
/// let broker = mqlite::Broker::new(config);
/// # drop(broker);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Deliveries a session may hold waiting for its consumer (not counting the in-flight
    /// window). Default 1,000 (Mosquitto: 1,000).
    pub max_queued_messages: usize,
    /// Bytes (payload + topic) a session's queue may hold. Default 8 MiB.
    pub max_queued_bytes: usize,
    /// QoS 1 and 2 deliveries a session may have unacknowledged at once (its receive maximum).
    /// Default 100; at most 65,535.
    pub max_inflight_messages: u16,
    /// What a full queue does. Default [`OverflowPolicy::DropNewest`]; clients can choose their own.
    pub overflow_policy: OverflowPolicy,
    /// Queue QoS 0 messages for offline persistent sessions (Mosquitto's `queue_qos0_messages`).
    /// Default `false`: they are dropped and counted.
    pub queue_qos0_messages: bool,
    /// Largest payload accepted. Default 1 MiB.
    pub max_payload_size: usize,
    /// Longest topic name or filter, in bytes. Default 1,024 (the spec allows 65,535).
    pub max_topic_length: usize,
    /// Most levels in a topic name or filter. Default 32.
    pub max_topic_levels: usize,
    /// Most subscriptions one session may hold. Default 1,000.
    pub max_subscriptions_per_client: usize,
    /// Most retained messages stored. Default 10,000.
    pub max_retained_messages: usize,
    /// Most bytes (payload + topic) of retained messages stored. Default 16 MiB.
    pub max_retained_bytes: usize,
    /// Most sessions connected at once. Default 10,000.
    pub max_clients: usize,
    /// Longest client id, in bytes. Default 256 (the spec allows 65,535).
    pub max_client_id_length: usize,
    /// How shared subscriptions pick a member. Default [`SharedStrategy::RoundRobin`].
    pub shared_subscription_strategy: SharedStrategy,
    /// The longest a session may outlive its connection, whatever the client asks: caps
    /// MQTT 5 session expiry intervals and gives MQTT 3.1.1 persistent sessions (which never
    /// expire otherwise) an end, like Mosquitto's `persistent_client_expiration`. Default
    /// `None`: no cap.
    pub max_session_expiry: Option<Duration>,
    /// How often `$SYS/broker/...` statistics are published; `None` turns them off.
    /// Default 10 s (Mosquitto's `sys_interval`).
    pub sys_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_queued_messages: 1_000,
            max_queued_bytes: 8 << 20,
            max_inflight_messages: 100,
            overflow_policy: OverflowPolicy::DropNewest,
            queue_qos0_messages: false,
            max_payload_size: 1 << 20,
            max_topic_length: 1_024,
            max_topic_levels: 32,
            max_subscriptions_per_client: 1_000,
            max_retained_messages: 10_000,
            max_retained_bytes: 16 << 20,
            max_clients: 10_000,
            max_client_id_length: 256,
            shared_subscription_strategy: SharedStrategy::RoundRobin,
            max_session_expiry: None,
            sys_interval: Some(Duration::from_secs(10)),
        }
    }
}
