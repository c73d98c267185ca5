//! Shared fixtures of the mqlite benchmarks: scenario builders used by the criterion benches
//! in `benches/benches/`. Figures and how to reproduce them: `benches/RESULTS.md`.
#![forbid(unsafe_code)]

use bytes::Bytes;
use mqlite::{
    Broker, Client, Config, ConnectOptions, NEVER_EXPIRE, PublishOptions, QoS, SubOptions,
    TopicName,
};

/// The payload of the in-process scenarios: 64 bytes, shared, never copied.
pub const PAYLOAD: &[u8; 64] = &[7u8; 64];

/// Publishes [`PAYLOAD`] `n` times to `topic` at `qos`, as fast as `client` allows (the
/// topic is validated once, as a hot loop of an application would).
pub fn publish_n(client: &Client, topic: &str, qos: QoS, n: u64) {
    let topic = TopicName::new(topic).expect("bench topics are valid");
    let payload = Bytes::from_static(PAYLOAD);
    let opts = PublishOptions::new(qos);
    for _ in 0..n {
        client
            .publish_name(topic.clone(), payload.clone(), &opts)
            .expect("the bench broker accepts every publish");
    }
}

/// A config with limits raised so no benchmark is throttled by a default bound.
pub fn unthrottled() -> Config {
    let mut config = Config::default();
    config.max_queued_messages = 10_000_000;
    config.max_queued_bytes = usize::MAX / 2;
    config.max_inflight_messages = u16::MAX;
    config.max_subscriptions_per_client = 1_000_000;
    config.max_clients = 1_000_000;
    config.sys_interval = None;
    config
}

/// The filters of the index scenario: `total` subscriptions over `clients` clients, 90%
/// exact (`site/{s}/dev/{d}/temp`), 10% with wildcards (`site/{s}/+/{d}/#` and friends).
pub fn scenario_filters(total: usize) -> Vec<String> {
    (0..total)
        .map(|i| {
            let site = i % 1000;
            let dev = i / 1000;
            match i % 10 {
                0 => match i % 30 {
                    0 => format!("site/{site}/+/{dev}/temp"),
                    10 => format!("site/{site}/dev/{dev}/#"),
                    _ => format!("+/{site}/dev/{dev}/+"),
                },
                _ => format!("site/{site}/dev/{dev}/temp"),
            }
        })
        .collect()
}

/// A broker holding `total` subscriptions over `clients` offline persistent sessions (so a
/// matching QoS 0 publish does all routing work and is then dropped as offline, counted).
pub fn broker_with_subscriptions(total: usize, clients: usize) -> Broker {
    let broker = Broker::new(unthrottled());
    let filters = scenario_filters(total);
    let per_client = total.div_ceil(clients);
    for (c, chunk) in filters.chunks(per_client).enumerate() {
        let client = broker
            .connect(
                ConnectOptions::new(format!("client-{c}"))
                    .clean_start(false)
                    .session_expiry(NEVER_EXPIRE),
            )
            .expect("unthrottled config admits every client");
        let subs: Vec<(&str, SubOptions)> = chunk
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
