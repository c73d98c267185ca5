//! Model 11 (`Session::park` with a full in-flight window, `core/src/session/consume.rs`,
//! reached through `WireClient::arm_notify`): a transport-style consumer whose receive
//! maximum is full parks while its PUBACK arrives on another thread.
//!
//! Invariant: no lost wake-up and no busy loop. With deliveries waiting behind a full window,
//! `arm_notify` answers "sleep" (`true`) without raising the queue's waiting flag, so the
//! acknowledgement that reopens the window must wake the consumer, whichever of the two
//! comes first; after the wake (or an `arm_notify` that said "look again", `false`) the
//! consumer gets the
//! waiting message, and a later delivery into an empty queue still wakes it.
//!
//! Threads: 2 (main is the consumer: takes `m1`, finds the window of 1 full, parks; the
//! other thread sends the PUBACK for `m1`). Preemption bound 3, which explores every
//! interleaving of this scene.
//!
//! Cost (release build): 4 interleavings, under a millisecond.
//!
//! Mutation that fails it: make `Session::with_window` wake only when the window is full
//! and the queue's `WAITING` flag is set (or drop its wake). Loom then finds: consumer parks
//! on the full window (no `WAITING`), the PUBACK reopens it without a wake, and `m2` is left
//! with nobody to send it ("parked behind a full window and never woken").
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::thread;
use mqlite::wire::Outbound;
use mqlite::{ConnectOptions, QoS, TryRecvError};
use mqlite_loom::fixtures::{
    CountingNotify, broker, config, connect, connect_wire, payloads, poll_all,
};
use mqlite_loom::model;

const BOUND: usize = 3;

#[test]
fn ack_reopening_a_full_window_wakes_the_parked_consumer() {
    model::check("window_park", BOUND, || {
        let broker = broker(config());
        let notify = CountingNotify::new();
        let consumer = connect_wire(
            &broker,
            ConnectOptions::new("consumer").receive_maximum(1),
            notify.clone(),
        );
        consumer.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        publisher
            .publish("t", "m1", QoS::AtLeastOnce, false)
            .unwrap();
        publisher
            .publish("t", "m2", QoS::AtLeastOnce, false)
            .unwrap();

        let Ok(Outbound::Publish(m1)) = consumer.poll_outbound() else {
            panic!("m1 first");
        };
        let id = m1.packet_id().unwrap();
        let before = notify.wakes();
        // The window (1) is full and m2 waits behind it.
        assert!(matches!(consumer.poll_outbound(), Err(TryRecvError::Empty)));

        let consumer = std::sync::Arc::new(consumer);
        let acker = {
            let consumer = consumer.clone();
            thread::spawn(move || assert!(consumer.puback(id).unwrap()))
        };
        let look_again = !consumer.arm_notify();
        acker.join().unwrap();

        let woken = notify.wakes() > before;
        let rest = poll_all(&consumer);
        assert!(
            look_again || woken || rest.is_empty(),
            "parked behind a full window and never woken, with {:?} waiting",
            payloads(&rest)
        );
        assert_eq!(payloads(&rest), ["m2"]);

        // Nothing waits now: a park raises the flag and the next delivery wakes.
        assert!(consumer.arm_notify());
        let before = notify.wakes();
        publisher
            .publish("t", "m3", QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(
            notify.wakes(),
            before + 1,
            "a delivery into an empty queue wakes"
        );
        assert_eq!(payloads(&poll_all(&consumer)), ["m3"]);
    });
}
