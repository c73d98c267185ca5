//! The targets of issue #7 and each scenario's headline figure: throughput ≥ 1.5× Mosquitto
//! and ≥ 1.2× rumqttd, latency p99 at most both, RSS per idle connection below both, and a
//! broker RSS that stays flat under a stuck subscriber.

use crate::data::{Broker, Kind, Scenario};

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Met.
    Met,
    /// Missed.
    Missed,
    /// A broker has no successful run.
    Unknown,
}

/// Growth over the second half of the slow run, as a share of the end RSS, below which the
/// RSS counts as flat.
const FLAT_SHARE: f64 = 0.05;

/// The headline figure of a kind of scenario: its label and its result name.
pub(crate) fn headline(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Throughput => ("delivered msgs/s", "delivered_msgs_per_sec"),
        Kind::Latency => ("p99 µs", "latency_p99_us"),
        Kind::Idle => ("RSS per connection, KiB", "rss_per_conn_kib"),
        Kind::Slow => ("RSS at the end, KiB", "rss_end_kib"),
    }
}

/// mqlite's median headline figure over `peer`'s.
pub(crate) fn ratio(s: &Scenario, peer: Broker) -> Option<f64> {
    let (_, name) = headline(s.kind?);
    let ours = s.stat(Broker::Mqlite, name)?.median;
    let theirs = s.stat(peer, name)?.median;
    (theirs != 0.0).then(|| ours / theirs)
}

/// Whether the broker's RSS stayed flat over the second half of a slow run (median run).
pub(crate) fn is_flat(s: &Scenario, b: Broker) -> Option<bool> {
    let growth = s.stat(b, "rss_growth_second_half_kib")?.median;
    let end = s.stat(b, "rss_end_kib")?.median;
    Some(growth <= FLAT_SHARE * end)
}

/// The scenario's targets, each named, with its verdict.
pub(crate) fn verdicts(s: &Scenario) -> Vec<(String, Verdict)> {
    let Some(kind) = s.kind else {
        return Vec::new();
    };
    if kind == Kind::Slow {
        let v = match is_flat(s, Broker::Mqlite) {
            Some(true) => Verdict::Met,
            Some(false) => Verdict::Missed,
            None => Verdict::Unknown,
        };
        return vec![("mqlite flat".to_owned(), v)];
    }
    Broker::PEERS
        .iter()
        .map(|&peer| {
            let (want, ok): (&str, fn(f64) -> bool) = match (kind, peer) {
                (Kind::Throughput, Broker::Mosquitto) => ("≥ 1.5", |r| r >= 1.5),
                (Kind::Throughput, _) => ("≥ 1.2", |r| r >= 1.2),
                (Kind::Latency, _) => ("≤ 1", |r| r <= 1.0),
                (_, _) => ("< 1", |r| r < 1.0),
            };
            let v = match ratio(s, peer) {
                Some(r) if ok(r) => Verdict::Met,
                Some(_) => Verdict::Missed,
                None => Verdict::Unknown,
            };
            (format!("{want} vs {peer}"), v)
        })
        .collect()
}
