//! Async receiving and publishing with no runtime: `recv_async`, `poll_recv`, `stream` and
//! `publish_async`, driven by a tiny executor that parks its thread, woken only by the
//! session, the full queue's consumer or the alarm (no polling loop).
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use common::{broker, connect};
use mqlite::{ConnectOptions, PublishError, PublishOptions, QoS, SessionError};

/// Wakes the thread that runs `block_on`.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, sleeping between polls until woken.
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Messages published by another thread reach an async receiver in order, at every QoS,
/// and each QoS 1/2 one is acknowledged as an in-process client does.
#[test]
fn recv_async_gets_messages_from_another_thread_in_order() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t/#", QoS::ExactlyOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let sender = thread::spawn(move || {
        for i in 0..300u32 {
            let qos = QoS::from_u8((i % 3) as u8).unwrap();
            publisher
                .publish(&format!("t/{i}"), i.to_be_bytes().to_vec(), qos, false)
                .unwrap();
        }
    });
    for i in 0..300u32 {
        let message = block_on(sub.recv_async()).unwrap();
        assert_eq!(message.payload().as_ref(), i.to_be_bytes());
        message.ack();
    }
    sender.join().unwrap();
}

/// A receive waiting in `block_on` ends with `TakenOver` when another connection takes the
/// session over [MQTT-3.1.4-3], and with `BrokerClosed` when the broker shuts down.
#[test]
fn recv_async_ends_when_the_session_does() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    let taker = {
        let broker = broker.clone();
        thread::spawn(move || connect(&broker, "sub"))
    };
    assert_eq!(
        block_on(sub.recv_async()).unwrap_err(),
        SessionError::TakenOver
    );
    let sub = taker.join().unwrap();
    let closer = {
        let broker = broker.clone();
        thread::spawn(move || broker.shutdown())
    };
    assert_eq!(
        block_on(sub.recv_async()).unwrap_err(),
        SessionError::BrokerClosed
    );
    closer.join().unwrap();
}

/// A receive future dropped before it completes loses no message (cancel safety).
#[test]
fn a_dropped_recv_future_loses_nothing() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    {
        let mut recv = pin!(sub.recv_async());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
    }
    connect(&broker, "pub")
        .publish("t", "kept", QoS::AtLeastOnce, false)
        .unwrap();
    let message = block_on(sub.recv_async()).unwrap();
    assert_eq!(message.payload().as_ref(), b"kept");
}

/// `stream()` yields the messages and ends when the handle becomes unusable.
#[test]
fn the_stream_ends_with_the_session() {
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, "pub");
    for n in 0..3u8 {
        publisher
            .publish("t", vec![n], QoS::AtMostOnce, false)
            .unwrap();
    }
    broker.shutdown();
    let mut stream = sub.stream();
    let got: Vec<u8> = block_on(async {
        let mut got = Vec::new();
        while let Some(message) = stream.next().await {
            got.push(message.payload()[0]);
        }
        got
    });
    assert_eq!(got, [0, 1, 2], "what was queued is drained before the end");
}

/// With the `futures-core` feature the stream is a `futures_core::Stream`.
#[cfg(feature = "futures-core")]
#[test]
fn the_stream_is_a_futures_stream() {
    use futures_core::Stream;
    let broker = broker();
    let sub = connect(&broker, "sub");
    sub.subscribe("t", QoS::AtMostOnce).unwrap();
    connect(&broker, "pub")
        .publish("t", "x", QoS::AtMostOnce, false)
        .unwrap();
    let mut stream = pin!(sub.stream());
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let Poll::Ready(Some(message)) = stream.as_mut().poll_next(&mut cx) else {
        panic!("a message was queued");
    };
    assert_eq!(message.topic(), "t");
    assert!(stream.as_mut().poll_next(&mut cx).is_pending());
    broker.shutdown();
    assert!(matches!(stream.poll_next(&mut cx), Poll::Ready(None)));
}

/// Options that wait up to `secs` for room in full queues.
fn waiting(qos: QoS, secs: u64) -> PublishOptions {
    PublishOptions::new(qos).wait_if_full(Some(Duration::from_secs(secs)))
}

