//! Model: an async publisher waiting for room in a full queue (`Client::publish_async` with
//! `wait_if_full`, the "Waiting for room" protocol of `core/src/session/queue.rs`) racing
//! the consumer whose take releases that room.
//!
//! Invariant: no lost wake-up. The publisher's task is `loom::future::block_on`'s: if its
//! future returns `Pending` and nobody wakes it, loom reports a deadlock. And nothing is
//! lost or reordered: the consumer receives `m0`, then `m1`, and nothing was dropped.
//!
//! Threads: main is the consumer (an in-process `Client` with a queue bound of 1, holding
//! `m0`), which takes once; the publisher publishes `m1` with `wait_if_full` on its own
//! thread. Preemption bound `BOUND` = 4.
//!
//! Mutation that fails it: make `Queue::wait_for_room` (`core/src/session/queue.rs`)
//! return `false` instead of the room its `fetch_or` read. Loom finds: the publisher sees
//! the queue full → the consumer releases the room, with `ROOM_WANTED` still down (nothing
//! to wake) → the publisher raises the flag, ignores the room it read, and sleeps for ever
//! beside it: "deadlock".
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use loom::thread;
use mqlite::{ConnectOptions, PublishOptions, QoS};
use mqlite_loom::fixtures::{broker, config, connect};
use mqlite_loom::model;

const BOUND: usize = 4;

#[test]
fn async_publisher_waiting_for_room_is_woken() {
    model::check("room_wait/async_publisher", BOUND, || {
        let broker = broker({
            let mut limits = config();
            limits.max_queued_messages = 1;
            limits
        });
        let consumer = connect(&broker, ConnectOptions::new("consumer").auto_ack(true));
        consumer.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        publisher
            .publish("t", "m0", QoS::AtLeastOnce, false)
            .unwrap();

        let publishing = thread::spawn(move || {
            let wait = PublishOptions::new(QoS::AtLeastOnce)
                .wait_if_full(Some(Duration::from_secs(3600)))
                .fail_if_full(true);
            loom::future::block_on(publisher.publish_async("t", "m1", &wait)).unwrap();
            publisher
        });
        let first = consumer.try_recv().unwrap();
        assert_eq!(first.payload().as_ref(), b"m0");
        let _publisher = publishing.join().unwrap();
        let second = consumer.try_recv().unwrap();
        assert_eq!(second.payload().as_ref(), b"m1");
        assert_eq!(broker.stats().dropped_queue_full, 0);
    });
}
