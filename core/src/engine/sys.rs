//! `$SYS/broker/...`: the broker's statistics as retained messages, with Mosquitto's names
//! where it has one.

use std::time::Duration;

use bytes::Bytes;

use super::Engine;
use crate::types::publish_options::PublishOptions;
use crate::types::qos::QoS;
use crate::types::store::StoreStats;
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
        let store = self.store_stats().map(store_entries).unwrap_or_default();
        let options = PublishOptions::new(QoS::AtMostOnce).retain(true);
        let all = entries.into_iter().chain(store);
        for (topic, value) in all {
            if let Ok(topic) = TopicName::new(topic) {
                self.publish_internal(None, topic, Bytes::from(value), &options);
            }
        }
    }
}

/// The store's figures under `$SYS/broker/store/` (durable mode only).
fn store_entries(s: StoreStats) -> Vec<(&'static str, String)> {
    let micros = |d: Duration| d.as_micros().to_string();
    vec![
        ("$SYS/broker/store/bytes", s.bytes_on_disk.to_string()),
        ("$SYS/broker/store/records/live", s.live_records.to_string()),
        (
            "$SYS/broker/store/records/written",
            s.records_written.to_string(),
        ),
        ("$SYS/broker/store/fsyncs", s.fsyncs.to_string()),
        ("$SYS/broker/store/fsync/mean_us", micros(s.fsync_mean)),
        ("$SYS/broker/store/fsync/max_us", micros(s.fsync_max)),
        ("$SYS/broker/store/errors", s.errors.to_string()),
        (
            "$SYS/broker/store/recovery/ms",
            s.recovery_time.as_millis().to_string(),
        ),
        (
            "$SYS/broker/store/recovery/records",
            s.records_recovered.to_string(),
        ),
        (
            "$SYS/broker/store/recovery/discarded",
            s.records_discarded.to_string(),
        ),
    ]
}
