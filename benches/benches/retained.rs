//! Retained messages: a new subscriber to `#` receives 100,000 retained messages (one per
//! topic), timed from the SUBSCRIBE to the last message taken. Reference in the same group:
//! the same 100,000 shared topics and payloads iterated out of a `HashMap` and sent through
//! a bare crossbeam channel, then received, on one thread as mqlite does it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::unbounded;
use mqlite::{Broker, ConnectOptions, QoS};
use mqlite_benches::{Mix, PAYLOAD, drain_n, unthrottled};

const TOPICS: usize = 100_000;

fn subscribe_all(c: &mut Criterion) {
    let mut group = c.benchmark_group("retained/subscribe_all");
    group.throughput(Throughput::Elements(TOPICS as u64));
    // `site/{s}/dev/{d}/temp`, 1,000 sites × 100 devices.
    let topics = Mix::Exact.filters(TOPICS);
    let payload = Bytes::from_static(PAYLOAD);

    let broker = Broker::new(unthrottled());
    let publisher = broker.connect(ConnectOptions::new("publisher")).unwrap();
    for t in &topics {
        publisher
            .publish(t, payload.clone(), QoS::AtMostOnce, true)
            .unwrap();
    }
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        let id = BenchmarkId::new(format!("mqlite_qos{}", qos.as_u8()), TOPICS);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let sub = broker.connect(ConnectOptions::new("sub")).unwrap();
                    let start = Instant::now();
                    sub.subscribe("#", qos).unwrap();
                    drain_n(&sub, TOPICS as u64, qos != QoS::AtMostOnce);
                    took += start.elapsed();
                    sub.disconnect();
                }
                took
            })
        });
    }

    let map: HashMap<Arc<str>, Bytes> = topics
        .iter()
        .map(|t| (Arc::from(t.as_str()), payload.clone()))
        .collect();
    group.bench_function(BenchmarkId::new("hashmap_crossbeam", TOPICS), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let (tx, rx) = unbounded::<(Arc<str>, Bytes)>();
                for (t, p) in &map {
                    tx.send((t.clone(), p.clone())).unwrap();
                }
                for _ in 0..TOPICS {
                    drop(rx.try_recv().unwrap());
                }
                took += start.elapsed();
            }
            took
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    targets = subscribe_all
}
criterion_main!(benches);
