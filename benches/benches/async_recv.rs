//! Async receiving, `async_recv/1to1_qos0_64B`: one publisher thread, one subscriber, QoS 0,
//! 64-byte payloads, `N` messages per iteration, the subscriber receiving
//!
//! - `blocking_recv`: with `Client::recv` on the bench thread (the baseline);
//! - `recv_async_current_thread`: with `recv_async().await` on a tokio current-thread
//!   runtime (the bench thread drives it);
//! - `recv_async_multi_thread`: the same in a task spawned on a 2-worker multi-thread runtime;
//! - `tokio_mpsc`: the same `Bytes` through a bare `tokio::sync::mpsc` unbounded channel,
//!   received on a current-thread runtime (the physical reference).
//!
//! The publisher is a std thread in every case. The queue bound (`unthrottled`, 10 M) is far
//! above what an iteration publishes and every publish also waits for room if full
//! (`wait_if_full`), so nothing is dropped: each iteration receives exactly `N`. Runtimes,
//! brokers and connections are set up outside the timed part; the timed part is the
//! publisher's spawn to the last message received and the publisher joined.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqlite::{Broker, Client, ConnectOptions, PublishOptions, QoS, TopicName};
use mqlite_benches::{PAYLOAD, unthrottled};
use tokio::runtime::{Builder, Runtime};

/// Messages per iteration.
const N: u64 = 10_000;

/// A broker with a subscriber of `t` and a publisher.
fn pair() -> (Broker, Client, Client) {
    let broker = Broker::new(unthrottled());
    let subscriber = broker.connect(ConnectOptions::new("sub")).unwrap();
    subscriber.subscribe("t", QoS::AtMostOnce).unwrap();
    let publisher = broker.connect(ConnectOptions::new("pub")).unwrap();
    (broker, subscriber, publisher)
}

/// Publishes `n` messages on a new thread; hands the client back when joined.
fn publish(publisher: Client, n: u64) -> thread::JoinHandle<Client> {
    thread::spawn(move || {
        let topic = TopicName::new("t").unwrap();
        let payload = Bytes::from_static(PAYLOAD);
        let opts = PublishOptions::new(QoS::AtMostOnce).wait_if_full(Some(Duration::from_secs(60)));
        for _ in 0..n {
            publisher
                .publish_validated(topic.clone(), payload.clone(), &opts)
                .unwrap();
        }
        publisher
    })
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `Client::recv` on the bench thread.
fn blocking_recv(n: u64) -> Duration {
    let (_broker, subscriber, publisher) = pair();
    let start = Instant::now();
    let publishing = publish(publisher, n);
    for _ in 0..n {
        black_box(subscriber.recv().unwrap().payload().len());
    }
    publishing.join().unwrap();
    start.elapsed()
}

/// `recv_async` in `block_on` of a current-thread runtime.
fn recv_async_current_thread(rt: &Runtime, n: u64) -> Duration {
    let (_broker, subscriber, publisher) = pair();
    let start = Instant::now();
    let publishing = publish(publisher, n);
    rt.block_on(async {
        for _ in 0..n {
            black_box(subscriber.recv_async().await.unwrap().payload().len());
        }
    });
    publishing.join().unwrap();
    start.elapsed()
}

/// `recv_async` in a task spawned on a multi-thread runtime (one of its workers runs it).
fn recv_async_multi_thread(rt: &Runtime, n: u64) -> Duration {
    let (_broker, subscriber, publisher) = pair();
    let start = Instant::now();
    let publishing = publish(publisher, n);
    let receiving = rt.spawn(async move {
        for _ in 0..n {
            black_box(subscriber.recv_async().await.unwrap().payload().len());
        }
        subscriber
    });
    let _subscriber = rt.block_on(receiving).unwrap();
    publishing.join().unwrap();
    start.elapsed()
}

/// The reference: the same payloads through a tokio unbounded mpsc channel.
fn tokio_mpsc(rt: &Runtime, n: u64) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let start = Instant::now();
    let publishing = thread::spawn(move || {
        let payload = Bytes::from_static(PAYLOAD);
        for _ in 0..n {
            tx.send(payload.clone()).unwrap();
        }
    });
    rt.block_on(async {
        for _ in 0..n {
            black_box(rx.recv().await.unwrap().len());
        }
    });
    publishing.join().unwrap();
    start.elapsed()
}

fn one_to_one(c: &mut Criterion) {
    let current = current_thread();
    let multi = multi_thread();
    let mut group = c.benchmark_group("async_recv/1to1_qos0_64B");
    group.throughput(Throughput::Elements(N));
    // One iteration is N messages; `iters` iterations are one run of `iters * N`.
    group.bench_function("blocking_recv", |b| {
        b.iter_custom(|iters| blocking_recv(iters * N))
    });
    group.bench_function("recv_async_current_thread", |b| {
        b.iter_custom(|iters| recv_async_current_thread(&current, iters * N))
    });
    group.bench_function("recv_async_multi_thread", |b| {
        b.iter_custom(|iters| recv_async_multi_thread(&multi, iters * N))
    });
    group.bench_function("tokio_mpsc", |b| {
        b.iter_custom(|iters| tokio_mpsc(&current, iters * N))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = one_to_one
}
criterion_main!(benches);
