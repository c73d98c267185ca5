//! In-process delivery between threads, each mqlite scenario beside a bare crossbeam channel
//! doing the same work (the physical reference), for 64 B and 16 KiB payloads:
//!
//! - `inprocess/1to1`: one publisher thread, one subscriber thread, QoS 0/1/2; and the same
//!   QoS 0 work through rumqttd's router and local links (`rumqttd::Broker::link`), the
//!   in-process peer.
//! - `inprocess/fanout_1to100`: one publisher, 100 subscribers polled by one thread.
//! - `inprocess/fanin_4to1`: four publisher threads on their own topics, one subscriber of
//!   the wildcard.
//! - `inprocess/publishers_distinct_topics_64B`: 1 / 2 / 4 independent publisher → subscriber
//!   pairs.
//!
//! Throughput counts deliveries: a fan-out publish is 100.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use crossbeam_channel::{Receiver, unbounded};
use mqlite::{Broker, Client, ConnectOptions, QoS};
use mqlite_benches::{
    PAYLOAD_SIZES, drain_n, payload, publish_n, publish_payload_n, size_label, unthrottled,
};

/// What a bare channel carries per message: the same shared topic and payload an mqlite
/// delivery carries.
type Bare = (Arc<str>, Bytes);

const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

/// Who sends to whom.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One publisher thread, one subscriber thread.
    OneToOne,
    /// One publisher thread; this many subscribers, all polled by one thread.
    FanOut(usize),
    /// This many publisher threads, each on its own topic; one subscriber of `in/+`.
    FanIn(usize),
}

impl Shape {
    fn group(self) -> String {
        match self {
            Shape::OneToOne => "inprocess/1to1".to_owned(),
            Shape::FanOut(n) => format!("inprocess/fanout_1to{n}"),
            Shape::FanIn(n) => format!("inprocess/fanin_{n}to1"),
        }
    }

    /// Deliveries per iteration (one iteration is one publish).
    fn deliveries(self) -> u64 {
        match self {
            Shape::FanOut(n) => n as u64,
            Shape::OneToOne | Shape::FanIn(_) => 1,
        }
    }

    /// Publisher threads, and the messages each sends for `iters` iterations.
    fn publishers(self, iters: u64) -> (usize, u64) {
        match self {
            Shape::FanIn(n) => (n, iters.div_ceil(n as u64)),
            Shape::OneToOne | Shape::FanOut(_) => (1, iters),
        }
    }

    fn subscribers(self) -> usize {
        match self {
            Shape::FanOut(n) => n,
            Shape::OneToOne | Shape::FanIn(_) => 1,
        }
    }
}

/// Takes `total` items from `sources`, polling each in turn (one consumer thread).
fn poll_all<S>(sources: &[S], total: u64, mut try_take: impl FnMut(&S) -> bool) {
    let mut left = total;
    while left > 0 {
        for s in sources {
            while try_take(s) {
                left -= 1;
            }
        }
        if left > 0 {
            std::hint::spin_loop();
        }
    }
}

