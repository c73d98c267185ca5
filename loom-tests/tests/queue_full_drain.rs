//! Model 7: a full session queue racing a consumer draining it.
//!
//! Invariant, under `DropNewest` and `DropOldest` with `max_queued_messages = 1`: the bound
//! holds (after each publish returns, the subscriber's session holds at most one delivery,
//! and at most one is left after the race); the drop counters are exact (every publish is
//! either received or counted once in `dropped_queue_full`, in the session's and the broker's
//! stats alike); what is received is in publish order, and the policy decides which survive
//! (`DropNewest` always keeps `m1`, `DropOldest` always keeps `m3`); afterwards the bound
//! admits exactly one delivery again (no room leaked or released twice).
//!
//! Threads: 2 (the publisher publishes `m1`, `m2`, `m3` at QoS 1, checking the bound after
//! each; main takes and acknowledges with `try_recv` three times). Preemption bound: 6
//! (`BOUND`). `drop_newest`: 40,873 interleavings, about 3.2 s in a release build;
//! `drop_oldest`: 135,458 in about 11 s.
//!
//! Mutation that fails it: reserve with a load and a store instead of one `fetch_add` in
//! `Queue::reserve` (`let old = word.load(); word.store(old + unit)`). Loom finds: the
//! consumer's release lands between the publisher's load and store and is overwritten, so
//! the count leaks upward and the bound later refuses a delivery to an empty queue. Tried:
//! `drop_newest` fails with `[] != ["m4"]` (see `README.md`).
//!
//! Found a bug, now fixed (`drop_oldest`; see `README.md`): under `DropOldest` the newest
//! delivery was dropped when it raced a consumer's take. The consumer's `pop_many` takes
//! `m2` out of the channel but releases its room only after its loop; in between, the
//! publisher of `m3` finds the word full, `make_room` pops nothing (the channel is empty),
//! its "one last try" `reserve` fails on the room the consumer still holds, and `m3` is
//! dropped (counted): the consumer got the older `m2` and the newest message was lost
//! (core/src/session/queue.rs, `Queue::make_room`, which now waits out that short window).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::thread;
use mqlite::{Broker, ConnectOptions, OverflowPolicy, QoS};
use mqlite_loom::fixtures::{Got, broker, config, connect, drain, payloads};
use mqlite_loom::model;

const BOUND: usize = 6;

fn queued(broker: &Broker) -> usize {
    broker.session_stats("consumer").unwrap().queued
}

fn full_queue_racing_a_consumer(name: &str, policy: OverflowPolicy) {
    model::check(name, BOUND, move || {
        let broker = broker(config());
        let consumer = connect(
            &broker,
            ConnectOptions::new("consumer")
                .max_queued_messages(1)
                .overflow_policy(policy),
        );
        consumer.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));

        let publishing = {
            let broker = broker.clone();
            thread::spawn(move || {
                for payload in ["m1", "m2", "m3"] {
                    publisher
                        .publish("t", payload, QoS::AtLeastOnce, false)
                        .unwrap();
                    let queued = queued(&broker);
                    assert!(queued <= 1, "bound of 1 exceeded: {queued} queued");
                }
                publisher
            })
        };
        let mut got: Vec<Got> = Vec::new();
        for _ in 0..3 {
            if let Ok(message) = consumer.try_recv() {
                got.push(Got::of(&message));
                message.ack();
            }
        }
        let publisher = publishing.join().unwrap();

        let rest = drain(&consumer);
        assert!(
            rest.len() <= 1,
            "bound of 1 exceeded: {:?} left",
            payloads(&rest)
        );
        got.extend(rest);
        let got = payloads(&got);
        let in_order = ["m1", "m2", "m3"]
            .iter()
            .filter(|m| got.contains(m))
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(got, in_order, "out of order or duplicated");
        let kept = if policy == OverflowPolicy::DropOldest {
            "m3"
        } else {
            "m1"
        };
        assert!(got.contains(&kept), "{policy:?} lost {kept}: {got:?}");
        let dropped = consumer.stats().dropped_queue_full;
        assert_eq!(
            dropped as usize,
            3 - got.len(),
            "drops miscounted: got {got:?}"
        );
        assert_eq!(broker.stats().dropped_queue_full, dropped);

        // The queue word is exact again: with nobody draining, one fits and one is dropped.
        publisher
            .publish("t", "m4", QoS::AtLeastOnce, false)
            .unwrap();
        publisher
            .publish("t", "m5", QoS::AtLeastOnce, false)
            .unwrap();
        let survivor = if policy == OverflowPolicy::DropOldest {
            "m5"
        } else {
            "m4"
        };
        assert_eq!(payloads(&drain(&consumer)), [survivor]);
        assert_eq!(consumer.stats().dropped_queue_full, dropped + 1);
    });
}

#[test]
fn drop_newest() {
    full_queue_racing_a_consumer("queue_full_drain/drop_newest", OverflowPolicy::DropNewest);
}

/// Under `DropOldest` the newest delivery always survives a race with the consumer's take.
#[test]
fn drop_oldest() {
    full_queue_racing_a_consumer("queue_full_drain/drop_oldest", OverflowPolicy::DropOldest);
}
