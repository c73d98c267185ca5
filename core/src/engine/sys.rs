//! `$SYS/broker/...`: the broker's statistics as retained messages, with Mosquitto's names
//! where it has one.

use std::time::Duration;

use bytes::Bytes;

use super::Engine;
use crate::types::publish_options::PublishOptions;
use crate::types::qos::QoS;
use crate::types::topic::TopicName;

impl Engine {
    /// Publishes the `$SYS/broker/...` topics, retained, with Mosquitto's names where it has one.
    pub(super) fn publish_sys(&self, now: Duration) {
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
