//! Model 8: a shared-subscription member leaving while a message is routed to it.
//!
//! Invariant (QoS 1 and QoS 2): the message reaches exactly one member of `$share/g/t`. The
//! leaving member (the sticky strategy's pick) takes what it can and acknowledges it before
//! it disconnects; whatever it had not taken goes to the staying member when its session
//! is discarded (MQTT 5.0 §4.8.2). Between them they get the message exactly once.
//!
//! Threads: 2 (the publisher publishes `m`; main, as the leaving member, tries once to
//! take and acknowledge, then disconnects, which discards its session as its expiry is
//! zero). Preemption bound: 12 (`BOUND`): 2,845 interleavings per QoS, about 0.35 s each in a
//! release build.
//!
//! Mutation that fails it: in `Router::remove`, drop what `session.drain_shared()`
//! returns (return `Vec::new()`): a message queued to the leaving member before it could
//! take it is lost with its session. Tried: both models fail with "leaving member took 0,
//! staying member got 0" (see `README.md`).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::thread;
use mqlite::{ConnectOptions, QoS, SharedStrategy};
use mqlite_loom::fixtures::{broker, config, connect, drain};
use mqlite_loom::model;

const BOUND: usize = 12;

fn member_leaving_while_routed_to(name: &str, qos: QoS) {
    model::check(name, BOUND, move || {
        let mut limits = config();
        limits.shared_subscription_strategy = SharedStrategy::Sticky;
        let broker = broker(limits);
        let leaving = connect(&broker, ConnectOptions::new("leaving"));
        leaving.subscribe("$share/g/t", qos).unwrap();
        let staying = connect(&broker, ConnectOptions::new("staying"));
        staying.subscribe("$share/g/t", qos).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));

        let publishing = thread::spawn(move || {
            publisher.publish("t", "m", qos, false).unwrap();
            publisher
        });
        let mut taken = 0;
        if let Ok(message) = leaving.try_recv() {
            assert_eq!(message.payload().as_ref(), b"m");
            message.ack();
            taken += 1;
        }
        leaving.disconnect();
        let publisher = publishing.join().unwrap();

        let redirected = drain(&staying).len();
        assert_eq!(
            taken + redirected,
            1,
            "leaving member took {taken}, staying member got {redirected}"
        );
        drop(publisher);
    });
}

#[test]
fn qos1() {
    member_leaving_while_routed_to("shared_member_leave/qos1", QoS::AtLeastOnce);
}

#[test]
fn qos2() {
    member_leaving_while_routed_to("shared_member_leave/qos2", QoS::ExactlyOnce);
}
