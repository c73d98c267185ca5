//! The `mqlite` configuration file (TOML): every key optional, unknown keys refused. The
//! annotated example is `net-frontend/mqlite.example.toml`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use mqlite::{Config, OverflowPolicy, SharedStrategy};
use mqlite_net::ServerConfig;
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// Addresses to listen on; default `["127.0.0.1:1883"]`.
    pub(crate) listen: Option<Vec<String>>,
    /// Accept clients without credentials on non-loopback listeners.
    pub(crate) allow_anonymous: Option<bool>,
    #[serde(default)]
    pub(crate) server: ServerSection,
    #[serde(default)]
    pub(crate) broker: BrokerSection,
}

/// `[server]`: the network frontend ([`ServerConfig`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSection {
    workers: Option<usize>,
    max_connections: Option<usize>,
    max_packet_size: Option<usize>,
    connect_timeout: Option<u64>,
    max_keepalive: Option<u16>,
    topic_alias_maximum: Option<u16>,
    max_write_buffer_bytes: Option<usize>,
    write_stall_timeout: Option<u64>,
    response_information: Option<String>,
    delivery_batch: Option<usize>,
    full_queue_backoff_ms: Option<u64>,
}

/// `[broker]`: the router ([`mqlite::Config`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokerSection {
    max_queued_messages: Option<usize>,
    max_queued_bytes: Option<usize>,
    max_inflight_messages: Option<u16>,
    overflow_policy: Option<String>,
    queue_qos0_messages: Option<bool>,
    max_payload_size: Option<usize>,
    max_topic_length: Option<usize>,
    max_topic_levels: Option<usize>,
    max_subscriptions_per_client: Option<usize>,
    max_retained_messages: Option<usize>,
    max_retained_bytes: Option<usize>,
    max_clients: Option<usize>,
    max_client_id_length: Option<usize>,
    shared_subscription_strategy: Option<String>,
    max_session_expiry: Option<u64>,
    sys_interval: Option<u64>,
}

/// Sets `$target` from `$section.$field` when the file has it (`|f| expr` converts).
macro_rules! apply {
    ($target:ident, $section:expr, $($field:ident),*) => {$(
        if let Some(v) = $section.$field.clone() { $target.$field = v; }
    )*};
}

impl FileConfig {
    /// Reads and parses `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// The frontend's settings: defaults overridden by `[server]`.
    pub(crate) fn server_config(&self) -> ServerConfig {
        let s = &self.server;
        let mut c = ServerConfig::default();
        apply!(
            c,
            s,
            workers,
            max_connections,
            max_packet_size,
            max_keepalive
        );
        apply!(
            c,
            s,
            topic_alias_maximum,
            max_write_buffer_bytes,
            delivery_batch
        );
        if let Some(secs) = s.connect_timeout {
            c.connect_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = s.write_stall_timeout {
            c.write_stall_timeout = Duration::from_secs(secs);
        }
        if let Some(ms) = s.full_queue_backoff_ms {
            c.full_queue_backoff = Duration::from_millis(ms);
        }
        if let Some(info) = &s.response_information {
            // An empty string turns Response Information off.
            c.response_information = (!info.is_empty()).then(|| info.clone());
        }
        c
    }

    /// The router's settings: the binary's defaults overridden by `[broker]`.
    pub(crate) fn broker_config(&self) -> anyhow::Result<Config> {
        let b = &self.broker;
        let mut c = Config::default();
        // A standalone broker serves more clients than an embedded router's default.
        c.max_clients = 100_000;
        apply!(
            c,
            b,
            max_queued_messages,
            max_queued_bytes,
            max_inflight_messages
        );
        apply!(
            c,
            b,
            queue_qos0_messages,
            max_payload_size,
            max_topic_length,
            max_topic_levels
        );
        apply!(
            c,
            b,
            max_subscriptions_per_client,
            max_retained_messages,
            max_retained_bytes
        );
        apply!(c, b, max_clients, max_client_id_length);
        if let Some(policy) = &b.overflow_policy {
            c.overflow_policy = match policy.as_str() {
                "drop_newest" => OverflowPolicy::DropNewest,
                "drop_oldest" => OverflowPolicy::DropOldest,
                "disconnect" => OverflowPolicy::Disconnect,
                other => bail!(
                    "broker.overflow_policy `{other}`: expected drop_newest, drop_oldest or disconnect"
                ),
            };
        }
        if let Some(strategy) = &b.shared_subscription_strategy {
            c.shared_subscription_strategy = match strategy.as_str() {
                "round_robin" => SharedStrategy::RoundRobin,
                "random" => SharedStrategy::Random,
                "sticky" => SharedStrategy::Sticky,
                other => bail!(
                    "broker.shared_subscription_strategy `{other}`: expected round_robin, random or sticky"
                ),
            };
        }
        if let Some(secs) = b.max_session_expiry {
            c.max_session_expiry = Some(Duration::from_secs(secs));
        }
        if let Some(secs) = b.sys_interval {
            c.sys_interval = (secs > 0).then(|| Duration::from_secs(secs));
        }
        Ok(c)
    }
}

/// Refuses a listener off loopback while anonymous clients are not explicitly allowed (there
/// is no other authentication yet), as Mosquitto 2 does.
pub(crate) fn check_anonymous(addrs: &[SocketAddr], allow_anonymous: bool) -> anyhow::Result<()> {
    if allow_anonymous {
        return Ok(());
    }
    if let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "listener {addr} is not on loopback and no authentication is configured: \
             set `allow_anonymous = true` in the config file to accept anonymous clients on it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_applies() {
        let text = include_str!("../../../mqlite.example.toml");
        let file: FileConfig = toml::from_str(text).unwrap();
        assert_eq!(
            file.listen.as_deref(),
            Some(&["127.0.0.1:1883".to_owned()][..])
        );
        let broker = file.broker_config().unwrap();
        assert_eq!(broker.max_queued_messages, 1000);
        assert_eq!(file.server_config().max_packet_size, 1 << 20);
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        assert!(toml::from_str::<FileConfig>("[server]\nmax_conections = 5\n").is_err());
        let file: FileConfig =
            toml::from_str("[broker]\noverflow_policy = \"drop_all\"\n").unwrap();
        let err = file.broker_config().unwrap_err().to_string();
        assert!(err.contains("drop_all"), "{err}");
    }

    #[test]
    fn non_loopback_listener_needs_allow_anonymous() {
        let public: SocketAddr = "0.0.0.0:1883".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:1883".parse().unwrap();
        assert!(check_anonymous(&[local], false).is_ok());
        let err = check_anonymous(&[local, public], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_anonymous"), "{err}");
        assert!(check_anonymous(&[public], true).is_ok());
    }
}
