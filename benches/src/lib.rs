//! Shared fixtures of the mqlite benchmarks: scenario builders used by the criterion benches
//! in `benches/benches/`. Figures and how to reproduce them: `benches/RESULTS.md`.
#![forbid(unsafe_code)]

use std::time::Duration;

use bytes::Bytes;
use mqlite::{
    Broker, Client, Config, ConnectOptions, NEVER_EXPIRE, PublishOptions, QoS, SubOptions,
    TopicName,
};

/// The payload of the in-process scenarios: 64 bytes, shared, never copied.
pub const PAYLOAD: &[u8; 64] = &[7u8; 64];

/// The payload sizes of the delivery and codec scenarios: 64 B and 16 KiB.
pub const PAYLOAD_SIZES: [usize; 2] = [64, 16 * 1024];

/// A payload of `size` bytes, static like [`PAYLOAD`]: cloning it touches no reference count,
/// so threads sharing it do not contend on one counter (as messages with payloads of their own
/// would not). Leaks `size` bytes per call: call it outside timed loops.
pub fn payload(size: usize) -> Bytes {
    Bytes::from_static(Vec::leak(vec![7u8; size]))
}

/// How a payload size reads in a benchmark id: `64B`, `16KiB`.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

/// Publishes [`PAYLOAD`] `n` times to `topic` at `qos`, as fast as `client` allows (the
/// topic is validated once, as a hot loop of an application would).
pub fn publish_n(client: &Client, topic: &str, qos: QoS, n: u64) {
    publish_payload_n(client, topic, qos, &Bytes::from_static(PAYLOAD), n);
}

/// Publishes `payload` (shared, never copied) `n` times to `topic` at `qos`.
pub fn publish_payload_n(client: &Client, topic: &str, qos: QoS, payload: &Bytes, n: u64) {
    let topic = TopicName::new(topic).expect("bench topics are valid");
    let opts = PublishOptions::new(qos);
    for _ in 0..n {
        client
            .publish_validated(topic.clone(), payload.clone(), &opts)
            .expect("the bench broker accepts every publish");
    }
}

/// Receives `n` messages on `client`, acknowledging each when `ack` (QoS 1 and 2).
pub fn drain_n(client: &Client, n: u64, ack: bool) {
    for _ in 0..n {
        let m = client
            .recv_timeout(Duration::from_secs(10))
            .expect("every expected message arrives");
        if ack {
            m.ack();
        }
    }
}

/// The options of a persistent session: resumed on reconnect, never expiring.
pub fn persistent(client_id: impl Into<String>) -> ConnectOptions {
    ConnectOptions::new(client_id)
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE)
}

/// A config with limits raised so no benchmark is throttled by a default bound.
pub fn unthrottled() -> Config {
    let mut config = Config::default();
    config.max_queued_messages = 10_000_000;
    config.max_queued_bytes = usize::MAX / 2;
    config.max_inflight_messages = u16::MAX;
    config.max_subscriptions_per_client = 1_000_000;
    config.max_clients = 1_000_000;
    config.max_retained_messages = 10_000_000;
    config.max_retained_bytes = usize::MAX / 2;
    config.sys_interval = None;
    config
}

/// A mix of subscription filters for the index scenarios. Filter `i` names site `i % 1000`
/// and device `i / 1000`, so the topic `site/{s}/dev/{d}/temp` matches exactly one filter of
/// any mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// `site/{s}/dev/{d}/temp`: the exact-match table only.
    Exact,
    /// `site/{s}/+/{d}/temp` and `+/{s}/dev/{d}/+`, alternately: the wildcard trie.
    Plus,
    /// `site/{s}/dev/{d}/#`: the wildcard trie, multi-level.
    Hash,
    /// `$share/g/site/{s}/dev/{d}/temp`: one shared group per filter.
    Shared,
    /// 80% exact, 10% wildcard (`+`, `#`, both), 10% shared.
    Mixed,
}

impl Mix {
    /// Every mix, in the order the benches report them.
    pub const ALL: [Mix; 5] = [Mix::Exact, Mix::Plus, Mix::Hash, Mix::Shared, Mix::Mixed];

    /// The mix's name in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Exact => "exact",
            Mix::Plus => "plus",
            Mix::Hash => "hash",
            Mix::Shared => "shared",
            Mix::Mixed => "mixed",
        }
    }

    /// Filter number `i` of this mix; `dev` is the device level (`{d}` or a churn name).
    pub fn filter(self, i: usize, dev: &str) -> String {
        let site = i % 1000;
        match self {
            Mix::Exact => format!("site/{site}/dev/{dev}/temp"),
            Mix::Plus if i.is_multiple_of(2) => format!("site/{site}/+/{dev}/temp"),
            Mix::Plus => format!("+/{site}/dev/{dev}/+"),
            Mix::Hash => format!("site/{site}/dev/{dev}/#"),
            Mix::Shared => format!("$share/g/site/{site}/dev/{dev}/temp"),
            Mix::Mixed => match i % 10 {
                0 => match i % 30 {
                    0 => format!("site/{site}/+/{dev}/temp"),
                    10 => format!("site/{site}/dev/{dev}/#"),
                    _ => format!("+/{site}/dev/{dev}/+"),
                },
                5 => Mix::Shared.filter(i, dev),
                _ => Mix::Exact.filter(i, dev),
            },
        }
    }

    /// The first `total` filters of this mix.
    pub fn filters(self, total: usize) -> Vec<String> {
        (0..total)
            .map(|i| self.filter(i, &(i / 1000).to_string()))
            .collect()
    }
}

/// The filters of the index scenario: `total` subscriptions of [`Mix::Mixed`].
pub fn scenario_filters(total: usize) -> Vec<String> {
    Mix::Mixed.filters(total)
}

/// A broker holding `total` subscriptions of [`Mix::Mixed`] over `clients` offline persistent
/// sessions (so a matching QoS 0 publish does all routing work and is then dropped as
/// offline, counted).
pub fn broker_with_subscriptions(total: usize, clients: usize) -> Broker {
    broker_with_mix(Mix::Mixed, total, clients)
}

/// A broker holding `clients` offline persistent sessions that share `total` subscriptions
/// of `mix` evenly (none when `total` is 0).
pub fn broker_with_mix(mix: Mix, total: usize, clients: usize) -> Broker {
    let broker = Broker::new(unthrottled());
    let filters = mix.filters(total);
    let per_client = total.div_ceil(clients.max(1)).max(1);
    let mut chunks = filters.chunks(per_client);
    for c in 0..clients {
        let client = broker
            .connect(persistent(format!("client-{c}")))
            .expect("unthrottled config admits every client");
        let subs: Vec<(&str, SubOptions)> = chunks
            .next()
            .unwrap_or_default()
            .iter()
            .map(|f| (f.as_str(), SubOptions::new(QoS::AtMostOnce)))
            .collect();
        for result in client.subscribe_many(&subs).expect("client is live") {
            result.expect("scenario filters are valid");
        }
        client.disconnect();
    }
    broker
}