/// An async publisher waiting for room is woken by the consumer that releases it, and every
/// message arrives, in order, none dropped, with the queue bound at 2.
#[test]
fn publish_async_waits_for_room_without_blocking() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").max_queued_messages(2))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let consumer = thread::spawn(move || {
        let got: Vec<u32> = (0..200u32)
            .map(|_| {
                let m = sub.recv_timeout(Duration::from_secs(10)).unwrap();
                m.ack();
                u32::from_be_bytes(m.payload()[..].try_into().unwrap())
            })
            .collect();
        (got, sub.stats().dropped_queue_full)
    });
    block_on(async {
        for i in 0..200u32 {
            let opts = waiting(QoS::AtLeastOnce, 10).fail_if_full(true);
            publisher
                .publish_async("t", i.to_be_bytes().to_vec(), &opts)
                .await
                .unwrap();
        }
    });
    let (got, dropped) = consumer.join().unwrap();
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    assert_eq!(dropped, 0);
}

/// No consumer ever makes room: the wait ends at its deadline (the alarm wakes the task),
/// and the overflow policy applies: the message is dropped and, with `fail_if_full`,
/// reported.
#[test]
fn publish_async_ends_at_its_deadline() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").max_queued_messages(1))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let opts = PublishOptions::new(QoS::AtLeastOnce)
        .wait_if_full(Some(Duration::from_millis(50)))
        .fail_if_full(true);
    block_on(publisher.publish_async("t", "fits", &opts)).unwrap();
    let started = Instant::now();
    let err = block_on(publisher.publish_async("t", "late", &opts)).unwrap_err();
    assert!(matches!(err, PublishError::QueueFull { .. }), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(broker.session_stats("sub").unwrap().dropped_queue_full, 1);
}

/// A publish future dropped while it waits places the message under the overflow policy
/// at once (here: dropped, counted), and a dropped future before its first poll publishes
/// nothing.
#[test]
fn a_dropped_publish_future_applies_the_policy() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").max_queued_messages(1))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let opts = waiting(QoS::AtLeastOnce, 60);
    drop(publisher.publish_async("t", "never polled", &opts));
    block_on(publisher.publish_async("t", "first", &opts)).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut second = pin!(publisher.publish_async("t", "second", &opts));
        assert!(second.as_mut().poll(&mut cx).is_pending());
    }
    let stats = broker.session_stats("sub").unwrap();
    assert_eq!((stats.queued, stats.dropped_queue_full), (1, 1));
    assert_eq!(sub.try_recv().unwrap().payload().as_ref(), b"first");
}

/// An invalid topic is the future's error, at its first poll.
#[test]
fn publish_async_reports_an_invalid_topic() {
    let broker = broker();
    let publisher = connect(&broker, "pub");
    let err = block_on(publisher.publish_async("a/+", "x", &PublishOptions::new(QoS::AtMostOnce)))
        .unwrap_err();
    assert!(matches!(err, PublishError::InvalidTopic(_)), "{err}");
}

/// Counts its wake-ups.
#[derive(Default)]
struct CountWakes(std::sync::atomic::AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A publisher waiting for room in a subscriber's full queue is woken when that
/// subscriber's connection ends (after the broker's locks are released), so it looks again.
#[test]
fn an_ended_subscriber_wakes_the_publishers_waiting_for_its_room() {
    let broker = broker();
    let sub = broker
        .connect(ConnectOptions::new("sub").max_queued_messages(1))
        .unwrap();
    sub.subscribe("t", QoS::AtLeastOnce).unwrap();
    let publisher = connect(&broker, "pub");
    let opts = waiting(QoS::AtLeastOnce, 60);
    block_on(publisher.publish_async("t", "first", &opts)).unwrap();
    let wakes = Arc::new(CountWakes::default());
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    let mut second = pin!(publisher.publish_async("t", "second", &opts));
    assert!(second.as_mut().poll(&mut cx).is_pending());
    assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(sub);
    assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
}