/// Runs `publish(p, n)` on one thread per publisher (the calling thread for one) and waits
/// for them and `consumer`. What they own is dropped after the clock stops.
fn run_publishers<P: Send + 'static, C>(
    pubs: Vec<P>,
    per: u64,
    consumer: thread::JoinHandle<C>,
    publish: impl Fn(&P, u64) + Send + Sync + Copy + 'static,
) -> Duration {
    let start = Instant::now();
    let pubs: Vec<P> = if let [one] = pubs.as_slice() {
        publish(one, per);
        pubs
    } else {
        let handles: Vec<_> = pubs
            .into_iter()
            .map(|p| {
                thread::spawn(move || {
                    publish(&p, per);
                    p
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    };
    let consumed = consumer.join().unwrap();
    let took = start.elapsed();
    drop((pubs, consumed));
    took
}

/// One mqlite run of `shape`: `iters` publishes at `qos`, every delivery received (and acked
/// at QoS 1 and 2).
fn mqlite_run(shape: Shape, qos: QoS, payload: &Bytes, iters: u64) -> Duration {
    let broker = Broker::new(unthrottled());
    let (n_pubs, per) = shape.publishers(iters);
    let filter = match shape {
        Shape::FanIn(_) => "in/+",
        Shape::OneToOne | Shape::FanOut(_) => "in/0",
    };
    let subs: Vec<Client> = (0..shape.subscribers())
        .map(|i| {
            let s = broker
                .connect(ConnectOptions::new(format!("s{i}")))
                .unwrap();
            s.subscribe(filter, qos).unwrap();
            s
        })
        .collect();
    let pubs: Vec<(Client, String, Bytes)> = (0..n_pubs)
        .map(|t| {
            let p = broker
                .connect(ConnectOptions::new(format!("p{t}")))
                .unwrap();
            (p, format!("in/{t}"), payload.clone())
        })
        .collect();
    let total = per * n_pubs as u64 * shape.deliveries();
    let ack = qos != QoS::AtMostOnce;
    let consumer = thread::spawn(move || {
        match subs.as_slice() {
            [one] => drain_n(one, total, ack),
            many => poll_all(many, total, |s| match s.try_recv() {
                Ok(m) => {
                    if ack {
                        m.ack();
                    }
                    true
                }
                Err(_) => false,
            }),
        }
        subs
    });
    let took = run_publishers(pubs, per, consumer, move |(p, topic, payload), n| {
        publish_payload_n(p, topic, qos, payload, n)
    });
    drop(broker);
    took
}

/// The same run over bare unbounded crossbeam channels: one per subscriber, the topic and
/// payload shared as mqlite shares them.
fn crossbeam_run(shape: Shape, payload: &Bytes, iters: u64) -> Duration {
    let (n_pubs, per) = shape.publishers(iters);
    let (txs, rxs): (Vec<_>, Vec<Receiver<Bare>>) =
        (0..shape.subscribers()).map(|_| unbounded()).unzip();
    let total = per * n_pubs as u64 * shape.deliveries();
    let consumer = thread::spawn(move || {
        match rxs.as_slice() {
            [one] => (0..total).for_each(|_| drop(one.recv().unwrap())),
            many => poll_all(many, total, |rx| rx.try_recv().is_ok()),
        }
        rxs
    });
    let pubs: Vec<_> = (0..n_pubs)
        .map(|t| {
            let topic: Arc<str> = Arc::from(format!("in/{t}"));
            (txs.clone(), topic, payload.clone())
        })
        .collect();
    drop(txs);
    run_publishers(pubs, per, consumer, |(txs, topic, payload), n| {
        for _ in 0..n {
            for tx in txs {
                tx.send((topic.clone(), payload.clone())).unwrap();
            }
        }
    })
}

/// Every (QoS, payload) of `shape` for mqlite, and its crossbeam reference per payload, in
/// the group `shape.group()`; `peer` adds more benchmarks to the same group.
fn delivery(c: &mut Criterion, shape: Shape, peer: impl FnOnce(&mut BenchmarkGroup<WallTime>)) {
    let mut group = c.benchmark_group(shape.group());
    group.throughput(Throughput::Elements(shape.deliveries()));
    for size in PAYLOAD_SIZES {
        let payload = payload(size);
        let label = size_label(size);
        for qos in QOS {
            let id = BenchmarkId::new(format!("mqlite_qos{}", qos.as_u8()), &label);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| mqlite_run(shape, qos, &payload, iters))
            });
        }
        group.bench_function(BenchmarkId::new("crossbeam", &label), |b| {
            b.iter_custom(|iters| crossbeam_run(shape, &payload, iters))
        });
    }
    peer(&mut group);
    group.finish();
}

/// rumqttd's router with two local links: `sub` subscribed to `in/0`, `pub` to publish.
struct Rumqttd {
    _broker: rumqttd::Broker,
    pub_tx: rumqttd::local::LinkTx,
    _pub_rx: rumqttd::local::LinkRx,
    _sub_tx: rumqttd::local::LinkTx,
    sub_rx: Option<rumqttd::local::LinkRx>,
}

impl Rumqttd {
    /// Starts the router (its own thread, which lives as long as the process: rumqttd has
    /// no way to stop it) and links the two clients.
    fn start() -> Self {
        let config = rumqttd::Config {
            router: rumqttd::RouterConfig {
                max_connections: 16,
                // Per-flush batch of the link; QoS 0 needs no acks.
                max_outgoing_packet_count: 200,
                // The commit log keeps 8 × 16 MiB (about 1.9M 64 B messages): a subscriber
                // would have to fall that far behind to lose one.
                max_segment_size: 16 << 20,
                max_segment_count: 8,
                ..Default::default()
            },
            ..Default::default()
        };
        let broker = rumqttd::Broker::new(config);
        let (mut sub_tx, mut sub_rx) = broker.link("sub").unwrap();
        sub_tx.subscribe("in/0").unwrap();
        // The SUBACK: the subscription is in place.
        while !matches!(
            sub_rx.recv().unwrap(),
            Some(rumqttd::Notification::DeviceAck(_))
        ) {}
        let (pub_tx, pub_rx) = broker.link("pub").unwrap();
        Self {
            _broker: broker,
            pub_tx,
            _pub_rx: pub_rx,
            _sub_tx: sub_tx,
            sub_rx: Some(sub_rx),
        }
    }

    /// Publishes `n` QoS 0 messages and waits until the subscriber received them all.
    fn run(&mut self, payload: &Bytes, n: u64) -> Duration {
        let mut rx = self.sub_rx.take().unwrap();
        let consumer = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut got = 0;
            while got < n {
                match rx
                    .recv_deadline(deadline)
                    .expect("rumqttd delivered every message")
                {
                    Some(rumqttd::Notification::Forward(_)) => got += 1,
                    // The link's buffer filled: ask the router for the next batch.
                    Some(rumqttd::Notification::Unschedule) => rx.ready().unwrap(),
                    _ => {}
                }
            }
            rx
        });
        let topic = Bytes::from_static(b"in/0");
        let start = Instant::now();
        for _ in 0..n {
            self.pub_tx.publish(topic.clone(), payload.clone()).unwrap();
        }
        self.sub_rx = Some(consumer.join().unwrap());
        start.elapsed()
    }
}

fn one_to_one(c: &mut Criterion) {
    delivery(c, Shape::OneToOne, |group| {
        let mut rumqttd = Rumqttd::start();
        let payload = payload(64);
        group.bench_function(
            BenchmarkId::new("rumqttd_local_qos0", size_label(64)),
            |b| b.iter_custom(|iters| rumqttd.run(&payload, iters)),
        );
    });
}

fn fan_out(c: &mut Criterion) {
    delivery(c, Shape::FanOut(100), |_| {});
}

fn fan_in(c: &mut Criterion) {
    delivery(c, Shape::FanIn(4), |_| {});
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
                let payload = payload(64);
                let mut handles = Vec::new();
                let start = Instant::now();
                for _ in 0..threads {
                    let (tx, rx) = unbounded::<Bare>();
                    handles.push(thread::spawn(move || {
                        for _ in 0..per {
                            rx.recv().unwrap();
                        }
                    }));
                    let payload = payload.clone();
                    handles.push(thread::spawn(move || {
                        let topic: Arc<str> = Arc::from("p/t");
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
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = one_to_one, fan_out, fan_in, publishers
}
criterion_main!(benches);
