//! Model 1: publish racing subscribe.
//!
//! Invariant: a message published after `subscribe()` returned is delivered; one whose
//! publish returned before `subscribe()` was called is not delivered (it was not retained, so
//! not even as a retained message). Whatever the interleaving, what the subscriber gets is a
//! suffix of what was published, in publish order, each message once.
//!
//! Threads: 2 (the subscriber subscribes, then raises `subscribed`; the publisher publishes
//! `m1` then `m2`, noting for each whether `subscribed` was already up when it started, and
//! raises `published` after `m1` returned, which the subscriber reads before subscribing).
//! Preemption bound: 6 (`BOUND`): 176 interleavings, every one there is (none more at
//! higher bounds); about 10 ms in a release build.
//!
//! Mutation that fails it: store every publish in the retained store, retained or not
//! (`if true` for `if publication.retain` in `Engine::publish`): a subscriber whose
//! subscribe began after `m1` returned gets `m1`. Tried: loom fails with "m1 returned before
//! subscribe() began, yet delivered" (see `README.md`). A route cache invalidated after
//! subscribe's write lock is released would fail the other half (a publish that starts
//! after `subscribe()` returned matching the stale cache); core has no such cache today.
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use mqlite::{ConnectOptions, QoS};
use mqlite_loom::fixtures::{broker, config, connect, drain, payloads};
use mqlite_loom::model;

const BOUND: usize = 6;

#[test]
fn publish_after_subscribe_returned_is_delivered() {
    model::check("publish_subscribe", BOUND, || {
        let broker = broker(config());
        let subscriber = connect(&broker, ConnectOptions::new("subscriber"));
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        let subscribed = Arc::new(AtomicBool::new(false));
        let published = Arc::new(AtomicBool::new(false));

        let flags = (subscribed.clone(), published.clone());
        let publishing = thread::spawn(move || {
            let (subscribed, published) = flags;
            let mut after_subscribe = [false; 2];
            for (i, payload) in ["m1", "m2"].into_iter().enumerate() {
                after_subscribe[i] = subscribed.load(Ordering::SeqCst);
                publisher
                    .publish("t", payload, QoS::AtLeastOnce, false)
                    .unwrap();
                if i == 0 {
                    published.store(true, Ordering::SeqCst);
                }
            }
            after_subscribe
        });
        let m1_was_done = published.load(Ordering::SeqCst);
        subscriber.subscribe("t", QoS::AtLeastOnce).unwrap();
        subscribed.store(true, Ordering::SeqCst);
        let after_subscribe = publishing.join().unwrap();

        let got = drain(&subscriber);
        let got = payloads(&got);
        assert!(
            [&["m1", "m2"][..], &["m2"][..], &[][..]].contains(&got.as_slice()),
            "not a suffix in order: {got:?}"
        );
        for (i, payload) in ["m1", "m2"].into_iter().enumerate() {
            if after_subscribe[i] {
                assert!(
                    got.contains(&payload),
                    "{payload} published after subscribe() returned, lost: {got:?}"
                );
            }
        }
        if m1_was_done {
            assert!(
                !got.contains(&"m1"),
                "m1 returned before subscribe() began, yet delivered"
            );
        }
    });
}
