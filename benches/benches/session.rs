//! Session resume: a persistent session is offline while 10,000 QoS 1 messages queue for it;
//! timed from the reconnect to the last message received and acknowledged. Reference in the
//! same group: draining 10,000 queued (topic, payload) items from a bare crossbeam channel.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::unbounded;
use mqlite::{Broker, ConnectOptions, QoS};
use mqlite_benches::{PAYLOAD, drain_n, persistent, publish_n, unthrottled};

const QUEUED: u64 = 10_000;

fn resume(c: &mut Criterion) {
    let mut group = c.benchmark_group("session/resume_10k");
    group.throughput(Throughput::Elements(QUEUED));

    let broker = Broker::new(unthrottled());
    let publisher = broker.connect(ConnectOptions::new("publisher")).unwrap();
    let sub = broker.connect(persistent("sub")).unwrap();
    sub.subscribe("q/t", QoS::AtLeastOnce).unwrap();
    sub.disconnect();
    group.bench_function(BenchmarkId::new("mqlite", "qos1"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                publish_n(&publisher, "q/t", QoS::AtLeastOnce, QUEUED);
                let start = Instant::now();
                let sub = broker.connect(persistent("sub")).unwrap();
                drain_n(&sub, QUEUED, true);
                took += start.elapsed();
                assert!(sub.session_present());
                sub.disconnect();
            }
            took
        })
    });

    let topic: Arc<str> = Arc::from("q/t");
    let payload = Bytes::from_static(PAYLOAD);
    group.bench_function(BenchmarkId::new("crossbeam_drain", "qos1"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let (tx, rx) = unbounded::<(Arc<str>, Bytes)>();
                for _ in 0..QUEUED {
                    tx.send((topic.clone(), payload.clone())).unwrap();
                }
                let start = Instant::now();
                for _ in 0..QUEUED {
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
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = resume
}
criterion_main!(benches);
