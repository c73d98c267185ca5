//! Topic index at scale, through the public API: a QoS 0 publish that matches among N
//! subscriptions (90% exact, 10% wildcard, over 10,000 offline sessions), and the cost of a
//! subscribe and an unsubscribe on the 1M index. Reference in the same group: a bare
//! `HashMap<String, Vec<u32>>` lookup of the exact topic (the floor for exact matching).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mqlite::{ConnectOptions, QoS};
use mqlite_benches::{broker_with_subscriptions, scenario_filters};

/// Topics that hit the scenario's filters (a pseudo-random walk, no RNG dependency).
fn topics(n: usize, total: usize) -> Vec<String> {
    let devs = (total / 1000).max(1);
    (0..n)
        .map(|i| {
            let k = i.wrapping_mul(2_654_435_761) % (1000 * devs);
            format!("site/{}/dev/{}/temp", k % 1000, k / 1000)
        })
        .collect()
}

fn publish_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_index/publish_match");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    for total in [1_000usize, 100_000, 1_000_000] {
        let broker = broker_with_subscriptions(total, 10_000.min(total));
        let publisher = broker.connect(ConnectOptions::new("publisher")).unwrap();
        let topics = topics(4096, total);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("mqlite_publish", total), |b| {
            b.iter(|| {
                i = (i + 1) % topics.len();
                publisher
                    .publish(&topics[i], "x", QoS::AtMostOnce, false)
                    .unwrap();
            })
        });
        let mut map: HashMap<String, Vec<u32>> = HashMap::new();
        for (n, f) in scenario_filters(total).into_iter().enumerate() {
            map.entry(f).or_default().push(n as u32);
        }
        group.bench_function(BenchmarkId::new("hashmap_lookup", total), |b| {
            b.iter(|| {
                i = (i + 1) % topics.len();
                black_box(map.get(topics[i].as_str()).map(Vec::len))
            })
        });
        drop(broker);
    }
    group.finish();
}

fn subscribe_unsubscribe(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic_index/churn_1m");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    let broker = broker_with_subscriptions(1_000_000, 10_000);
    let client = broker.connect(ConnectOptions::new("churn")).unwrap();
    let mut next = 0u64;
    let filter = |i: u64| match i % 10 {
        0 => format!("site/{}/+/new{}/#", i % 1000, i),
        _ => format!("site/{}/dev/new{}/temp", i % 1000, i),
    };
    group.bench_function("subscribe_then_unsubscribe", |b| {
        b.iter_custom(|iters| {
            let filters: Vec<String> = (0..iters).map(|k| filter(next + k)).collect();
            next += iters;
            let start = Instant::now();
            for f in &filters {
                client.subscribe(f, QoS::AtMostOnce).unwrap();
            }
            let subscribed = start.elapsed();
            for f in &filters {
                client.unsubscribe(f).unwrap();
            }
            // Report the mean of the two operations.
            (subscribed + (start.elapsed() - subscribed)) / 2
        })
    });
    group.bench_function("subscribe", |b| {
        b.iter_custom(|iters| {
            let filters: Vec<String> = (0..iters).map(|k| filter(next + k)).collect();
            next += iters;
            let start = Instant::now();
            for f in &filters {
                client.subscribe(f, QoS::AtMostOnce).unwrap();
            }
            let took = start.elapsed();
            for f in &filters {
                client.unsubscribe(f).unwrap();
            }
            took
        })
    });
    group.bench_function("unsubscribe", |b| {
        b.iter_custom(|iters| {
            let filters: Vec<String> = (0..iters).map(|k| filter(next + k)).collect();
            next += iters;
            for f in &filters {
                client.subscribe(f, QoS::AtMostOnce).unwrap();
            }
            let start = Instant::now();
            for f in &filters {
                client.unsubscribe(f).unwrap();
            }
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = publish_match, subscribe_unsubscribe
}
criterion_main!(benches);
