//! In-process delivery between threads, each mqlite scenario beside a bare crossbeam channel
//! doing the same work (the physical reference): 1 → 1 at QoS 0 and 1 (64 B), fan-out
//! 1 → 100, and 1 / 2 / 4 publisher threads on distinct topics.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::unbounded;
use mqlite::{Broker, Client, ConnectOptions, QoS};
use mqlite_benches::{PAYLOAD, publish_n, unthrottled};

/// What a bare channel carries per message: the same shared topic and payload an mqlite
/// delivery carries.
type Bare = (Arc<str>, Bytes);

fn drain_n(client: &Client, n: u64, ack: bool) {
    let mut got = 0;
    while got < n {
        let m = client.recv_timeout(Duration::from_secs(10)).unwrap();
        if ack {
            m.ack();
        }
        got += 1;
    }
}

fn one_to_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("inprocess/1to1_64B");
    group.throughput(Throughput::Elements(1));
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        group.bench_function(
            BenchmarkId::new("mqlite", format!("qos{}", qos.as_u8())),
            |b| {
                b.iter_custom(|iters| {
                    let broker = Broker::new(unthrottled());
                    let sub = broker.connect(ConnectOptions::new("sub")).unwrap();
                    sub.subscribe("bench/t", qos).unwrap();
                    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
                    let consumer = thread::spawn(move || drain_n(&sub, iters, true));
                    let start = Instant::now();
                    publish_n(&publisher, "bench/t", qos, iters);
                    consumer.join().unwrap();
                    start.elapsed()
                })
            },
        );
    }
    group.bench_function("crossbeam_unbounded", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = unbounded::<Bare>();
            let topic: Arc<str> = Arc::from("bench/t");
            let payload = Bytes::from_static(PAYLOAD);
            let consumer = thread::spawn(move || {
                for _ in 0..iters {
                    rx.recv().unwrap();
                }
            });
            let start = Instant::now();
            for _ in 0..iters {
                tx.send((topic.clone(), payload.clone())).unwrap();
            }
            consumer.join().unwrap();
            start.elapsed()
        })
    });
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    const SUBS: usize = 100;
    let mut group = c.benchmark_group("inprocess/fanout_1to100_64B");
    // Counted in deliveries: one publish is 100 deliveries.
    group.throughput(Throughput::Elements(SUBS as u64));
    group.bench_function("mqlite_qos0", |b| {
        b.iter_custom(|iters| {
            let broker = Broker::new(unthrottled());
            let subs: Vec<Client> = (0..SUBS)
                .map(|i| {
                    let s = broker
                        .connect(ConnectOptions::new(format!("s{i}")))
                        .unwrap();
                    s.subscribe("fan/t", QoS::AtMostOnce).unwrap();
                    s
                })
                .collect();
            let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
            let consumer = thread::spawn(move || {
                let mut left = iters * SUBS as u64;
                while left > 0 {
                    for s in &subs {
                        while s.try_recv().is_ok() {
                            left -= 1;
                        }
                    }
                }
            });
            let start = Instant::now();
            publish_n(&publisher, "fan/t", QoS::AtMostOnce, iters);
            consumer.join().unwrap();
            start.elapsed()
        })
    });
    group.bench_function("crossbeam_100_channels", |b| {
        b.iter_custom(|iters| {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..SUBS).map(|_| unbounded::<Bare>()).unzip();
            let topic: Arc<str> = Arc::from("fan/t");
            let payload = Bytes::from_static(PAYLOAD);
            let consumer = thread::spawn(move || {
                let mut left = iters * SUBS as u64;
                while left > 0 {
                    for rx in &rxs {
                        while rx.try_recv().is_ok() {
                            left -= 1;
                        }
                    }
                }
            });
            let start = Instant::now();
            for _ in 0..iters {
                for tx in &txs {
                    tx.send((topic.clone(), payload.clone())).unwrap();
                }
            }
            consumer.join().unwrap();
            start.elapsed()
        })
    });
    group.finish();
}

fn publishers(c: &mut Criterion) {
    let mut group = c.benchmark_group("inprocess/publishers_distinct_topics_64B");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2, 4] {
        group.bench_function(BenchmarkId::new("mqlite_qos0", threads), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(threads as u64);
                let broker = Broker::new(unthrottled());
                let mut consumers = Vec::new();
                let mut pubs = Vec::new();
                for t in 0..threads {
                    let sub = broker
                        .connect(ConnectOptions::new(format!("sub{t}")))
                        .unwrap();
                    sub.subscribe(&format!("p/{t}"), QoS::AtMostOnce).unwrap();
                    consumers.push(thread::spawn(move || drain_n(&sub, per, false)));
                    pubs.push(
                        broker
                            .connect(ConnectOptions::new(format!("pub{t}")))
                            .unwrap(),
                    );
                }
                let start = Instant::now();
                let producers: Vec<_> = pubs
                    .into_iter()
                    .enumerate()
                    .map(|(t, p)| {
                        thread::spawn(move || {
                            publish_n(&p, &format!("p/{t}"), QoS::AtMostOnce, per)
                        })
                    })
                    .collect();
                for h in producers.into_iter().chain(consumers) {
                    h.join().unwrap();
                }
                start.elapsed()
            })
        });
        group.bench_function(BenchmarkId::new("crossbeam_unbounded", threads), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(threads as u64);
                let mut handles = Vec::new();
                let start = Instant::now();
                for _ in 0..threads {
                    let (tx, rx) = unbounded::<Bare>();
                    handles.push(thread::spawn(move || {
                        for _ in 0..per {
                            rx.recv().unwrap();
                        }
                    }));
                    handles.push(thread::spawn(move || {
                        let topic: Arc<str> = Arc::from("p/t");
                        let payload = Bytes::from_static(PAYLOAD);
                        for _ in 0..per {
                            tx.send((topic.clone(), payload.clone())).unwrap();
                        }
                    }));
                }
                for h in handles {
                    h.join().unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    targets = one_to_one, fan_out, publishers
}
criterion_main!(benches);
