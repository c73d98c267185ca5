//! Model 10 (the session queue's own protocol, `core/src/session/queue.rs`): publishers
//! racing a consumer that drains and parks.
//!
//! Invariant: no lost wake-up (a consumer that parked while a delivery was left in its
//! queue has been woken, exactly once: with two publishers both may see `WAITING` in the
//! word they reserved from, and only one may wake); the queue bound holds
//! (`max_queued_messages = 1`: at most one delivery waits after the consumer parked); the
//! counters are exact (every publish is either received or counted in
//! `dropped_queue_full`, and afterwards the bound admits exactly one delivery again, so no
//! reservation leaked or was released twice, also when two reservations overshot together).
//!
//! Threads: main is a transport-style consumer (a `WireClient`) that polls with
//! `poll_outbound`, acknowledges, and calls `arm_notify` before it would sleep (looking
//! again, after a yield, while `arm_notify` reports a push in flight, answering `false`).
//! - `one_publisher_…`: 2 threads (one publisher: `m1`, `m2` at QoS 1); preemption bound
//!   `BOUND_ONE` = 10, which explores every interleaving (none more past 10).
//! - `two_publishers_…`: 3 threads (two publishers, one QoS 1 message each); preemption
//!   bound `BOUND_TWO` = 6.
//!
//! Cost (release build): `one_publisher_…` 726 interleavings, about 100 ms;
//! `two_publishers_…` (bound 6) 64,763 interleavings, about 7 s.
//!
//! Mutation that fails it: make `Queue::park` set `WAITING` unconditionally
//! (`self.word.fetch_or(WAITING, SeqCst); false`). Loom finds: consumer polls (empty) →
//! publisher reserves (no `WAITING` yet, so no wake) and pushes → consumer parks; a
//! delivery is left with no wake-up. Tried: loom fails with "consumer parked with [m1]
//! queued and no wake-up" (see `README.md`).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::thread;
use mqlite::wire::WireClient;
use mqlite::{ConnectOptions, QoS};
use mqlite_loom::fixtures::{
    CountingNotify, Got, broker, config, connect, connect_wire, payloads, poll_all,
};
use mqlite_loom::model;

const BOUND_ONE: usize = 10;
const BOUND_TWO: usize = 6;

/// Drains, then parks; looks again (yielding) while `arm_notify` reports a delivery in
/// flight (`false`: poll again).
fn consume_until_parked(consumer: &WireClient) -> Vec<Got> {
    let mut got = Vec::new();
    for _ in 0..16 {
        got.extend(poll_all(consumer));
        if consumer.arm_notify() {
            return got;
        }
        thread::yield_now();
    }
    panic!("the consumer never parked");
}

/// Each inner list is one publisher's QoS 1 messages, published in order on its own thread
/// while main consumes until it parks. `outcomes` lists what may be received, in order.
fn publishers_racing_a_parking_consumer(
    publishers: &'static [&'static [&'static str]],
    outcomes: &[&[&str]],
) {
    let broker = broker({
        let mut limits = config();
        limits.max_queued_messages = 1;
        limits
    });
    let notify = CountingNotify::new();
    let consumer = connect_wire(&broker, ConnectOptions::new("consumer"), notify.clone());
    consumer.subscribe("t", QoS::AtLeastOnce).unwrap();
    let clients: Vec<_> = (0..publishers.len())
        .map(|i| connect(&broker, ConnectOptions::new(format!("publisher{i}"))))
        .collect();
    // A new connection starts as waiting; one delivery clears that, so from here on
    // only the consumer's own park can earn a wake-up.
    clients[0]
        .publish("t", "m0", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(payloads(&poll_all(&consumer)), ["m0"]);
    assert_eq!(notify.wakes(), 1);

    let publishing: Vec<_> = clients
        .into_iter()
        .zip(publishers)
        .map(|(client, messages)| {
            thread::spawn(move || {
                for m in *messages {
                    client.publish("t", *m, QoS::AtLeastOnce, false).unwrap();
                }
                client
            })
        })
        .collect();
    let got = consume_until_parked(&consumer);
    let clients: Vec<_> = publishing.into_iter().map(|p| p.join().unwrap()).collect();

    // The consumer is asleep now; what is left must have notified it.
    let wakes = notify.wakes() - 1;
    let rest = poll_all(&consumer);
    assert!(
        rest.is_empty() || wakes == 1,
        "consumer parked with {:?} queued and no wake-up",
        payloads(&rest)
    );
    assert!(wakes <= 1, "one park earned {wakes} wake-ups");
    assert!(
        rest.len() <= 1,
        "bound of 1 exceeded: {:?}",
        payloads(&rest)
    );
    let all: Vec<Got> = got.into_iter().chain(rest).collect();
    let all = payloads(&all);
    assert!(outcomes.contains(&all.as_slice()), "received {all:?}");
    let published: usize = publishers.iter().map(|p| p.len()).sum();
    let dropped = broker.stats().dropped_queue_full;
    assert_eq!(dropped as usize, published - all.len(), "drops miscounted");

    // The word is exact again: with nobody draining, the bound admits one, drops one.
    clients[0]
        .publish("t", "x1", QoS::AtLeastOnce, false)
        .unwrap();
    clients[0]
        .publish("t", "x2", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(payloads(&poll_all(&consumer)), ["x1"]);
    assert_eq!(broker.stats().dropped_queue_full, dropped + 1);
}

#[test]
fn one_publisher_racing_a_parking_consumer() {
    model::check("queue_park/one_publisher", BOUND_ONE, || {
        publishers_racing_a_parking_consumer(&[&["m1", "m2"]], &[&["m1", "m2"], &["m1"]]);
    });
}

#[test]
fn two_publishers_racing_a_parking_consumer() {
    model::check("queue_park/two_publishers", BOUND_TWO, || {
        publishers_racing_a_parking_consumer(
            &[&["a"], &["b"]],
            &[&["a", "b"], &["b", "a"], &["a"], &["b"]],
        );
    });
}
